"""Curves (array-valued readings) go to HDF5 beside the catalog and come back as arrays."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import plan_stubs as bps
from bluesky import plans as bp
from ophyd import Component, Device, Signal

from labctl.errors import StoreError
from labctl.store.catalog import Store
from labctl.testing.store import prepare_store


class CurveSignal(Signal):  # type: ignore[misc]
    def describe(self) -> dict[str, dict[str, Any]]:
        description: dict[str, dict[str, Any]] = super().describe()
        description[self.name]["units"] = "A"
        return description


class Recorder(Device):  # type: ignore[misc]
    """A detector whose reading is one curve plus a scalar summary."""

    curve = Component(CurveSignal, value=np.zeros(3), kind="hinted")
    total = Component(Signal, value=0.0, kind="hinted")

    def show(self, values: np.ndarray) -> None:
        self.curve.put(values)
        self.total.put(float(values.sum()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.embedded(prepare_store(tmp_path / "tiled"))
    yield opened
    opened.close()


def test_curves_are_stored_per_event_and_read_back_as_arrays(
    store: Store, run_engine: Any
) -> None:
    recorder = Recorder(name="rec")
    run_engine.subscribe(store.writer())
    rows = [np.linspace(0, 1, 500) * k for k in (1, 2, 3)]

    def plan() -> Any:
        yield from bps.open_run()
        for row in rows:
            recorder.show(row)
            yield from bps.trigger_and_read([recorder])
        yield from bps.close_run()

    (uid,) = run_engine(plan())
    frame = store.run(uid).stream()
    assert len(frame) == 3
    for stored, row in zip(frame["rec_curve"], rows, strict=True):
        np.testing.assert_array_equal(stored, row)
    assert list(frame["rec_total"]) == pytest.approx([row.sum() for row in rows])
    assert frame.attrs["units"]["rec_curve"] == "A"
    assert store.curves_folder is not None
    assert list((store.curves_folder / uid).glob("*.h5"))


def test_runs_with_curves_of_other_lengths_each_keep_their_own(
    store: Store, run_engine: Any
) -> None:
    recorder = Recorder(name="rec")
    run_engine.subscribe(store.writer())
    uids = []
    for length in (10, 1000, 0):
        recorder.show(np.arange(length, dtype=float))
        (uid,) = run_engine(bp.count([recorder]))
        uids.append(uid)
    for uid, length in zip(uids, (10, 1000, 0), strict=True):
        (stored,) = store.run(uid).stream()["rec_curve"]
        np.testing.assert_array_equal(stored, np.arange(length, dtype=float))


def test_a_curve_changing_length_within_a_stream_is_refused_clearly(
    store: Store, run_engine: Any
) -> None:
    recorder = Recorder(name="rec")
    run_engine.subscribe(store.writer())

    def plan() -> Any:
        yield from bps.open_run()
        for length in (5, 6):
            recorder.show(np.ones(length))
            yield from bps.trigger_and_read([recorder])
        yield from bps.close_run()

    with pytest.raises(StoreError, match=r"rec_curve has shape \[6\].*one length"):
        run_engine(plan())


@pytest.mark.parametrize("how", ["move", "copy"])
def test_a_store_moved_or_copied_elsewhere_reads_its_runs_and_curves(
    tmp_path: Path, run_engine: Any, how: str
) -> None:
    """An archived or copied data directory keeps working (the catalog records absolute paths)."""
    original = tmp_path / "lab data" / "tiled"
    recorder = Recorder(name="rec")
    row = np.linspace(0, 1, 50)
    with Store.embedded(prepare_store(original)) as store:
        token = run_engine.subscribe(store.writer())
        recorder.show(row)
        (uid,) = run_engine(bp.count([recorder]))
        run_engine.unsubscribe(token)
    elsewhere = tmp_path / "archive disk" / "tiled"
    elsewhere.parent.mkdir()
    (shutil.move if how == "move" else shutil.copytree)(original, elsewhere)
    with Store.embedded(elsewhere) as moved:
        frame = moved.run(uid).stream()
        np.testing.assert_array_equal(frame["rec_curve"].iloc[0], row)
        assert frame["rec_total"].iloc[0] == pytest.approx(row.sum())
        token = run_engine.subscribe(moved.writer())
        recorder.show(2 * row)
        (second,) = run_engine(bp.count([recorder]))
        run_engine.unsubscribe(token)
        np.testing.assert_array_equal(moved.run(second).stream()["rec_curve"].iloc[0], 2 * row)
    assert list((elsewhere / "curves" / second).glob("*.h5"))
    if how == "copy":  # the original knows nothing of the copy's new run
        with Store.embedded(original) as first:
            assert [run.uid for run in first.runs()] == [uid]
            np.testing.assert_array_equal(first.run(uid).stream()["rec_curve"].iloc[0], row)
