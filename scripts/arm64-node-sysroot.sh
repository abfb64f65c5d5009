#!/usr/bin/env bash
# Prepares Debian's arm64 Node.js in a folder, so the linux-arm64 prebuild can be loaded and run
# under qemu-user on an x64 machine (test/prebuilds.test.ts does this when the folder exists).
#   bash scripts/arm64-node-sysroot.sh [DIR]   (default: $SLUICE_ARM64_SYSROOT or ~/.cache/sluice/arm64-node)
# Needs root for apt-get; safe to run again (does nothing when the sysroot is already there).
set -euo pipefail
dir="${1:-${SLUICE_ARM64_SYSROOT:-$HOME/.cache/sluice/arm64-node}}"
if [ -x "$dir/sysroot/usr/bin/node" ] && command -v qemu-aarch64-static >/dev/null; then
  echo "arm64 node sysroot ready: $dir/sysroot"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
command -v qemu-aarch64-static >/dev/null || { apt-get update -qq; apt-get install -y -qq qemu-user-static >/dev/null; }
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
rm -rf "$dir" && mkdir -p "$dir/debs"
cd "$dir/debs"
# nodejs:arm64 with every arm64 package it depends on, plus the JS packages Debian's node loads at start.
apt-get download -qq -o APT::Sandbox::User=root $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances nodejs:arm64 | grep '^[a-z]' | grep ':arm64' | sort -u) >/dev/null
apt-get download -qq -o APT::Sandbox::User=root node-cjs-module-lexer node-undici node-acorn >/dev/null
cd "$dir"
for deb in debs/*.deb; do dpkg -x "$deb" sysroot; done
rm -rf debs
qemu-aarch64-static -L "$dir/sysroot" "$dir/sysroot/usr/bin/node" -e 'console.log("arm64 node", process.version, process.arch, "napi", process.versions.napi)'
