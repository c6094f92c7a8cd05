"""Electrolyte property model for the formulation campaign (pure physics; no I/O).

Modules, one job each:

* :mod:`.landesfeind` — published fits of Landesfeind & Gasteiger, J. Electrochem. Soc. 166,
  A3079 (2019): κ, D, t⁺, TDF for three LiPF6 carbonate blends.
* :mod:`.valoen` — published fits of Valøen & Reimers, J. Electrochem. Soc. 152, A882 (2005).
* :mod:`.components` — pure-solvent and salt data (Xu, Chem. Rev. 104, 4303 (2004)).
* :mod:`.composition` — compositions, mass/mole fractions, molality ↔ molarity via a stated
  density model.
* :mod:`.mixing` — SURROGATE conductivity across the solvent simplex (Casteel–Amis form tied to
  blend viscosity and permittivity) and the liquid (liquidus) check.
* :mod:`.calibration` — the surrogate's calibration on the Landesfeind fits, its residuals and
  the calibration hull.
* :mod:`.viscosity` — SURROGATE carbonate viscosity; Laliberté (2009) aqueous ZnSO4 viscosity.
* :mod:`.stability` — SURROGATE LSV current and oxidative stability limit.
* :mod:`.cost` — material cost from a price table (illustrative example table included).
* :mod:`.model` — :func:`electrolyte_properties`, the entry point the twins call.
* :mod:`.truth` — the campaign's true objectives on arrays (dense sampling of the twin's front).
"""

from labctl.simulators.electrolyte.composition import (
    Composition,
    mass_to_mole_fractions,
    molality_to_molarity,
    molarity_to_molality,
    mole_to_mass_fractions,
)
from labctl.simulators.electrolyte.cost import ILLUSTRATIVE_PRICES, PriceEntry, PriceTable
from labctl.simulators.electrolyte.landesfeind import LANDESFEIND_SYSTEMS, LandesfeindSystem
from labctl.simulators.electrolyte.mixing import DEFAULT_SURROGATE, CasteelAmisSurrogate, is_liquid
from labctl.simulators.electrolyte.model import (
    ElectrolyteModel,
    ElectrolyteProperties,
    electrolyte_properties,
)
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY, StabilityModel
from labctl.simulators.electrolyte.valoen import ValoenReimers

__all__ = [
    "DEFAULT_STABILITY",
    "DEFAULT_SURROGATE",
    "ILLUSTRATIVE_PRICES",
    "LANDESFEIND_SYSTEMS",
    "CasteelAmisSurrogate",
    "Composition",
    "ElectrolyteModel",
    "ElectrolyteProperties",
    "LandesfeindSystem",
    "PriceEntry",
    "PriceTable",
    "StabilityModel",
    "ValoenReimers",
    "electrolyte_properties",
    "is_liquid",
    "mass_to_mole_fractions",
    "molality_to_molarity",
    "molarity_to_molality",
    "mole_to_mass_fractions",
]
