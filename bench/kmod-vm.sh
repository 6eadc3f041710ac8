#!/bin/bash
# natnow.ko's in-kernel benchmark, inside the kmod VM (bench/kmod.sh boots
# it through test/kmod/run.sh). For tables of 10k, 100k and 1M entries
# filled with ctfill (bystanders plus 100 affected flows), in the same run:
#   - revoke: `kill` (one walk in the kernel) against `conntrack -D` with
#     the equivalent filter, the entries each destroyed;
#   - renew: `arm` (one walk, remembering the stale entries) against `kill`
#     of the same entries, and against `conntrack -D`.
# (arm → first packet forwarded is test/kmod/vm-tests.sh's test 1, in a
# small table.)
# Figures to /natnow-out/figures.txt, checks (0 bystanders) as TAP.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
OUT=/natnow-out
arg() { sed -n "s/.*nnt\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
B=$(arg build)
SIZES=${NATNOW_KMOD_BENCH_SIZES:-10000 100000 1000000}
AFFECTED=100
TAP=$OUT/results.tap
FIG=$OUT/figures.txt
: > "$TAP.body"
: > "$FIG"
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi | tee -a "$TAP.body"; }
figure() { echo "$1" | tee -a "$FIG"; }
finish() {
  { echo "1..$n"; cat "$TAP.body"; } > "$TAP"
  dmesg > "$OUT/dmesg.txt"
  sync
  echo o > /proc/sysrq-trigger
  sleep 10
}
trap finish EXIT
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

NS="ip netns exec"
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
ctl() { $NS r sh -c "printf '%s\n' \"\$1\" > /proc/net/natnow" sh "$1"; }
gen_stale() { $NS r awk '$1 == "gen" { for (i = 2; i <= NF; i++) if ($i ~ /^stale=/) s = substr($i, 7) } END { print s }' /proc/net/natnow; }

