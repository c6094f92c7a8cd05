"""The MethodSCRIPT twin on the wire: online commands, scripts, limits, streaming and abort."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig, TwinConfig
from labctl.devices.potentiostat.methodscript_packets import MethodScriptContext, parse_reply
from labctl.devices.potentiostat.methodscript_scripts import build_script
from labctl.simulators.methodscript.instrument import MethodScriptSession
from labctl.simulators.methodscript.script import ScriptError, compile_script
from labctl.simulators.methodscript.twin import MethodScriptTwin

CONTEXT = MethodScriptContext("twin", "memory://twin", "test")


def respond(spec: Mapping[str, Any], state: object, rng: np.random.Generator) -> dict[str, Any]:
    """A 10 Ω resistor at 0 V (and a pure resistor for EIS)."""
    del state, rng
    if spec["kind"] == "eis":
        frequency = np.asarray(spec["frequencies"], dtype=float)
        return {"frequency": frequency, "z_real": 10 + 0 * frequency, "z_imag": 0 * frequency}
    interval = spec.get("interval") or spec["step"] / spec["scan_rate"]
    count = max(1, round(spec.get("duration", 1.0) / interval))
    level = float(spec.get("potential", spec.get("current", 0.0)))
    column = np.full(count, level)
    if spec["kind"] == "cp":
        potential, current = column * 10, column
    else:
        potential, current = column, column / 10
    return {"time": interval * np.arange(1, count + 1), "potential": potential, "current": current}


@pytest.fixture
def twin() -> Iterator[MethodScriptTwin]:
    simulated = MethodScriptTwin(respond, lambda: None, seed=1)
    yield simulated
    simulated.stop()


def talk(session: MethodScriptSession, text: str) -> list[str]:
    out = b"".join(session.feed(text.encode("ascii")))
    return out.decode("ascii").split("\n")[:-1]


def script(*lines: str) -> str:
    return "e\n" + "\n".join(lines) + "\n\n"


def test_online_commands(twin: MethodScriptTwin) -> None:
    session = twin.session()
    assert talk(session, "t\n") == ["tes4_hr1.4.00#labctl twin", "R*"]
    assert talk(session, "i\n") == ["iES4HR-LABCTL-TWIN"]
    assert talk(session, "Z\n") == ["Z!0006"]
    assert talk(session, "\n") == []
    assert talk(session, "x\n") == ["x!0003"]


def test_a_chronoamperometry_script_streams_packages(twin: MethodScriptTwin) -> None:
    lines = talk(
        twin.session(),
        script(
            "var t",
            "var p",
            "var c",
            "set_pgstat_mode 2",
            "cell_on",
            "timer_start",
            "meas_loop_ca p c 100m 100m 300m",
            "  timer_get t",
            "  pck_start",
            "  pck_add t",
            "  pck_add p",
            "  pck_add c",
            "  pck_end",
            "endloop",
            "on_finished:",
            "  cell_off",
        ),
    )
    assert lines[0] == "e"
    assert lines[1] == "M0007"
    assert lines[-2] == "*"
    assert lines[-1] == ""
    packets = [parse_reply(line, CONTEXT) for line in lines[2:-2]]
    assert len(packets) == 3
    values = [[v.value for v in packet.variables] for packet in packets]
    np.testing.assert_allclose(values, [[0.1, 0.1, 0.01], [0.2, 0.1, 0.01], [0.3, 0.1, 0.01]])
    assert packets[0].variables[2].range_index == 24  # the 10 mA range


@pytest.mark.parametrize(
    ("lines", "reply"),
    [
        (["var p", "bogus 1"], "e!4001: Line 2, Col 1"),
        (["set_e q"], "e!4002: Line 1, Col 7"),
        (["var p", "var c", "meas_loop_ca p c 1 1"], "e!4003: Line 3, Col 1"),
        (["var p", "loop p < 1"], "e!4004: Line 2, Col 1"),
        (["endif"], "e!4004: Line 1, Col 1"),
        (["set_e 1.5"], "e!4001: Line 1, Col 7"),
    ],
)
def test_scripts_that_do_not_compile_are_refused(
    twin: MethodScriptTwin, lines: list[str], reply: str
) -> None:
    assert talk(twin.session(), script(*lines)) == [reply]


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (["set_e 7"], "!000F: Line 1"),
        (["set_i 150m"], "!0010: Line 1"),
        (["set_range ba 1"], "!0010: Line 1"),
        (
            [
                "var p",
                "var c",
                "set_pgstat_mode 6",
                "cell_on",
                "meas_loop_cp p c 200m 1 2",
                "endloop",
            ],
            "!0010: Line 5",
        ),
        (
            [
                "var f",
                "var r",
                "var j",
                "set_pgstat_mode 3",
                "cell_on",
                "meas_loop_eis f r j 10m 1M 1 3i 0",
                "endloop",
            ],
            "!0011: Line 6",
        ),
        (
            [
                "var f",
                "var r",
                "var j",
                "set_pgstat_mode 2",
                "cell_on",
                "meas_loop_eis f r j 10m 1k 1 3i 0",
                "endloop",
            ],
            "!0023: Line 6",
        ),
        (
            ["var p", "var c", "set_pgstat_mode 2", "meas_loop_ca p c 0 1 2", "endloop"],
            "!4027: Line 4",
        ),
        (
            ["var p", "set_pgstat_mode 2", "cell_on", "meas_loop_ocp p 1 2", "endloop"],
            "!0014: Line 4",
        ),
    ],
)
def test_the_instruments_limits_stop_a_script(
    twin: MethodScriptTwin, lines: list[str], code: str
) -> None:
    assert talk(twin.session(), script(*lines, "on_finished:", "cell_off")) == ["e", code, ""]


def test_every_generated_script_compiles() -> None:
    techniques: list[dict[str, Any]] = [
        {"kind": "ocv", "duration": 1.0, "interval": 0.1},
        {"kind": "ca", "potential": 0.2, "duration": 1.0, "interval": 0.1, "current_limit": 1e-3},
        {"kind": "cp", "current": 1e-3, "duration": 1.0, "interval": 0.1, "compliance_voltage": 3},
        {"kind": "lsv", "start": 0, "end": 1, "step": 0.01, "scan_rate": 0.1},
        {"kind": "cv", "start": 0, "vertex1": 1, "vertex2": -1, "step": 0.01, "scan_rate": 0.1}
        | {"cycles": 3},
        {"kind": "eis", "frequencies": [1e4, 1e3, 1e2], "amplitude": 0.01, "dc_potential": 0},
        {"kind": "pulse_train", "on_current": -1e-3, "on_time": 0.1, "off_current": 0.0}
        | {"off_time": 0.2, "cycles": 3, "interval": 0.05},
        {"kind": "plate_strip", "plate_current": -1e-3, "plate_charge": 1e-3, "rest_time": 1}
        | {"strip_current": 1e-3, "cutoff_potential": 0.5, "interval": 0.1},
    ]
    for technique in techniques:
        plan = build_script(technique, current_range=0.1, potential_window=6.0)
        program = compile_script(list(plan.lines))
        assert program.commands[-1].name == "cell_off"


def test_compile_errors_carry_line_and_column() -> None:
    with pytest.raises(ScriptError) as caught:
        compile_script(["var p", "", "# comment", "pck_add q"])
    assert caught.value.reply("e") == "e!4002: Line 4, Col 9"


def test_instrument_error_fault(twin: MethodScriptTwin) -> None:
    twin.inject("instrument_error")
    lines = ["var p", "var c", "set_pgstat_mode 2", "cell_on", "meas_loop_ca p c 0 1 2", "endloop"]
    assert talk(twin.session(), script(*lines)) == ["e", "!0001: Line 5", ""]
    recovered = talk(twin.session(), script(*lines))
    assert recovered[-2:] == ["*", ""]
    assert sum(line.startswith("P") for line in recovered) == 0  # no pck_* in this script
    assert recovered[:2] == ["e", "M0007"]


def test_check_config_reports_bad_options() -> None:
    device = DeviceConfig.model_validate(
        {"kind": "potentiostat", "driver": "methodscript", "address": "socket://127.0.0.1:1"}
    )
    twin = TwinConfig.model_validate({"kind": "methodscript", "options": {"bogus": 1}})
    issues = MethodScriptTwin.check_config("pstat", device, twin)
    assert issues
    assert issues[0].path[:4] == ("devices", "pstat", "twin", "options")


def test_streamed_run_is_paced_and_aborted_by_z() -> None:
    simulated = MethodScriptTwin(respond, lambda: None, seed=1, time_scale=10.0)
    simulated.start()
    try:
        port = int(simulated.address.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as link:
            lines = ["var p", "var c", "set_pgstat_mode 2", "cell_on"]
            lines += [
                "meas_loop_ca p c 0 100m 100",
                "pck_start",
                "pck_add p",
                "pck_end",
                "endloop",
            ]
            link.sendall(script(*lines, "on_finished:", "cell_off").encode())
            time.sleep(0.25)
            link.sendall(b"Z\n")
            received = b""
            deadline = time.monotonic() + 2
            while not received.endswith(b"*\n\n") and time.monotonic() < deadline:
                received += link.recv(65536)
        text = received.decode().split("\n")
        assert text[:2] == ["e", "M0007"]
        assert "Z" in text
        assert text[-3:] == ["*", "", ""]
        packets = [line for line in text if line.startswith("P")]
        assert 10 <= len(packets) < 100  # 1000 points at 0.1 s each (100 s) were asked for
    finally:
        simulated.stop()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_random_input_never_breaks_the_session(chunks: list[bytes]) -> None:
    simulated = MethodScriptTwin(respond, lambda: None, seed=1)
    session = simulated.session()
    for chunk in chunks:
        for reply in session.feed(chunk):
            assert isinstance(reply, bytes)
    assert talk(session, "\n\nt\n")[-2:] == ["tes4_hr1.4.00#labctl twin", "R*"]


def test_from_config_answers_for_the_worlds_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.errors import ConfigError
    from labctl.simulators.methodscript import twin as twin_module
    from labctl.simulators.world import World

    asked: list[str] = []

    def cell_state(world: World, name: str) -> str:
        asked.append(name)
        return name

    monkeypatch.setattr(twin_module, "cell_state", cell_state)
    monkeypatch.setattr(twin_module, "respond", respond)
    world = World(seed=1)
    world.cell("cell-1")
    device = DeviceConfig.model_validate(
        {"kind": "potentiostat", "driver": "methodscript", "address": "socket://127.0.0.1:1"}
    )
    config = TwinConfig.model_validate({"kind": "methodscript", "options": {"cell": "cell-1"}})
    simulated = MethodScriptTwin.from_config(
        "pstat", device, config, seed=1, time_scale=0.0, world=world
    )
    lines = ["var p", "set_pgstat_mode 2", "meas_loop_ocp p 1 2", "endloop"]
    assert talk(simulated.session(), script(*lines))[:2] == ["e", "M000B"]
    assert asked == ["cell-1"]
    new = TwinConfig.model_validate({"kind": "methodscript", "options": {"cell": "fresh"}})
    MethodScriptTwin.from_config("pstat", device, new, seed=1, time_scale=0.0, world=world)
    assert "fresh" in world.cells  # created empty (dry) for the robot to fill
    wrong = TwinConfig.model_validate({"kind": "methodscript", "options": {"cel": "x"}})
    with pytest.raises(ConfigError, match="cel"):
        MethodScriptTwin.from_config("pstat", device, wrong, seed=1, time_scale=0.0, world=world)


def test_chaos_faults_include_the_instrument_error(twin: MethodScriptTwin) -> None:
    assert twin.chaos_faults() == {"drop", "silence", "garbage", "instrument_error"}
    end = twin.begin_fault("instrument_error")
    assert twin.instrument.pending_error
    end()
    assert not twin.instrument.pending_error
    assert twin.output_on is False
