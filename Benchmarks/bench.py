#!/usr/bin/env python3
"""make bench: exit cost, the VMM's own time per exit, start-up and peak RSS
of swiftvmm, beside the C floor (kvm-floor: the same firmware with nothing but
a KVM_RUN loop) and QEMU (-enable-kvm) when installed.

(a) port-I/O round trip: the ring-3 loop of N `out`s to an unused port, run
    with N=1000 and N=20000; per exit = (t20000 - t1000) / 19000, which
    cancels start-up and the rest of the guest.
(b) handling time per exit, from KVM_RUN returning to the next KVM_RUN,
    median and p99, counted inside swiftvmm (-exit-stats) and the floor.
(c) start-up: exec to the guest's first port write (swiftvmm, floor), and
    exec to exit on the tiny real-mode hello guest (all three).
(d) peak RSS (ru_maxrss) of each for a 128 MiB guest running hello.
(e) virtio-blk requests/s and virtio-net frames/s beside QEMU (netbench.py).
Prints a table with ratios to the floor and writes it as JSON.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import netbench

QEMU = shutil.which("qemu-system-x86_64")
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def command(vmm, args, image):
    if vmm == "floor":
        return [args.floor, image, "128"]
    if vmm == "swiftvmm":
        return [args.swiftvmm, "-m", "128", "-bios", image, "-no-reboot", "-serial", "none"] + DEBUG_EXIT
    return [QEMU, "-enable-kvm", "-m", "128", "-nodefaults", "-display", "none", "-serial", "null",
            "-no-reboot", "-bios", image] + DEBUG_EXIT


def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, stderr, start time ns, exit status)."""
    start_ns = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env)
    _, stderr = p.communicate()
    end_ns = time.monotonic_ns()
    return (end_ns - start_ns) / 1e9, stderr.decode(errors="replace"), start_ns, p.returncode


