"""Peak potentials and currents of cyclic voltammograms, cycle by cycle.

Segmentation: the potential record is cut at its turning points (a reversal counts once the
potential has come back by ``vertex_tolerance`` of the full span, so noise on a measured potential
makes no false vertices). Consecutive sweeps pair into cycles: (forward, reverse), (forward,
reverse), …; a trailing unpaired sweep (the return to the start potential) is not a cycle.

Forward peak: the current is corrected against the charging (capacitive) current extrapolated from
a straight-line fit of i(E) over the first ``baseline_fraction`` of the sweep, where only the
double layer charges (Bard & Faulkner, *Electrochemical Methods* 2nd ed. §6.2.4 and Fig. 6.2.3).
Reverse peak: the charging current reverses sign with the scan direction, so the reverse sweep's
charging baseline is the mirror −i_c(E) of the forward one; the decaying forward current under the
reverse peak is then removed with Nicholson's relation (Nicholson, Anal. Chem. 38, 1406 (1966)),
|i_p,rev| = |i_p,rev|₀ + 0.485 |i_sp|₀ + 0.086 |i_p,fwd|, with |i_p,rev|₀ the reverse peak measured
from the charging baseline and |i_sp|₀ the faradaic current at the switching potential.

Peak positions are refined by a parabola through the largest sample and its two neighbours.
Reported: E_pa, E_pc, i_pa (> 0), i_pc (< 0, IUPAC sign), ΔE_p = E_pa − E_pc, E½ = (E_pa + E_pc)/2
and i_pa/|i_pc|. For a reversible n-electron couple at 25 °C, ΔE_p ≈ 57–59 mV/n and the forward
peak follows Randles–Sevcik, i_p = 0.4463 nFAC √(nFvD/(RT)) (Bard & Faulkner eq. 6.2.19). On
cycles after the first, the forward sweep starts in the tail of the previous reverse peak, so its
baseline includes that tail (the usual convention): compare peak currents on the first cycle.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import FloatArray, line_fit, require_finite, same_length, series
from labctl.analysis.errors import AnalysisError

__all__ = ["CVCycle", "cv_peaks", "sweep_segments"]

_ANALYSIS = "CV peaks"
_NICHOLSON_SWITCHING = 0.485
_NICHOLSON_OFFSET = 0.086


@dataclass(frozen=True)
class CVCycle:
    """Peaks of one cycle (a forward and a reverse sweep)."""

    cycle: int
    """Cycle number, from 1."""
    first_sweep: Literal["anodic", "cathodic"]
    """Direction of the cycle's forward sweep."""
    switching_potential: float
    """Potential at the turn between the two sweeps, V."""
    anodic_peak_potential: float
    """E_pa, V."""
    anodic_peak_current: float
    """i_pa, A, baseline-corrected (> 0)."""
    cathodic_peak_potential: float
    """E_pc, V."""
    cathodic_peak_current: float
    """i_pc, A, baseline-corrected (< 0)."""

    @property
    def peak_separation(self) -> float:
        """ΔE_p = E_pa − E_pc, V."""
        return self.anodic_peak_potential - self.cathodic_peak_potential

    @property
    def half_wave_potential(self) -> float:
        """E½ = (E_pa + E_pc)/2, V."""
        return 0.5 * (self.anodic_peak_potential + self.cathodic_peak_potential)

    @property
    def peak_current_ratio(self) -> float:
        """i_pa/|i_pc|, dimensionless (1 for a chemically reversible couple)."""
        return self.anodic_peak_current / abs(self.cathodic_peak_current)


