"""Ctrl-C during ``labctl run``, then ``labctl run`` again: a safe stop, one paragraph, a resume.

The campaign is the toy one (a motor and a detector, 1 s per experiment) run as a real process
through the real command line; SIGINT is what a terminal's Ctrl-C sends.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from labctl.testing.configs import toy_campaign_config
from labctl.testing.store import campaign_runs

BUDGET = 10  # 1 s each: a Ctrl-C after the second lands well before the last


def _labctl(*args: str) -> list[str]:
    return [sys.executable, "-P", "-m", "labctl.testing.toy_cli", *args]


def _config(directory: Path) -> Path:
    return toy_campaign_config(directory, name="interrupt", budget=BUDGET, dwell=1.0, seed=5)


def _interrupt(config: Path, *, presses: int, after_runs: int) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        _labctl("run", str(config), "--no-report"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if len([run for run in campaign_runs(config) if run["status"] == "success"]) >= after_runs:
            break
        time.sleep(0.5)
    assert process.poll() is None, "the campaign ended before it could be interrupted"
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
        time.sleep(0.1)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_safely_says_how_to_go_on_and_a_rerun_resumes(
    tmp_path: Path, presses: int
) -> None:
    config = _config(tmp_path)
    interrupted = _interrupt(config, presses=presses, after_runs=2)
    assert interrupted.returncode == 130, interrupted.stderr
    assert "Traceback" not in interrupted.stderr + interrupted.stdout
    assert "RE.resume" not in interrupted.stderr + interrupted.stdout
    (campaign,) = {run["campaign"] for run in campaign_runs(config)}
    message = " ".join(interrupted.stderr.split())
    assert f"interrupted: campaign {campaign} stopped safely after" in message
    assert f"of {BUDGET} experiments" in message
    assert f"To go on: labctl run {config}" in message
    # No run is left open: an experiment cut short was closed as aborted.
    assert all(run["status"] in ("success", "abort") for run in campaign_runs(config))

    rerun = subprocess.run(
        _labctl("run", str(config), "--no-report"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming campaign {campaign}" in rerun.stdout
    runs = campaign_runs(config)
    assert {run["campaign"] for run in runs} == {campaign}
    successes = Counter(run["iteration"] for run in runs if run["status"] == "success")
    assert sorted(successes) == list(range(BUDGET)), "an iteration lost"
    assert set(successes.values()) == {1}, "a completed experiment repeated"

    if presses == 2:
        return
    # The campaign ended: the next run starts a new one, as --new does.
    again = subprocess.run(
        _labctl("run", str(config), "--no-report"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "resuming" not in again.stdout
    assert len({run["campaign"] for run in campaign_runs(config)}) == 2
