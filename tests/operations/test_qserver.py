"""Unattended operation: Redis and the RE Manager on loopback run queued campaigns and surveys.

Redis is started by the project's own ``scripts/redis`` (installed with apt-get if missing) and
everything is stopped by PID at the end.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.config import load_config
from labctl.operations.qserver.manager import QueueServer
from labctl.store.catalog import Store
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store


def _documents(directory: Path, budget: int) -> tuple[Path, Path]:
    prepare_store(directory / "data" / "tiled")
    lab = copy.deepcopy(sim_lab_document())
    lab_path = write_config(directory, lab)
    campaign = {
        "extends": "lab.yaml",
        "campaign": {
            "name": "queued",
            "experiment": "toy-gaussian",
            "experiment_options": {"dwell": 0.2},
            "space": {"position": {"low": -1, "high": 1}},
            "objectives": {"signal": {"direction": "maximize"}},
            "optimizer": {"kind": "toy-random", "seed": 4},
            "budget": {"experiments": budget},
        },
    }
    campaign_path = directory / "campaign.yaml"
    import yaml

    campaign_path.write_text(yaml.safe_dump(campaign), encoding="utf-8")
    return lab_path, campaign_path


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[tuple[QueueServer, Path, Path]]:
    lab_path, campaign_path = _documents(tmp_path, budget=4)
    server = QueueServer(load_config(lab_path), plugins=("labctl.testing.toy_kinds",))
    try:
        server.start()
        yield server, lab_path, campaign_path
    finally:
        server.stop()
    state_pid = None if server.state() is None else server.state()
    assert state_pid is None


def _wait_drained(server: QueueServer, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.client() as api:
        while time.monotonic() < deadline:
            status = api.status()
            if status["items_in_queue"] == 0 and status["manager_state"] == "idle":
                return dict(status)
            time.sleep(0.5)
    raise AssertionError(f"queue not drained within {timeout} s: {status}")


def _successes(lab_path: Path, campaign_id: str) -> Counter[int]:
    store = Store.for_config(load_config(lab_path), start_server=False)
    try:
        return Counter(
            int(run.metadata["iteration"])
            for run in store.runs(campaign=campaign_id)
            if run.exit_status == "success"
        )
    finally:
        store.close()


@pytest.mark.timeout(600)
def test_a_queued_campaign_and_survey_run_unattended(
    queue: tuple[QueueServer, Path, Path],
) -> None:
    server, lab_path, campaign_path = queue
    with server.client() as api:
        plans = set(api.plans_allowed()["plans_allowed"])
        devices = set(api.devices_allowed()["devices_allowed"])
    assert {"campaign", "survey"} <= plans
    assert {"glovebox", "room"} <= devices

    server.submit_campaign(campaign_path, "queued-1")
    server.submit_plan("survey", readings=2)
    server.run_unattended()
    _wait_drained(server)

    assert _successes(lab_path, "queued-1") == Counter(range(4))
    with server.client() as api:
        history = api.history_get()["items"]
    assert [item["name"] for item in history] == ["campaign", "survey"]
    assert all(item["result"]["exit_status"] == "completed" for item in history)
    assert history[0]["kwargs"]["campaign_id"] == "queued-1"


@pytest.mark.timeout(900)
def test_three_campaigns_survive_a_manager_restart(
    queue: tuple[QueueServer, Path, Path],
) -> None:
    """A queue of three campaigns drains to completion with the RE Manager killed in the middle."""
    server, lab_path, campaign_path = queue
    for index in range(3):
        server.submit_campaign(campaign_path, f"night-{index}")
    server.run_unattended()
    deadline = time.monotonic() + 300
    while not _successes(lab_path, "night-1") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _successes(lab_path, "night-1"), "the second campaign never started"
    server.kill_manager()  # in the middle of the second campaign
    server.start()
    server.run_unattended()
    _wait_drained(server, timeout=600)
    for index in range(3):
        successes = _successes(lab_path, f"night-{index}")
        assert successes == Counter(range(4)), (index, successes)
