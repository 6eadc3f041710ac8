#!/usr/bin/env bash
# Installs what natnow's tests and demo need on a fresh Debian 12 machine
# (run as root). Quick when everything is already there. With --demo only
# what the namespace demo and benchmark need (no kernel images or qemu).
set -euo pipefail
demo=0
[ "${1:-}" = --demo ] && demo=1
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
CACHE=${NATNOW_CACHE:-/var/cache/natnow}

# Debian packages:
#  coreutils            mkfifo, seq (host contract tests)
#  nftables conntrack iptables iproute2 iperf3 python3
#                       the router's tools, in namespaces and in the kmod VM
#  qemu-system-x86 busybox-static cpio kmod gcc make perl libxtables-dev
#                       building natnow.ko, the iptables extension, the VM
#  shellcheck           the router's shell scripts (init, include, uci-defaults, rpcd)
#  gettext chromium     luci-app-natnow's translations (msgfmt) and its page in a real browser
#  fonts-wqy-microhei  CJK glyphs, so the zh_Hans page's screenshots show its text
#  libnftnl-dev libmnl-dev  the corpus test's nftnl-upnp.c: a miniupnpd-shaped port mapping
#                       built from raw libnftnl expressions (test/e2e/corpus.test.ts)
#  dpkg-dev xz-utils libnetfilter-conntrack-dev libnfnetlink-dev libmnl-dev pkg-config bison flex
#                       building qjs and conntrack 1.4.8 from Debian trixie's sources
BUILD_PACKAGES=(gcc make libc6-dev dpkg-dev xz-utils libnetfilter-conntrack-dev libnfnetlink-dev libmnl-dev pkg-config bison flex)
DEB_PACKAGES=(coreutils nftables conntrack iptables iproute2 iperf3 python3
  libnftnl-dev libmnl-dev
  qemu-system-x86 busybox-static cpio kmod perl libxtables-dev shellcheck gettext chromium fonts-wqy-microhei "${BUILD_PACKAGES[@]}")
[ "$demo" = 1 ] && DEB_PACKAGES=(coreutils nftables conntrack iproute2 python3 "${BUILD_PACKAGES[@]}")

updated=0
apt_update() { [ "$updated" = 1 ] || { apt-get update -q; updated=1; }; }
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt_update
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

