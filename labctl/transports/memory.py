"""In-memory transport: a driver talks to a twin's session directly, with no socket.

What the twin replies is buffered and read back in lines exactly as from a serial port, so a
driver's real code path runs in unit tests at memory speed. Nothing else can write into the
buffer, so a read with nothing buffered times out at once instead of waiting.
"""

from __future__ import annotations

from labctl.errors import DeviceConnectionError
from labctl.protocols import TwinSession
from labctl.transports.line import BufferedLineTransport

__all__ = ["MemoryTransport"]


class MemoryTransport(BufferedLineTransport):
    """A line transport whose other end is a twin session in this process.

    Args:
        session: the twin's session (``feed(bytes) -> chunks``).
        device: the device's name (for messages).
        address: a name for messages, e.g. ``memory://potentiostat``.
        timeout: default seconds to wait for a line (only matters to messages here).
        terminator: what ends a line the twin sends.
    """

    def __init__(
        self,
        session: TwinSession,
        *,
        device: str,
        address: str = "memory://twin",
        timeout: float = 2.0,
        terminator: bytes = b"\n",
    ) -> None:
        super().__init__(address, device=device, timeout=timeout, terminator=terminator)
        self.session = session
        self._open = False

    def open(self) -> None:
        """Mark the line open (idempotent)."""
        self._open = True

    def close(self) -> None:
        """Mark the line closed (idempotent)."""
        self._open = False

    def _send(self, data: bytes) -> None:
        if not self._open:
            raise DeviceConnectionError(self.device, self.address, "the line is closed")
        for chunk in self.session.feed(data):
            self._buffer.extend(chunk)

    def _receive(self, deadline: float) -> bytes:
        del deadline  # nothing more can arrive than what feed() returned
        return b""
