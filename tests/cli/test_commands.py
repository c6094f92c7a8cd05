"""The labctl command: the main job, run listing, a standalone twin, the console."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.transports.opcua import OpcUaTransport

runner = CliRunner()
LABCTL = [sys.executable, "-P", "-m", "labctl"]


def test_run_records_readings_and_runs_lists_them(sim_lab_config: Path) -> None:
    result = runner.invoke(app, ["run", str(sim_lab_config), "--readings", "3"])
    assert result.exit_code == 0, result.output
    assert "glovebox_o2" in result.output
    assert "room_humidity" in result.output
    uid = re.search(r"run ([0-9a-f-]{36})", result.output)
    assert uid is not None
    listing = runner.invoke(app, ["runs", str(sim_lab_config)])
    assert listing.exit_code == 0, listing.output
    assert uid.group(1)[:8] in listing.output
    assert "success" in listing.output


def test_runs_on_an_empty_store_says_so(sim_lab_config: Path) -> None:
    result = runner.invoke(app, ["runs", str(sim_lab_config)])
    assert result.exit_code == 0, result.output
    assert "no runs yet" in result.output


def test_runtime_failure_exits_1_with_the_cause(tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    config.write_text(
        "lab: {name: lonely, data_directory: data}\n"
        "devices:\n"
        "  room:\n"
        "    kind: environment-sensor\n"
        "    driver: opcua\n"
        "    address: opc.tcp://127.0.0.1:9\n"
        "    timeout: 1 s\n"
        "    options: {channels: {t: {node: 'ns=2;s=room.temperature', units: degC}}}\n"
    )
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 1
    assert "room" in result.output
    assert "opc.tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_unknown_twin_kind_exits_2() -> None:
    result = runner.invoke(app, ["twin", "serve", "teapot"])
    assert result.exit_code == 2
    assert "unknown twin kind 'teapot'" in result.output


@pytest.mark.parametrize("kind", ["scpi-smu", "methodscript", "cavro", "mtsics", "grbl"])
def test_every_instrument_twin_serves_standalone(kind: str) -> None:
    result = runner.invoke(app, ["twin", "serve", kind, "--duration", "0.2", "--time-scale", "0"])
    assert result.exit_code == 0, result.output
    assert f"{kind} twin serving at" in result.output


def test_twin_serve_runs_standalone_and_answers() -> None:
    with subprocess.Popen(
        [*LABCTL, "twin", "serve", "opcua-environment", "--duration", "60", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            address = re.search(r"opc\.tcp://127\.0\.0\.1:\d+", line)
            assert address is not None, line
            link = OpcUaTransport(address.group(0), device="standalone")
            try:
                (o2,) = link.read_values(["ns=2;s=glovebox.o2"])
            finally:
                link.close()
            assert 0.0 <= o2 < 2.0
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("labctl ")


def test_shell_starts_ipython_with_the_lab(sim_lab_config: Path) -> None:
    """Drive a real IPython process: banner, a read, %ct, Ctrl-C pauses, resume, abort, exit."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-P", "-m", "labctl", "shell", str(sim_lab_config)],
        env={**os.environ, "TERM": "dumb", "COLUMNS": "160"},
        encoding="utf-8",
        timeout=90,
    )
    try:
        child.expect("labctl console")
        child.expect("glovebox")
        child.expect(r"In \[1\]")
        child.sendline("sorted(lab.devices), RE.state")
        child.expect(r"\['glovebox', 'potentiostat', 'room'\], 'idle'")
        child.sendline("glovebox.o2.get() < 2")
        child.expect("True")
        child.sendline("%ct")
        child.expect(r"glovebox_o2|room_temperature")
        # Ctrl-C during a plan pauses it (RunEngine semantics); RE.resume() finishes it.
        child.sendline("RE(bp.count([glovebox], num=30, delay=0.1))")
        time.sleep(2.0)
        child.sendintr()
        child.expect("RunEngineInterrupted")
        child.sendline("RE.state")
        child.expect("'paused'")
        child.sendline("RE.resume(); RE.state, lab.store.runs(limit=1)[0].exit_status")
        child.expect(r"\('idle', 'success'\)")
        # Paused again, RE.abort() ends the run as aborted and leaves the engine idle.
        child.sendline("RE(bp.count([glovebox], num=30, delay=0.1))")
        time.sleep(2.0)
        child.sendintr()
        child.expect("RunEngineInterrupted")
        child.sendline("RE.abort(); RE.state, lab.store.runs(limit=1)[0].exit_status")
        child.expect(r"\('idle', 'abort'\)")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
