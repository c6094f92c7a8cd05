"""Validation of an impedance spectrum given as (frequency, Z′, Z″) arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis._arrays import FloatArray, same_length, series
from labctl.analysis._fit import ComplexArray
from labctl.analysis.errors import AnalysisError

__all__ = ["Spectrum", "spectrum"]


@dataclass(frozen=True)
class Spectrum:
    """A validated spectrum sorted from high to low frequency."""

    frequency: FloatArray
    """Frequencies in Hz, strictly decreasing."""
    impedance: ComplexArray
    """Z = Z′ + jZ″ in ohm (Z″ < 0 for a capacitive cell)."""

    @property
    def angular_frequency(self) -> FloatArray:
        """ω = 2πf in rad/s."""
        return 2.0 * np.pi * self.frequency


def spectrum(
    analysis: str, frequency: ArrayLike, z_real: ArrayLike, z_imag: ArrayLike, *, min_points: int
) -> Spectrum:
    """Check the three arrays and return them as one spectrum sorted by decreasing frequency.

    Raises:
        AnalysisError: non-finite or mismatched arrays, too few points, a frequency that is not
            positive, or repeated frequencies.
    """
    f = series(analysis, "frequency", frequency, min_length=min_points)
    real = series(analysis, "z_real", z_real, min_length=min_points)
    imag = series(analysis, "z_imag", z_imag, min_length=min_points)
    same_length(analysis, frequency=f, z_real=real, z_imag=imag)
    if np.any(f <= 0.0):
        raise AnalysisError(analysis, f"frequencies must be positive (minimum {f.min()!r} Hz)")
    order = np.argsort(-f, kind="stable")
    f = f[order]
    if np.any(np.diff(f) == 0.0):
        raise AnalysisError(analysis, "a frequency appears twice")
    impedance = (real[order] + 1j * imag[order]).astype(np.complex128)
    return Spectrum(f, impedance)
