"""Ontology terms of measured and proposed quantities: EMMO / BattINFO electrochemistry IRIs.

A plan tags each quantity it records with its term, and the report's JSON-LD export types each
value with it; quantities without a term stay untyped (listed as ``unmapped``).
"""

from __future__ import annotations

import re
from typing import Any

from labctl.units import ureg

__all__ = ["ECHEM", "EMMO", "JSONLD_CONTEXT", "ONTOLOGY_TERMS", "ontology_term"]

EMMO = "https://w3id.org/emmo#"
ECHEM = "https://w3id.org/emmo/domain/electrochemistry#"

JSONLD_CONTEXT: dict[str, Any] = {
    "schema": "https://schema.org/",
    "emmo": EMMO,
    "echem": ECHEM,
    "labctl": "urn:labctl:",
}
"""The ``@context`` of the JSON-LD export."""

ONTOLOGY_TERMS: dict[str, tuple[str, str]] = {
    # quantity → (ontology label, IRI). All IRIs are as published in the EMMO electrochemistry
    # domain ontology's JSON-LD context (github.com/emmo-repo/domain-electrochemistry,
    # context/context.json and reference/electrochemistry-quantities.ttl, commit 588dffa7).
    "ionic_conductivity": (
        "IonicConductivity",
        f"{ECHEM}electrochemistry_25dabdc2_68bf_4a38_8cbe_11be017358bc",
    ),
    "electrochemical_window": (
        "ElectrochemicalWindow",  # altLabel ElectrochemicalStabilityWindow
        f"{ECHEM}electrochemistry_129926b6_fc30_441d_b359_29b44c988514",
    ),
    "electrode_potential": (
        "ElectrodePotential",  # an oxidation/reduction stability limit vs a reference electrode
        f"{ECHEM}electrochemistry_f509645f_eb27_470e_9112_7ab828ed40d3",
    ),
    "coulombic_efficiency": (
        "CoulombicEfficiency",
        f"{ECHEM}electrochemistry_a5962e05_466d_46a4_8951_bea59d7326e5",
    ),
    "current_density": (
        "ElectricCurrentDensity",
        f"{EMMO}EMMO_7c8007b0_58a7_4486_bf1c_4772852caca0",
    ),
    "thermodynamic_temperature": (
        "ThermodynamicTemperature",
        f"{EMMO}EMMO_affe07e4_e9bc_4852_86c6_69e26182a17f",
    ),
    "celsius_temperature": (
        "CelsiusTemperature",
        f"{EMMO}EMMO_66bc9029_f473_45ff_bab9_c3509ff37a22",
    ),
    "molality": ("Molality", f"{EMMO}EMMO_ead7c629_824a_410f_afec_579f08894c78"),
    "amount_concentration": (
        "AmountConcentration",
        f"{EMMO}EMMO_d5be1faf_0c56_4f5a_9b78_581e6dee949f",
    ),
    "mass_fraction": ("MassFraction", f"{EMMO}EMMO_7c055d65_2929_40e1_af4f_4bf10995ad50"),
    "volume_fraction": ("VolumeFraction", f"{EMMO}EMMO_a8eb87b5_4d10_4137_a75c_e04ee59ca095"),
    "electric_current": ("ElectricCurrent", f"{EMMO}EMMO_c995ae70_3b84_4ebb_bcfc_69e6a281bb88"),
    "voltage": ("Voltage", f"{EMMO}EMMO_17b031fb_4695_49b6_bb69_189ec63df3ee"),
    "duration": ("Duration", f"{EMMO}EMMO_0adabf6f_7404_44cb_9f65_32d83d8101a3"),
    "frequency": ("Frequency", f"{EMMO}EMMO_852b4ab8_fc29_4749_a8c7_b92d4fca7d5a"),
    "mass": ("Mass", f"{EMMO}EMMO_ed4af7ae_63a2_497e_bb88_2309619ea405"),
}
"""Quantities with an ontology term. Searched and not found (left unmapped): a plating or
deposition rate, a dendrite indicator, an oxidation potential as such (mapped to
ElectrodePotential instead), cost."""

_NAME_RULES: list[tuple[str, str]] = [
    # regular expression on the quantity's name → key of ONTOLOGY_TERMS (first match wins)
    (r"coulomb|(^|_)ce($|_)|faradaic", "coulombic_efficiency"),
    (r"conductiv", "ionic_conductivity"),
    (r"stability_window|electrochemical_window|(^|_)esw($|_)", "electrochemical_window"),
    (
        r"oxidation|reduction_limit|stability_limit|anodic_limit|cathodic_limit",
        "electrode_potential",
    ),
    (r"current_density", "current_density"),
    (r"molality", "molality"),
    (r"concentration|molarity", "amount_concentration"),
]

_DIMENSION_RULES: list[tuple[str, str]] = [
    # dimensionality of the quantity's units → key, when the name says nothing
    ("[substance] / [mass]", "molality"),
    ("[substance] / [length] ** 3", "amount_concentration"),
    ("[current] / [length] ** 2", "current_density"),
    ("[current]", "electric_current"),
    ("[mass]", "mass"),
    ("[time]", "duration"),
    ("1 / [time]", "frequency"),
]


def _dimensionality(units: str) -> str | None:
    if not units or units == "1":
        return None
    try:
        return str(ureg.Unit(units).dimensionality)
    except Exception:  # a label pint does not know (a currency)
        return None


def ontology_term(
    name: str, units: str = "", *, basis: str | None = None
) -> tuple[str, str] | None:
    """The ontology ``(label, IRI)`` of a quantity, by its name and units (``None``: no term).

    Args:
        name: the quantity's name (``ionic_conductivity``, ``salt_molality``, …).
        units: its unit (pint text).
        basis: for a mixture fraction, ``mass``, ``volume`` or ``mole``.
    """
    if basis is not None:
        key = {"mass": "mass_fraction", "volume": "volume_fraction"}.get(basis)
        return ONTOLOGY_TERMS[key] if key else None
    lowered = name.lower()
    for pattern, key in _NAME_RULES:
        if re.search(pattern, lowered):
            return ONTOLOGY_TERMS[key]
    dimension = _dimensionality(units)
    if dimension == "[temperature]" or "temperature" in lowered:
        celsius = units.replace(" ", "").lower() in ("degc", "°c", "degree_celsius")
        return ONTOLOGY_TERMS["celsius_temperature" if celsius else "thermodynamic_temperature"]
    for wanted, key in _DIMENSION_RULES:
        if dimension == str(ureg.Unit(_UNIT_OF[wanted]).dimensionality):
            return ONTOLOGY_TERMS[key]
    if dimension == "[length] ** 2 * [mass] / [current] / [time] ** 3" and "potential" in lowered:
        return ONTOLOGY_TERMS["electrode_potential"]
    return None


_UNIT_OF = {
    "[substance] / [mass]": "mol/kg",
    "[substance] / [length] ** 3": "mol/L",
    "[current] / [length] ** 2": "A/m**2",
    "[current]": "A",
    "[mass]": "g",
    "[time]": "s",
    "1 / [time]": "Hz",
}
