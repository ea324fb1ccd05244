"""virtio-net figures for make bench: guest -> host and host -> guest frames/s
and MB/s through a tap, swiftvmm beside QEMU, with the same firmware driver
(Firmware/virtio/net-test.c, BENCH_MODE builds) polling from guest ring 3.

Set-up: a network namespace of its own with a tap (10.77.0.1/30, the guest is
10.77.0.2 with a permanent neighbour entry, so the host never ARPs during a
run); nothing leaves the namespace.

guest -> host: the guest sends 200,000 UDP frames of 60 or 1514 bytes to
  10.77.0.1:9, 16 in flight, one notify per refill. The tap's rx_packets
  counter says how many reached the host; the time runs from the guest's
  "tx start" line to its "tx done" line.
host -> guest: a sender in the namespace sends UDP datagrams to the guest as
  fast as it can (what the guest cannot take, the tap's queue drops), then end
  markers; the guest counts what it received. The time runs from the first
  send to the guest's report.
"""
import os
import statistics
import subprocess
import time
import uuid

GUEST_MAC = "52:54:00:12:34:56"
RX_FRAMES = 200_000
SIZES = (60, 1514)

SENDER = r"""
import socket, sys, time
size, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = bytes(size - 42)
print(time.monotonic_ns(), flush=True)
for _ in range(count):
    try:
        s.sendto(payload, ("10.77.0.2", 5001))
    except OSError:
        pass
while True:
    s.sendto(b"end", ("10.77.0.2", 5002))
    time.sleep(0.01)
"""


class Namespace:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.name, self.tap = f"svbench-{tag}", f"svb{tag}"
        self.sh("ip", "netns", "add", self.name, netns=False)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
                    ["ip", "addr", "add", "10.77.0.1/30", "dev", self.tap], ["ip", "link", "set", self.tap, "up"],
                    ["ip", "neigh", "replace", "10.77.0.2", "lladdr", GUEST_MAC, "dev", self.tap, "nud", "permanent"]):
            self.sh(*cmd)

    def sh(self, *cmd, netns=True):
        full = (["ip", "netns", "exec", self.name] if netns else []) + list(cmd)
        return subprocess.run(full, check=True, capture_output=True, text=True).stdout

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def counter(self, name):
        return int(self.sh("cat", f"/sys/class/net/{self.tap}/statistics/{name}"))

    def remove(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def vm_command(vmm, swiftvmm, qemu, ns, image):
    tap = f"tap,id=n0,ifname={ns.tap},script=no,downscript=no,vhost=off"
    debug_exit = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if vmm == "swiftvmm":
        return ns.prefix() + [swiftvmm, "-bios", image, "-no-reboot", "-netdev", tap,
                              "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}"] + debug_exit
    return ns.prefix() + [qemu, "-enable-kvm", "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
                          "-bios", image, "-netdev", tap,
                          "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC},romfile="] + debug_exit


def lines_until(proc, marker, timeout=120):
    """Reads the VM's serial output until a line starts with `marker`; returns (line, monotonic ns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the VM ended before '{marker}'")
        if line.startswith(marker):
            return line.strip(), time.monotonic_ns()
    raise RuntimeError(f"no '{marker}' in {timeout} s")


def guest_to_host(cmd, ns, size):
    before = ns.counter("rx_packets")
    vm = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        _, start = lines_until(vm, "virtio-net-bench: tx start")
        _, end = lines_until(vm, "virtio-net-bench: tx done")
        vm.wait(30)
    finally:
        vm.kill()
    delivered = ns.counter("rx_packets") - before
    frames_per_s = delivered / ((end - start) / 1e9)
    return frames_per_s, frames_per_s * size / 1e6


def host_to_guest(cmd, ns, size):
    vm = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    sender = None
    try:
        lines_until(vm, "virtio-net-bench: rx ready")
        sender = subprocess.Popen(ns.prefix() + ["python3", "-c", SENDER, str(size), str(RX_FRAMES)],
                                  stdout=subprocess.PIPE, text=True)
        start = int(sender.stdout.readline())
        line, end = lines_until(vm, "virtio-net-bench: rx frames")
        vm.wait(30)
    finally:
        vm.kill()
        if sender:
            sender.kill()
            sender.wait()
    frames = int(line.split()[3])
    frames_per_s = frames / ((end - start) / 1e9)
    return frames_per_s, frames_per_s * size / 1e6, frames


def virtio_net(swiftvmm, qemu, firmware, repeats):
    """{direction/size: {vmm: (frames/s, MB/s)}}, medians of `repeats` runs."""
    ns = Namespace()
    out = {}
    try:
        for size in SIZES:
            for direction in ("guest -> host", "host -> guest"):
                row = {}
                for vmm in ["swiftvmm"] + (["qemu"] if qemu else []):
                    samples = []
                    for _ in range(repeats):
                        if direction == "guest -> host":
                            image = os.path.join(firmware, f"netbench-tx-{size}.bin")
                            samples.append(guest_to_host(vm_command(vmm, swiftvmm, qemu, ns, image), ns, size))
                        else:
                            image = os.path.join(firmware, "netbench-rx.bin")
                            samples.append(host_to_guest(vm_command(vmm, swiftvmm, qemu, ns, image), ns, size)[:2])
                    pps = statistics.median(s[0] for s in samples)
                    row[vmm] = {"frames_per_s": pps, "mb_per_s": pps * size / 1e6}
                out[f"{direction}, {size}-byte frames"] = row
    finally:
        ns.remove()
    return out


def print_table(net):
    print(f"{'virtio-net over a tap (frames/s, MB/s)':<44}{'swiftvmm':>22}{'qemu':>22}")
    for name, row in net.items():
        line = f"{name:<44}"
        for vmm in ("swiftvmm", "qemu"):
            r = row.get(vmm)
            cell = "{:,.0f} / {:,.1f}".format(r["frames_per_s"], r["mb_per_s"]) if r else "-"
            line += f"{cell:>22}"
        print(line)
