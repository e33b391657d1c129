#!/usr/bin/env bash
# Builds seed inputs for the fuzz targets from the shared corpus:
#   OUT/syslog/      one real syslog line per file
#   OUT/pkt_decode/  one real frame per file (VLAN, QinQ, IPv6, fragments)
#   OUT/sigma/       shipped and SigmaHQ rules
#   OUT/template/    (filled by the template target's own seeds, if any)
# usage: fuzz-seeds.sh CORPUS_DIR OUT_DIR  (needs build/vigil-pcapgen for frames)
set -euo pipefail
corpus=$1
out=$2
mkdir -p "$out/syslog" "$out/pkt_decode" "$out/sigma" "$out/template"
here=$(cd "$(dirname "$0")/.." && pwd)

# Sigma: the shipped rules and some real SigmaHQ rules.
cp "$here"/configs/rules/*.yml "$out/sigma/"
find "$corpus/rules/sigma" -name '*.yml' | sort | head -n 40 | while IFS= read -r f; do
  cp "$f" "$out/sigma/$(basename "$f")"
done

n=0
for f in "$corpus"/syslog/rsyslog-seeds/*.txt "$corpus"/syslog/fail2ban/logs/bsd/*.txt; do
  while IFS= read -r line; do
    printf '%s' "$line" >"$out/syslog/seed-$n"; n=$((n + 1))
  done <"$f"
done
for f in "$corpus"/syslog/loghub/Linux_2k.log "$corpus"/syslog/elastic_auth.log \
         "$corpus"/syslog/iptables-psad/syn_scan_1000_1500.log; do
  b=$(basename "$f")
  head -n 20 "$f" | while IFS= read -r line; do
    printf '<38>%s' "$line" >"$out/syslog/seed-$b-$RANDOM"
  done
done
grep -m 20 -h ' pass = ' "$corpus"/syslog/wazuh-ruletests/cisco_asa.ini | sed 's/^log [0-9]* pass = //' |
  while IFS= read -r line; do printf '<166>%s' "$line" >"$out/syslog/seed-asa-$RANDOM"; done

gen=build/vigil-pcapgen
if [ -x "$gen" ]; then
  lines=$(mktemp)
  head -n 4 "$corpus"/syslog/elastic_auth.log >"$lines"
  i=0
  for args in "" "--vlan 10" "--vlan 10 --vlan 20" "--src 2001:db8::5" "--mtu 576" \
              "--src 2001:db8::5 --mtu 1280"; do
    # shellcheck disable=SC2086
    "$gen" --frames-dir "$out/pkt_decode" --frames-prefix "s$i-" -o /dev/null --pri 38 $args "$lines" 2>/dev/null || true
    i=$((i + 1))
  done
  rm -f "$lines"
fi
echo "fuzz seeds: $(ls "$out/syslog" | wc -l) syslog, $(ls "$out/pkt_decode" | wc -l) frames"
