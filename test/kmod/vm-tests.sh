#!/bin/bash
# Runs inside the kmod test VM (Debian's 6.1 kernel, host userspace over 9p).
# Writes TAP to /natnow-out/results.tap and figures to /natnow-out/figures.txt,
# then powers the VM off. Traffic stays inside namespaces made here, on
# 198.18.0.0/15 and 2001:db8::/32.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/vm-lib.sh"
QUICK=$(arg quick)

echo "== loading modules"
modprobe -a nf_conntrack nf_conntrack_netlink nf_nat nf_tables nft_ct nft_nat nft_chain_nat nft_masq \
  veth x_tables nft_compat xt_tcpudp xt_recent iptable_mangle ip6table_mangle 2>&1 | head -5
insmod "$B/natnow.ko" && insmod "$B/xt_NATNOW.ko"
check "natnow.ko and xt_NATNOW.ko load into $(uname -r)" 'grep -q "^natnow " /proc/modules'
dmesg | grep -q "module verification failed\|loading out-of-tree" && echo "(taint: unsigned out-of-tree module, expected)"

# conntrack timestamps in the router: on, off, or absent (a kernel built without
# CONFIG_NF_CONNTRACK_TIMESTAMP, as OpenWrt's: they cannot be on)
timestamps() {
  case "$($NS r sysctl -n net.netfilter.nf_conntrack_timestamp 2>/dev/null)" in
  1) echo on ;; 0) echo off ;; *) echo absent ;;
  esac
}

# ---------------------------------------------------------------- 1
echo "== 1: a stuck UDP flow, a DNAT added, arm: the next packet is forwarded"
# conntrack timestamps off, as on OpenWrt's kernels (built without them): the arm needs none
stuck_stream 1 3.5
$NS r sysctl -qw net.netfilter.nf_conntrack_timestamp=0 2>/dev/null
sleep 1
stuck=$(awk -v t="$t_rule" '$2 > t' "$T/1.s1" | wc -l)
renewed0=$(stat_of renewed)
ctl "arm family=ipv4 proto=17 dport=5060"
t_arm=$(now)
stale1=$(gen_stale)
ts1=$(timestamps)
wait
after=$(sent_after "$T/1.c" "$t_arm" | wc -l)
lost=$(comm -23 <(sent_after "$T/1.c" "$t_arm") <(got_seqs "$T/1.s1") | wc -l)
first=$(awk -v t="$t_arm" '$2 > t { print $1; exit }' "$T/1.c")
first_ok=$(got_seqs "$T/1.s1" | grep -qx "${first:-x}" && echo yes || echo no)
figure "1 packets reaching the server in the 1 s between rule and arm (stuck)" "$stuck"
figure "1 packets sent after the arm / lost" "$after / $lost"
check "1 the flow is stuck before the arm (0 of ~50 packets forwarded)" '[ "$stuck" -eq 0 ]'
check "1 the first packet after the arm reaches the server" '[ "$first_ok" = yes ]'
check "1 no packet lost after the arm ($after sent)" '[ "$after" -ge 5 ] && [ "$lost" -eq 0 ]'
check "1 exactly one flow renewed" '[ $(( $(stat_of renewed) - renewed0 )) -eq 1 ]'
check "1 the arm's walk found the stuck flow stale with conntrack timestamps off (stale ${stale1:-none}, timestamps $ts1)" \
  '[ "$stale1" = 1 ] && [ "$ts1" != on ]'
check "1 a renewed flow is forgotten (stale entries left: $(stat_of stale))" '[ "$(stat_of stale)" = 0 ]'
ctl "disarm"

# ---------------------------------------------------------------- 2
echo "== 2: each stale flow renewed once; replied flows untouched"
topo_up
traffic s1 -b 5070 -d 5 -r "$T/2.s1" &
traffic s2 -b 7000 -e -d 5 &
for p in 4001 4002 4003; do traffic c -b "$p" -t 198.19.0.1 -p 5070 -i 20 -d 4.5 & done
traffic c -b 4010 -t 198.18.2.30 -p 7000 -i 20 -d 4.5 -r "$T/2.echo" &
sleep 1
$NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5070 dnat ip to 198.18.1.20
id_before=$($NS r conntrack -L -p udp --orig-port-src 4010 -o id 2>/dev/null | sed -n 's/.*id=\([0-9]*\).*/\1/p')
renewed0=$(stat_of renewed)
ctl "arm family=ipv4 proto=17"
stale2=$(gen_stale)
sleep 1.2
renewed1=$(( $(stat_of renewed) - renewed0 ))
sleep 1.2
renewed2=$(( $(stat_of renewed) - renewed0 ))
id_after=$($NS r conntrack -L -p udp --orig-port-src 4010 -o id 2>/dev/null | sed -n 's/.*id=\([0-9]*\).*/\1/p')
wait
forwarded=$(awk '{ print $4 }' "$T/2.s1" | sort -u | tr '\n' ' ')
figure "2 flows renewed after 1.2 s / after 2.4 s" "$renewed1 / $renewed2"
check "2 the three stale flows are renewed, once each" '[ "$renewed1" -eq 3 ] && [ "$renewed2" -eq 3 ]'
check "2 the arm found exactly the three stale flows (stale ${stale2:-none}; the replied one is not)" '[ "$stale2" = 3 ]'
check "2 all three now reach the server (ports $forwarded)" '[ "$forwarded" = "4001 4002 4003 " ]'
check "2 the replied flow keeps its conntrack entry (id ${id_before:-none})" '[ -n "$id_before" ] && [ "$id_before" = "$id_after" ]'
ctl "disarm"

