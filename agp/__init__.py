"""agp: a governance plane for AI coding agents.

Harnesses run in a sandbox with no network; every tool call goes to a gate on
the host, is decided by a deterministic default-deny policy, optionally held
for a human, and written to a signed, hash-chained journal that an auditor
verifies offline with the public key alone.
"""

__version__ = "0.1.0"
__all__ = ("__version__",)
