"""Pure-component data for carbonate electrolytes: solvents and salts (SI units throughout).

Solvent molar masses, melting points, viscosities, permittivities and densities are the values
tabulated by K. Xu, "Nonaqueous Liquid Electrolytes for Lithium-Based Rechargeable Batteries",
Chem. Rev. 104, 4303 (2004), Table 1 (η, ε of EC at 40 °C, where it is liquid; the others at
25 °C). Values marked *assumed* below are round numbers of the right size chosen for this model
(enthalpies of fusion, viscosity activation energies, expansion coefficient, FEC's properties),
not published measurements; they shape the SURROGATE mixing rule and the liquidus check only.

Units: molar mass kg/mol, temperature K, enthalpy J/mol, viscosity Pa·s, density kg/m³,
volume m³/mol, permittivity dimensionless (relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labctl.errors import UnitError

__all__ = [
    "SALTS",
    "SOLVENTS",
    "Salt",
    "Solvent",
    "molar_mass",
    "salt",
    "solvent",
]

GAS_CONSTANT = 8.314462618
"""R, J/(mol·K)."""

REFERENCE_TEMPERATURE = 298.15
"""25 °C, K: the temperature at which densities are referenced."""


@dataclass(frozen=True)
class Solvent:
    """A pure solvent.

    Args:
        name: its usual abbreviation (``"EC"``).
        molar_mass: kg/mol.
        melting_point: K.
        enthalpy_of_fusion: J/mol (for the ideal-solubility liquidus).
        viscosity: η at ``viscosity_temperature``, Pa·s.
        viscosity_temperature: K.
        viscosity_activation_energy: E_a of the Arrhenius (Andrade) law η ∝ exp(E_a/RT), J/mol.
        permittivity: relative static permittivity ε (taken as temperature-independent).
        density: ρ at 25 °C, kg/m³ (EC: the liquid value tabulated by Xu).
        expansion_coefficient: volumetric thermal expansion coefficient, 1/K.
    """

    name: str
    molar_mass: float
    melting_point: float
    enthalpy_of_fusion: float
    viscosity: float
    viscosity_temperature: float
    viscosity_activation_energy: float
    permittivity: float
    density: float
    expansion_coefficient: float = 1.1e-3

    def viscosity_at(self, temperature: float) -> float:
        """η(T), Pa·s, by the Arrhenius (Andrade) law from the tabulated point.

        Below the melting point this is the supercooled liquid's viscosity, which is what a
        mixing rule needs for a component dissolved in a liquid blend.

        Args:
            temperature: K.
        """
        exponent = (self.viscosity_activation_energy / GAS_CONSTANT) * (
            1.0 / temperature - 1.0 / self.viscosity_temperature
        )
        return self.viscosity * math.exp(exponent)

    def density_at(self, temperature: float) -> float:
        """ρ(T), kg/m³, with a constant volumetric expansion coefficient about 25 °C.

        Args:
            temperature: K.
        """
        return self.density / (
            1.0 + self.expansion_coefficient * (temperature - REFERENCE_TEMPERATURE)
        )


@dataclass(frozen=True)
class Salt:
    """A salt.

    Args:
        name: its formula (``"LiPF6"``).
        molar_mass: kg/mol.
        ions: ions per formula unit (2 for a 1:1 salt).
        apparent_molar_volume: V_φ in carbonate solvents, m³/mol (the density model's salt term).
    """

    name: str
    molar_mass: float
    ions: int
    apparent_molar_volume: float


def _celsius(value: float) -> float:
    return value + 273.15


SOLVENTS: dict[str, Solvent] = {
    solvent.name: solvent
    for solvent in (
        # Activation energies of viscosity: assumed, 8–15 kJ/mol (higher for the cyclic ones).
        Solvent(
            "EC", 88.06e-3, _celsius(36.4), 13.2e3, 1.90e-3, _celsius(40.0), 15e3, 89.8, 1321.0
        ),
        Solvent(
            "PC", 102.09e-3, _celsius(-48.8), 9.0e3, 2.53e-3, _celsius(25.0), 14e3, 64.9, 1200.0
        ),
        Solvent(
            "DMC", 90.08e-3, _celsius(4.6), 11.0e3, 0.59e-3, _celsius(25.0), 8.5e3, 3.11, 1063.0
        ),
        Solvent(
            "EMC", 104.1e-3, _celsius(-53.0), 10.0e3, 0.65e-3, _celsius(25.0), 8.5e3, 2.96, 1006.0
        ),
        Solvent(
            "DEC", 118.1e-3, _celsius(-74.3), 12.0e3, 0.75e-3, _celsius(25.0), 9.0e3, 2.81, 969.0
        ),
        # FEC: assumed values of the right size (mp 18–23 °C, η ≈ 4 mPa·s, ε ≈ 78, ρ 1.45 g/mL).
        Solvent(
            "FEC", 106.05e-3, _celsius(20.0), 12.0e3, 4.1e-3, _celsius(25.0), 15e3, 78.4, 1454.0
        ),
    )
}
"""Known solvents by name (Xu, Chem. Rev. 104, 4303 (2004), Table 1; see the module docstring)."""

SALTS: dict[str, Salt] = {
    # V_φ assumed: 30 cm³/mol gives ρ ≈ 1.29 g/mL for 1 mol/L LiPF6 in EC:DMC 1:1 at 25 °C,
    # close to the ≈ 1.3 g/mL quoted for commercial LP30.
    "LiPF6": Salt("LiPF6", 151.905e-3, 2, 30e-6),
}
"""Known salts by formula. The conductivity model is calibrated for LiPF6 only."""


def solvent(name: str) -> Solvent:
    """The solvent called ``name``.

    Raises:
        UnitError: no such solvent is known.
    """
    try:
        return SOLVENTS[name]
    except KeyError:
        raise UnitError(
            name, f"a known solvent ({', '.join(SOLVENTS)})", "unknown solvent"
        ) from None


def salt(name: str) -> Salt:
    """The salt called ``name``.

    Raises:
        UnitError: no such salt is known.
    """
    try:
        return SALTS[name]
    except KeyError:
        raise UnitError(name, f"a known salt ({', '.join(SALTS)})", "unknown salt") from None


def molar_mass(name: str) -> float:
    """Molar mass of a known solvent or salt, kg/mol (LiPF6: 151.905 g/mol = 0.151905 kg/mol).

    Raises:
        UnitError: ``name`` is neither a known solvent nor a known salt.
    """
    if name in SOLVENTS:
        return SOLVENTS[name].molar_mass
    if name in SALTS:
        return SALTS[name].molar_mass
    known = ", ".join([*SOLVENTS, *SALTS])
    raise UnitError(name, f"a known component ({known})", "unknown component")
