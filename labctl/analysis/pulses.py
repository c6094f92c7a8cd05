"""Metrics of galvanostatic pulse trains and plate/strip sequences.

Charge: the current is integrated with the trapezoid rule after splitting every interval in
which it changes sign at its (linearly interpolated) zero, so the plated charge
Q_plated = −∫ min(i, 0) dt and the stripped charge Q_stripped = ∫ max(i, 0) dt add up exactly
to the net trapezoid integral: Q_stripped − Q_plated = ∫ i dt. IUPAC sign: plating (reduction)
is negative current. Coulombic efficiency CE = Q_stripped/Q_plated (e.g. Aurbach et al., J.
Electrochem. Soc. 156, A694 (2009); Adams et al., Adv. Energy Mater. 8, 1702097 (2018) for
Li-metal CE protocols; REFERENCES §2.4).

A sample at t_k is taken to stand for the interval since the previous sample (zero-order hold)
when time-weighting per-sample quantities (duty cycle, mean overpotential); with
``initial_time`` (e.g. 0 for a record sampled at interval·k, k = 1…n) the first sample's current
is also held back to that time in the charge integral.

Short circuit: a dendrite bridging the separator makes |cell voltage| collapse at unchanged
current (e.g. Bai et al., Energy Environ. Sci. 9, 3221 (2016); Rosso et al., J. Power Sources
97–98, 804 (2001)). It is detected as the first loaded sample whose |E| falls below
(1 − drop_fraction) × the median |E| of the loaded samples of the same current sign in the
preceding window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import FloatArray, finite_scalar, require_finite, same_length, series
from labctl.analysis.errors import AnalysisError

__all__ = [
    "ChargeBalance",
    "PlateStripMetrics",
    "PulseTrainMetrics",
    "charge_balance",
    "detect_short_circuit",
    "plate_strip_metrics",
    "pulse_train_metrics",
]


@dataclass(frozen=True)
class ChargeBalance:
    """Charge passed in each direction."""

    plated_charge: float
    """Q_plated = −∫ min(i, 0) dt, C (≥ 0)."""
    stripped_charge: float
    """Q_stripped = ∫ max(i, 0) dt, C (≥ 0)."""
    duration: float
    """Integration span, s."""

    @property
    def net_charge(self) -> float:
        """∫ i dt = Q_stripped − Q_plated, C."""
        return self.stripped_charge - self.plated_charge

    @property
    def coulombic_efficiency(self) -> float:
        """CE = Q_stripped/Q_plated, dimensionless.

        Raises:
            AnalysisError: no charge was plated.
        """
        if self.plated_charge <= 0.0:
            raise AnalysisError(
                "Coulombic efficiency", "no charge was plated; the efficiency is undefined"
            )
        return self.stripped_charge / self.plated_charge

    @property
    def average_current(self) -> float:
        """Net charge over the duration, A (0 for a zero duration)."""
        return self.net_charge / self.duration if self.duration > 0.0 else 0.0


def _time_and_current(
    analysis: str, time: ArrayLike, current: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    t = series(analysis, "time", time)
    i = series(analysis, "current", current)
    same_length(analysis, time=t, current=i)
    if np.any(np.diff(t) <= 0.0):
        raise AnalysisError(analysis, "time must increase strictly from sample to sample")
    return t, i


def _hold_first(
    analysis: str, t: FloatArray, values: list[FloatArray], initial_time: float | None
) -> tuple[FloatArray, list[FloatArray]]:
    if initial_time is None:
        return t, values
    start = finite_scalar(analysis, "initial_time", initial_time)
    if start >= t[0]:
        raise AnalysisError(analysis, f"initial_time {start!r} s is not before the first sample")
    return np.concatenate([[start], t]), [np.concatenate([v[:1], v]) for v in values]


def _split_integrals(t: FloatArray, i: FloatArray) -> tuple[float, float]:
    """(∫ max(i,0) dt, −∫ min(i,0) dt), trapezoids split at sign changes."""
    dt = np.diff(t)
    left, right = i[:-1], i[1:]
    crossing = (np.sign(left) * np.sign(right)) < 0.0
    positive = np.where(left > 0.0, left, 0.0) + np.where(right > 0.0, right, 0.0)
    negative = np.where(left < 0.0, left, 0.0) + np.where(right < 0.0, right, 0.0)
    stripped = 0.5 * dt * positive
    plated = -0.5 * dt * negative
    # An interval whose current changes sign: two triangles meeting at the zero crossing.
    share = np.zeros_like(dt)
    np.divide(np.abs(left), np.abs(left) + np.abs(right), out=share, where=crossing)
    up = 0.5 * dt * share * np.abs(left)
    down = 0.5 * dt * (1.0 - share) * np.abs(right)
    first_positive = left > 0.0
    stripped = np.where(crossing, np.where(first_positive, up, down), stripped)
    plated = np.where(crossing, np.where(first_positive, down, up), plated)
    return float(stripped.sum()), float(plated.sum())


def charge_balance(
    time: ArrayLike, current: ArrayLike, *, initial_time: float | None = None
) -> ChargeBalance:
    """Plated and stripped charge of a current record (method in the module docstring).

    Args:
        time: t in s, shape (n,), strictly increasing.
        current: i in A, shape (n,), plating negative.
        initial_time: hold the first sample's current back to this time (s).

    Raises:
        AnalysisError: unusable arrays or values that overflow.
    """
    analysis = "charge balance"
    t, i = _time_and_current(analysis, time, current)
    t, (i,) = _hold_first(analysis, t, [i], initial_time)
    with np.errstate(all="ignore"):
        stripped, plated = _split_integrals(t, i)
        duration = float(t[-1] - t[0])
    require_finite(analysis, stripped_charge=stripped, plated_charge=plated, duration=duration)
    return ChargeBalance(plated, stripped, duration)


def _sample_durations(t: FloatArray, initial_time: float | None) -> FloatArray:
    widths = np.diff(t)
    first = float(np.median(widths)) if initial_time is None else float(t[0] - initial_time)
    return np.concatenate([[first], widths])


def _weighted_mean(values: FloatArray, weights: FloatArray) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0.0 else math.nan


@dataclass(frozen=True)
class PulseTrainMetrics:
    """Result of :func:`pulse_train_metrics`."""

    charge: ChargeBalance
    """Plated and stripped charge (C) and the integration span (s)."""
    average_current: float
    """Net charge over the duration, A (negative for net plating)."""
    plating_rate: float
    """Plated charge over the duration, A (= C/s, ≥ 0)."""
    duty_cycle: float
    """Realised share of the time spent on-pulse, dimensionless."""
    pulse_count: int
    """Number of on-pulses (runs of on-samples)."""
    mean_on_overpotential: float
    """Time-weighted mean of E − E_rest over on-pulse samples, V (negative when plating)."""
    mean_off_overpotential: float
    """Time-weighted mean of E − E_rest over off-pulse samples, V (0 without off samples)."""


def pulse_train_metrics(
    time: ArrayLike,
    potential: ArrayLike,
    current: ArrayLike,
    *,
    on_current: float,
    off_current: float = 0.0,
    rest_potential: float,
    initial_time: float | None = None,
) -> PulseTrainMetrics:
    """Charge, rates, realised duty cycle and overpotentials of a galvanostatic pulse train.

    A sample is on-pulse when its current is nearer the nominal ``on_current`` than the nominal
    ``off_current``.

    Args:
        time: t in s, shape (n,), strictly increasing.
        potential: cell potential E in V, shape (n,).
        current: i in A, shape (n,), plating negative.
        on_current: nominal on-pulse current, A.
        off_current: nominal off-pulse current, A (0 for rest, opposite sign for reverse pulses).
        rest_potential: the rest (open-circuit) potential E_rest the overpotentials refer to, V.
        initial_time: start of the record (s) when the first sample is one interval in.

    Raises:
        AnalysisError: unusable arrays, or equal nominal on and off currents.
    """
    analysis = "pulse-train metrics"
    t, i = _time_and_current(analysis, time, current)
    e = series(analysis, "potential", potential)
    same_length(analysis, time=t, potential=e)
    on = finite_scalar(analysis, "on_current", on_current)
    off = finite_scalar(analysis, "off_current", off_current)
    rest = finite_scalar(analysis, "rest_potential", rest_potential)
    if on == off:
        raise AnalysisError(analysis, "on_current and off_current are equal: no pulses to tell")
    charge = charge_balance(t, i, initial_time=initial_time)
    with np.errstate(all="ignore"):
        weights = _sample_durations(t, initial_time)
        is_on = np.abs(i - on) < np.abs(i - off)
        duty = float(weights[is_on].sum() / weights.sum())
        pulses = int(is_on[0]) + int(np.count_nonzero(is_on[1:] & ~is_on[:-1]))
        overpotential = e - rest
        mean_on = _weighted_mean(overpotential[is_on], weights[is_on]) if is_on.any() else 0.0
        off_mask = ~is_on
        mean_off = (
            _weighted_mean(overpotential[off_mask], weights[off_mask]) if off_mask.any() else 0.0
        )
        plating_rate = charge.plated_charge / charge.duration if charge.duration > 0 else 0.0
    require_finite(
        analysis,
        duty_cycle=duty,
        mean_on_overpotential=mean_on,
        mean_off_overpotential=mean_off,
        plating_rate=plating_rate,
        average_current=charge.average_current,
    )
    return PulseTrainMetrics(
        charge=charge,
        average_current=charge.average_current,
        plating_rate=plating_rate,
        duty_cycle=duty,
        pulse_count=pulses,
        mean_on_overpotential=mean_on,
        mean_off_overpotential=mean_off,
    )


@dataclass(frozen=True)
class PlateStripMetrics:
    """Result of :func:`plate_strip_metrics`."""

    charge: ChargeBalance
    """Plated and stripped charge (C); ``charge.coulombic_efficiency`` is CE."""
    coulombic_efficiency: float
    """Q_stripped/Q_plated, dimensionless."""
    plating_time: float
    """Time with plating (negative) current beyond the tolerance, s."""
    stripping_time: float
    """Time with stripping (positive) current beyond the tolerance, s."""
    mean_plating_overpotential: float
    """Time-weighted mean of E − E_rest while plating, V (negative)."""
    mean_stripping_overpotential: float
    """Time-weighted mean of E − E_rest while stripping, V (positive; 0 if never stripped)."""


def plate_strip_metrics(
    time: ArrayLike,
    potential: ArrayLike,
    current: ArrayLike,
    *,
    rest_potential: float,
    current_tolerance: float | None = None,
    initial_time: float | None = None,
) -> PlateStripMetrics:
    """Charges, Coulombic efficiency and overpotentials of a plate/rest/strip record.

    Args:
        time: t in s, shape (n,), strictly increasing.
        potential: E in V, shape (n,).
        current: i in A, shape (n,), plating negative.
        rest_potential: E_rest (open circuit) the overpotentials refer to, V.
        current_tolerance: |i| at or below this (A) counts as rest; default 1 % of max |i|.
        initial_time: start of the record (s) when the first sample is one interval in.

    Raises:
        AnalysisError: unusable arrays, or no plating current (CE undefined).
    """
    analysis = "plate/strip metrics"
    t, i = _time_and_current(analysis, time, current)
    e = series(analysis, "potential", potential)
    same_length(analysis, time=t, potential=e)
    rest = finite_scalar(analysis, "rest_potential", rest_potential)
    charge = charge_balance(t, i, initial_time=initial_time)
    efficiency = charge.coulombic_efficiency
    with np.errstate(all="ignore"):
        tolerance = (
            0.01 * float(np.abs(i).max())
            if current_tolerance is None
            else finite_scalar(analysis, "current_tolerance", current_tolerance)
        )
        weights = _sample_durations(t, initial_time)
        plating = i < -tolerance
        stripping = i > tolerance
        overpotential = e - rest
        mean_plating = (
            _weighted_mean(overpotential[plating], weights[plating]) if plating.any() else 0.0
        )
        mean_stripping = (
            _weighted_mean(overpotential[stripping], weights[stripping])
            if stripping.any()
            else 0.0
        )
        plating_time = float(weights[plating].sum())
        stripping_time = float(weights[stripping].sum())
    require_finite(
        analysis,
        coulombic_efficiency=efficiency,
        mean_plating_overpotential=mean_plating,
        mean_stripping_overpotential=mean_stripping,
        plating_time=plating_time,
        stripping_time=stripping_time,
    )
    return PlateStripMetrics(
        charge=charge,
        coulombic_efficiency=efficiency,
        plating_time=plating_time,
        stripping_time=stripping_time,
        mean_plating_overpotential=mean_plating,
        mean_stripping_overpotential=mean_stripping,
    )


def detect_short_circuit(
    time: ArrayLike,
    potential: ArrayLike,
    current: ArrayLike | None = None,
    *,
    drop_fraction: float = 0.5,
    window: float,
    minimum_voltage: float = 1e-3,
    minimum_current: float | None = None,
) -> float | None:
    """Time of the first sudden collapse of |cell voltage|, or None (method in module docstring).

    Args:
        time: t in s, shape (n,), strictly increasing.
        potential: cell voltage E in V, shape (n,) (two-electrode: the overpotential of a
            symmetric cell).
        current: i in A, shape (n,); when given, only loaded samples (|i| ≥ ``minimum_current``)
            are compared, each with earlier ones of the same current sign, so rest periods and
            pulse edges do not count as a short.
        drop_fraction: the fall, as a fraction of the reference |E|, that counts as a collapse.
        window: how far back (s) the reference |E| is taken from.
        minimum_voltage: references below this |E| (V) are noise and never trigger.
        minimum_current: |i| (A) of a loaded sample; default 10 % of max |i|.

    Returns:
        The time (s) of the first collapsed sample, or None when the voltage never collapses.

    Raises:
        AnalysisError: unusable arrays or parameters.
    """
    analysis = "short-circuit detection"
    t = series(analysis, "time", time)
    e = series(analysis, "potential", potential)
    same_length(analysis, time=t, potential=e)
    if np.any(np.diff(t) <= 0.0):
        raise AnalysisError(analysis, "time must increase strictly from sample to sample")
    drop = finite_scalar(analysis, "drop_fraction", drop_fraction)
    if not 0.0 < drop < 1.0:
        raise AnalysisError(analysis, f"drop_fraction must be in (0, 1), got {drop}")
    span = finite_scalar(analysis, "window", window, positive=True)
    floor = finite_scalar(analysis, "minimum_voltage", minimum_voltage)
    if current is None:
        loaded = np.ones(t.size, dtype=bool)
        polarity = np.ones(t.size)
    else:
        i = series(analysis, "current", current)
        same_length(analysis, time=t, current=i)
        with np.errstate(all="ignore"):
            level = (
                0.1 * float(np.abs(i).max())
                if minimum_current is None
                else finite_scalar(analysis, "minimum_current", minimum_current)
            )
        loaded = np.abs(i) >= level if level > 0.0 else i != 0.0
        polarity = np.sign(i)
    magnitude = np.abs(e)
    starts = np.searchsorted(t, t - span, side="left")
    # Only a sample below (1 − drop) × the largest |E| of its polarity can be a collapse.
    candidates = np.zeros(t.size, dtype=bool)
    for sign in np.unique(polarity[loaded]):
        group = loaded & (polarity == sign)
        candidates |= group & (magnitude < (1.0 - drop) * float(magnitude[group].max()))
    for k in np.flatnonzero(candidates):
        earlier = slice(int(starts[k]), int(k))
        same = loaded[earlier] & (polarity[earlier] == polarity[k])
        if not same.any():
            continue
        reference = float(np.median(magnitude[earlier][same]))
        if reference >= floor and magnitude[k] < (1.0 - drop) * reference:
            return float(t[k])
    return None
