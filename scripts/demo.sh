#!/usr/bin/env bash
# Replays the bundled capture (configs/replay/demo.pcap) through vigil-dp on
# the shipped configs/vigil.yaml (net_pcap, no NIC, no hugepages) and shows
# what it saw: the dataplane's counters, then a summary and a sample of the
# normalized events from the debug tap.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target vigil-dp >/dev/null

events=build/demo-events.jsonl
echo "== vigil-dp -c configs/vigil.yaml --exit-when-idle --tap $events"
build/vigil-dp -c configs/vigil.yaml --exit-when-idle --tap "$events"

echo
echo "== $(wc -l <"$events") normalized events; by sender, host and program:"
jq -r '[.observer.ip, (.host.hostname // "-"), (.process.name // "-")] | @tsv' "$events" |
  sort | uniq -c | sort -rn | head -n 15
echo
echo "== anomalies the decoder tolerated:"
jq -r '.vigil.anomalies // [] | .[]' "$events" | sort | uniq -c | sort -rn
echo
echo "== parsed: $(jq -r 'select(.["vigil.parser"]) | 1' "$events" | wc -l) of $(jq -r 'select(.event.kind != "signal") | 1' "$events" | wc -l) events; top parsers:"
jq -r 'select(.["vigil.parser"]) | .["vigil.parser"]' "$events" | sort | uniq -c | sort -rn | head -n 10
echo
echo "== detections (rule, level, source):"
jq -r 'select(.event.kind == "signal") | [.rule.level, .rule.name, (.source.ip // "-")] | @tsv' "$events" |
  sort | uniq -c | sort -rn | head -n 20
echo
echo "== a few events and signals (ECS JSON):"
grep -m1 '"rfc5424"' "$events" | jq -c .
grep -m1 '"event.code":"106023"\|"code":"106023"' "$events" | jq -c .
grep -m1 'Invalid user' "$events" | jq -c .
jq -c 'select(.event.kind == "signal")' "$events" | head -n 2
