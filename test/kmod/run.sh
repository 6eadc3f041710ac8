#!/usr/bin/env bash
# The kmod tests (npm run test:kmod): build natnow.ko and xt_NATNOW.ko with
# -Werror against Debian's linux-headers-6.1, the iptables extension and the
# traffic tool, boot Debian's matching kernel in qemu (TCG) with a busybox
# initramfs, run test/kmod/vm-tests.sh inside (or NATNOW_KMOD_SCRIPT: the
# benchmark's bench/kmod-vm.sh), and print its results. Another kernel:
# NATNOW_KVER (its release), NATNOW_KROOT (boot/vmlinuz-$NATNOW_KVER and
# lib/modules/$NATNOW_KVER under it) and NATNOW_HDR (its build tree), as
# test/kmod/openwrt-kernel.sh writes them for OpenWrt's configuration.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${NATNOW_KMOD_OUT:-$ROOT/test-artifacts/kmod}
CACHE=${NATNOW_KERNEL_CACHE:-/var/cache/natnow/kernel}
HDR=${NATNOW_HDR:-$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V | tail -n 1)}
[ -n "$HDR" ] || { echo "kmod: no linux-headers-6.1.0-*-amd64 (run scripts/setup.sh)"; exit 1; }
ABI=${NATNOW_KVER:-${HDR#/usr/src/linux-headers-}}
KROOT=${NATNOW_KROOT:-$CACHE/$ABI}
[ -f "$KROOT/boot/vmlinuz-$ABI" ] || { echo "kmod: no kernel image in $KROOT (run scripts/setup.sh)"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "kmod: qemu-system-x86_64 missing"; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT/build" "$OUT/vmout" "$OUT/initramfs"
# the VM's test 8 runs natnow's bundle
[ -f "$ROOT/dist/natnow.js" ] || (cd "$ROOT" && node scripts/build.mjs)
# host-side checks, as TAP lines merged into the results
HOSTTAP=$OUT/host.tap
: > "$HOSTTAP"
hostcheck() { if [ "$2" = 0 ]; then echo "ok - $1" >> "$HOSTTAP"; else echo "not ok - $1" >> "$HOSTTAP"; fi; }
build_against() {  # $1 headers dir, $2 output dir
  rm -rf "$2" && mkdir -p "$2" && cp "$ROOT"/openwrt-feed/kmod-natnow/src/* "$2/"
  # -Werror on the command line, never in Kbuild: a user's newer compiler must not break
  make -s -C "$1" M="$2" KCFLAGS=-Werror modules 2>&1 | grep -v "Skipping BTF generation"
  [ -f "$2/natnow.ko" ] && [ -f "$2/xt_NATNOW.ko" ]
}
echo "kmod: building against $ABI (-Werror)"
if build_against "$HDR" "$OUT/build"; then rc=0; else rc=1; fi
hostcheck "natnow.ko and xt_NATNOW.ko build with -Werror against $ABI" $rc
[ "$rc" = 0 ] || { cat "$HOSTTAP"; echo "kmod: build failed"; exit 1; }
for h in $(ls -d /usr/src/linux-headers-6.12.*-amd64 2>/dev/null | grep -v -- '-rt-\|-cloud-' | sort -V | tail -n 1); do
  if build_against "$h" "$OUT/build-${h##*/}" > "$OUT/build-${h##*/}.log" 2>&1; then rc=0; else rc=1; fi
  hostcheck "natnow.ko and xt_NATNOW.ko build with -Werror against ${h#/usr/src/linux-headers-}" $rc
done
CHECKPATCH=${NATNOW_CHECKPATCH:-/var/cache/natnow/checkpatch/checkpatch.pl}
if [ -f "$CHECKPATCH" ]; then
  cp=$(perl "$CHECKPATCH" --no-tree -f --terse "$ROOT"/openwrt-feed/kmod-natnow/src/*.[ch] \
    "$ROOT"/openwrt-feed/iptables-mod-natnow/src/*.c 2>&1 | grep -v '^total:' || true)
  [ -z "$cp" ] && rc=0 || rc=1
  [ -n "$cp" ] && echo "$cp"
  hostcheck "checkpatch.pl --no-tree -f: no error or warning in the module and extension sources" $rc
else
  hostcheck "checkpatch.pl present (run scripts/setup.sh)" 1
fi
# the extension finds the target's header where kmod-natnow's Build/InstallDev stages it
mkdir -p "$OUT/include/linux/netfilter"
cp "$ROOT/openwrt-feed/kmod-natnow/src/xt_NATNOW.h" "$OUT/include/linux/netfilter/"
gcc -O2 -Wall -Wextra -Werror -fPIC -shared -I"$OUT/include" \
  -o "$OUT/build/libxt_NATNOW.so" "$ROOT/openwrt-feed/iptables-mod-natnow/src/libxt_NATNOW.c"
gcc -O2 -Wall -Werror -o "$OUT/build/nntraffic" "$ROOT/test/kmod/nntraffic.c"
gcc -O2 -Wall -Werror -o "$OUT/build/ctfill" "$ROOT/bench/ctfill.c"

# initramfs: busybox, init, and the modules needed to mount the host (with deps)
IR=$OUT/initramfs
mkdir -p "$IR/bin" "$IR/modules" "$IR/proc" "$IR/sys" "$IR/dev"
cp /bin/busybox "$IR/bin/busybox"
cp "$ROOT/test/kmod/init" "$IR/init" && chmod +x "$IR/init"
MODDIR=$KROOT/lib/modules/$ABI
[ -f "$MODDIR/modules.dep" ] || depmod -b "$KROOT" "$ABI"
declare -A seen=()
order=()
add_mod() {
  local rel=$1 dep
  [ -n "${seen[$rel]:-}" ] && return
  seen[$rel]=1
  for dep in $(awk -v m="$rel:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$MODDIR/modules.dep"); do
    add_mod "$dep"
  done
  cp "$MODDIR/$rel" "$IR/modules/$(basename "$rel")"
  order+=("$(basename "$rel")")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do
  rel=$(awk -F: -v m="/$m.ko" 'index($1, m) && substr($1, length($1) - length(m) + 1) == m { print $1; exit }' "$MODDIR/modules.dep")
  # none when built in (OpenWrt's x86/64 configuration builds in virtio_pci and overlay)
  [ -n "$rel" ] || { grep -q "/$m.ko\$" "$MODDIR/modules.builtin" || echo "kmod: no $m module"; continue; }
  add_mod "$rel"
done
printf '%s\n' "${order[@]}" > "$IR/modules/order"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initramfs.cpio.gz"

echo "kmod: booting $ABI in qemu (TCG)"
start=$(date +%s)
# No fixed limit: a busy machine runs the VM slower, not wrong. The VM is
# stopped when it makes no progress (no new check result and no console
# output) for NATNOW_KMOD_STALL seconds, or after NATNOW_KMOD_TIMEOUT in all.
set +e
qemu-system-x86_64 \
  -machine pc -cpu max -m "${NATNOW_KMOD_MEM:-2048}" -smp 2 -nographic -no-reboot -nic none \
  -kernel "$KROOT/boot/vmlinuz-$ABI" -initrd "$OUT/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 loglevel=4 nnt.script=${NATNOW_KMOD_SCRIPT:-$ROOT/test/kmod/vm-tests.sh} nnt.kmods=$MODDIR nnt.build=$OUT/build nnt.quick=${NATNOW_KMOD_QUICK:-0}" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$OUT/vmout,mount_tag=out,security_model=none,multidevs=remap" \
  > "$OUT/console.log" 2>&1 &
qpid=$!
stall=${NATNOW_KMOD_STALL:-240}
last=$start
seen=""
while kill -0 "$qpid" 2>/dev/null; do
  sleep 5
  now=$(date +%s)
  progress="$(cat "$OUT/vmout/results.tap" 2>/dev/null | wc -l) $(stat -c %s "$OUT/console.log" 2>/dev/null)"
  if [ "$progress" != "$seen" ]; then seen=$progress; last=$now; fi
  if [ $((now - last)) -ge "$stall" ] || [ $((now - start)) -ge "${NATNOW_KMOD_TIMEOUT:-3000}" ]; then
    echo "kmod: the VM made no progress for $((now - last)) s (after $((now - start)) s, ${seen%% *} result lines): stopping it"
    kill "$qpid"
  fi
done
wait "$qpid"
qrc=$?
set -e
echo "kmod: VM ran $(( $(date +%s) - start )) s (qemu exit $qrc); console: $OUT/console.log"
if [ ! -s "$OUT/vmout/results.tap" ]; then
  echo "kmod: the VM wrote no results"; tail -n 40 "$OUT/console.log"; exit 1
fi
cat "$HOSTTAP" "$OUT/vmout/results.tap"
echo "--- figures"
cat "$OUT/vmout/figures.txt" 2>/dev/null || true
planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$OUT/vmout/results.tap")
pass=$(cat "$HOSTTAP" "$OUT/vmout/results.tap" | grep -c '^ok ' || true)
fail=$(cat "$HOSTTAP" "$OUT/vmout/results.tap" | grep -c '^not ok ' || true)
hostn=$(grep -c . "$HOSTTAP")
# a VM that stopped early ran fewer checks than it planned: count those as failed
missing=$(( ${planned:-0} + hostn - pass - fail ))
[ "$missing" -gt 0 ] && fail=$((fail + missing))
[ -n "$planned" ] || fail=$((fail + 1))
printf '{"passed":%d,"failed":%d}\n' "$pass" "$fail" > "$OUT/summary.json"
echo "kmod: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
