#!/usr/bin/env bash
# make linux-guest-debian: Debian's own cloud kernel as a guest, from Debian
# packages only (apt-get download, no other network). On kvm_pvm it gets to
# its early console (docs/linux-guest.md). Output in Firmware/build/linux-debian/
# (not committed):
#   bzImage        the kernel of linux-image-*-cloud-amd64, as shipped
#   vmlinux        the same kernel as an ELF file (PVH entry), extracted
#   initramfs.gz   busybox-static + the kernel's virtio modules + ./init
#   disk.ext4      a 64 MiB ext4 image holding a test file
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../build/linux-debian"
work="$out/work"
mkdir -p "$work"
cd "$work"

kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "linux-guest: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
if [ ! -f "$out/bzImage" ] || [ "$(cat "$out/kernel-package" 2>/dev/null)" != "$kernel_pkg" ]; then
    rm -rf pkg ./*.deb
    apt-get -o APT::Sandbox::User=root download "$kernel_pkg" busybox-static >/dev/null
    dpkg-deb -x "$kernel_pkg"_*.deb pkg
    dpkg-deb -x busybox-static_*.deb pkg
    cp pkg/boot/vmlinuz-* "$out/bzImage"
    python3 "$here/extract-vmlinux.py" "$out/bzImage" "$out/vmlinux"
    echo "$kernel_pkg" > "$out/kernel-package"
fi

# initramfs: busybox, the virtio modules, init.
rm -rf root && mkdir -p root/bin root/proc root/sys root/dev root/lib/modules
cp pkg/bin/busybox root/bin/busybox
cp "$here/debian-init" root/init && chmod 755 root/init
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net; do
    f=$(find pkg/lib/modules -name "$m.ko*" | head -n 1)
    [ -n "$f" ] && cp "$f" root/lib/modules/
done
(cd root && find . | cpio -o -H newc --quiet) | gzip -9 > "$out/initramfs.gz"

# A small ext4 disk with a known file.
rm -rf diskroot && mkdir -p diskroot && echo "hello from the swiftvmm guest kit disk" > diskroot/hello.txt
rm -f "$out/disk.ext4"
mkfs.ext4 -q -F -L swiftvmm -d diskroot "$out/disk.ext4" 64M >/dev/null

echo "linux-guest: $kernel_pkg -> $out (bzImage, vmlinux, initramfs.gz, disk.ext4)"
