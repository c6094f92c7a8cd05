"""Conductivity across the solvent simplex: a SURROGATE mixing rule, and the liquid check.

No open, validated model gives the conductivity of an arbitrary carbonate blend (INL's Advanced
Electrolyte Model is closed). This module is a SURROGATE, not a published model: it has the
right structure and is calibrated on published fits, and that is all it claims.

Form (Casteel & Amis, J. Chem. Eng. Data 17, 55 (1972)) in the salt molality m, mol/kg:

    κ(m) = κ_max (m/μ)^a exp(b (m − μ)² − (a/μ)(m − μ))

with the peak conductivity κ_max and the molality of the peak μ tied to the salt-free blend's
viscosity η (Grunberg–Nissan, ln η = Σ xᵢ ln ηᵢ(T), no interaction term) and permittivity ε
(volume-fraction mixing, ε = Σ φᵢ εᵢ) through a saturating dissociation variable s = tanh(ε/ε₀):

    ln κ_max = k0 − k1 ln(η / 1 mPa·s) + k2 s      (Walden: ion mobility ∝ 1/η)
    ln μ     = m0 − m1 ln(η / 1 mPa·s) + m2 s
    a = a0 + a1 s,   b = b0 + b1 s + b2 ln(η / 1 mPa·s)

s rises with ε and saturates for highly polar blends, so cyclic carbonates help dissociation but
cannot raise κ without bound when the blend is extrapolated towards pure EC or PC.

Calibration: the twelve constants were fitted by least squares on ln κ against the three
Landesfeind & Gasteiger (2019) systems (EC:DMC 1:1, EC:EMC 3:7, EMC:FEC 19:1) over 0.2–2 mol/L
and 263–323 K, converted to molality with :mod:`.composition`'s density model (the fit is
reproducible: :func:`.calibration.fit_surrogate`). Residuals κ_surrogate/κ_fit − 1 on that grid
(:func:`.calibration.calibration_residuals`, checked by the tests):

    system          max |error|   rms     at 1 mol/L, 25 °C
    EC:DMC 1:1         13.9 %     4.6 %       −4.7 %
    EC:EMC 3:7         10.6 %     4.2 %       +0.6 %
    EMC:FEC 19:1        8.4 %     3.1 %       −2.2 %

The largest errors sit at the corners of the grid (0.2 mol/L or 2 mol/L at −10 °C or 50 °C).
Declared accuracy: ±10–15 % of κ inside the calibration hull (blends that
are convex combinations of the three systems, at 263–323 K and 0.1–2 mol/L); outside it the value
is an extrapolation and :mod:`.model` flags it ``extrapolated``.

Liquid check: a solvent crystallises when the blend is below its ideal-solubility (Schröder–van
Laar) liquidus, ln xᵢ = −(ΔH_fus,i/R)(1/T − 1/T_m,i), with xᵢ counted over solvent molecules and
dissolved ions (full dissociation). It is a constraint — "is this a liquid?" — with the accuracy of
ideal-solution theory (several kelvin), not a number to optimise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrolyte.components import GAS_CONSTANT, SALTS, solvent
from labctl.simulators.electrolyte.composition import (
    Composition,
    mass_to_mole_fractions,
    validate_fractions,
)

__all__ = [
    "DEFAULT_SURROGATE",
    "CasteelAmisSurrogate",
    "blend_permittivity",
    "blend_viscosity",
    "casteel_amis",
    "is_liquid",
    "liquidus_temperature",
    "volume_fractions",
]

FloatArray = npt.NDArray[np.float64]


def blend_viscosity(solvent_fractions: Mapping[str, float], temperature: float) -> float:
    """Salt-free blend viscosity by Grunberg–Nissan, ln η = Σ xᵢ ln ηᵢ(T), Pa·s.

    Grunberg & Nissan, Nature 164, 799 (1949), without the binary interaction term (SURROGATE
    input: carbonate blends deviate from it by ≲ 10–20 %).

    Args:
        solvent_fractions: solvent → mass fraction (converted to mole fractions here).
        temperature: T, K.
    """
    mole_fractions = mass_to_mole_fractions(validate_fractions(solvent_fractions))
    log_viscosity = math.fsum(
        x * math.log(solvent(name).viscosity_at(temperature)) for name, x in mole_fractions.items()
    )
    return math.exp(log_viscosity)


def volume_fractions(
    solvent_fractions: Mapping[str, float], temperature: float
) -> dict[str, float]:
    """Solvent → volume fraction φᵢ = (wᵢ/ρᵢ) / Σ (wⱼ/ρⱼ) at ``temperature`` (K), ideal mixing."""
    fractions = validate_fractions(solvent_fractions)
    volumes = {name: w / solvent(name).density_at(temperature) for name, w in fractions.items()}
    total = math.fsum(volumes.values())
    return {name: v / total for name, v in volumes.items()}


def blend_permittivity(solvent_fractions: Mapping[str, float], temperature: float) -> float:
    """Salt-free blend relative permittivity by volume-fraction mixing, ε = Σ φᵢ εᵢ.

    SURROGATE input (a common first approximation; real carbonate blends sit within ≈ 10 %).

    Args:
        solvent_fractions: solvent → mass fraction.
        temperature: T, K (enters through the densities only).
    """
    phis = volume_fractions(solvent_fractions, temperature)
    return math.fsum(phi * solvent(name).permittivity for name, phi in phis.items())


def liquidus_temperature(composition: Composition) -> float:
    """Highest temperature at which a solvent of the blend would crystallise, K.

    Ideal solubility (Schröder–van Laar) for each solvent, with mole fractions counted over
    solvent molecules plus dissolved ions, so the salt depresses the liquidus (cryoscopy). The
    largest of the solvents' liquidus temperatures is returned.

    Args:
        composition: the electrolyte.
    """
    solvent_moles = {
        name: w / solvent(name).molar_mass for name, w in composition.solvent_fractions.items()
    }
    ion_moles = composition.molality * SALTS[composition.salt].ions
    total = math.fsum(solvent_moles.values()) + ion_moles
    highest = 0.0
    for name, moles in solvent_moles.items():
        data = solvent(name)
        x = moles / total
        inverse = 1.0 / data.melting_point - GAS_CONSTANT * math.log(x) / data.enthalpy_of_fusion
        highest = max(highest, 1.0 / inverse)
    return highest


def is_liquid(composition: Composition, temperature: float) -> bool:
    """Whether the electrolyte is a liquid at ``temperature`` (K): above its liquidus.

    A constraint for campaigns (EC-rich blends are solid at room temperature), from the
    ideal-solubility liquidus of :func:`liquidus_temperature`; trust it to several kelvin.
    """
    return temperature > liquidus_temperature(composition)


def casteel_amis(
    molality: npt.ArrayLike, peak_conductivity: float, peak_molality: float, a: float, b: float
) -> FloatArray:
    """The Casteel–Amis function κ(m) = κ_max (m/μ)^a exp(b (m − μ)² − (a/μ)(m − μ)).

    Casteel & Amis, J. Chem. Eng. Data 17, 55 (1972). It peaks at m = μ with value κ_max
    (for b ≤ a/(2μ²)) and is 0 at m = 0.

    Args:
        molality: m, mol/kg (≥ 0).
        peak_conductivity: κ_max, in the unit wanted for κ.
        peak_molality: μ, mol/kg (> 0).
        a: shape exponent (> 0).
        b: curvature term, kg²/mol².
    """
    m = np.asarray(molality, dtype=np.float64)
    ratio = m / peak_molality
    shifted = m - peak_molality
    result: FloatArray = (
        peak_conductivity
        * np.power(ratio, a)
        * np.exp(b * shifted**2 - (a / peak_molality) * shifted)
    )
    return result


@dataclass(frozen=True)
class CasteelAmisSurrogate:
    """SURROGATE conductivity of LiPF6 in any carbonate blend (see the module docstring).

    Declared accuracy ±10–15 % inside the calibration hull; an extrapolation outside it.
    Viscosities enter as ln(η / 1 mPa·s); s = tanh(ε/ε₀).

    Args:
        k0: ln of κ_max (S/m) at η = 1 mPa·s and s = 0.
        k1: exponent of viscosity in κ_max.
        k2: dissociation coefficient of ln κ_max.
        m0: ln of μ (mol/kg) at η = 1 mPa·s and s = 0.
        m1: exponent of viscosity in μ.
        m2: dissociation coefficient of ln μ.
        a0: Casteel–Amis exponent a at s = 0.
        a1: change of a with s.
        b0: Casteel–Amis curvature b at s = 0 and η = 1 mPa·s, kg²/mol².
        b1: change of b with s, kg²/mol².
        b2: change of b with ln η, kg²/mol².
        permittivity_scale: ε₀ of s = tanh(ε/ε₀).
    """

    k0: float
    k1: float
    k2: float
    m0: float
    m1: float
    m2: float
    a0: float
    a1: float
    b0: float
    b1: float
    b2: float
    permittivity_scale: float

    def parameters(
        self, solvent_fractions: Mapping[str, float], temperature: float
    ) -> tuple[float, float, float, float]:
        """Casteel–Amis (κ_max S/m, μ mol/kg, a, b kg²/mol²) of a blend at ``temperature`` (K)."""
        log_viscosity = math.log(blend_viscosity(solvent_fractions, temperature) * 1e3)
        permittivity = blend_permittivity(solvent_fractions, temperature)
        return self.parameters_from(log_viscosity, permittivity)

    def parameters_from(
        self, log_viscosity: float, permittivity: float
    ) -> tuple[float, float, float, float]:
        """Casteel–Amis parameters from ln(η / 1 mPa·s) and ε of the salt-free blend."""
        s = math.tanh(permittivity / self.permittivity_scale)
        peak_conductivity = math.exp(self.k0 - self.k1 * log_viscosity + self.k2 * s)
        peak_molality = math.exp(self.m0 - self.m1 * log_viscosity + self.m2 * s)
        a = self.a0 + self.a1 * s
        b = self.b0 + self.b1 * s + self.b2 * log_viscosity
        return peak_conductivity, peak_molality, a, b

    def conductivity(
        self, molality: npt.ArrayLike, solvent_fractions: Mapping[str, float], temperature: float
    ) -> FloatArray:
        """SURROGATE ionic conductivity κ, S/m.

        Args:
            molality: LiPF6 molality m, mol/kg (scalar or array).
            solvent_fractions: solvent → mass fraction of the salt-free blend (sums to 1).
            temperature: T, K.

        Returns:
            κ with the shape of ``molality`` (0-d for a scalar), S/m.
        """
        return casteel_amis(molality, *self.parameters(solvent_fractions, temperature))


DEFAULT_SURROGATE = CasteelAmisSurrogate(
    k0=-1.105929,
    k1=1.223071,
    k2=1.862527,
    m0=0.3933334,
    m1=0.4168016,
    m2=-0.7343024,
    a0=0.9947963,
    a1=-0.2095998,
    b0=-0.7051010,
    b1=0.9305784,
    b2=-0.3280757,
    permittivity_scale=37.88254,
)
"""The calibrated surrogate (constants from :func:`.calibration.fit_surrogate`)."""
