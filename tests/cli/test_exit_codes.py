"""Exit codes at the command line's other doors: an unknown id or a taken port is bad input (2)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.testing.configs import toy_campaign_config

runner = CliRunner()


def _toy_campaign(directory: Path) -> Path:
    return toy_campaign_config(directory, name="doors", budget=2)


def _one_paragraph(output: str) -> str:
    assert "Traceback" not in output
    return " ".join(output.split())


def test_an_unknown_approval_is_bad_input(sim_lab_config: Path) -> None:
    result = runner.invoke(app, ["approve", str(sim_lab_config), "c-nowhere", "3"])
    assert result.exit_code == 2, result.output
    assert "c-nowhere" in _one_paragraph(result.output)


def test_an_unknown_schedule_entry_is_bad_input(sim_lab_config: Path) -> None:
    result = runner.invoke(app, ["schedule", "remove", str(sim_lab_config), "e-nowhere"])
    assert result.exit_code == 2, result.output
    assert "no schedule entry 'e-nowhere'" in _one_paragraph(result.output)


def test_a_schedule_time_that_is_not_a_time_is_bad_input(sim_lab_config: Path) -> None:
    result = runner.invoke(
        app, ["schedule", "add", str(sim_lab_config), str(sim_lab_config), "--at", "soon"]
    )
    assert result.exit_code == 2, result.output
    assert "'soon' is not a time" in _one_paragraph(result.output)


def test_a_report_of_an_unknown_campaign_is_bad_input(tmp_path: Path, toy_kinds: Any) -> None:
    config = _toy_campaign(tmp_path)
    result = runner.invoke(app, ["report", "c-nowhere", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "c-nowhere" in _one_paragraph(result.output)


def test_resuming_an_unknown_campaign_is_bad_input(tmp_path: Path, toy_kinds: Any) -> None:
    config = _toy_campaign(tmp_path)
    result = runner.invoke(app, ["resume", "c-nowhere", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "no runs of campaign 'c-nowhere'" in _one_paragraph(result.output)


@pytest.mark.parametrize("kind", ["cavro", "mtsics"])
def test_a_twin_on_a_taken_port_is_bad_input(kind: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["twin", "serve", kind, "--port", str(port), "--duration", "0.1"]
        )
    assert result.exit_code == 2, result.output
    assert f"the {kind} twin cannot listen on 127.0.0.1:{port}" in _one_paragraph(result.output)
