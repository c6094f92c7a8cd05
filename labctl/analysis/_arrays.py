"""Checks that turn caller input into clean 1-D float arrays, or raise :class:`AnalysisError`."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.analysis.errors import AnalysisError

__all__ = [
    "FloatArray",
    "finite_scalar",
    "line_fit",
    "require_finite",
    "same_length",
    "series",
]

FloatArray = NDArray[np.float64]


def series(analysis: str, name: str, values: ArrayLike, *, min_length: int = 2) -> FloatArray:
    """Return ``values`` as a finite 1-D float64 array of at least ``min_length`` samples.

    Raises:
        AnalysisError: the values are not real numbers, not 1-D, too short, or not all finite.
    """
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise AnalysisError(analysis, f"{name} is not an array of numbers ({error})") from error
    if raw.dtype.kind not in "biuf":
        raise AnalysisError(analysis, f"{name} must hold real numbers, got dtype {raw.dtype}")
    array = raw.astype(np.float64)
    if array.ndim != 1:
        raise AnalysisError(analysis, f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size < min_length:
        raise AnalysisError(
            analysis, f"{name} has {array.size} samples; at least {min_length} are needed"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.argmax(bad))
        raise AnalysisError(
            analysis, f"{name} has {int(bad.sum())} non-finite values (first at index {first})"
        )
    return array


def same_length(analysis: str, **arrays: FloatArray) -> None:
    """Raise unless every array has the same number of samples."""
    lengths = {name: array.size for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} {size}" for name, size in lengths.items())
        raise AnalysisError(analysis, f"arrays differ in length ({shown})")


def finite_scalar(analysis: str, name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` as a float, raising unless it is finite (and > 0 when ``positive``)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise AnalysisError(analysis, f"{name} must be a number, got {value!r}") from error
    if not math.isfinite(number) or (positive and number <= 0.0):
        wanted = "a finite positive number" if positive else "a finite number"
        raise AnalysisError(analysis, f"{name} must be {wanted}, got {number!r}")
    return number


def require_finite(analysis: str, **values: float) -> None:
    """Raise when a computed result overflowed or became undefined (extreme input values)."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise AnalysisError(
                analysis, f"{name} came out as {value!r}; the input values are out of range"
            )


def line_fit(x: FloatArray, y: FloatArray) -> tuple[float, float] | None:
    """Least-squares straight line y = slope·x + intercept, or None when it is not determined.

    Unlike :func:`numpy.polyfit` it never warns: a single distinct x, too few points or values
    that overflow give None.
    """
    if x.size < 2:
        return None
    with np.errstate(all="ignore"):
        centre = float(np.mean(x))
        shifted = x - centre
        spread = float(np.dot(shifted, shifted))
        if not (np.isfinite(spread) and spread > 0.0):
            return None
        slope = float(np.dot(shifted, y - np.mean(y)) / spread)
        intercept = float(np.mean(y)) - slope * centre
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        return None
    return slope, intercept
