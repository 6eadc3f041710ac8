#!/usr/bin/env bash
# natnow.ko's in-kernel benchmark (the last part of `npm run bench`): boots
# the kmod test VM (test/kmod/run.sh, Debian's 6.1 kernel in qemu, TCG) with
# bench/kmod-vm.sh and prints its figures. Skipped, saying why, when the VM's
# kernel is not set up (`bash scripts/setup.sh` without --demo sets it up).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${NATNOW_KERNEL_CACHE:-/var/cache/natnow/kernel}
if ! command -v qemu-system-x86_64 >/dev/null || ! ls -d "$CACHE"/6.1.0-*-amd64/boot >/dev/null 2>&1; then
  echo "kmod bench: skipped, no VM kernel or qemu (run: bash scripts/setup.sh)"
  exit 0
fi
echo "== natnow.ko in the kernel: kill and arm against conntrack -D (qemu TCG: slower than a router, the ratios are what counts)"
NATNOW_KMOD_SCRIPT=$ROOT/bench/kmod-vm.sh NATNOW_KMOD_OUT=$ROOT/test-artifacts/kmod-bench NATNOW_KMOD_MEM=3072 \
  NATNOW_KMOD_STALL=600 bash "$ROOT/test/kmod/run.sh" | sed -n '/^--- figures/,$p'
