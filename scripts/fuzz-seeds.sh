#!/usr/bin/env bash
# Builds seed inputs for the fuzz targets from the shared corpus:
#   OUT/syslog/      one real syslog line per file
#   OUT/pkt_decode/  one real frame per file (VLAN, QinQ, IPv6, fragments)
#   OUT/sigma/       shipped and SigmaHQ rules
#   OUT/template/    (filled by the template target's own seeds, if any)
#   OUT/netflow_v5/, OUT/netflow_v9/, OUT/ipfix/   real exporters' datagrams, each
#                    framed by a 16-bit big-endian length (the NetFlow targets'
#                    input format); template and data captures of one exporter
#                    are framed into one seed, templates first
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
# A keyword list that shares substrings, so the database is built from anchors
# (engine/lit_anchor.c) and the target compares it with plain literals.
cat >"$out/sigma/anchored_keywords.yml" <<'EOF'
title: Failed password for root from x
id: 6a7b1c2d-0000-4000-8000-0000000000aa
logsource:
    product: linux
detection:
    keywords:
        - 'Failed password for root from '
        - 'Failed publickey for root from '
        - 'Accepted password for root from '
        - 'Accepted publickey for root from '
        - 'not allowed because not listed in AllowUsers'
        - 'not allowed because listed in DenyUsers'
        - 'not allowed because a group is listed'
        - 'no matching cipher found'
        - 'no matching mac found'
        - 'no matching key exchange method found'
        - 'authentication failure; logname='
        - 'more authentication failures; logname='
        - 'Too many authentication failures'
    condition: keywords
EOF

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
# NetFlow / IPFIX: datagrams from netflow/logstash-codec-netflow.
nf="$corpus/netflow/logstash-codec-netflow"
mkdir -p "$out/netflow_v5" "$out/netflow_v9" "$out/ipfix"
u16() { od -An -tu1 -j "$2" -N2 "$1" | awk '{ print $1 * 256 + $2 }'; }
# frame FILE [OFFSET LEN]: 16-bit length, then the bytes
frame() {
  local f=$1 off=${2:-0} n=${3:-$(stat -c %s "$1")}
  printf "\\$(printf %03o $((n >> 8)))\\$(printf %03o $((n & 255)))"
  dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count="$n" bs=4096 status=none
}
# frame_all FILE: every datagram of a file (v5 by count, IPFIX by length)
frame_all() {
  local f=$1 size off=0 v n
  size=$(stat -c %s "$f")
  while [ $((size - off)) -ge 4 ]; do
    v=$(u16 "$f" "$off")
    n=$((size - off))
    if [ "$v" = 5 ]; then
      n=$((24 + 48 * $(u16 "$f" $((off + 2)))))
    elif [ "$v" = 10 ]; then
      n=$(u16 "$f" $((off + 2)))
    fi
    if [ "$n" -lt 4 ] || [ "$n" -gt $((size - off)) ]; then n=$((size - off)); fi
    frame "$f" "$off" "$n"
    off=$((off + n))
  done
}
for f in "$nf"/netflow5*.dat; do frame_all "$f" >"$out/netflow_v5/$(basename "$f")"; done
for f in "$nf"/netflow9*.dat; do frame_all "$f" >"$out/netflow_v9/$(basename "$f")"; done
for f in "$nf"/ipfix*.dat; do frame_all "$f" >"$out/ipfix/$(basename "$f")"; done
# one exporter's templates, then its data, in one seed
for dir in netflow_v9 ipfix; do
  case $dir in netflow_v9) pre=netflow9 ;; *) pre=ipfix ;; esac
  for p in $(cd "$nf" && ls ${pre}*tpl*.dat 2>/dev/null | sed 's/_[a-z]*tpl.*//' | sort -u); do
    {
      for f in "$nf/$p"_*tpl*.dat; do frame_all "$f"; done
      for f in "$nf/$p"_data*.dat; do
        if [ -e "$f" ]; then frame_all "$f"; fi
      done
    } >"$out/$dir/pair-$p"
  done
done

echo "fuzz seeds: $(ls "$out/syslog" | wc -l) syslog, $(ls "$out/pkt_decode" | wc -l) frames," \
  "$(ls "$out/netflow_v5" | wc -l) v5, $(ls "$out/netflow_v9" | wc -l) v9, $(ls "$out/ipfix" | wc -l) ipfix"
