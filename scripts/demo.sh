#!/usr/bin/env bash
# The governed demo (the end of `bash scripts/setup.sh`): `agp demo` runs the reference
# intendant in the real sandbox behind the gate, offline, and verifies the evidence bundle.
# Arguments are passed on (e.g. --out DIR, --json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/.venv/bin/agp" demo "$@"
