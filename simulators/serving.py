"""Serve twin sessions on loopback TCP, one session per connection, with injectable faults.

A driver reaches a served twin through its real transport (``socket://127.0.0.1:PORT`` for
pyserial, ``TCPIP::127.0.0.1::PORT::SOCKET`` for VISA). Faults make the wire misbehave the way
real instruments and cables do, so drivers prove they fail clearly and recover:

* ``drop``: close the connection when the next request arrives;
* ``silence``: swallow requests and never answer (until cleared);
* ``garbage``: answer the next request with bytes that follow no protocol.

Instrument-level faults (error replies, refused requests) belong to each twin's session. A
session that sends on its own (a running script streaming data) gets a sender through its
``attach(send)`` method; the sender obeys the same faults. :class:`ServedTwin` is the lifecycle
every such twin shares; :class:`InstrumentTwin` adds what the twins of one simulated instrument
object with an ``instrument_error`` fault share.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, Protocol, Self, TypeVar

from labctl.protocols import TwinSession

__all__ = [
    "GARBAGE",
    "Fault",
    "FaultableInstrument",
    "InstrumentTwin",
    "ServedTwin",
    "TcpTwinServer",
]

Fault = Literal["drop", "silence", "garbage"]

GARBAGE = b"\x00\xff\xfe#!garbage\x07\r\n\x8a\x00"
"""What a ``garbage`` fault sends: NULs, high bytes, a bell and broken line ends."""


class TcpTwinServer:
    """A loopback TCP server handing each connection to a new twin session.

    Args:
        session_factory: makes the session for a new connection.
        name: for thread names and messages.
    """

    def __init__(self, session_factory: Callable[[], TwinSession], name: str = "twin") -> None:
        self.session_factory = session_factory
        self.name = name
        self.fault: Fault | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._port = 0
        self.host = "127.0.0.1"
        self.bytes_received = 0
        """Bytes every client has sent so far (tests check that a refused request sent none)."""

    @property
    def port(self) -> int:
        """The port served (valid after :meth:`start`)."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._listener is not None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (port 0 = free; a restart reuses the last port); return it."""
        if self._listener is not None:
            return self._port
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port or self._port))
            listener.listen(8)
        except OSError:  # a taken port: the caller reports it; no socket is left open
            listener.close()
            raise
        self.host = host
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(
            target=self._accept_loop,
            args=(listener,),
            name=f"twin-{self.name}-accept",
            daemon=True,
        )
        self._thread.start()
        return self._port

    def stop(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        # Each connection's thread ends once its socket is closed; wait for them (bounded).
        deadline = time.monotonic() + 5.0
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(timeout=max(0.0, deadline - time.monotonic()))

    def inject(self, fault: Fault | None) -> None:
        """Make the wire misbehave from the next request on (``None`` clears a fault)."""
        self.fault = fault

    def chaos_faults(self) -> frozenset[str]:
        """The wire faults chaos mode may inject (twins add their instrument-level ones)."""
        return frozenset({"drop", "silence", "garbage"})

    def begin_fault(self, kind: str, rng: object = None) -> Callable[[], None]:
        """Start wire fault ``kind`` now; the returned function clears it."""
        del rng
        if kind not in ("drop", "silence", "garbage"):
            raise ValueError(f"the TCP twin server offers no {kind!r} fault")
        self.inject(kind)  # type: ignore[arg-type]
        return lambda: self.inject(None)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            worker = threading.Thread(
                target=self._serve, args=(connection,), name=f"twin-{self.name}-conn", daemon=True
            )
            with self._lock:
                self._connections.add(connection)
                self._workers = [w for w in self._workers if w.is_alive()] + [worker]
            worker.start()

    def _serve(self, connection: socket.socket) -> None:
        session = self.session_factory()
        send_lock = threading.Lock()

        def send(data: bytes) -> None:
            """What a session that streams on its own (a running script) sends with."""
            fault = self.fault
            if fault == "drop":
                self.fault = None
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                raise OSError("connection dropped (fault)")
            if fault == "silence":
                return
            if fault == "garbage":
                self.fault = None
                data = GARBAGE
            with send_lock:
                connection.sendall(data)

        attach = getattr(session, "attach", None)
        if attach is not None:
            attach(send)
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                with self._lock:
                    self.bytes_received += len(data)
                fault = self.fault
                if fault == "drop":
                    self.fault = None
                    return
                if fault == "silence":
                    continue
                if fault == "garbage":
                    self.fault = None
                    with send_lock:
                        connection.sendall(GARBAGE)
                    continue
                for chunk in session.feed(data):
                    if chunk:
                        with send_lock:
                            connection.sendall(chunk)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
            close = getattr(session, "close", None)
            if close is not None:
                close()


class ServedTwin:
    """What every twin served by one :class:`TcpTwinServer` shares: address, lifecycle, faults.

    A subclass makes the session of one connection (:meth:`session`) and handles its
    instrument-level faults (:meth:`_instrument_fault`, called with ``None`` to clear them). The
    driver's address is the pyserial URL ``socket://HOST:PORT`` unless the subclass formats
    another (:meth:`_address_for`).

    Args:
        name: for thread names and messages.
    """

    instrument_faults: frozenset[str] = frozenset({"instrument_error"})
    chaos_instrument_faults: frozenset[str] | None = None
    """The instrument faults chaos mode may start (``None``: all of them)."""
    _address = ""

    def __init__(self, *, name: str) -> None:
        self.name = name
        self.server = TcpTwinServer(self.session, name=name)

    def session(self) -> TwinSession:
        """A new session for one connection (in-memory tests feed it directly)."""
        raise NotImplementedError

    def _address_for(self, host: str, port: int) -> str:
        """The address the driver opens to reach ``host:port`` (a pyserial URL by default)."""
        return f"socket://{host}:{port}"

    def _instrument_fault(self, fault: str | None) -> None:
        raise NotImplementedError

    @property
    def address(self) -> str:
        """The address the driver uses (valid after :meth:`start`)."""
        return self._address

    @property
    def running(self) -> bool:
        """Whether the twin is serving."""
        return self.server.running

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = a free port) and return the driver's address."""
        self._address = self._address_for(host, self.server.start(host, port))
        return self._address

    def stop(self) -> None:
        """Stop serving (idempotent); wait briefly for the twin's connection threads to end."""
        self.server.stop()
        deadline = time.monotonic() + 5.0
        prefix = f"twin-{self.server.name}-"
        for thread in threading.enumerate():
            if thread.name.startswith(prefix) and thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop serving (what a lab calls when it closes)."""
        self.stop()

    def inject(self, fault: str | None) -> None:
        """A wire fault (``drop``, ``silence``, ``garbage``) or an instrument one; None clears."""
        if fault is None:
            self.server.inject(None)
            self._instrument_fault(None)
        elif fault in self.instrument_faults:
            self._instrument_fault(fault)
        elif fault in ("drop", "silence", "garbage"):
            self.server.inject(fault)  # type: ignore[arg-type]
        else:
            known = sorted({"drop", "silence", "garbage"} | self.instrument_faults)
            raise ValueError(f"twin {self.name!r} offers no {fault!r} fault; it has {known}")

    def chaos_faults(self) -> frozenset[str]:
        """Faults chaos mode may inject."""
        chaos = self.chaos_instrument_faults
        return self.server.chaos_faults() | (self.instrument_faults if chaos is None else chaos)

    def begin_fault(self, kind: str, rng: object = None) -> Callable[[], None]:
        """Start fault ``kind`` now; the returned function ends it."""
        if kind in self.instrument_faults:
            self._instrument_fault(kind)
            return lambda: self._instrument_fault(None)
        return self.server.begin_fault(kind, rng)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FaultableInstrument(Protocol):
    """A simulated instrument that keeps its own time scale and takes an injected error."""

    time_scale: float

    def inject_error(self) -> None:
        """Make the instrument's next operation fail with its own error reply."""

    def clear_error(self) -> None:
        """Forget an injected error no operation has met yet."""


_Instrument = TypeVar("_Instrument", bound=FaultableInstrument)


class InstrumentTwin(ServedTwin, Generic[_Instrument]):
    """A :class:`ServedTwin` of one simulated instrument (:attr:`instrument`).

    Its only instrument fault is ``instrument_error`` (the instrument's :meth:`inject_error`) and
    its time scale is the instrument's, so a test or chaos run changes both in one place.
    """

    instrument: _Instrument

    def _instrument_fault(self, fault: str | None) -> None:
        if fault is None:
            self.instrument.clear_error()
        else:
            self.instrument.inject_error()

    @property
    def time_scale(self) -> float:
        """Simulated seconds per wall second of the instrument's runs (0 = instant)."""
        return float(self.instrument.time_scale)

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.instrument.time_scale = value
