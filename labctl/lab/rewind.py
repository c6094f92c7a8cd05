"""Keep rewound readings out of the record: each event is stored once, the retaken one.

When a suspender trips (the glovebox leaks, a sensor stops answering), bluesky's RunEngine rewinds
the plan to its last ``checkpoint`` and, once conditions recover, runs again from there; readings
taken between that checkpoint and the trip are taken a second time, and the first copies — taken
while conditions were going bad — would otherwise sit in the store beside the retaken ones with
the same sequence numbers. :class:`RewindSafeDispatcher` sits between the RunEngine and a
consumer (the store's writer): it holds each event until the plan passes its next checkpoint (after
which the RunEngine cannot rewind over it), and an event whose sequence number is not beyond the
ones held replaces them. Every other document passes straight through, after any held events
that precede it, so order is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RewindSafeDispatcher"]

Callback = Callable[[str, dict[str, Any]], Any]


class RewindSafeDispatcher:
    """Forwards documents to ``callback``, holding events until the next checkpoint.

    Args:
        callback: the consumer (e.g. the store's writer).

    Use :meth:`attach` to subscribe it to a RunEngine and to see the plan's messages.
    """

    def __init__(self, callback: Callback) -> None:
        self.callback = callback
        self._held: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.superseded = 0
        """How many events a rewind replaced (for logs and tests)."""

    def attach(self, engine: Any) -> int:
        """Subscribe to ``engine`` and chain its ``msg_hook``; returns the subscription token."""
        previous = engine.msg_hook

        def hook(msg: Any, *args: Any, **kwargs: Any) -> None:
            if getattr(msg, "command", None) == "checkpoint":
                self.flush()
            if previous is not None:
                previous(msg, *args, **kwargs)

        engine.msg_hook = hook
        token: int = engine.subscribe(self)
        return token

    def __call__(self, name: str, document: dict[str, Any]) -> None:
        """Receive one document from the RunEngine."""
        if name == "event":
            with self._lock:
                self._hold(document)
            return
        self.flush()
        self.callback(name, document)

    def _hold(self, event: dict[str, Any]) -> None:
        descriptor = event["descriptor"]
        seq_num = event["seq_num"]
        kept = [
            (name, held)
            for name, held in self._held
            if held["descriptor"] != descriptor or held["seq_num"] < seq_num
        ]
        self.superseded += len(self._held) - len(kept)
        self._held = [*kept, ("event", event)]

    def flush(self) -> None:
        """Pass on every held event (the plan has moved past the point it could rewind to)."""
        with self._lock:
            held, self._held = self._held, []
        for name, document in held:
            self.callback(name, document)
