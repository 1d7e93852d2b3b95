"""Keep secret values out of the journal.

Values registered here (by the sandbox's secrets resolver, or anyone who
learns a secret) are replaced by ``{{secret:NAME}}`` in every string of a body
before it is canonicalized, hashed, signed and written. The journal records
secret names, never values.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from agp.errors import UsageError

__all__ = ("MIN_SECRET_LENGTH", "SecretRedactor")

#: shorter values would turn ordinary text into placeholders; refuse them
MIN_SECRET_LENGTH = 4


class SecretRedactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: tuple[tuple[str, str], ...] = ()

    def register(self, name: str, value: str) -> None:
        if not name or not name.replace("_", "").isalnum():
            raise UsageError(f"bad secret name {name!r}: use letters, digits and underscores")
        if len(value) < MIN_SECRET_LENGTH:
            raise UsageError(f"secret {name} is shorter than {MIN_SECRET_LENGTH} characters; refusing to register it")
        with self._lock:
            pairs = dict(self._pairs)
            pairs[value] = name
            # longest first, so a secret containing another is replaced whole
            self._pairs = tuple(sorted(pairs.items(), key=lambda kv: -len(kv[0])))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({n for _, n in self._pairs}))

    def redact_text(self, text: str) -> str:
        for value, name in self._pairs:
            if value in text:
                text = text.replace(value, "{{secret:" + name + "}}")
        return text

    def redact_chunks(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Redact a byte stream given in chunks of any size, in memory bounded by the chunk size
        plus the longest value: the same replacements :meth:`redact_text` makes on UTF-8 text,
        also for a value split across chunks."""
        pairs = self._pairs
        if not pairs:
            yield from chunks
            return
        by_value = {v.encode("utf-8"): ("{{secret:" + n + "}}").encode("utf-8") for v, n in pairs}
        pattern = re.compile(b"|".join(re.escape(v) for v in by_value))  # longest first, as registered
        keep = max(len(v) for v in by_value) - 1
        carry = b""
        for chunk in chunks:
            buf = carry + chunk
            safe = len(buf) - keep  # a match starting before here ends inside buf
            out: list[bytes] = []
            pos = 0
            for m in pattern.finditer(buf):
                if m.start() >= safe:
                    break
                out += (buf[pos : m.start()], by_value[m.group()])
                pos = m.end()
            cut = max(pos, safe)
            out.append(buf[pos:cut])
            carry = buf[cut:]
            yield b"".join(out)
        yield pattern.sub(lambda m: by_value[m.group()], carry)

    def redact(self, obj: Any) -> Any:
        """Return ``obj`` with every registered value replaced, in keys and strings alike."""
        if not self._pairs:
            return obj
        return self._walk(obj)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, dict):
            return {self.redact_text(k) if isinstance(k, str) else k: self._walk(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self._walk(v) for v in obj]
        return obj
