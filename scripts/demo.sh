#!/usr/bin/env bash
# Replays the bundled capture (configs/replay/demo.pcap: a port scan, then a
# web attack from the same address, and an SSH brute force, inside benign
# traffic) through vigil-dp on the shipped configs/vigil.yaml (net_pcap, no
# NIC, no hugepages), lets vigil-cp correlate what the workers detected, and
# shows the incidents it found, the top one as a timeline.
#
# Everything the run writes (store, rings, alerts.jsonl, stats) goes under
# build/demo/, so the demo never touches /var/lib/vigil or /dev/shm.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target vigil-dp vigil-cp vigilctl >/dev/null

demo=$PWD/build/demo
rm -rf "$demo"
mkdir -p "$demo"
# The shipped configuration, with its writable paths moved into build/demo.
sed -e "s|\${config_dir}|$PWD/configs|g" \
    -e "s|/var/lib/vigil/store|$demo/store|" \
    -e "s|/var/log/vigil/alerts.jsonl|$demo/alerts.jsonl|" \
    -e "s|/dev/shm/vigil-cp.status.json|$demo/vigil-cp.status.json|" \
    -e "s|/run/vigil-cp.sock|$demo/vigil-cp.sock|" \
    -e "s|/dev/shm/vigil-dp.stats|$demo/vigil-dp.stats|" \
    -e "s|/dev/shm/vigil-dp.rules.json|$demo/vigil-dp.rules.json|" \
    -e "s|/dev/shm/vigil-dp.compiled.rules|$demo/compiled.rules|" \
    -e "s|/dev/shm/vigil-dp.netflow.json|$demo/vigil-dp.netflow.json|" \
    -e "s|/var/lib/vigil/nf-templates.lmdb|$demo/nf-templates.lmdb|" \
    -e "s|^  dir: /dev/shm|  dir: $demo|" \
    configs/vigil.yaml >"$demo/vigil.yaml"
conf=$demo/vigil.yaml

echo "== vigil-dp: replaying configs/replay/demo.pcap"
build/vigil-dp -c "$conf" --exit-when-idle --tap "$demo/events.jsonl" 2>"$demo/vigil-dp.log" >"$demo/vigil-dp.out"
build/vigil-dp -c "$conf" --show-stats 2>/dev/null |
  grep -E '^ *(rx_packets|syslog_events|events_parsed|events_unparsed|signals|netflow_records|flow_signals|signals_dropped_ring_full|drop_unknown_port) ' || true

echo
echo "== vigil-cp: correlating the signals, writing the store"
build/vigil-cp -c "$conf" --exit-when-idle 1500 2>"$demo/vigil-cp.log"
jq -r '"signals \(.signals_in), alerts \(.alerts_emitted) (\(.fold.folded) duplicates folded), correlations \(.correlation_alerts), incident updates \(.incidents_staged)"' \
  "$demo/vigil-cp.status.json"

echo
echo "== vigilctl incidents"
build/vigilctl incidents -c "$conf"
top=$(build/vigilctl incidents -c "$conf" --json | jq -rs 'sort_by(-.event.risk_score) | .[0].event.id // empty')
if [ -n "$top" ]; then
  echo
  echo "== vigilctl incidents show $top"
  build/vigilctl incidents show "$top" -c "$conf"
fi
echo
echo "== vigilctl verify"
build/vigilctl verify -c "$conf"
echo
echo "Alerts as shipped to a SIEM (ECS JSON lines): $demo/alerts.jsonl"
echo "Query more:  build/vigilctl alerts -c $conf   |   build/vigilctl status -c $conf"
