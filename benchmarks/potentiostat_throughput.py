"""Data points per second through each potentiostat driver, against a raw-socket read.

A 10 000-point chronoamperometry (1 ms interval, 10 s of simulated time) runs through each driver
against its twin at time scale 0 on loopback, twice: with the twin computing the physics (the
shared electrochemistry model, as in a campaign) and with the twin replaying one precomputed
answer (so the time is the driver, the twin's protocol handling and the wire). The bytes the
twin sent are recorded and served again by a bare TCP server to a bare socket loop: the ratio of
the replay time to that raw read is what protocol handling costs over moving the same bytes.

Run: ``.venv/bin/python benchmarks/potentiostat_throughput.py`` (prints a Markdown table).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from labctl.devices.potentiostat.techniques import CA
from labctl.units import ureg

POINTS = 10_000
REPEATS = 5


class _Recording:
    """A twin session that keeps a copy of every byte it sends."""

    def __init__(self, inner: Any, sink: list[bytes]) -> None:
        self.inner = inner
        self.sink = sink

    def feed(self, data: bytes) -> Iterable[bytes]:
        for chunk in self.inner.feed(data):
            self.sink.append(chunk)
            yield chunk


def _raw_read_seconds(payload: bytes) -> float:
    """Seconds for a bare socket loop to receive ``payload`` from a bare server on loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(16)
            connection.sendall(payload)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"go")
        received = 0
        while received < len(payload):
            chunk = client.recv(65536)
            if not chunk:
                break
            received += len(chunk)
    elapsed = time.perf_counter() - started
    server.join()
    listener.close()
    return elapsed


def _replaying() -> Callable[..., dict[str, Any]]:
    """A stand-in for the model that answers every technique with one precomputed CA."""
    import numpy as np

    from labctl.simulators.electrochem import CellState, respond

    answer = respond(TECHNIQUE.as_si(), CellState(), np.random.default_rng(0))

    def replay(technique: Any, state: Any, rng: Any) -> dict[str, Any]:
        del technique, state, rng
        return answer

    return replay


def _scpi(replay: bool) -> tuple[Any, Any]:
    from labctl.devices.potentiostat.scpi import ScpiSmuDriver
    from labctl.simulators.scpi_smu.cell import ResponseCell
    from labctl.simulators.scpi_smu.twin import ScpiSmuTwin

    cell = ResponseCell(_replaying(), lambda: None) if replay else None
    twin = ScpiSmuTwin(cell, seed=1)
    return twin, lambda address: ScpiSmuDriver(address, device="smu", timeout=5.0)


def _methodscript(replay: bool) -> tuple[Any, Any]:
    from labctl.devices.potentiostat.methodscript import MethodScriptDriver
    from labctl.simulators.methodscript.twin import MethodScriptTwin

    twin = MethodScriptTwin(_replaying() if replay else None, seed=1)
    return twin, lambda address: MethodScriptDriver(address, device="emstat", timeout=5.0)


TECHNIQUE = CA(
    potential=ureg.Quantity(0.1, "V"),
    duration=ureg.Quantity(POINTS * 1e-3, "s"),
    interval=ureg.Quantity(1e-3, "s"),
)


def measure(make: Callable[[], tuple[Any, Any]]) -> dict[str, float]:
    """Median driver time, bytes on the wire and raw-read time for the 10 000-point CA."""
    technique = TECHNIQUE
    twin, driver_for = make()
    sent: list[bytes] = []
    inner_factory = twin.server.session_factory
    twin.server.session_factory = lambda: _Recording(inner_factory(), sent)
    twin.start()
    driver = driver_for(twin.address)
    driver.open()
    try:
        times = []
        for _ in range(REPEATS):
            sent.clear()
            started = time.perf_counter()
            data = driver.run(technique, stop=threading.Event())
            times.append(time.perf_counter() - started)
            assert len(data["time"]) == POINTS, len(data["time"])
        payload = b"".join(sent)
    finally:
        driver.close()
        twin.stop()
    raw = statistics.median(_raw_read_seconds(payload) for _ in range(REPEATS))
    driver_time = statistics.median(times)
    return {
        "seconds": driver_time,
        "points_per_second": POINTS / driver_time,
        "bytes": float(len(payload)),
        "raw_seconds": raw,
        "ratio": driver_time / raw,
    }


def main() -> None:
    """Print the table for benchmarks/README.md."""
    print(
        "| driver | twin | s per 10 000-point CA | points/s | bytes | raw read, s | replay / raw |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, make in (("methodscript", _methodscript), ("scpi", _scpi)):
        for replay in (False, True):
            result = measure(lambda make=make, replay=replay: make(replay))
            twin = "replays one answer" if replay else "computes the physics"
            ratio = f"{result['ratio']:.0f}×" if replay else ""
            print(
                f"| {name} | {twin} | {result['seconds']:.3f} | "
                f"{result['points_per_second']:,.0f} | {result['bytes']:,.0f} | "
                f"{result['raw_seconds']:.4f} | {ratio} |"
            )


if __name__ == "__main__":
    main()
