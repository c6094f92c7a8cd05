"""The link a driver keeps to one instrument: opened on first use, identified, dropped on failure.

Drivers of instruments that keep state between commands (a running script, a homed stage, a VISA
session) share one lifecycle. Every call first makes sure the link is open and in step with the
instrument (``_ensure_open``); a wire failure drops the link (``_drop``), so the next call starts
on a fresh one. :meth:`InstrumentLink.open` does the first step under the driver's lock and reads
the instrument's identity, so a driver that opened is known to talk to the right instrument.

:class:`InstrumentLink` is that lifecycle for any link (a VISA session, a line transport);
:class:`LineInstrumentLink` adds the line transport (a
:class:`~labctl.transports.serial.SerialTransport` unless a test passes another) for instruments
that are brought in step once per connection.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod

from labctl.transports.line import BufferedLineTransport
from labctl.transports.serial import SerialTransport

__all__ = ["InstrumentLink", "LineInstrumentLink"]


class InstrumentLink(ABC):
    """Open, identify and close one instrument's link under the driver's lock.

    A subclass opens the link and brings the instrument into a known state
    (:meth:`_ensure_open`, a no-op while the link is up), closes it (:meth:`_drop`) and says
    what the instrument is (:meth:`identify`).

    Args:
        address: where the instrument is (for the transport and for messages).
        device: the device's name (for messages).
        timeout: seconds to wait for any one reply.
    """

    def __init__(self, address: str, *, device: str, timeout: float) -> None:
        self.address = address
        self.device = device
        self.timeout = timeout
        self.identity = ""
        """What :meth:`identify` answered when the link was last opened."""
        self._lock = threading.RLock()

    def open(self) -> None:
        """Open the link, bring the instrument into a known state and read its identity."""
        with self._lock:
            self._ensure_open()
            self.identity = self.identify()

    def close(self) -> None:
        """Close the link (idempotent)."""
        with self._lock:
            self._drop()

    @abstractmethod
    def identify(self) -> str:
        """What the instrument says it is (model, firmware, serial number)."""

    @abstractmethod
    def _ensure_open(self) -> object:
        """Open the link and bring the instrument into a known state, unless that is done."""

    @abstractmethod
    def _drop(self) -> None:
        """Close the link so that the next call opens a fresh one (idempotent, never raises)."""


class LineInstrumentLink(InstrumentLink):
    """An :class:`InstrumentLink` over a line transport, brought in step once per connection.

    The link counts as in step (``_synced``) from a successful :meth:`_synchronise` until it is
    dropped; a driver that finds the instrument out of step without a broken wire clears
    ``_synced`` and keeps the port open (the next call synchronises again).

    Args:
        address: a pyserial port or URL.
        device: the device's name (for messages).
        timeout: seconds to wait for any one reply line.
        baudrate: for real serial ports (ignored by ``socket://``).
        transport: the line transport to use instead of a :class:`SerialTransport` (tests pass
            a :class:`~labctl.transports.memory.MemoryTransport`).
    """

    def __init__(
        self,
        address: str,
        *,
        device: str,
        timeout: float,
        baudrate: int,
        transport: BufferedLineTransport | None = None,
    ) -> None:
        super().__init__(address, device=device, timeout=timeout)
        self._transport: BufferedLineTransport = transport or SerialTransport(
            address, device=device, timeout=timeout, baudrate=baudrate
        )
        self._synced = False

    @abstractmethod
    def _synchronise(self) -> None:
        """Bring the instrument on the just opened line into a known state.

        Raising leaves the link out of step; the subclass drops the link first where the failure
        needs a fresh connection.
        """

    def _ensure_open(self) -> None:
        if self._synced:
            return
        self._transport.open()
        self._synchronise()
        self._synced = True

    def _drop(self) -> None:
        self._synced = False
        with contextlib.suppress(Exception):
            self._transport.close()
