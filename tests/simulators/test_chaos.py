"""Chaos mode: seeded random faults on every twin, logged, and always ended."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from labctl.lab.session import Lab
from labctl.simulators.chaos import ChaosMonkey, ChaosOptions, ChaosTarget
from labctl.simulators.environment.twin import EnvironmentTwin
from labctl.simulators.serving import TcpTwinServer
from labctl.testing.configs import sim_lab_document, write_config
from labctl.testing.store import prepare_store


class Echo:
    """A twin session that answers each line with itself."""

    def feed(self, data: bytes) -> Iterable[bytes]:
        return [data]


def test_faults_are_injected_logged_and_ended() -> None:
    environment = EnvironmentTwin(seed=3)
    environment.start()
    serial = TcpTwinServer(Echo, name="echo")
    serial.start("127.0.0.1", 0)
    assert isinstance(environment, ChaosTarget)
    assert isinstance(serial, ChaosTarget)
    monkey = ChaosMonkey(
        {"glovebox": environment, "pump": serial, "inert": object()},
        ChaosOptions(mean_interval=0.1, duration=0.1),
        seed=5,
    )
    assert set(monkey.targets) == {"glovebox", "pump"}
    try:
        monkey.start()
        time.sleep(3.0)
    finally:
        monkey.stop()
        try:
            assert environment.running  # a restart fault ended with the server back up
            assert serial.fault is None
            assert environment.model.value("h2o") < 5  # no excursion left behind
        finally:
            environment.close()
            serial.stop()
    kinds_by_twin: dict[str, set[str]] = {}
    for fault in monkey.log:
        kinds_by_twin.setdefault(fault.twin, set()).add(fault.kind)
    assert kinds_by_twin["glovebox"] <= {"silence", "restart", "excursion"}
    assert kinds_by_twin["pump"] <= {"drop", "silence", "garbage"}
    assert len(kinds_by_twin["glovebox"]) >= 2
    assert len(kinds_by_twin["pump"]) >= 2
    assert sum(monkey.counts().values()) == len(monkey.log)


def test_allowed_kinds_restrict_what_is_injected() -> None:
    serial = TcpTwinServer(Echo, name="echo")
    serial.start("127.0.0.1", 0)
    monkey = ChaosMonkey(
        {"pump": serial},
        ChaosOptions(mean_interval=0.05, duration=0.05, kinds=frozenset({"garbage"})),
    )
    try:
        monkey.start()
        time.sleep(1.0)
    finally:
        monkey.stop()
        serial.stop()
    assert monkey.log
    assert monkey.counts().keys() == {"garbage"}


def test_weights_set_how_often_each_kind_is_drawn() -> None:
    """A twin's rare instrument fault can be made as frequent as its wire faults; 0 turns off."""
    serial = TcpTwinServer(Echo, name="echo")
    serial.start("127.0.0.1", 0)
    monkey = ChaosMonkey(
        {"pump": serial},
        ChaosOptions(
            mean_interval=0.1, duration=0.1, weights={"garbage": 8.0, "silence": 2.0, "drop": 0}
        ),
        seed=2,
    )
    draws = [monkey._draw_kind("pump", monkey._kinds("pump")) for _ in range(2000)]
    serial.stop()
    assert monkey._kinds("pump") == ["garbage", "silence"]
    assert 0.77 < draws.count("garbage") / len(draws) < 0.83
    with pytest.raises(ValueError, match="finite and >= 0"):
        ChaosOptions(weights={"clog": -1.0})


def test_a_chaos_config_makes_the_lab_misbehave(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    document: dict[str, Any] = copy.deepcopy(sim_lab_document())
    document["simulation"]["chaos"] = {"mean_interval": "0.2 s", "duration": "0.2 s"}
    document["safety"] = {"environment_suspenders": False}
    with Lab.from_config(write_config(tmp_path, document)) as lab:
        assert lab.chaos is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            injected = list(lab.chaos.log)
            if {fault.twin for fault in injected} == {"glovebox", "room", "potentiostat"}:
                break
            time.sleep(0.1)
    assert {fault.twin for fault in injected} == {"glovebox", "room", "potentiostat"}
    assert lab.chaos._thread is None  # stopped with the lab