# ---------------------------------------------------------------- 3
echo "== 3: kill removes only matching entries and holds against the old peer"
# "proto src dst sport dport id" of each entry (original direction), sorted
entries() {
  $NS r conntrack -L -o id 2>/dev/null | awk '{
    delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); if (!(kv[1] in f)) f[kv[1]] = kv[2] }
    print $1, f["src"], f["dst"], f["sport"], f["dport"], f["id"] }' | sort
}
run3() {  # $1 = hold ms, $2 = "reject" for a wan input that rejects new entries (like fw4's)
  local hold=$1 secs=2.5
  topo_up
  if [ "${2:-}" = reject ]; then
    secs=5
    $NS r nft add chain inet t in '{ type filter hook input priority filter; policy accept; }'
    $NS r nft add rule inet t in ct state established,related accept
    $NS r nft add rule inet t in iifname r0 ct state new reject
  fi
  $NS r nft add rule inet t post ip saddr 198.18.0.0/16 oifname r0 masquerade
  $NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5060 dnat ip to 198.18.1.20
  $NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5061 dnat ip to 198.18.2.30
  # the client speaks first, then the old host starts sending on its own too
  traffic s2 -b 5061 -e -d "$secs" &
  traffic c -b 4000 -t 198.19.0.1 -p 5060 -i 20 -d "$secs" &
  traffic c -b 4100 -t 198.19.0.1 -p 5061 -i 20 -d "$secs" &
  sleep 0.3
  traffic s1 -b 5060 -t 198.19.0.2 -p 4000 -i 20 -d "$(awk -v d="$secs" 'BEGIN { print d - 0.3 }')" -r "$T/3.s1" &
  sleep 0.6
  entries | grep -v 'dport=5060' > "$T/3.before"
  local h
  h=$($NS r nft -a list chain inet t pre | sed -n 's/.*dport 5060 dnat.*# handle \([0-9]*\)/\1/p')
  $NS r nft delete rule inet t pre handle "$h"
  local k0
  k0=$(stat_of killed)
  ctl "kill hold=$hold family=ipv4 proto=17 dport=5060 reply-src=198.18.1.20 dnat=1"
  local t_kill
  t_kill=$(now)
  sleep 0.2
  local byst
  byst=$(comm -23 <(grep -v ' 4000 \| 5060 ' "$T/3.before" | awk '$4 == 4100 || $5 == 4100') <(entries) | wc -l)
  wait
  # packets from the client that still reached the old host, 100 ms after the kill
  local pinned
  pinned=$(awk -v t=$((t_kill + 100000000)) '$2 > t && $3 == "198.19.0.2"' "$T/3.s1" | wc -l)
  echo "$pinned $byst $(( $(stat_of killed) - k0 ))"
}
runs=$([ "$QUICK" = 1 ] && echo 5 || echo 20)
held=0; matched_ok=0; byst_ok=0
for i in $(seq 1 "$runs"); do
  read -r pinned byst killed <<< "$(run3 2000)"
  [ "$pinned" -eq 0 ] && held=$((held + 1))
  [ "$killed" -eq 1 ] && matched_ok=$((matched_ok + 1))
  [ "$byst" -eq 0 ] && byst_ok=$((byst_ok + 1))
  echo "   run $i: pinned packets $pinned, killed $killed, bystander entries changed $byst"
done
lost=0
for i in 1 2 3 4 5; do
  read -r pinned byst killed <<< "$(run3 0)"
  [ "$pinned" -gt 0 ] && lost=$((lost + 1))
  echo "   run $i without hold: pinned packets $pinned"
done
rejheld=0
for i in 1 2 3 4 5; do
  read -r pinned byst killed <<< "$(run3 1000 reject)"
  [ "$pinned" -eq 0 ] && [ "$killed" -eq 1 ] && rejheld=$((rejheld + 1))
  echo "   run $i behind a rejecting wan input (hold 1 s, watched 3.5 s): pinned packets $pinned"
done
figure "3 kill with hold: old peer cut off" "$held of $runs runs"
figure "3 behind a rejecting wan input, still cut off 3.5 s after a 1 s hold" "$rejheld of 5 runs"
check "3 the hold lasts while the client keeps sending behind a rejecting wan input ($rejheld of 5 runs)" '[ "$rejheld" -eq 5 ]'
figure "3 kill without hold (plain delete): client pinned again" "$lost of 5 runs"
check "3 kill deletes exactly the matching entry ($matched_ok of $runs runs)" '[ "$matched_ok" -eq "$runs" ]'
check "3 bystander entries keep their ids ($byst_ok of $runs runs)" '[ "$byst_ok" -eq "$runs" ]'
check "3 the revoke holds while the old host keeps sending ($held of $runs runs)" '[ "$held" -eq "$runs" ]'

