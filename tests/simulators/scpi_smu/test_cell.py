"""Source lists → the shared model's techniques, with a stand-in ``respond``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from labctl.simulators.scpi_smu.cell import ResponseCell, pieces
from labctl.simulators.scpi_smu.instrument import ScpiSmuSession, SmuInstrument

R = 50.0


def ohmic_respond(
    technique: Mapping[str, Any], state: Any, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A stand-in for electrochem's ``respond``: a resistor, sampled on its own time grid."""
    del rng
    state["calls"].append(dict(technique))
    kind = technique["kind"]
    if kind in ("cp", "ca"):
        time = np.arange(0, technique["duration"] + 1e-9, technique["interval"] / 2)
        if kind == "cp":
            current = np.full_like(time, technique["current"])
            return {"time": time, "current": current, "potential": current * R}
        potential = np.full_like(time, technique["potential"])
        return {"time": time, "potential": potential, "current": potential / R}
    assert kind == "lsv"
    # The model's sweep contract: one sample per step, after each step (not at the start).
    start, end, step = technique["start"], technique["end"], technique["step"]
    count = round(abs(end - start) / step)
    potential = start + np.sign(end - start) * step * np.arange(1, count + 1)
    return {"time": np.zeros_like(potential), "potential": potential, "current": potential / R}


def test_pieces_of_a_pulse_train_and_a_cv() -> None:
    train = np.array([-1e-3] * 3 + [0.0] * 2 + [-1e-3] * 3)
    kinds = [(n, spec["kind"], spec["current"]) for n, spec in pieces("current", train, 0.1)]
    assert kinds == [(3, "cp", -1e-3), (2, "cp", 0.0), (3, "cp", -1e-3)]
    cv = np.concatenate([np.linspace(0, 0.2, 5), np.linspace(0.2, -0.2, 9)[1:]])
    legs = pieces("voltage", cv, 0.05)
    assert [(n, spec["kind"]) for n, spec in legs] == [(5, "lsv"), (8, "lsv")]
    # The reverse leg's first point is 0.15 V; the model is asked to start a step earlier, at
    # the vertex, so its samples (taken after each step) fall on the list's values.
    assert legs[1][1]["start"] == pytest.approx(0.2)
    assert legs[1][1]["end"] == pytest.approx(-0.2)
    assert sum(n for n, _ in legs) == len(cv)


def test_response_cell_answers_the_instrument() -> None:
    state: dict[str, Any] = {"calls": []}
    cell = ResponseCell(ohmic_respond, lambda: state)
    session = ScpiSmuSession(SmuInstrument(cell, seed=0))
    script = [
        "SOUR:FUNC VOLT",
        "SOUR:VOLT:ILIM 1",
        "SOUR:LIST:VOLT 0,0.1,0.2,0.3,0.3,0.3",
        "SOUR:SWE:VOLT:LIST 1, 0.1",
        "INIT",
    ]
    for line in script:
        assert list(session.feed(line.encode() + b"\n")) == []
    (reply,) = session.feed(b'TRAC:DATA? 1, 6, "defbuffer1", READ\n')
    current = np.array([float(v) for v in reply.decode().split(",")])
    np.testing.assert_allclose(current, np.array([0, 0.1, 0.2, 0.3, 0.3, 0.3]) / R, atol=1e-9)
    assert [call["kind"] for call in state["calls"]] == ["lsv", "ca"]