def sweep_segments(
    potential: ArrayLike, *, vertex_tolerance: float = 0.02
) -> list[tuple[int, int]]:
    """Cut a potential record into monotonic sweeps.

    Args:
        potential: E in V, shape (n,), in time order.
        vertex_tolerance: a reversal counts once E has come back by this fraction of its span.

    Returns:
        (first, last) sample indices of each sweep, inclusive; consecutive sweeps share a vertex.

    Raises:
        AnalysisError: unusable array or a potential that never moves.
    """
    e = series(_ANALYSIS, "potential", potential, min_length=3)
    span = float(np.ptp(e))
    if not span > 0.0 or not np.isfinite(span):
        raise AnalysisError(_ANALYSIS, "the potential never moves (or spans an overflowing range)")
    tolerance = vertex_tolerance * span
    turns = [0]
    direction = 0
    extreme = 0
    for k in range(1, e.size):
        if direction == 0:
            if abs(e[k] - e[0]) > tolerance:
                direction = 1 if e[k] > e[0] else -1
                extreme = k
        elif direction * (e[k] - e[extreme]) >= 0.0:
            extreme = k
        elif direction * (e[extreme] - e[k]) > tolerance:
            turns.append(extreme)
            direction = -direction
            extreme = k
    if turns[-1] != e.size - 1:
        turns.append(e.size - 1)
    return list(itertools.pairwise(turns))


def _smooth(values: FloatArray, window: int) -> FloatArray:
    if window <= 1:
        return values
    kernel = np.ones(window, dtype=np.float64)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones_like(values), kernel, mode="same")
    return np.asarray(total / count, dtype=np.float64)


def _charging_line(
    potential: FloatArray, current: FloatArray, fraction: float
) -> tuple[float, float]:
    """(slope, intercept) of i(E) over the first ``fraction`` of a sweep's span."""
    travelled = np.abs(potential - potential[0])
    inside = travelled <= fraction * float(travelled.max())
    line = line_fit(potential[inside], current[inside])
    return (0.0, float(current[0])) if line is None else line


def _peak(
    potential: FloatArray, signal: FloatArray, which: str, cycle: int
) -> tuple[float, float, int]:
    """Largest interior maximum of ``signal``: (E, refined value, index)."""
    k = int(np.argmax(signal))
    if signal[k] <= 0.0:
        reason = "the corrected current never exceeds the baseline"
    elif k == 0:
        reason = "the corrected current is largest at the start of the sweep"
    elif k == signal.size - 1:
        reason = "the corrected current is largest at the vertex, still rising"
    else:
        reason = ""
    if reason:
        raise AnalysisError(_ANALYSIS, f"cycle {cycle}: no {which} peak ({reason})")
    # Parabola a·x² + b·x + y1 through the three samples, x relative to the middle one.
    x0, x2 = float(potential[k - 1] - potential[k]), float(potential[k + 1] - potential[k])
    y0, y1, y2 = (float(value) for value in signal[k - 1 : k + 2])
    with np.errstate(all="ignore"):
        if x0 != 0.0 and x2 != 0.0 and x0 != x2:
            d1, d2 = (y1 - y0) / -x0, (y2 - y1) / x2
            a = (d2 - d1) / (x2 - x0)
            b = d1 - a * x0
            vertex = -b / (2.0 * a) if a < 0.0 else math.nan
            if math.isfinite(vertex) and min(x0, x2) <= vertex <= max(x0, x2):
                return float(potential[k] + vertex), y1 - b * b / (4.0 * a), k
    return float(potential[k]), y1, k