install_npm() {
  # npm packages, pinned by package-lock.json; reinstalled when the lock changes
  stamp=node_modules/.natnow-lock-stamp
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: npm ci"
    npm ci --no-audit --no-fund
    echo "$want" > "$stamp"
  fi
}
# The router's own engine and OpenWrt 24.10's conntrack, built from Debian
# trixie's source packages (neither is in Debian 12): Bellard's QuickJS
# 2025.04.26 (`qjs`) and conntrack-tools 1.4.8 (`conntrack`). The sources
# come through a private apt directory with one deb-src line for trixie;
# the upstream tarballs are checked against these hashes.
QJS_TAR=quickjs_2025.04.26.orig.tar.xz
QJS_SHA=ec81da5b3249ed648dbc7df4a1654988910e66a118d9b71cb63534216efcfbbe
CT_TAR=conntrack-tools_1.4.8.orig.tar.xz
CT_SHA=067677f4c5f6564819e78ed3a9d4a8980935ea9273f3abb22a420ea30ab5ded6
TOOLS=$CACHE/tools
trixie_source() { # PACKAGE TARBALL SHA256: the upstream tarball, in $CACHE/src
  [ -f "$CACHE/src/$2" ] && return 0
  local apt="$CACHE/apt" mirror
  mkdir -p "$apt/lists/partial" "$CACHE/src"
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/* *$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} trixie main" \
    > "$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt/lists")
  if [ ! -f "$apt/updated" ]; then
    apt-get -q "${opts[@]}" update && touch "$apt/updated"
  fi
  # only the upstream tarball is needed (the .dsc is not always on the mirror)
  (cd "$CACHE/src" && apt-get -q "${opts[@]}" source --download-only "$1" >/dev/null 2>&1) || true
  [ -f "$CACHE/src/$2" ] || { echo "setup: $1: no $2 from Debian trixie"; return 1; }
  echo "$3  $CACHE/src/$2" | sha256sum -c --quiet || { rm -f "$CACHE/src/$2"; echo "setup: $2: wrong sha256"; return 1; }
}
if [ ! -x "$TOOLS/qjs" ]; then
  trixie_source quickjs "$QJS_TAR" "$QJS_SHA"
  echo "setup: building qjs from $QJS_TAR"
  b=$(mktemp -d) && tar -xJf "$CACHE/src/$QJS_TAR" -C "$b" --strip-components=1
  make -C "$b" -j2 qjs >"$b/build.log" 2>&1 || { tail -n 20 "$b/build.log"; exit 1; }
  mkdir -p "$TOOLS" && install -m 755 "$b/qjs" "$TOOLS/qjs" && rm -rf "$b"
fi
if [ ! -x "$TOOLS/conntrack-1.4.8" ]; then
  trixie_source conntrack-tools "$CT_TAR" "$CT_SHA"
  echo "setup: building conntrack 1.4.8 from $CT_TAR"
  b=$(mktemp -d) && tar -xJf "$CACHE/src/$CT_TAR" -C "$b" --strip-components=1
  (cd "$b" && ./configure -q --disable-cthelper --disable-cttimeout && make -C extensions -j2 && make -C src -j2 conntrack) \
    >"$b/build.log" 2>&1 || { tail -n 20 "$b/build.log"; exit 1; }
  mkdir -p "$TOOLS" && install -m 755 "$b/src/conntrack" "$TOOLS/conntrack-1.4.8" && rm -rf "$b"
fi

if [ "$demo" = 1 ]; then
  install_npm
  exit 0
fi

# Debian's 6.1 kernel: headers to build natnow.ko, the image to boot it in qemu.
# The ABI is the one linux-headers-amd64 names (image and headers both exist).
if ! ls -d /usr/src/linux-headers-6.1.0-*-amd64 >/dev/null 2>&1; then
  apt_update
  abi=$(apt-cache depends linux-headers-amd64 | sed -n 's/.*Depends: linux-headers-\(6\.1\.0-[0-9]*\)-amd64$/\1/p' | head -n 1)
  [ -n "$abi" ] || { echo "setup: cannot find the current 6.1 kernel ABI"; exit 1; }
  echo "setup: installing linux-headers-$abi-amd64"
  apt-get install -y -q --no-install-recommends "linux-headers-$abi-amd64"
fi
hdr=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 | sort -V | tail -n 1)
abi=${hdr#/usr/src/linux-headers-}
if [ ! -f "$CACHE/kernel/$abi/boot/vmlinuz-$abi" ]; then
  apt_update
  echo "setup: fetching linux-image-$abi-unsigned"
  tmp=$(mktemp -d) && chmod 777 "$tmp"
  (cd "$tmp" && apt-get download -q "linux-image-$abi-unsigned")
  mkdir -p "$CACHE/kernel/$abi"
  dpkg-deb -x "$tmp"/linux-image-*.deb "$CACHE/kernel/$abi"
  depmod -b "$CACHE/kernel/$abi" "$abi"
  rm -rf "$tmp"
fi
# 6.12 headers too, for a compile check against a newer kernel (best effort)
if ! ls -d /usr/src/linux-headers-6.12.*-amd64 >/dev/null 2>&1; then
  apt_update
  h612=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' | cut -d' ' -f1 | sort -V | tail -n 1)
  [ -n "$h612" ] && apt-get install -y -q --no-install-recommends "$h612" || echo "setup: no 6.12 headers (skipped)"
fi
# checkpatch.pl from Debian's kernel source package (only the three files it reads)
if [ ! -f "$CACHE/checkpatch/checkpatch.pl" ]; then
  apt_update
  echo "setup: extracting checkpatch.pl from linux-source-6.1"
  tmp=$(mktemp -d) && chmod 777 "$tmp"
  (cd "$tmp" && apt-get download -q linux-source-6.1)
  mkdir -p "$CACHE/checkpatch"
  dpkg-deb --fsys-tarfile "$tmp"/linux-source-6.1_*.deb | tar -xO ./usr/src/linux-source-6.1.tar.xz |
    tar -xJ -C "$CACHE/checkpatch" --strip-components=2 linux-source-6.1/scripts/checkpatch.pl \
      linux-source-6.1/scripts/spelling.txt linux-source-6.1/scripts/const_structs.checkpatch
  rm -rf "$tmp"
fi

install_npm
