"""The GRBL twin on the wire: real-time bytes, line replies, alarms, timing, world contact.

Expected behaviour from GRBL's documentation (gnea/grbl doc/markdown/interface.md and
commands.md): ``ok``/``error:N`` per line, ``?``/``!``/``~``/Ctrl-X as real-time bytes, critical
alarms that accept nothing but a reset, the Alarm lock refusing G-code with ``error:9``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig, TwinConfig
from labctl.errors import ConfigError
from labctl.simulators.grbl.session import GrblSession
from labctl.simulators.grbl.stage_world import contact, stage_state, stages
from labctl.simulators.grbl.twin import GrblTwin, GrblTwinOptions
from labctl.simulators.world import World


def _talk(session: GrblSession, data: bytes) -> list[str]:
    text = b"".join(session.feed(data)).decode("ascii")
    assert text == "" or text.endswith("\r\n")
    return text.split("\r\n")[:-1]


def _unlocked(**options: Any) -> tuple[GrblTwin, GrblSession]:
    twin = GrblTwin(GrblTwinOptions(start_locked=False, **options))
    return twin, twin.session()


def test_status_reports_follow_the_documented_shape() -> None:
    twin, session = _unlocked()
    assert _talk(session, b"?") == ["<Idle|MPos:0.000,0.000,50.000|FS:0,0|WCO:0.000,0.000,0.000>"]
    assert _talk(session, b"?") == ["<Idle|MPos:0.000,0.000,50.000|FS:0,0>"]
    twin = GrblTwin(GrblTwinOptions(report="wpos", work_offset=(1, 2, 3)))
    assert _talk(twin.session(), b"?")[0].startswith("<Alarm|WPos:-1.000,-2.000,47.000|")


def test_reset_prints_the_welcome_message_and_the_unlock_hint() -> None:
    twin = GrblTwin()
    session = twin.session()
    assert _talk(session, b"\x18") == [
        "",
        "Grbl 1.1h ['$' for help]",
        "[MSG:'$H'|'$X' to unlock]",
    ]
    assert _talk(session, b"G0 X1\n") == ["error:9"]
    assert _talk(session, b"$X\n") == ["[MSG:Caution: Unlocked]", "ok"]
    assert _talk(session, b"\x18") == ["", "Grbl 1.1h ['$' for help]"]


def test_system_commands() -> None:
    _, session = _unlocked()
    assert _talk(session, b"$\n")[-1] == "ok"
    assert _talk(session, b"$I\n") == [
        "[VER:1.1h.20190830:labctl GRBL twin]",
        "[OPT:V,15,128]",
        "ok",
    ]
    assert _talk(session, b"$G\n") == ["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]
    settings_lines = _talk(session, b"$$\n")
    assert "$20=1" in settings_lines
    assert "$130=150.000" in settings_lines
    assert _talk(session, b"$Q\n") == ["error:3"]
    assert _talk(session, b"\n") == ["ok"]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"X\n", 2),
        (b"10\n", 1),
        (b"G1 X1\n", 22),
        (b"G0 G1 X1\n", 21),
        (b"G0 X1 X2\n", 25),
        (b"G2 X1\n", 20),
        (b"M3\n", 20),
        (b"G4\n", 28),
        (b"G0 X1 P1\n", 36),
        (b"G1 X1 F-5\n", 4),
        (b"Q1\n", 20),
        (b"G0 X" + b"1" * 90 + b"\n", 11),
    ],
)
def test_g_code_errors_use_grbls_codes(line: bytes, code: int) -> None:
    _, session = _unlocked()
    assert _talk(session, line) == [f"error:{code}"]


def test_comments_case_inches_and_incremental_moves() -> None:
    twin, session = _unlocked()
    assert _talk(session, b"g21 g90 (go) g0 x10 y10 ; comment\r") == ["ok"]
    assert twin.machine_position == (10.0, 10.0, 50.0)
    assert _talk(session, b"G20 G91 G1 X1 F10\n") == ["ok"]
    assert twin.machine_position == pytest.approx((35.4, 10.0, 50.0))
    assert _talk(session, b"G21 G90 G53 Y5\n") == ["ok"]
    assert twin.machine_position == pytest.approx((35.4, 5.0, 50.0))


def test_soft_limit_is_critical_until_reset() -> None:
    twin, session = _unlocked()
    assert _talk(session, b"G0 X500\n") == ["ALARM:2", "[MSG:Reset to continue]"]
    assert _talk(session, b"?") == []  # not answered after a critical alarm
    assert _talk(session, b"$X\n") == []
    reset = _talk(session, b"\x18")
    assert reset[-1] == "[MSG:'$H'|'$X' to unlock]"
    assert _talk(session, b"?")[0].startswith("<Alarm|MPos:0.000,0.000,50.000")
    assert twin.state == "Alarm"


def test_hard_limit_trips_during_the_move() -> None:
    twin = GrblTwin(GrblTwinOptions(soft_limits=False, start_locked=False), time_scale=100.0)
    session = twin.session()
    assert _talk(session, b"G1 X160 F6000\n") == ["ok"]  # 160 mm at 6 m/min: 1.6 s → 16 ms
    time.sleep(0.03)
    assert _talk(session, b"?") == ["ALARM:1", "[MSG:Reset to continue]"]
    assert twin.machine_position[0] == pytest.approx(150.0)


def test_motion_timing_hold_resume_and_reset() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False), time_scale=10.0)
    session = twin.session()
    _talk(session, b"G1 X100 F600\n")  # 10 s simulated = 1 s wall
    report = _talk(session, b"?")[0]
    assert report.startswith("<Run|")
    assert "FS:600,0" in report
    time.sleep(0.05)
    _talk(session, b"!")
    held = twin.machine_position[0]
    assert 2.0 < held < 90.0
    assert _talk(session, b"?")[0].startswith("<Hold:0|")
    time.sleep(0.05)
    assert twin.machine_position[0] == held
    _talk(session, b"~")
    time.sleep(0.02)
    assert twin.machine_position[0] > held
    twin.time_scale = 0.0  # the rest of the move at once
    assert twin.state == "Idle"
    assert twin.machine_position[0] == 100.0
    twin.time_scale = 10.0
    _talk(session, b"G1 X20 F600\n")
    assert _talk(session, b"\x18")[:2] == ["ALARM:3", ""]  # reset while moving
    assert twin.state == "Alarm"


def test_max_rate_caps_the_feed_and_rapids() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False, max_rate={"z": 100.0}), time_scale=1.0)
    session = twin.session()
    _talk(session, b"G0 Z40\n")
    assert "FS:100,0" in _talk(session, b"?")[0]


def test_homing_takes_its_time_and_dwell_waits_for_motion() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False, homing_rate=6000), time_scale=100.0)
    session = twin.session()
    _talk(session, b"G0 X100\n")
    started = time.monotonic()
    assert _talk(session, b"G4 P0.5\n") == ["ok"]
    assert time.monotonic() - started >= 0.005
    assert twin.machine_position[0] == 100.0
    started = time.monotonic()
    assert _talk(session, b"$H\n") == ["ok"]  # 100 mm at 6000 mm/min = 1 s → 10 ms
    assert time.monotonic() - started >= 0.009
    assert twin.machine_position == (0.0, 0.0, 50.0)
    assert _talk(
        GrblTwin(GrblTwinOptions(homing=False, soft_limits=False)).session(), b"$H\n"
    ) == ["error:5"]


def test_contact_with_the_substrate_is_in_the_world() -> None:
    world = World(seed=1)
    world.substrates["wafer"] = {"surface_z": 3.0}
    device = DeviceConfig.model_validate(
        {"kind": "stage", "driver": "grbl", "twin": {"kind": "grbl"}}
    )
    twin_config = TwinConfig(
        kind="grbl", options={"substrate": "wafer", "droplet_height": 0.5, "start_locked": False}
    )
    twin = GrblTwin.from_config("stage", device, twin_config, seed=0, time_scale=0.0, world=world)
    session = twin.session()
    state = stage_state(world, "stage")
    assert stages(world) == {"stage": state}
    assert state.substrate == "wafer"
    assert state.contact_z == 3.5
    _talk(session, b"G0 X12 Y7 Z3.6\n")
    assert not contact(world, "stage")
    assert state.work_position == (12.0, 7.0, 3.6)
    _talk(session, b"G1 Z3.5 F60\n")
    assert contact(world, "stage")
    assert twin.contact
    assert "|Pn:P" in _talk(session, b"?")[0]
    twin.inject("contact_loss")
    assert not contact(world, "stage")
    twin.inject(None)
    assert contact(world, "stage")
    assert not contact(world, "no-such-stage")


def test_world_contact_follows_motion_in_progress() -> None:
    world = World()
    twin = GrblTwin(
        GrblTwinOptions(start_locked=False, surface_z=0.0),
        time_scale=10.0,
        stage=stage_state(world, "stage"),
    )
    _talk(twin.session(), b"G1 Z0.2 F1200\n")  # 49.8 mm at 20 mm/s = 2.5 s → 0.25 s
    assert not contact(world, "stage")
    time.sleep(0.3)
    assert contact(world, "stage")  # nobody polled the twin: the world query brings it up to date


def test_options_are_checked() -> None:
    device = DeviceConfig.model_validate(
        {"kind": "stage", "driver": "grbl", "twin": {"kind": "grbl"}}
    )
    bad = TwinConfig(kind="grbl", options={"travel": {"x": [5, 1], "w": [0, 1]}, "colour": 1})
    paths = {issue.key_path for issue in GrblTwin.check_config("stage", device, bad)}
    assert "devices.stage.twin.options.colour" in paths
    with pytest.raises(ConfigError, match="low"):
        GrblTwin.from_config(
            "stage",
            device,
            TwinConfig(kind="grbl", options={"travel": {"x": [5, 1]}}),
            seed=0,
            time_scale=0,
        )
    with pytest.raises(ValueError, match="soft limits need homing"):
        GrblTwinOptions(homing=False)


def test_faults_on_offer() -> None:
    twin = GrblTwin()
    assert twin.chaos_faults() == {"drop", "silence", "garbage", "alarm", "contact_loss"}
    end = twin.begin_fault("alarm")
    assert twin.machine.pending_alarm == 1
    end()
    assert twin.machine.pending_alarm is None


def test_served_on_loopback_and_stopped() -> None:
    import socket

    with GrblTwin() as twin:
        assert twin.address.startswith("socket://127.0.0.1:")
        port = int(twin.address.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"?")
            assert connection.recv(100).startswith(b"<Alarm|MPos:")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_break_the_twin(data: bytes) -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False))
    session = twin.session()
    for chunk in session.feed(data):
        chunk.decode("ascii")
    reply = b"".join(session.feed(b"\x18?"))
    assert b"Grbl 1.1h" in reply
    assert b"<" in reply


def test_probing_stops_where_the_droplet_touches() -> None:
    twin, session = _unlocked(surface_z=2.0, droplet_height=0.5)
    _talk(session, b"G0 X10 Y10 Z10\n")
    assert _talk(session, b"G38.2 Z0 F100\n") == ["[PRB:10.000,10.000,2.500:1]", "ok"]
    assert twin.contact
    assert twin.state == "Idle"
    assert _talk(session, b"G38.2 Z0 F100\n") == ["ALARM:4", "ok"]  # already touching
    assert twin.state == "Alarm"
    _talk(session, b"$X\nG0 Z10\n")
    assert _talk(session, b"G38.3 X20 F100\n") == ["[PRB:20.000,10.000,10.000:0]", "ok"]
    assert twin.state == "Idle"
    assert _talk(session, b"G38.2 X30 F100\n") == ["ALARM:5", "[PRB:30.000,10.000,10.000:0]", "ok"]
    assert twin.state == "Alarm"
    _talk(session, b"$X\n")
    assert _talk(session, b"G38.2 F100\n") == ["error:26"]
    assert _talk(session, b"G38.2 Z-100 F100\n") == ["ALARM:2", "[MSG:Reset to continue]"]


def test_probing_takes_its_time() -> None:
    twin = GrblTwin(GrblTwinOptions(start_locked=False, surface_z=5.0), time_scale=100.0)
    session = twin.session()
    started = time.monotonic()
    assert _talk(session, b"G38.2 Z1 F600\n")[-1] == "ok"  # 44.5 mm at 10 mm/s = 4.45 s → 45 ms
    assert time.monotonic() - started >= 0.04
    assert twin.work_position[2] == pytest.approx(5.5)
