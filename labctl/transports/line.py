"""Line-oriented byte streams: the common part of the serial and in-memory transports.

A reply is read up to a terminator. Bytes that arrive beyond it are kept for the next read, so an
instrument that streams many lines at once (data packets) is read in bulk, not byte by byte.
Every read has a deadline; running out of it raises :class:`~labctl.errors.DeviceTimeout` naming
the device, the address, what was sent last and what was expected.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from labctl.errors import DeviceConnectionError, DeviceTimeout

__all__ = ["BufferedLineTransport"]


class BufferedLineTransport(ABC):
    """A byte stream read in terminated lines, with a deadline on every read.

    Args:
        address: where the instrument is (for messages).
        device: the device's name (for messages).
        timeout: default seconds to wait for a reply line.
        terminator: what ends a line the instrument sends.
    """

    def __init__(
        self, address: str, *, device: str, timeout: float = 2.0, terminator: bytes = b"\n"
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.address = address
        self.device = device
        self.timeout = timeout
        self.terminator = terminator
        self.last_sent: bytes | None = None
        self._buffer = bytearray()

    @abstractmethod
    def open(self) -> None:
        """Open the connection (idempotent)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""

    @abstractmethod
    def _send(self, data: bytes) -> None:
        """Put ``data`` on the wire."""

    @abstractmethod
    def _receive(self, deadline: float) -> bytes:
        """Return the bytes available now, waiting until ``deadline`` for the first one.

        Returns ``b""`` when nothing arrived by the deadline.
        """

    def write(self, data: bytes) -> None:
        """Send ``data`` as is (the caller adds the instrument's write terminator)."""
        self.open()
        self.last_sent = data
        self._send(data)

    def discard_input(self) -> None:
        """Forget buffered bytes (before a new command, after an abort)."""
        self._buffer.clear()

    def read_line(self, timeout: float | None = None) -> bytes:
        """Read the next line, without its terminator.

        Raises:
            DeviceTimeout: no complete line within ``timeout`` (default: the transport's).
            DeviceConnectionError: the connection dropped.
        """
        self.open()
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            end = self._buffer.find(self.terminator)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + len(self.terminator)]
                return line
            chunk = self._receive(deadline)
            if chunk:
                self._buffer.extend(chunk)
                continue
            if time.monotonic() >= deadline:
                partial = bytes(self._buffer)
                raise DeviceTimeout(
                    self.device,
                    self.address,
                    f"no complete reply within {wait:g} s",
                    sent=self.last_sent,
                    expected=f"a line ending in {self.terminator!r}",
                    received=partial or None,
                )

    def query(self, command: bytes, timeout: float | None = None) -> bytes:
        """Send ``command`` and return the next reply line."""
        self.write(command)
        return self.read_line(timeout)

    def _lost(self, detail: str) -> DeviceConnectionError:
        return DeviceConnectionError(
            self.device, self.address, detail, sent=self.last_sent, expected="a reply"
        )

    def __enter__(self) -> BufferedLineTransport:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
