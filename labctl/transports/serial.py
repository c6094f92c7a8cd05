"""Serial transport over pyserial: real ports (``/dev/ttyUSB0``) and URLs (``socket://host:port``).

pyserial's ``read_until`` reads one byte per call, which costs ≈ 0.3 ms per byte over
``socket://``; this transport waits for the first byte and then takes everything already waiting
in one read (see ``benchmarks/README.md``).

pyserial's ``socket://`` handler sleeps 0.3 s in every ``close()`` to give a network serial
server time before a quick reconnect. This transport closes the socket without that sleep and
waits instead when it reopens the same link sooner than that — the reconnect keeps its grace
time, a close that is not followed by a reconnect costs nothing.

pyserial's ``write`` (both ``socket://`` and POSIX ports) raises "Write timeout" when the
timeout has expired *after* a successful send — a thread that waited for the interpreter lock
longer than the timeout reports a failed write of bytes that were delivered. This transport
writes the descriptor itself and fails only when bytes are still unsent at the deadline.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Callable
from typing import Any

import serial

from labctl.errors import DeviceConnectionError
from labctl.transports.line import BufferedLineTransport

__all__ = ["SerialTransport"]

_BULK = 65536
_RECONNECT_GRACE = 0.3
_clock = time.monotonic
"""The clock write deadlines are measured on (a test makes it jump to show a late thread)."""
"""Seconds a network serial server gets between a close and the next connect (pyserial's)."""


class SerialTransport(BufferedLineTransport):
    """A serial line to one instrument (or to a twin through ``socket://127.0.0.1:PORT``).

    Args:
        address: a pyserial port or URL.
        device: the device's name (for messages).
        timeout: default seconds to wait for a reply line.
        terminator: what ends a line the instrument sends.
        baudrate: for real ports (ignored by ``socket://``).
    """

    def __init__(
        self,
        address: str,
        *,
        device: str,
        timeout: float = 2.0,
        terminator: bytes = b"\n",
        baudrate: int = 9600,
    ) -> None:
        super().__init__(address, device=device, timeout=timeout, terminator=terminator)
        self.baudrate = baudrate
        self._port: serial.SerialBase | None = None
        self._closed_at = -float("inf")

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._port is not None

    def open(self) -> None:
        """Open the port or connect the URL.

        Raises:
            DeviceConnectionError: the port does not exist or nothing listens at the URL.
        """
        if self._port is not None:
            return
        if self.address.startswith("socket://"):
            wait = self._closed_at + _RECONNECT_GRACE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        try:
            port = serial.serial_for_url(
                self.address,
                baudrate=self.baudrate,
                timeout=self.timeout,
                write_timeout=self.timeout,
                do_not_open=True,
            )
            port.open()
        except (serial.SerialException, OSError, ValueError) as error:
            raise DeviceConnectionError(
                self.device, self.address, f"cannot open ({error})", expected="an open port"
            ) from error
        self._port = port
        self._buffer.clear()

    def close(self) -> None:
        """Close the port (idempotent)."""
        port, self._port = self._port, None
        if port is None:
            return
        with contextlib.suppress(serial.SerialException, OSError):
            link = getattr(port, "_socket", None)
            if self.address.startswith("socket://") and link is not None:
                # What pyserial's close() does, minus its sleep (see the module docstring).
                with contextlib.suppress(OSError):
                    link.shutdown(socket.SHUT_RDWR)
                link.close()
                handler: Any = port
                handler._socket = None
                handler.is_open = False
                self._closed_at = time.monotonic()
            else:
                port.close()

    def _send(self, data: bytes) -> None:
        port = self._port
        assert port is not None
        try:
            link = getattr(port, "_socket", None)
            descriptor = getattr(port, "fd", None)
            if isinstance(link, socket.socket):
                _write_all(link.send, link, data, self.timeout)
            elif isinstance(descriptor, int):
                _write_all(
                    lambda chunk: os.write(descriptor, chunk), descriptor, data, self.timeout
                )
                port.flush()
            else:
                port.write(data)
                port.flush()
        except (serial.SerialException, OSError) as error:
            self.close()
            raise self._lost(f"write failed ({error})") from error

    def _receive(self, deadline: float) -> bytes:
        port = self._port
        assert port is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        try:
            port.timeout = remaining
            first = port.read(1)
            if not first:
                return b""
            port.timeout = 0
            rest = port.read(_BULK)
        except (serial.SerialException, OSError) as error:
            self.close()
            raise self._lost(f"connection lost ({error})") from error
        finally:
            if self._port is not None:
                self._port.timeout = self.timeout
        return first + rest


def _write_all(
    send: Callable[[memoryview], int],
    waitable: socket.socket | int,
    data: bytes,
    timeout: float,
) -> None:
    """Send every byte of ``data`` on a non-blocking descriptor within ``timeout`` seconds.

    Raises:
        serial.SerialTimeoutException: bytes were still unsent when the time was up.
    """
    deadline = _clock() + timeout
    pending = memoryview(data)
    while pending:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            pending = pending[send(pending) :]
        if not pending:
            return
        remaining = deadline - _clock()
        if remaining <= 0 or not select.select([], [waitable], [], remaining)[1]:
            raise serial.SerialTimeoutException(
                f"write timeout: {len(pending)} of {len(data)} bytes unsent after {timeout:g} s"
            )
