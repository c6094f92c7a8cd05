"""One asyncio event loop on a daemon thread, shared by the process's asyncio-based clients.

asyncua is asyncio-native, and bluesky's RunEngine owns an event loop of its own; running
asyncua's clients on a separate, long-lived loop keeps the two from fighting, and gives blocking
callers (ophyd signals) a plain ``run(coroutine, timeout)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["BackgroundLoop", "shared_loop"]

T = TypeVar("T")


class BackgroundLoop:
    """An event loop running forever on a daemon thread.

    Args:
        name: the thread's name (shows in tracebacks and thread dumps).
    """

    def __init__(self, name: str = "labctl-asyncio") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, for ``asyncio.run_coroutine_threadsafe``."""
        return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop and return a future for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on the loop and wait at most ``timeout`` seconds for its result.

        Raises:
            TimeoutError: it did not finish in time (the coroutine is cancelled).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("BackgroundLoop.run called from its own thread would deadlock")
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()


_shared: BackgroundLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> BackgroundLoop:
    """The process-wide loop for asyncio clients, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.loop.is_closed():
            _shared = BackgroundLoop()
        return _shared
