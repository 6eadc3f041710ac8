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

# fw4's router as test/fixtures/fw4-examples describes it: r bridges the
# LAN hosts on br-lan (198.18.1.1/24, 2001:db8:1::1/64) and reaches the
# upstream host w on eth1 (198.19.100.2/24, 2001:db8:100::2/64); w has no
# route back to the LAN. $@: the LAN hosts as name:IPv4 address (default
# l1:198.18.1.50 l2:198.18.1.20), each also 2001:db8:1::<last octet>.
# natnow's state directory, $T/state, starts empty.
fw4_down() { for x in r w l1 l2 l3; do ip netns del "$x" 2>/dev/null; done; }
fw4_up() {
  [ $# -gt 0 ] || set -- l1:198.18.1.50 l2:198.18.1.20
  local h x a names=()
  fw4_down
  for h in "$@"; do names+=("${h%%:*}"); done
  ns_fresh r w "${names[@]}"
  $NS r ip link add br-lan type bridge
  $NS r ip addr add 198.18.1.1/24 dev br-lan
  $NS r ip -6 addr add 2001:db8:1::1/64 dev br-lan nodad
  for h in "$@"; do
    x=${h%%:*} a=${h#*:}
    ip link add eth0 netns "$x" type veth peer name "p-$x" netns r
    $NS r ip link set "p-$x" master br-lan up
    $NS "$x" ip addr add "$a/24" dev eth0
    $NS "$x" ip -6 addr add "2001:db8:1::${a##*.}/64" dev eth0 nodad
    $NS "$x" ip link set eth0 up
    $NS "$x" ip route add default via 198.18.1.1
    $NS "$x" ip -6 route add default via 2001:db8:1::1
  done
  ip link add eth1 netns r type veth peer name eth0 netns w
  $NS r ip addr add 198.19.100.2/24 dev eth1
  $NS r ip -6 addr add 2001:db8:100::2/64 dev eth1 nodad
  $NS w ip addr add 198.19.100.1/24 dev eth0
  $NS w ip -6 addr add 2001:db8:100::1/64 dev eth0 nodad
  $NS r ip link set br-lan up && $NS r ip link set eth1 up && $NS w ip link set eth0 up
  $NS r sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # as OpenWrt's sysctl-nf-conntrack.conf has it: entries count their packets
  $NS r sysctl -qw net.netfilter.nf_conntrack_acct=1
  rm -rf "$T/state"
}

# An fw4 ruleset ($1, as `fw4 print` wrote it) as fw4 renders it with
# `option flow_offloading '1'` in its defaults (firewall4 b6e5157,
# templates/ruleset.uc): the flowtable ft on the zones' devices that exist
# (br-lan, eth1), and `flow offload @ft` as the forward chain's first rule.
# With $2 = reload, ft exists already: fw4 deletes it before re-creating it.
fw4_offloading() {
  awk -v reload="${2:-}" '
    { print }
    $0 == "flush table inet fw4" && reload == "reload" { print "delete flowtable inet fw4 ft" }
    $0 == "table inet fw4 {" {
      printf "\t#\n\t# Flowtable\n\t#\n\n\tflowtable ft {\n\t\thook ingress priority 0;\n"
      printf "\t\tdevices = { \"br-lan\", \"eth1\" };\n\t\tcounter;\n\t}\n\n\n"
    }
    fwd { print "\t\tmeta l4proto { tcp, udp } flow offload @ft;"; fwd = 0 }
    /^\t\ttype filter hook forward priority filter; policy [a-z]+;$/ { fwd = 1 }
  ' "$1"
}
# Loads a ruleset the way fw4 reloads (one nft -f), after keeping the live
# one as natnow would have applied it ($T/previous.json). $1: the file.
fw4_load() {
  $NS r nft -j list ruleset > "$T/previous.json"
  $NS r nft -f "$1"
}

# Waits until a condition holds (a command line, eval'd; polled every 50 ms)
# for at most $1 seconds; its status says whether it came.
wait_until() {
  local end=$(( $(now) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1e9 }') ))
  while ! eval "$2"; do
    [ "$(now)" -lt "$end" ] || return 1
    sleep 0.05
  done
}
# A traffic tool started in the background until stop_streams (or its -d
# ends): $1 the namespace, then nntraffic's arguments.
PIDS=()
stream() { local ns=$1; shift; $NS "$ns" "$B/nntraffic" "$@" & PIDS+=($!); }
stop_streams() { [ ${#PIDS[@]} -eq 0 ] || { kill "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null; }; PIDS=(); }
# lines of a traffic log ($1) received after $2 (ns), from $3 when given
recv_after() { awk -v t="$2" -v from="${3:-}" '$2 > t && (from == "" || $3 == from)' "$1" | wc -l; }
