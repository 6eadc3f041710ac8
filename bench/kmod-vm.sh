#!/bin/bash
# natnow.ko's in-kernel benchmark, inside the kmod VM (bench/kmod.sh boots
# it through test/kmod/run.sh). For tables of 10k, 100k and 1M entries
# filled with ctfill (bystanders plus 100 affected flows), in the same run:
#   - revoke: `kill` (one walk in the kernel) against `conntrack -D` with
#     the equivalent filter, the entries each destroyed;
#   - renew: `arm` (one walk, remembering the stale entries) against `kill`
#     of the same entries, and against `conntrack -D`; the arm's write
#     alone also measured in the writing shell;
#   - arm → first packet forwarded: a stuck flow in the full table.
# Figures to /natnow-out/figures.txt, checks (0 bystanders) as TAP.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/../test/kmod/vm-lib.sh"
SIZES=${NATNOW_KMOD_BENCH_SIZES:-10000 100000 1000000}
AFFECTED=100

ms() { echo $(( ($2 - $1) / 1000000 )); }
# a write to /proc/net/natnow that prints how long the write alone took (µs),
# measured in the writing shell, without the cost of starting it
ctl_us() {
  $NS r bash -c 's=$EPOCHREALTIME; printf "%s\n" "$1" > /proc/net/natnow; e=$EPOCHREALTIME; echo $(( 10#${e/./} - 10#${s/./} ))' sh "$1"
}

