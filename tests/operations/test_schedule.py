"""Scheduling campaigns, and the preconditions that keep an unfit lab from starting one."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from labctl.campaign.preconditions import campaign_preconditions
from labctl.config import load_config
from labctl.devices.droplet.sites import SubstrateMap
from labctl.lab.session import Lab
from labctl.operations.qserver.manager import QueueServer, QueueServerError
from labctl.operations.schedule import (
    Schedule,
    ScheduleEntry,
    ScheduleError,
    run_scheduler,
    scheduled_submitter,
)
from labctl.store.catalog import Store
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def _campaign_file(directory: Path) -> Path:
    path = directory / "campaign.yaml"
    document = {
        "extends": "lab.yaml",
        "campaign": {
            "name": "nightly",
            "experiment": "toy-gaussian",
            "space": {"position": {"low": -1, "high": 1}},
            "objectives": {"signal": {"direction": "maximize"}},
            "optimizer": {"kind": "toy-random", "seed": 2},
            "budget": {"experiments": 2},
        },
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_entries_persist_and_fire_when_due(tmp_path: Path) -> None:
    campaign = _campaign_file(tmp_path)
    schedule = Schedule(tmp_path / "schedule.json")
    once = schedule.add(campaign, at="2026-11-25T02:00")
    nightly = schedule.add(campaign, cron="0 22 * * *", now=T0)  # not today's date: a fixed one
    assert once.next_due() == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

    fired: list[str] = []

    def submit(entry: ScheduleEntry) -> str:
        fired.append(entry.id)
        return "queued"

    again = Schedule(tmp_path / "schedule.json")  # a restarted scheduler reads the same file
    assert [e.id for e in again.entries()] == [once.id, nightly.id]
    assert again.fire_due(submit, now=T0) == 0
    assert again.fire_due(submit, now=T0 + timedelta(hours=1, minutes=1)) == 1
    assert fired == [once.id]
    # A nightly entry missed for three nights fires once, not three times.
    late = T0 + timedelta(days=3)
    assert again.fire_due(submit, now=late) == 1
    assert again.fire_due(submit, now=late + timedelta(minutes=1)) == 0
    assert fired == [once.id, nightly.id]
    entries = {e.id: e for e in Schedule(tmp_path / "schedule.json").entries()}
    assert entries[once.id].next_due() is None
    assert entries[nightly.id].log[-1].endswith("queued")


def test_a_failed_submission_is_logged_in_the_entry(tmp_path: Path) -> None:
    schedule = Schedule(tmp_path / "schedule.json")
    entry = schedule.add(_campaign_file(tmp_path), at="2026-11-25T00:00")

    def refuse(_: ScheduleEntry) -> str:
        raise ScheduleError("queue server not running")

    assert schedule.fire_due(refuse, now=T0) == 1
    (saved,) = schedule.entries()
    assert saved.id == entry.id
    assert "not submitted: queue server not running" in saved.log[-1]


def test_the_scheduler_checks_the_queue_every_period_and_outlives_a_failing_check(
    tmp_path: Path,
) -> None:
    """A dead RE Worker is replaced before anything is submitted; a down manager is reported."""
    schedule = Schedule(tmp_path / "schedule.json")
    schedule.add(_campaign_file(tmp_path), at="2020-01-01T00:00")  # long due
    events: list[str] = []
    answers = iter(
        [
            QueueServerError("the RE Manager at tcp://127.0.0.1:1 did not answer"),
            ["the RE Worker (pid 4242) had died: its environment was destroyed"],
            [],
        ]
    )
    stop = threading.Event()

    def check() -> list[str]:
        answer = next(answers)
        if isinstance(answer, Exception):
            events.append("check failed")
            raise answer
        events.append("check")
        if not answer:
            stop.set()  # third period: end the loop
        return answer

    def submit(entry: ScheduleEntry) -> str:
        events.append("submit")
        return "queued"

    reported: list[str] = []
    run_scheduler(
        schedule, submit, period=0.01, stop=stop, check_health=check, report=reported.append
    )
    assert events == ["check failed", "submit", "check", "check"]
    assert "queue health check failed" in reported[0]
    assert "did not answer" in reported[0]
    assert reported[1] == "the RE Worker (pid 4242) had died: its environment was destroyed"


@pytest.mark.parametrize(
    ("at", "cron", "words"),
    [
        (None, None, "exactly one"),
        ("2026-11-25T02:00", "0 * * * *", "exactly one"),
        ("tomorrow", None, "not a time"),
        (None, "every night", "not a cron expression"),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, at: Any, cron: Any, words: str) -> None:
    with pytest.raises(ScheduleError, match=words):
        Schedule(tmp_path / "s.json").add(_campaign_file(tmp_path), at=at, cron=cron)


def test_preconditions_refuse_a_droplet_cell_whose_substrate_is_used_up(tmp_path: Path) -> None:
    sites = SubstrateMap(tmp_path / "sites.json", rows=1, columns=2, pitch=4.0, name="Zn-foil-3")
    lab = SimpleNamespace(devices={"droplet": SimpleNamespace(sites=sites)})
    assert campaign_preconditions(lab) == []
    sites.claim()
    sites.mark(sites.claim(), "failed")
    assert campaign_preconditions(lab) == [
        "droplet: no fresh site left on substrate Zn-foil-3 (1 used, 1 failed of 2); "
        "mount a new one"
    ]


def test_preconditions_name_what_is_out_of_range(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    document = copy.deepcopy(sim_lab_document())
    document["devices"]["glovebox"]["limits"]["h2o"] = {"high": "0.01 ppm"}
    document["safety"] = {"environment_suspenders": False}
    with Lab.from_config(write_config(tmp_path, document)) as lab:
        reasons = campaign_preconditions(lab)
    assert len(reasons) == 1
    assert reasons[0].startswith("glovebox.h2o is ")
    assert reasons[0].endswith("above its ceiling 0.01 ppm")


@pytest.mark.timeout(600)
def test_a_scheduled_campaign_runs_and_an_unfit_lab_refuses_one(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    lab_path = write_config(tmp_path, copy.deepcopy(sim_lab_document()))
    campaign = _campaign_file(tmp_path)
    server = QueueServer(load_config(lab_path), plugins=("labctl.testing.toy_kinds",))
    schedule = Schedule(tmp_path / "schedule.json")
    try:
        server.start()
        schedule.add(campaign, at=datetime.now(UTC).isoformat())
        assert schedule.fire_due(scheduled_submitter(server)) == 1
        (entry,) = schedule.entries()
        assert "queued campaign nightly-" in entry.log[-1]
        history = _wait_history(server, 1)
        assert history[0]["result"]["exit_status"] == "completed"
        campaign_id = history[0]["kwargs"]["campaign_id"]
        store = Store.for_config(load_config(lab_path))
        try:
            assert len(store.runs(campaign=campaign_id)) == 2
        finally:
            store.close()

        # The same lab with a glovebox limit it cannot meet: not queued, and the entry says why.
        document = copy.deepcopy(sim_lab_document())
        document["devices"]["glovebox"]["limits"]["h2o"] = {"high": "0.01 ppm"}
        write_config(tmp_path, document)
        server.stop_manager()
        server.start()
        schedule.add(campaign, at=datetime.now(UTC).isoformat())
        assert schedule.fire_due(scheduled_submitter(server)) == 1
        last = schedule.entries()[-1].log[-1]
        assert "not started: glovebox.h2o is" in last
        assert "above its ceiling 0.01 ppm" in last
        with server.client() as api:
            assert api.status()["items_in_queue"] == 0
            assert len(api.history_get()["items"]) == 1
    finally:
        server.stop()


def _wait_history(server: QueueServer, count: int, timeout: float = 180.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    with server.client() as api:
        while time.monotonic() < deadline:
            status = api.status()
            history = api.history_get()["items"]
            if len(history) >= count and status["manager_state"] == "idle":
                return list(history)
            time.sleep(0.5)
    raise AssertionError(f"history did not reach {count} items: {history}")
