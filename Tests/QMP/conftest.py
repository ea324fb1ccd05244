"""Fixtures for the QMP tests: start the built swiftvmm with a QMP socket.

make test sets SWIFTVMM and FIRMWARE_DIR; these tests drive swiftvmm with
qemu.qmp (QEMU's own Python client, from PyPI) and with raw sockets.
"""
import os
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWIFTVMM = os.environ.get("SWIFTVMM", os.path.join(ROOT, ".build/release/swiftvmm"))
FIRMWARE = os.environ.get("FIRMWARE_DIR", os.path.join(ROOT, "Firmware/build"))

if not os.path.exists("/dev/kvm"):
    pytest.skip("skipped: no /dev/kvm", allow_module_level=True)


def wait_for(predicate, timeout=10):
    """Polls `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class VM:
    """A running swiftvmm with one QMP unix socket and serial output in a file."""

    def __init__(self, tmp_path, firmware="ticker.bin", extra=(), qmp_options="server=on,wait=off"):
        self.socket = str(tmp_path / "qmp.sock")
        self.serial = str(tmp_path / "serial.txt")
        self.args = [SWIFTVMM, "-bios", os.path.join(FIRMWARE, firmware), "-serial", "file:" + self.serial,
                     "-qmp", f"unix:{self.socket},{qmp_options}"] + list(extra)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("swiftvmm did not create its QMP socket: "
                                   + self.proc.stderr.read().decode(errors="replace"))
            time.sleep(0.01)

    def serial_text(self):
        try:
            with open(self.serial) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vm_factory(tmp_path):
    vms = []

    def make(**kw):
        vm = VM(tmp_path, **kw)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.stop()


class Network:
    """A network namespace with a tap in it (10.77.0.1/30; the firmware
    network guest is 10.77.0.2): nothing leaves it. Removed afterwards."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}{os.urandom(2).hex()}"
        self.namespace, self.tap = f"svq-{tag}", f"svq{tag}"
        subprocess.run(["ip", "netns", "add", self.namespace], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
                    ["ip", "addr", "add", "10.77.0.1/30", "dev", self.tap], ["ip", "link", "set", self.tap, "up"]):
            self.run(cmd, check=True)

    def run(self, cmd, check=False):
        return subprocess.run(["ip", "netns", "exec", self.namespace] + cmd, capture_output=True, text=True,
                              check=check)

    def remove(self):
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


@pytest.fixture
def network():
    n = Network()
    yield n
    n.remove()
