"""Every error code agp verify can print is documented (docs/verify.md) and listed in its --help."""

import re
from pathlib import Path

from agp.commands.verify import CODES
from agp.journal.verify import _CODES

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ["agp/evidence/bundle.py", "agp/evidence/manifest.py", "agp/evidence/source.py", "agp/commands/verify.py"]
PATTERN = re.compile(r'(?:Problem|ArchiveError|\.fail)\(\s*"([a-z_]+)"')


def test_every_code_is_documented_and_in_the_help():
    found = {c for _, c in _CODES} | {"journal_invalid", "usage_error"}
    for rel in SOURCES:
        found |= set(PATTERN.findall((ROOT / rel).read_text()))
    assert len(found) > 40
    doc = (ROOT / "docs" / "verify.md").read_text()
    helped = " ".join(CODES.values())
    missing_doc = sorted(c for c in found if f"`{c}`" not in doc)
    missing_help = sorted(c for c in found if not re.search(rf"\b{c}\b", helped))
    assert not missing_doc and not missing_help, (missing_doc, missing_help)
