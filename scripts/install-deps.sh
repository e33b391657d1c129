#!/usr/bin/env bash
# Installs the Debian 12 packages Vigil needs to build, test and run.
# Idempotent: packages already present are skipped by apt-get. Needs root.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config
  libdpdk-dev dpdk
  libhyperscan-dev
  liblmdb-dev lmdb-utils
  libjemalloc-dev
  libcriterion-dev
  libyaml-dev
  libpcap-dev
  libsodium-dev              # BLAKE2b hash chain of the store (tamper evidence)
  libcurl4-openssl-dev       # vigil-cp webhook output
  libjansson-dev             # tests read the JSON the tap and stats write
  jq                         # the demo summarises the tap with it
  clang libclang-rt-14-dev   # libFuzzer targets and sanitizer builds
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
