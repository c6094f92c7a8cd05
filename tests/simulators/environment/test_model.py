"""The drift-and-noise model: exact Ornstein–Uhlenbeck statistics, seeds, excursions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labctl.simulators.environment.model import (
    ChannelModel,
    EnvironmentModel,
    default_channel_model,
)


def _trace(model: EnvironmentModel, channel: str, steps: int, step: float) -> np.ndarray:
    values = []
    for _ in range(steps):
        model.advance(step)
        values.append(model.value(channel))
    return np.array(values)


def test_stationary_mean_and_spread_match_the_parameters() -> None:
    """An OU process has stationary mean μ and s.d. sd (Uhlenbeck & Ornstein 1930, eq. 30)."""
    model = EnvironmentModel({"t": ChannelModel(mean=25.0, sd=0.2, tau=10.0)}, seed=3)
    trace = _trace(model, "t", 20_000, 5.0)
    # 20 000 samples 0.5 τ apart: ≈ 6 700 independent ones → standard error of the mean ≈ 0.0025.
    assert trace.mean() == pytest.approx(25.0, abs=0.015)
    assert trace.std() == pytest.approx(0.2, rel=0.05)


def test_lag_one_correlation_is_exp_minus_dt_over_tau() -> None:
    """The exact discretisation (Gillespie 1996) has autocorrelation exp(−Δt/τ) at lag Δt."""
    model = EnvironmentModel({"t": ChannelModel(mean=0.0, sd=1.0, tau=10.0)}, seed=5)
    trace = _trace(model, "t", 20_000, 2.0)
    correlation = np.corrcoef(trace[:-1], trace[1:])[0, 1]
    assert correlation == pytest.approx(math.exp(-0.2), abs=0.02)


def test_drift_moves_the_set_point() -> None:
    model = EnvironmentModel(
        {"o2": ChannelModel(mean=0.5, sd=0.0, tau=1.0, drift=0.01, low=0.0)}, seed=1
    )
    model.advance(100.0)
    assert model.value("o2") == pytest.approx(0.5 + 0.01 * 100.0)


def test_same_seed_same_trace_different_seed_different_trace() -> None:
    def make(seed: int) -> np.ndarray:
        return _trace(EnvironmentModel({"o2": default_channel_model("o2")}, seed), "o2", 50, 1.0)

    assert np.array_equal(make(1), make(1))
    assert not np.array_equal(make(1), make(2))


def test_excursion_holds_the_value_until_cleared() -> None:
    model = EnvironmentModel({"h2o": default_channel_model("h2o")}, seed=1)
    model.set_excursion("h2o", 12.0)
    model.advance(10.0)
    assert model.value("h2o") == 12.0
    model.set_excursion("h2o", None)
    assert model.value("h2o") < 2.0
    with pytest.raises(KeyError, match="no channel 'co2'"):
        model.set_excursion("co2", 1.0)


@given(st.floats(min_value=0.0, max_value=1e4), st.integers(min_value=0, max_value=2**31))
def test_concentrations_never_go_negative(step: float, seed: int) -> None:
    model = EnvironmentModel({"o2": ChannelModel(mean=0.01, sd=1.0, tau=5.0, low=0.0)}, seed)
    model.advance(step)
    assert model.value("o2") >= 0.0


def test_defaults_by_channel_name() -> None:
    assert default_channel_model("room_temperature").mean == 25.0
    assert default_channel_model("glovebox_o2").low == 0.0


def test_refuses_negative_time_and_bad_parameters() -> None:
    model = EnvironmentModel({"o2": default_channel_model("o2")})
    with pytest.raises(ValueError, match="negative time"):
        model.advance(-1.0)
    with pytest.raises(ValueError, match="tau > 0"):
        ChannelModel(mean=0.0, sd=1.0, tau=0.0)
