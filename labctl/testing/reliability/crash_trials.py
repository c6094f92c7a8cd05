"""Building blocks of crash trials: a campaign with curves, a process paused at a kill point.

Shared by the tests that kill a campaign inside a store write, kill the store's server under a
reader or a writer, and kill the queue server's worker (``tests/test_crash_*.py``).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labctl.config import load_config
from labctl.store.catalog import Store
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store

__all__ = ["EVENTS", "campaign_runs", "curve_campaign", "labctl_command", "run_until"]

EVENTS = 3
"""Events per experiment of :func:`curve_campaign` (each holds a 2000-point curve)."""


def curve_campaign(directory: Path, budget: int, *, dwell: float = 0.1) -> Path:
    """Write a lab without instruments running the ``toy-curve`` campaign; return its config.

    Args:
        directory: where the config and the data directory (an initialised store) go.
        budget: experiments of the campaign.
        dwell: seconds each experiment lasts (besides its writes).
    """
    prepare_store(directory / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    document["devices"] = {}
    document["campaign"] = {
        "name": "torn",
        "experiment": "toy-curve",
        "experiment_options": {"dwell": dwell, "events": EVENTS},
        "space": {"position": {"low": -1, "high": 1}},
        "objectives": {"signal": {"direction": "maximize"}},
        "optimizer": {"kind": "toy-random", "seed": 5},
        "budget": {"experiments": budget},
    }
    return write_config(directory, document)


def labctl_command(*arguments: str) -> list[str]:
    """``labctl ARGUMENTS`` with the toy kinds registered, as a command line for this Python."""
    return [sys.executable, "-P", "-m", "labctl.testing.toy_cli", *arguments]


def run_until(
    point: str, nth: int, marker: Path, *arguments: str, timeout: float = 300.0
) -> subprocess.Popen[str]:
    """Start ``labctl ARGUMENTS`` and return once it waits at call ``nth`` of kill ``point``.

    The process (its own session, output piped) waits there until the caller kills it or deletes
    ``marker`` (see :mod:`labctl.testing.reliability.kill_points`).

    Raises:
        AssertionError: the process ended, or did not get there within ``timeout`` s.
    """
    command = [
        sys.executable,
        "-P",
        "-m",
        "labctl.testing.reliability.kill_points",
        point,
        str(nth),
    ]
    process = subprocess.Popen(
        [*command, str(marker), "--", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            output = process.communicate()[0]
            raise AssertionError(f"labctl {' '.join(arguments)} ended before {point}: {output}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            raise AssertionError(f"call {nth} of {point} not reached within {timeout:g} s")
        time.sleep(0.05)
    return process


def campaign_runs(config: Path) -> list[dict[str, Any]]:
    """Every campaign run in the config's store: campaign, iteration, attempt, status, uid."""
    with Store.for_config(load_config(config), in_process=True) as store:
        return [
            {
                "campaign": run.metadata.get("campaign"),
                "iteration": int(run.metadata["iteration"]),
                "attempt": int(run.metadata.get("attempt", 1)),
                "status": run.exit_status,
                "uid": run.uid,
            }
            for run in store.runs()
            if run.metadata.get("campaign")
        ]
