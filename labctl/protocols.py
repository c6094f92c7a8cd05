"""The seams between labctl's layers, as typing Protocols.

Drivers depend on the transport Protocols, not on pyserial, pyvisa or asyncua: a driver can be
unit-tested with a scripted fake that satisfies the same Protocol, and a twin's session can stand
in for the wire through the in-memory transport.

Plans and the campaign depend on the device and lab Protocols, as bluesky types its plans with
:mod:`bluesky.protocols`: what a plan needs of a potentiostat, a dispensing robot, a pump or a
droplet cell, and of the lab it runs on — so a twin-backed device, a real one, or a test double
are the same to it.

This module is part of the ground floor: it imports no other labctl module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DispensingRobotLike",
    "DropletCellLike",
    "LabLike",
    "LineTransport",
    "MovableDevice",
    "NodeTransport",
    "PotentiostatLike",
    "ReadableDevice",
    "TwinSession",
]


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


@runtime_checkable
class ReadableDevice(Protocol):
    """A device a plan reads (``bps.read``, ``trigger_and_read``): bluesky's ``Readable``."""

    name: str

    def read(self) -> dict[str, Any]:
        """Data key → ``{"value", "timestamp"}``."""

    def describe(self) -> dict[str, Any]:
        """Data key → its description (units, shape, dtype, precision)."""


@runtime_checkable
class MovableDevice(Protocol):
    """A device a plan sets (``bps.mv``, ``bps.abs_set``): bluesky's ``Movable``."""

    name: str

    def set(self, value: Any) -> Any:
        """Start moving to ``value``; return a Status that finishes or fails."""


@runtime_checkable
class PotentiostatLike(MovableDevice, ReadableDevice, Protocol):
    """A potentiostat: set a technique, trigger it, read its curve."""

    def trigger(self) -> Any:
        """Run the technique that was set; return a Status."""


@runtime_checkable
class DispensingRobotLike(MovableDevice, ReadableDevice, Protocol):
    """A dispensing robot: prepares recipes in vials, knows what each vial holds."""

    def plan(self, recipe: Any) -> Any:
        """The additions that make ``recipe`` (raises before anything moves if it cannot)."""

    def vial_states(self) -> Mapping[str, str]:
        """Vial → ``fresh``, ``prepared`` or ``dirty``."""


@runtime_checkable
class DropletCellLike(MovableDevice, ReadableDevice, Protocol):
    """A scanning droplet cell: moves to a site, flushes, lands and lifts its droplet."""

    flushed: MovableDevice
    landed: MovableDevice
    potentiostat: PotentiostatLike
    options: Any

    def next_site(self) -> Any:
        """The next fresh site (raises when the substrate has none left)."""


@runtime_checkable
class LabLike(Protocol):
    """What plans, campaigns and servers need of a lab session (:class:`labctl.Lab`)."""

    RE: Any
    config: Any
    devices: dict[str, Any]
    twins: dict[str, Any]
    store: Any

    @property
    def name(self) -> str:
        """The lab's name from its config."""

    def sensors(self) -> list[Any]:
        """The devices labelled ``sensors``, in config order."""
