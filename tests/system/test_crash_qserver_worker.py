"""Crash safety of unattended operation: ``kill -9`` the queue server's RE Worker alone.

The worker is the process that holds the lab and runs the campaign; the RE Manager (and Redis)
keep running. bluesky-queueserver's manager does not notice by itself — it would report the item
as running forever — so :meth:`QueueServer.recover_worker` replaces the dead worker: the manager
files the item as failed and queues a copy at the front, the new worker resumes the campaign from
the store. Invariants: every iteration succeeds exactly once, the experiment the kill interrupted
is recorded without a stop document and retried, the queue drains.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labctl.config import load_config
from labctl.operations.qserver.manager import QueueServer
from labctl.processes import process_alive, wait_gone
from labctl.testing.reliability.crash_trials import campaign_runs, curve_campaign

BUDGET = 4


@pytest.fixture
def worker_queue(tmp_path: Path) -> Iterator[tuple[QueueServer, Path, Path]]:
    """A queue server on a lab without instruments, and a toy-curve campaign config for it."""
    # 3 s per experiment: the kill lands while the campaign still runs, even on a loaded machine.
    lab = curve_campaign(tmp_path, BUDGET, dwell=3.0)
    document = yaml.safe_load(lab.read_text(encoding="utf-8"))
    campaign = {"extends": "lab.yaml", "campaign": document.pop("campaign")}
    lab.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    campaign_path = tmp_path / "campaign.yaml"
    campaign_path.write_text(yaml.safe_dump(campaign, sort_keys=False), encoding="utf-8")
    server = QueueServer(load_config(lab), plugins=("labctl.testing.toy_kinds",))
    try:
        server.start()
        yield server, lab, campaign_path
    finally:
        server.stop()


def _wait_drained(server: QueueServer, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.client() as api:
        while time.monotonic() < deadline:
            status = dict(api.status())
            if status["items_in_queue"] == 0 and status["manager_state"] == "idle":
                return status
            time.sleep(0.5)
    raise AssertionError(f"queue not drained within {timeout:g} s: {status}")


def _runs(lab: Path, campaign_id: str) -> list[dict[str, Any]]:
    return [run for run in campaign_runs(lab) if run["campaign"] == campaign_id]


def kill_worker_mid_campaign(
    server: QueueServer, lab: Path, campaign_path: Path, campaign_id: str, after: int
) -> dict[str, Any]:
    """Queue a campaign, kill -9 the worker once ``after`` experiments succeeded, recover."""
    server.submit_campaign(campaign_path, campaign_id)
    server.run_unattended()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with server.client() as api:
            running = api.status()["manager_state"] == "executing_queue"
        done = [run for run in _runs(lab, campaign_id) if run["status"] == "success"]
        if running and len(done) >= after:
            break
        time.sleep(0.2)
    worker = server.worker_pid()
    assert worker is not None
    assert process_alive(worker)
    before = _runs(lab, campaign_id)
    assert len([run for run in before if run["status"] == "success"]) < BUDGET, "too late"
    os.kill(worker, signal.SIGKILL)
    assert wait_gone(worker, 10.0)
    with server.client() as api:  # the manager alone does not notice
        assert api.status()["manager_state"] == "executing_queue"
    steps = server.recover_worker()
    assert steps, "a dead worker was not replaced"
    assert server.recover_worker() == []  # the new worker is alive: nothing more to do
    _wait_drained(server, timeout=600)

    after_runs = _runs(lab, campaign_id)
    successes = Counter(run["iteration"] for run in after_runs if run["status"] == "success")
    assert successes == Counter(range(BUDGET)), after_runs  # nothing lost, nothing repeated
    completed_before = {run["uid"] for run in before if run["status"] == "success"}
    assert completed_before <= {run["uid"] for run in after_runs}
    interrupted = [run for run in after_runs if run["status"] is None]
    assert len(interrupted) <= 1, after_runs
    for run in interrupted:
        retried = [
            other
            for other in after_runs
            if other["iteration"] == run["iteration"] and other["attempt"] == run["attempt"] + 1
        ]
        assert [other["status"] for other in retried] == ["success"], after_runs
    with server.client() as api:
        history = api.history_get()["items"]
    statuses = [item["result"]["exit_status"] for item in history]
    assert statuses == ["failed", "completed"], history
    assert {item["kwargs"]["campaign_id"] for item in history} == {campaign_id}
    return {"steps": steps, "interrupted": len(interrupted), "runs": len(after_runs)}


@pytest.mark.slow  # ~45 s: Redis, a RE Manager and a campaign; run with -m slow
@pytest.mark.timeout(900)
def test_a_killed_worker_is_replaced_and_its_campaign_resumes(
    worker_queue: tuple[QueueServer, Path, Path],
) -> None:
    server, lab, campaign_path = worker_queue
    outcome = kill_worker_mid_campaign(server, lab, campaign_path, "worker-1", after=1)
    assert outcome["interrupted"] <= 1


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_three_worker_kills_in_a_row(worker_queue: tuple[QueueServer, Path, Path]) -> None:
    """Three campaigns on one queue server, the worker killed in each (after 0, 1, 2 done)."""
    server, lab, campaign_path = worker_queue
    for index, after in enumerate((0, 1, 2)):
        with server.client() as api:
            api.history_clear()
        outcome = kill_worker_mid_campaign(server, lab, campaign_path, f"worker-{index}", after)
        print(f"\nworker kill after {after}: {outcome}")
