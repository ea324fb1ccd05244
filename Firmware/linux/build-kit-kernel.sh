#!/usr/bin/env bash
# The kit kernel: Debian's linux-source-6.1, `make tinyconfig` plus
# Firmware/linux/kit.config. Built once per (fragment, source package
# version, recipe) into a cache outside the work tree, so a fresh clone on
# the same machine (CI's included) reuses it:
#   ${SWIFTVMM_CACHE:-~/.cache/swiftvmm}/linux-<hash>/{vmlinux,bzImage,config}
# then copied to the output folder given as $1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build-kit-kernel.sh OUTDIR}"
fragment="$here/kit.config"
recipe=2   # bump when the steps below change what is built

source_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || {
    echo "linux-guest: the Debian package linux-source-6.1 is not installed" >&2; exit 1; }
key=$( { echo "recipe $recipe"; echo "linux-source-6.1 $source_version"; cat "$fragment"; } | sha256sum | cut -c1-16)
cache="${SWIFTVMM_CACHE:-$HOME/.cache/swiftvmm}/linux-$key"

if [ ! -f "$cache/vmlinux" ] || [ ! -f "$cache/bzImage" ]; then
    echo "linux-guest: building the kit kernel (linux-source-6.1 $source_version, key $key; 3-6 min on 2 cores)"
    start=$(date +%s)
    work="$cache.work"
    rm -rf "$work" && mkdir -p "$work"
    trap 'rm -rf "$work"' EXIT
    tar -xf /usr/src/linux-source-6.1.tar.xz -C "$work"
    src=$(echo "$work"/linux-source-6.1)
    make -C "$src" -s tinyconfig >/dev/null
    (cd "$src" && scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null)
    make -C "$src" -s olddefconfig >/dev/null
    # Every line of the fragment must have held: a dependency that is not
    # met drops an option silently otherwise.
    missing=0
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=*) grep -qxF "$line" "$src/.config" || { echo "linux-guest: $line did not hold" >&2; missing=1; } ;;
            "# CONFIG_"*" is not set")
                opt=${line#"# "}; opt=${opt%" is not set"}
                grep -q "^$opt=" "$src/.config" && { echo "linux-guest: $opt is set, the fragment wants it off" >&2; missing=1; } ;;
        esac
    done < "$fragment"
    [ "$missing" = 0 ] || exit 1
    make -C "$src" -s -j"$(nproc)" bzImage
    mkdir -p "$cache"
    cp "$src/vmlinux" "$cache/vmlinux.tmp" && mv "$cache/vmlinux.tmp" "$cache/vmlinux"
    cp "$src/arch/x86/boot/bzImage" "$cache/bzImage.tmp" && mv "$cache/bzImage.tmp" "$cache/bzImage"
    cp "$src/.config" "$cache/config"
    rm -rf "$work"
    echo "linux-guest: kit kernel built in $(( $(date +%s) - start )) s"
fi
mkdir -p "$out"
cp "$cache/vmlinux" "$out/vmlinux"
cp "$cache/bzImage" "$out/bzImage"
cp "$cache/config" "$out/kernel.config"
