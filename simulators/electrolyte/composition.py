"""Electrolyte composition and concentration conversions (pure functions; SI units).

A composition is a salt molality (mol per kg of solvent blend) and the solvent blend's mass
fractions. Molality is the natural measure for gravimetric preparation (it does not depend on
temperature); molarity (mol/L of solution) is what the published fits use, and needs a density.

Density model (stated, not fitted): ideal mixing of the pure solvents' volumes plus the salt's
apparent molar volume V_φ (Redlich–Meyer form with a constant V_φ),

    V per kg of solvent = Σ wᵢ/ρᵢ(T) + m·V_φ,   ρ = (1 + m·M_salt) / (Σ wᵢ/ρᵢ(T) + m·V_φ),
    c = m / (Σ wᵢ/ρᵢ(T) + m·V_φ),             m = c·Σ wᵢ/ρᵢ(T) / (1 − c·V_φ),

with ρᵢ(T) from :mod:`.components` and V_φ(LiPF6) = 30 cm³/mol (assumed; it gives ≈ 1.29 g/mL for
1 mol/L LiPF6 in EC:DMC 1:1, near the ≈ 1.3 g/mL quoted for LP30). Excess volumes of mixing are
neglected (they are below 1 % for carbonate blends). Both directions are closed-form, so the
conversions round-trip to machine precision.

Units: molality mol/kg, molarity mol/L (as chemists and the fits write it) — the entry point
reports mol/m³ —, density kg/m³, temperature K, masses in any one unit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

from labctl.errors import UnitError
from labctl.simulators.electrolyte.components import SALTS, SOLVENTS, molar_mass, salt, solvent

__all__ = [
    "Composition",
    "density",
    "mass_to_mole_fractions",
    "molality_to_molarity",
    "molarity_to_molality",
    "mole_to_mass_fractions",
    "validate_fractions",
]

FRACTION_TOLERANCE = 1e-6
"""How far from 1 the sum of fractions may be (rounding in configs and robots)."""


def validate_fractions(
    fractions: Mapping[str, float], *, what: str = "solvent mass fractions"
) -> dict[str, float]:
    """Check fractions of known solvents and return them as a new dict, renormalised exactly.

    Args:
        fractions: solvent name → fraction (dimensionless).
        what: how to name them in an error message.

    Raises:
        UnitError: empty, an unknown solvent, a negative or non-finite fraction, or a sum that is
            not 1 within 1e-6.
    """
    expected = f"{what}: known solvents ({', '.join(SOLVENTS)}), each ≥ 0, summing to 1"
    if not fractions:
        raise UnitError(dict(fractions), expected, "no solvent given")
    for name, value in fractions.items():
        if name not in SOLVENTS:
            raise UnitError(dict(fractions), expected, f"{name!r} is not a known solvent")
        if not (_is_real(value) and math.isfinite(value) and value >= 0):
            raise UnitError(dict(fractions), expected, f"the fraction of {name} is {value!r}")
    total = math.fsum(fractions.values())
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        raise UnitError(dict(fractions), expected, f"they sum to {total:.9g}")
    return {name: float(value) / total for name, value in fractions.items() if value > 0}


def _is_real(value: object) -> bool:
    """A real number (numpy scalars included), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def mass_to_mole_fractions(mass_fractions: Mapping[str, float]) -> dict[str, float]:
    """Mass fractions → mole fractions, xᵢ = (wᵢ/Mᵢ) / Σ (wⱼ/Mⱼ).

    Components may be solvents or salts (molar masses from :func:`.components.molar_mass`; a
    salt counts as one formula unit).

    Raises:
        UnitError: unknown component, negative value, or fractions not summing to 1.
    """
    moles = {name: w / molar_mass(name) for name, w in _checked_any(mass_fractions).items()}
    total = math.fsum(moles.values())
    return {name: n / total for name, n in moles.items()}


def mole_to_mass_fractions(mole_fractions: Mapping[str, float]) -> dict[str, float]:
    """Mole fractions → mass fractions, wᵢ = xᵢ Mᵢ / Σ xⱼ Mⱼ (inverse of the above).

    Raises:
        UnitError: unknown component, negative value, or fractions not summing to 1.
    """
    masses = {name: x * molar_mass(name) for name, x in _checked_any(mole_fractions).items()}
    total = math.fsum(masses.values())
    return {name: m / total for name, m in masses.items()}


