"""The signed, hash-chained journal: append (store), head, keys, offline verification.

Public surface::

    Journal.open(path, key) -> Journal     .append(kind, session, body) -> Entry
    init_keys(dir) / load_signing_key(dir) / load_public_key(path) / Keyring
    verify_journal(path, keyring) -> VerifyReport   (raises JournalVerificationError)
"""

from agp.journal.chain import Entry
from agp.journal.head import Head
from agp.journal.keys import Keyring, PublicKey, SigningKey, init_keys, load_public_key, load_signing_key
from agp.journal.redact import SecretRedactor
from agp.journal.store import Journal
from agp.journal.verify import VerifyReport, scan_journal, verify_journal

__all__ = (
    "Entry",
    "Head",
    "Journal",
    "Keyring",
    "PublicKey",
    "SecretRedactor",
    "SigningKey",
    "VerifyReport",
    "init_keys",
    "load_public_key",
    "load_signing_key",
    "scan_journal",
    "verify_journal",
)
