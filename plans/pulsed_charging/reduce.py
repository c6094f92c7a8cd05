"""The pulsed-charging reducer: objectives of one stored run, from the run alone."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labctl.analysis import (
    AnalysisError,
    StrippingTransition,
    detect_short_circuit,
    held_charges,
    overpotential_drift,
    stripping_transition,
)
from labctl.errors import LabctlError
from labctl.plans.pulsed_charging.options import METADATA_KEY
from labctl.plans.rundata import RunData

__all__ = ["reduce_pulsed_charging"]


def reduce_pulsed_charging(run: RunData) -> dict[str, float]:
    """The objectives of one stored pulsed-charging run (module docstring), from the run alone.

    Raises:
        AnalysisError: a curve is missing, cut short, or does not show what it must (no
            stripping transition).
        LabctlError: the run is not a pulsed-charging run.
    """
    info = run.start.get(METADATA_KEY)
    if not isinstance(info, Mapping):
        raise LabctlError(f"run {run.start.get('uid', '?')} is not a pulsed-charging run")
    pstat = str(info["potentiostat"])
    area = float(info["electrode_area"]["value"])
    cutoff = float(info["cutoff_potential"]["value"])
    protocol = info["protocol"]
    on_current = -float(protocol["pulse_current_density"]["value"]) * area
    off_current = float(protocol["reverse_current_density"]["value"]) * area
    t, e, i = _curve(run, "pulse_train", pstat)
    train = held_charges(t, i, initial_time=0.0)
    duration = float(t[-1])
    if train.plated_charge <= 0 or duration <= 0:
        raise AnalysisError("pulsed charging", "the pulse train plated no charge")
    drift = overpotential_drift(t, e, i, on_current=on_current, off_current=off_current)
    # Nucleation on the bare site and the double layer's first charge swing the first pulses'
    # voltage far more than a steady train's: the short detection starts after them.
    settled = int(np.searchsorted(t, 0.1 * duration))
    short = detect_short_circuit(
        t[settled:], e[settled:], i[settled:], window=max(10 * float(t[1] - t[0]), 0.05)
    )
    ts, es, is_ = _curve(run, "strip", pstat)
    try:
        transition = stripping_transition(ts, es, is_, cutoff=cutoff)
    except AnalysisError:
        if short is None:
            raise
        # Stripped through a short, the potential never leaves the plateau: no metal is
        # credited (the protocol's efficiency is what its reverse pulses returned).
        transition = StrippingTransition(float(ts[-1]), 0.0, float(np.median(es)))
    anodic = train.stripped_charge + transition.stripped_charge
    return {
        # A/m² → mA/cm²: × 0.1.
        "plating_rate": 0.1 * (train.plated_charge - train.stripped_charge) / (area * duration),
        "coulombic_efficiency": anodic / train.plated_charge,
        "dendrite_proxy": 1e3 * drift.drift,
        # C/m² → mC/cm²: × 0.1.
        "plated_charge": 0.1 * train.plated_charge / area,
        "short_circuit": 0.0 if short is None else 1.0,
        "stripping_plateau": transition.plateau_potential,
    }


def _curve(run: RunData, stream: str, pstat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = run.stream(stream)
    if frame.empty:
        raise AnalysisError("pulsed charging", f"the {stream} stream is empty")
    row = frame.iloc[-1]
    completed = row.get(f"{pstat}_completed")
    if completed is not None and not np.isnan(float(completed)) and float(completed) != 1:
        raise AnalysisError("pulsed charging", f"the {stream} technique was cut short")
    return tuple(  # type: ignore[return-value]
        np.asarray(row[f"{pstat}_{key}"], dtype=float) for key in ("time", "potential", "current")
    )
