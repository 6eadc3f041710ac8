#!/usr/bin/env bash
# The kmod tests on OpenWrt 25.12's kernel configuration (not in CI):
# configures Debian's linux-source-6.12 the way OpenWrt's kernel build
# configures x86/64, builds bzImage and the modules, installs the modules
# with depmod, builds natnow.ko against that tree, and with --test runs
# test/kmod/run.sh (the VM suite) on that kernel.
#
#   test/kmod/openwrt-kernel.sh [--config-only | --test] OPENWRT_CONFIG_DIR
# (--config-only stops after writing the .config)
#
# OPENWRT_CONFIG_DIR is an OpenWrt tree (a checkout of openwrt/openwrt at
# the release to test, or a copy of these of its files, at the same paths):
#   target/linux/generic/config-6.12    the generic kernel configuration
#   target/linux/x86/config-6.12        the x86 target's
#   target/linux/x86/64/config-6.12     the 64 subtarget's
#   config/Config-kernel.in             OpenWrt's KERNEL_* options
#   include/netfilter.mk, package/kernel/linux/modules/{netfilter,netsupport}.mk
#                                       the kmod packages and their KCONFIG
#   scripts/kconfig.pl, scripts/package-metadata.pl, scripts/metadata.pm
#                                       OpenWrt's own merge tools, run from there
# None of them is copied into this repository; what this script writes
# goes to NATNOW_OWRT_KERNEL_CACHE (default /var/cache/natnow/openwrt-kernel).
#
# The configuration, as include/kernel-defaults.mk's Kernel/Configure/Default
# assembles it:
#  1. generic + target + subtarget config merged (kconfig.pl + +, later wins)
#  2. OpenWrt's CONFIG_KERNEL_* defaults (Config-kernel.in evaluated for
#     x86/64 with no option changed) appended as CONFIG_*, and the KALLSYMS lines
#  3. every kmod package of netfilter.mk and netsupport.mk that x86/64 can
#     build selected as a module (CONFIG_PACKAGE_kmod-*=m, as a release
#     build's ALL_KMODS selects them); package-metadata.pl kconfig turns
#     their KCONFIG into overrides, merged with kconfig.pl 'm+' (a symbol the
#     configs build in stays =y). The other kmod files (drivers, file systems,
#     crypto...) are not read: their symbols stay as the configs have them.
#  4. no initramfs built in (Kernel/SetNoInitramfs)
# then the VM's additions (vm.config below, each with its reason) and
# make olddefconfig. Differences from OpenWrt's kernel: Debian's 6.12 source
# (6.12.118) without OpenWrt's patches (target/linux/generic/{backport,
# pending,hack}-6.12), so symbols those patches add are dropped by olddefconfig.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
run_test=0 config_only=0
case ${1:-} in --test) run_test=1; shift ;; --config-only) config_only=1; shift ;; esac
OWRT=${1:-${OPENWRT_CONFIG_DIR:-}}
if [ -z "$OWRT" ] || [ ! -d "$OWRT" ]; then sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
OWRT=$(cd "$OWRT" && pwd)
CACHE=${NATNOW_OWRT_KERNEL_CACHE:-/var/cache/natnow/openwrt-kernel}
SRC_TAR=${NATNOW_LINUX_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
PATCHVER=6.12
# never more than two jobs: the build must leave the machine to other work
JOBS=${NATNOW_JOBS:-2}
[ "$JOBS" -le 2 ] 2>/dev/null || JOBS=2
MK=(nice -n 19 make -s)

for f in target/linux/generic/config-$PATCHVER target/linux/x86/config-$PATCHVER \
  target/linux/x86/64/config-$PATCHVER config/Config-kernel.in include/netfilter.mk \
  package/kernel/linux/modules/netfilter.mk package/kernel/linux/modules/netsupport.mk \
  scripts/kconfig.pl scripts/package-metadata.pl scripts/metadata.pm; do
  [ -f "$OWRT/$f" ] || { echo "openwrt-kernel: $OWRT/$f missing"; exit 1; }
done
for c in perl bc bison flex pahole; do
  command -v "$c" >/dev/null || { echo "openwrt-kernel: $c missing (apt-get install bc bison flex libelf-dev libssl-dev dwarves)"; exit 1; }
done

# Debian's source, unpacked once
SRC=$CACHE/src/linux-source-$PATCHVER
if [ ! -f "$SRC/Makefile" ]; then
  [ -f "$SRC_TAR" ] || { echo "openwrt-kernel: no $SRC_TAR (apt-get install linux-source-$PATCHVER)"; exit 1; }
  echo "openwrt-kernel: unpacking $SRC_TAR"
  mkdir -p "$CACHE/src" && nice -n 19 tar -xJf "$SRC_TAR" -C "$CACHE/src"
fi
OBJ=$CACHE/build
CFG=$CACHE/config
mkdir -p "$OBJ" "$CFG"
kconfig() { perl "$OWRT/scripts/kconfig.pl" "$@"; }

# the kernel's own kconfig tool (built by any *config target), to evaluate
# Config-kernel.in
[ -x "$OBJ/scripts/kconfig/conf" ] ||
  "${MK[@]}" -C "$SRC" O="$OBJ" KCONFIG_CONFIG="$CFG/scratch.config" olddefconfig >/dev/null
[ -x "$OBJ/scripts/kconfig/conf" ] || { echo "openwrt-kernel: no scripts/kconfig/conf"; exit 1; }

# 1. generic + target + subtarget
kconfig + + "$OWRT/target/linux/generic/config-$PATCHVER" "$OWRT/target/linux/x86/config-$PATCHVER" \
  "$OWRT/target/linux/x86/64/config-$PATCHVER" > "$CFG/.config.target"

# 2. OpenWrt's KERNEL_* options as a default x86/64 build has them. The
# symbols Config-kernel.in reads from OpenWrt's other Kconfig files, with
# their x86/64 values (any other is n):
cat > "$CFG/Kconfig.openwrt" <<EOF
mainmenu "OpenWrt's kernel options for x86/64"
# package/Config.in: IPv6 in packages, default y
config IPV6
	def_bool y
# target/Config.in for x86/64: the arch and the target, subtarget
config x86_64
	def_bool y
config ARCH_64BIT
	def_bool y
config TARGET_x86
	def_bool y
config TARGET_x86_64
	def_bool y
# n on x86/64: small flash, buildbot defaults, rfkill (not in its FEATURES), macOS host
config SMALL_FLASH
	bool
config BUILDBOT
	bool
config RFKILL_SUPPORT
	bool
config HOST_OS_MACOS
	bool
config LOW_MEMORY_FOOTPRINT
	bool
config DWARVES
	bool
source "$OWRT/config/Config-kernel.in"
EOF
: > "$CFG/openwrt.config"
# (conf writes include/config and include/generated where it runs: not in $SRC)
rm -rf "$CFG/kconfig-run" && mkdir -p "$CFG/kconfig-run"
(cd "$CFG/kconfig-run" && srctree=$CFG/kconfig-run KCONFIG_CONFIG="$CFG/openwrt.config" \
  "$OBJ/scripts/kconfig/conf" --olddefconfig "$CFG/Kconfig.openwrt" > "$CFG/openwrt-conf.log" 2>&1) ||
  { cat "$CFG/openwrt-conf.log"; exit 1; }
awk '/^(#[[:space:]]+)?CONFIG_KERNEL/{sub("CONFIG_KERNEL_","CONFIG_");print}' "$CFG/openwrt.config" >> "$CFG/.config.target"
printf '%s\n' "# CONFIG_KALLSYMS_EXTRA_PASS is not set" "# CONFIG_KALLSYMS_ALL is not set" \
  "CONFIG_KALLSYMS_UNCOMPRESSED=y" >> "$CFG/.config.target"

# 3. the kmods: read their definitions the way include/kernel.mk does (the
# package's, then its x86 and x86/64 variants) into .packageinfo's lines
cat > "$CFG/kmods.mk" <<'EOF'
KERNEL_PATCHVER := 6.12
BOARD := x86
SUBTARGET := 64
INCLUDE_DIR := $(OPENWRT)/include
ver = $(shell printf '%d%03d' $(subst ., ,$(1)))
CompareKernelPatchVer = $(shell [ $(call ver,$(1)) -$(2) $(call ver,$(3)) ] && echo 1 || echo 0)
define KernelPackage
$(eval KCONFIG :=)$(eval DEPENDS :=)$(eval $(call KernelPackage/$(1)))$(eval $(call KernelPackage/$(1)/$(BOARD)))$(eval $(call KernelPackage/$(1)/$(BOARD)/$(SUBTARGET)))$(info Package: kmod-$(1))$(info Depends: $(strip $(DEPENDS)))$(info Kernel-Config: $(strip $(KCONFIG)))$(info )
endef
include $(KMOD_FILES)
all: ;
EOF
make -s -f "$CFG/kmods.mk" OPENWRT="$OWRT" \
  KMOD_FILES="$OWRT/package/kernel/linux/modules/netfilter.mk $OWRT/package/kernel/linux/modules/netsupport.mk" \
  > "$CFG/.packageinfo"
# a kmod x86/64 can build: each @condition of its DEPENDS holds, with the
# symbols above, VIRTIO_SUPPORT (the merged config has CONFIG_VIRTIO) and
# the KERNEL_* options of step 2
syms=" IPV6 x86_64 ARCH_64BIT TARGET_x86 TARGET_x86_64 "
grep -qE '^CONFIG_VIRTIO=[ym]' "$CFG/.config.target" && syms+="VIRTIO_SUPPORT "
syms+=$(sed -n 's/^CONFIG_\(KERNEL_[A-Za-z0-9_]*\)=y$/\1/p' "$CFG/openwrt.config" | tr '\n' ' ')
holds() {
  local w e
  for w in $1; do
    [ "${w#@}" != "$w" ] || continue
    e=$(printf '%s' "${w#@}" | awk -v syms="$syms" '{
      out = ""; s = $0
      while (match(s, /[A-Za-z_][A-Za-z0-9_]*/)) {
        out = out substr(s, 1, RSTART - 1) (index(syms, " " substr(s, RSTART, RLENGTH) " ") ? 1 : 0)
        s = substr(s, RSTART + RLENGTH)
      }
      print out s }')
    [ $((e)) -ne 0 ] || return 1
  done
}
: > "$CFG/packages.config"
: > "$CFG/kmods-not-on-x86_64.txt"
while IFS= read -r line; do
  case $line in
    "Package: "*) pkg=${line#Package: } ;;
    "Depends: "*|"Depends:")
      if holds "${line#Depends:}"; then echo "CONFIG_PACKAGE_$pkg=m" >> "$CFG/packages.config"
      else echo "$pkg (${line#Depends: })" >> "$CFG/kmods-not-on-x86_64.txt"; fi ;;
  esac
