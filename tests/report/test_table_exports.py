"""The experiments table, its CSV/Parquet exports with units, and the JSON-LD export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labctl.config import CampaignSection
from labctl.ontology import ONTOLOGY_TERMS, ontology_term
from labctl.plans.records import ExperimentRecord
from labctl.report.exports import (
    experiments_jsonld,
    read_parquet_units,
    write_csv,
    write_jsonld,
    write_parquet,
)
from labctl.report.figures import campaign_space
from labctl.report.table import experiments_table


def _table(section: CampaignSection, records: list[ExperimentRecord]) -> pd.DataFrame:
    space, objectives = campaign_space(section)
    return experiments_table(records, space, objectives, "toy-1")


def test_table_has_units_in_column_names(
    section: CampaignSection, records: list[ExperimentRecord]
) -> None:
    table = _table(section, records)
    assert list(table.columns[:6]) == [
        "campaign",
        "iteration",
        "attempt",
        "status",
        "reason",
        "uid",
    ]
    for column in [
        "EC [mass fraction]",
        "DMC [mass fraction]",
        "EMC [mass fraction]",
        "salt_molality [mol/kg]",
        "ionic_conductivity [mS/cm]",
        "cost [USD/kg]",
    ]:
        assert column in table.columns
    assert table.attrs["units"]["salt_molality [mol/kg]"] == "mol/kg"
    assert table.attrs["units"]["EC [mass fraction]"] == "1"
    assert table.attrs["units"]["ionic_conductivity [mS/cm]"] == "mS/cm"
    assert len(table) == 14
    fractions = table[["EC [mass fraction]", "DMC [mass fraction]", "EMC [mass fraction]"]]
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    failed = table[table["status"] == "failed"]
    assert failed["reason"].eq("cell leaked").all()
    assert failed["ionic_conductivity [mS/cm]"].isna().all()
    assert table["pareto_optimal"].sum() >= 1
    assert not failed["pareto_optimal"].any()


def test_table_accepts_stored_inputs_with_units(section: CampaignSection) -> None:
    stored = {
        "EC": {"value": 0.5, "units": "1"},
        "DMC": 0.25,
        "EMC": 0.25,
        "salt_molality": {"value": 1000.0, "units": "mmol/kg"},
    }
    table = _table(section, [ExperimentRecord(0, 1, stored, "interrupted")])
    assert table.loc[0, "salt_molality [mol/kg]"] == pytest.approx(1.0)
    assert table.loc[0, "EC [mass fraction]"] == pytest.approx(0.5)


def test_csv_and_parquet_round_trip_with_units(
    section: CampaignSection, records: list[ExperimentRecord], tmp_path: Path
) -> None:
    table = _table(section, records)
    csv = pd.read_csv(write_csv(table, tmp_path / "e.csv"))
    assert list(csv.columns) == list(table.columns)
    np.testing.assert_allclose(csv["salt_molality [mol/kg]"], table["salt_molality [mol/kg]"])
    path = write_parquet(table, tmp_path / "e.parquet")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    units = read_parquet_units(path)
    assert units["salt_molality [mol/kg]"] == "mol/kg"
    assert units["cost [USD/kg]"] == "USD/kg"
    import pyarrow.parquet as pq

    field = pq.read_schema(path).field("ionic_conductivity [mS/cm]")
    assert field.metadata == {b"units": b"mS/cm"}


def test_jsonld_has_context_and_ontology_iris(
    section: CampaignSection, records: list[ExperimentRecord], tmp_path: Path
) -> None:
    space, objectives = campaign_space(section)
    document = experiments_jsonld(records, space, objectives, "toy-1")
    parsed = json.loads(write_jsonld(document, tmp_path / "e.jsonld").read_text())
    assert parsed["@context"]["schema"] == "https://schema.org/"
    assert parsed["@context"]["echem"].startswith("https://w3id.org/emmo/domain/electrochemistry")
    experiments = [node for node in parsed["@graph"] if node["@type"] == "schema:Dataset"]
    assert len(experiments) == len(records)
    first = {p["schema:name"]: p for p in experiments[0]["schema:variableMeasured"]}
    conductivity = first["ionic_conductivity"]
    assert conductivity["schema:propertyID"]["@id"] == ONTOLOGY_TERMS["ionic_conductivity"][1]
    assert conductivity["schema:unitText"] == "mS/cm"
    assert first["salt_molality"]["schema:propertyID"]["@id"] == ONTOLOGY_TERMS["molality"][1]
    assert first["EC"]["schema:propertyID"]["@id"] == ONTOLOGY_TERMS["mass_fraction"][1]
    assert parsed["labctl:unmapped"] == ["cost"]
    for node in experiments:
        assert node["schema:isPartOf"] == {"@id": "labctl:campaign/toy-1"}
    failed = [n for n in experiments if n["schema:creativeWorkStatus"] == "failed"]
    assert failed[0]["schema:description"] == "cell leaked"


@pytest.mark.parametrize(
    ("name", "units", "key"),
    [
        ("ionic_conductivity", "mS/cm", "ionic_conductivity"),
        ("stability_window", "V", "electrochemical_window"),
        ("oxidation_limit", "V", "electrode_potential"),
        ("coulombic_efficiency", "", "coulombic_efficiency"),
        ("j", "mA/cm**2", "current_density"),
        ("temperature", "K", "thermodynamic_temperature"),
        ("bath", "degC", "celsius_temperature"),
        ("salt", "mol/kg", "molality"),
    ],
)
def test_ontology_terms(name: str, units: str, key: str) -> None:
    assert ontology_term(name, units) == ONTOLOGY_TERMS[key]


def test_quantities_without_a_term_stay_unmapped() -> None:
    assert ontology_term("plating_rate", "nm/s") is None
    assert ontology_term("dendrite_indicator", "") is None
    for _label, iri in ONTOLOGY_TERMS.values():
        assert iri.startswith("https://w3id.org/emmo")
