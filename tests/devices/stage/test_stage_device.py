"""The Stage ophyd device against the GRBL twin on loopback: moves, limits, alarms, stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bluesky import plan_stubs as bps
from bluesky import plans as bp
from bluesky.protocols import Movable, Readable, Stoppable
from bluesky.utils import FailedStatus

from labctl.config import DeviceConfig
from labctl.devices.stage.device import Stage
from labctl.devices.stage.errors import MoveStopped, StageAlarm
from labctl.errors import SafetyLimitError, UnitError
from labctl.lab.registry import build_device, device_issues
from labctl.simulators.grbl.twin import GrblTwin, GrblTwinOptions
from labctl.units import ureg

Q = ureg.Quantity
LIMITS = {
    "x": {"low": "0 mm", "high": "100 mm"},
    "y": {"low": "0 mm", "high": "8 cm"},
    "z": {"low": "0 mm", "high": "50 mm"},
    "z_floor": {"low": "1.5 mm"},
    "feed": {"high": "3000 mm/min"},
}


def _config(limits: dict[str, Any] | None = None, **options: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "kind": "stage",
            "driver": "grbl",
            "address": "placeholder",
            "timeout": "0.5 s",
            "options": {"poll_interval": "10 ms", "motion_margin": "0.5 s", **options},
            "limits": LIMITS if limits is None else limits,
        }
    )


@dataclass
class Rig:
    twin: GrblTwin
    stage: Stage

    def sent(self) -> int:
        return int(self.twin.server.bytes_received)


def _rig(time_scale: float = 0.0, limits: dict[str, Any] | None = None, **twin: Any) -> Rig:
    grbl = GrblTwin(GrblTwinOptions(surface_z=2.0, **twin), time_scale=time_scale, name="stage")
    grbl.start()
    stage = build_device("stage", _config(limits), grbl.address)
    stage.connect()
    return Rig(grbl, stage)


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = _rig()
    made.stage.home().wait(2)
    yield made
    made.stage.close()
    made.twin.stop()


@pytest.fixture
def slow_rig() -> Iterator[Rig]:
    made = _rig(time_scale=10.0, start_locked=False)
    yield made
    made.stage.close()
    made.twin.stop()


def test_the_stage_is_a_readable_stoppable_movable_with_axes(rig: Rig) -> None:
    stage = rig.stage
    for thing in (stage, stage.x, stage.y, stage.z):
        assert isinstance(thing, Movable)
        assert isinstance(thing, Stoppable)
        assert isinstance(thing, Readable)
    keys = stage.describe()
    assert set(keys) == set(stage.read())
    assert keys["stage_x"]["units"] == "mm"
    assert keys["stage_z_setpoint"]["precision"] == 3
    assert stage.position == (0.0, 0.0, 50.0)
    assert stage.read_configuration()["stage_state"]["value"] == "Idle"


def test_moves_through_the_run_engine_and_reads_back(rig: Rig, run_engine: Any) -> None:
    documents: list[tuple[str, dict[str, Any]]] = []
    run_engine.subscribe(lambda name, doc: documents.append((name, doc)))

    def plan() -> Any:
        yield from bps.mv(rig.stage.x, 10, rig.stage.y, Q(2, "cm"))
        yield from bps.mv(rig.stage, {"z": 3.0})
        yield from bp.count([rig.stage])

    run_engine(plan())
    event = next(doc for name, doc in documents if name == "event")
    assert event["data"]["stage_x"] == 10.0
    assert event["data"]["stage_y"] == 20.0
    assert event["data"]["stage_z"] == 3.0
    assert rig.twin.work_position == (10.0, 20.0, 3.0)


def test_a_scan_over_an_axis(rig: Rig, run_engine: Any) -> None:
    positions: list[float] = []
    run_engine.subscribe(
        lambda name, doc: positions.append(doc["data"]["stage_x"]) if name == "event" else None
    )
    run_engine(bp.scan([rig.stage], rig.stage.x, 0, 20, 3))
    assert positions == [0.0, 10.0, 20.0]


@pytest.mark.parametrize(
    ("move", "message"),
    [
        ({"x": 101}, r"x position 101 mm is outside the safety limit \[0 mm, 100 mm\]"),
        ({"y": Q(9, "cm")}, r"y position 90 mm"),
        ({"z": 1.0}, r"below the Z floor"),
        ({"x": 5, "feed": Q(5000, "mm/min")}, r"feed rate 5000 mm/min"),
        ({"x": float("nan")}, r"x position nan mm"),
    ],
)
def test_moves_beyond_limits_are_refused_before_anything_is_sent(
    rig: Rig, move: dict[str, Any], message: str
) -> None:
    before = rig.sent()
    with pytest.raises(SafetyLimitError, match=message):
        rig.stage.move_to(**move)
    time.sleep(0.05)
    assert rig.sent() == before
    assert rig.stage.position == (0.0, 0.0, 50.0)


def test_axis_set_checks_limits_and_units_first(rig: Rig) -> None:
    before = rig.sent()
    with pytest.raises(SafetyLimitError, match="z position"):
        rig.stage.z.set(Q(-1, "mm"))
    with pytest.raises(UnitError, match="not a length"):
        rig.stage.x.set(Q(1, "s"))
    assert rig.sent() == before


def test_status_finishes_only_when_motion_ends(slow_rig: Rig) -> None:
    started = time.monotonic()
    status = slow_rig.stage.x.set(20)  # 20 mm at 600 mm/min: 2 s simulated, 0.2 s wall
    assert not status.done
    status.wait(2)
    assert time.monotonic() - started >= 0.2
    assert status.success
    assert slow_rig.stage.x.position == 20.0


def test_stop_holds_resets_and_fails_the_move(slow_rig: Rig) -> None:
    status = slow_rig.stage.move_to(x=100, feed=600)  # 1 s wall
    time.sleep(0.1)
    slow_rig.stage.stop()
    with pytest.raises(MoveStopped, match="feed hold, then reset"):
        status.wait(2)
    x = slow_rig.stage.x.position
    assert 2 < x < 60
    assert slow_rig.twin.state == "Idle"
    assert slow_rig.twin.machine_position[0] == pytest.approx(x, abs=1e-3)
    slow_rig.stage.x.set(1).wait(2)  # moves again after the stop


def test_stop_with_success_finishes_the_move_and_idle_stop_sends_nothing(slow_rig: Rig) -> None:
    status = slow_rig.stage.move_to(x=100, feed=600)
    time.sleep(0.05)
    slow_rig.stage.stop(success=True)
    status.wait(2)
    assert status.success
    before = slow_rig.sent()
    slow_rig.stage.stop()
    assert slow_rig.sent() == before


def test_an_alarm_fails_the_status_with_its_meaning(rig: Rig) -> None:
    rig.twin.inject("alarm")
    status = rig.stage.move_to(x=80, y=10)
    with pytest.raises(StageAlarm, match="alarm 1: hard limit triggered") as caught:
        status.wait(2)
    assert caught.value.code == 1
    assert rig.stage.read_configuration()["stage_state"]["value"] == "Alarm"
    rig.stage.home().wait(2)
    rig.stage.move_to(x=80, y=10).wait(2)
    assert rig.stage.position[:2] == (80.0, 10.0)


def test_a_move_beyond_the_machine_travel_raises_the_soft_limit_alarm(run_engine: Any) -> None:
    made = _rig(limits={}, start_locked=False)
    try:
        with pytest.raises(FailedStatus):
            run_engine(bps.mv(made.stage.x, 500))
        assert made.twin.state == "Alarm"
        made.stage.unlock().wait(2)
        made.stage.x.set(5).wait(2)
    finally:
        made.stage.close()
        made.twin.stop()


def test_check_config_names_every_problem() -> None:
    config = _config(
        limits={
            "x": {"low": "0 s", "high": "1 s"},
            "w": {"high": "1 mm"},
            "z_floor": {"high": "2 mm"},
            "feed": {"low": "1 mm/s"},
        },
        feed="2 V",
    )
    issues = {issue.key_path: issue.message for issue in device_issues("stage", config)}
    assert "devices.stage.options.feed" in issues
    assert "devices.stage.limits.x.low" in issues
    assert "devices.stage.limits.w" in issues
    assert "Z floor" in issues["devices.stage.limits.z_floor"]
    assert "high" in issues["devices.stage.limits.feed"]
    wrong_driver = _config().model_copy(update={"driver": "marlin"})
    assert any("driver" in i.key_path for i in device_issues("stage", wrong_driver))


def test_readbacks_update_while_moving(slow_rig: Rig) -> None:
    seen: list[float] = []
    slow_rig.stage.x.readback.subscribe(lambda value, **_: seen.append(value), run=False)
    slow_rig.stage.x.set(20).wait(2)
    assert seen[-1] == 20.0
    assert any(0.0 < value < 20.0 for value in seen)


def test_home_on_connect() -> None:
    twin = GrblTwin(GrblTwinOptions(), name="stage")
    twin.start()
    stage = build_device("stage", _config(home_on_connect=True), twin.address)
    try:
        assert twin.state == "Alarm"
        stage.connect()
        assert twin.state == "Idle"
        assert stage.position == (0.0, 0.0, 50.0)
    finally:
        stage.close()
        twin.stop()


def test_probe_lands_within_the_limits(rig: Rig) -> None:
    rig.stage.move_to(x=10, y=10, z=10).wait(2)
    before = rig.sent()
    with pytest.raises(SafetyLimitError, match="Z floor"):
        rig.stage.probe(z=0.0)
    assert rig.sent() == before
    rig.stage.probe(z=1.5, feed=Q(2, "mm/s")).wait(2)
    assert rig.stage.last_probe == pytest.approx((10.0, 10.0, 2.5))
    assert rig.stage.z.position == 2.5
    assert rig.twin.contact
