#!/usr/bin/env bash
# System packages agp needs: Python venv support, git, and (for the sandbox)
# docker.io and debootstrap. Installed non-interactively, only if missing.
set -euo pipefail
need=()
for pkg in python3-venv git docker.io debootstrap ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# python3 -m venv must work for the interpreter we use (pyenv builds ship it)
if [ ${#need[@]} -gt 0 ]; then
  echo "    installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "    system packages already present"
fi
