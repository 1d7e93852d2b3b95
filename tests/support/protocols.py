"""Does a class satisfy a Protocol? Every member exists, with a signature a caller that follows the
protocol cannot break (inspect.signature; runtime_checkable's isinstance only checks names)."""

from __future__ import annotations

import ast
import inspect
import sys
import typing

__all__ = ("incompatibilities", "members")


def members(proto: type) -> dict[str, object]:
    """The protocol's own members: methods, properties and annotated attributes."""
    out: dict[str, object] = {}
    for name, value in vars(proto).items():
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        if callable(value) or isinstance(value, property):
            out[name] = value
    for name in getattr(proto, "__annotations__", {}):
        out.setdefault(name, None)
    return out


def incompatibilities(proto: type, impl: type, _assumed: frozenset = frozenset()) -> list[str]:
    """Why ``impl`` does not satisfy ``proto``: a missing member, or a signature that would break a
    caller that follows the protocol (a parameter missing or of another kind, a default the protocol
    has and the implementation lacks, an extra parameter without a default, another return type)."""
    problems: list[str] = []
    assumed = _assumed | {(proto, impl)}  # a method returning its own type (__enter__) is compatible
    for name, member in members(proto).items():
        if not hasattr(impl, name) and name not in getattr(impl, "__annotations__", {}):
            # an attribute the constructor sets is checked on an instance by the caller
            if member is None and name in inspect.signature(impl.__init__).parameters:
                continue
            if member is None and name in _init_assigned(impl):
                continue
            problems.append(f"{name}: missing")
            continue
        got = getattr(impl, name, None)
        if isinstance(member, property):
            if not isinstance(got, property):
                problems.append(f"{name}: the protocol has a property, the implementation {type(got).__name__}")
            continue
        if member is None or not callable(member):
            continue
        want_sig, got_sig = inspect.signature(member), inspect.signature(got)
        want_ps, got_ps = want_sig.parameters, got_sig.parameters
        for pname, wp in want_ps.items():
            gp = got_ps.get(pname)
            if wp.kind is wp.VAR_POSITIONAL:
                if not any(p.kind is p.VAR_POSITIONAL for p in got_ps.values()):
                    problems.append(f"{name}: no *{pname}")
                continue
            if gp is None:
                problems.append(f"{name}: no parameter {pname!r}")
                continue
            if gp.kind is not wp.kind:
                problems.append(f"{name}({pname}): {gp.kind.description}, the protocol says {wp.kind.description}")
            if wp.default is not wp.empty and gp.default is gp.empty:
                problems.append(f"{name}({pname}): no default, the protocol has {wp.default!r}")
            elif wp.default is not wp.empty and gp.default != wp.default:
                problems.append(f"{name}({pname}): default {gp.default!r}, the protocol says {wp.default!r}")
        for pname, gp in got_ps.items():
            if pname not in want_ps and gp.default is gp.empty and gp.kind not in (gp.VAR_POSITIONAL,
                                                                                      gp.VAR_KEYWORD):
                problems.append(f"{name}: extra parameter {pname!r} without a default")
        want_ret, got_ret = _return(proto, member), _return(impl, got)
        if want_ret is not None and got_ret is not None and not _returns_compatible(want_ret, got_ret,
                                                                                                assumed):
            problems.append(f"{name}: returns {got_ret!r}, the protocol says {want_ret!r}")
    return problems


def _init_assigned(cls: type) -> set[str]:
    src = inspect.getsource(cls.__init__)
    tree = ast.parse(inspect.cleandoc("\n" + src) if src.startswith((" ", "\t")) else src)
    return {t.attr for n in ast.walk(tree) for t in getattr(n, "targets", [getattr(n, "target", None)])
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"}


def _return(owner: type, fn: object) -> object:
    mod = sys.modules[owner.__module__]
    try:
        return typing.get_type_hints(fn, globalns=vars(mod), localns={owner.__name__: owner}).get("return")
    except NameError:  # a TYPE_CHECKING-only name somewhere in the signature: resolve the return alone
        text = getattr(fn, "__annotations__", {}).get("return")
        if not isinstance(text, str):
            return text
        try:
            return eval(text, vars(mod), {owner.__name__: owner})  # noqa: S307 - an annotation of our own code
        except NameError:
            return text


def _returns_compatible(want: object, got: object, assumed: frozenset) -> bool:
    if want == got or (want, got) in assumed:
        return True
    if isinstance(want, str) or isinstance(got, str):  # unresolvable: compare the names
        def name(t: object) -> str:
            return t if isinstance(t, str) else "None" if t is type(None) else getattr(t, "__name__", repr(t))

        return name(want).strip("'\"") == name(got).strip("'\"")
    if isinstance(want, type) and isinstance(got, type):
        if getattr(want, "_is_protocol", False):
            return not incompatibilities(want, got, assumed)
        return issubclass(got, want)
    return False