modprobe -a nf_conntrack nf_conntrack_netlink nf_nat nf_tables nft_ct nft_nat nft_chain_nat veth 2>&1 | head -3
insmod "$B/natnow.ko"
max=$(( ${SIZES##* } + 20000 ))
sysctl -qw "net.netfilter.nf_conntrack_max=$max"
# a hash chain longer than nf_ct_max_chainlen refuses the insert (ENOSPC): room for 1M
sysctl -qw "net.netfilter.nf_conntrack_buckets=1048576"

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
# $1 = command text, $2 = revoke|renew: REPEAT runs, each on a full table
# (the affected flows put back before each, also after another method's run). Prints the median ms of the
# command, the median µs of the write alone (what the command printed; 0
# when it printed nothing), then the entries destroyed and the
# affected ones left by the last run.
timed() {
  local i before t0 t1 us times="" writes="" gone=0 still=0
  for i in $(seq 1 "$REPEAT"); do
    [ "$(left)" -lt "$AFFECTED" ] && affected "$2" | $NS r "$B/ctfill" >/dev/null
    before=$(count)
    t0=$(now)
    us=$(eval "$1")
    t1=$(now)
    times="$times $(ms "$t0" "$t1")"
    writes="$writes ${us:-0}"
    gone=$(( before - $(count) ))
    still=$(left)
  done
  echo "$(printf '%s\n' $times | median) $(printf '%s\n' $writes | median) $gone $still"
}
REPEAT=${NATNOW_KMOD_BENCH_REPEAT:-3}

# arm against kill of the same entries: $1 runs of each, alternating, each
# on a full table, so that drift in TCG's speed falls on both alike. An
# anchor generation (scoped to a port nothing uses) stays armed meanwhile:
# the measured arms walk the table with natnow's hooks already switched on.
# Switching them on (static_branch_inc: the kernel patches its own code,
# which qemu's TCG pays for by retranslating) is measured apart, by arms
# from idle. Prints, for arm then kill: the median ms of the command, the
# median µs of the write, the entries destroyed and the affected ones left
# by the last run; for arm also the stale entries its last walk found; then
# the median µs of the write of an arm from idle.
# more pairs where a write is short and TCG's jitter large against it (at
# 10k, 5 pairs gave arm/kill 1.14 and 15 pairs 0.93 on the same build)
pairs_for() { if [ "$1" -le 10000 ]; then echo 15; elif [ "$1" -le 100000 ]; then echo 9; else echo 5; fi; }
# one write, timed: appends the command's ms and the write's µs to the
# variables named $2 and $3; sets w_gone (entries destroyed), w_left
# (affected entries left)
timed_write() {
  local before t0 us
  before=$(count)
  t0=$(now)
  us=$(ctl_us "$1")
  eval "$2=\"\$$2 $(ms "$t0" "$(now)")\"; $3=\"\$$3 $us\""
  w_gone=$(( before - $(count) ))
  w_left=$(left)
}
arm_vs_kill() {  # $1 = pairs
  local i at="" aw="" kt="" kw="" ag=0 al=0 stale="" kg=0 kl=0 idle=""
  ctl "arm ttl=3600 family=ipv4 proto=17 dport=1"
  for i in $(seq 1 "$1"); do
    [ "$(left)" -lt "$AFFECTED" ] && affected renew | $NS r "$B/ctfill" >/dev/null
    timed_write "arm ttl=60 $SCOPE_RENEW" at aw
    ag=$w_gone al=$w_left stale=$(gen_stale)
    timed_write "kill hold=0 $SCOPE_RENEW" kt kw
    kg=$w_gone kl=$w_left
    affected renew | $NS r "$B/ctfill" >/dev/null
  done
  ctl disarm
  for i in 1 2 3; do
    idle="$idle $(ctl_us "arm ttl=60 $SCOPE_RENEW")"
    ctl disarm
  done
  echo "$(printf '%s\n' $at | median) $(printf '%s\n' $aw | median) $ag $al ${stale:-0}" \
    "$(printf '%s\n' $kt | median) $(printf '%s\n' $kw | median) $kg $kl $(printf '%s\n' $idle | median)"
}

KILL_REVOKE="kill hold=0 family=ipv4 proto=17 dst=198.19.100.2/32 dport=5060 reply-src=198.18.1.20/32 reply-sport=5060"
CT_REVOKE="-D -p udp -d 198.19.100.2 --dport 5060 -r 198.18.1.20 --reply-port-src 5060"
SCOPE_RENEW="family=ipv4 proto=17 dst=198.19.100.2/32 dport=5060 reply-src=198.19.100.2/32"
CT_RENEW="-D -p udp -d 198.19.100.2 --dport 5060 -r 198.19.100.2"

# arm → first packet forwarded, with the table full: the stream of
# vm-lib.sh (a datagram every 10 ms to the router's 198.19.0.1:5060) is
# stuck behind the forward added 1 s after it starts; 0.6 s later one arm
# scoped to UDP 5060 (the stuck flow, the table's 100 stuck entries, its SIP
# bystanders). Sets lat_stuck (forwarded between forward and arm), lat_arm
# (ms the arm's command took), lat_first (ms from the arm's start to the
# first datagram s1 received), lat_after and lat_lost (sent after the arm's
# start, of them not received).
first_packet() {  # $1 = log name
  start_stream "$1" 8 10
  sleep 1
  add_forward
  sleep 0.6
  local t0 t1 first
  lat_stuck=$(awk -v t="$t_rule" '$2 > t' "$T/$1.s1" | wc -l)
  t0=$(now)
  ctl "arm ttl=60 family=ipv4 proto=17 dport=5060"
  t1=$(now)
  wait
  first=$(awk -v t="$t0" '$2 > t { print $2; exit }' "$T/$1.s1")
  lat_arm=$(ms "$t0" "$t1")
  lat_first=$([ -n "$first" ] && ms "$t0" "$first" || echo never)
  lat_after=$(sent_after "$T/$1.c" "$t1" | wc -l)
  lat_lost=$(comm -23 <(sent_after "$T/$1.c" "$t1") <(got_seqs "$T/$1.s1") | wc -l)
  ctl disarm
}

figure "median of $REPEAT runs (for arm, hooks already on, and kill of the renew: 15, 9 and 5 alternating runs at 10k, 100k and 1M); the table refilled to its size before each; write = the write to /proc/net/natnow alone"
figure "entries   change   method                       ms  write ms  destroyed  affected left  bystanders destroyed"
row() {  # the write's µs shown in ms
  local w=$5
  [ "$w" != - ] && w=$(awk -v u="$w" 'BEGIN { printf "%.1f", u / 1000 }')
  printf '%-9s %-8s %-26s %6s %9s %10s %14s %20s\n' "$1" "$2" "$3" "$4" "$w" "$6" "$7" "$8" | tee -a "$FIG"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b ? a / b : 0) }'; }
lat_rows=""
for want in $SIZES; do
  # the topology's router holds the table; timeouts long enough for the run
  topo_up
  $NS r sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=900" "net.netfilter.nf_conntrack_udp_timeout_stream=900"
  fill "$want" revoke
  size=$(count)
  read -r k_ms k_w k_gone k_left < <(timed "ctl_us '$KILL_REVOKE'" revoke)
  row "$size" revoke "kill (natnow.ko)" "$k_ms" "$k_w" "$k_gone" "$k_left" $(( k_gone - AFFECTED + k_left ))
  read -r c_ms _ c_gone c_left < <(timed "$NS r conntrack $CT_REVOKE >/dev/null 2>&1" revoke)
  row "$size" revoke "conntrack -D" "$c_ms" - "$c_gone" "$c_left" $(( c_gone - AFFECTED + c_left ))
  figure "$size revoke kill / conntrack -D: $(ratio "$k_ms" "$c_ms")"
  check "$size: kill destroyed the $AFFECTED affected entries and no bystander ($k_gone destroyed, $k_left left)" \
    '[ "$k_gone" -eq "$AFFECTED" ] && [ "$k_left" -eq 0 ]'

  fill "$want" renew
  read -r a_ms a_w a_gone a_left a_stale k2_ms k2_w k2_gone k2_left idle_w < <(arm_vs_kill "$(pairs_for "$want")")
  row "$size" renew "arm (natnow.ko, walk)" "$a_ms" "$a_w" "$a_gone" "$a_left" "$a_gone"
  row "$size" renew "kill (natnow.ko)" "$k2_ms" "$k2_w" "$k2_gone" "$k2_left" $(( k2_gone - AFFECTED + k2_left ))
  read -r c2_ms _ c2_gone c2_left < <(timed "$NS r conntrack $CT_RENEW >/dev/null 2>&1" renew)
  row "$size" renew "conntrack -D" "$c2_ms" - "$c2_gone" "$c2_left" $(( c2_gone - AFFECTED + c2_left ))
  figure "$size renew arm / kill: $(ratio "$a_w" "$k2_w") (the write), $(ratio "$a_ms" "$k2_ms") (the command); arm / conntrack -D: $(ratio "$a_ms" "$c2_ms")"
  figure "$size renew arm from idle (switching the hooks on): write $(awk -v u="$idle_w" 'BEGIN { printf "%.1f", u / 1000 }') ms, $(ratio "$idle_w" "$k2_w") × kill's"
  check "$size: arm found the $AFFECTED stale entries and destroyed nothing (stale ${a_stale:-none}, $a_gone destroyed)" \
    '[ "${a_stale:-0}" -eq "$AFFECTED" ] && [ "$a_gone" -eq 0 ]'

  [ "$(left)" -lt "$AFFECTED" ] && affected renew | $NS r "$B/ctfill" >/dev/null
  lat_size=$(count)
  first_packet "lat$want"
  lat_rows="$lat_rows$(printf '%-9s %7s %15s %7s %6s %5s' "$lat_size" "$lat_stuck" "$lat_arm" "$lat_first" "$lat_after" "$lat_lost")
"
  check "$size: a stuck flow in the full table is forwarded from the arm on (stuck: $lat_stuck forwarded; first after $lat_first ms; $lat_lost of $lat_after lost)" \
    '[ "$lat_stuck" -eq 0 ] && [ "$lat_first" != never ] && [ "$lat_after" -ge 50 ] && [ "$lat_lost" -eq 0 ]'
done
figure "arm → first packet forwarded, a stuck flow in the full table (datagrams every 10 ms)"
figure "entries   stuck  arm command ms  first ms  sent  lost"
printf '%s' "$lat_rows" | tee -a "$FIG"
topo_down
