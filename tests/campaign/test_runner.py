"""Running a config's campaign on a lab: registries, ids, resume from the store."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.campaign.runner import best_values, run_campaign
from labctl.cli import app
from labctl.config import load_config
from labctl.lab.session import Lab
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store

CAMPAIGN = {
    "name": "toy",
    "experiment": "toy-gaussian",
    "space": {"position": {"low": -1, "high": 1}},
    "objectives": {"signal": {"direction": "maximize"}},
    "optimizer": {"kind": "toy-random", "seed": 3},
    "budget": {"experiments": 4},
}


@pytest.fixture
def campaign_config(tmp_path: Path) -> Path:
    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    document["campaign"] = copy.deepcopy(CAMPAIGN)
    return write_config(tmp_path, document)


def test_runs_then_resumes_to_the_budget(toy_kinds: None, campaign_config: Path) -> None:
    loaded = load_config(campaign_config)
    with Lab.from_config(loaded) as lab:
        first = run_campaign(loaded, lab=lab)
        assert first.campaign_id.startswith("toy-")
        assert len(first.state.completed) == 4
        assert lab.store is not None
        assert len(lab.store.runs(campaign=first.campaign_id)) == 4
        best = best_values(first.state, {"signal": "maximize"})
        assert best["signal"] == max(r.outcome["signal"] for r in first.state.completed)  # type: ignore[index]

    bigger = copy.deepcopy(sim_lab_document())
    bigger["campaign"] = {**copy.deepcopy(CAMPAIGN), "budget": {"experiments": 6}}
    path = write_config(campaign_config.parent, bigger, name="bigger.yaml")
    loaded = load_config(path)
    with Lab.from_config(loaded) as lab:
        resumed = run_campaign(loaded, lab=lab, campaign_id=first.campaign_id)
        assert resumed.state.proposals_done == 6
        assert lab.store is not None
        runs = lab.store.runs(campaign=first.campaign_id)
        assert sorted(run.metadata["iteration"] for run in runs) == [0, 1, 2, 3, 4, 5]


def test_validate_names_unknown_experiment_and_optimizer(tmp_path: Path) -> None:
    document: dict[str, Any] = copy.deepcopy(sim_lab_document())
    document["campaign"] = {
        **copy.deepcopy(CAMPAIGN),
        "experiment": "alchemy",
        "optimizer": {"kind": "oracle"},
    }
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, document))])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "campaign.experiment: unknown experiment" in message
    assert "campaign.optimizer.kind: unknown optimizer" in message


def test_validate_refuses_objectives_the_experiment_does_not_produce_and_unitless_budgets(
    toy_kinds: None, tmp_path: Path
) -> None:
    document: dict[str, Any] = copy.deepcopy(sim_lab_document())
    document["campaign"] = {
        **copy.deepcopy(CAMPAIGN),
        "objectives": {"signal": {"direction": "maximize"}, "yield": {"direction": "maximize"}},
        "budget": {"experiments": 4, "wall_time": 8},
    }
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, document))])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "campaign.budget.wall_time" in message
    assert "units" in message
    document["campaign"]["budget"] = {"experiments": 4}
    result = CliRunner().invoke(app, ["validate", str(write_config(tmp_path, document))])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert (
        "campaign.objectives.yield: the 'toy-gaussian' experiment does not produce 'yield'; "
        "it produces: signal" in message
    )


def test_resuming_an_unknown_campaign_is_an_error(toy_kinds: None, campaign_config: Path) -> None:
    from labctl.errors import LabctlError

    loaded = load_config(campaign_config)
    with Lab.from_config(loaded) as lab, pytest.raises(LabctlError, match="no runs of campaign"):
        run_campaign(loaded, lab=lab, campaign_id="never-ran")


def test_cli_runs_and_resumes_a_campaign(toy_kinds: None, campaign_config: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(campaign_config)])
    assert result.exit_code == 0, result.output
    assert "4 completed" in result.output
    assert "budget of 4 experiments spent" in result.output
    campaign_id = result.output.split("campaign ", 1)[1].split(":", 1)[0]
    reports = campaign_config.parent / "data" / "reports"
    assert (reports / "live-pareto.png").stat().st_size > 0
    # The run ends by writing the report from the records in hand.
    assert f"report: {reports / campaign_id / 'report.html'}" in " ".join(result.output.split())
    for name in ("report.html", "experiments.csv", "experiments.parquet", "experiments.jsonld"):
        assert (reports / campaign_id / name).stat().st_size > 0
    listing = runner.invoke(app, ["campaigns", str(campaign_config)])
    assert campaign_id in listing.output
    again = runner.invoke(
        app, ["resume", campaign_id, "--config", str(campaign_config), "--no-report"]
    )
    assert again.exit_code == 0, again.output
    assert "budget already spent" in again.output
    assert "report: labctl report" in " ".join(again.output.split())  # not written: shown


@pytest.mark.parametrize("kind", ["sobol", "botorch-mo"])
def test_real_optimizer_kinds_drive_and_resume_a_campaign(
    toy_kinds: None, tmp_path: Path, kind: str
) -> None:
    """The registry's optimizer kinds run the loop; on resume they learn the stored history."""
    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    options: dict[str, Any] = {"initial_experiments": 2}
    if kind == "botorch-mo":
        options |= {"num_restarts": 2, "raw_samples": 32, "mc_samples": 32}
    document["campaign"] = {
        **copy.deepcopy(CAMPAIGN),
        "optimizer": {"kind": kind, "seed": 5, "options": options},
        "budget": {"experiments": 3},
    }
    loaded = load_config(write_config(tmp_path, document))
    with Lab.from_config(loaded) as lab:
        first = run_campaign(loaded, lab=lab)
    positions = [r.inputs["position"] for r in first.state.completed]
    assert len(positions) == 3
    assert len({str(p) for p in positions}) == 3

    document["campaign"]["budget"] = {"experiments": 5}
    loaded = load_config(write_config(tmp_path, document, name="more.yaml"))
    with Lab.from_config(loaded) as lab:
        resumed = run_campaign(loaded, lab=lab, campaign_id=first.campaign_id)
        assert resumed.state.proposals_done == 5
        assert lab.store is not None
        runs = lab.store.runs(campaign=first.campaign_id)
    proposed = [run.metadata["inputs"]["position"]["value"] for run in runs]
    assert len(set(proposed)) == 5


def test_best_so_far_follows_each_direction_and_skips_outcomes_not_optimized() -> None:
    from labctl.optimizers.objectives import Objectives
    from labctl.plans.records import CampaignState, ExperimentRecord

    directions = Objectives(
        {
            "conductivity": {"direction": "maximize"},
            "cost": {"direction": "minimize"},
            "viscosity": {"direction": "none"},
        }
    ).directions
    assert directions == {"conductivity": "maximize", "cost": "minimize", "viscosity": "none"}
    state = CampaignState("c")
    for iteration, (kappa, cost, viscosity) in enumerate([(5.0, 3.0, 2.0), (8.0, 4.0, 1.0)]):
        state.records.append(
            ExperimentRecord(
                iteration,
                1,
                {},
                "completed",
                outcome={"conductivity": kappa, "cost": cost, "viscosity": viscosity},
            )
        )
    assert best_values(state, directions) == {"conductivity": 8.0, "cost": 3.0}
