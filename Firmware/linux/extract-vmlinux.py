#!/usr/bin/env python3
"""Extract the ELF vmlinux from a bzImage: read payload_offset and
payload_length from the setup header (boot.rst, protocol 2.08+), then
decompress with the matching Debian tool (lz4, xz, gzip, zstd)."""
import struct
import subprocess
import sys

FORMATS = [
    (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
    (b"\xfd7zXZ\x00", ["xz", "-dc"]),
    (b"\x1f\x8b", ["gzip", "-dc"]),
    (b"\x28\xb5\x2f\xfd", ["zstd", "-dc"]),
]


def main(src, dst):
    data = open(src, "rb").read()
    if data[0x202:0x206] != b"HdrS":
        sys.exit(f"{src}: not a bzImage")
    setup_sects = data[0x1F1] or 4
    offset = (setup_sects + 1) * 512 + struct.unpack_from("<I", data, 0x248)[0]
    length = struct.unpack_from("<I", data, 0x24C)[0]
    payload = data[offset:offset + length]
    for magic, tool in FORMATS:
        if payload.startswith(magic):
            # The decompressor may warn about the size word after the stream.
            out = subprocess.run(tool, input=payload, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
            if out[:4] != b"\x7fELF":
                sys.exit(f"{src}: {tool[0]} did not produce an ELF file")
            open(dst, "wb").write(out)
            return
    sys.exit(f"{src}: unknown payload compression {payload[:6].hex()}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