done < "$CFG/.packageinfo"
perl "$OWRT/scripts/package-metadata.pl" kconfig "$CFG/.packageinfo" "$CFG/packages.config" "$PATCHVER" \
  > "$CFG/.config.override"
kconfig 'm+' '+' "$CFG/.config.target" /dev/null "$CFG/.config.override" > "$CFG/.config.set"

# 4. Kernel/SetNoInitramfs
grep -v INITRAMFS "$CFG/.config.set" > "$CFG/.config.openwrt"
printf '%s\n' 'CONFIG_INITRAMFS_SOURCE=""' '# CONFIG_INITRAMFS_FORCE is not set' \
  '# CONFIG_INITRAMFS_PRESERVE_MTIME is not set' >> "$CFG/.config.openwrt"

# What the VM needs beyond that: the ones OpenWrt's x86/64 configuration
# already sets (virtio-pci, overlayfs, the 8250 serial console, a gzip
# initrd, 9pnet and its virtio transport from kmod-9pnet/kmod-9pvirtio) are
# listed too, so that a change on OpenWrt's side shows up here.
cat > "$CFG/vm.config" <<'EOF'
# test/kmod/init mounts devtmpfs on /dev (OpenWrt's KERNEL_DEVTMPFS is off by default)
CONFIG_DEVTMPFS=y
# the host's root and the output directory come in over 9p (kmod-fs-9p, fs.mk: not read above)
CONFIG_9P_FS=m
# 9p's transport, virtio-pci (x86/64 builds both in)
CONFIG_NET_9P=m
CONFIG_NET_9P_VIRTIO=m
CONFIG_VIRTIO_PCI=y
# the tmpfs overlay over the read-only host root (built in on x86/64)
CONFIG_OVERLAY_FS=y
# the busybox initramfs, gzip'd by run.sh
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
# console=ttyS0: the results and the console log come out there
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
# vm-lib.sh's finish powers the VM off with echo o > /proc/sysrq-trigger
CONFIG_MAGIC_SYSRQ=y
EOF
kconfig + "$CFG/.config.openwrt" "$CFG/vm.config" > "$OBJ/.config"
kconfig '>' "$CFG/.config.openwrt" "$CFG/vm.config" > "$CFG/vm-added.config"
echo "openwrt-kernel: the VM adds to OpenWrt's configuration: $(tr '\n' ' ' < "$CFG/vm-added.config")"
"${MK[@]}" -C "$SRC" O="$OBJ" olddefconfig
# what olddefconfig did not keep: the VM's lines must hold; the kmods'
# symbols it dropped are listed (their dependencies are off, or OpenWrt's
# patches define them)
bad=0
while IFS= read -r l; do
  case $l in CONFIG_*=*) grep -qxF "$l" "$OBJ/.config" || { echo "openwrt-kernel: the VM needs $l, olddefconfig did not keep it"; bad=1; } ;; esac
