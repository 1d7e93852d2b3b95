"""The one exception tree of agp.

Every error agp raises on purpose derives from :class:`AgpError`; errors from
Docker, the OS, anyio or the crypto library are wrapped at module edges with
``raise ... from exc``. ``agp.cli`` catches ``AgpError`` in one place and
prints :meth:`AgpError.diagnostics`.

::

    AgpError
    ├── UsageError                  bad input from the user (CLI exit 2)
    ├── KeyFileError                a key file is missing, unreadable or unsafe
    ├── JournalError
    │   ├── JournalWriteError       an append or head write failed; the journal is poisoned
    │   └── JournalVerificationError  a journal, head or bundle does not verify (CLI exit 1)
    ├── PolicyError                 a policy file is invalid (agp refuses to start)
    ├── GateError
    │   └── ProtocolError           a frame or message that breaks the gate protocol
    ├── ApprovalError               an approval could not be asked or answered
    ├── SandboxError
    │   ├── HardeningError          a hardened flag is missing after create
    │   ├── PreflightError          the egress preflight saw an interface or a route
    │   ├── ImagePinError           an image reference is not pinned
    │   ├── MountDeniedError        a host path is on the deny-list
    │   └── SecretError             a {{secret:NAME}} could not be resolved
    ├── IntendantError              a harness could not be configured or launched safely
    └── EvidenceError               an evidence bundle could not be built or does not verify

Verification raises, decisions return: a policy *decision* is data
(``agp.policy.Decision``), never an exception.
"""

from __future__ import annotations

__all__ = (
    "AgpError",
    "ApprovalError",
    "EvidenceError",
    "GateError",
    "HardeningError",
    "ImagePinError",
    "IntendantError",
    "JournalError",
    "JournalVerificationError",
    "JournalWriteError",
    "KeyFileError",
    "MountDeniedError",
    "PolicyError",
    "PreflightError",
    "ProtocolError",
    "SandboxError",
    "SecretError",
    "UsageError",
)


class AgpError(Exception):
    """Base of every error agp raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 1

    def diagnostics(self) -> str:
        """Human-readable text for the operator (never shown to the agent)."""
        return str(self) or self.__class__.__name__


class UsageError(AgpError):
    exit_code = 2


class KeyFileError(AgpError):
    exit_code = 2


class JournalError(AgpError):
    pass


class JournalWriteError(JournalError):
    """An append or head write failed. The journal accepts nothing more until reopened."""


class JournalVerificationError(JournalError):
    """A journal does not verify. Names the entry (seq), the line and expected vs. found."""

    def __init__(self, reason: str, *, seq: int | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.seq = seq
        self.line = line
        where = []
        if line is not None:
            where.append(f"line {line}")
        if seq is not None:
            where.append(f"entry {seq}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + reason)


class PolicyError(AgpError):
    exit_code = 2


class GateError(AgpError):
    pass


class ProtocolError(GateError):
    pass


class ApprovalError(AgpError):
    pass


class SandboxError(AgpError):
    pass


class HardeningError(SandboxError):
    pass


class PreflightError(SandboxError):
    pass


class ImagePinError(SandboxError):
    exit_code = 2


class MountDeniedError(SandboxError):
    exit_code = 2


class SecretError(SandboxError):
    pass


class IntendantError(AgpError):
    pass


class EvidenceError(AgpError):
    pass
