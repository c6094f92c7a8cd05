"""Exports of a campaign: CSV and Parquet of the table, JSON-LD of each experiment's metadata.

Units travel with the data: in the column names (``"conductivity [mS/cm]"``) of both tables, and
in the Parquet file's schema metadata (``labctl.units``: column → unit, JSON; each field also
carries ``units`` in its own metadata).

The JSON-LD document describes each attempt as a ``schema:Dataset`` with its inputs and measured
outcomes as ``schema:PropertyValue`` nodes (value, ``schema:unitText``) typed, where the EMMO /
BattINFO electrochemistry ontology has a term for the quantity, with that term's IRI
(:data:`ONTOLOGY_TERMS`; quantities without a term are listed in ``unmapped``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labctl.errors import LabctlError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.plans.campaign import ExperimentRecord
from labctl.report.table import InputColumn, input_columns, input_value
from labctl.units import ureg

__all__ = [
    "JSONLD_CONTEXT",
    "ONTOLOGY_TERMS",
    "ExportError",
    "experiments_jsonld",
    "ontology_term",
    "read_parquet_units",
    "write_csv",
    "write_jsonld",
    "write_parquet",
]

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


class ExportError(LabctlError):
    """An export file cannot be written."""


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


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as CSV (units in the column names)."""
    target = Path(path)
    try:
        table.to_csv(target, index=False)
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error}") from error
    return target


def write_parquet(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as Parquet, units in the column names and in the schema metadata."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    target = Path(path)
    units: dict[str, str] = dict(table.attrs.get("units") or {})
    arrow = pa.Table.from_pandas(table.reset_index(drop=True), preserve_index=False)
    fields = [
        f.with_metadata({"units": units.get(f.name, "")}) if units.get(f.name) else f
        for f in arrow.schema
    ]
    metadata = dict(arrow.schema.metadata or {})
    metadata[b"labctl.units"] = json.dumps(units).encode()
    arrow = arrow.cast(pa.schema(fields, metadata=metadata))
    try:
        pq.write_table(arrow, target)
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error}") from error
    return target


def read_parquet_units(path: str | Path) -> dict[str, str]:
    """The column → unit map stored in a Parquet export."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    return dict(json.loads(metadata.get(b"labctl.units", b"{}")))


def _property(
    name: str, value: Any, units: str, role: str, term: tuple[str, str] | None
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@type": ["schema:PropertyValue", *([term[1]] if term else [])],
        "schema:name": name,
        "schema:value": value,
        "schema:description": role,
    }
    if units and units != "1":
        node["schema:unitText"] = units
    if term:
        node["schema:propertyID"] = {"@id": term[1]}
        node["schema:alternateName"] = term[0]
    return node


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def experiments_jsonld(
    records: Sequence[ExperimentRecord],
    space: SearchSpace,
    objectives: Objectives,
    campaign: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-LD document: the campaign and one ``schema:Dataset`` per attempt.

    Args:
        records: the campaign's attempts.
        space: its search space.
        objectives: its objectives.
        campaign: the campaign id.
        extra: more properties of the campaign node.

    Returns:
        ``{"@context": …, "@graph": […], "unmapped": […]}``; ``unmapped`` lists the inputs and
        outcomes no ontology term was found for.
    """
    columns: list[InputColumn] = input_columns(space)
    bases = {
        member: spec.basis
        for spec in space.specs.values()
        if getattr(spec, "type", "") == "mixture"
        for member in spec.mixture
    }
    terms: dict[str, tuple[str, str] | None] = {}
    for column in columns:
        if column.kind == "categorical":
            continue
        terms[column.name] = ontology_term(column.name, column.units, basis=bases.get(column.name))
    for name in objectives.names:
        terms[name] = ontology_term(name, objectives.specs[name].units)
    campaign_id = f"labctl:campaign/{campaign}"
    graph: list[dict[str, Any]] = [
        {
            "@id": campaign_id,
            "@type": "schema:ResearchProject",
            "schema:identifier": campaign,
            "schema:name": f"closed-loop campaign {campaign}",
            **(extra or {}),
        }
    ]
    for record in records:
        node_id = (
            f"labctl:run/{record.uid}"
            if record.uid
            else f"labctl:campaign/{campaign}/{record.iteration}/{record.attempt}"
        )
        properties = []
        for column in columns:
            raw = record.inputs.get(column.name, space.fixed.get(column.name))
            term = None if column.kind == "categorical" else terms.get(column.name)
            properties.append(
                _property(
                    column.name, _number(input_value(raw, column)), column.units, "input", term
                )
            )
        for name, value in (record.outcome or {}).items():
            units = objectives.specs[name].units if name in objectives.specs else ""
            term = terms.get(name) if name in terms else ontology_term(name, units)
            properties.append(_property(name, _number(float(value)), units, "measured", term))
        graph.append(
            {
                "@id": node_id,
                "@type": "schema:Dataset",
                "schema:identifier": record.uid or "",
                "schema:name": f"{campaign} #{record.iteration}.{record.attempt}",
                "schema:isPartOf": {"@id": campaign_id},
                "schema:creativeWorkStatus": record.status,
                **({"schema:description": record.reason} if record.reason else {}),
                "schema:variableMeasured": properties,
            }
        )
    unmapped = sorted(name for name, term in terms.items() if term is None)
    return {"@context": JSONLD_CONTEXT, "@graph": graph, "labctl:unmapped": unmapped}


def write_jsonld(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write a JSON-LD document (UTF-8, indented)."""
    target = Path(path)
    try:
        target.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error}") from error
    return target
