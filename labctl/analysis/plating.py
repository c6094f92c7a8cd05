"""Pulsed plating: the stripping transition and a dendrite proxy read off the measured potential.

Stripping transition (chronopotentiometric stripping; Bard & Faulkner, *Electrochemical
Methods*, 2nd ed., §8.3): a deposit stripped at constant anodic current holds the metal's
potential until it is exhausted, then the potential jumps to the next anodic reaction (substrate
or solvent oxidation). The transition is where the cell voltage first crosses a cut-off above the
metal's plateau, linearly interpolated between the two samples around the crossing; the charge
stripped is the anodic charge up to it, each sample held over the interval it closes
(:func:`held_charges`, :func:`stripping_transition`).

Dendrite proxy (:func:`overpotential_drift`; LABELLED PROXY, not a measurement of dendrites): a
dendritic or mossy deposit offers the metal couple more electroactive area than the flat
electrode it grew on, so the same plating current needs less charge-transfer overpotential as it
roughens — the plating overpotential falls during galvanostatic growth (Wood et al., ACS Cent.
Sci. 2, 790 (2016), operando microscopy beside the voltage trace; Bai et al., Energy Environ.
Sci. 9, 3221 (2016)). In the Tafel regime η = b·ln(j/(j0·ρ)), so the fall b·ln ρ depends on the
roughness ρ and not on the current density: the proxy is the fall of |E| at the end of the
on-pulses, from early in the train to its end (the iR drop is constant at constant pulse current
and cancels). A dendrite that reaches the counter electrode collapses |E| to i·R_short: the
proxy then becomes the whole plating voltage, and :func:`labctl.analysis.detect_short_circuit`
says when. What the proxy misses: concentration polarisation raises |E| as the diffusion layer
depletes (small far below the limiting current, e.g. Zn in 1–2 M ZnSO4; it masks roughening as
J_avg → J_lim) and any change of the interface other than its area (SEI growth raises |E|).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import finite_scalar, require_finite, same_length, series
from labctl.analysis.errors import AnalysisError
from labctl.analysis.pulses import ChargeBalance

__all__ = [
    "OverpotentialDrift",
    "StrippingTransition",
    "held_charges",
    "overpotential_drift",
    "stripping_transition",
]


def held_charges(
    time: ArrayLike, current: ArrayLike, *, initial_time: float = 0.0
) -> ChargeBalance:
    """Plated and stripped charge of a galvanostat's record, each sample held over its interval.

    A galvanostat sampled at t_k = interval·k reports the current of the interval (t_{k−1}, t_k]
    it closes (zero-order hold), so Q_plated = Σ max(−i_k, 0)·(t_k − t_{k−1}) and
    Q_stripped = Σ max(i_k, 0)·(t_k − t_{k−1}) with t_0 = ``initial_time``. Exact for
    piecewise-constant current whose steps fall on sample times, and unbiased otherwise — where
    the trapezoid rule (:func:`~labctl.analysis.pulses.charge_balance`) smears every step of a
    square wave sampled once per pulse over two intervals.

    Args:
        time: t in s, shape (n,), strictly increasing, after ``initial_time``.
        current: i in A, shape (n,), plating negative.
        initial_time: the record's start, s (0 for samples at interval·k, k = 1…n).

    Raises:
        AnalysisError: unusable arrays.
    """
    analysis = "charge (held samples)"
    t = series(analysis, "time", time, min_length=1)
    i = series(analysis, "current", current, min_length=1)
    same_length(analysis, time=t, current=i)
    start = finite_scalar(analysis, "initial_time", initial_time)
    widths = np.diff(np.concatenate([[start], t]))
    if np.any(widths <= 0.0):
        raise AnalysisError(analysis, "time must increase strictly, from after initial_time")
    plated = float(np.sum(np.maximum(-i, 0.0) * widths))
    stripped = float(np.sum(np.maximum(i, 0.0) * widths))
    require_finite(analysis, plated_charge=plated, stripped_charge=stripped)
    return ChargeBalance(plated, stripped, float(t[-1] - start))


@dataclass(frozen=True)
class StrippingTransition:
    """Result of :func:`stripping_transition`."""

    time: float
    """Transition time (cut-off crossing, interpolated), s from the record's start."""
    stripped_charge: float
    """Anodic charge up to the transition (held samples), C (≥ 0)."""
    plateau_potential: float
    """Median cell voltage before the transition, V (the metal's stripping plateau)."""


