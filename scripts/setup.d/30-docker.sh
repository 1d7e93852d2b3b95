#!/usr/bin/env bash
# The Docker engine the sandbox runs on. If an engine already answers, it is used
# as is, with a warning when it has a bridge network (a route out): agp's sandboxes
# still use --network none and the egress preflight proves each has no route. If
# none answers, start Debian's dockerd WITHOUT any route-making features:
#   dockerd --iptables=false --ip-forward=false --bridge=none
# (log: ${AGP_DOCKERD_LOG:-/var/log/dockerd.log}), wait for it, and say so.
set -euo pipefail
log="${AGP_DOCKERD_LOG:-/var/log/dockerd.log}"
if docker info >/dev/null 2>&1; then
  echo "    a Docker engine answers: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
else
  command -v dockerd >/dev/null 2>&1 || { echo "    dockerd not installed (10-system installs docker.io)" >&2; exit 1; }
  echo "    no Docker engine answers: starting dockerd --iptables=false --ip-forward=false --bridge=none"
  nohup dockerd --iptables=false --ip-forward=false --bridge=none >"$log" 2>&1 &
  echo "    dockerd pid $!; waiting for it to answer"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "    dockerd did not answer within 60s; last lines of $log:" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
  echo "    dockerd answers: $(docker version --format '{{.Server.Version}}')"
fi
# A default bridge (or any bridge network) is a route off the container. agp never
# attaches sandboxes to it, but say so loudly; AGP_REQUIRE_ROUTELESS_ENGINE=1 refuses.
bridges="$(docker network ls --filter driver=bridge --format '{{.Name}}' | tr '\n' ' ')"
if [ -n "${bridges// /}" ]; then
  echo "    WARNING: the engine has bridge network(s) with routes: ${bridges}" >&2
  echo "    agp sandboxes use --network none and the preflight refuses any interface or route," >&2
  echo "    but a routeless engine is safer: dockerd --bridge=none --iptables=false --ip-forward=false" >&2
  if [ "${AGP_REQUIRE_ROUTELESS_ENGINE:-0}" = 1 ]; then
    echo "    refusing (AGP_REQUIRE_ROUTELESS_ENGINE=1)" >&2
    exit 1
  fi
else
  echo "    no bridge networks: containers have no route unless a test creates an --internal one"
fi
