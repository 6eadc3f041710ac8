#!/bin/bash
# Sourced by the scripts that run inside the kmod test VM
# (test/kmod/vm-tests.sh, bench/kmod-vm.sh): TAP and figures to
# /natnow-out, the power-off when the script ends, and the namespace
# topology: a client c, a router r, servers s1 and s2. Traffic stays on
# 198.18.0.0/15 and 2001:db8::/32 inside these namespaces.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
OUT=/natnow-out
arg() { sed -n "s/.*nnt\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
B=$(arg build)
T=/tmp/natnow-kmod
mkdir -p "$T"
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
TAP=$OUT/results.tap
FIG=$OUT/figures.txt
: > "$TAP.body"
: > "$FIG"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1" | tee -a "$TAP.body"; }
notok() { n=$((n + 1)); echo "not ok $n - $1" | tee -a "$TAP.body"; shift; for l in "$@"; do echo "# $l" | tee -a "$TAP.body"; done; }
check() { local name=$1; shift; if eval "$1"; then ok "$name"; else notok "$name" "failed: $1"; fi; }
# a figure line: "name: value", or one preformatted line
figure() { if [ $# -gt 1 ]; then echo "$1: $2"; else echo "$1"; fi | tee -a "$FIG"; }
finish() {
  { echo "1..$n"; cat "$TAP.body"; } > "$TAP"
  dmesg > "$OUT/dmesg.txt"
  sync
  echo o > /proc/sysrq-trigger
  sleep 10
}
trap finish EXIT

NS="ip netns exec"
ctl() { $NS r sh -c "printf '%s\n' \"\$1\" > /proc/net/natnow" sh "$1"; }
stat_of() { $NS r awk -v k="$1" '$1 == k { print $2 }' /proc/net/natnow; }
# the stale count of the newest generation
gen_stale() { $NS r awk '$1 == "gen" { for (i = 2; i <= NF; i++) if ($i ~ /^stale=/) s = substr($i, 7) } END { print s }' /proc/net/natnow; }
now() { date +%s%N; }
traffic() { local ns=$1; shift; $NS "$ns" "$B/nntraffic" "$@"; }

# fresh namespaces with lo up (any of the same names are removed first)
ns_fresh() {
  for x in "$@"; do ip netns del "$x" 2>/dev/null; done
  for x in "$@"; do
    ip netns add "$x"
    # no duplicate address detection: tentative link-local addresses would
    # hold up IPv6 neighbour discovery for the first seconds of each test
    $NS "$x" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
    $NS "$x" ip link set lo up
  done
}
topo_down() { for x in c r s1 s2; do ip netns del "$x" 2>/dev/null; done; }
topo_up() {
  ns_fresh c r s1 s2
  ip link add c0 netns c type veth peer name r0 netns r
  ip link add s10 netns s1 type veth peer name r1 netns r
  ip link add s20 netns s2 type veth peer name r2 netns r
  $NS c ip addr add 198.19.0.2/24 dev c0
  $NS c ip -6 addr add 2001:db8:19::2/64 dev c0 nodad
  $NS r ip addr add 198.19.0.1/24 dev r0
  $NS r ip -6 addr add 2001:db8:19::1/64 dev r0 nodad
  $NS r ip addr add 198.18.1.1/24 dev r1
  $NS r ip -6 addr add 2001:db8:1::1/64 dev r1 nodad
  $NS r ip addr add 198.18.2.1/24 dev r2
  $NS s1 ip addr add 198.18.1.20/24 dev s10
  $NS s1 ip -6 addr add 2001:db8:1::20/64 dev s10 nodad
  $NS s2 ip addr add 198.18.2.30/24 dev s20
  for x in c r s1 s2; do for d in $($NS "$x" ls /sys/class/net); do $NS "$x" ip link set "$d" up; done; done
  $NS s1 ip route add default via 198.18.1.1
  $NS s1 ip -6 route add default via 2001:db8:1::1
  $NS s2 ip route add default via 198.18.2.1
  $NS c ip route add 198.18.0.0/16 via 198.19.0.1
  $NS r sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  $NS r nft -f - <<'NFT'
table inet t {
  chain pre { type nat hook prerouting priority dstnat; }
  chain post { type nat hook postrouting priority srcnat; }
  chain fw { type filter hook forward priority filter; ct state new counter accept; }
}
NFT
}
# sequence numbers sent after a time (sorted as text, for comm), and received
sent_after() { awk -v t="$2" '$2 > t { print $1 }' "$1" | sort; }
got_seqs() { awk '{ print $1 }' "$1" | sort -u; }

# A client streams UDP every $3 ms (20 unless given) for $2 seconds to the
# router's 198.19.0.1:5060, where nothing listens: the entry is confirmed,
# never replied. s1 listens on 5060. Logs: $T/$1.c (sent), $T/$1.s1 (received).
start_stream() {
  traffic s1 -b 5060 -d "$(awk -v d="$2" 'BEGIN { print d + 0.5 }')" -r "$T/$1.s1" &
  traffic c -b 4000 -t 198.19.0.1 -p 5060 -i "${3:-20}" -d "$2" -s "$T/$1.c" &
}
# the forward that leaves that flow stuck: a DNAT to s1; t_rule is when
add_forward() {
  $NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5060 dnat ip to 198.18.1.20
  t_rule=$(now)
}
# a fresh topology, the stream, and 0.8 s later the forward
stuck_stream() {  # $1 = test number, $2 = seconds the client sends
  topo_up
  start_stream "$1" "$2"
  sleep 0.8
  add_forward
}
