"""One shape for every problem a verification finds: ``{code, message, where}``.

``code`` is a stable name (listed in docs/verify.md); ``message`` says what is wrong;
``where`` names the file (``journal.jsonl:12`` for a line, ``--since FILE`` for an option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ("Problem",)


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def to_json_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "where": self.where}
