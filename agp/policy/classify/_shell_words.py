"""Words and quoting: what bash makes of one word (quote removal, escapes, $'..'), and the lexical
checks that catch a parser reading a line differently from bash (private to the shell classifier)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

__all__ = (
    "ASSIGNMENT_WORD",
    "BRACE_RE",
    "CONTINUATION_IN_WORD",
    "GLOB_CHARS",
    "RESERVED_WORDS",
    "SHELL_META",
    "SYSTEM_BIN_DIRS",
    "URL_RE",
    "Abort",
    "Word",
    "ansi_c_well_formed",
    "check_bare_word",
    "comment_starts_a_word",
    "decode_ansi_c",
    "is_option",
    "looks_pathy",
    "nesting_exceeds",
    "program_name",
    "unescape_dquoted",
    "unescape_heredoc",
    "unescape_unquoted",
    "unescaped_quote",
)

SYSTEM_BIN_DIRS = frozenset({"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"})
RESERVED_WORDS = frozenset(
    {
        "{",
        "}",
        "!",
        "[[",
        "]]",
        "if",
        "then",
        "elif",
        "else",
        "fi",
        "do",
        "done",
        "case",
        "esac",
        "while",
        "until",
        "for",
        "select",
        "in",
        "function",
        "((",
        "))",
        "(",
        ")",
    }
)
ASSIGNMENT_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=")
SHELL_META = re.compile(r"[\s;|&$`()<>\\'\"*?\[\]{}!#~]")
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
GLOB_CHARS = frozenset("*?[")
BRACE_RE = re.compile(r"\{[^{}\s]*(,|\.\.)[^{}\s]*\}")
CONTINUATION_IN_WORD = re.compile(r"[^\s\\;|&()<>]\\\n")
_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


@dataclass(slots=True)
class Word:
    """An evaluated word: value (quote-removed) when literal, else the source text."""

    value: str
    literal: bool = True
    glob: bool = False
    brace: bool = False
    quoted: bool = False  # any part was quoted (a quoted word is never an option or keyword)
    source: str = ""


class Abort(Exception):
    """Stop the walk: the whole string becomes one unknown statement."""


def unescape_unquoted(raw: str) -> tuple[str, bool, str]:
    """Quote removal for an unquoted word segment: (value, has_unescaped_glob, pattern-text) where
    pattern-text replaces escaped characters by '_' (for brace detection)."""
    if "\\" not in raw:
        return raw, ("*" in raw or "?" in raw or "[" in raw), raw
    out = []
    pat = []
    glob = False
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt != "\n":
                out.append(nxt)
                pat.append("_")
            i += 2
            continue
        if c in GLOB_CHARS:
            glob = True
        out.append(c)
        pat.append(c)
        i += 1
    return "".join(out), glob, "".join(pat)


def unescape_dquoted(raw: str) -> str:
    out = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def decode_ansi_c(body: str) -> str | None:
    """$'...' decoding; None when an escape is not understood (the word is then non-literal)."""
    out = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
            i += 2
        elif e == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            if not m:
                return None
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        elif e in "uU":
            m = re.match(rf"[0-9a-fA-F]{{1,{4 if e == 'u' else 8}}}", body[i + 2 :])
            if not m:
                return None
            try:
                out.append(chr(int(m.group(0), 16)))
            except (ValueError, OverflowError):
                return None
            i += 2 + len(m.group(0))
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            if m is None:  # e is an octal digit, so this matches
                raise RuntimeError("internal error: an octal escape did not match")
            out.append(chr(int(m.group(0), 8) & 0xFF))
            i += 1 + len(m.group(0))
        elif e == "c" and i + 2 < n:
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            return None
    s = "".join(out)
    if "\x00" in s:
        s = s.split("\x00", 1)[0]  # bash truncates at NUL
    return s


def ansi_c_well_formed(src: str) -> bool:
    if len(src) < 3 or not src.startswith("$'") or not src.endswith("'"):
        return False
    body = src[2:-1]
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == "'":
            return False
        i += 1
    return i == len(body)  # a trailing lone backslash would have escaped the closing quote


def check_bare_word(src: str) -> None:
    """An unquoted word cannot hold an unescaped quote or newline in bash; if the parser made one,
    it read the line differently (it pulled part of the next line into this command)."""
    if ("'" in src or '"' in src or "`" in src or "\n" in src) and unescaped_quote(src, "'\"`\n"):
        raise Abort(f"the parser's word {src[:40]!r} holds a quote or newline bash would not leave there")


def unescaped_quote(raw: str, chars: str = "'\"`") -> bool:
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] in chars:
            return True
        i += 1
    return False


def program_name(value: str) -> tuple[str, bool]:
    """(program, is_path_outside_system_dirs). '/usr/bin/rm' -> ('rm', False); './x/ls' -> ('./x/ls', True)."""
    if "/" not in value:
        return value, False
    d, b = posixpath.split(value)
    d = posixpath.normpath(d) if d else d
    if d.startswith("//"):
        d = "/" + d.lstrip("/")
    if d in SYSTEM_BIN_DIRS and b:
        return b, False
    return value, True


def is_option(w: Word) -> bool:
    return w.literal and not w.quoted and w.value[:1] == "-" and len(w.value) > 1


def looks_pathy(v: str) -> bool:
    return "/" in v or v.startswith(("~", "."))


def unescape_heredoc(raw: str) -> str:
    return re.sub(r"\\([$`\\])", r"\1", raw.replace("\\\n", ""))


def comment_starts_a_word(src: bytes, at: int) -> bool:
    """bash starts a comment only where a word could start: after an unescaped blank, a newline or
    an operator character (or at the very beginning)."""
    if at == 0:
        return True
    prev = src[at - 1]
    if prev in b"\n;&|()<>":
        return True
    if prev in b" \t":
        k = at - 2
        n = 0
        while k >= 0 and src[k] == 0x5C:
            n += 1
            k -= 1
        return n % 2 == 0  # an odd run of backslashes escapes the blank: `\ #x` is the word ' #x'
    return False


def nesting_exceeds(code: str, limit: int) -> bool:
    """Over-approximation of bracket nesting (quotes ignored): deep trees would take the walker (and
    the C stack under it) into recursion limits, so they are refused before parsing."""
    if code.count("(") + code.count("{") + code.count("`") <= limit:
        return False
    depth = peak = 0
    for ch in _BRACKETS.findall(code):  # the brackets alone: a long command has few
        if ch in "({":
            depth += 1
            if depth > peak:
                peak = depth
        elif depth:
            depth -= 1
    return peak > limit or code.count("`") > limit


_BRACKETS = re.compile(r"[(){}]")
