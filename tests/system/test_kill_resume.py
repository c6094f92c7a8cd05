"""Crash safety: ``kill -9`` a campaign process at random moments, resume, check the invariants.

After every kill and ``labctl resume``: each iteration has exactly one successful run (nothing
completed before the kill is repeated, nothing is lost), attempts of one iteration never exceed
the failure policy's retry, runs without a stop document are what the kill interrupted, and the
campaign ends with its budget honoured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from labctl.testing.configs import toy_campaign_config
from labctl.testing.store import campaign_runs

BUDGET = 8
TRIALS = 10


def _labctl(*args: str) -> list[str]:
    return [sys.executable, "-P", "-m", "labctl.testing.toy_cli", *args]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("optimizer", "trial"),
    [("toy-random", trial) for trial in range(TRIALS)]
    # BoTorch fits ~1 s per proposal while the experiment runs: kills land inside fits too.
    + [("botorch-mo", trial) for trial in range(TRIALS, TRIALS + 4)],
)
def test_kill_9_then_resume_loses_and_repeats_nothing(
    tmp_path: Path, optimizer: str, trial: int
) -> None:
    config = toy_campaign_config(
        tmp_path, name="crash", budget=BUDGET, dwell=0.5, optimizer=optimizer, seed=11
    )
    rng = np.random.default_rng(1000 + trial)
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(
        _labctl("run", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    # Start-up (imports, twins, store) takes ~3 s; each experiment ~0.6 s: kill anywhere in it.
    time.sleep(float(rng.uniform(2.5, 6.5)))
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the campaign ended before the kill"

    before = campaign_runs(config)
    completed_before = Counter(
        int(str(run["iteration"])) for run in before if run["status"] == "success"
    )
    campaigns = {str(run["campaign"]) for run in before}
    assert len(campaigns) <= 1
    # Killed before the first run opened: nothing to resume, the campaign starts afresh.
    command = (
        ("resume", campaigns.pop(), "--config", str(config)) if campaigns else ("run", str(config))
    )
    finished = subprocess.run(
        _labctl(*command),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr

    after = campaign_runs(config)
    successes = Counter(int(str(run["iteration"])) for run in after if run["status"] == "success")
    assert sorted(successes) == list(range(BUDGET)), after
    assert all(count == 1 for count in successes.values()), after
    for iteration, count in completed_before.items():
        assert successes[iteration] == count == 1
    attempts = Counter(int(str(run["iteration"])) for run in after)
    assert max(attempts.values()) <= 2, after
    unfinished = [run for run in after if run["status"] not in ("success", "fail", "abort")]
    assert len(unfinished) <= 1, after
