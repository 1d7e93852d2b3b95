#!/usr/bin/env bash
# Finish a debootstrap root for `docker import` as agp's base image:
# the non-root `agent` user (uid/gid 10001, HOME on a tmpfs at run time), the
# mount points the sandbox uses, and no package caches or lists (the image never
# talks to a mirror again). Usage: finalize.sh ROOTFS
set -euo pipefail
root="${1:?usage: finalize.sh ROOTFS}"
[ -x "$root/usr/bin/python3" ] || { echo "finalize: $root has no python3" >&2; exit 1; }
grep -q '^agent:' "$root/etc/passwd" || echo 'agent:x:10001:10001:agp agent:/home/agent:/bin/bash' >> "$root/etc/passwd"
grep -q '^agent:' "$root/etc/group" || echo 'agent:x:10001:' >> "$root/etc/group"
grep -q '^agent:' "$root/etc/shadow" || echo 'agent:!:19000::::::' >> "$root/etc/shadow"
install -d -m 0700 -o 10001 -g 10001 "$root/home/agent"
install -d -m 0755 "$root/workspace" "$root/run/agp" "$root/opt/agp/intendants" "$root/opt/agp/bin"
# caches, lists, docs and logs: not needed at run time, and they make the base bigger
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log \
       "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
# no apt sources inside: the image is built offline and never updates itself
: > "$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
echo "agp-sandbox" > "$root/etc/hostname"