# ---------------------------------------------------------------- 3b
echo "== 3b: IPv6 renew, kill with except, expiry and limits"
topo_up
$NS r nft add chain inet t pre6 '{ type nat hook prerouting priority dstnat - 1; }'
traffic s1 -6 -b 5060 -d 3.5 -r "$T/6.s1" &
traffic c -6 -b 4000 -t 2001:db8:19::1 -p 5060 -i 20 -d 3 -s "$T/6.c" &
sleep 0.8
$NS r nft add rule inet t pre6 ip6 daddr 2001:db8:19::1 udp dport 5060 dnat ip6 to 2001:db8:1::20
sleep 0.8
t6=$(now)
stuck6=$(awk -v t="$t6" '$2 > t - 600000000' "$T/6.s1" | wc -l)
ctl "arm family=ipv6 proto=17 dst=2001:db8:19::1/128 dport=5060"
t_arm=$(now)
wait
after=$(sent_after "$T/6.c" "$t_arm" | wc -l)
lost=$(comm -23 <(sent_after "$T/6.c" "$t_arm") <(got_seqs "$T/6.s1") | wc -l)
figure "3b IPv6: packets forwarded while stuck / sent after the arm / lost" "$stuck6 / $after / $lost"
check "3b an IPv6 stuck flow is forwarded from the arm on, none lost" '[ "$stuck6" -eq 0 ] && [ "$after" -ge 5 ] && [ "$lost" -eq 0 ]'
ctl "disarm"
# kill with except: four flows, the except clause keeps two of them
topo_up
for p in 4201 4202 4203 4204; do traffic c -b "$p" -t 198.19.0.1 -p 5090 -i 20 -d 1.5 & done
sleep 0.6
k0=$(stat_of killed)
ctl "kill hold=0 family=ipv4 proto=17 dport=5090 except family=ipv4 sport=4201,4203"
killed=$(( $(stat_of killed) - k0 ))
left=$($NS r conntrack -L -p udp 2>/dev/null | grep -cE 'sport=(4201|4203) dport=5090' || true)
wait
check "3b kill ... except kills only what the except clause does not keep (killed $killed, kept $left)" '[ "$killed" -eq 2 ] && [ "$left" -eq 2 ]'
# a generation ends after its ttl; at most 16 at once
ctl "arm ttl=1 family=ipv4 proto=17 dport=1"
armed1=$(stat_of armed)
sleep 2.5
armed2=$(stat_of armed)
check "3b an arm ends after its ttl (armed $armed1, then $armed2)" '[ "$armed1" -eq 1 ] && [ "$armed2" -eq 0 ]'
for i in $(seq 1 16); do ctl "arm ttl=60 family=ipv4 proto=17 dport=$i"; done
err17=$($NS r /usr/bin/python3 -c 'import errno, os
fd = os.open("/proc/net/natnow", os.O_WRONLY)
try:
    os.write(fd, b"arm ttl=60 family=ipv4 dport=17\n"); print("accepted")
except OSError as e:
    print(errno.errorcode[e.errno])')
armed16=$(stat_of armed)
check "3b a 17th generation is refused ($err17, $armed16 armed)" '[ "$armed16" -eq 16 ] && [ "$err17" = ENOSPC ]'
ctl "disarm"
check "3b disarm ends every generation" '[ "$(stat_of armed)" -eq 0 ]'
ctl "arm ttl=30 family=ipv6 proto=17 src=2001:db8:1::7/64,!2001:db8:1::1 dport=!5000-5100,5060 dnat=0 replied=0 | family=ipv4 reply-src=198.18.1.20 reply-sport=5060 snat=1"
scopes=$($NS r sed -n 's/^scope [0-9]* //p' /proc/net/natnow)
want="family=ipv6 proto=17 src=2001:db8:1::/64,!2001:db8:1::1/128 dport=5060,!5000-5100 dnat=0 replied=0
family=ipv4 reply-src=198.18.1.20/32 reply-sport=5060 snat=1"
check "3b scopes read back in the write syntax, normalised" '[ "$scopes" = "$want" ]'
ctl "disarm"

# ---------------------------------------------------------------- 4
echo "== 4: the NATNOW xtables target fixes the same stuck flow"
export XTABLES_LIBDIR="$B:/usr/lib/x86_64-linux-gnu/xtables"
stuck_stream 4 3
sleep 0.8
t_before=$(now)
$NS r iptables -t mangle -A PREROUTING -p udp --dport 5060 -j NATNOW
iptrc=$?
t_ipt=$(now)
wait
stuck=$(awk -v a="$t_rule" -v b="$t_before" '$2 > a && $2 < b' "$T/4.s1" | wc -l)
after=$(sent_after "$T/4.c" "$t_ipt" | wc -l)
lost=$(comm -23 <(sent_after "$T/4.c" "$t_ipt") <(got_seqs "$T/4.s1") | wc -l)
listed=$($NS r iptables -t mangle -S PREROUTING | grep -c NATNOW)
figure "4 packets sent after the NATNOW rule / lost" "$after / $lost"
check "4 iptables accepts -j NATNOW and lists it" '[ "$iptrc" -eq 0 ] && [ "$listed" -eq 1 ]'
figure "4 packets reaching the server between DNAT and the NATNOW rule (stuck)" "$stuck"
check "4 stuck before, forwarded after the rule, none lost" '[ "$stuck" -eq 0 ] && [ "$after" -ge 5 ] && [ "$lost" -eq 0 ]'
$NS r iptables -t mangle -F PREROUTING

# The target as its author uses it: a rule in place before the NAT change,
# for good or behind a match switched on after the change.
# $1 = test name, $2 = the rule's match; a gate, when given ($3), is opened
# 0.8 s after the DNAT. Prints "iptables-rc stuck first-ms after lost timestamps".
target_in_place() {
  local name=$1 match=$2 gate=${3:-} t_open rc
  topo_up
  # shellcheck disable=SC2086
  $NS r iptables -t mangle -A PREROUTING -p udp --dport 5060 $match -j NATNOW
  rc=$?
  traffic s1 -b 5060 -d 4 -r "$T/$name.s1" &
  traffic c -b 4000 -t 198.19.0.1 -p 5060 -i 20 -d 3.5 -s "$T/$name.c" &
  sleep 0.8
  $NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5060 dnat ip to 198.18.1.20
  t_open=$(now)
  if [ -n "$gate" ]; then
    sleep 0.8
    # the time before the gate is opened: its command takes a while to return
    t_open=$(now)
    $NS r sh -c "$gate"
  fi
  wait
  local stuck first after lost
  stuck=$(awk -v t="$t_open" '$2 < t' "$T/$name.s1" | wc -l)
  first=$(awk -v t="$t_open" '$2 > t { print int(($2 - t) / 1000000); exit }' "$T/$name.s1")
  after=$(sent_after "$T/$name.c" $((t_open + 200000000)) | wc -l)
  lost=$(comm -23 <(sent_after "$T/$name.c" $((t_open + 200000000))) <(got_seqs "$T/$name.s1") | wc -l)
  echo "$rc $stuck ${first:-none} $after $lost $(timestamps)"
  $NS r iptables -t mangle -F PREROUTING
}
echo "== 4b: a NATNOW rule already in place when the DNAT is added"
read -r rc stuck first after lost ts <<< "$(target_in_place 4b "")"
figure "4b rule in place: first packet forwarded after the DNAT (ms) / sent from 200 ms on / lost" "$first / $after / $lost"
check "4b a NATNOW rule in place before the DNAT renews the stuck flow: forwarded $first ms after the change, none lost from 200 ms on" \
  '[ "$rc" -eq 0 ] && [ "$first" != none ] && [ "$after" -ge 5 ] && [ "$lost" -eq 0 ]'
check "4b the target leaves conntrack timestamps as they were (off: $ts)" '[ "$ts" != on ]'
echo "== 4c: the rule behind a match switched on after the change (xt_recent, standing in for -m condition)"
read -r rc stuck first after lost ts <<< "$(target_in_place 4c "-m recent --name natnow --rcheck --rsource" \
  "echo +198.19.0.2 > /proc/net/xt_recent/natnow")"
figure "4c gated rule: packets forwarded before the gate / first after it (ms) / lost from 200 ms on" "$stuck / $first / $lost"
check "4c stuck until the gate opens ($stuck forwarded before), then forwarded ($first ms), none lost" \
  '[ "$rc" -eq 0 ] && [ "$stuck" -eq 0 ] && [ "$first" != none ] && [ "$after" -ge 5 ] && [ "$lost" -eq 0 ]'

# ---------------------------------------------------------------- 5
echo "== 5: 10,000 malformed command lines"
topo_up
ctl "arm ttl=300 family=ipv4 proto=17 dport=5060 | family=ipv6 src=2001:db8::/32"
before=$($NS r grep -v '^bad_commands\|^gen ' /proc/net/natnow)
bad0=$(stat_of bad_commands)
$NS r /usr/bin/python3 "$DIR/fuzz_ctl.py" 10000 > "$T/5.out" 2>&1
fuzzrc=$?
after=$($NS r grep -v '^bad_commands\|^gen ' /proc/net/natnow)
bad1=$(stat_of bad_commands)
cat "$T/5.out"
check "5 every malformed line is refused with EINVAL, valid ones accepted" '[ "$fuzzrc" -eq 0 ]'
check "5 state intact (generations, scopes, counters)" '[ "$before" = "$after" ]'
oversize=$(sed -n 's/.*oversize=\([0-9]*\).*/\1/p' "$T/5.out")
check "5 each refusal that reaches natnow is counted (bad_commands +$((bad1 - bad0)), $oversize over a page refused by procfs)" '[ $((bad1 - bad0)) -eq $((10000 - oversize)) ]'
check "5 writing needs privilege (uid 65534 cannot open it)" '$NS r /usr/bin/python3 "$DIR/fuzz_ctl.py" noperm'
check "5 no oops or warning in dmesg" '! dmesg | grep -qE "BUG:|Oops|WARNING:|general protection|KASAN"'
ctl "disarm"

# ---------------------------------------------------------------- 6
echo "== 6: rmmod with flows present, armed and held"
topo_up
traffic s1 -b 5060 -d 3 &
traffic c -b 4000 -t 198.19.0.1 -p 5060 -i 20 -d 3 &
sleep 0.5
ctl "arm family=ipv4 proto=17"
ctl "kill hold=30000 family=ipv4 proto=17 dport=5099"
$NS c "$B/nntraffic" -b 4001 -t 198.19.0.1 -p 5060 -i 20 -d 0.3
$NS r nft add rule inet t pre ip daddr 198.19.0.1 udp dport 5060 dnat ip to 198.18.1.20
ctl "kill hold=30000 family=ipv4 proto=17 sport=4001"
sleep 0.5
holds=$(stat_of holds); armed=$(stat_of armed); flows=$($NS r conntrack -C)
dmesg -c > /dev/null
rmmod xt_NATNOW && rmmod natnow
rmrc=$?
wait
warn=$(dmesg | grep -cE "BUG:|WARNING:|Oops|leak|still has" || true)
figure "6 at rmmod: armed generations / holds / conntrack entries" "$armed / $holds / $flows"
check "6 rmmod while armed with flows is clean (rc $rmrc, $warn warnings)" '[ "$rmrc" -eq 0 ] && [ "$warn" -eq 0 ] && [ "$armed" -ge 1 ]'
insmod "$B/natnow.ko"
check "6 the module loads again after rmmod" 'grep -q "^natnow " /proc/modules'

# ---------------------------------------------------------------- 7
echo "== 7: throughput, module idle vs not loaded"
topo_up
bench() {
  $NS s1 iperf3 -s -D > /dev/null 2>&1
  sleep 0.3
  $NS c iperf3 -c 198.18.1.20 -t "$1" -J 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6, 1))'
  $NS s1 pkill iperf3
}
secs=$([ "$QUICK" = 1 ] && echo 1 || echo 3)
loaded=(); unloaded=()
for i in 1 2 3; do
  rmmod natnow 2>/dev/null
  unloaded+=("$(bench "$secs")")
  insmod "$B/natnow.ko"
  loaded+=("$(bench "$secs")")