def stripping_transition(
    time: ArrayLike,
    potential: ArrayLike,
    current: ArrayLike,
    *,
    cutoff: float,
    initial_time: float | None = 0.0,
) -> StrippingTransition:
    """Where a constant-current strip exhausts the deposit, and the charge it took.

    Args:
        time: t in s, shape (n,), strictly increasing.
        potential: cell voltage E in V, shape (n,).
        current: i in A, shape (n,), stripping positive.
        cutoff: the cut-off potential, V (above the metal's plateau, below the next reaction).
        initial_time: the record's start, s (default 0: a record sampled at interval·k,
            k = 1…n); ``None``: the first sample (which then carries no charge).

    Raises:
        AnalysisError: unusable arrays, or the potential never crosses the cut-off (the deposit
            was not exhausted — or the cut-off is wrong).
    """
    analysis = "stripping transition"
    t = series(analysis, "time", time)
    e = series(analysis, "potential", potential)
    i = series(analysis, "current", current)
    same_length(analysis, time=t, potential=e, current=i)
    level = finite_scalar(analysis, "cutoff", cutoff)
    if np.any(np.diff(t) <= 0.0):
        raise AnalysisError(analysis, "time must increase strictly from sample to sample")
    above = np.flatnonzero(e > level)
    if above.size == 0:
        raise AnalysisError(
            analysis,
            f"the potential never crossed the cut-off {level:g} V (highest {float(e.max()):.4g} "
            "V): the deposit was not exhausted within the record",
        )
    k = int(above[0])
    start = float(t[0]) if initial_time is None else float(initial_time)
    if k == 0:  # exhausted before the first sample
        return StrippingTransition(start, 0.0, float(e[0]))
    fraction = (level - e[k - 1]) / (e[k] - e[k - 1])
    crossing = float(t[k - 1] + fraction * (t[k] - t[k - 1]))
    # Held samples (see held_charges) up to the last one on the plateau, then the crossing
    # sample's current over the part of its interval before the crossing.
    # (With initial_time None the first sample opens the record and carries no charge.)
    if t[0] > start:
        held_t, held_i, origin = t[:k], i[:k], start
    else:
        held_t, held_i, origin = t[1:k], i[1:k], float(t[0])
    before = (
        held_charges(held_t, held_i, initial_time=origin).stripped_charge if held_t.size else 0.0
    )
    stripped = before + max(float(i[k]), 0.0) * (crossing - float(t[k - 1]))
    plateau = float(np.median(e[:k]))
    return StrippingTransition(crossing, stripped, plateau)


@dataclass(frozen=True)
class OverpotentialDrift:
    """Result of :func:`overpotential_drift`."""

    early: float
    """Median cell voltage at the end of the early on-pulses, V."""
    late: float
    """Median cell voltage at the end of the late on-pulses, V."""
    drift: float
    """Fall of the plating voltage's magnitude, |early| − |late| taken along the pulse
    current's sign, V (> 0: the overpotential fell — the roughening signature)."""
    pulses: int
    """On-pulses found."""


def overpotential_drift(
    time: ArrayLike,
    potential: ArrayLike,
    current: ArrayLike,
    *,
    on_current: float,
    off_current: float = 0.0,
    window: float = 0.2,
    skip: int = 1,
) -> OverpotentialDrift:
    """The LABELLED dendrite proxy of the module docstring: fall of the end-of-pulse voltage.

    Each on-pulse contributes its last sample (the double layer charged, the pulse's full
    overpotential). ``early`` is the median over the first ``window`` share of the pulses after
    the first ``skip`` ones (nucleation on the bare substrate, the double layer's first charge),
    ``late`` over the last ``window`` share.

    Args:
        time: t in s, shape (n,), strictly increasing.
        potential: cell voltage E in V, shape (n,).
        current: i in A, shape (n,), plating negative.
        on_current: nominal on-pulse current, A (a sample is on when nearer it than
            ``off_current``).
        off_current: nominal off-pulse current, A (0: rest; opposite sign: reverse pulse).
        window: share of the pulses in each of the early and late groups (0 < window ≤ 0.5).
        skip: leading pulses left out.

    Raises:
        AnalysisError: unusable arrays or parameters, or fewer than ``skip`` + 2 pulses.
    """
    analysis = "overpotential drift"
    t = series(analysis, "time", time)
    e = series(analysis, "potential", potential)
    i = series(analysis, "current", current)
    same_length(analysis, time=t, potential=e, current=i)
    on = finite_scalar(analysis, "on_current", on_current)
    off = finite_scalar(analysis, "off_current", off_current)
    share = finite_scalar(analysis, "window", window)
    if on == off or on == 0:
        raise AnalysisError(analysis, "on_current must be non-zero and differ from off_current")
    if not 0 < share <= 0.5:
        raise AnalysisError(analysis, f"window must be in (0, 0.5], got {share}")
    if skip < 0:
        raise AnalysisError(analysis, f"skip must be ≥ 0, got {skip}")
    is_on = np.abs(i - on) < np.abs(i - off)
    last_of_pulse = is_on & np.append(~is_on[1:], True)
    ends = e[last_of_pulse][skip:]
    if ends.size < 2:
        raise AnalysisError(
            analysis,
            f"{int(last_of_pulse.sum())} on-pulses found; the proxy needs at least {skip + 2}",
        )
    count = max(1, round(share * ends.size))
    early = float(np.median(ends[:count]))
    late = float(np.median(ends[-count:]))
    sign = 1.0 if on > 0 else -1.0
    return OverpotentialDrift(early, late, sign * (early - late), int(last_of_pulse.sum()))
