#!/usr/bin/env bash
# make linux-guest: the Linux guest kit, from Debian packages only. Output in
# Firmware/build/linux/ (not committed):
#   vmlinux, bzImage   the kit kernel: linux-source-6.1, tinyconfig + kit.config
#                      (build-kit-kernel.sh; cached outside the work tree)
#   kernel.config      its full .config
#   initramfs.cpio     busybox-static + ./initramfs-init as /init, an
#                      uncompressed newc cpio (the kernel needs no decompressor)
#   rootfs.ext4        a 64 MiB ext4 root: busybox + ./rootfs-init as /sbin/init,
#                      made by mkfs.ext4 -d (no mount, no loop device)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../build/linux"
mkdir -p "$out"
bash "$here/build-kit-kernel.sh" "$out"

busybox=/bin/busybox
[ -x "$busybox" ] || {
    echo "linux-guest: $busybox is missing (Debian package busybox-static)" >&2; exit 1; }

# Lays out a busybox root in $1 with $2 as its init at $3.
make_root() {
    local root="$1" init="$2" at="$3"
    rm -rf "$root" && mkdir -p "$root"/{bin,sbin,proc,sys,dev,mnt,etc,tmp}
    cp "$busybox" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    cp "$init" "$root$at" && chmod 755 "$root$at"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make_root "$work/initramfs" "$here/initramfs-init" /init
(cd "$work/initramfs" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"

make_root "$work/rootfs" "$here/rootfs-init" /sbin/init
echo "swiftvmm kit root file system" > "$work/rootfs/etc/swiftvmm-kit"
rm -f "$out/rootfs.ext4.tmp"
mkfs.ext4 -q -F -L kitroot -d "$work/rootfs" "$out/rootfs.ext4.tmp" 64M >/dev/null
mv "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"
echo "linux-guest: $out (vmlinux, bzImage, initramfs.cpio, rootfs.ext4)"