done
avg() { printf '%s\n' "$@" | awk '{ s += $1 } END { if (NR) printf "%.1f", s / NR; else print 0 }'; }
u=$(avg "${unloaded[@]}"); l=$(avg "${loaded[@]}")
ratio=$(awk -v a="$l" -v b="$u" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
figure "7 TCP throughput not loaded (Mbit/s, 3 runs)" "${unloaded[*]} (mean $u)"
figure "7 TCP throughput loaded and idle (Mbit/s, 3 runs)" "${loaded[*]} (mean $l)"
figure "7 loaded/not loaded" "$ratio"
check "7 throughput was measured both ways" '[ "$ratio" != "n/a" ]'
topo_down

# ---------------------------------------------------------------- 8
# natnow itself (the bundle, under the host's Node) driving the module on the
# live ruleset (against the one before the change, as nft printed it) of the
# router fw4's examples describe: br-lan 198.18.1.1/24, eth1 198.19.100.2/24
echo "== 8: natnow apply --backend kmod on fw4's rulesets"
ROOT=$(cd "$DIR/../.." && pwd)
FX=$ROOT/test/fixtures/fw4-examples
RS=$ROOT/test/fixtures/ruleset
# the router's engine: qjs built by scripts/setup.sh (the host's root is the VM's)
natnow() { $NS r /var/cache/natnow/tools/qjs --std -m "$ROOT/dist/natnow.js" apply --backend kmod --interfaces "$FX/a/interfaces.json" --state-dir "$T/state" "$@"; }
after() { awk -v t="$2" -v from="${3:-}" '$2 > t && (from == "" || $3 == from)' "$1" | wc -l; }

# scenario 1: the SIP redirect (with reflection) added while a LAN phone streams to the WAN address
fw4_up
$NS r nft -f "$FX/a/ruleset.nft"
traffic l2 -b 5060 -d 12 -r "$T/k8srv" &
traffic l1 -b 4000 -t 198.19.100.2 -p 5060 -i 20 -d 11 &
sleep 1
$NS r nft -f "$FX/b/ruleset.nft"
t_rule=$(now)
sleep 1
stuck=$(after "$T/k8srv" "$t_rule")
t_apply=$(now)
out=$(natnow --previous-ruleset "$RS/a.json" 2>&1); rc=$?
echo "$out"
t_done=$(now)
wait
got=$(after "$T/k8srv" "$t_apply")
scopes=$($NS r grep -c '^scope' /proc/net/natnow)
figure "8 natnow apply (qjs in TCG) took (ms)" "$(( (t_done - t_apply) / 1000000 ))"
check "8 natnow apply --backend kmod arms fw4's forward: stuck $stuck, then $got received (rc $rc, $scopes scopes, renewed $(stat_of renewed))" \
  '[ "$rc" -eq 0 ] && [ "$stuck" -eq 0 ] && [ "$got" -gt 100 ] && [ "$scopes" -eq 3 ] && [ "$(stat_of renewed)" -eq 1 ] && [ "$(stat_of bad_commands)" -eq 0 ]'

# scenario 3: the SIP redirect removed while client and old host talk both ways
fw4_up
$NS r nft -f "$FX/b/ruleset.nft"
traffic w -b 4000 -t 198.19.100.2 -p 5060 -i 20 -d 11 &
sleep 0.3
traffic l2 -b 5060 -t 198.19.100.1 -p 4000 -i 20 -d 10.7 -r "$T/k8old" &
sleep 1
$NS r nft -f "$FX/a/ruleset.nft"
out=$(natnow --previous-ruleset "$RS/b.json" 2>&1); rc=$?
echo "$out"
t=$(now)
wait
old=$(after "$T/k8old" $((t + 100000000)) 198.19.100.1)
check "8 natnow apply --backend kmod revokes a removed forward under two-way traffic: $old packets reached the old host after (killed $(stat_of killed), held $(stat_of held_drops))" \
  '[ "$rc" -eq 0 ] && [ "$old" -eq 0 ] && [ "$(stat_of killed)" -ge 1 ] && [ "$(stat_of bad_commands)" -eq 0 ]'
fw4_down

# ---------------------------------------------------------------- 9
# fw4's software flow offloading (LuCI's "Software flow offloading"): the
# forward chain's first rule puts TCP and UDP flows into the flowtable ft
# once confirmed (UDP replied or not), and their packets then take ft's
# ingress fast path, past prerouting (natnow.ko's hooks, the nat chains).
# fw4 deletes and re-creates ft on every reload. Each scenario of the
# sections above and of the end-to-end tests, on fw4's router with fw4's
# own flowtable, with each backend: natnow (the bundle, under qjs) run
# right after the reload, as fw4's include runs it.
echo "== 9: fw4's flow offloading on: natnow apply --backend kmod and conntrack"
modprobe -a nf_flow_table nf_flow_table_inet nft_flow_offload 2>&1 | head -3
OFL=$T/ofl
mkdir -p "$OFL"
swap() { awk -v a="$1" -v b="$2" '{ n = index($0, a); while (n) { $0 = substr($0, 1, n - 1) b substr($0, n + length(a)); n = index($0, a) } print }'; }
# example a with masquerading off on wan, rendered as fw4 does: no srcnat_wan chain, no jump to it
awk '/jump srcnat_wan comment/ { next } /^\tchain srcnat_wan \{$/ { skip = 1 } skip { if ($0 == "") skip = 0; next } { print }' \
  "$FX/a/ruleset.nft" > "$OFL/a-nomasq.nft"
swap 198.18.1.20 198.18.1.30 < "$FX/b/ruleset.nft" > "$OFL/b-moved.nft"
swap 2001:db8:1::20 2001:db8:1::30 < "$FX/h/ruleset.nft" > "$OFL/h-moved.nft"
for x in "$FX/a/ruleset.nft:a" "$FX/b/ruleset.nft:b" "$FX/h/ruleset.nft:h" "$OFL/a-nomasq.nft:a-nomasq" \
  "$OFL/b-moved.nft:b-moved" "$OFL/h-moved.nft:h-moved"; do
  fw4_offloading "${x%:*}" > "$OFL/${x##*:}.first"
  fw4_offloading "${x%:*}" reload > "$OFL/${x##*:}.reload"
done
# natnow apply with backend $1 (more arguments follow), against the ruleset before the last load
ofl_natnow() {
  local be=$1; shift
  $NS r /var/cache/natnow/tools/qjs --std -m "$ROOT/dist/natnow.js" apply --backend "$be" \
    --interfaces "$FX/a/interfaces.json" --state-dir "$T/state" --previous-ruleset "$T/previous.json" "$@"
}
# the router's entries (both families) as conntrack lists them, those matching $1 (an ERE)
ct_has() { $NS r conntrack -L -f "${2:-ipv4}" -o extended,id 2>/dev/null | grep -qE -- "$1"; }
# packets of a send log ($1) sent after $2 and before $3 that a receive log ($4) never got (from $5)
lost_between() {
  comm -23 <(awk -v a="$2" -v b="$3" '$2 > a && $2 < b { print $1 }' "$1" | sort) \
    <(awk -v f="${5:-}" 'f == "" || $3 == f { print $1 }' "$4" | sort -u) | wc -l
}
first_after() { awk -v t="$2" -v from="${3:-}" '$2 > t && (from == "" || $3 == from) { print $2; exit }' "$1"; }
last_of() { tail -n 1 "$1" | awk '{ print $2 }'; }
ms() { echo $(( ($1 - $2) / 1000000 )); }
# one router for every run of this section (namespaces cost seconds each
# under TCG); each run starts from an empty ruleset and conntrack table,
# nothing armed, the module's holds lapsed and natnow's state gone
ofl_reset() {
  stop_streams
  $NS r nft flush ruleset
  $NS r conntrack -F -f ipv4 2>/dev/null
  $NS r conntrack -F -f ipv6 2>/dev/null
  ctl "disarm"
  wait_until 5 '[ "$(stat_of holds)" = 0 ]'
  rm -rf "$T/state" "$T/previous.json"
}
ofl_result() {  # $1 scenario, $2 backend, $3 the condition's status (0: passed), $4 what was measured
  figure "9 $1, backend $2: $4"
  check "9 $1 with offloading on, backend $2: $4" "[ $3 = 0 ]"
}

# reflection: redirect 'SIP' added while a LAN phone streams to the WAN address
ofl_reflection() {
  local be=$1 pre post first t_apply rc out lost e pass
  ofl_reset
  $NS r nft -f "$OFL/a.first"
  stream l2 -b 5060 -d 30 -r "$T/9a.srv"
  stream l1 -b 4000 -t 198.19.100.2 -p 5060 -i 20 -d 30 -s "$T/9a.c"
  wait_until 5 'ct_has "sport=4000 dport=5060 .*\[UNREPLIED\]"'
  fw4_load "$OFL/b.reload"
  t_apply=$(now)
  # stuck until natnow runs: untranslated, nothing at the PBX
  ct_has "sport=4000 dport=5060 .*\[UNREPLIED\] src=198.19.100.2 " && pre=stuck || pre=none
  out=$(ofl_natnow "$be" 2>&1); rc=$?
  echo "$out"
  wait_until 5 '[ "$(recv_after "$T/9a.srv" "$t_apply")" -ge 25 ]'
  stop_streams
  first=$(first_after "$T/9a.srv" "$t_apply")
  lost=$(lost_between "$T/9a.c" $(( ${first:-0} + 20000000 )) $(( $(last_of "$T/9a.srv") - 100000000 )) "$T/9a.srv")
  # the new entry: DNATed to the PBX and reflected, and offloaded again
  ct_has "sport=4000 dport=5060 .*src=198.18.1.20 dst=198.18.1.1 sport=5060 dport=4000 .*\[OFFLOAD\]" && e=yes || e=no
  post="rc $rc, $pre before, first packet at the PBX $(ms "${first:-$t_apply}" "$t_apply") ms after natnow started, $lost lost after it, new entry offloaded $e; $(echo "$out" | grep -m1 '^matched')"
  [ "$rc" = 0 ] && [ "$pre" = stuck ] && [ -n "$first" ] && [ "$lost" -eq 0 ] && [ "$e" = yes ]
  pass=$?
  ofl_result "reflection added" "$be" "$pass" "$post"
}

# masquerade switched on while a LAN host streams out to a WAN host (no route back): offloaded, never
# replied. With the kmod backend also: natnow's arm deleted the flow at once (its packets never reach
# the hooks), the next packet was SNATed, none lost, and the new entry is offloaded once the
# flowtable's gc freed the old flow (the same original tuple).
ofl_masq() {
  local be=$1 off1 off2 rc out first lost plain t_apply t_done t_arm t_reoff pass age goff o0 r0
  ofl_reset
  $NS r nft -f "$OFL/a-nomasq.first"
  stream w -b 6000 -d 30 -r "$T/9m.w"
  stream l1 -b 4000 -t 198.19.100.1 -p 6000 -i 20 -d 30 -s "$T/9m.c"
  wait_until 5 'ct_has "sport=4000 dport=6000 .*\[UNREPLIED\] .*\[OFFLOAD\]"' && off1=yes || off1=no
  fw4_load "$OFL/a.reload"
  # the reload re-created ft: the flow is offloaded again by its next packet, before natnow runs
  wait_until 5 'ct_has "sport=4000 dport=6000 .*\[UNREPLIED\] .*\[OFFLOAD\]"' && off2=yes || off2=no
  o0=$(stat_of offload_renewed) r0=$(stat_of renewed)
  t_apply=$(now)
  out=$(ofl_natnow "$be" 2>&1); rc=$?
  echo "$out"
  # when natnow armed: now less the generation's age (read a little later: the arm is placed early)
  t_done=$(now)
  read -r age goff <<< "$($NS r awk '$1 == "gen" { for (i = 2; i <= NF; i++) { if ($i ~ /^age_ms=/) a = substr($i, 8)
    if ($i ~ /^offloaded=/) o = substr($i, 11) } } END { print a, o }' /proc/net/natnow)"
  t_arm=$(( t_done - ${age:-0} * 1000000 ))
  wait_until 5 '[ "$(recv_after "$T/9m.w" "$t_apply" 198.19.100.2)" -ge 25 ]'
  wait_until 4 'ct_has "sport=4000 dport=6000 .*\[UNREPLIED\] src=198.19.100.1 dst=198.19.100.2 .*\[OFFLOAD\]"' && t_reoff=$(now) || t_reoff=
  stop_streams
  first=$(first_after "$T/9m.w" "$t_apply" 198.19.100.2)
  plain=$(recv_after "$T/9m.w" $(( ${first:-0} + 20000000 )) 198.18.1.50)
  lost=$(lost_between "$T/9m.c" "$t_arm" $(( $(last_of "$T/9m.w") - 100000000 )) "$T/9m.w")
  post="rc $rc, offloaded before the reload $off1, after it $off2, first packet SNATed $(ms "${first:-$t_apply}" "$t_apply") ms after natnow started, then $plain unSNATed, $lost lost, the new entry offloaded $([ -n "$t_reoff" ] && echo yes || echo no); $(echo "$out" | grep -m1 '^matched')"
  [ "$rc" = 0 ] && [ "$off1" = yes ] && [ "$off2" = yes ] && [ -n "$first" ] && [ "$plain" -eq 0 ] && [ "$lost" -eq 0 ] && [ -n "$t_reoff" ]
  pass=$?
  ofl_result "masquerade switched on" "$be" "$pass" "$post"
  [ "$be" = kmod ] || return 0
  figure "9 masquerade, kmod: the arm's offloaded stale flows / deleted at once / renewed by the hooks / first packet SNATed after the arm (ms) / lost after the arm / new entry offloaded after the arm (ms)" \
    "${goff:-none} / $(( $(stat_of offload_renewed) - o0 )) / $(( $(stat_of renewed) - r0 )) / $(ms "${first:-$t_arm}" "$t_arm") / $lost / $([ -n "$t_reoff" ] && ms "$t_reoff" "$t_arm" || echo never)"
  check "9 kmod: the arm deleted the offloaded stale flow at once (gen offloaded=${goff:-none}, offload_renewed +$(( $(stat_of offload_renewed) - o0 )), renewed by the hooks +$(( $(stat_of renewed) - r0 )))" \
    '[ "$goff" = 1 ] && [ $(( $(stat_of offload_renewed) - o0 )) -eq 1 ] && [ $(( $(stat_of renewed) - r0 )) -eq 0 ]'
  check "9 kmod: SNATed from $(ms "${first:-$t_arm}" "$t_arm") ms after the arm (< 1000), $lost lost after it (<= 1)" \
    '[ -n "$first" ] && [ "$(ms "$first" "$t_arm")" -lt 1000 ] && [ "$lost" -le 1 ]'
}

