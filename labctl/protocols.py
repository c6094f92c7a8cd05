"""The seams between labctl's layers, as typing Protocols.

Drivers depend on these, not on pyserial, pyvisa or asyncua: a driver can be unit-tested with a
scripted fake that satisfies the same Protocol, and a twin's session can stand in for the wire
through the in-memory transport.

This module is part of the ground floor: it imports no other labctl module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["LineTransport", "NodeTransport", "TwinSession"]


@runtime_checkable
class LineTransport(Protocol):
    """A byte stream to one instrument, read in terminated lines (serial, VISA, TCP socket).

    Every call that waits takes the transport's timeout and raises
    :class:`labctl.errors.DeviceTimeout` when it runs out.
    """

    address: str

    def open(self) -> None:
        """Open the connection (idempotent)."""

    def close(self) -> None:
        """Close the connection (idempotent)."""

    def write(self, data: bytes) -> None:
        """Send ``data`` as is."""

    def read_line(self, timeout: float | None = None) -> bytes:
        """Read the next line, without its terminator (``timeout`` overrides the default)."""

    def query(self, command: bytes, timeout: float | None = None) -> bytes:
        """Send ``command`` and read one reply line."""


@runtime_checkable
class NodeTransport(Protocol):
    """A connection to a server of named values (OPC UA)."""

    address: str

    def connect(self) -> None:
        """Connect and check the server answers (idempotent)."""

    def close(self) -> None:
        """Disconnect (idempotent)."""

    def read_values(self, nodes: Sequence[str]) -> list[object]:
        """Read the current value of each node, in order."""


@runtime_checkable
class TwinSession(Protocol):
    """What a twin is on the wire, for one connection: bytes from the host in, reply bytes out.

    The same session class is served on loopback TCP (one session per connection) and driven
    directly by the in-memory transport. ``feed`` may return a generator that pauses between
    chunks to pace a measurement in (scaled) real time; at time scale 0 it returns at once.
    """

    def feed(self, data: bytes) -> Iterable[bytes]:
        """Consume ``data`` (any fragment of the stream); return the reply chunks it causes."""
