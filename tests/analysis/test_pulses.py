"""Pulse-train and plate/strip metrics, and short-circuit detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labctl.analysis import (
    AnalysisError,
    charge_balance,
    detect_short_circuit,
    plate_strip_metrics,
    pulse_train_metrics,
)

REST = 0.0  # V, a symmetric Li|Li cell at rest


def pulse_train(on=-2e-3, off=0.0, on_time=1e-3, off_time=3e-3, cycles=100, interval=1e-4):
    """Samples at interval·k, k = 1…n, as the technique contract returns them."""
    period_samples = round((on_time + off_time) / interval)
    on_samples = round(on_time / interval)
    n = period_samples * cycles
    time = interval * np.arange(1, n + 1)
    is_on = (np.arange(n) % period_samples) < on_samples
    current = np.where(is_on, on, off)
    potential = np.where(is_on, REST - 0.050, REST - 0.005)
    return time, potential, current


def test_split_trapezoid_on_a_sign_change():
    # i = t − 1 on [0, 3] sampled at the ends only: −½ C plated, +2 C stripped.
    balance = charge_balance([0.0, 3.0], [-1.0, 2.0])
    assert balance.plated_charge == pytest.approx(0.5)
    assert balance.stripped_charge == pytest.approx(2.0)
    assert balance.net_charge == pytest.approx(1.5)
    assert balance.coulombic_efficiency == pytest.approx(4.0)


def test_no_plating_has_no_efficiency():
    balance = charge_balance([0.0, 1.0, 2.0], [1e-3, 1e-3, 0.0])
    assert balance.plated_charge == 0.0
    with pytest.raises(AnalysisError, match="no charge was plated"):
        _ = balance.coulombic_efficiency


def test_pulse_train_with_rest():
    time, potential, current = pulse_train()
    metrics = pulse_train_metrics(
        time, potential, current, on_current=-2e-3, rest_potential=REST, initial_time=0.0
    )
    assert metrics.duty_cycle == pytest.approx(0.25)
    assert metrics.pulse_count == 100
    assert metrics.mean_on_overpotential == pytest.approx(-0.050)
    assert metrics.mean_off_overpotential == pytest.approx(-0.005)
    # 100 pulses × 2 mA × 1 ms = 0.2 mC; the trapezoid ramps at pulse edges cancel.
    assert metrics.charge.plated_charge == pytest.approx(2e-4, rel=1e-3)
    assert metrics.charge.stripped_charge == 0.0
    assert metrics.average_current == pytest.approx(-0.5e-3, rel=2e-3)
    assert metrics.plating_rate == pytest.approx(0.5e-3, rel=2e-3)
    assert metrics.charge.duration == pytest.approx(0.4)


def test_reverse_pulses():
    time, potential, current = pulse_train(off=0.5e-3)
    metrics = pulse_train_metrics(
        time, potential, current, on_current=-2e-3, off_current=0.5e-3, rest_potential=REST
    )
    assert metrics.duty_cycle == pytest.approx(0.25)
    # Stripped 0.5 mA × 3 ms per period against 2 mA × 1 ms plated.
    assert metrics.charge.coulombic_efficiency == pytest.approx(0.75, rel=0.01)


def test_equal_on_and_off_currents_are_refused():
    time, potential, current = pulse_train()
    with pytest.raises(AnalysisError, match="equal"):
        pulse_train_metrics(
            time, potential, current, on_current=1.0, off_current=1.0, rest_potential=0
        )


def plate_strip(efficiency=0.95, interval=0.01):
    """Plate 1 mA for 100 s, rest 10 s, strip 1 mA until ``efficiency`` of the charge is back."""
    plate = np.full(round(100 / interval), -1e-3)
    rest = np.zeros(round(10 / interval))
    strip = np.full(round(100 * efficiency / interval), 1e-3)
    current = np.concatenate([plate, rest, strip])
    potential = np.concatenate(
        [np.full(plate.size, -0.04), np.full(rest.size, -0.001), np.full(strip.size, 0.03)]
    )
    time = interval * np.arange(1, current.size + 1)
    return time, potential, current


def test_plate_strip_efficiency_and_overpotentials():
    time, potential, current = plate_strip()
    metrics = plate_strip_metrics(time, potential, current, rest_potential=REST, initial_time=0.0)
    assert metrics.coulombic_efficiency == pytest.approx(0.95, rel=1e-3)
    assert metrics.charge.plated_charge == pytest.approx(0.1, rel=1e-3)
    assert metrics.plating_time == pytest.approx(100.0)
    assert metrics.stripping_time == pytest.approx(95.0)
    assert metrics.mean_plating_overpotential == pytest.approx(-0.04)
    assert metrics.mean_stripping_overpotential == pytest.approx(0.03)


def test_plate_strip_without_plating_is_refused():
    time = np.arange(1.0, 11.0)
    with pytest.raises(AnalysisError, match="no charge was plated"):
        plate_strip_metrics(time, np.zeros(10), np.full(10, 1e-3), rest_potential=0.0)


def test_time_must_increase():
    with pytest.raises(AnalysisError, match="increase"):
        charge_balance([0.0, 2.0, 1.0], [1.0, 1.0, 1.0])


def test_short_circuit_is_found_where_the_voltage_collapses():
    time = np.arange(1, 1201) * 0.1
    rng = np.random.default_rng(7)
    potential = -0.05 + rng.normal(0, 2e-4, time.size)
    potential[time >= 60.0] = -0.004 + rng.normal(0, 2e-4, int((time >= 60.0).sum()))
    current = np.full(time.size, -1e-3)
    assert detect_short_circuit(time, potential, current, window=5.0) == pytest.approx(60.0)
    assert detect_short_circuit(time, potential, window=5.0) == pytest.approx(60.0)


def test_no_short_in_a_healthy_record():
    time = np.arange(1, 1201) * 0.1
    potential = (
        -0.05 - 0.01 * np.sin(time / 10) + np.random.default_rng(1).normal(0, 2e-4, time.size)
    )
    assert detect_short_circuit(time, potential, np.full(time.size, -1e-3), window=5.0) is None


def test_rest_periods_of_a_pulse_train_are_not_shorts():
    time, potential, current = pulse_train()
    assert detect_short_circuit(time, potential, current, window=0.01) is None
    # Without the current, the off-pulse relaxation looks like a collapse: why current is asked.
    assert detect_short_circuit(time, potential, window=0.01) is not None


def test_short_during_a_pulse_train():
    time, potential, current = pulse_train()
    shorted = potential.copy()
    shorted[(time > 0.2) & (current != 0)] = -0.003
    found = detect_short_circuit(time, shorted, current, window=0.01)
    assert found is not None
    assert 0.2 < found <= 0.2045


def test_plate_strip_record_is_not_a_short():
    time, potential, current = plate_strip()
    assert detect_short_circuit(time, potential, current, window=5.0) is None


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    current=st.integers(2, 50).flatmap(lambda n: arrays(np.float64, n, elements=finite)),
    steps=st.lists(st.floats(1e-3, 1e3), min_size=50, max_size=50),
)
def test_charge_is_conserved(current, steps):
    time = np.cumsum(steps[: current.size])
    balance = charge_balance(time, current)
    assert balance.plated_charge >= 0.0
    assert balance.stripped_charge >= 0.0
    net = float(np.trapezoid(current, time))
    scale = float(np.trapezoid(np.abs(current), time)) + 1e-300
    assert abs(balance.net_charge - net) <= 1e-9 * scale
    # The split never invents charge: each part is bounded by the integral of |i|.
    assert balance.plated_charge + balance.stripped_charge <= scale * (1 + 1e-9)
    if np.all(current <= 0):
        assert balance.stripped_charge == 0.0


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    values=st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite),
            arrays(np.float64, n, elements=finite),
        )
    ),
    drop=st.floats(0.05, 0.95),
)
def test_short_detection_returns_a_sample_time_or_none(values, drop):
    potential, current = values
    time = np.arange(1, potential.size + 1, dtype=np.float64)
    found = detect_short_circuit(time, potential, current, drop_fraction=drop, window=5.0)
    assert found is None or found in set(time.tolist())