def _checked_any(fractions: Mapping[str, float]) -> dict[str, float]:
    """Fractions of known solvents or salts: ≥ 0, finite, summing to 1."""
    expected = "fractions of known components, each ≥ 0, summing to 1"
    if not fractions:
        raise UnitError(dict(fractions), expected, "no component given")
    for name, value in fractions.items():
        molar_mass(name)
        if not (_is_real(value) and math.isfinite(value) and value >= 0):
            raise UnitError(dict(fractions), expected, f"the fraction of {name} is {value!r}")
    total = math.fsum(fractions.values())
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        raise UnitError(dict(fractions), expected, f"they sum to {total:.9g}")
    return {name: float(value) for name, value in fractions.items()}


def _solvent_specific_volume(solvent_fractions: Mapping[str, float], temperature: float) -> float:
    """Σ wᵢ/ρᵢ(T): volume of 1 kg of the salt-free blend by ideal mixing, m³/kg."""
    return math.fsum(
        w / solvent(name).density_at(temperature) for name, w in solvent_fractions.items()
    )


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise UnitError(temperature, "an absolute temperature in K (> 0)", "not a temperature")


def _check_amount(value: float, what: str, unit: str) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise UnitError(value, f"a {what} ≥ 0 in {unit}", "negative or not finite")


def density(
    molality: float, solvent_fractions: Mapping[str, float], temperature: float, salt_name: str
) -> float:
    """Solution density, kg/m³ (ideal solvent mixing + constant salt apparent molar volume).

    Args:
        molality: salt molality m, mol/kg of solvent.
        solvent_fractions: solvent → mass fraction in the salt-free blend.
        temperature: T, K.
        salt_name: the salt (``"LiPF6"``).
    """
    _check_amount(molality, "molality", "mol/kg")
    _check_temperature(temperature)
    fractions = validate_fractions(solvent_fractions)
    the_salt = salt(salt_name)
    volume = (
        _solvent_specific_volume(fractions, temperature)
        + molality * the_salt.apparent_molar_volume
    )
    return (1.0 + molality * the_salt.molar_mass) / volume


def molality_to_molarity(
    molality: float, solvent_fractions: Mapping[str, float], temperature: float, salt_name: str
) -> float:
    """Molality (mol/kg of solvent) → molarity (mol/L of solution) through the density model.

    Args:
        molality: m, mol/kg.
        solvent_fractions: solvent → mass fraction in the salt-free blend.
        temperature: T, K (molarity depends on it through the density).
        salt_name: the salt.

    Returns:
        c, mol/L.
    """
    _check_amount(molality, "molality", "mol/kg")
    _check_temperature(temperature)
    fractions = validate_fractions(solvent_fractions)
    the_salt = salt(salt_name)
    volume = (
        _solvent_specific_volume(fractions, temperature)
        + molality * the_salt.apparent_molar_volume
    )
    return molality / volume / 1000.0


def molarity_to_molality(
    molarity: float, solvent_fractions: Mapping[str, float], temperature: float, salt_name: str
) -> float:
    """Molarity (mol/L of solution) → molality (mol/kg of solvent), the inverse of the above.

    Args:
        molarity: c, mol/L.
        solvent_fractions: solvent → mass fraction in the salt-free blend.
        temperature: T, K.
        salt_name: the salt.

    Returns:
        m, mol/kg.

    Raises:
        UnitError: c·V_φ ≥ 1 — more salt than the volume can hold in this model.
    """
    _check_amount(molarity, "molarity", "mol/L")
    _check_temperature(temperature)
    fractions = validate_fractions(solvent_fractions)
    the_salt = salt(salt_name)
    per_cubic_metre = molarity * 1000.0
    salt_volume_fraction = per_cubic_metre * the_salt.apparent_molar_volume
    if salt_volume_fraction >= 1.0:
        limit = 1.0 / the_salt.apparent_molar_volume / 1000.0
        raise UnitError(molarity, f"a molarity below {limit:.3g} mol/L", "the salt alone fills it")
    return (
        per_cubic_metre
        * _solvent_specific_volume(fractions, temperature)
        / (1.0 - salt_volume_fraction)
    )


