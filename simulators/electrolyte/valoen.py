"""Valøen & Reimers' published fits of LiPF6 transport properties (pure functions, vectorized).

L. O. Valøen & J. N. Reimers, "Transport Properties of LiPF6-Based Li-Ion Battery Electrolytes",
J. Electrochem. Soc. 152 (5), A882 (2005): conductivity (eq. 17) and salt diffusivity (eq. 13),
with t⁺ = 0.38, for LiPF6 in PC:EC:DMC 10:27:63 (v/v), fitted over 263–333 K and 0–4 mol/L.
Implemented from the formulas; the model is a second, independent parameterisation used to judge
the plausibility of the others (and, in :mod:`.viscosity`, for the salt's effect on D).

Units as in the paper: concentration c in mol/L, temperature T in K; results in SI (S/m, m²/s).
Inputs broadcast like numpy arrays; results are float64 arrays (0-d for scalars).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

__all__ = ["ValoenReimers"]

FloatArray = npt.NDArray[np.float64]


def _arrays(
    concentration: npt.ArrayLike, temperature: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Both inputs as float64 arrays, broadcast together."""
    c, t = np.broadcast_arrays(
        np.asarray(concentration, dtype=np.float64), np.asarray(temperature, dtype=np.float64)
    )
    return c, t


class ValoenReimers:
    """LiPF6 in PC:EC:DMC 10:27:63 (v/v): Valøen & Reimers, J. Electrochem. Soc. 152, A882 (2005).

    A second, independent parameterisation used to judge the plausibility of the others.
    """

    solvent_volume_fractions: ClassVar[dict[str, float]] = {"PC": 0.10, "EC": 0.27, "DMC": 0.63}
    """The paper's solvent blend, by volume."""

    cation_transference_number: ClassVar[float] = 0.38
    """t⁺, taken as constant by the paper."""

    @staticmethod
    def conductivity(concentration: npt.ArrayLike, temperature: npt.ArrayLike) -> FloatArray:
        """Ionic conductivity κ, S/m (Valøen & Reimers 2005, eq. 17).

        κ [mS/cm] = c [(−10.5 + 0.0740 T − 6.96e-5 T²) + c (0.668 − 0.0178 T + 2.80e-5 T²)
        + c² (0.494 − 8.86e-4 T)]².

        Args:
            concentration: c, mol/L.
            temperature: T, K.
        """
        c, t = _arrays(concentration, temperature)
        bracket = (
            (-10.5 + 0.0740 * t - 6.96e-5 * t**2)
            + c * (0.668 - 0.0178 * t + 2.80e-5 * t**2)
            + c**2 * (0.494 - 8.86e-4 * t)
        )
        result: FloatArray = 0.1 * c * bracket**2
        return result

    @staticmethod
    def diffusivity(concentration: npt.ArrayLike, temperature: npt.ArrayLike) -> FloatArray:
        """Salt diffusion coefficient D, m²/s (Valøen & Reimers 2005, eq. 13).

        D [cm²/s] = 10^(−4.43 − 54/(T − 229 − 5c) − 0.22 c); 1 cm²/s = 1e-4 m²/s.

        Args:
            concentration: c, mol/L.
            temperature: T, K (the form diverges at T = 229 K + 5c).
        """
        c, t = _arrays(concentration, temperature)
        result: FloatArray = 1e-4 * 10.0 ** (-4.43 - 54.0 / (t - 229.0 - 5.0 * c) - 0.22 * c)
        return result

    @classmethod
    def transference_number(
        cls, concentration: npt.ArrayLike, temperature: npt.ArrayLike
    ) -> FloatArray:
        """Cation transference number, the constant t⁺ = 0.38 (dimensionless), broadcast.

        Args:
            concentration: c, mol/L.
            temperature: T, K.
        """
        c, _ = _arrays(concentration, temperature)
        return np.full_like(c, cls.cation_transference_number)
