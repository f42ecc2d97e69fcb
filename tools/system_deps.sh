#!/usr/bin/env bash
# Debian packages some targets need beyond the venv, installed when missing:
#   tools/system_deps.sh COMMAND=PACKAGE...   e.g. dot=graphviz nginx=nginx-light
# dot (Graphviz) draws the mesh report's graph; shellcheck is what ansible-test
# sanity checks shell scripts with; nginx, hey and wrk serve and
# load the traffic_probe benchmark.
set -euo pipefail
missing=()
for pair in "$@"; do
  command=${pair%%=*} package=${pair#*=}
  command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]} from Debian"
$sudo apt-get update -qq >/dev/null || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
