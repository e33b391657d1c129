#!/usr/bin/env bash
# Writes attack.log: the attack chain the README demo and the end-to-end test
# replay (written for this project; formats as the devices send them).
#
#   X = 203.0.113.66  10:00  port scan: iptables DROP lines from fw01 and Cisco
#                            ASA 106023 denies from asa01, 24 distinct ports
#                     10:05  web requests to web01: directory traversal, then
#                            SQL injection (Apache combined log via syslog)
#   Y = 198.51.100.23 10:02  SSH brute force against bastion: failed root
#                            passwords and invalid users
# Benign traffic comes from the other files of make-demo.sh.
set -euo pipefail
out=${1:-$(dirname "$0")/attack.log}
X=203.0.113.66 Y=198.51.100.23
{
  i=0
  for port in 21 22 23 25 53 80 110 111 135 139 143 443 445 993 995 1433 1723 3306 3389 5432 5900 6379 8080 8443; do
    s=$(printf '%02d' $((i * 2)))
    if [ $((i % 3)) -eq 2 ]; then
      printf '<164>Nov 28 10:00:%s asa01 : %%ASA-4-106023: Deny tcp src outside:%s/%d dst inside:192.0.2.81/%d by access-group "outside_access_in" [0x0, 0x0]\n' \
        "$s" "$X" $((51200 + i)) "$port"
    else
      printf '<4>Nov 28 10:00:%s fw01 kernel: [734512.%03d] IPTABLES-DROP IN=eth0 OUT= MAC=00:16:3e:12:34:56:00:16:3e:65:43:21:08:00 SRC=%s DST=192.0.2.80 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=%d PROTO=TCP SPT=%d DPT=%d WINDOW=1024 RES=0x00 SYN URGP=0\n' \
        "$s" $((100 + i)) "$X" $((54321 + i)) $((51200 + i)) "$port"
    fi
    i=$((i + 1))
  done
  for n in $(seq 1 30); do
    s=$(printf '%02d' $((n % 60)))
    if [ $((n % 5)) -eq 0 ]; then
      printf '<38>Nov 28 10:02:%s bastion sshd[%d]: Invalid user admin%d from %s port %d\n' "$s" $((4100 + n)) "$n" "$Y" $((40000 + n))
    else
      printf '<38>Nov 28 10:02:%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n' "$s" $((4100 + n)) "$Y" $((40000 + n))
    fi
  done
  ua='Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0'
  for path in '/download.php?file=../../../../etc/passwd' '/static/..%2f..%2f..%2fetc%2fshadow' \
              '/products.php?id=1%27%20or%201=1--' '/products.php?id=-1%20union%20select%20username,password%20from%20users'; do
    printf '<190>Nov 28 10:05:%02d web01 apache2: %s - - [28/Nov/2026:10:05:%02d +0000] "GET %s HTTP/1.1" 404 209 "-" "%s"\n' \
      $((i % 60)) "$X" $((i % 60)) "$path" "$ua"
    i=$((i + 7))
  done
} >"$out"

# flows.txt: what the border router 192.0.2.254 exports as NetFlow v5 at
# 10:01:00 (vigil-pcapgen --netflow5): X's scan as SYN-only probes (one
# packet, flags 0x02), among ordinary traffic of the office (web, DNS, mail).
flows=$(dirname "$out")/flows.txt
{
  echo '# SRC DST SPORT DPORT PROTO PACKETS BYTES TCPFLAGS(hex) SECONDS_AGO  (make-attack-log.sh)'
  i=0
  for port in 21 22 23 25 53 80 110 111 135 139 143 443 445 993 995 1433 1723 3306 3389 5432 5900 6379 8080 8443; do
    printf '%s 192.0.2.80 %d %d 6 1 44 02 %d\n' "$X" $((51200 + i)) "$port" $((60 - i * 2))
    i=$((i + 1))
  done
  for h in 10 11 12 13 14; do
    printf '192.0.2.%d 93.184.216.34 %d 443 6 %d %d 1b 30\n' "$h" $((50000 + h)) $((20 + h)) $((15000 + h * 100))
    printf '192.0.2.%d 192.0.2.53 %d 53 17 1 70 00 25\n' "$h" $((53000 + h))
    printf '192.0.2.53 192.0.2.%d 53 %d 17 1 130 00 25\n' "$h" $((53000 + h))
    printf '192.0.2.%d 192.0.2.25 %d 587 6 12 4800 1b 20\n' "$h" $((41000 + h))
  done
} >"$flows"