done < "$CFG/vm.config"
[ "$bad" = 0 ] || exit 1
sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=[ym]$/\1/p' "$CFG/.config.override" | while read -r s; do
  grep -qE "^$s=[ym]$" "$OBJ/.config" || echo "$s"
done > "$CFG/kmod-symbols-dropped.txt"
echo "openwrt-kernel: $(grep -c =m "$CFG/packages.config") kmods selected, $(grep -c . "$CFG/kmods-not-on-x86_64.txt") not on x86/64;" \
  "$(grep -c . "$CFG/kmod-symbols-dropped.txt") of their symbols dropped by olddefconfig (see $CFG)"

KVER=$(make -s -C "$SRC" O="$OBJ" kernelrelease)
[ "$config_only" = 0 ] || { echo "openwrt-kernel: $OBJ/.config ($KVER)"; exit 0; }
echo "openwrt-kernel: building $KVER (make -j$JOBS, nice 19; log $CACHE/build.log)"
start=$(date +%s)
if ! "${MK[@]}" -C "$SRC" O="$OBJ" -j"$JOBS" bzImage modules > "$CACHE/build.log" 2>&1; then
  tail -n 30 "$CACHE/build.log"; echo "openwrt-kernel: the kernel build failed"; exit 1
fi
echo "openwrt-kernel: built in $(( $(date +%s) - start )) s"

