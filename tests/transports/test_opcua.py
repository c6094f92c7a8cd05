"""The OPC UA transport against the environment twin: reads, faults, timeouts, recovery."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.errors import DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.transports.opcua import OpcUaTransport

O2 = "ns=2;s=glovebox.o2"


@pytest.fixture
def transport(environment_twin: Any) -> Iterator[OpcUaTransport]:
    link = OpcUaTransport(
        environment_twin.address, device="glovebox", connect_timeout=2.0, read_timeout=0.5
    )
    yield link
    link.close()


def test_reads_values_of_several_nodes(transport: OpcUaTransport) -> None:
    o2, temperature = transport.read_values([O2, "ns=2;s=glovebox.temperature"])
    assert 0.0 <= o2 < 2.0
    assert 20.0 < temperature < 30.0


def test_unknown_node_is_a_protocol_error_naming_it(transport: OpcUaTransport) -> None:
    with pytest.raises(ProtocolError, match=r"ns=2;s=glovebox\.co2.*BadNodeIdUnknown"):
        transport.read_values(["ns=2;s=glovebox.co2"])
    assert transport.read_values([O2])  # the session survives a refused read


def test_silent_twin_times_out_within_the_read_timeout(
    transport: OpcUaTransport, environment_twin: Any
) -> None:
    transport.connect()
    environment_twin.freeze()
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        transport.read_values([O2])
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 1.0
    message = str(caught.value)
    assert "glovebox" in message
    assert environment_twin.address in message
    assert "no reply within 0.5 s" in message
    environment_twin.thaw()
    assert transport.read_values([O2])  # reconnects once, then reads


def test_stopped_twin_fails_fast_and_recovers_after_restart(
    transport: OpcUaTransport, environment_twin: Any
) -> None:
    transport.read_values([O2])
    environment_twin.stop()
    started = time.monotonic()
    with pytest.raises(DeviceConnectionError) as caught:
        transport.read_values([O2])
    assert time.monotonic() - started < 2.5
    assert environment_twin.address in str(caught.value)
    environment_twin.start()
    assert transport.read_values([O2])


def test_twin_stopped_while_a_read_is_pending(
    transport: OpcUaTransport, environment_twin: Any
) -> None:
    transport.connect()
    environment_twin.freeze()
    outcome: list[BaseException | list[Any]] = []

    def read() -> None:
        try:
            outcome.append(transport.read_values([O2]))
        except Exception as error:
            outcome.append(error)

    reader = threading.Thread(target=read)
    started = time.monotonic()
    reader.start()
    time.sleep(0.1)
    environment_twin.stop()
    reader.join(timeout=5)
    assert not reader.is_alive(), "the read hung"
    assert time.monotonic() - started < 0.5 + 3.0
    assert len(outcome) == 1
    assert isinstance(outcome[0], DeviceTimeout | DeviceConnectionError)
    environment_twin.start()
    assert transport.read_values([O2])


def test_server_that_accepts_but_never_speaks_times_out_on_connect() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    link = OpcUaTransport(f"opc.tcp://127.0.0.1:{port}", device="mute", connect_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match=r"mute at opc\.tcp://127\.0\.0\.1"):
            link.connect()
        assert time.monotonic() - started < 0.5 + 2.0
    finally:
        link.close()
        listener.close()


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = OpcUaTransport(f"opc.tcp://127.0.0.1:{port}", device="gone", connect_timeout=1.0)
    with pytest.raises(DeviceConnectionError, match="cannot connect"):
        link.connect()


def test_refuses_an_address_that_is_not_opc_ua() -> None:
    with pytest.raises(DeviceConnectionError, match=r"expected opc\.tcp://host:port"):
        OpcUaTransport("socket://127.0.0.1:5025", device="glovebox")