# a forward removed or moved while client and old host talk both ways (offloaded, replied)
# $1 backend, $2 from (b, h), $3 to (a, b-moved, h-moved), $4 family (4, 6)
ofl_twoway() {
  local be=$1 from=$2 to=$3 six="" wan=198.19.100.2 client=198.19.100.1 fam=ipv4 off rc out t old moved new="" pass
  [ "$4" = 6 ] && { six=-6 wan=2001:db8:100::2 client=2001:db8:100::1 fam=ipv6; }
  case $to in *moved) new=l3 ;; esac
  ofl_reset
  $NS r nft -f "$OFL/$from.first"
  stream w $six -b 4000 -t "$wan" -p 5060 -i 20 -d 30 -s "$T/9t.c"
  wait_until 5 'ct_has "sport=4000 dport=5060" $fam'
  stream l2 $six -b 5060 -t "$client" -p 4000 -i 20 -d 30 -r "$T/9t.old"
  [ -n "$new" ] && stream l3 $six -b 5060 -d 30 -r "$T/9t.new"
  wait_until 5 'ct_has "sport=4000 dport=5060 .*sport=5060 dport=4000 .*\[OFFLOAD\]" $fam' && off=yes || off=no
  fw4_load "$OFL/$to.reload"
  out=$(ofl_natnow "$be" 2>&1); rc=$?
  echo "$out"
  t=$(( $(now) + 100000000 ))
  # 1 s of the client's packets after natnow's run (and, moved, 25 at the new host)
  wait_until 5 '[ "$(awk -v t="$t" '"'"'$2 > t + 1000000000'"'"' "$T/9t.c" | wc -l)" -gt 0 ]'
  [ -n "$new" ] && wait_until 3 '[ "$(recv_after "$T/9t.new" "$t" "$client")" -ge 25 ]'
  stop_streams
  old=$(recv_after "$T/9t.old" "$t" "$client")
  moved=$([ -n "$new" ] && recv_after "$T/9t.new" "$t" "$client" || echo -)
  post="rc $rc, offloaded before $off, client packets at the old host from 100 ms after natnow $old, at the new $moved; $(echo "$out" | grep -m1 '^matched')"
  [ "$rc" = 0 ] && [ "$off" = yes ] && [ "$old" -eq 0 ] && { [ -z "$new" ] || [ "$moved" -ge 25 ]; }
  pass=$?
  ofl_result "$(case $to in a) echo "forward removed" ;; *) echo "forward moved" ;; esac)$([ "$4" = 6 ] && echo " (IPv6)")" "$be" "$pass" "$post"
}

