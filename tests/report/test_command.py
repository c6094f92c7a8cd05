"""``report_command`` end to end: a toy campaign run on the simulated lab, then its report."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from labctl.campaign.runner import run_campaign
from labctl.config import load_config
from labctl.errors import ConfigError
from labctl.lab.session import Lab
from labctl.report.command import UnknownCampaignError, report_command
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store

CAMPAIGN = {
    "name": "toy",
    "experiment": "toy-gaussian",
    "space": {"position": {"low": "-1 mm", "high": "1 mm"}},
    "objectives": {"signal": {"direction": "maximize", "units": "count"}},
    "optimizer": {"kind": "sobol", "seed": 5, "options": {"initial_experiments": 2}},
    "budget": {"experiments": 5},
}


@pytest.fixture
def campaign_config(tmp_path: Path) -> Path:
    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    document["campaign"] = copy.deepcopy(CAMPAIGN)
    return write_config(tmp_path, document)


def test_report_of_a_finished_campaign_then_errors(toy_kinds: None, campaign_config: Path) -> None:
    loaded = load_config(campaign_config)
    with Lab.from_config(loaded) as lab:
        result = run_campaign(loaded, lab=lab)
    html = report_command(campaign_config, result.campaign_id, None)
    folder = loaded.data_directory / "reports" / result.campaign_id
    assert html == folder / "report.html"
    names = {"report.html", "experiments.csv", "experiments.parquet", "experiments.jsonld"}
    assert names | {"pareto.png"} <= {p.name for p in folder.iterdir()}
    table = pd.read_parquet(folder / "experiments.parquet")
    assert len(table) == 5
    assert table["status"].eq("completed").all()
    assert table["signal [count]"].notna().all()  # reduced again from the stored runs
    assert table["position [mm]"].between(-1, 1).all()
    text = html.read_text()
    assert result.campaign_id in text
    assert "5 completed" in " ".join(text.split())
    assert "signal is driven mostly by position" in text
    document = json.loads((folder / "experiments.jsonld").read_text())
    uids = {node.get("schema:identifier") for node in document["@graph"]}
    assert {record.uid for record in result.state.records} <= uids
    chosen = report_command(campaign_config, result.campaign_id, folder.parent / "chosen")
    assert chosen == folder.parent / "chosen" / "report.html"
    with pytest.raises(UnknownCampaignError, match=f"known campaigns: {result.campaign_id}"):
        report_command(campaign_config, "never-ran", None)


def test_config_without_a_campaign_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, copy.deepcopy(sim_lab_document()))
    with pytest.raises(ConfigError, match="no campaign section"):
        report_command(path, "anything", None)
