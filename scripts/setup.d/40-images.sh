#!/usr/bin/env bash
# The sandbox images, built offline (there is no registry): a debootstrap
# minbase bookworm base from the Debian mirror apt already uses, loaded with
# `docker import`, then images/reference, images/claude-code and images/codex
# built FROM it with --network none and the harness binaries from npm at the
# versions in intendants/pins.json, and images/reference-node FROM the reference
# image with Debian's nodejs (.debs fetched on the host by apt) and the npm CLI
# (tarball from the npm registry, integrity pinned), for `agp run --image
# reference-node` and the npm tests. Unchanged inputs are not rebuilt. The image
# ids are pinned in ${AGP_HOME:-~/.local/share/agp}/images.json (`agp images list`).
set -euo pipefail
root="${AGP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
if ! command -v npm >/dev/null 2>&1; then
  echo "    npm missing: installing Debian's nodejs and npm (for the harness binaries)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
"$root/.venv/bin/agp" images build
"$root/.venv/bin/agp" images list
