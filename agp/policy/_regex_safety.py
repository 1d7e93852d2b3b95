"""Refusing policy regular expressions that can backtrack for minutes (private to agp.policy).

A policy's ``re:`` matchers run in the gate process on words the agent chooses. Python's ``re``
backtracks, has no time limit, and a pattern such as ``(a+)+b``, ``(a|a)*b`` or ``(.*)*x`` takes
time exponential in the length of a word that almost matches: one gated call could stall the gate
for minutes. :func:`backtracking_problem` reads a pattern's structure (the standard library's own
parser, ``re._parser``) and names the construct when the pattern has one of the two shapes behind
exponential backtracking:

- a repeated subpattern (``*``, ``+``, ``{m,n}`` with n > 1) that contains a repeat of varying
  count (``+``, ``*``, ``{1,5}``): the text can be split between the two loops in exponentially
  many ways (``(a+)+``, ``(?:\\d{1,3})*``, ``(.*)*``);
- a repeated subpattern that contains an alternation whose branches can start with the same
  character, or two branches that can match the empty string (``(a|a)*``, ``(a|aa)*``, ``(\\w|_x)+``).

The check is conservative (hand-written; no maintained library does this for Python's ``re``): it
also refuses some patterns that would not backtrack badly, e.g. ``(?:\\.[a-z]+)+``; such a pattern
can be written without the nesting (``(?:\\.[a-z]+)+`` -> ``\\.[a-z.]+``). Possessive repeats and
atomic groups are judged like ordinary ones. Polynomial backtracking (``\\s*\\s*\\s*x``) is not
refused: matched words are limited to ``engine.REGEX_WORD_MAX`` characters.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

# the standard library's own regular-expression parser (Python 3.11+; no type stubs)
_c: Any = importlib.import_module("re._constants")
_p: Any = importlib.import_module("re._parser")

__all__ = ("backtracking_problem",)

_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, *((_c.POSSESSIVE_REPEAT,) if hasattr(_c, "POSSESSIVE_REPEAT") else ()))
_ZERO_WIDTH = (_c.AT, _c.ASSERT, _c.ASSERT_NOT)
#: characters tried when asking whether two first-character sets share one: a witness for each
#: class (digit, letter, underscore, blank, newline, punctuation, non-ASCII) besides the literals
_PROBES = "0a_Z \n\t-.\x00~\u00e9\u4e2d"


def _subpatterns(av: Any) -> list[Any]:
    """The child sequences of one node (groups, branches, repeats, lookarounds)."""
    op, arg = av
    if op in _REPEATS:
        return [arg[2]]
    if op == _c.SUBPATTERN:
        return [arg[3]]
    if op == _c.BRANCH:
        return list(arg[1])
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [arg[1]]
    if op == getattr(_c, "ATOMIC_GROUP", None):
        return [arg]
    if op == _c.GROUPREF_EXISTS:
        return [s for s in arg[1:] if s is not None]
    return []


def _walk(seq: Any) -> Iterator[Any]:
    for item in seq:
        yield item
        for sub in _subpatterns(item):
            yield from _walk(sub)


def _walk_with_rest(seq: Any) -> Iterator[tuple[Any, list[Any]]]:
    """Each node with the nodes after it in its own sequence."""
    items = list(seq)
    for i, item in enumerate(items):
        yield item, items[i + 1 :]
        for sub in _subpatterns(item):
            yield from _walk_with_rest(sub)


def _first(seq: Any) -> tuple[list[tuple[Any, Any]], bool]:
    """The possible first characters of ``seq`` (as matcher items) and whether it can match ''."""
    items: list[tuple[Any, Any]] = []
    for op, av in seq:
        if op in (_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN):
            items.append((op, av))
            return items, False
        if op in _ZERO_WIDTH:
            continue
        if op in _REPEATS:
            sub, nullable = _first(av[2])
            items += sub
            if av[0] > 0 and not nullable:
                return items, False
            continue
        if op == _c.BRANCH:
            any_nullable = False
            for alt in av[1]:
                sub, nullable = _first(alt)
                items += sub
                any_nullable = any_nullable or nullable
            if not any_nullable:
                return items, False
            continue
        if op == _c.SUBPATTERN or op == getattr(_c, "ATOMIC_GROUP", None):
            sub, nullable = _first(av[3] if op == _c.SUBPATTERN else av)
            items += sub
            if not nullable:
                return items, False
            continue
        # a back-reference, a conditional group: any character, possibly none
        items.append((_c.ANY, None))
    return items, True


def _in_matches(members: Any, ch: int) -> bool:
    negate = False
    hit = False
    for op, av in members:
        if op == _c.NEGATE:
            negate = True
        elif op == _c.LITERAL:
            hit = hit or av == ch
        elif op == _c.RANGE:
            hit = hit or av[0] <= ch <= av[1]
        elif op == _c.CATEGORY:
            hit = hit or _category(av, chr(ch))
        else:  # anything unexpected: assume it matches
            hit = True
    return hit != negate


def _category(cat: Any, c: str) -> bool:
    name = str(cat).upper()
    positive = (
        c.isdigit()
        if "DIGIT" in name
        else c.isspace()
        if "SPACE" in name
        else c.isalnum() or c == "_"
        if "WORD" in name
        else c not in "\n"
        if "LINEBREAK" in name
        else True
    )
    return positive != ("NOT" in name)


def _item_matches(item: tuple[Any, Any], ch: int) -> bool:
    op, av = item
    if op == _c.LITERAL:
        return bool(av == ch)
    if op == _c.NOT_LITERAL:
        return bool(av != ch)
    if op == _c.IN:
        return _in_matches(av, ch)
    return True  # ANY (and what _first could not read)


def _codes(items: list[tuple[Any, Any]]) -> set[int]:
    out: set[int] = set()
    for op, av in items:
        if op in (_c.LITERAL, _c.NOT_LITERAL):
            out.add(av)
        elif op == _c.IN:
            for mop, mav in av:
                if mop == _c.LITERAL:
                    out.add(mav)
                elif mop == _c.RANGE:
                    out.update((mav[0], mav[1]))
    return out


def _overlap(a: list[tuple[Any, Any]], b: list[tuple[Any, Any]]) -> int | None:
    """A character both first-character sets can match, or None."""
    for ch in sorted(_codes(a) | _codes(b) | {ord(c) for c in _PROBES}):
        if any(_item_matches(x, ch) for x in a) and any(_item_matches(y, ch) for y in b):
            return ch
    return None


def _ambiguous_branch(alts: list[Any], rest: Any, body: Any) -> str | None:
    """Two alternatives of a branch inside a repeated ``body`` can match the same text's start.

    An alternative that can match the empty string goes on with what follows the branch (``rest``)
    and then with the next round of the body: ``(a|aa)+`` is parsed as ``(?:a(?:|a))+``, where the
    empty alternative and ``a`` both go on with ``a``."""
    after, after_nullable = _first(rest)
    if after_nullable:
        after = after + _first(body)[0]
    firsts = []
    for alt in alts:
        f, nullable = _first(alt)
        firsts.append((f + after if nullable else f, nullable))
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            (fi, ni), (fj, nj) = firsts[i], firsts[j]
            if ni and nj:
                return "two of its alternatives can match the empty string"
            ch = _overlap(fi, fj)
            if ch is not None:
                return f"two of its alternatives can start with {chr(ch)!r}"
    return None


def backtracking_problem(pattern: str) -> str | None:
    """Why ``pattern`` can backtrack exponentially (a sentence), or None when it has neither shape.

    A pattern that does not compile is a ``re.error`` (raised): the caller reports it as such.
    """
    tree = _p.parse(pattern)
    for op, av in _walk(tree):
        if op not in _REPEATS or av[1] <= 1:
            continue
        body = av[2]
        for (iop, iav), rest in _walk_with_rest(body):
            if iop in _REPEATS and iav[0] != iav[1] and iav[1] > 1:
                return (
                    "a repeated group contains another repeat of varying count (like (a+)+ or (.*)*): "
                    "matching can backtrack exponentially; write it without the nested repeat"
                )
            if iop == _c.BRANCH:
                why = _ambiguous_branch(list(iav[1]), rest, body)
                if why is not None:
                    return (
                        f"a repeated group holds an alternation where {why} (like (a|a)* or (a|aa)*): "
                        "matching can backtrack exponentially; make the alternatives start differently"
                    )
    return None
