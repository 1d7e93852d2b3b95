"""The policy digest: which rules were in force, as one sha256.

``normalized_policy`` turns the tiers into plain JSON: every rule with the fields that
differ from their defaults (so writing a default out, or a later version of agp adding an
optional matcher, does not change a digest), datetimes as RFC 3339 UTC strings, tiers in
order, rules in file order, under a format tag. ``[[test]]`` cases are left out (they decide
nothing). Comments, key order, whitespace, string quoting and ``"x"`` vs ``["x"]`` do not
change the digest; any change to a rule does.

``policy_digest = sha256(RFC 8785 canonical JSON of the normalized policy)`` in hex,
computed with the ``rfc8785`` reference implementation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from typing import Any

import rfc8785

from agp.policy.model import PolicyFile

__all__ = ("DIGEST_ALGORITHM", "attestation", "normalized_policy", "policy_digest")

DIGEST_ALGORITHM = "sha256-jcs"
_FORMAT = "agp-policy/v1"


def _plain(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        return v.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def normalized_policy(tiers: Sequence[PolicyFile]) -> dict[str, Any]:
    out = []
    for pf in tiers:
        out.append(
            {
                "policy": _plain(pf.policy.model_dump(mode="python", exclude_defaults=True)),
                "rules": [_plain(r.model_dump(mode="python", exclude_defaults=True)) for r in pf.rule],
            }
        )
    return {"format": _FORMAT, "tiers": out}


def policy_digest(tiers: Sequence[PolicyFile]) -> str:
    return hashlib.sha256(rfc8785.dumps(normalized_policy(tiers))).hexdigest()


def attestation(policy: Any) -> dict[str, Any]:
    """What the journal records about a policy at the start of a run."""
    return {
        "algorithm": DIGEST_ALGORITHM,
        "format": _FORMAT,
        "digest": policy.digest,
        "tiers": [
            {
                "name": pf.policy.name,
                "source": src,
                "rules": len(pf.rule),
                "approvals": pf.policy.approvals,
                "no_match": pf.policy.no_match,
            }
            for pf, src in zip(policy.tiers, policy.sources, strict=True)
        ],
    }
