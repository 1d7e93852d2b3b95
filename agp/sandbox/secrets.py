"""``{{secret:NAME}}``: secrets resolved after the gate, at the exec boundary, from the host.

A tool call's input or the harness launch environment may name a secret as
``{{secret:NAME}}`` (NAME: letters, digits, underscores). :class:`SecretResolver`
replaces each placeholder with the host's value *after* the gate allowed the
call, right where the process is started:

1. the environment variable ``AGP_SECRET_<NAME>``, else
2. the secrets file (``$AGP_SECRETS_FILE``, default ``<agp data dir>/secrets``),
   lines ``NAME=value``; it must belong to the current user and have no group
   or other permission bits (0600 or stricter), or it is refused.

An unresolved name, a malformed placeholder or an unsafe file raises
:class:`agp.errors.SecretError`: the call fails. Every resolved value is
registered with the journal's :class:`agp.journal.SecretRedactor`, so the
journal and the evidence keep the name, never the value. The sandbox passes
resolved values only through an exec's stdin (never its argv or the engine's
recorded environment), see :mod:`agp.sandbox.docker`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agp.errors import SecretError

__all__ = (
    "ENV_PREFIX",
    "PLACEHOLDER_RE",
    "SecretResolver",
    "contains_placeholder",
    "default_secrets_file",
    "placeholder_names",
)

PLACEHOLDER_RE = re.compile(r"\{\{secret:([A-Za-z_][A-Za-z0-9_]*)\}\}")
_LOOSE_RE = re.compile(r"\{\{\s*secret\s*:", re.IGNORECASE)
ENV_PREFIX = "AGP_SECRET_"


def contains_placeholder(text: str) -> bool:
    """True for anything that looks like a placeholder, well-formed or not (fail closed)."""
    return bool(_LOOSE_RE.search(text))


def placeholder_names(obj: Any) -> set[str]:
    """Every NAME in ``{{secret:NAME}}`` anywhere in a JSON-like object (keys included)."""
    names: set[str] = set()

    def walk(o: Any) -> None:
        if isinstance(o, str):
            names.update(PLACEHOLDER_RE.findall(o))
        elif isinstance(o, Mapping):
            for k, v in o.items():
                walk(k)
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(obj)
    return names


def default_secrets_file() -> Path:
    from agp.paths import data_dir

    return Path(os.environ.get("AGP_SECRETS_FILE") or data_dir() / "secrets")


class SecretResolver:
    """Resolve placeholders from the host. ``redactor`` is the journal's SecretRedactor."""

    def __init__(
        self, *, redactor: Any | None = None, environ: Mapping[str, str] | None = None, secrets_file: Path | None = None
    ) -> None:
        self.redactor = redactor
        self._environ = os.environ if environ is None else environ
        self._file = secrets_file
        self.used: set[str] = set()

    def _from_file(self, name: str) -> str | None:
        path = self._file or default_secrets_file()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretError(f"secrets file {path}: cannot open ({exc.strerror})") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SecretError(f"secrets file {path} is not a regular file")
            if st.st_mode & 0o077:
                raise SecretError(
                    f"secrets file {path} has mode {stat.S_IMODE(st.st_mode):04o}; refusing it (chmod 600)"
                )
            if st.st_uid != os.geteuid():
                raise SecretError(f"secrets file {path} belongs to uid {st.st_uid}, not to this user")
            with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as f:
                text = f.read()
        finally:
            os.close(fd)
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            if k.strip() == name:
                return v.strip()
        return None

    def lookup(self, name: str) -> str:
        value = self._environ.get(ENV_PREFIX + name)
        if value is None:
            value = self._from_file(name)
        if value is None or value == "":
            raise SecretError(
                f"secret {name} is not set (environment {ENV_PREFIX}{name} or the secrets file); the call fails"
            )
        if self.redactor is not None:
            try:
                self.redactor.register(name, value)
            except Exception as exc:  # the redactor refuses short values: never let such a value through
                raise SecretError(f"secret {name} cannot be redacted from the journal: {exc}") from exc
        self.used.add(name)
        return value

    def resolve_text(self, text: str) -> str:
        if not contains_placeholder(text):
            return text
        if _LOOSE_RE.search(PLACEHOLDER_RE.sub("", text)):
            raise SecretError("malformed {{secret:...}} placeholder (NAME: letters, digits, underscores)")
        return PLACEHOLDER_RE.sub(lambda m: self.lookup(m.group(1)), text)

    def resolve(self, obj: Any) -> Any:
        """A copy of a JSON-like object with every placeholder (in strings and keys) resolved."""
        if isinstance(obj, str):
            return self.resolve_text(obj)
        if isinstance(obj, Mapping):
            return {self.resolve(k) if isinstance(k, str) else k: self.resolve(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.resolve(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.resolve(v) for v in obj)
        return obj