@dataclass(frozen=True)
class Composition:
    """An electrolyte: a salt at a molality in a blend of solvents.

    Args:
        molality: salt molality, mol/kg of solvent blend (≥ 0).
        solvent_fractions: solvent → mass fraction of the salt-free blend; validated (known
            solvents, ≥ 0, summing to 1 within 1e-6) and stored renormalised, zeros dropped.
        salt: the salt's formula (``"LiPF6"``).

    Raises:
        UnitError: any of the above is violated.
    """

    molality: float
    solvent_fractions: dict[str, float] = field(default_factory=dict)
    salt: str = "LiPF6"

    def __post_init__(self) -> None:
        if not _is_real(self.molality):
            raise UnitError(self.molality, "a molality ≥ 0 in mol/kg", "not a number")
        _check_amount(self.molality, "molality", "mol/kg")
        salt(self.salt)
        object.__setattr__(self, "molality", float(self.molality))
        object.__setattr__(self, "solvent_fractions", validate_fractions(self.solvent_fractions))

    def __hash__(self) -> int:
        return hash((self.molality, tuple(sorted(self.solvent_fractions.items())), self.salt))

    @classmethod
    def from_molarity(
        cls,
        molarity: float,
        solvent_fractions: Mapping[str, float],
        temperature: float,
        salt: str = "LiPF6",
    ) -> Composition:
        """The composition with molarity ``molarity`` (mol/L) at ``temperature`` (K)."""
        molality = molarity_to_molality(molarity, solvent_fractions, temperature, salt)
        return cls(molality, dict(solvent_fractions), salt)

    @classmethod
    def from_masses(cls, masses: Mapping[str, float]) -> Composition:
        """The composition of a mixture given as component masses (one unit for all, e.g. g).

        Args:
            masses: component → mass; exactly one known salt (or none: a salt-free blend) and
                at least one known solvent, e.g. ``{"LiPF6": 1.52, "EC": 4.4, "DMC": 4.4}``.

        Raises:
            UnitError: unknown components, more than one salt, negative masses, no solvent.
        """
        expected = "component masses ≥ 0 of known solvents and at most one known salt"
        for name, mass in masses.items():
            molar_mass(name)
            if not (_is_real(mass) and math.isfinite(mass) and mass >= 0):
                raise UnitError(dict(masses), expected, f"the mass of {name} is {mass!r}")
        salts = [name for name in masses if name in SALTS]
        if len(salts) > 1:
            raise UnitError(dict(masses), expected, f"several salts ({', '.join(salts)})")
        solvent_mass = math.fsum(m for name, m in masses.items() if name in SOLVENTS)
        if solvent_mass <= 0:
            raise UnitError(dict(masses), expected, "there is no solvent")
        salt_name = salts[0] if salts else "LiPF6"
        salt_moles = masses.get(salt_name, 0.0) / SALTS[salt_name].molar_mass
        fractions = {n: m / solvent_mass for n, m in masses.items() if n in SOLVENTS}
        # (m_salt / M_salt) / m_solvent with M in kg/mol: the mass unit cancels to mol/kg.
        return cls(salt_moles / solvent_mass, fractions, salt_name)

    def density(self, temperature: float) -> float:
        """Solution density at ``temperature`` (K), kg/m³ (see the module's density model)."""
        return density(self.molality, self.solvent_fractions, temperature, self.salt)

    def molarity(self, temperature: float) -> float:
        """Salt molarity at ``temperature`` (K), mol/L."""
        return molality_to_molarity(self.molality, self.solvent_fractions, temperature, self.salt)

    def mass_fractions(self) -> dict[str, float]:
        """Component → mass fraction of the whole solution (salt included; sums to 1)."""
        salt_mass = self.molality * SALTS[self.salt].molar_mass
        total = 1.0 + salt_mass
        result = {name: w / total for name, w in self.solvent_fractions.items()}
        result[self.salt] = salt_mass / total
        return result

    def solvent_mole_fractions(self) -> dict[str, float]:
        """Solvent → mole fraction among the solvent molecules (salt excluded)."""
        return mass_to_mole_fractions(self.solvent_fractions)

    def masses(self, total_mass: float) -> dict[str, float]:
        """Component → mass in ``total_mass`` of solution (same unit as ``total_mass``)."""
        return {name: total_mass * w for name, w in self.mass_fractions().items()}
