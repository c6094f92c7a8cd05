"""Electrolyte viscosity: a SURROGATE for LiPF6 in carbonates, and Laliberté's aqueous ZnSO4 model.

Carbonates (SURROGATE — no open general model exists): the salt-free blend viscosity η_mix(T)
(Grunberg–Nissan, :func:`.mixing.blend_viscosity`) raised by the salt as the salt's diffusivity
falls, Stokes–Einstein-like,

    η(c, T) = η_mix(T) · (D(0, T) / D(c, T))^β,   β = 1.3,

with D(c, T) the Valøen & Reimers (2005) diffusivity (eq. 13; one parameterisation for every
blend, since no blend-resolved D exists). β between 1 and 1.5 is the plausible range; with 1.3 the
Walden product Λ·η = (κ/c)·η of the conductivity surrogate stays within −13…+19 % of its 1 mol/L
value over 0.5–1.5 mol/L for EC:DMC 1:1 and EC:EMC 3:7 at 10–40 °C, and 1 mol/L LiPF6 in
EC:EMC 3:7 at 25 °C comes out at ≈ 2.4 mPa·s. Declared accuracy: ±30 %.

Aqueous ZnSO4 (published): M. Laliberté, J. Chem. Eng. Data 54, 1725 (2009), eqs. 8–10 and 12,
ZnSO4 coefficients v1…v6 = 13.5925, 1.35400, 10.5559, 0.00360342, 613.223, 0.195826, valid for
15–55 °C and mass fraction w ≤ 0.318.

Units: viscosity Pa·s, temperature K, molarity mol/L, mass fraction dimensionless.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from labctl.errors import UnitError
from labctl.simulators.electrolyte.mixing import blend_viscosity
from labctl.simulators.electrolyte.valoen import ValoenReimers

__all__ = [
    "VISCOSITY_EXPONENT",
    "carbonate_viscosity",
    "water_viscosity",
    "zinc_sulfate_viscosity",
]

VISCOSITY_EXPONENT = 1.3
"""β of the carbonate surrogate."""

_ZNSO4 = (13.5925, 1.35400, 10.5559, 0.00360342, 613.223, 0.195826)
_ZNSO4_MAX_MASS_FRACTION = 0.318


def carbonate_viscosity(
    molarity: float,
    solvent_fractions: Mapping[str, float],
    temperature: float,
    exponent: float = VISCOSITY_EXPONENT,
) -> float:
    """SURROGATE viscosity of LiPF6 in a carbonate blend, Pa·s (declared accuracy ±30 %).

    Args:
        molarity: c, mol/L.
        solvent_fractions: solvent → mass fraction of the salt-free blend.
        temperature: T, K (Valøen & Reimers' D diverges near 229 K + 5c: keep T ≥ 250 K).
        exponent: β.
    """
    if not (math.isfinite(molarity) and molarity >= 0):
        raise UnitError(molarity, "a molarity ≥ 0 in mol/L", "negative or not finite")
    if not temperature > 229.0 + 5.0 * molarity + 10.0:
        raise UnitError(
            temperature, f"a temperature above {239.0 + 5.0 * molarity:.0f} K", "model diverges"
        )
    dilute = float(ValoenReimers.diffusivity(0.0, temperature))
    salted = float(ValoenReimers.diffusivity(molarity, temperature))
    ratio: float = (dilute / salted) ** exponent
    return blend_viscosity(solvent_fractions, temperature) * ratio


def water_viscosity(temperature: float) -> float:
    """Viscosity of water, Pa·s (Laliberté 2009, eq. 12; 0–100 °C).

    μ_w = (t + 246) / ((0.05594 t + 5.2842) t + 137.37) mPa·s, t in °C.

    Args:
        temperature: T, K.
    """
    t = temperature - 273.15
    return 1e-3 * (t + 246.0) / ((0.05594 * t + 5.2842) * t + 137.37)


def zinc_sulfate_viscosity(mass_fraction: float, temperature: float) -> float:
    """Viscosity of aqueous ZnSO4, Pa·s (Laliberté, J. Chem. Eng. Data 54, 1725 (2009)).

    ln μ = w_w ln μ_w + w ln μ_ZnSO4, with
    μ_ZnSO4 = exp((v1 w^v2 + v3)/(v4 t + 1)) / (v5 w^v6 + 1) mPa·s (w = 1 − w_w, t in °C).

    Args:
        mass_fraction: w, mass fraction of ZnSO4 in the solution (0 ≤ w ≤ 0.318).
        temperature: T, K (fitted over 288–328 K).

    Raises:
        UnitError: w outside 0…0.318.
    """
    if not 0.0 <= mass_fraction <= _ZNSO4_MAX_MASS_FRACTION:
        raise UnitError(
            mass_fraction, "a ZnSO4 mass fraction in 0…0.318 (Laliberté's range)", "out of range"
        )
    v1, v2, v3, v4, v5, v6 = _ZNSO4
    t = temperature - 273.15
    w = mass_fraction
    solute_mpas = math.exp((v1 * w**v2 + v3) / (v4 * t + 1.0)) / (v5 * w**v6 + 1.0)
    water_mpas = water_viscosity(temperature) * 1e3
    log_mpas = (1.0 - w) * math.log(water_mpas) + w * math.log(solute_mpas)
    return 1e-3 * math.exp(log_mpas)
