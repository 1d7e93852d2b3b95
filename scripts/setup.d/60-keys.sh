#!/usr/bin/env bash
# The journal signing key: created once in agp's data directory
# (${AGP_HOME:-~/.local/share/agp}/keys, private key mode 0600) if none exists.
set -euo pipefail
root="${AGP_ROOT:?}"
agp="$root/.venv/bin/agp"
if "$agp" keys show >/dev/null 2>&1; then
  echo "    signing key present: $("$agp" keys show)"
else
  "$agp" keys init
fi