# added: a WAN client's stream tracked before the firewall existed (boot), then fw4 starts with redirect 'SIP'
ofl_added() {
  local be=$1 rc out t_apply first lost e pass
  ofl_reset
  $NS r nft -f - <<'NFT'
table inet boot {
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    ct state new counter
  }
}
NFT
  stream l2 -b 5060 -d 30 -r "$T/9b.srv"
  stream w -b 4000 -t 198.19.100.2 -p 5060 -i 20 -d 30 -s "$T/9b.c"
  wait_until 5 'ct_has "sport=4000 dport=5060 .*\[UNREPLIED\]"'
  $NS r nft delete table inet boot
  fw4_load "$OFL/b.first"
  t_apply=$(now)
  out=$(ofl_natnow "$be" --boot 2>&1); rc=$?
  echo "$out"
  wait_until 5 '[ "$(recv_after "$T/9b.srv" "$t_apply")" -ge 25 ]'
  stop_streams
  first=$(first_after "$T/9b.srv" "$t_apply")
  lost=$(lost_between "$T/9b.c" $(( ${first:-0} + 20000000 )) $(( $(last_of "$T/9b.srv") - 100000000 )) "$T/9b.srv")
  ct_has "sport=4000 dport=5060 .*src=198.18.1.20 dst=198.19.100.1 sport=5060 dport=4000 .*\[OFFLOAD\]" && e=yes || e=no
  post="rc $rc, first packet forwarded $(ms "${first:-$t_apply}" "$t_apply") ms after natnow started, $lost lost after it, new entry offloaded $e; $(echo "$out" | grep -m1 '^matched')"
  [ "$rc" = 0 ] && [ -n "$first" ] && [ "$lost" -eq 0 ] && [ "$e" = yes ]
  pass=$?
  ofl_result "forward added (boot)" "$be" "$pass" "$post"
}

fw4_up l1:198.18.1.50 l2:198.18.1.20 l3:198.18.1.30
t9=$(now)
for be in kmod conntrack; do
  ofl_added "$be"
  ofl_reflection "$be"
  ofl_masq "$be"
  ofl_twoway "$be" b a 4
  ofl_twoway "$be" b b-moved 4
  ofl_twoway "$be" h h-moved 6
done
ofl_reset
figure "9 the twelve runs took (s)" "$(( ($(now) - t9) / 1000000000 ))"
fw4_down