def peak_rss_kib(cmd):
    """GNU time's %M: a child forked from this Python would count Python's
    own pages in ru_maxrss, so the measuring parent is a small C program."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    return int(out.strip().splitlines()[-1])


def exit_stats(stderr):
    for line in stderr.splitlines():
        if line.startswith("exit-stats:"):
            return {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}
    return None


def median_time(cmd, repeats):
    times = []
    for _ in range(repeats):
        t, err, _, rc = run(cmd)
        if rc not in (0, 1, 0x21):  # hello exits 0x21, the test kernel 1
            sys.exit(f"bench: {' '.join(cmd)} exited {rc}: {err.strip()}")
        times.append(t)
    return statistics.median(times)


DISK_MODES = {1: ("4 KiB random read", 4096), 2: ("64 KiB sequential read", 65536),
              3: ("64 KiB sequential write", 65536)}


def disk_image(path):
    with open(path, "wb") as f:
        f.write(b"SWIFTVMM-DISK-TEST")
        f.truncate(64 << 20)


def virtio_blk(args, fw):
    image = os.path.join(os.path.dirname(os.path.abspath(args.json)), "bench-disk.img")
    out = {}
    for mode, (name, _) in DISK_MODES.items():
        row = {}
        for vmm in ["swiftvmm"] + (["qemu"] if QEMU else []):
            times = {}
            for n in (200, 2200):
                samples = []
                for _ in range(args.repeats):
                    disk_image(image)
                    cmd = command(vmm, args, fw(f"blkbench-{mode}-{n}.bin"))
                    cmd += ["-drive", f"file={image},format=raw,if=virtio"]
                    t, err, _, rc = run(cmd)
                    if rc != 1:
                        sys.exit(f"bench: {' '.join(cmd)} exited {rc}: {err.strip()}")
                    samples.append(t)
                times[n] = statistics.median(samples)
            per = (times[2200] - times[200]) / 2000
            row[vmm] = 1 / per if per > 0 else None
        disk_image(image)
        floor = subprocess.run([args.disk_floor, image, str(mode), "20000" if mode == 1 else "2000"],
                               capture_output=True, text=True)
        row["host"] = float(floor.stdout.strip()) if floor.returncode == 0 else None
        out[name] = row
    os.remove(image)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swiftvmm", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--firmware", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--disk-floor", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "disk-floor"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    fw = lambda name: os.path.join(args.firmware, name)
    vmms = ["floor", "swiftvmm"] + (["qemu"] if QEMU else [])
    results = {v: {} for v in vmms}

    for v in vmms:
        small = median_time(command(v, args, fw("exitloop-1000.bin")), args.repeats)
        large = median_time(command(v, args, fw("exitloop-20000.bin")), args.repeats)
        results[v]["exit_round_trip_us"] = (large - small) / 19000 * 1e6
        results[v]["exec_to_exit_ms"] = median_time(command(v, args, fw("hello.bin")), args.repeats) * 1e3
        results[v]["peak_rss_mib"] = statistics.median(
            peak_rss_kib(command(v, args, fw("hello.bin"))) for _ in range(3)) / 1024

    for v in ("floor", "swiftvmm"):
        env = dict(os.environ, FLOOR_EXIT_STATS="1")
        cmd = command(v, args, fw("exitloop-20000.bin"))
        if v == "swiftvmm":
            cmd = cmd + ["-exit-stats"]
        medians, p99s, first_io = [], [], []
        for _ in range(args.repeats):
            _, err, start_ns, _ = run(cmd, env=env)
            s = exit_stats(err)
            if not s:
                sys.exit(f"bench: no exit-stats line from {v}: {err.strip()}")
            medians.append(s["median_ns"])
            p99s.append(s["p99_ns"])
            first_io.append((s["first_io_ns"] - start_ns) / 1e6)
        results[v]["handling_median_ns"] = statistics.median(medians)
        results[v]["handling_p99_ns"] = statistics.median(p99s)
        results[v]["exec_to_first_io_ms"] = statistics.median(first_io)

    rows = [
        ("port-I/O exit round trip (ring 3), us", "exit_round_trip_us", "{:.1f}"),
        ("VMM handling per exit, median ns", "handling_median_ns", "{:.0f}"),
        ("VMM handling per exit, p99 ns", "handling_p99_ns", "{:.0f}"),
        ("exec to first guest port write, ms", "exec_to_first_io_ms", "{:.2f}"),
        ("exec to exit (real-mode hello), ms", "exec_to_exit_ms", "{:.1f}"),
        ("peak RSS (128 MiB guest), MiB", "peak_rss_mib", "{:.1f}"),
    ]
    header = f"{'measure':<42}" + "".join(f"{v:>12}" for v in vmms) + f"{'swiftvmm/floor':>16}"
    if QEMU:
        header += f"{'qemu/floor':>12}"
    print(header)
    for title, key, fmt in rows:
        line = f"{title:<42}"
        for v in vmms:
            value = results[v].get(key)
            line += f"{(fmt.format(value) if value is not None else '-'):>12}"
        floor = results["floor"].get(key)
        for v in ["swiftvmm"] + (["qemu"] if QEMU else []):
            value = results[v].get(key)
            width = 16 if v == "swiftvmm" else 12
            line += f"{(f'{value / floor:.2f}x' if value is not None and floor else '-'):>{width}}"
        print(line)
    disk = virtio_blk(args, fw)
    print()
    header = f"{'virtio-blk (requests/s, MB/s)':<34}{'host pread/pwrite':>20}{'swiftvmm':>20}{'qemu':>20}"
    print(header)
    for name, size in DISK_MODES.values():
        row = disk[name]
        line = f"{name:<34}"
        for who in ("host", "swiftvmm", "qemu"):
            v = row.get(who)
            line += f"{(f'{v:,.0f} / {v * size / 1e6:,.0f}' if v else '-'):>20}"
        print(line)
    results["virtio_blk"] = disk
    print()
    net = netbench.virtio_net(args.swiftvmm, QEMU, args.firmware, args.repeats)
    netbench.print_table(net)
    results["virtio_net"] = net
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "repeats": args.repeats, "results": results}, f, indent=2)
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
