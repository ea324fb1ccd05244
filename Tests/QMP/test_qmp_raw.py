"""Bad QMP input over a raw socket: the error QEMU gives, and the session
(and the VM) carry on."""
import json
import socket
import time

import pytest


class Raw:
    def __init__(self, path, negotiate=True):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(10)
        self.f = self.s.makefile("rb")
        greeting = self.line()
        assert "QMP" in greeting
        if negotiate:
            self.send(b'{"execute":"qmp_capabilities"}')
            assert self.line() == {"return": {}}

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        raw = self.f.readline()
        assert raw.endswith(b"\r\n"), f"not a CRLF line: {raw!r}"
        return json.loads(raw)

    def reply(self):
        """The next reply, skipping events."""
        while True:
            msg = self.line()
            if "event" not in msg:
                return msg

    def status(self):
        self.send(b'{"execute":"query-status"}')
        return self.reply()["return"]["status"]

    def close(self):
        self.s.close()


@pytest.fixture
def vm(vm_factory):
    return vm_factory()


@pytest.mark.parametrize("data, cls", [
    (b'{"execute": }', "GenericError"),                            # malformed JSON
    (b'{"execute": "query-status"', None),                         # (completed below)
    (b'[1, 2]', "GenericError"),                                   # not an object
    (b'"query-status"', "GenericError"),                           # a bare string
    (b'{"arguments": {}}', "GenericError"),                        # no execute
    (b'{"execute": ["stop"]}', "GenericError"),                    # execute not a string
    (b'{"execute": "query-status", "extra": 1}', "GenericError"),  # unknown member
    (b'{"execute": "human-monitor-command", "arguments": {"command-line": 5}}', "GenericError"),  # wrong type
    (b'{"execute": "stop", "arguments": {"now": true}}', "GenericError"),  # unexpected argument
    (b'{"execute": "no-such-command"}', "CommandNotFound"),
    (b'{"execute": "query-status\xff\xfe"}', "GenericError"),      # invalid UTF-8
    (b'{"execute": "query-\nstatus"}', "GenericError"),           # a raw newline in a string
    (b'{"execute": "sto\n', "GenericError"),                       # ... never closed: once swallowed all that came after
    (b'{"execute": "query-status\x01"}', "GenericError"),        # a control byte in a string
])
def test_bad_input_gets_an_error_and_the_session_goes_on(vm, data, cls):
    c = Raw(vm.socket)
    if cls is None:  # a command split across writes, no newline anywhere
        c.send(data)
        time.sleep(0.1)
        c.send(b"}")
        assert c.reply()["return"]["status"] == "running"
    else:
        c.send(data)
        r = c.reply()
        assert r["error"]["class"] == cls, r
        assert r["error"]["desc"]
        # A lexical error is followed, as in QEMU, by one error per stray
        # token until the lexer is back in step (at most a few here); then
        # commands work again.
        c.send(b'{"execute":"query-status"}')
        for _ in range(5):
            r = c.reply()
            if "return" in r:
                break
            assert r["error"]["class"] == "GenericError", r
        assert r["return"]["status"] == "running"
    assert c.status() == "running"


def test_one_mebibyte_message(vm):
    c = Raw(vm.socket)
    big = b'{"execute": "query-status", "arguments": {"pad": "' + b"x" * (1 << 20) + b'"}}'
    c.send(big)
    r = c.reply()
    assert r["error"]["class"] == "GenericError"
    assert c.status() == "running"


def test_two_commands_in_one_write_and_ids(vm):
    c = Raw(vm.socket)
    c.send(b'{"execute":"query-status","id":"a"}{"execute":"query-name","id":{"n":[1,2]}}')
    assert c.reply()["id"] == "a"
    assert c.reply()["id"] == {"n": [1, 2]}


def test_commands_before_negotiation(vm):
    c = Raw(vm.socket, negotiate=False)
    c.send(b'{"execute":"query-status"}')
    assert c.reply()["error"]["class"] == "CommandNotFound"
    c.send(b'{"execute":"qmp_capabilities"}')
    assert c.reply() == {"return": {}}
    c.send(b'{"execute":"qmp_capabilities"}')
    assert c.reply()["error"]["class"] == "CommandNotFound"
    assert c.status() == "running"


def test_disconnect_mid_message_does_not_affect_the_vm(vm):
    a = Raw(vm.socket)
    a.send(b'{"execute": "sto')
    a.close()
    b = Raw(vm.socket)
    assert b.status() == "running"
    time.sleep(0.2)
    assert vm.proc.poll() is None
    before = vm.serial_text().count("tick")
    time.sleep(0.5)
    assert vm.serial_text().count("tick") > before


def test_client_limit(vm_factory):
    """-qmp-max-clients: connections past the limit are closed without a
    greeting; once a client leaves, a new one is served."""
    vm = vm_factory(extra=["-qmp-max-clients", "2"])
    a, b = Raw(vm.socket), Raw(vm.socket)
    over = socket.socket(socket.AF_UNIX)
    over.connect(vm.socket)
    over.settimeout(5)
    assert over.recv(100) == b""
    over.close()
    assert a.status() == "running" and b.status() == "running"
    a.f.close()  # the socket closes with its last reference
    a.close()
    time.sleep(0.2)
    c = Raw(vm.socket)
    assert c.status() == "running"
