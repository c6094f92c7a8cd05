"""Serve twin sessions on loopback TCP, one session per connection, with injectable faults.

A driver reaches a served twin through its real transport (``socket://127.0.0.1:PORT`` for
pyserial, ``TCPIP::127.0.0.1::PORT::SOCKET`` for VISA). Faults make the wire misbehave the way
real instruments and cables do, so drivers prove they fail clearly and recover:

* ``drop``: close the connection when the next request arrives;
* ``silence``: swallow requests and never answer (until cleared);
* ``garbage``: answer the next request with bytes that follow no protocol.

Instrument-level faults (error replies, refused requests) belong to each twin's session.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Literal

from labctl.protocols import TwinSession

__all__ = ["Fault", "TcpTwinServer"]

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
        self._lock = threading.Lock()
        self._port = 0
        self.host = "127.0.0.1"

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
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port or self._port))
        listener.listen(8)
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
            with self._lock:
                self._connections.add(connection)
            threading.Thread(
                target=self._serve, args=(connection,), name=f"twin-{self.name}-conn", daemon=True
            ).start()

    def _serve(self, connection: socket.socket) -> None:
        session = self.session_factory()
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                fault = self.fault
                if fault == "drop":
                    self.fault = None
                    return
                if fault == "silence":
                    continue
                if fault == "garbage":
                    self.fault = None
                    connection.sendall(GARBAGE)
                    continue
                for chunk in session.feed(data):
                    if chunk:
                        connection.sendall(chunk)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