# the image and the modules where run.sh looks for them
KROOT=$CACHE/root
rm -rf "$KROOT/lib/modules/$KVER" && mkdir -p "$KROOT/boot"
cp "$OBJ/arch/x86/boot/bzImage" "$KROOT/boot/vmlinuz-$KVER"
"${MK[@]}" -C "$SRC" O="$OBJ" INSTALL_MOD_PATH="$KROOT" INSTALL_MOD_STRIP=1 DEPMOD=true modules_install
depmod -b "$KROOT" "$KVER"

# natnow.ko and xt_NATNOW.ko against that tree, -Werror as run.sh builds them
NB=$CACHE/natnow
rm -rf "$NB" && mkdir -p "$NB" && cp "$ROOT"/openwrt-feed/kmod-natnow/src/* "$NB/"
if make -s -C "$OBJ" M="$NB" KCFLAGS=-Werror modules > "$NB/build.log" 2>&1 && [ -f "$NB/natnow.ko" ]; then
  echo "openwrt-kernel: natnow.ko and xt_NATNOW.ko build with -Werror against $KVER"
else
  cat "$NB/build.log"; echo "openwrt-kernel: natnow.ko does not build against $KVER"; exit 1
fi

printf 'NATNOW_KVER=%s\nNATNOW_KROOT=%s\nNATNOW_HDR=%s\n' "$KVER" "$KROOT" "$OBJ" > "$CACHE/env"
echo "openwrt-kernel: the VM suite on it: env \$(cat $CACHE/env) test/kmod/run.sh"
[ "$run_test" = 1 ] || exit 0
# shellcheck disable=SC2046
exec env $(cat "$CACHE/env") NATNOW_KMOD_OUT="${NATNOW_KMOD_OUT:-$ROOT/test-artifacts/kmod-openwrt}" "$ROOT/test/kmod/run.sh"
