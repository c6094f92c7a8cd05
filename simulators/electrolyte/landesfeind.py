"""Landesfeind & Gasteiger's published fits of LiPF6-in-carbonate transport properties.

Implemented from the formulas (pure functions, vectorized):

* Landesfeind & Gasteiger, "Temperature and Concentration Dependence of the Ionic Transport
  Properties of Lithium-Ion Battery Electrolytes", J. Electrochem. Soc. 166 (14), A3079 (2019):
  conductivity κ(c, T), salt diffusivity D(c, T), transference number t⁺(c, T) and thermodynamic
  factor TDF(c, T) for LiPF6 in EC:DMC 1:1, EC:EMC 3:7 and EMC:FEC 19:1 (w:w). The coefficients
  are the ones PyBaMM uses for these systems (``ORegan2022`` for EC:EMC 3:7, the
  ``lipf6_*_Landesfeind2019`` sets for the others); the tests check this implementation against
  PyBaMM's own check values. The fits cover roughly −10…+50 °C and 0.1–2 mol/L.

A second, independent parameterisation (Valøen & Reimers 2005) is in :mod:`.valoen`.

Units follow the paper's practice, not SI, because the coefficients are defined that way:
concentration ``c`` in mol/L, temperature ``T`` in K. Every function returns SI: conductivity in
S/m, diffusivity in m²/s; t⁺ and TDF are dimensionless. Inputs broadcast like numpy arrays; the
result is always a float64 array (0-d for scalar inputs — use ``float()``).

These functions reproduce the published *fits*, which is not the same as reproducing the data:
two fits of "the same" electrolyte differ by ≈ ±5 % at 1 M and 25 °C and up to ≈ ±25 % at 2 M or
−10 °C. :func:`in_fit_range` says whether a point lies where the fits were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FIT_CONCENTRATION_RANGE",
    "FIT_TEMPERATURE_RANGE",
    "LANDESFEIND_SYSTEMS",
    "LandesfeindSystem",
    "SystemName",
    "in_fit_range",
]

FloatArray = npt.NDArray[np.float64]

SystemName = Literal["EC:DMC 1:1", "EC:EMC 3:7", "EMC:FEC 19:1"]

# The range over which Landesfeind & Gasteiger measured (−10…+50 °C, 0.1–2 mol/L; their Table I
# ranges, rounded): outside it a fit is an extrapolation.
FIT_TEMPERATURE_RANGE = (263.15, 323.15)
FIT_CONCENTRATION_RANGE = (0.1, 2.0)


def _arrays(
    concentration: npt.ArrayLike, temperature: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Both inputs as float64 arrays, broadcast together."""
    c = np.asarray(concentration, dtype=np.float64)
    t = np.asarray(temperature, dtype=np.float64)
    c_b, t_b = np.broadcast_arrays(c, t)
    return c_b, t_b


