"""The store: runs written through TiledWriter, listed, searched, read back as DataFrames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ophyd.sim import det1, motor

from labctl.errors import StoreError
from labctl.store.catalog import Store
from labctl.testing.store import prepare_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.embedded(prepare_store(tmp_path / "tiled"))
    yield opened
    opened.close()


def test_runs_are_listed_newest_first_and_searchable(store: Store, run_engine: object) -> None:
    import bluesky.plans as bp
    from bluesky import RunEngine

    assert isinstance(run_engine, RunEngine)
    run_engine.subscribe(store.writer())
    run_engine(bp.count([det1], num=2), campaign="c-1")
    run_engine(bp.scan([det1], motor, 0, 1, 3), campaign="c-2")
    run_engine(bp.count([det1], num=1), campaign="c-1")
    listed = store.runs()
    assert [summary.plan_name for summary in listed] == ["count", "scan", "count"]
    assert [summary.num_events["primary"] for summary in listed] == [1, 3, 2]
    assert {summary.exit_status for summary in listed} == {"success"}
    assert len(store.runs(campaign="c-1")) == 2
    assert len(store.runs(campaign="c-2", plan_name="scan")) == 1
    assert len(store.runs(limit=1)) == 1
    assert len(store) == 3


def test_stream_as_dataframe_with_units(store: Store, run_engine: object) -> None:
    import bluesky.plans as bp
    from bluesky import RunEngine

    assert isinstance(run_engine, RunEngine)
    run_engine.subscribe(store.writer())
    (uid,) = run_engine(bp.scan([det1], motor, -1, 1, 5))
    frame = store.run(uid).stream()
    assert len(frame) == 5
    assert list(frame["motor"]) == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0])
    assert frame.attrs["units"]["time"] == "s"
    assert store.run(uid[:8]).uid == uid


def test_clear_errors_for_missing_runs_and_streams(store: Store, run_engine: object) -> None:
    import bluesky.plans as bp
    from bluesky import RunEngine

    assert isinstance(run_engine, RunEngine)
    run_engine.subscribe(store.writer())
    (uid,) = run_engine(bp.count([det1]))
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run("nope")
    with pytest.raises(StoreError, match="no stream 'baseline'"):
        store.run(uid).stream("baseline")


def test_a_new_directory_is_initialised_on_first_use(tmp_path: Path) -> None:
    with Store.embedded(tmp_path / "fresh") as fresh:
        assert len(fresh) == 0
    assert (tmp_path / "fresh" / "catalog.db").is_file()


def test_unreachable_external_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the Tiled server"):
        Store.external("http://127.0.0.1:9/api/v1", api_key_env="LABCTL_TEST_NO_SUCH_KEY")
