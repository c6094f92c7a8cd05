"""Electrochemical stability limit from a linear sweep voltammogram.

The stability (decomposition) limit of an electrolyte is conventionally read as the potential at
which the current density of an LSV on an inert electrode first exceeds a cut-off j_cut (e.g.
Xu, Chem. Rev. 104, 4303 (2004) §2.2; REFERENCES §1.2: "the limit is E where j = j_cut (report
j_cut and electrode)"). The result depends on j_cut, the scan rate and the electrode, so all are
reported with it.

Method: j(E) = |i − i_base|/A, with the optional baseline i_base the capacitive (charging) current
C_dl·v, estimated as the mean (or a straight-line fit against E) of the current in a low-potential
window where no decomposition occurs. The limit is the first sample, in sweep order, at which j
reaches j_cut (optionally for ``consecutive`` samples in a row, to ignore single spikes), linearly
interpolated against the previous sample, so it always lies between two swept potentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import (
    FloatArray,
    finite_scalar,
    line_fit,
    require_finite,
    same_length,
    series,
)
from labctl.analysis.errors import AnalysisError

__all__ = ["StabilityLimit", "stability_limit"]

_ANALYSIS = "LSV stability limit"


@dataclass(frozen=True)
class StabilityLimit:
    """Result of :func:`stability_limit`."""

    potential: float
    """The stability limit E_lim in V (first crossing of j_cut, interpolated)."""
    current_density_threshold: float
    """j_cut in A/m² (1 mA/cm² = 10 A/m²)."""
    electrode_area: float
    """Electrode area in m² used to form the current density."""
    baseline_current: float
    """The capacitive baseline subtracted, in A, evaluated at E_lim (0 without a baseline)."""
    index: int
    """Index of the first sample at or above j_cut (the crossing lies between it and the one
    before)."""
    sweep_direction: Literal["anodic", "cathodic"]
    """``anodic`` when the potential rises through the sweep, ``cathodic`` when it falls."""


def _baseline(
    potential: FloatArray,
    current: FloatArray,
    window: tuple[float, float],
    kind: Literal["constant", "linear"],
) -> FloatArray:
    low, high = sorted(window)
    inside = (potential >= low) & (potential <= high)
    needed = 2 if kind == "linear" else 1
    if int(inside.sum()) < needed:
        raise AnalysisError(
            _ANALYSIS,
            f"the baseline window [{low:.4g}, {high:.4g}] V holds {int(inside.sum())} samples; "
            f"at least {needed} are needed",
        )
    line = line_fit(potential[inside], current[inside]) if kind == "linear" else None
    if line is None:
        return np.full_like(current, float(np.mean(current[inside])))
    slope, intercept = line
    return np.asarray(intercept + slope * potential, dtype=np.float64)


def stability_limit(
    potential: ArrayLike,
    current: ArrayLike,
    *,
    electrode_area: float,
    current_density_threshold: float,
    baseline_window: tuple[float, float] | None = None,
    baseline: Literal["constant", "linear"] = "constant",
    consecutive: int = 1,
) -> StabilityLimit:
    """The first potential at which |i − i_base|/A reaches j_cut (method in the module docstring).

    Args:
        potential: E in V, shape (n,), in sweep (time) order.
        current: i in A, shape (n,).
        electrode_area: A in m².
        current_density_threshold: j_cut in A/m², > 0.
        baseline_window: (E_low, E_high) in V where only charging current flows; no baseline is
            subtracted when omitted.
        baseline: ``constant`` (mean current in the window: C_dl·v) or ``linear`` (straight line
            against E fitted in the window and extrapolated).
        consecutive: how many samples in a row must reach j_cut.

    Raises:
        AnalysisError: unusable arrays, j_cut already reached at the first sample, or never
            reached (the message gives the maximum current density and where it occurred).
    """
    e = series(_ANALYSIS, "potential", potential)
    i = series(_ANALYSIS, "current", current)
    same_length(_ANALYSIS, potential=e, current=i)
    area = finite_scalar(_ANALYSIS, "electrode_area", electrode_area, positive=True)
    threshold = finite_scalar(
        _ANALYSIS, "current_density_threshold", current_density_threshold, positive=True
    )
    if consecutive < 1:
        raise AnalysisError(_ANALYSIS, f"consecutive must be at least 1, got {consecutive}")
    with np.errstate(all="ignore"):
        base = (
            np.zeros_like(i)
            if baseline_window is None
            else _baseline(e, i, baseline_window, baseline)
        )
        density = np.abs(i - base) / area
    if not np.all(np.isfinite(density)):
        raise AnalysisError(_ANALYSIS, "the current density overflows; check the units (A, m²)")
    above = density >= threshold
    if consecutive > 1:
        runs = np.convolve(above.astype(np.int64), np.ones(consecutive, dtype=np.int64), "valid")
        starts = np.flatnonzero(runs == consecutive)
    else:
        starts = np.flatnonzero(above)
    if starts.size == 0:
        peak = int(np.argmax(density))
        raise AnalysisError(
            _ANALYSIS,
            f"the current density never reached j_cut = {threshold:.4g} A/m² "
            f"(maximum {density[peak]:.4g} A/m² at {e[peak]:.4g} V)",
        )
    index = int(starts[0])
    if index == 0:
        raise AnalysisError(
            _ANALYSIS,
            f"the current density {density[0]:.4g} A/m² already reaches j_cut = "
            f"{threshold:.4g} A/m² at the first sample ({e[0]:.4g} V): the limit lies outside "
            "the swept range",
        )
    before, after = density[index - 1], density[index]
    with np.errstate(all="ignore"):
        fraction = float(np.clip((threshold - before) / (after - before), 0.0, 1.0))
        limit = float((1.0 - fraction) * e[index - 1] + fraction * e[index])
        base_at_limit = float((1.0 - fraction) * base[index - 1] + fraction * base[index])
    # Rounding must never carry the interpolated value past either sample.
    limit = float(np.clip(limit, min(e[index - 1], e[index]), max(e[index - 1], e[index])))
    require_finite(_ANALYSIS, potential=limit, baseline_current=base_at_limit)
    direction: Literal["anodic", "cathodic"] = "anodic" if e[-1] >= e[0] else "cathodic"
    return StabilityLimit(limit, threshold, area, base_at_limit, index, direction)
