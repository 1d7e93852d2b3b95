#!/usr/bin/env bash
# The real harness binaries the conformance suite runs against: Claude Code and
# Codex from npm, at exactly the versions in intendants/pins.json, installed into
# .cache/harnesses/<name>-<version>/ (git-ignored). Idempotent: a version that is
# already installed and answers --version is left alone. Nothing is installed
# globally; tests find the binaries through intendants.harnesses (or
# AGP_HARNESS_DIR). Needs node + npm (Debian's nodejs/npm; Claude Code's native
# binary runs without node 22, npm only warns about its engines field).
set -euo pipefail
root="${AGP_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
dest="${AGP_HARNESS_DIR:-$root/.cache/harnesses}"
if ! command -v npm >/dev/null 2>&1; then
  echo "    npm missing: installing Debian's nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$dest"
pins="$root/intendants/pins.json"
read_pin() { python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))[sys.argv[2]]; print(p["npm"], p["version"])' "$pins" "$1"; }
install_one() {
  local name="$1" bin="$2" pkg ver dir
  read -r pkg ver < <(read_pin "$name")
  dir="$dest/$name-$ver"
  if [ -x "$dir/node_modules/.bin/$bin" ] && "$dir/node_modules/.bin/$bin" --version 2>/dev/null | grep -q -- "$ver"; then
    echo "    $pkg@$ver already installed in ${dir#$root/}"
    return 0
  fi
  echo "    installing $pkg@$ver into ${dir#$root/}"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-audit --no-fund --loglevel=error --save-exact "$pkg@$ver" >/dev/null 2>"$dest/npm-$name.log" || {
    cat "$dest/npm-$name.log" >&2; echo "    npm install $pkg@$ver failed" >&2; exit 1; }
  local got
  got="$("$dir.tmp/node_modules/.bin/$bin" --version 2>/dev/null || true)"
  case "$got" in
    *"$ver"*) ;;
    *) echo "    $pkg@$ver installed but '$bin --version' said: '$got'" >&2; exit 1 ;;
  esac
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "    $bin --version: $got"
}
install_one claude-code claude
install_one codex codex