def in_fit_range(
    concentration: npt.ArrayLike, temperature: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Whether (c, T) lies inside the measured range of the Landesfeind & Gasteiger fits.

    Args:
        concentration: salt concentration c, mol/L.
        temperature: T, K.

    Returns:
        Boolean array of the broadcast shape: True inside 0.1–2 mol/L and 263.15–323.15 K.
    """
    c, t = _arrays(concentration, temperature)
    c_low, c_high = FIT_CONCENTRATION_RANGE
    t_low, t_high = FIT_TEMPERATURE_RANGE
    inside: npt.NDArray[np.bool_] = (c >= c_low) & (c <= c_high) & (t >= t_low) & (t <= t_high)
    return inside


def _polynomial(q: tuple[float, ...], c: FloatArray, t: FloatArray) -> FloatArray:
    """Landesfeind & Gasteiger's cubic in (c, T) used for t⁺ and the thermodynamic factor."""
    q1, q2, q3, q4, q5, q6, q7, q8, q9 = q
    result: FloatArray = (
        q1
        + q2 * c
        + q3 * t
        + q4 * c**2
        + q5 * c * t
        + q6 * t**2
        + q7 * c**3
        + q8 * c**2 * t
        + q9 * c * t**2
    )
    return result


@dataclass(frozen=True)
class LandesfeindSystem:
    """One electrolyte of Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079 (2019).

    Args:
        name: the system, e.g. ``"EC:EMC 3:7"`` (solvent mass ratio, LiPF6 salt).
        solvent_fractions: solvent → mass fraction of the salt-free solvent blend.
        conductivity_coefficients: p1…p6 of the conductivity fit (κ in mS/cm).
        diffusivity_coefficients: p1…p4 of the diffusivity fit (D in 1e-10 m²/s).
        transference_coefficients: q1…q9 of the t⁺ polynomial.
        thermodynamic_factor_coefficients: q1…q9 of the TDF polynomial.
    """

    name: SystemName
    solvent_fractions: dict[str, float]
    conductivity_coefficients: tuple[float, float, float, float, float, float]
    diffusivity_coefficients: tuple[float, float, float, float]
    transference_coefficients: tuple[float, ...]
    thermodynamic_factor_coefficients: tuple[float, ...]

    def conductivity(self, concentration: npt.ArrayLike, temperature: npt.ArrayLike) -> FloatArray:
        """Ionic conductivity κ, S/m (Landesfeind & Gasteiger 2019, eq. for κ(c, T)).

        κ [mS/cm] = p1 (1 + (T − p2)) c (1 + p3 √c + p4 (1 + p5 e^{1000/T}) c)
        / (1 + c⁴ p6 e^{1000/T}); 1 mS/cm = 0.1 S/m.

        Args:
            concentration: c, mol/L (≥ 0).
            temperature: T, K.
        """
        c, t = _arrays(concentration, temperature)
        p1, p2, p3, p4, p5, p6 = self.conductivity_coefficients
        boltzmann_like = np.exp(1000.0 / t)
        millisiemens_per_cm = (
            p1
            * (1.0 + (t - p2))
            * c
            * (1.0 + p3 * np.sqrt(c) + p4 * (1.0 + p5 * boltzmann_like) * c)
            / (1.0 + c**4 * p6 * boltzmann_like)
        )
        result: FloatArray = 0.1 * millisiemens_per_cm
        return result

    def diffusivity(self, concentration: npt.ArrayLike, temperature: npt.ArrayLike) -> FloatArray:
        """Salt diffusion coefficient D, m²/s (Landesfeind & Gasteiger 2019).

        D = p1 exp(p2 c) exp(p3/T) exp(p4 c/T) × 1e-10 m²/s.

        Args:
            concentration: c, mol/L.
            temperature: T, K.
        """
        c, t = _arrays(concentration, temperature)
        p1, p2, p3, p4 = self.diffusivity_coefficients
        result: FloatArray = p1 * np.exp(p2 * c) * np.exp(p3 / t) * np.exp(p4 * c / t) * 1e-10
        return result

    def transference_number(
        self, concentration: npt.ArrayLike, temperature: npt.ArrayLike
    ) -> FloatArray:
        """Cation transference number t⁺ (dimensionless; Landesfeind & Gasteiger 2019).

        The fit can be negative (EMC:FEC 19:1 near 1 M, 283 K): it is returned as fitted, never
        clipped, so models that divide by (1 − t⁺) see what the fit says.

        Args:
            concentration: c, mol/L.
            temperature: T, K.
        """
        c, t = _arrays(concentration, temperature)
        return _polynomial(self.transference_coefficients, c, t)

    def thermodynamic_factor(
        self, concentration: npt.ArrayLike, temperature: npt.ArrayLike
    ) -> FloatArray:
        """Thermodynamic factor 1 + d ln f±/d ln c (dimensionless; Landesfeind & Gasteiger 2019).

        Args:
            concentration: c, mol/L.
            temperature: T, K.
        """
        c, t = _arrays(concentration, temperature)
        return _polynomial(self.thermodynamic_factor_coefficients, c, t)


LANDESFEIND_SYSTEMS: dict[SystemName, LandesfeindSystem] = {
    "EC:DMC 1:1": LandesfeindSystem(
        name="EC:DMC 1:1",
        solvent_fractions={"EC": 0.5, "DMC": 0.5},
        conductivity_coefficients=(7.98e-1, 2.28e2, -1.22, 5.09e-1, -4.0e-3, 3.79e-3),
        diffusivity_coefficients=(1.47e3, 1.33, -1.69e3, -5.63e2),
        transference_coefficients=(
            -7.91,
            2.45e-1,
            5.28e-2,
            6.98e-1,
            -1.08e-2,
            -8.21e-5,
            7.43e-4,
            -2.22e-3,
            3.07e-5,
        ),
        thermodynamic_factor_coefficients=(
            -5.58,
            7.17,
            3.80e-2,
            1.91,
            -6.65e-2,
            -5.08e-5,
            1.1e-1,
            -6.10e-3,
            1.51e-4,
        ),
    ),
    "EC:EMC 3:7": LandesfeindSystem(
        name="EC:EMC 3:7",
        solvent_fractions={"EC": 0.3, "EMC": 0.7},
        conductivity_coefficients=(5.21e-1, 2.28e2, -1.06, 3.53e-1, -3.59e-3, 1.48e-3),
        diffusivity_coefficients=(1.01e3, 1.01, -1.56e3, -4.87e2),
        transference_coefficients=(
            -1.28e1,
            -6.12,
            8.21e-2,
            9.04e-1,
            3.18e-2,
            -1.27e-4,
            1.75e-2,
            -3.12e-3,
            -3.96e-5,
        ),
        thermodynamic_factor_coefficients=(
            2.57e1,
            -4.51e1,
            -1.77e-1,
            1.94,
            2.95e-1,
            3.08e-4,
            2.59e-1,
            -9.46e-3,
            -4.54e-4,
        ),
    ),
    "EMC:FEC 19:1": LandesfeindSystem(
        name="EMC:FEC 19:1",
        solvent_fractions={"EMC": 0.95, "FEC": 0.05},
        conductivity_coefficients=(2.51e-2, 1.75e2, 1.23, 2.05e-1, -8.81e-2, 2.83e-3),
        diffusivity_coefficients=(5.86e2, 1.33, -1.38e3, -5.82e2),
        transference_coefficients=(
            -1.22e1,
            -3.05,
            8.38e-2,
            1.78,
            1.51e-3,
            -1.37e-4,
            -2.45e-2,
            -5.15e-3,
            2.14e-5,
        ),
        thermodynamic_factor_coefficients=(
            3.22,
            -1.01e1,
            -1.58e-2,
            6.12,
            2.96e-2,
            2.42e-5,
            -2.22e-1,
            -1.57e-2,
            6.30e-6,
        ),
    ),
}
"""The three Landesfeind & Gasteiger systems, by name (LiPF6 salt; solvent ratios by mass)."""
