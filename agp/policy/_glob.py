"""Glob patterns compiled to regular expressions (names and paths).

Hand-written because the standard library has no path glob with ``**`` before 3.13
(``PurePath.full_match``) and ``fnmatch`` lets ``*`` cross ``/``.

- name globs (tools, programs, hosts, flags): ``fnmatch`` rules, case-sensitive
  (hosts are lowered by the caller);
- path globs: ``*`` and ``?`` stay within one path segment, ``**`` spans any number of
  segments (``src/**`` matches ``src`` itself and everything below it), ``[...]`` classes.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

__all__ = ("compile_name", "compile_path", "has_magic")

_MAGIC = re.compile(r"[*?\[]")


def has_magic(s: str) -> bool:
    return _MAGIC.search(s) is not None


@lru_cache(maxsize=4096)
def compile_name(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


@lru_cache(maxsize=4096)
def compile_path(pattern: str) -> re.Pattern[str]:
    """Compile a path glob; raises ValueError on an unterminated class."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                # '**/' : zero or more whole segments; trailing '**': anything below
                j = i + 2
                if j < n and pattern[j] == "/":
                    out.append(r"(?:[^/]*/)*")
                    i = j + 1
                    continue
                if out and out[-1] == "/":
                    # 'dir/**' also matches 'dir' itself
                    out.pop()
                    out.append(r"(?:/.*)?")
                else:
                    out.append(r".*")
                i = j
                continue
            out.append(r"[^/]*")
        elif c == "?":
            out.append(r"[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if j < 0:
                raise ValueError(f"unterminated character class in glob {pattern!r}")
            body = pattern[i + 1 : j]
            neg = body[:1] in ("!", "^")
            if neg:
                body = body[1:]
            body = body.replace("\\", "\\\\")
            out.append(("[^/" if neg else "[") + body + "]")
            i = j
        elif c == "/":
            out.append("/")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)
