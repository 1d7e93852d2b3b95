"""Helpers for the transparency-log tests: real journals, rewritten by a key holder, and their hashes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from agp.journal import SigningKey
from agp.journal.canonical import canonicalize
from agp.journal.chain import GENESIS_PREV, seal
from agp.journal.checkpoint import format_checkpoint, journal_origin, sign_checkpoint
from agp.journal.merkle import CompactRange
from agp.journal.head import Head, head_path_for, read_head, write_head_file

__all__ = ("entry_hashes", "extend_journal", "rewrite_entry")


def entry_hashes(path: Path) -> list[bytes]:
    """Raw 32-byte hash of every line, in order (the tree's leaf data)."""
    return [bytes.fromhex(json.loads(line)["hash"]) for line in path.read_bytes().splitlines()]


def rewrite_entry(path: Path, key: SigningKey, seq: int, body: dict) -> None:
    """Rewrite history as only the key holder can: replace entry ``seq``'s body, re-hash and re-sign it
    and every later entry, so that the chain and every signature still verify."""
    out = []
    prev = GENESIS_PREV
    for raw in path.read_bytes().splitlines():
        obj = json.loads(raw)
        if obj["seq"] < seq:
            out.append(raw + b"\n")
            prev = obj["hash"]
            continue
        new_body = body if obj["seq"] == seq else obj["body"]
        _, line = seal(
            signer=key, body=new_body, body_c=canonicalize(new_body), kind=obj["kind"], prev=prev,
            seq=obj["seq"], session=obj["session"], ts=obj["ts"],
        )
        out.append(line)
        prev = json.loads(line)["hash"]
    path.write_bytes(b"".join(out))
    # and a freshly signed head over the rewritten journal, so that only an outside record can tell
    head = read_head(head_path_for(path))
    if head is not None:
        objs = {json.loads(x)["seq"]: json.loads(x) for x in out}
        extra = dict(head.extra)
        if "checkpoint" in extra:  # the head's Merkle checkpoint and tree state, recomputed and re-signed
            tree = CompactRange.from_leaf_data(bytes.fromhex(objs[i]["hash"]) for i in range(head.seq + 1))
            origin = journal_origin(objs[0]["hash"])
            extra["checkpoint"] = sign_checkpoint(format_checkpoint(origin, tree.size, tree.root()), key, origin)
            if "tree" in extra:
                extra["tree"] = base64.b64encode(tree.to_bytes()).decode("ascii")
        write_head_file(
            head_path_for(path),
            Head.create(key, genesis=objs[0]["hash"], seq=head.seq, hash=objs[head.seq]["hash"], ts=head.ts, extra=extra),
        )


def extend_journal(path: Path, key: SigningKey, n: int) -> None:
    """Append ``n`` gate decisions with the real Journal class."""
    from agp.journal import Journal

    j = Journal.open(path, key)
    try:
        for i in range(n):
            j.append("gate.decision", "s-extend", {"i": i, "decision": "allow"})
    finally:
        j.close()
