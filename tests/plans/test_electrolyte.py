"""The electrolyte experiment on the simulated lab of configs/electrolyte-sim.yaml.

* One experiment through the twins: κ fitted from the EIS matches the electrolyte model for the
  composition that was really in the cell; the stability limit is the model's; cell and mixing
  vial are empty and the vial is back in service; the inventory and the world's bottles lost what
  was dispensed.
* A short campaign (Sobol) writes runs that the reducer, built without a lab, reduces again from
  the store to the same outcomes (resume and reports).
* Config checks name the keys.
* Slow: the full campaign of the README's main command (≥ 30 experiments, a Pareto front of
  more than one point).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.campaign.history import campaign_history
from labctl.campaign.runner import run_campaign
from labctl.config import load_config, parse_config
from labctl.errors import ConfigError
from labctl.lab.registry import validate_lab_config
from labctl.lab.session import Lab
from labctl.plans.electrolyte import OUTCOMES, electrolyte
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.model import electrolyte_properties
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store
from labctl.units import ureg

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "electrolyte-sim.yaml"
Q = ureg.Quantity


def _document() -> dict[str, Any]:
    """configs/electrolyte-sim.yaml merged with the lab it extends, minus the room sensor."""
    document = copy.deepcopy(dict(load_config(CONFIG).raw))
    del document["devices"]["room"]
    document["lab"] = {**document["lab"], "data_directory": "data"}
    return document


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """The lab of electrolyte-sim.yaml with a Sobol campaign of 3 experiments."""
    prepare_store(tmp_path / "data" / "tiled")
    document = _document()
    document["campaign"]["optimizer"] = {"kind": "sobol", "seed": 3}
    document["campaign"]["budget"] = {"experiments": 3}
    with Lab.from_config(load_config(write_config(tmp_path, document))) as opened:
        yield opened


@pytest.mark.timeout(300)  # eleven twins and three runs: ~30 s, more on a busy machine
def test_a_short_campaign_through_the_twins(lab: Lab) -> None:
    """Three experiments after a crash left the mixing vial dirty; every check on each one."""
    world, robot = lab.world, lab.devices["robot"]
    # What a kill between preparation and rinse leaves: liquid in the vial, the vial used.
    robot._mark("MIX", "used")
    world.transfer("dmc", "MIX", 0.5)
    stocks_before = dict(world.snapshot()["stocks"])
    inventory_before = {
        name: q.to("mL").magnitude for name, q in robot.inventory.volumes().items()
    }
    in_cell: dict[str, dict[str, float]] = {}  # run uid → what was in the cell during the EIS
    starts: list[str] = []

    def watch(name: str, document: dict[str, Any]) -> None:
        if name == "start":
            starts.append(str(document["uid"]))
        if name == "descriptor" and document.get("name") == "eis":
            in_cell[starts[-1]] = world.cells["conductivity"].contents.copy().masses

    token = lab.RE.subscribe(watch)
    try:
        result = run_campaign(lab.config, lab=lab)
    finally:
        lab.RE.unsubscribe(token)
    assert [record.status for record in result.state.records] == ["completed"] * 3

    # Resume and reports reduce the stored runs again, with a reducer built without a lab.
    section = lab.config.model.campaign
    assert section is not None
    assert lab.store is not None
    _, reducer = electrolyte(None, section)
    history = campaign_history(lab.store, result.campaign_id, reducer)
    assert [record.status for record in history] == ["completed"] * 3
    for record, stored in zip(result.state.completed, history, strict=True):
        assert stored.outcome == pytest.approx(record.outcome, rel=1e-9)
        outcome = stored.outcome
        assert outcome is not None
        assert set(outcome) == OUTCOMES
        run = lab.store.run(str(stored.uid))
        assert set(run.streams) == {"preparation", "equilibration", "temperature", "eis", "lsv"}
        # κ fitted from the EIS is the electrolyte model's for what was really in the cell.
        truth = electrolyte_properties(Composition.from_masses(in_cell[str(stored.uid)]), 298.15)
        assert outcome["conductivity"] == pytest.approx(truth.conductivity * 10, rel=0.03)
        assert 4.5 < outcome["stability_limit"] < 5.8
        assert outcome["stability_limit"] == pytest.approx(truth.stability_limit, abs=0.05)
        assert 2.0 < outcome["cost"] < 8.0  # USD/kg with the illustrative prices
        # Prepared as proposed (the first one too: the dirty vial was rinsed before).
        prepared = run.stream("preparation").iloc[-1]
        proposed = {name: stored.inputs[name].magnitude for name in ("EC", "EMC", "DMC")}
        assert json.loads(prepared["robot_solvents"]) == pytest.approx(proposed, abs=0.01)
        assert float(prepared["robot_molality"]) == pytest.approx(
            stored.inputs["salt_molality"].magnitude, rel=0.02
        )
        ontology = run.start["ontology"]
        assert ontology["conductivity"]["label"] == "IonicConductivity"
        assert ontology["salt_molality"]["label"] == "Molality"
        assert ontology["EC"]["label"] == "MassFraction"

    # Rinsed: the cell and the mixing vial are empty, the vial is back in service.
    assert world.cells["conductivity"].contents.total_mass < 1e-9
    assert world.vials["MIX"].contents.total_mass < 1e-9
    assert robot.vial_states() == {"MIX": "fresh"}
    # The inventory lost what the robot planned; the bottles lost what the pumps drew.
    stocks_after = world.snapshot()["stocks"]
    inventory_after = {name: q.to("mL").magnitude for name, q in robot.inventory.volumes().items()}
    used = {name: inventory_before[name] - inventory_after[name] for name in inventory_before}
    assert sum(used.values()) == pytest.approx(3 * 1.5, rel=0.01)  # the recipes' amounts, mL
    for name, volume in used.items():
        drawn = stocks_before[name] - stocks_after[name]
        assert drawn == pytest.approx(volume, rel=0.02, abs=1e-6), name
    rinse_used = stocks_before["rinse"] - stocks_after["rinse"]
    assert rinse_used == pytest.approx(4 * 3.0, rel=0.02)  # the crash's + 3 × (2 cell + 1 vial)


def test_config_problems_name_their_keys(tmp_path: Path) -> None:
    document = _document()
    options = document["campaign"]["experiment_options"]
    options["vial"] = "Z9"
    options["transfer"]["pump"] = "balance"
    options["solvents"] = ["EC", "EMC", "PC"]
    options["prices"].pop("DMC")
    path = write_config(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        validate_lab_config(load_config(path))
    assert "campaign.experiment_options: prices lacks PC" in str(caught.value)
    options["prices"]["DMC"] = 1.5
    options["prices"]["PC"] = 2.5
    with pytest.raises(ConfigError) as caught:
        validate_lab_config(load_config(write_config(tmp_path, document)))
    message = str(caught.value)
    assert "campaign.experiment_options.vial: not one of the robot's vials" in message
    assert "campaign.experiment_options.transfer.pump: must name a syringe-pump" in message
    assert "campaign.experiment_options.solvents[2]: not a parameter of campaign.space" in message


def test_the_shipped_configs_validate() -> None:
    for name in ("electrolyte-sim.yaml", "electrolyte-real.yaml"):
        loaded = load_config(CONFIG.parent / name)
        validate_lab_config(loaded)
        assert loaded.model.campaign is not None
        assert loaded.model.campaign.budget.experiments >= 30
    real = parse_config(
        (CONFIG.parent / "electrolyte-real.yaml").read_text(encoding="utf-8"),
        CONFIG.parent / "electrolyte-real.yaml",
    )
    assert all(device.twin is None for device in real.model.devices.values())


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_readme_campaign_completes_with_a_pareto_front(tmp_path: Path) -> None:
    from labctl.optimizers.objectives import Objectives
    from labctl.optimizers.pareto import non_dominated

    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(dict(load_config(CONFIG).raw))
    document["lab"] = {**document["lab"], "data_directory": "data"}
    path = write_config(tmp_path, document)
    runner = CliRunner()
    result = runner.invoke(_app(), ["run", str(path)])
    assert result.exit_code == 0, result.output
    campaign_id = result.output.split("campaign ", 1)[1].split(":", 1)[0]
    loaded = load_config(path)
    section = loaded.model.campaign
    assert section is not None
    with Lab.from_config(loaded) as lab:
        assert lab.store is not None
        history = campaign_history(lab.store, campaign_id, electrolyte(None, section)[1])
    completed = [record for record in history if record.status == "completed"]
    assert len(completed) >= 30
    objectives = Objectives(section.objectives)
    values = objectives.to_array([record.outcome for record in completed])
    assert int(non_dominated(objectives.maximization(values)).sum()) > 1
    report = tmp_path / "data" / "reports" / campaign_id / "report.html"
    assert report.stat().st_size > 0  # `labctl run` wrote the report


def _app() -> Any:
    from labctl.cli import app

    return app


def test_a_pump_port_bound_to_a_cell_fills_and_empties_it() -> None:
    from labctl.config import DeviceConfig, TwinConfig
    from labctl.simulators.cavro.twin import CavroTwin
    from labctl.simulators.world import Mixture, World

    device = DeviceConfig.model_validate(
        {"kind": "syringe-pump", "driver": "cavro", "address": "x", "options": {"ports": 4}}
    )
    clash = TwinConfig.model_validate(
        {"kind": "cavro", "options": {"vials": {1: "MIX"}, "cells": {1: "cell", 5: "other"}}}
    )
    problems = {
        issue.path[-1]: issue.message for issue in CavroTwin.check_config("p", device, clash)
    }
    assert problems == {
        1: "the port is already bound to a stock or vial",
        5: "the valve has ports 1…4",
    }
    world = World()
    world.vial("MIX").contents = Mixture({"EC": 1.2})
    twin = CavroTwin.from_config(
        "p",
        device,
        TwinConfig.model_validate(
            {
                "kind": "cavro",
                "options": {
                    "vials": {1: "MIX"},
                    "cells": {2: "cell"},
                    "define_cells": [{"name": "cell", "cell_constant": 0.8}],
                    "dosing_error": 0,
                },
            }
        ),
        seed=0,
        time_scale=0.0,
        world=world,
    )
    pump = twin.pump
    for command in ("ZR", "I1A3000R", "I2A1500R", "I2A3000R", "I4A0R"):
        pump.handle(command)  # draw 1 mL from MIX, push 0.5 mL into the cell, draw it back, waste
        while pump.busy:
            pump.handle("Q")
    assert world.cells["cell"].cell_constant == 0.8
    assert world.cells["cell"].contents.total_mass < 1e-12
    assert world.vial("MIX").contents.total_mass == pytest.approx(0.0, abs=1e-12)
    assert pump.waste_volume == pytest.approx(1.0)
