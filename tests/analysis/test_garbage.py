"""Random arrays give an AnalysisError or finite numbers, never a numpy or scipy traceback."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labctl.analysis import (
    AnalysisError,
    FittedParameter,
    charge_balance,
    conductivity_from_resistance,
    cv_peaks,
    detect_short_circuit,
    fit_blocking_cell,
    fit_randles,
    plate_strip_metrics,
    pulse_train_metrics,
    randles_initial_guess,
    stability_limit,
)

anything = st.floats(allow_nan=True, allow_infinity=True, width=64)
moderate = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)


def column(elements):
    return st.integers(0, 30).flatmap(lambda n: arrays(np.float64, n, elements=elements))


# Mostly finite values (so the analyses get past validation), sometimes anything at all, and
# sometimes not a float array.
columns = st.one_of(
    column(moderate),
    column(moderate),
    column(anything),
    st.just([[1.0, 2.0], [3.0, 4.0]]),
    st.just(["a", "b", "c"]),
    st.just(np.array([1 + 1j, 2 + 0j])),
    st.just(None),
)


def same_size_triple():
    return st.integers(0, 30).flatmap(
        lambda n: st.tuples(*(arrays(np.float64, n, elements=moderate) for _ in range(3)))
    )


triples = st.one_of(same_size_triple(), same_size_triple(), st.tuples(columns, columns, columns))


def assert_finite(result):
    if result is None or isinstance(result, str):
        return
    if isinstance(result, float | int):
        assert math.isfinite(result)
        return
    if isinstance(result, tuple):
        for item in result:
            assert_finite(item)
        return
    if isinstance(result, FittedParameter):
        assert math.isfinite(result.value)
        assert result.uncertainty >= 0.0
        return
    assert dataclasses.is_dataclass(result)
    for field in dataclasses.fields(result):
        assert_finite(getattr(result, field.name))


def call(function, *args, **kwargs):
    try:
        result = function(*args, **kwargs)
    except AnalysisError:
        return
    assert_finite(result)


SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@SETTINGS
@given(triples)
def test_randles_fit(data):
    call(fit_randles, *data)
    call(randles_initial_guess, *data)


@SETTINGS
@given(triples)
def test_blocking_cell_fit(data):
    call(fit_blocking_cell, *data)


@SETTINGS
@given(triples, st.floats(-1e3, 1e3))
def test_lsv(data, j_cut):
    potential, current, _ = data
    call(stability_limit, potential, current, electrode_area=1e-4, current_density_threshold=j_cut)
    call(
        stability_limit,
        potential,
        current,
        electrode_area=1e-4,
        current_density_threshold=abs(j_cut) + 1e-9,
        baseline_window=(-1.0, 1.0),
        baseline="linear",
    )


@SETTINGS
@given(triples)
def test_cv(data):
    potential, current, _ = data
    call(cv_peaks, potential, current)


@SETTINGS
@given(triples, moderate)
def test_pulses(data, level):
    time, potential, current = data
    call(charge_balance, time, current)
    call(pulse_train_metrics, time, potential, current, on_current=level, rest_potential=0.0)
    call(plate_strip_metrics, time, potential, current, rest_potential=0.0, initial_time=-1e13)
    call(detect_short_circuit, time, potential, current, window=1.0)


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, "x", None])
def test_conductivity_scalars(value):
    with pytest.raises(AnalysisError):
        conductivity_from_resistance(value, 100.0)
    with pytest.raises(AnalysisError):
        conductivity_from_resistance(10.0, value)
