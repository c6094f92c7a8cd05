"""The shared lab data service: a campaign written to a Tiled server on PostgreSQL, read back.

PostgreSQL is started by the project's own ``scripts/postgres`` (installed with apt-get if
missing) and the Tiled server by :class:`labctl.store.shared.SharedDataService`; both are stopped
by PID and their data removed at the end of the module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.preprocessors as bpp
import numpy as np
import pytest
from typer.testing import CliRunner

from labctl.campaign.runner import run_campaign
from labctl.cli import app
from labctl.config import load_config
from labctl.lab.session import Lab
from labctl.plans.techniques import measure
from labctl.processes import process_alive
from labctl.store.catalog import Store
from labctl.store.shared import TABLES_DATABASE, SharedDataService, SharedServerRecord
from labctl.testing.configs import sim_lab_document, write_config

# The first start may install PostgreSQL with apt-get; the tests themselves take seconds.
pytestmark = pytest.mark.timeout(600)

KEY_ENV = "LABCTL_TEST_SHARED_KEY"
KEY = "sharedlabtestkey42"

CAMPAIGN = {
    "name": "shared",
    "experiment": "toy-gaussian",
    "space": {"position": {"low": -1, "high": 1}},
    "objectives": {"signal": {"direction": "maximize"}},
    "optimizer": {"kind": "toy-random", "seed": 5},
    "budget": {"experiments": 3},
}


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SharedDataService, SharedServerRecord]]:
    shared = SharedDataService(tmp_path_factory.mktemp("shared") / "service")
    try:
        record = shared.start(api_key=KEY)
        yield shared, record
    finally:
        last = shared.record()
        shared.remove()
    pids = [record.pid, record.postgres_pid, *([last.pid, last.postgres_pid] if last else [])]
    for pid in pids:
        assert not process_alive(pid), f"process {pid} still runs"


def _array_columns(shared: SharedDataService) -> dict[str, str]:
    """Columns of the tables database that PostgreSQL holds as arrays: name → element type."""
    import adbc_driver_postgresql.dbapi

    directory = shared.postgres_directory
    password = (directory / "postgres.password").read_text().strip()
    port = (directory / "postgres.port").read_text().strip()
    uri = f"postgresql://labctl:{password}@127.0.0.1:{port}/{TABLES_DATABASE}"
    with adbc_driver_postgresql.dbapi.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE data_type = 'ARRAY' AND table_schema = 'public'"
        )
        return {str(name): str(kind) for name, kind in cursor.fetchall()}


def test_a_campaign_and_a_curve_go_to_tiled_on_postgresql_and_come_back(
    toy_kinds: None,
    service: tuple[SharedDataService, SharedServerRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared, record = service
    monkeypatch.setenv(KEY_ENV, KEY)
    document = copy.deepcopy(sim_lab_document())
    document["store"] = {"kind": "tiled", "uri": record.uri, "api_key_env": KEY_ENV}
    document["campaign"] = copy.deepcopy(CAMPAIGN)
    loaded = load_config(write_config(tmp_path, document))

    with Lab.from_config(loaded) as lab:
        assert lab.store is not None
        assert lab.store.curves_folder is None  # an external server keeps curves inline
        result = run_campaign(loaded, lab=lab)
        assert len(result.state.completed) == 3
        readings: list[dict[str, Any]] = []

        @bpp.run_decorator(md={"purpose": "a curve on the shared store"})
        def chronoamperometry() -> Any:
            readings.append(
                (
                    yield from measure(
                        lab.devices["potentiostat"],
                        {
                            "kind": "ca",
                            "potential": "0.2 V",
                            "duration": "1 s",
                            "interval": "10 ms",
                        },
                    )
                )
            )

        (curve_uid,) = lab.RE(chronoamperometry())

    # Another client — a colleague's notebook — reads everything back from the server.
    with Store.external(record.uri, api_key_env=KEY_ENV) as store:
        runs = store.runs(campaign=result.campaign_id)
        assert sorted(run.metadata["iteration"] for run in runs) == [0, 1, 2]
        assert {run.exit_status for run in runs} == {"success"}
        signals = sorted(float(store.run(run.uid).stream()["detector"].iloc[-1]) for run in runs)
        assert signals == sorted(
            float(attempt.outcome["signal"])  # type: ignore[index]
            for attempt in result.state.completed
        )
        frame = store.run(curve_uid).stream("ca")
        current = frame["potentiostat_current"].iloc[0]
        assert isinstance(current, np.ndarray)
        assert current.shape == (100,)
        np.testing.assert_allclose(current, readings[0]["potentiostat_current"]["value"])
        assert frame.attrs["units"]["potentiostat_current"] == "A"
    # The curve is a PostgreSQL array column, not a file beside the server.
    columns = _array_columns(shared)
    assert columns.get("potentiostat_current") == "_float8", columns
    assert not any((shared.directory / "arrays").iterdir())


def test_the_service_restarts_from_the_command_line_with_its_runs(
    service: tuple[SharedDataService, SharedServerRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import det

    shared, record = service
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("TILED_API_KEY", KEY)
    with Store.external(record.uri, api_key_env=KEY_ENV) as store:
        engine = RunEngine({})
        engine.subscribe(store.writer())
        (uid,) = engine(count([det], 2), sample="restart")

    runner = CliRunner()
    stopped = runner.invoke(app, ["shared", "stop", str(shared.directory)])
    assert stopped.exit_code == 0, stopped.output
    assert not process_alive(record.pid)
    assert not process_alive(record.postgres_pid)
    assert runner.invoke(app, ["shared", "status", str(shared.directory)]).exit_code == 1

    started = runner.invoke(
        app, ["shared", "start", str(shared.directory), "--port", str(record.port)]
    )
    assert started.exit_code == 0, started.output
    assert record.uri in started.output
    status = runner.invoke(app, ["shared", "status", str(shared.directory)])
    assert status.exit_code == 0, status.output
    with Store.external(record.uri, api_key_env=KEY_ENV) as store:
        assert [run.uid for run in store.runs(sample="restart")] == [uid]
        assert store.run(uid).stream()["det"].size == 2


def test_without_the_key_the_server_refuses(
    service: tuple[SharedDataService, SharedServerRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.errors import StoreError

    monkeypatch.setenv(KEY_ENV, "notthekey")
    with pytest.raises(StoreError, match=KEY_ENV):
        Store.external(service[1].uri, api_key_env=KEY_ENV)


TWO_LABS_SCRIPT = """
import sys
import labctl.testing.toy_kinds  # noqa: F401 — registers the toy campaign kinds
from labctl.campaign.runner import run_campaign
from labctl.config import load_config
from labctl.lab.session import Lab

