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
