"""The signed, hash-chained journal: append (store), head, keys, offline verification,
Merkle checkpoints and proofs, and the witness.

Public surface (the CLI and the rest of agp import from here, never a ``_``-prefixed name)::

    Journal.open(path, key) -> Journal     .append(kind, session, body) -> Entry
    init_keys(dir) / load_signing_key(dir) / load_public_key(path) / Keyring
    rotate_key(journal, key_dir) -> RotatedKey        (KeyRotation: the key directory's steps)
    verify_journal(path, keyring) -> VerifyReport   (raises JournalVerificationError)
    prove_inclusion / prove_consistency / write_checkpoint / read_checkpoint / TreeFile
    verify_entry / verify_consistency / require_witnesses
    parse_checkpoint_body / parse_unverified_note / open_checkpoint
    Witness / WitnessState / init_witness / load_log_key / split_add_checkpoint
"""

from agp.journal.chain import Entry
from agp.journal.checkpoint import open_checkpoint, parse_checkpoint_body, parse_unverified_note
from agp.journal.head import Head
from agp.journal.keys import (
    KEY_FILE,
    KEYRING_FILE,
    PUB_FILE,
    Keyring,
    KeyRotation,
    PublicKey,
    SigningKey,
    init_keys,
    load_public_key,
    load_signing_key,
)
from agp.journal.proofs import (
    CHECKPOINT_SUFFIX,
    ConsistencyProof,
    InclusionProof,
    TreeFile,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    require_witnesses,
    verify_consistency,
    verify_entry,
    write_checkpoint,
)
from agp.journal.redact import SecretRedactor
from agp.journal.store import Journal, RotatedKey, rotate_key
from agp.journal.verify import VerifyReport, scan_journal, verify_journal
from agp.journal.witness import (
    STATE_FILE,
    WITNESS_VKEY_FILE,
    Witness,
    WitnessState,
    init_witness,
    load_log_key,
    split_add_checkpoint,
)

__all__ = (
    "CHECKPOINT_SUFFIX",
    "KEYRING_FILE",
    "KEY_FILE",
    "PUB_FILE",
    "STATE_FILE",
    "WITNESS_VKEY_FILE",
    "ConsistencyProof",
    "Entry",
    "Head",
    "InclusionProof",
    "Journal",
    "KeyRotation",
    "Keyring",
    "PublicKey",
    "RotatedKey",
    "SecretRedactor",
    "SigningKey",
    "TreeFile",
    "VerifyReport",
    "Witness",
    "WitnessState",
    "init_keys",
    "init_witness",
    "load_log_key",
    "load_public_key",
    "load_signing_key",
    "open_checkpoint",
    "parse_checkpoint_body",
    "parse_unverified_note",
    "prove_consistency",
    "prove_inclusion",
    "read_checkpoint",
    "require_witnesses",
    "rotate_key",
    "scan_journal",
    "split_add_checkpoint",
    "verify_consistency",
    "verify_entry",
    "verify_journal",
    "write_checkpoint",
)
