"""Exports of a campaign: CSV and Parquet of the table, JSON-LD of each experiment's metadata.

Units travel with the data: in the column names (``"conductivity [mS/cm]"``) of both tables, and
in the Parquet file's schema metadata (``labctl.units``: column → unit, JSON; each field also
carries ``units`` in its own metadata).

The JSON-LD document describes each attempt as a ``schema:Dataset`` with its inputs and measured
outcomes as ``schema:PropertyValue`` nodes (value, ``schema:unitText``) typed, where the EMMO /
BattINFO electrochemistry ontology has a term for the quantity, with that term's IRI
(:data:`labctl.ontology.ONTOLOGY_TERMS`; quantities without a term are listed in ``unmapped``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labctl.errors import LabctlError
from labctl.ontology import JSONLD_CONTEXT, ontology_term
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.plans.records import ExperimentRecord
from labctl.report.table import InputColumn, input_columns, input_value

__all__ = [
    "ExportError",
    "experiments_jsonld",
    "read_parquet_units",
    "write_csv",
    "write_jsonld",
    "write_parquet",
]


class ExportError(LabctlError):
    """An export file cannot be written."""


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
