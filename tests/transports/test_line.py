"""Serial (over socket://) and in-memory transports against a served twin session, with faults."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator

import pytest
import serial

from labctl.errors import DeviceConnectionError, DeviceTimeout
from labctl.protocols import TwinSession
from labctl.simulators.serving import GARBAGE, TcpTwinServer
from labctl.transports.memory import MemoryTransport
from labctl.transports.serial import SerialTransport


class Repeater:
    """A toy instrument: ``N <k>`` answers k numbered lines at once; anything else echoes."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> Iterable[bytes]:
        self._pending += data
        while b"\n" in self._pending:
            line, self._pending = self._pending.split(b"\n", 1)
            if line.startswith(b"N "):
                count = int(line[2:])
                yield b"".join(b"line %d\n" % index for index in range(count))
            else:
                yield line.upper() + b"\n"


@pytest.fixture
def server() -> Iterator[TcpTwinServer]:
    twin = TcpTwinServer(Repeater, name="repeater")
    twin.start()
    yield twin
    twin.stop()


@pytest.fixture
def serial_link(server: TcpTwinServer) -> Iterator[SerialTransport]:
    link = SerialTransport(f"socket://127.0.0.1:{server.port}", device="repeater", timeout=0.5)
    yield link
    link.close()


def test_the_session_protocol_is_satisfied() -> None:
    assert isinstance(Repeater(), TwinSession)


def test_query_round_trip(serial_link: SerialTransport) -> None:
    assert serial_link.query(b"hello\n") == b"HELLO"


def test_many_lines_are_read_in_bulk_and_kept_for_later(serial_link: SerialTransport) -> None:
    serial_link.write(b"N 2000\n")
    lines = [serial_link.read_line() for _ in range(2000)]
    assert lines[0] == b"line 0"
    assert lines[-1] == b"line 1999"


def test_silence_times_out_naming_what_was_sent(
    serial_link: SerialTransport, server: TcpTwinServer
) -> None:
    serial_link.query(b"ping\n")
    server.inject("silence")
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        serial_link.query(b"status?\n")
    assert time.monotonic() - started < 0.5 + 0.5
    message = str(caught.value)
    assert "repeater at socket://127.0.0.1" in message
    assert "status?" in message
    assert "no complete reply within 0.5 s" in message
    server.inject(None)
    assert serial_link.query(b"again\n") == b"AGAIN"


def test_dropped_connection_is_a_connection_error_then_reconnects(
    serial_link: SerialTransport, server: TcpTwinServer
) -> None:
    serial_link.query(b"ping\n")
    server.inject("drop")
    with pytest.raises(DeviceConnectionError, match="connection lost"):
        serial_link.query(b"status?\n")
    assert not serial_link.is_open
    assert serial_link.query(b"back\n") == b"BACK"  # the next call opens a new connection


def test_a_late_thread_after_a_complete_send_is_not_a_failed_write(
    serial_link: SerialTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer descheduled past the timeout after its bytes left still wrote them.

    pyserial's own ``write`` reports "Write timeout" in that case.
    """
    serial_link.open()
    clock = iter(range(0, 1000, 10))  # every reading of the clock is 10 s later than the last

    def jumpy() -> float:
        return float(next(clock))

    monkeypatch.setattr(serial.serialutil.Timeout, "TIME", staticmethod(jumpy))  # pyserial's own
    monkeypatch.setattr("labctl.transports.serial._clock", jumpy)
    serial_link.write(b"late\n")
    monkeypatch.undo()
    assert serial_link.read_line() == b"LATE"


def test_a_peer_that_never_reads_fails_the_write_naming_what_was_left() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    link = SerialTransport(f"socket://127.0.0.1:{port}", device="deaf", timeout=0.3)
    try:
        link.open()
        peer, _ = listener.accept()
        with pytest.raises(DeviceConnectionError) as caught:  # noqa: PT012 — until buffers fill
            for _ in range(200):  # fills both kernels' buffers (a few MiB on loopback)
                link.write(b"x" * 1_000_000)
        assert "deaf at socket://127.0.0.1" in str(caught.value)
        assert "bytes unsent after 0.3 s" in str(caught.value)
        peer.close()
    finally:
        link.close()
        listener.close()


def test_garbage_is_passed_up_for_the_driver_to_refuse(
    serial_link: SerialTransport, server: TcpTwinServer
) -> None:
    server.inject("garbage")
    serial_link.write(b"status?\n")
    first = serial_link.read_line()
    assert first == GARBAGE.split(b"\n")[0]


def test_nothing_listening_is_a_connection_error(server: TcpTwinServer) -> None:
    port = server.port
    server.stop()
    link = SerialTransport(f"socket://127.0.0.1:{port}", device="gone", timeout=0.5)
    with pytest.raises(DeviceConnectionError, match="cannot open"):
        link.open()


def test_server_restarts_on_the_same_port(server: TcpTwinServer) -> None:
    port = server.port
    server.stop()
    assert server.start() == port
    link = SerialTransport(f"socket://127.0.0.1:{port}", device="repeater", timeout=0.5)
    try:
        assert link.query(b"x\n") == b"X"
    finally:
        link.close()


def test_memory_transport_runs_the_same_session() -> None:
    link = MemoryTransport(Repeater(), device="repeater")
    assert link.query(b"abc\n") == b"ABC"
    link.write(b"N 3\n")
    assert [link.read_line() for _ in range(3)] == [b"line 0", b"line 1", b"line 2"]
    with pytest.raises(DeviceTimeout, match="memory://twin"):
        link.read_line()
    link.close()
    with pytest.raises(DeviceConnectionError, match="closed"):
        link._send(b"x\n")


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        SerialTransport("socket://127.0.0.1:1", device="x", timeout=0)
    with pytest.raises(ValueError, match="terminator"):
        MemoryTransport(Repeater(), device="x", terminator=b"")
