#!/usr/bin/env bash
# Runs Vigil's benchmarks on the release build (scripts/build-release.sh: PGO +
# LTO; --plain: Release without them) and prints their tables.
#   bench/run.sh [--hugepages] [--plain] [--rounds N] [--seconds S]
# --hugepages reserves 1 GiB of 2 MiB pages for the end-to-end run (root),
# runs it with and without them, and gives the pages back afterwards.
# Figures are medians of rounds; the machine is shared, so compare ratios
# measured in one run rather than absolute figures across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=7 seconds=2 huge=0 plain=0
while [ $# -gt 0 ]; do
  case $1 in
    --hugepages) huge=1 ;;
    --plain) plain=1 ;;
    --rounds) rounds=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    *) echo "usage: bench/run.sh [--hugepages] [--plain] [--rounds N] [--seconds S]" >&2; exit 2 ;;
  esac
  shift
done
corpus=${VIGIL_CORPUS_DIR:-$(cd .. && pwd)/shared/corpus}
if [ "$plain" = 1 ]; then   # Release without profile feedback or LTO
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF -DVIGIL_PGO= >/dev/null
  cmake --build build-bench >/dev/null
else                        # the release build: PGO + LTO
  ./scripts/build-release.sh build-bench >/dev/null
fi
logs=("$corpus/syslog/elastic_auth.log" "$corpus/syslog/loghub/Linux_2k.log"
      "$corpus/syslog/iptables-psad/syn_scan_1000_1500.log")

echo "== syslog decoder alone (engine/syslog.c), all real lines of $corpus/syslog"
build-bench/bench_syslog "$corpus/syslog"
echo
echo "== L2-L4 decode alone (dataplane/pkt_decode.c)"
build-bench/bench_dp_pkt_decode
echo
echo "== vigil-dp worker end to end on net_ring, 256-byte frames, no hugepages"
build-bench/bench_dp_e2e --rounds "$rounds" --seconds "$seconds" "${logs[@]}" 2>/dev/null
echo
echo "== same, with the shipped parser packs and rules (parse + detect on every message)"
build-bench/bench_dp_e2e --configs configs --rounds "$rounds" --seconds "$seconds" 2>/dev/null
echo
echo "== parse and detect per message on the corpus: shipped packs, + SigmaHQ, + 1k / 10k synthetic rules"
build-bench/bench_ruleset --corpus "$corpus" --rounds "$rounds"
echo
echo "== one Hyperscan scan of a real access-log line (the floor under web detection)"
build-bench/bench_hs_floor --corpus "$corpus" --rounds "$rounds"
echo
echo "== NetFlow/IPFIX decode alone (engine/netflow.c)"
build-bench/bench_netflow "$corpus/netflow"
echo
echo "== flow rules alone (engine/flow_rules.c)"
build-bench/bench_flow_rules --rounds "$rounds"
echo
echo "== a worker's NetFlow path: decode + flow rules, without and with 1 M reputation prefixes"
build-bench/bench_dp_flowpath --corpus "$corpus" --rounds "$rounds" 2>/dev/null
echo
echo "== reputation lists alone: build and lookups with 1 M IPv4 + 100 k IPv6 prefixes"
build-bench/bench_dp_reputation --rounds "$rounds" 2>/dev/null
echo
echo "== vigil-cp: correlation (signals/s on one core) and the store (alerts/s in batches)"
build-bench/bench_cp_correlate --rounds "$rounds"
build-bench/bench_store --rounds "$rounds"

if [ "$huge" = 1 ]; then
  before=$(cat /proc/sys/vm/nr_hugepages)
  echo 512 >/proc/sys/vm/nr_hugepages
  mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages; }
  echo
  echo "== vigil-dp worker end to end on net_ring, 256-byte frames, hugepages ($(cat /proc/sys/vm/nr_hugepages) x 2 MiB)"
  build-bench/bench_dp_e2e --hugepages --rounds "$rounds" --seconds "$seconds" "${logs[@]}" 2>/dev/null || true
  echo
  echo "== same, hugepages, with the shipped parser packs and rules"
  build-bench/bench_dp_e2e --hugepages --configs configs --rounds "$rounds" --seconds "$seconds" 2>/dev/null || true
  echo "$before" >/proc/sys/vm/nr_hugepages
fi
