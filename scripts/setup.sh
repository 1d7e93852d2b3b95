#!/usr/bin/env bash
# agp setup: brings a fresh Debian 12 machine (as root) to a working agp, then
# runs the governed demo. Each step lives in scripts/setup.d/NN-name.sh and
# says what it does; every step is idempotent, so running this again is cheap.
#
#   bash scripts/setup.sh            set everything up, then run `agp demo`
#   bash scripts/setup.sh --no-demo  set everything up only (what .ci/run uses)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export AGP_ROOT="$root"
demo=1
for a in "$@"; do
  case "$a" in
    --no-demo) demo=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
for step in "$here"/setup.d/[0-9][0-9]-*.sh; do
  name="$(basename "$step" .sh)"
  echo "==> setup: ${name#??-}"
  t0=$(date +%s)
  bash "$step"
  echo "    (${name#??-} took $(( $(date +%s) - t0 ))s)"
done
echo "==> setup complete in $(( $(date +%s) - start ))s"
if [ "$demo" = 1 ]; then
  echo "==> running the governed demo"
  exec "$root/scripts/demo.sh"
fi
