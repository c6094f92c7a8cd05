"""Crash anywhere in the real campaigns: ``kill -9`` of ``labctl run``, then ``labctl resume``.

The electrolyte campaign (dispensing robot with a stock inventory file) and the pulsed-charging
campaign (droplet cell with a substrate site map file), each a copy of the project's config with
its own data directory and a budget of 4 (2 Sobol experiments, then BoTorch fits), are killed with
SIGKILL of the whole process group:

* ``random`` — a random moment after the campaign's first catalog write (its first run opening);
* inside a store write (``hdf5-flush``, ``table-commit``, ``catalog-commit``, ``run-stop``) and
  inside the BoTorch optimizer's fit (``optimizer-fit``), by
  :mod:`labctl.testing.reliability.kill_points`.

After every kill: the state files are whole JSON; a new lab starts from a safe state; ``labctl
resume`` completes; completed runs are present once, the interrupted run stays recorded as
interrupted and its iteration is retried; the inventory accounts for every preparation a run
recorded and for no more than the unrecorded runs could have drawn; no substrate site serves two
runs and none claimed before the kill is used again
(:mod:`labctl.testing.reliability.campaign_crashes`).

Each trial takes 2.5–4 minutes on the shared 2-core machine (load ≈ 10), almost all of it three
lab start-ups (the killed run, the safe-start check, resume: imports of Tiled's server stack and
torch, twins, store), so every trial is ``-m slow``; ``test_kill_9_campaign_then_resume`` is the
short pair (one per campaign) to run first. Results: ``benchmarks/reliability.md``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from labctl.testing.reliability.campaign_crashes import (
    campaign_config,
    campaign_runs,
    check_inventory,
    check_runs,
    check_safe_start,
    check_sites,
    inventory_file,
    read_json,
    resume,
    sites_file,
)
from labctl.testing.reliability.crash_trials import run_until

BUDGET = 4

# (campaign, kill point, call N or random seed). Calls: catalog commits ≈ 4–6 per run; HDF5
# flushes and table commits one per event or stream; run-stop one per run; fits one per objective
# (3) per BoTorch proposal, the first while the 3rd experiment runs.
DEFAULT = [("electrolyte", "run-stop", 2), ("pulsed-charging", "hdf5-flush", 4)]
SLOW = [
    (campaign, point, n)
    for point, n in [
        ("random", 1),
        ("optimizer-fit", 1),
        ("hdf5-flush", 7),
        ("random", 2),
        ("catalog-commit", 9),
        ("table-commit", 5),
        ("random", 3),
        ("run-stop", 3),
        ("optimizer-fit", 3),
        ("random", 4),
    ]
    for campaign in ("electrolyte", "pulsed-charging")
]


def _kill(config: Path, point: str, n: int, marker: Path) -> None:
    """Run the campaign and SIGKILL its process group at ``point`` (``random``: seed ``n``)."""
    arguments = ("run", str(config), "--no-report")
    if point == "random":
        # Anchor at the first catalog commit (the store in use), then let it run on a while.
        process = run_until("catalog-commit", 1, marker, *arguments)
        marker.unlink()
        time.sleep(float(np.random.default_rng(n).uniform(0.0, 12.0)))
    else:
        process = run_until(point, n, marker, *arguments)
    assert process.poll() is None, "the campaign ended before the kill"
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _log(entry: dict[str, object]) -> None:
    """Append one trial's summary to ``$LABCTL_CRASH_CAMPAIGNS_LOG`` (for the benchmark table)."""
    log = os.environ.get("LABCTL_CRASH_CAMPAIGNS_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def _trial(directory: Path, campaign: str, point: str, n: int) -> None:
    started = time.monotonic()
    try:
        _checked_trial(directory, campaign, point, n, started)
    except BaseException as error:
        _log({"campaign": campaign, "point": point, "n": n, "error": str(error)[-4000:]})
        raise


def _checked_trial(directory: Path, campaign: str, point: str, n: int, started: float) -> None:
    config = campaign_config(directory, campaign, BUDGET)
    _kill(config, point, n, directory / "marker")

    before = campaign_runs(config)
    # The state files a kill could tear are whole (written to a temporary file, then renamed).
    claimed_at_kill: set[str] = set()
    if campaign == "electrolyte":
        if inventory_file(config).exists():
            read_json(inventory_file(config))
        vials = inventory_file(config).with_suffix(".vials.json")
        if vials.exists():
            read_json(vials)
    elif sites_file(config).exists():
        claimed_at_kill = set(read_json(sites_file(config))["sites"])

    check_safe_start(config)
    resume(config, before)

    after = campaign_runs(config)
    check_runs(before, after, BUDGET)
    state: object
    if campaign == "electrolyte":
        state = check_inventory(config, after)
    else:
        state = check_sites(config, after, claimed_at_kill, {run["uid"] for run in before})
    _log(
        {
            "campaign": campaign,
            "point": point,
            "n": n,
            "seconds": round(time.monotonic() - started, 1),
            "before": [(run["iteration"], run["attempt"], run["status"]) for run in before],
            "after": [(run["iteration"], run["attempt"], run["status"]) for run in after],
            "claimed_at_kill": sorted(claimed_at_kill),
            "state": state,
        }
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("campaign", "point", "n"), DEFAULT)
def test_kill_9_campaign_then_resume(tmp_path: Path, campaign: str, point: str, n: int) -> None:
    _trial(tmp_path, campaign, point, n)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("campaign", "point", "n"), SLOW)
def test_kill_9_campaign_anywhere_then_resume(
    tmp_path: Path, campaign: str, point: str, n: int
) -> None:
    _trial(tmp_path, campaign, point, n)