loaded = load_config(sys.argv[1])
with Lab.from_config(loaded) as lab:
    result = run_campaign(loaded, lab=lab)
print(result.campaign_id, len(result.state.completed))
"""


def test_two_labs_write_one_server_at_once_and_keep_apart(
    service: tuple[SharedDataService, SharedServerRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two labs' campaigns, in two processes at the same time, into one Tiled server."""
    import os
    import subprocess
    import sys

    _, record = service
    monkeypatch.setenv(KEY_ENV, KEY)
    processes = {}
    for name, seed in (("north", 11), ("south", 12)):
        document = copy.deepcopy(sim_lab_document())
        document["lab"]["name"] = name
        document["store"] = {"kind": "tiled", "uri": record.uri, "api_key_env": KEY_ENV}
        document["campaign"] = {**copy.deepcopy(CAMPAIGN), "name": name}
        document["campaign"]["optimizer"] = {"kind": "toy-random", "seed": seed}
        document["campaign"]["budget"] = {"experiments": 4}
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, document)
        processes[name] = subprocess.Popen(
            [sys.executable, "-P", "-c", TWO_LABS_SCRIPT, str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, KEY_ENV: KEY},
        )
    campaigns = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        campaign_id, completed = out.split()[-2:]
        assert completed == "4"
        campaigns[name] = campaign_id
    with Store.external(record.uri, api_key_env=KEY_ENV) as store:
        for name, campaign_id in campaigns.items():
            runs = store.runs(campaign=campaign_id)
            assert len(runs) == 4
            assert {run.metadata["lab"] for run in runs} == {name}
            assert {run.exit_status for run in runs} == {"success"}
            assert sorted(run.metadata["iteration"] for run in runs) == [0, 1, 2, 3]
            for run in runs:
                assert len(store.run(run.uid).stream()) == 1
