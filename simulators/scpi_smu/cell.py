"""Bridge from the SMU's source lists to the shared electrochemistry model's techniques.

The instrument only ever sees a list of source values with one dwell per point, while the shared
model (``labctl.simulators.electrochem.response.respond(technique, state, rng)``) answers
techniques. :class:`ResponseCell` cuts a list into pieces the model knows and joins the answers:

* a run of equal currents → ``{"kind": "cp", "current", "duration", "interval"}``;
* a run of equal voltages → ``{"kind": "ca", "potential", "duration", "interval"}``;
* a monotonic voltage staircase → ``{"kind": "lsv", "start", "end", "scan_rate", "step"}``
  (a CV's legs become one LSV each).

Each answer (a mapping with ``time`` and ``potential``/``current`` arrays) is sampled at the ends
of the list points by linear interpolation in time. The cell state is asked for afresh for each
piece, so a model that keeps its state in the world (plated charge, surface concentrations)
carries it from piece to piece.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["Respond", "ResponseCell", "pieces"]

Respond = Callable[[Mapping[str, Any], Any, np.random.Generator], Mapping[str, Any]]
"""The shared model's entry point: (technique mapping, cell state, rng) → arrays by name."""

_TOLERANCE = 1e-12


def pieces(function: str, values: np.ndarray, interval: float) -> list[tuple[int, dict[str, Any]]]:
    """Cut a source list into (number of points, technique mapping) pieces."""
    out: list[tuple[int, dict[str, Any]]] = []
    index = 0
    count = len(values)
    while index < count:
        end = index + 1
        while end < count and abs(values[end] - values[index]) <= _TOLERANCE:
            end += 1
        if function == "current" or end - index > 1 or end == count:
            points = end - index
            duration = points * interval
            if function == "current":
                spec = {"kind": "cp", "current": float(values[index])}
            else:
                spec = {"kind": "ca", "potential": float(values[index])}
            spec.update(duration=duration, interval=interval)
            out.append((points, spec))
            index = end
            continue
        # A voltage staircase: extend while the step keeps its size and sign.
        step = values[index + 1] - values[index]
        end = index + 1
        while end + 1 < count and abs((values[end + 1] - values[end]) - step) <= 1e-9:
            end += 1
        points = end - index + 1
        out.append(
            (
                points,
                {
                    # The model samples a sweep after each step (not at its start): starting one
                    # step early makes its samples fall exactly on the list's values.
                    "kind": "lsv",
                    "start": float(values[index] - step),
                    "end": float(values[end]),
                    "step": float(abs(step)),
                    "scan_rate": float(abs(step)) / interval,
                },
            )
        )
        index = end + 1
    return out


class ResponseCell:
    """A :class:`~labctl.simulators.scpi_smu.instrument.CellModel` answered by ``respond``.

    Args:
        respond: the shared model's entry point.
        state: returns the cell state to pass to ``respond`` (asked once per piece).
    """

    def __init__(self, respond: Respond, state: Callable[[], Any]) -> None:
        self.respond = respond
        self.state = state

    def __call__(
        self, function: str, values: np.ndarray, interval: float, rng: np.random.Generator
    ) -> np.ndarray:
        """The measured quantity (V for a current source, A for a voltage source) per point."""
        measured = "potential" if function == "current" else "current"
        out: list[np.ndarray] = []
        for points, spec in pieces(function, np.asarray(values, dtype=float), interval):
            answer = self.respond(spec, self.state(), rng)
            series = np.asarray(answer[measured], dtype=float).ravel()
            if spec["kind"] == "lsv":
                # One model sample per staircase point, at the staircase's own potentials.
                out.append(np.interp(np.arange(points), np.arange(len(series)), series))
                continue
            times = np.asarray(answer.get("time", np.arange(1, len(series) + 1) * interval))
            wanted_times = interval * np.arange(1, points + 1)
            out.append(np.interp(wanted_times, np.asarray(times, dtype=float).ravel(), series))
        return np.concatenate(out) if out else np.zeros(0)
