"""Reading a command line against an option-allowlist (``programs._model.Allow``). Private to the
shell classifier.

The reader is deliberately stricter than the programs it models: every word before ``--`` that
starts with ``-`` is taken as an option, wherever it stands (GNU getopt permutes; a program that
stops at its first operand only loses a false positive), a quoted word is an option too (the
program never sees the quotes), and a long option must be written out in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agp.policy.classify._shell_words import Word
from agp.policy.classify.programs._model import Allow

__all__ = ("STDIN_LIKE", "OptionRead", "is_stdin_like", "read_options")

#: values that name the program's standard input or an inherited descriptor: content the
#: classifier cannot see (a heredoc, a pipe, a descriptor opened earlier)
STDIN_LIKE = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/dev/tty", "/proc/thread-self/fd/0"})


def is_stdin_like(v: str) -> bool:
    return (
        v in STDIN_LIKE
        or v.startswith(("/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"))
        or (v.startswith("/proc/") and "/fd/" in v)
    )


@dataclass(slots=True)
class OptionRead:
    """problem: why the command line is not understood (None: every option is known);
    reads / writes: (option, value word) of file_values (and config_values) / write_values options;
    operands: the rest; configs: those of config_values options."""

    problem: str | None = None
    reads: list[tuple[str, Word]] = field(default_factory=list)
    writes: list[tuple[str, Word]] = field(default_factory=list)
    operands: list[Word] = field(default_factory=list)
    #: (option, value word) of config_values options (also in reads)
    configs: list[tuple[str, Word]] = field(default_factory=list)


def _value(out: OptionRead, allow: Allow, args: list[Word], prog: str, opt: str, attached: str | None, j: int) -> int:
    """Record the value of the value-taking option in args[j]; return how many extra words it took."""
    if attached is not None:
        a = args[j]
        w, took = Word(attached, True, a.glob, source=a.source), 0
    elif j + 1 < len(args):
        w, took = args[j + 1], 1
    else:
        out.problem = out.problem or f"{prog} {opt} is missing its value"
        return 0
    _check(out, allow, prog, opt, w)
    if opt in allow.file_values or opt in allow.config_values:
        out.reads.append((opt, w))
    if opt in allow.config_values:
        out.configs.append((opt, w))
    if opt in allow.write_values:
        out.writes.append((opt, w))
    return took


def _check(out: OptionRead, allow: Allow, prog: str, opt: str, w: Word) -> None:
    """A value that must match the option's pattern (checked_values)."""
    for o, pattern in allow.checked_values:
        if o == opt and not (w.literal and re.fullmatch(pattern, w.value)):
            shown = w.value if w.literal else w.source
            out.problem = out.problem or f"{prog} {opt} {shown[:60]!r}: a value the classifier does not know"


def _prefixed(out: OptionRead, allow: Allow, a: Word, prog: str) -> bool:
    """An option written with its value attached (prefix_values): True when one matched."""
    v = a.value
    best = ""
    for p in allow.prefix_values:
        if v.startswith(p) and len(p) > len(best):
            best = p
    if not best:
        return False
    w = Word(v[len(best) :], True, a.glob, source=a.source)
    _check(out, allow, prog, best, w)
    if best in allow.file_values or best in allow.config_values:
        out.reads.append((best, w))
    if best in allow.config_values:
        out.configs.append((best, w))
    if best in allow.write_values:
        out.writes.append((best, w))
    return True


def read_options(allow: Allow, args: list[Word], prog: str) -> OptionRead:
    out = OptionRead(None, [], [], [], [])
    n = len(args)
    i = 0
    after_dd = False

    while i < n:
        a = args[i]
        if not a.literal:
            if allow.runtime_words and not after_dd:
                out.problem = out.problem or (
                    f"{prog}: an argument decided at run time may be any option: {a.source[:60]}"
                )
            out.operands.append(a)
            i += 1
            continue
        v = a.value
        if allow.at_files and v[:1] == "@":
            out.problem = out.problem or f"{prog} reads more arguments from the file {v[1:60]!r}"
        if after_dd or v[:1] != "-" or v == "-":
            if not after_dd and a.glob and not a.quoted and v[:1] in "*?[":
                # `ls *` with a file named `--files0-from=x` in the directory: the program gets an option
                out.problem = out.problem or f"{prog}: the wildcard {v[:60]!r} can expand to an option"
            if allow.posix_order:
                after_dd = True
            out.operands.append(a)
            i += 1
            continue
        if v == "--":
            after_dd = True
            i += 1
            continue
        if allow.style == "single_dash" or v.startswith("--"):
            name, eq, val = v.partition("=")
            if allow.style == "single_dash" and not name.startswith("--"):
                name = "-" + name.lstrip("-")
                key = "--" + name[1:]
            else:
                key = name
            if key in allow.long:
                if eq:
                    out.problem = out.problem or f"{prog} {name} takes no value"
            elif key in allow.long_values:
                i += _value(out, allow, args, prog, key, val if eq else None, i)
            elif key in allow.long_pairs and not eq:
                if i + 2 >= n:
                    out.problem = out.problem or f"{prog} {name} is missing its values"
                i += 2
            elif key in allow.long_optional:
                if eq:
                    _value(out, allow, args, prog, key, val, i)
            elif allow.prefix_values and _prefixed(out, allow, a, prog):
                pass
            else:
                out.problem = out.problem or f"{prog}: option {name[:60]!r} is not one the classifier knows"
            i += 1
            continue
        if allow.numeric and v[1:].isdigit():
            i += 1
            continue
        j = 1
        while j < len(v):
            ch = v[j]
            if ch in allow.short:
                j += 1
                continue
            if ch in allow.short_values:
                rest = v[j + 1 :]
                i += _value(out, allow, args, prog, "-" + ch, rest if rest else None, i)
                break
            if ch in allow.short_optional:
                rest = v[j + 1 :]
                if rest:
                    _value(out, allow, args, prog, "-" + ch, rest, i)
                break
            where = f" in {v[:40]!r}" if len(v) > 2 else ""
            out.problem = out.problem or f"{prog}: option -{ch}{where} is not one the classifier knows"
            break
        i += 1
    return out
