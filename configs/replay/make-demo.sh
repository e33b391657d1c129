#!/usr/bin/env bash
# Regenerates demo.pcap from the text files beside it (see README.md here).
# usage: configs/replay/make-demo.sh PATH/TO/vigil-pcapgen
#
# The capture is the case Vigil exists for (attack.log: a port scan from X,
# also seen by the border router's flows (flows.txt), then directory
# traversal and SQL injection from X; an SSH brute force from Y) inside
# benign background traffic, sent the ways devices send it: plain
# IPv4, IPv6 behind a VLAN, QinQ, a second port, one message in IP fragments
# and one port nobody listens on.
set -euo pipefail
gen=${1:?usage: make-demo.sh PATH/TO/vigil-pcapgen}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/demo.pcap
rm -f "$out"
# Benign background.  auth.log without its brute-force lines (logins,
# sessions, cron, sudo), auth.info from an EC2 host.
benign_auth() {
  grep -v -E 'Failed|Invalid|invalid|failure|Did not receive|error|Disconnecting|Bad protocol|not allowed|preauth|Connection closed|Received disconnect|reverse mapping|POSSIBLE BREAK|Too many|maximum authentication|repeated|Unable to negotiate|Protocol major' \
    "$here/auth.log"
}
"$gen" -o "$out" --append --pri 38 --src 192.0.2.10 --start 1800000000 <(benign_auth)
# A web server sending its access log through syslog, behind VLAN 20, over IPv6.
"$gen" -o "$out" --append --pri 190 --src 2001:db8:20::80 --vlan 20 --start 1800000010 "$here/web.log"
# Network gear in QinQ: firewall, switch and router lines (without the
# handful of deny lines vendor.log carries to exercise the parsers).
"$gen" -o "$out" --append --src 192.0.2.1 --vlan 100 --vlan 30 --start 1800000020 \
  <(grep -v -E '203\.0\.113\.45|Scanning' "$here/vendor.log")
# A host in New York (syslog.sources gives its zone), to the alternate port.
"$gen" -o "$out" --append --pri 38 --src 198.51.100.7 --dport 1514 --start 1800000030 <(benign_auth | head -n 20)
# One long message that travels as IP fragments.
"$gen" -o "$out" --append --src 192.0.2.10 --mtu 1500 --start 1800000040 \
  <(printf '<38>Nov 28 09:20:00 ip-10-77-20-248 audit: %s\n' "$(benign_auth | head -c 6000 | tr '\n' ' ')")
# Traffic that is not for us: a port nobody listens on, counted and dropped.
"$gen" -o "$out" --append --pri 13 --src 192.0.2.99 --dport 9999 --start 1800000050 <(benign_auth | head -n 5)
# The border router's NetFlow v5 export at 10:01: X's probes among office traffic.
"$gen" -o "$out" --append --src 192.0.2.254 --dport 2055 --start 1795860060 --netflow5 "$here/flows.txt"
# The attack chain: the firewalls, the bastion host and the web server report it.
"$gen" -o "$out" --append --src 192.0.2.1 --start 1800000060 <(grep -E 'fw01|asa01' "$here/attack.log")
"$gen" -o "$out" --append --src 192.0.2.22 --start 1800000070 <(grep bastion "$here/attack.log")
"$gen" -o "$out" --append --src 2001:db8:20::80 --vlan 20 --start 1800000080 <(grep web01 "$here/attack.log")
