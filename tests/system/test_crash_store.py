"""Crash safety inside the store: ``kill -9`` a campaign *in the middle of a store write*, resume.

The campaign runs under :mod:`labctl.testing.reliability.kill_points`, which stops the process on
the n-th call of one write of the embedded store — an HDF5 curve row not yet flushed, a SQLite
table or catalog transaction not yet committed, the run's stop document about to be written — and
the test kills it there. Then: the SQLite files pass ``PRAGMA integrity_check``, every finished run
reads back whole, the interrupted run is the only one without a stop document and reading it is a
clear :class:`~labctl.errors.StoreError`; after ``labctl resume`` every iteration has exactly one
successful run, nothing completed before the kill is repeated, and the interrupted iteration was
retried as the failure policy says.

Also here: a curve file cut short (as a crash mid-write may leave it) breaks the reading of its
own run only, with a message saying so.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labctl.config import load_config
from labctl.errors import StoreError
from labctl.store.catalog import Store
from labctl.testing.reliability.crash_trials import (
    EVENTS,
    campaign_runs,
    curve_campaign,
    labctl_command,
    run_until,
)
from labctl.testing.reliability.kill_points import POINTS
from labctl.testing.store import prepare_store

BUDGET = 4
# Calls of each kill point per experiment (3 events of 3 readings with a curve): measured with
# ``python -m labctl.testing.reliability.kill_points POINT 0 COUNT -- run CONFIG``.
CALLS_PER_RUN = {"hdf5-flush": EVENTS, "table-commit": 2, "catalog-commit": 6, "run-stop": 1}
# Every store write point (reads and the optimizer's fit have their own trials).
assert set(CALLS_PER_RUN) == set(POINTS) - {"store-read", "optimizer-fit"}


def kill_at(config: Path, point: str, nth: int) -> str:
    """Run the campaign until the ``nth`` call of ``point``, ``kill -9`` it there; say where."""
    marker = config.parent / f"{point}-{nth}.reached"
    process = run_until(point, nth, marker, "run", str(config))
    where = marker.read_text(encoding="utf-8").strip()
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return where


def check_store_readable(config: Path) -> dict[str, int]:
    """SQLite files intact; finished runs read back whole; interrupted ones fail clearly."""
    directory = load_config(config).store_directory
    for name in ("catalog.db", "storage.sqlite"):
        with sqlite3.connect(directory / name) as connection:
            (answer,) = connection.execute("PRAGMA integrity_check").fetchone()
        assert answer == "ok", (name, answer)
    counts = Counter[str]()
    with Store.for_config(load_config(config), in_process=True) as store:
        for summary in store.runs():
            run = store.run(summary.uid)
            if summary.exit_status == "success":
                frame = run.stream()
                assert len(frame) == EVENTS
                assert all(np.asarray(curve).shape == (2000,) for curve in frame["spectrum"])
                counts["finished"] += 1
                continue
            try:
                run.stream()
            except StoreError as error:
                assert summary.uid in str(error)
                counts["unreadable interrupted"] += 1
            else:
                counts["readable interrupted"] += 1
    return dict(counts)


def resume(config: Path, campaigns: set[str]) -> subprocess.CompletedProcess[str]:
    """``labctl resume`` the one campaign in the store (or ``run`` if it never started a run)."""
    assert len(campaigns) <= 1
    command = (
        ("resume", next(iter(campaigns)), "--config", str(config))
        if campaigns
        else ("run", str(config))
    )
    finished = subprocess.run(
        labctl_command(*command),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


def check_invariants(
    before: list[dict[str, Any]], after: list[dict[str, Any]], budget: int = BUDGET
) -> int:
    """Nothing lost, nothing repeated, the interrupted attempt retried; returns the retries."""
    completed_before = {run["iteration"] for run in before if run["status"] == "success"}
    successes = Counter(run["iteration"] for run in after if run["status"] == "success")
    assert sorted(successes) == list(range(budget)), after
    assert all(count == 1 for count in successes.values()), after  # nothing repeated
    assert completed_before <= set(successes)  # nothing lost
    kept = {run["uid"] for run in after}
    assert {run["uid"] for run in before} <= kept  # no run of the crashed session vanished
    interrupted = [run for run in after if run["status"] is None]
    assert len(interrupted) <= 1, after
    for run in interrupted:
        # Recorded as interrupted, and retried once as the failure policy (retry: once) says.
        retried = [
            other
            for other in after
            if other["iteration"] == run["iteration"] and other["attempt"] == run["attempt"] + 1
        ]
        assert [other["status"] for other in retried] == ["success"], after
    return len(interrupted)


def trial(tmp_path: Path, point: str, nth: int, budget: int = BUDGET) -> dict[str, Any]:
    """One kill inside the store and its recovery; what happened, for the reliability table."""
    config = curve_campaign(tmp_path, budget)
    started = time.monotonic()
    where = kill_at(config, point, nth)
    store_state = check_store_readable(config)
    before = campaign_runs(config)
    resume(config, {str(run["campaign"]) for run in before})
    after = campaign_runs(config)
    retried = check_invariants(before, after, budget)
    check_store_readable(config)
    return {
        "where": where,
        "store": store_state,
        "retried": retried,
        "seconds": time.monotonic() - started,
    }


@pytest.mark.timeout(600)  # ~30 s of process start-ups: the default suite's kill -9 of a run
def test_kill_9_inside_a_curve_write_then_resume(tmp_path: Path) -> None:
    """The default suite's trial: killed with the 2nd experiment's 2nd curve row unflushed."""
    outcome = trial(tmp_path, "hdf5-flush", CALLS_PER_RUN["hdf5-flush"] + 2, budget=2)
    assert outcome["retried"] == 1
    assert outcome["store"].get("finished") == 1


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("point", "trial_number"),
    [(point, number) for point in CALLS_PER_RUN for number in range(5)],
)
def test_kill_9_inside_every_store_write(tmp_path: Path, point: str, trial_number: int) -> None:
    """5 seeded kills per write kind, anywhere in the first three experiments."""
    rng = np.random.default_rng(9000 + 10 * list(CALLS_PER_RUN).index(point) + trial_number)
    nth = int(rng.integers(1, 3 * CALLS_PER_RUN[point] + 1))
    outcome = trial(tmp_path, point, nth)
    print(f"\n{point} call {nth}: {outcome}")


def test_a_curve_file_cut_short_breaks_only_its_own_run(
    tmp_path: Path, run_engine: Any, toy_kinds: None
) -> None:
    """A torn HDF5 file: its run fails to read with a message naming it; the others read fine."""
    from labctl.testing.toy_campaign import curve_maximum, toy_curve_experiment

    store = Store.embedded(prepare_store(tmp_path / "tiled"))
    try:
        run_engine.subscribe(store.writer())
        section = load_config(curve_campaign(tmp_path / "config", 2)).model.campaign
        plan, _ = toy_curve_experiment(None, section)
        uids = [
            run_engine(plan({"position": position}, {"iteration": index}))[0]
            for index, position in enumerate((0.0, 0.5))
        ]
        (torn_file,) = (store.curves_folder or tmp_path).glob(f"{uids[0]}/*.h5")
        torn_file.write_bytes(torn_file.read_bytes()[:4096])

        with pytest.raises(StoreError, match=f"run {uids[0]}.*cannot be read.*damaged"):
            store.run(uids[0]).stream()
        # Gaussian detector (centre 0.3, sigma 0.5) at 0.5, times a whole spectrum's peak of 1.
        expected = float(np.exp(-(0.2**2) / (2 * 0.5**2)))
        assert curve_maximum(store.run(uids[1]))["signal"] == pytest.approx(expected, rel=1e-4)
        assert len(store.runs()) == 2
    finally:
        store.close()
