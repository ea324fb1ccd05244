"""swiftvmm driven by qemu.qmp, QEMU's own QMP client, unmodified."""
import os
import signal
import socket
import subprocess
import time

import pytest
from qemu.qmp import ExecuteError
from qemu.qmp.legacy import QEMUMonitorProtocol

from conftest import FIRMWARE, SWIFTVMM, wait_for


_clients = []


@pytest.fixture(autouse=True)
def close_clients():
    yield
    while _clients:
        close_after_quit(_clients.pop())


def client(path):
    q = QEMUMonitorProtocol(path)
    q.connect(negotiate=True)
    q.settimeout(10)
    _clients.append(q)
    return q


def close_after_quit(q):
    """After 'quit' the server closes the stream; qemu.qmp reports that EOF
    on close, which QEMU's own test harness (machine.py) expects too."""
    try:
        q.close()
    except (EOFError, ConnectionResetError):
        pass


def event(q, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        e = q.pull_event(wait=max(0.01, deadline - time.monotonic()))
        if e and e["event"] == name:
            return e
    raise AssertionError(f"no {name} event")


def ticks(vm):
    return vm.serial_text().count("swiftvmm-tick:")


def test_every_command(vm_factory, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    vm = vm_factory(extra=["-name", "qmp-test", "-smp", "2",
                           "-drive", f"file={disk},format=raw,if=virtio,readonly=on"])
    q = client(vm.socket)
    assert q.cmd("query-version")["package"].startswith("swiftvmm ")
    assert q.cmd("query-status") == {"status": "running", "singlestep": False, "running": True}
    names = {c["name"] for c in q.cmd("query-commands")}
    assert {"qmp_capabilities", "query-version", "query-status", "query-commands", "stop", "cont", "system_reset",
            "system_powerdown", "quit", "query-cpus-fast", "query-block", "query-name",
            "human-monitor-command"} <= names
    assert q.cmd("query-name") == {"name": "qmp-test"}
    cpus = q.cmd("query-cpus-fast")
    assert [c["cpu-index"] for c in cpus] == [0, 1]
    for c in cpus:  # the thread ids are the vCPU threads of this process
        assert os.path.exists(f"/proc/{vm.proc.pid}/task/{c['thread-id']}")
        assert c["target"] == "x86_64"
    block = q.cmd("query-block")
    assert [b["device"] for b in block] == ["virtio0"]
    assert block[0]["inserted"]["file"] == str(disk) and block[0]["inserted"]["ro"] is True
    assert q.cmd("human-monitor-command", **{"command-line": "info status"}) == "VM status: running\r\n"
    regs = q.cmd("human-monitor-command", **{"command-line": "info registers"})
    assert "CPU#0" in regs and "RIP=" in regs and "CPU#1" in regs
    assert q.cmd("system_powerdown") == {}
    assert event(q, "POWERDOWN")
    q.cmd("system_reset")
    e = event(q, "RESET")
    assert e["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    assert set(e["timestamp"]) == {"seconds", "microseconds"}
    q.cmd("quit")
    assert event(q, "SHUTDOWN")["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert vm.wait() == 0
    assert not os.path.exists(vm.socket)


def test_stop_really_stops_and_cont_resumes(vm_factory):
    vm = vm_factory()
    q = client(vm.socket)
    assert wait_for(lambda: ticks(vm) >= 5), "the guest never ticked"
    q.cmd("stop")
    assert event(q, "STOP")
    assert q.cmd("query-status")["status"] == "paused"
    frozen = ticks(vm)
    time.sleep(1.0)
    assert ticks(vm) == frozen, "serial output kept advancing while stopped"
    q.cmd("cont")
    assert event(q, "RESUME")
    assert q.cmd("query-status")["status"] == "running"
    assert wait_for(lambda: ticks(vm) > frozen + 5), "the guest did not resume"
    q.cmd("quit")
    assert vm.wait() == 0


def test_stop_event_comes_before_the_reply(vm_factory):
    vm = vm_factory()
    s = socket.socket(socket.AF_UNIX)
    s.connect(vm.socket)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'{"execute":"qmp_capabilities"}')
    assert f.readline() == b'{"return": {}}\r\n'
    s.sendall(b'{"execute":"stop","id":7}')
    first = f.readline()
    second = f.readline()
    assert b'"event": "STOP"' in first
    assert second == b'{"return": {}, "id": 7}\r\n'
    s.sendall(b'{"execute":"quit","id":8}')
    lines = [f.readline(), f.readline()]
    assert b'"event": "SHUTDOWN"' in lines[0]
    assert lines[1] == b'{"return": {}, "id": 8}\r\n'
    assert vm.wait() == 0


def test_prelaunch_with_S(vm_factory):
    vm = vm_factory(extra=["-S"])
    q = client(vm.socket)
    assert q.cmd("query-status") == {"status": "prelaunch", "singlestep": False, "running": False}
    time.sleep(0.3)
    assert ticks(vm) == 0
    assert vm.serial_text() == ""
    q.cmd("cont")
    assert event(q, "RESUME")
    assert wait_for(lambda: ticks(vm) > 0)
    q.cmd("quit")
    assert vm.wait() == 0


def test_guest_reset_with_no_reboot_is_a_shutdown(vm_factory):
    vm = vm_factory(firmware="demo.bin", extra=["-S", "-no-reboot"])
    q = client(vm.socket)
    q.cmd("cont")
    e = event(q, "SHUTDOWN")
    assert e["data"] == {"guest": True, "reason": "guest-reset"}
    assert vm.wait() == 0


def test_guest_reset_event(vm_factory):
    vm = vm_factory(firmware="demo.bin", extra=["-S"])
    q = client(vm.socket)
    q.cmd("cont")
    assert event(q, "RESET")["data"] == {"guest": True, "reason": "guest-reset"}
    q.cmd("quit")
    assert vm.wait() == 0


def test_internal_error_holds_the_vm(vm_factory):
    vm = vm_factory(firmware="fault.bin", extra=["-S", "-no-reboot"])
    q = client(vm.socket)
    q.cmd("cont")
    if not os.path.exists("/sys/module/kvm_pvm"):
        pytest.skip("only kvm_pvm fails to emulate popcnt; VT-x triple-faults at the int3 after it")
    assert event(q, "STOP")
    assert q.cmd("query-status")["status"] == "internal-error"
    with pytest.raises(ExecuteError):
        q.cmd("cont")
    assert "RIP=" in q.cmd("human-monitor-command", **{"command-line": "info registers"})
    q.cmd("quit")
    assert vm.wait() == 0


def test_sigterm_is_a_shutdown_event(vm_factory):
    vm = vm_factory()
    q = client(vm.socket)
    vm.proc.terminate()
    assert event(q, "SHUTDOWN")["data"] == {"guest": False, "reason": "host-signal"}
    assert vm.wait() == 0
    assert not os.path.exists(vm.socket)


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_with_a_disk_is_a_clean_stop(vm_factory, tmp_path, signo):
    """A termination signal with a disk attached (its I/O thread once took
    the signal's default action: exit 143, no event, the socket left)."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    vm = vm_factory(extra=["-S", "-drive", f"file={disk},format=raw,if=virtio"])
    q = client(vm.socket)
    vm.proc.send_signal(signo)
    assert event(q, "SHUTDOWN")["data"] == {"guest": False, "reason": "host-signal"}
    assert vm.wait() == 0
    assert f"terminating on signal {int(signo)}" in vm.proc.stderr.read().decode()
    assert not os.path.exists(vm.socket)


def test_tcp_and_two_endpoints(vm_factory, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vm = vm_factory(extra=["-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"])
    a = client(vm.socket)
    b = client(("127.0.0.1", port))
    a.cmd("stop")
    assert event(a, "STOP") and event(b, "STOP")  # events go to every client
    assert b.cmd("query-status")["status"] == "paused"
    b.cmd("quit")
    assert vm.wait() == 0


def test_socket_file_mode_and_stale_file(tmp_path):
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)
    dead.close()  # a socket file nobody listens on: stale
    args = [SWIFTVMM, "-bios", os.path.join(FIRMWARE, "ticker.bin"), "-serial", "none",
            "-qmp", f"unix:{path},server,nowait"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        q = None
        for _ in range(200):
            try:
                q = client(path)
                break
            except Exception:  # qemu.qmp wraps the refusal in ConnectError
                time.sleep(0.02)
        assert q is not None, "the stale socket file was not replaced"
        assert os.stat(path).st_mode & 0o777 == 0o600
        # A second VMM on the live socket is refused with one line.
        r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert "in use by a running process" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        q.cmd("quit")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_wait_on_starts_the_guest_only_after_a_client(vm_factory):
    vm = vm_factory(qmp_options="server=on,wait=on")
    time.sleep(0.5)
    assert vm.serial_text() == ""
    q = client(vm.socket)
    assert wait_for(lambda: ticks(vm) > 0)
    q.cmd("quit")
    assert vm.wait() == 0


def test_network_card_in_query_rx_filter(vm_factory):
    """A card on a tap swiftvmm creates (nobody configures it: no traffic);
    the tap lives as long as the VM."""
    tap = f"svq{os.getpid() % 100000}"
    vm = vm_factory(extra=["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                           "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:42,id=card0"])
    q = client(vm.socket)
    assert "query-rx-filter" in {c["name"] for c in q.cmd("query-commands")}
    [card] = q.cmd("query-rx-filter")
    assert card["name"] == "card0" and card["main-mac"] == "52:54:00:00:00:42"
    assert card["promiscuous"] is True and card["vlan"] == "all" and len(card["vlan-table"]) == 4096
    assert q.cmd("query-rx-filter", name="card0") == [card]
    with pytest.raises(ExecuteError, match="invalid net client name: nope"):
        q.cmd("query-rx-filter", name="nope")
    info = q.cmd("human-monitor-command", **{"command-line": "info network"})
    assert info.startswith("card0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:00:00:42\r\n")
    assert f"ifname={tap}" in info
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode == 0
    q.cmd("quit")
    assert vm.wait() == 0
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode != 0
