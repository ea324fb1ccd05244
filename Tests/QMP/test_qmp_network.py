"""QMP with a network card, on the firmware network guest serving ARP, ping
and UDP in a namespace of the test's own: `stop` stops the card with the
vCPUs (frames wait in the tap), `cont` lets them through; a hostile guest's
frames are dropped and counted while the card goes on."""
import os
import subprocess

from qemu.qmp.legacy import QEMUMonitorProtocol

from conftest import FIRMWARE, SWIFTVMM, wait_for


class ServingGuest:
    """swiftvmm in `network` running `firmware`, serial in a file, QMP
    connected once the guest serves."""

    def __init__(self, network, tmp_path, firmware, nic_args):
        self.network = network
        sock, self.serial = str(tmp_path / "qmp.sock"), tmp_path / "serial.txt"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", network.namespace, SWIFTVMM, "-bios", os.path.join(FIRMWARE, firmware),
             "-serial", f"file:{self.serial}", "-qmp", f"unix:{sock},server=on,wait=off",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] + nic_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: self.serial.exists() and "serving" in self.serial.read_text(), timeout=30)
        self.qmp = QEMUMonitorProtocol(sock)
        self.qmp.connect(negotiate=True)
        self.qmp.settimeout(10)

    def info_network(self):
        return self.qmp.cmd("human-monitor-command", **{"command-line": "info network"})

    def finish_conversation(self):
        """The host ARPs for the guest, sends it a datagram and pings it three
        times: the guest then reports and exits. Returns ping's status."""
        self.network.run(["ip", "neigh", "flush", "dev", self.network.tap], check=True)
        self.network.run(["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                          ".sendto(b'x', ('10.77.0.2', 7778))"], check=True)
        return self.network.run(["ping", "-c", "3", "-W", "5", "10.77.0.2"]).returncode

    def stop(self):
        try:
            self.qmp.close()
        except (EOFError, ConnectionResetError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rx_frames(guest):
    return int(guest.info_network().split("rx ")[1].split()[0])


def test_stop_holds_the_network_and_cont_releases_it(network, tmp_path):
    guest = ServingGuest(network, tmp_path, "virtio-net-test.bin",
                         ["-netdev", f"tap,id=n0,ifname={network.tap},script=no,downscript=no",
                          "-device", "virtio-net-pci,netdev=n0"])
    try:
        network.run(["ip", "neigh", "flush", "dev", network.tap], check=True)
        guest.qmp.cmd("stop")
        before = rx_frames(guest)
        # The host's ARP requests wait in the tap: no answer, nothing received.
        assert network.run(["ping", "-c", "1", "-W", "1", "10.77.0.2"]).returncode != 0
        assert rx_frames(guest) == before
        assert "answered" not in guest.serial.read_text()
        guest.qmp.cmd("cont")
        assert guest.finish_conversation() == 0
        assert guest.proc.wait(30) == 1  # isa-debug-exit with 0 failures
        assert "virtio-net-test: done pass=13 fail=0" in guest.serial.read_text()
    finally:
        guest.stop()


def test_hostile_guest_frames_are_dropped_and_counted(network, tmp_path):
    """virtio-net-hostile.bin hands the card a TX chain over header + 64 KiB +
    Ethernet header, one under the header, and an 8-byte receive buffer: the
    card drops and counts them (HMP info network) and goes on serving."""
    guest = ServingGuest(network, tmp_path, "virtio-net-hostile.bin", ["-nic", f"tap,ifname={network.tap}"])
    try:
        info = guest.info_network()
        counters = info.splitlines()[-1].split()
        assert counters[counters.index("rx") + 5] == "1" and counters[counters.index("tx") + 5] == "2", info
        assert guest.finish_conversation() == 0
        assert guest.proc.wait(30) == 1
        text = guest.serial.read_text()
        assert "oversize and short TX chains returned ok" in text
        assert "receive buffer too small for the header returned empty ok" in text
        assert "virtio-net-test: done pass=15 fail=0" in text, text
    finally:
        guest.stop()
