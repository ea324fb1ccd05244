"""QMP with a network card: `stop` stops the card with the vCPUs (frames wait
in the tap), `cont` lets them through. The firmware network guest serves ARP
and ping in a namespace of the test's own."""
import os
import subprocess

from qemu.qmp.legacy import QEMUMonitorProtocol

from conftest import FIRMWARE, SWIFTVMM, wait_for


def rx_frames(q):
    info = q.cmd("human-monitor-command", **{"command-line": "info network"})
    return int(info.split("rx ")[1].split()[0])


def test_stop_holds_the_network_and_cont_releases_it(network, tmp_path):
    sock, serial = str(tmp_path / "qmp.sock"), tmp_path / "serial.txt"
    vm = subprocess.Popen(["ip", "netns", "exec", network.namespace, SWIFTVMM,
                           "-bios", os.path.join(FIRMWARE, "virtio-net-test.bin"), "-serial", f"file:{serial}",
                           "-qmp", f"unix:{sock},server=on,wait=off",
                           "-netdev", f"tap,id=n0,ifname={network.tap},script=no,downscript=no",
                           "-device", "virtio-net-pci,netdev=n0",
                           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: serial.exists() and "serving" in serial.read_text(), timeout=30), vm.stderr
        q = QEMUMonitorProtocol(sock)
        q.connect(negotiate=True)
        q.settimeout(10)
        network.run(["ip", "neigh", "flush", "dev", network.tap], check=True)
        q.cmd("stop")
        before = rx_frames(q)
        # The host's ARP requests wait in the tap: no answer, nothing received.
        assert network.run(["ping", "-c", "1", "-W", "1", "10.77.0.2"]).returncode != 0
        assert rx_frames(q) == before
        assert "answered" not in serial.read_text()
        q.cmd("cont")
        # The guest serves until it has answered three pings and seen a UDP datagram.
        network.run(["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                     ".sendto(b'x', ('10.77.0.2', 7778))"], check=True)
        ping = network.run(["ping", "-c", "3", "-W", "5", "10.77.0.2"])
        assert ping.returncode == 0, ping.stdout
        assert vm.wait(30) == 1  # isa-debug-exit with 0 failures
        assert "virtio-net-test: done pass=13 fail=0" in serial.read_text()
        q.close()
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
