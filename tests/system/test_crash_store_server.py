"""Crash safety of the store's local server: ``kill -9`` it under a reader and under a campaign.

``labctl runs`` paused (by :mod:`labctl.testing.reliability.kill_points`) after it connected to the
server, the server killed, the command let go: it notices the dead process before its next request,
reads the store in its own process and lists every run — at once, not after Tiled's client has
retried the dead address. The next command finds the stale ``server.json``, removes it and works. A
campaign started while a server runs writes in its own process, so killing the server between
two of its experiments changes nothing: every experiment is stored exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.config import load_config
from labctl.processes import process_alive, wait_gone
from labctl.store.catalog import Store
from labctl.store.server import running_server, spawn_server, stop_server, wait_for_server
from labctl.testing.reliability.crash_trials import (
    campaign_runs,
    curve_campaign,
    labctl_command,
    run_until,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def served_campaign(tmp_path: Path) -> Iterator[Path]:
    """The toy-curve campaign's config with its store's server running (stopped by PID after)."""
    # The config keeps store.keep_server at 0 s, so no command starts a server of its own that
    # could outlive the test; this one is started here and stopped by PID.
    config = curve_campaign(tmp_path, budget=3)
    directory = load_config(config).store_directory
    spawn_server(directory, idle_timeout=600)
    try:
        wait_for_server(directory)
        yield config
    finally:
        stop_server(directory)


def _server_pid(config: Path) -> int:
    record = running_server(load_config(config).store_directory)
    assert record is not None, "no store server runs"
    return record.pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid, 10.0)


def _paused(config: Path, point: str, nth: int, *arguments: str) -> tuple[Any, Path]:
    marker = config.parent / f"{point}-{nth}.reached"
    return run_until(point, nth, marker, *arguments), marker


def _write_runs(config: Path, count: int) -> list[str]:
    """``count`` toy-curve runs written (in this process) into the config's store."""
    from bluesky import RunEngine

    from labctl.testing.toy_campaign import toy_curve_experiment

    section = load_config(config).model.campaign
    plan, _ = toy_curve_experiment(None, section)
    with Store.for_config(load_config(config), in_process=True) as store:
        engine = RunEngine({}, call_returns_result=False)
        engine.subscribe(store.writer())
        return [engine(plan({"position": 0.1 * i}, {"n": i}))[0] for i in range(count)]


def test_labctl_runs_recovers_when_its_server_is_killed_mid_read(served_campaign: Path) -> None:
    config = served_campaign
    uids = _write_runs(config, 3)
    server = _server_pid(config)
    process, marker = _paused(config, "store-read", 1, "runs", str(config))
    _kill(server)
    released = time.monotonic()
    marker.unlink()  # the command goes on, against a dead server
    output, _ = process.communicate(timeout=120)
    waited = time.monotonic() - released
    assert process.returncode == 0, output
    assert "has stopped; reading the store in this process" in output
    for uid in uids:
        assert uid[:8] in output
    # Tiled's client alone retries a dead address for tens of seconds, saying "Retrying…"; the
    # time left is this process opening the store itself (imports: seconds on a loaded machine).
    assert "Retrying" not in output, output
    print(f"\nlabctl runs finished {waited:.1f} s after its server was killed")

    directory = load_config(config).store_directory
    assert running_server(directory) is None
    assert not (directory / "server.json").exists()  # the stale record is gone
    listing = subprocess.run(
        labctl_command("runs", str(config)),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert all(uid[:8] in listing.stdout for uid in uids)


@pytest.mark.slow
def test_a_campaign_survives_its_store_server_killed(served_campaign: Path) -> None:
    """The server killed while the campaign's 2nd experiment is being written: nothing lost."""
    config = served_campaign
    server = _server_pid(config)
    process, marker = _paused(config, "run-stop", 2, "run", str(config))
    _kill(server)
    marker.unlink()
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    runs = campaign_runs(config)
    successes = Counter(run["iteration"] for run in runs if run["status"] == "success")
    assert successes == Counter(range(3)), runs
    assert len(runs) == 3, runs  # no failed or interrupted attempt either
    assert not process_alive(server)
    # The campaign never asked for the server; the next reader finds its record stale.
    directory = load_config(config).store_directory
    record = running_server(directory)
    assert record is None or record.pid != server
    if record is None:
        assert not (directory / "server.json").exists()
