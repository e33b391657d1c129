#!/usr/bin/env bash
# Regenerates demo.pcap from the text files beside it (see README.md here).
# usage: configs/replay/make-demo.sh PATH/TO/vigil-pcapgen
set -euo pipefail
gen=${1:?usage: make-demo.sh PATH/TO/vigil-pcapgen}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/demo.pcap
rm -f "$out"
# An EC2 host's auth.log (sshd brute force among normal logins), auth.info.
"$gen" -o "$out" --append --pri 38 --src 192.0.2.10 --start 1800000000 "$here/auth.log"
# A web server sending its access log through syslog, behind VLAN 20, over IPv6.
"$gen" -o "$out" --append --pri 190 --src 2001:db8:20::80 --vlan 20 --start 1800000010 "$here/web.log"
# Network gear: firewall, switch and router lines in QinQ.
"$gen" -o "$out" --append --src 192.0.2.1 --vlan 100 --vlan 30 --start 1800000020 "$here/vendor.log"
# A host in New York (syslog.sources gives its zone), to the alternate port.
"$gen" -o "$out" --append --pri 38 --src 198.51.100.7 --dport 1514 --start 1800000030 \
  <(head -n 20 "$here/auth.log")
# One long message that travels as IP fragments.
"$gen" -o "$out" --append --src 192.0.2.10 --mtu 1500 --start 1800000040 \
  <(printf '<38>Nov 28 09:20:00 ip-10-77-20-248 audit: %s\n' "$(head -c 6000 "$here/auth.log" | tr '\n' ' ')")
# Traffic that is not for us: a port nobody listens on, counted and dropped.
"$gen" -o "$out" --append --pri 13 --src 192.0.2.99 --dport 9999 --start 1800000050 \
  <(head -n 5 "$here/auth.log")