def cv_peaks(
    potential: ArrayLike,
    current: ArrayLike,
    *,
    baseline_fraction: float = 0.15,
    vertex_tolerance: float = 0.02,
    smoothing_window: int = 1,
) -> tuple[CVCycle, ...]:
    """Peak potentials and currents of every complete cycle (method in the module docstring).

    Args:
        potential: E in V, shape (n,), in time order.
        current: i in A, shape (n,), anodic positive.
        baseline_fraction: share of each forward sweep's span, from its start, where only
            charging current flows.
        vertex_tolerance: see :func:`sweep_segments`.
        smoothing_window: samples in a centred moving average applied to the current before the
            peaks are searched (1: none).

    Returns:
        One :class:`CVCycle` per complete (forward, reverse) pair of sweeps.

    Raises:
        AnalysisError: unusable arrays, no complete cycle, or a sweep without a peak.
    """
    e = series(_ANALYSIS, "potential", potential, min_length=7)
    i = series(_ANALYSIS, "current", current, min_length=7)
    same_length(_ANALYSIS, potential=e, current=i)
    if not 0.0 < baseline_fraction < 1.0:
        raise AnalysisError(
            _ANALYSIS, f"baseline_fraction must be in (0, 1), got {baseline_fraction}"
        )
    if smoothing_window < 1:
        raise AnalysisError(_ANALYSIS, f"smoothing_window must be ≥ 1, got {smoothing_window}")
    segments = sweep_segments(e, vertex_tolerance=vertex_tolerance)
    if len(segments) < 2:
        raise AnalysisError(_ANALYSIS, "the record holds no reversal: not a cyclic voltammogram")
    with np.errstate(all="ignore"):
        smooth = _smooth(i, smoothing_window)
        cycles = []
        for number, pair in enumerate(range(0, len(segments) - 1, 2), start=1):
            cycles.append(
                _cycle(e, smooth, segments[pair], segments[pair + 1], baseline_fraction, number)
            )
    return tuple(cycles)


def _cycle(
    e: FloatArray,
    i: FloatArray,
    forward: tuple[int, int],
    reverse: tuple[int, int],
    fraction: float,
    number: int,
) -> CVCycle:
    e_fwd, i_fwd = e[forward[0] : forward[1] + 1], i[forward[0] : forward[1] + 1]
    e_rev, i_rev = e[reverse[0] : reverse[1] + 1], i[reverse[0] : reverse[1] + 1]
    if e_fwd.size < 3 or e_rev.size < 3:
        raise AnalysisError(_ANALYSIS, f"cycle {number}: a sweep has fewer than 3 samples")
    sign = 1.0 if e_fwd[-1] > e_fwd[0] else -1.0
    forward_kind, reverse_kind = ("anodic", "cathodic") if sign > 0 else ("cathodic", "anodic")
    slope, intercept = _charging_line(e_fwd, i_fwd, fraction)
    faradaic_fwd = i_fwd - (slope * e_fwd + intercept)
    faradaic_rev = i_rev + (slope * e_rev + intercept)
    e_p_fwd, size_fwd, _ = _peak(e_fwd, sign * faradaic_fwd, forward_kind, number)
    e_p_rev, size_rev_zero, _ = _peak(e_rev, -sign * faradaic_rev, reverse_kind, number)
    switching = sign * float(faradaic_fwd[-1])
    size_rev = size_rev_zero + _NICHOLSON_SWITCHING * switching + _NICHOLSON_OFFSET * size_fwd
    i_fwd_peak, i_rev_peak = sign * size_fwd, -sign * size_rev
    if sign > 0:
        anodic, cathodic = (e_p_fwd, i_fwd_peak), (e_p_rev, i_rev_peak)
    else:
        anodic, cathodic = (e_p_rev, i_rev_peak), (e_p_fwd, i_fwd_peak)
    require_finite(
        _ANALYSIS,
        anodic_peak_potential=anodic[0],
        anodic_peak_current=anodic[1],
        cathodic_peak_potential=cathodic[0],
        cathodic_peak_current=cathodic[1],
    )
    if not (anodic[1] > 0.0 and cathodic[1] < 0.0):
        raise AnalysisError(
            _ANALYSIS,
            f"cycle {number}: the corrected peak currents have the wrong signs "
            f"(i_pa {anodic[1]:.4g} A, i_pc {cathodic[1]:.4g} A)",
        )
    return CVCycle(
        cycle=number,
        first_sweep="anodic" if sign > 0 else "cathodic",
        switching_potential=float(e_fwd[-1]),
        anodic_peak_potential=anodic[0],
        anodic_peak_current=anodic[1],
        cathodic_peak_potential=cathodic[0],
        cathodic_peak_current=cathodic[1],
    )
