"""`labctl stock list|refill`: the dispensing robot's stock bottles from the command line."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from labctl.cli import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "dispensing.yaml"


def _config(tmp_path: Path) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["lab"]["data_directory"] = str(tmp_path / "data")
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_list_then_refill_then_list_again(tmp_path: Path) -> None:
    config = _config(tmp_path)
    listed = runner.invoke(app, ["stock", "list", str(config)], env={"COLUMNS": "160"})
    assert listed.exit_code == 0, listed.output
    assert "salt" in listed.output
    assert "100 ml" in listed.output.lower()
    refilled = runner.invoke(app, ["stock", "refill", str(config), "salt", "25 mL"])
    assert refilled.exit_code == 0, refilled.output
    assert "salt: 125 ml left" in refilled.output.lower()
    again = runner.invoke(app, ["stock", "list", str(config)], env={"COLUMNS": "160"})
    assert "125 ml" in again.output.lower()


def test_an_unknown_stock_or_a_lab_without_robot_exits_2(tmp_path: Path) -> None:
    config = _config(tmp_path)
    unknown = runner.invoke(app, ["stock", "refill", str(config), "water", "1 L"])
    assert unknown.exit_code == 2
    assert "no stock 'water'" in unknown.output
    sim_lab = Path(__file__).resolve().parents[2] / "configs" / "sim-lab.yaml"
    none = runner.invoke(app, ["stock", "list", str(sim_lab)])
    assert none.exit_code == 2
    assert "dispensing robots: none" in none.output