modprobe -a nf_conntrack nf_conntrack_netlink 2>&1 | head -3
insmod "$B/natnow.ko"
ip netns add r
$NS r ip link set lo up
max=$(( ${SIZES##* } + 20000 ))
sysctl -qw "net.netfilter.nf_conntrack_max=$max"
# a hash chain longer than nf_ct_max_chainlen refuses the insert (ENOSPC): room for 1M
sysctl -qw "net.netfilter.nf_conntrack_buckets=1048576"
$NS r sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=900" "net.netfilter.nf_conntrack_udp_timeout_stream=900"

# the table: LAN → WAN bystanders, a tenth of them SIP, and the affected flows:
# WAN clients forwarded to 198.18.1.20 (replied, to revoke) or stuck on the
# router's own address (never replied, to renew)
affected() {  # $1 = revoke|renew: the ctfill pattern of the affected flows
  if [ "$1" = revoke ]; then
    echo "$AFFECTED 17 198.19.50.1 198.19.100.2 5060 198.18.1.20 - 5060 14 900"
  else
    echo "$AFFECTED 17 198.19.50.1 198.19.100.2 5060 198.19.100.2 - 5060 8 900"
  fi
}
fill() {  # $1 = total entries, $2 = revoke|renew
  local sip=$(( ($1 - AFFECTED) / 10 )) https=$(( $1 - AFFECTED - ($1 - AFFECTED) / 10 ))
  $NS r conntrack -F 2>/dev/null
  printf '%s\n' "$https 17 198.18.128.1 198.19.200.1 443 198.19.200.1 198.19.100.2 443 14 900" \
    "$sip 17 198.18.64.1 198.19.201.1 5060 198.19.201.1 198.19.100.2 5060 14 900" "$(affected "$2")" | $NS r "$B/ctfill" >/dev/null
}
count() { $NS r conntrack -C; }
left() { $NS r conntrack -L -f ipv4 -p udp -d 198.19.100.2 --dport 5060 2>/dev/null | grep -c . ; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# $1 = command text, $2 = revoke|renew: the median ms of REPEAT runs, each on
# a full table (the affected flows put back after each), then the entries
# destroyed and the affected ones left by the last run
timed() {
  local i before t0 t1 times="" gone=0 still=0
  for i in $(seq 1 "$REPEAT"); do
    [ "$i" -gt 1 ] && [ "$(left)" -lt "$AFFECTED" ] && affected "$2" | $NS r "$B/ctfill" >/dev/null
    before=$(count)
    t0=$(now)
    eval "$1"
    t1=$(now)
    times="$times $(ms "$t0" "$t1")"
    gone=$(( before - $(count) ))
    still=$(left)
  done
  echo "$(printf '%s\n' $times | median) $gone $still"
}
REPEAT=${NATNOW_KMOD_BENCH_REPEAT:-3}

KILL_REVOKE="kill hold=0 family=ipv4 proto=17 dst=198.19.100.2/32 dport=5060 reply-src=198.18.1.20/32 reply-sport=5060"
CT_REVOKE="-D -p udp -d 198.19.100.2 --dport 5060 -r 198.18.1.20 --reply-port-src 5060"
SCOPE_RENEW="family=ipv4 proto=17 dst=198.19.100.2/32 dport=5060 reply-src=198.19.100.2/32"
CT_RENEW="-D -p udp -d 198.19.100.2 --dport 5060 -r 198.19.100.2"

figure "median of $REPEAT runs; the table refilled to its size before each"
figure "entries   change   method                       ms  destroyed  affected left  bystanders destroyed"
row() { printf '%-9s %-8s %-26s %6s %10s %14s %20s\n' "$@" | tee -a "$FIG"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b ? a / b : 0) }'; }
for want in $SIZES; do
  fill "$want" revoke
  size=$(count)
  read -r k_ms k_gone k_left < <(timed "ctl '$KILL_REVOKE'" revoke)
  row "$size" revoke "kill (natnow.ko)" "$k_ms" "$k_gone" "$k_left" $(( k_gone - AFFECTED + k_left ))
  read -r c_ms c_gone c_left < <(timed "$NS r conntrack $CT_REVOKE >/dev/null 2>&1" revoke)
  row "$size" revoke "conntrack -D" "$c_ms" "$c_gone" "$c_left" $(( c_gone - AFFECTED + c_left ))
  figure "$size revoke kill / conntrack -D: $(ratio "$k_ms" "$c_ms")"
  check "$size: kill destroyed the $AFFECTED affected entries and no bystander ($k_gone destroyed, $k_left left)" \
    '[ "$k_gone" -eq "$AFFECTED" ] && [ "$k_left" -eq 0 ]'

  fill "$want" renew
  read -r a_ms a_gone a_left < <(timed "ctl 'arm ttl=60 $SCOPE_RENEW'" renew)
  a_stale=$(gen_stale)
  ctl disarm
  row "$size" renew "arm (natnow.ko, walk)" "$a_ms" "$a_gone" "$a_left" "$a_gone"
  read -r k2_ms k2_gone k2_left < <(timed "ctl 'kill hold=0 $SCOPE_RENEW'" renew)
  row "$size" renew "kill (natnow.ko)" "$k2_ms" "$k2_gone" "$k2_left" $(( k2_gone - AFFECTED + k2_left ))
  read -r c2_ms c2_gone c2_left < <(timed "$NS r conntrack $CT_RENEW >/dev/null 2>&1" renew)
  row "$size" renew "conntrack -D" "$c2_ms" "$c2_gone" "$c2_left" $(( c2_gone - AFFECTED + c2_left ))
  figure "$size renew arm / kill: $(ratio "$a_ms" "$k2_ms"), arm / conntrack -D: $(ratio "$a_ms" "$c2_ms")"
  check "$size: arm found the $AFFECTED stale entries and destroyed nothing (stale ${a_stale:-none}, $a_gone destroyed)" \
    '[ "${a_stale:-0}" -eq "$AFFECTED" ] && [ "$a_gone" -eq 0 ]'
done
