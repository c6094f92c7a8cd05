"""The shared local store server: started, reused by quick commands, stopped by PID, idles out."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from labctl.cli import app
from labctl.config import load_config
from labctl.processes import process_alive
from labctl.store.catalog import Store
from labctl.store.server import (
    running_server,
    spawn_server,
    stop_server,
    wait_for_server,
)
from labctl.testing.store import prepare_store

runner = CliRunner()


@pytest.fixture
def lab_config(tmp_path: Path) -> Iterator[Path]:
    prepare_store(tmp_path / "data" / "tiled")
    path = tmp_path / "lab.yaml"
    document = {"lab": {"name": "served", "data_directory": "data"}}
    path.write_text(yaml.safe_dump(document))
    yield path
    stop_server(tmp_path / "data" / "tiled")  # never leave a server behind


def test_serve_status_runs_stop(lab_config: Path) -> None:
    served = runner.invoke(app, ["store", "serve", str(lab_config)])
    assert served.exit_code == 0, served.output
    directory = load_config(lab_config).store_directory
    record = running_server(directory)
    assert record is not None
    assert record.uri.startswith("http://127.0.0.1:")
    assert oct((directory / "server.json").stat().st_mode & 0o777) == "0o600"

    with Store.for_config(load_config(lab_config)) as store:
        assert f"served by pid {record.pid}" in store.location
        import bluesky.plans as bp
        from bluesky import RunEngine
        from ophyd.sim import det1

        engine = RunEngine({})
        engine.subscribe(store.writer())
        (uid,) = engine(bp.count([det1], num=2))

    listing = runner.invoke(app, ["runs", str(lab_config)])
    assert listing.exit_code == 0
    assert "served by pid" in listing.output
    assert uid[:8] in listing.output

    status = runner.invoke(app, ["store", "status", str(lab_config)])
    assert str(record.pid) in status.output

    stopped = runner.invoke(app, ["store", "stop", str(lab_config)])
    assert f"stopped store server pid {record.pid}" in stopped.output
    assert running_server(directory) is None
    # What the server wrote is in the store for an in-process reader too.
    with Store.embedded(directory) as store:
        assert len(store.run(uid).stream()) == 2


def test_the_server_stops_itself_when_idle(tmp_path: Path) -> None:
    directory = prepare_store(tmp_path / "tiled")
    spawn_server(directory, idle_timeout=1.0)
    try:
        record = wait_for_server(directory)
        deadline = time.monotonic() + 30
        while (directory / "server.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (directory / "server.json").exists()
        assert running_server(directory) is None
        while process_alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the record goes first; the interpreter then shuts down
        assert not process_alive(record.pid)
    finally:
        stop_server(directory)


def test_a_stale_record_is_ignored_and_removed(tmp_path: Path) -> None:
    directory = tmp_path / "tiled"
    directory.mkdir()
    stale = {
        "pid": 2**22 + 12345,  # beyond pid_max on this kind of machine: no such process
        "uri": "http://127.0.0.1:9/api/v1",
        "api_key": "x",
        "directory": str(directory),
        "started": time.time(),
        "idle_timeout": 10.0,
    }
    (directory / "server.json").write_text(json.dumps(stale))
    assert running_server(directory) is None
    assert not (directory / "server.json").exists()


def test_runs_starts_a_server_for_next_time_only_when_allowed(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"lab": {"name": "x", "data_directory": "data"}}))
    directory = tmp_path / "data" / "tiled"
    try:
        assert runner.invoke(app, ["runs", str(path)]).exit_code == 0
        record = wait_for_server(directory)
        assert record.idle_timeout == 900.0
        assert os.getpid() != record.pid
    finally:
        stop_server(directory)
    path.write_text(
        yaml.safe_dump(
            {"lab": {"name": "x", "data_directory": "data"}, "store": {"keep_server": "0 s"}}
        )
    )
    (directory / "server.starting").unlink(missing_ok=True)
    assert runner.invoke(app, ["runs", str(path)]).exit_code == 0
    time.sleep(1.0)
    assert running_server(directory) is None
