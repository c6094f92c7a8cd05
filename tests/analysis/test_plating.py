"""Stripping transition and the overpotential-drift dendrite proxy on synthetic curves."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.analysis import AnalysisError, overpotential_drift, stripping_transition


def test_transition_is_interpolated_and_charge_counted_to_it() -> None:
    # 10 µA strip sampled every 0.1 s (t = 0.1 … 3.0); plateau 0.05 V until 2.05 s, then 2.4 V.
    t = np.arange(1, 31) * 0.1
    e = np.where(t < 2.05, 0.05, 2.4)
    i = np.full(t.size, 1e-5)
    result = stripping_transition(t, e, i, cutoff=0.3)
    # Linear between (2.0 s, 0.05 V) and (2.1 s, 2.4 V): 0.3 V at 2.0 + 0.1·0.25/2.35 s.
    expected = 2.0 + 0.1 * 0.25 / 2.35
    assert result.time == pytest.approx(expected, rel=1e-12)
    assert result.stripped_charge == pytest.approx(1e-5 * expected, rel=1e-12)
    assert result.plateau_potential == pytest.approx(0.05)


def test_no_transition_is_an_analysis_error() -> None:
    t = np.arange(1, 11) * 0.1
    with pytest.raises(AnalysisError, match=r"never crossed the cut-off 0\.3 V"):
        stripping_transition(t, np.full(10, 0.05), np.full(10, 1e-5), cutoff=0.3)


def _pulses(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two samples per pulse: on (value ``ends[k]``), then off (rest, −0.01 V)."""
    count = ends.size
    t = np.arange(1, 2 * count + 1) * 1e-3
    i = np.tile([-1e-4, 0.0], count)
    e = np.empty(2 * count)
    e[0::2] = ends
    e[1::2] = -0.01
    return t, e, i


def test_drift_is_the_fall_of_the_plating_voltage() -> None:
    ends = np.linspace(-0.150, -0.140, 21)  # |E| falls by 10 mV over the train
    t, e, i = _pulses(ends)
    drift = overpotential_drift(t, e, i, on_current=-1e-4)
    assert drift.pulses == 21
    assert drift.drift == pytest.approx(np.median(ends[-4:]) - np.median(ends[1:5]), abs=1e-12)
    assert drift.drift > 0
    rising = overpotential_drift(*_pulses(ends[::-1]), on_current=-1e-4)
    assert rising.drift < 0  # depletion or SEI: the overpotential grew


def test_drift_needs_pulses_and_sane_parameters() -> None:
    t, e, i = _pulses(np.array([-0.1, -0.1]))
    with pytest.raises(AnalysisError, match="on-pulses found"):
        overpotential_drift(t, e, i, on_current=-1e-4)
    t, e, i = _pulses(np.full(10, -0.1))
    with pytest.raises(AnalysisError, match="window"):
        overpotential_drift(t, e, i, on_current=-1e-4, window=0.7)
    with pytest.raises(AnalysisError, match="differ"):
        overpotential_drift(t, e, i, on_current=0.0)


def test_held_charges_are_exact_for_a_square_wave_sampled_once_per_pulse() -> None:
    from labctl.analysis import charge_balance, held_charges

    # 10 ms on at −1 mA, 10 ms off, sampled every 10 ms at the end of each interval.
    t = np.arange(1, 101) * 0.01
    i = np.tile([-1e-3, 0.0], 50)
    held = held_charges(t, i)
    assert held.plated_charge == pytest.approx(50 * 1e-3 * 0.01, rel=1e-12)
    assert held.stripped_charge == 0.0
    # The trapezoid rule (with the first sample held back to 0) is 1 % high here.
    trapezoid = charge_balance(t, i, initial_time=0.0).plated_charge
    assert trapezoid == pytest.approx(1.01 * held.plated_charge, rel=1e-9)
