"""One run's data, the same whether it comes from live documents or back from the store.

Reducers take a :class:`RunData` so that a campaign reduces a run the moment it finishes (from the
documents it just saw) and a resumed campaign reduces earlier runs read back from the store
(:class:`labctl.store.catalog.Run` has the same shape) with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from labctl.errors import LabctlError

__all__ = ["DocumentRun", "RunData"]


@runtime_checkable
class RunData(Protocol):
    """A finished run: its start and stop documents and its streams as DataFrames."""

    start: dict[str, Any]
    stop: dict[str, Any]

    def stream(self, name: str = "primary") -> pd.DataFrame:
        """One row per event; ``frame.attrs["units"]`` maps columns to units."""


class DocumentRun:
    """A run assembled from the documents a RunEngine emitted.

    Args:
        documents: ``(name, document)`` pairs of exactly one run, in order.
    """

    def __init__(self, documents: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.start: dict[str, Any] = {}
        self.stop: dict[str, Any] = {}
        self._descriptors: dict[str, Mapping[str, Any]] = {}
        self._events: dict[str, list[Mapping[str, Any]]] = {}
        for name, document in documents:
            if name == "start":
                self.start = dict(document)
            elif name == "stop":
                self.stop = dict(document)
            elif name == "descriptor":
                self._descriptors[str(document["uid"])] = document
                self._events.setdefault(str(document.get("name", "primary")), [])
            elif name == "event":
                descriptor = self._descriptors.get(str(document["descriptor"]), {})
                stream = str(descriptor.get("name", "primary"))
                self._events.setdefault(stream, []).append(document)
            elif name == "event_page":
                descriptor = self._descriptors.get(str(document["descriptor"]), {})
                stream = str(descriptor.get("name", "primary"))
                for index, seq_num in enumerate(document["seq_num"]):
                    self._events.setdefault(stream, []).append(
                        {
                            "seq_num": seq_num,
                            "time": document["time"][index],
                            "data": {
                                key: values[index] for key, values in document["data"].items()
                            },
                        }
                    )

    @property
    def streams(self) -> list[str]:
        """Names of the run's event streams."""
        return list(self._events)

    def stream(self, name: str = "primary") -> pd.DataFrame:
        """The events of one stream as a DataFrame (columns: ``time`` and the data keys).

        Raises:
            LabctlError: the run has no such stream.
        """
        if name not in self._events:
            raise LabctlError(
                f"run {self.start.get('uid', '?')} has no stream {name!r}; it has {self.streams}"
            )
        # A suspender's rewind retakes readings under the same sequence numbers: the last one
        # taken is the valid one.
        latest: dict[Any, Mapping[str, Any]] = {}
        for event in self._events[name]:
            latest[event.get("seq_num", id(event))] = event
        rows = [{"time": event["time"], **event["data"]} for event in latest.values()]
        frame = pd.DataFrame(rows)
        units = {"time": "s"}
        for descriptor in self._descriptors.values():
            if descriptor.get("name", "primary") != name:
                continue
            for key, data_key in (descriptor.get("data_keys") or {}).items():
                if data_key.get("units") is not None:
                    units[key] = str(data_key["units"])
        frame.attrs["units"] = units
        return frame
