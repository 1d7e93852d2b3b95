"""A reader of GNU sed scripts, enough to find the commands that read, write or run something.

It follows GNU sed 4.9's compile.c (compile_program, compile_address, match_slash, read_text,
mark_subst_opts, read_end_of_cmd) in one left-to-right pass (linear in the script's length), and it
is stricter than sed where it is unsure: wherever it cannot read the script as sed would, the
answer is "not understood", which the classifier turns into an unknown statement.

What it reports: the commands ``r R w W e`` (any address form, with or without a blank before the
file name), the ``s`` flags ``e`` and ``w``, and anything it does not read (an unknown command or
``s`` flag, an unterminated regex or text). ``F``, ``v``, ``l``, ``q``, ``Q``, ``L``, ``z`` and the
rest read or write nothing else.
"""

from __future__ import annotations

import re

__all__ = ("sed_script_problem",)

# The fast path: one whole command of the common forms (a line, $ or /regex/ address or range, `!`,
# a command that reads and writes nothing, s/../../ and y/../../ with / as the delimiter and safe
# flags), ending where a command ends. No two neighbouring quantifiers can match the same blanks
# (that would backtrack quadratically on a long run of them). It accepts a subset of what the careful reader below accepts,
# with the same reading; anything else goes to the careful reader, one command at a time.
_RE_PART = r"(?:[^\\/\n]|\\.)*"
_ADDR = rf"(?:\d+(?:~\d+)?|\$|/{_RE_PART}/[IM]*)"
_FAST = re.compile(
    rf"[;\s]*(?:{_ADDR}(?:[ \t]*,[ \t]*(?:\d+|\$|[+~]\d+|/{_RE_PART}/[IM]*))?[ \t]*)?(?:![ \t]*)?"
    rf"(?:[=dDgGhHnNpPxzF}}]|[lqQ][ \t]*\d*|s/{_RE_PART}/{_RE_PART}/[gpiImM0-9]*|y/{_RE_PART}/{_RE_PART}/)"
    rf"[ \t]*(?=[;\n}}#]|\Z)"
)
#: one whole command of the fast forms, alone (the script split at every `;`: if every piece is one
#: such command, no `;` was inside a regex and sed reads the same commands)
_ONE = re.compile(
    rf"\s*(?:(?:{_ADDR}(?:[ \t]*,[ \t]*(?:\d+|\$|[+~]\d+|/{_RE_PART}/[IM]*))?[ \t]*)?(?:![ \t]*)?"
    rf"(?:[=dDgGhHnNpPxzF}}]|[lqQ][ \t]*\d*|s/{_RE_PART}/{_RE_PART}/[gpiImM0-9]*|y/{_RE_PART}/{_RE_PART}/)"
    rf"\s*)?"
)
#: longer scripts holding any of the letters r R w W e are not read at all (time bound)
MAX_SCRIPT = 64 * 1024
#: longer scripts that the fast checks do not clear are not read command by command (time bound)
MAX_CAREFUL = 32 * 1024
#: a script holding none of these letters has no command and no s flag that reads, writes or runs
_LETTERS = re.compile(r"[rRwWe]")

_NO_ARG = frozenset("=dDgGhHnNpPxzF")
_INT_ARG = frozenset("lLqQ")
_LABEL_ARG = frozenset("btT:v")
_FILE_CMDS = {
    "r": "reads the file",
    "R": "reads lines of the file",
    "w": "writes the file",
    "W": "writes the file",
    "e": "runs a command",
}
_BLANK = " \t"
_SPACE = " \t\n\v\f\r"


class _Bad(Exception):
    pass


def sed_script_problem(script: str) -> str | None:
    """None if the script (the -e pieces joined by newlines) only edits the stream; else why not."""
    if _LETTERS.search(script) is None:
        return None  # what sed would make of it, it cannot name a file or a command
    if len(script) > MAX_SCRIPT:
        return f"sed: a script of {len(script)} bytes holding r, R, w, W or e is not read (time bound)"
    if all(map(_ONE.fullmatch, script.split(";"))):
        return None
    if len(script) > MAX_CAREFUL:
        return f"sed: a script of {len(script)} bytes with forms the fast reader does not know"
    try:
        _Reader(script).program()
    except _Bad as e:
        return str(e)
    return None


