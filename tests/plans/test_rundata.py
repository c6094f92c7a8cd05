"""RunData: live documents and the store give reducers the same frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ophyd.sim import det1, motor

from labctl.plans.rundata import DocumentRun, RunData
from labctl.store.catalog import Store
from labctl.testing.store import prepare_store


def test_documents_and_store_give_the_same_stream(tmp_path: Path, run_engine: Any) -> None:
    import bluesky.plans as bp

    documents: list[tuple[str, dict[str, Any]]] = []
    with Store.embedded(prepare_store(tmp_path / "tiled")) as store:
        run_engine.subscribe(store.writer())
        run_engine.subscribe(lambda name, doc: documents.append((name, doc)))
        (uid,) = run_engine(bp.scan([det1], motor, -1, 1, 4))
        live = DocumentRun(documents)
        stored = store.run(uid)
        assert isinstance(live, RunData)
        assert isinstance(stored, RunData)
        assert live.start["uid"] == stored.start["uid"] == uid
        assert live.stop["exit_status"] == stored.stop["exit_status"] == "success"
        for key in ("motor", "det1"):
            assert list(live.stream()[key]) == pytest.approx(list(stored.stream()[key]))
        assert live.stream().attrs["units"]["time"] == "s"


def test_missing_stream_is_a_clear_error() -> None:
    from labctl.errors import LabctlError

    run = DocumentRun([("start", {"uid": "abc"}), ("stop", {"exit_status": "success"})])
    with pytest.raises(LabctlError, match="no stream 'primary'"):
        run.stream()
