"""Shared fixtures: a fresh RunEngine per test, twins on loopback, the simulated lab's config."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store


@pytest.fixture
def run_engine() -> Iterator[Any]:
    """A RunEngine with its own event loop; a run left paused or running is halted at teardown."""
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=False)
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def toy_kinds() -> Iterator[None]:
    """The toy campaign kinds (``toy-gaussian``, ``toy-random``, ...) registered for one test."""
    from labctl.testing.toy_registry import registered

    with registered():
        yield


@pytest.fixture
def environment_twin() -> Iterator[Any]:
    """The standalone glovebox twin on a free loopback port (seed 7, time scale 0)."""
    from labctl.simulators.environment.twin import EnvironmentTwin

    twin = EnvironmentTwin(seed=7)
    twin.start()
    yield twin
    twin.close()


@pytest.fixture
def sim_lab_config(tmp_path: Path) -> Path:
    """configs/sim-lab.yaml, with its data directory inside the test's temporary folder."""
    prepare_store(tmp_path / "data" / "tiled")
    return write_config(tmp_path, sim_lab_document())


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    """Fail a test that leaves a twin or connection thread running (daemon loops excepted)."""
    before = {thread.ident for thread in threading.enumerate()}
    yield
    leftover = [
        thread
        for thread in threading.enumerate()
        if thread.ident not in before and thread.is_alive() and thread.name.startswith("twin-")
    ]
    assert not leftover, f"threads left running: {[thread.name for thread in leftover]}"
