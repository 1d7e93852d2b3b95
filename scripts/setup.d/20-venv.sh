#!/usr/bin/env bash
# The Python environment: a virtualenv at .venv/ in the repository root with
# agp installed (editable) and its test dependencies; `.venv/bin/agp` is the CLI.
set -euo pipefail
root="${AGP_ROOT:?}"
py="${PYTHON:-python3}"
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), "agp needs Python 3.11, found %s" % sys.version.split()[0]'
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "    creating $root/.venv"
  "$py" -m venv "$root/.venv"
fi
"$root/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v -i warning || true
echo "    installing agp and its dependencies into .venv"
"$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test,bench]" 2>&1 | grep -v -i warning || true
"$root/.venv/bin/agp" --version