class _Reader:
    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.n = len(s)

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def get(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def nonblank(self) -> str:
        while self.i < self.n and self.s[self.i] in _BLANK:
            self.i += 1
        return self.get()

    def program(self) -> None:
        s, n = self.s, self.n
        if s.startswith("#n\n") or s == "#n":
            self.i = 3
        fast = _FAST.match
        while True:
            m = fast(s, self.i)
            while m is not None and m.end() > self.i:
                self.i = m.end()
                m = fast(s, self.i)
            while self.i < n and (s[self.i] == ";" or s[self.i] in _SPACE):
                self.i += 1
            if self.i >= n:
                return
            c = self.peek()
            if c == "#":
                self.to_eol()
                continue
            if self.address():
                c = self.nonblank()
                if c == ",":
                    self.nonblank_back()
                    if not self.address(second=True):
                        raise _Bad("sed: an address range without its second address")
                    c = self.nonblank()
            else:
                c = self.get()
            while c == "!":
                c = self.nonblank()
            self.command(c)

    def nonblank_back(self) -> None:
        while self.i < self.n and self.s[self.i] in _BLANK:
            self.i += 1

    def to_eol(self) -> None:
        j = self.s.find("\n", self.i)
        self.i = self.n if j < 0 else j + 1

    def address(self, second: bool = False) -> bool:
        c = self.peek()
        if c == "/" or c == "\\":
            self.i += 1
            if c == "\\":
                c = self.get()
                if c in ("", "\n", "\\"):
                    raise _Bad("sed: an address regex without a delimiter")
            self.slash(c)
            while True:
                self.nonblank_back()
                if self.peek() in ("I", "M"):
                    self.i += 1
                else:
                    break
            return True
        if c.isdigit() or (second and c in ("+", "~")):
            self.i += 1
            self.digits(required=not c.isdigit())
            if not second:
                self.nonblank_back()
                if self.peek() == "~":
                    self.i += 1
                    self.digits(required=True)
            return True
        if c == "$":
            self.i += 1
            return True
        return False

    def digits(self, required: bool) -> None:
        j = self.i
        while self.i < self.n and self.s[self.i].isdigit():
            self.i += 1
        if required and j == self.i:
            raise _Bad("sed: a number was expected")

    def slash(self, delim: str) -> None:
        """match_slash: up to the unescaped delimiter; a raw newline is an error."""
        s, n = self.s, self.n
        i = self.i
        while i < n:
            c = s[i]
            if c == delim:
                self.i = i + 1
                return
            if c == "\n":
                break
            if c == "\\":
                i += 1
            i += 1
        raise _Bad("sed: an unterminated regex, replacement or y string")

    def end_of_cmd(self) -> None:
        c = self.nonblank()
        if c in ("", "\n", ";"):
            return
        if c in ("#", "}"):
            self.i -= 1
            return
        raise _Bad(f"sed: extra characters after a command ({c!r})")

    def command(self, c: str) -> None:
        if c in _FILE_CMDS:
            raise _Bad(f"sed: the {c} command {_FILE_CMDS[c]}")
        if c == "{":
            return
        if c == "}":
            self.end_of_cmd()
            return
        if c in _NO_ARG:
            self.end_of_cmd()
            return
        if c in _INT_ARG:
            self.nonblank_back()
            self.digits(required=False)
            self.end_of_cmd()
            return
        if c in _LABEL_ARG:
            self.nonblank_back()
            s, n = self.s, self.n
            while self.i < n and s[self.i] not in " \t\n;}#":
                self.i += 1
            self.end_of_cmd()
            return
        if c in ("a", "i", "c"):
            c2 = self.nonblank()
            if c2 == "":
                raise _Bad("sed: a, i or c without text")
            if c2 == "\\":
                if self.peek() == "\n":
                    self.i += 1
            else:
                self.i -= 1
            s, n = self.s, self.n
            i = self.i
            while i < n and s[i] != "\n":
                if s[i] == "\\":
                    i += 1
                i += 1
            self.i = i + 1
            return
        if c == "s":
            d = self.get()
            if d in ("", "\n", "\\"):
                raise _Bad("sed: an s command without a usable delimiter")
            self.slash(d)
            self.slash(d)
            while True:
                f = self.get()
                if f in ("i", "I", "m", "M", "p", "g") or f.isdigit() or (f != "" and f in _BLANK):
                    continue
                if f == "e":
                    raise _Bad("sed: the s command's e flag runs the pattern space as a command")
                if f == "w":
                    raise _Bad("sed: the s command's w flag writes a file")
                if f in ("", "\n", ";"):
                    return
                if f in ("#", "}"):
                    self.i -= 1
                    return
                raise _Bad(f"sed: unknown flag {f!r} of the s command")
        if c == "y":
            d = self.get()
            if d in ("", "\n", "\\"):
                raise _Bad("sed: a y command without a usable delimiter")
            self.slash(d)
            self.slash(d)
            self.end_of_cmd()
            return
        raise _Bad(f"sed: unknown command {c!r}")
