"""Stability limit from an LSV at a current-density threshold.

Reference curve: the REFERENCES §1.2 surrogate j(E) = C_dl·v + j0·exp(αf(E − E_ox)), whose
threshold crossing is known in closed form: with the capacitive baseline removed,
E_lim = E_ox + ln(j_cut/j0)/(αf).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labctl.analysis import AnalysisError, stability_limit

F_OVER_RT = 96485.33212 / (8.314462618 * 298.15)
AREA = 0.785e-4  # m², a 1 cm diameter disc
E_OX, J0, ALPHA = 4.6, 1e-4, 0.5  # V, A/m², 1
CHARGING = 0.2 * 0.01  # C_dl·v in A/m²: 20 µF/cm² (0.2 F/m²) at 10 mV/s


def sweep(start=3.0, end=6.0, step=1e-3, charging=CHARGING):
    potential = np.arange(start, end + step / 2, step)
    density = charging + J0 * np.exp(ALPHA * F_OVER_RT * (potential - E_OX))
    return potential, density * AREA


def analytic_limit(j_cut):
    return E_OX + math.log(j_cut / J0) / (ALPHA * F_OVER_RT)


@pytest.mark.parametrize("j_cut", [0.1, 1.0, 10.0])  # A/m² = 0.01, 0.1, 1 mA/cm²
def test_limit_matches_closed_form_with_baseline(j_cut):
    potential, current = sweep()
    result = stability_limit(
        potential,
        current,
        electrode_area=AREA,
        current_density_threshold=j_cut,
        baseline_window=(3.0, 3.5),
    )
    # Linear interpolation of an exponential over a 1 mV step: error well under one step.
    assert result.potential == pytest.approx(analytic_limit(j_cut), abs=2e-4)
    assert result.baseline_current == pytest.approx(CHARGING * AREA, rel=1e-6)
    assert result.sweep_direction == "anodic"
    assert potential[result.index - 1] <= result.potential <= potential[result.index]


def test_without_baseline_the_charging_current_counts():
    potential, current = sweep()
    result = stability_limit(
        potential, current, electrode_area=AREA, current_density_threshold=1.0
    )
    expected = E_OX + math.log((1.0 - CHARGING) / J0) / (ALPHA * F_OVER_RT)
    assert result.potential == pytest.approx(expected, abs=2e-4)
    assert result.baseline_current == 0.0


def test_linear_baseline_removes_a_sloped_leak():
    potential, current = sweep()
    leak = 1e-7 * (potential - 3.0)
    result = stability_limit(
        potential,
        current + leak,
        electrode_area=AREA,
        current_density_threshold=1.0,
        baseline_window=(3.0, 3.8),
        baseline="linear",
    )
    assert result.potential == pytest.approx(analytic_limit(1.0), abs=1e-3)


def test_lower_threshold_gives_lower_limit():
    # REFERENCES §1.2: the limit falls with a lower j_cut.
    potential, current = sweep()
    limits = [
        stability_limit(
            potential, current, electrode_area=AREA, current_density_threshold=j
        ).potential
        for j in (0.5, 1.0, 5.0, 20.0)
    ]
    assert limits == sorted(limits)


def test_cathodic_sweep():
    potential = np.arange(0.0, -1.0, -1e-3)
    current = -1e-4 * np.exp(-0.5 * F_OVER_RT * (potential + 0.6))
    result = stability_limit(
        potential, current, electrode_area=1e-4, current_density_threshold=10.0
    )
    assert result.sweep_direction == "cathodic"
    assert result.potential == pytest.approx(-0.6 - math.log(10.0) / (0.5 * F_OVER_RT), abs=2e-4)


def test_a_single_spike_is_ignored_with_consecutive_samples():
    potential, current = sweep()
    spiked = current.copy()
    spiked[200] = 1.0
    first = stability_limit(potential, spiked, electrode_area=AREA, current_density_threshold=1.0)
    assert first.index == 200
    robust = stability_limit(
        potential, spiked, electrode_area=AREA, current_density_threshold=1.0, consecutive=3
    )
    assert robust.potential == pytest.approx(analytic_limit(1.0 - CHARGING), abs=2e-4)


def test_never_crossed_says_the_maximum():
    potential, current = sweep(end=4.0)
    with pytest.raises(AnalysisError, match=r"never reached.*maximum.*at 4 V"):
        stability_limit(potential, current, electrode_area=AREA, current_density_threshold=10.0)


def test_crossed_before_the_sweep_is_refused():
    potential, current = sweep()
    with pytest.raises(AnalysisError, match="first sample"):
        stability_limit(potential, current, electrode_area=AREA, current_density_threshold=1e-3)


def test_empty_baseline_window_is_refused():
    potential, current = sweep()
    with pytest.raises(AnalysisError, match="baseline window"):
        stability_limit(
            potential,
            current,
            electrode_area=AREA,
            current_density_threshold=1.0,
            baseline_window=(7.0, 8.0),
        )


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    data=st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite)
        )
    ),
    j_cut=st.floats(1e-6, 1e3),
    sort=st.booleans(),
    consecutive=st.integers(1, 3),
)
def test_limit_never_leaves_the_swept_range(data, j_cut, sort, consecutive):
    potential, current = data
    if sort:
        potential = np.sort(potential)
    try:
        result = stability_limit(
            potential,
            current,
            electrode_area=1e-4,
            current_density_threshold=j_cut,
            consecutive=consecutive,
        )
    except AnalysisError:
        return
    assert potential.min() <= result.potential <= potential.max()
    bracket = potential[result.index - 1 : result.index + 1]
    assert bracket.min() <= result.potential <= bracket.max()
