"""The SCPI source-measure-unit twin, in memory (no sockets)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.config import DeviceConfig, TwinConfig
from labctl.errors import ConfigError
from labctl.simulators.scpi_smu.instrument import (
    IDENTITY,
    ScpiSmuSession,
    SmuInstrument,
)
from labctl.simulators.scpi_smu.twin import ScpiSmuTwin
from labctl.testing.cells import OhmicCell


def ask(session: ScpiSmuSession, line: str) -> list[str]:
    return [reply.decode().rstrip("\n") for reply in session.feed(line.encode() + b"\n")]


@pytest.fixture
def session() -> ScpiSmuSession:
    return ScpiSmuSession(
        SmuInstrument(OhmicCell(resistance=100.0, plated_charge=1.0, noise=0.0), seed=1)
    )


def test_identity_and_empty_error_queue(session: ScpiSmuSession) -> None:
    assert ask(session, "*IDN?") == [IDENTITY]
    assert ask(session, "SYST:ERR?") == ['0,"No error"']


def test_unknown_header_is_minus_113(session: ScpiSmuSession) -> None:
    assert ask(session, "SOUR:BOGUS 1") == []
    assert ask(session, "SYSTem:ERRor:NEXT?") == ['-113,"Undefined header"']
    assert ask(session, "SYST:ERR?") == ['0,"No error"']


def test_out_of_range_levels_and_limits_are_minus_222(session: ScpiSmuSession) -> None:
    ask(session, "SOUR:CURR 1.2")
    ask(session, "SOUR:VOLT -22")
    ask(session, "SOUR:CURR:VLIM 30")
    assert ask(session, "SYST:ERR?;SYST:ERR?;SYST:ERR?") == ['-222,"Data out of range"'] * 3
    ask(session, ":SOURce1:CURRent:LEVel 1.0E-3")
    assert ask(session, "SOUR:CURR?") == ["1.000000E-03"]
    assert ask(session, "SYST:ERR?") == ['0,"No error"']


def test_list_sweep_fills_the_buffer(session: ScpiSmuSession) -> None:
    for line in (
        "SOUR:FUNC CURR",
        "SOUR:CURR:VLIM 5",
        'SENS:FUNC "VOLT"',
        "SOUR:LIST:CURR 1e-3,2e-3",
        "SOUR:LIST:CURR:APP -1e-3",
        'SOUR:SWE:CURR:LIST 1, 0.5, 1, OFF, "defbuffer1"',
        "INIT",
        "*WAI",
    ):
        assert ask(session, line) == []
    assert ask(session, "SYST:ERR?") == ['0,"No error"']
    assert ask(session, "TRIG:STAT?") == ["IDLE;IDLE;1"]
    assert ask(session, 'TRAC:ACT? "defbuffer1"') == ["3"]
    (reply,) = ask(session, 'TRAC:DATA? 1, 3, "defbuffer1", READ, SOUR, REL')
    values = np.array([float(v) for v in reply.split(",")]).reshape(3, 3)
    np.testing.assert_allclose(values[:, 0], [0.1, 0.2, -0.1])  # 100 ohm
    np.testing.assert_allclose(values[:, 1], [1e-3, 2e-3, -1e-3])
    np.testing.assert_allclose(values[:, 2], [0.5, 1.0, 1.5])
    assert ask(session, "OUTP?") == ["1"]
    ask(session, "OUTP OFF")
    assert ask(session, "OUTP?") == ["0"]


def test_compliance_clamps_the_measured_voltage(session: ScpiSmuSession) -> None:
    for line in (
        "SOUR:FUNC CURR",
        "SOUR:CURR:VLIM 1",
        "SOUR:LIST:CURR 0.5",  # 50 V across 100 ohm: far beyond the 1 V limit
        "SOUR:SWE:CURR:LIST 1, 0.1",
        "INIT",
    ):
        ask(session, line)
    assert ask(session, "SYST:ERR?") == ['0,"No error"']
    (reply,) = ask(session, 'TRAC:DATA? 1, 1, "defbuffer1", READ')
    assert float(reply) == pytest.approx(1.0)


def test_sweep_of_the_wrong_function_is_a_settings_conflict(session: ScpiSmuSession) -> None:
    ask(session, "SOUR:FUNC VOLT")
    ask(session, "SOUR:LIST:CURR 1e-3")
    ask(session, "SOUR:SWE:CURR:LIST 1, 0.1")
    assert ask(session, "SYST:ERR?") == ['-221,"Settings conflict"']
    ask(session, "INIT")
    assert ask(session, "SYST:ERR?")[0].startswith("-221,")


def test_instrument_error_fault_hits_the_next_configuration_command(
    session: ScpiSmuSession,
) -> None:
    session.instrument.inject_error()
    assert ask(session, "*IDN?") == [IDENTITY]  # queries still answer
    ask(session, "SOUR:FUNC CURR")
    assert ask(session, "SYST:ERR?") == ['-300,"Device-specific error"']
    assert ask(session, "SOUR:FUNC?") == ["VOLT"]


def test_framing_survives_split_writes_and_bad_bytes(session: ScpiSmuSession) -> None:
    assert list(session.feed(b"*ID")) == []
    assert list(session.feed(b"N?\r\n")) == [IDENTITY.encode() + b"\n"]
    assert list(session.feed(b"\xff\xfe\n")) == []
    assert ask(session, "SYST:ERR?") == ['-101,"Invalid character"']


def test_time_scale_makes_the_sweep_take_wall_time() -> None:
    session = ScpiSmuSession(SmuInstrument(OhmicCell(), seed=0, time_scale=1.0))
    for line in ("SOUR:FUNC CURR", "SOUR:LIST:CURR 0,0,0,0", "SOUR:SWE:CURR:LIST 1, 0.1"):
        ask(session, line)
    started = time.monotonic()
    ask(session, "INIT")  # 0.4 simulated s = 0.4 wall s
    if time.monotonic() - started < 0.3:
        assert ask(session, "TRIG:STAT?") == ["RUNNING;RUNNING;1"]
    time.sleep(0.5)
    assert ask(session, "TRIG:STAT?") == ["IDLE;IDLE;1"]
    assert ask(session, "TRAC:ACT?") == ["4"]


def test_abort_keeps_the_readings_taken_so_far() -> None:
    session = ScpiSmuSession(SmuInstrument(OhmicCell(), seed=0, time_scale=1.0))
    ask(session, "SOUR:FUNC CURR")
    ask(session, "SOUR:LIST:CURR " + ",".join(["0"] * 100))
    ask(session, "SOUR:SWE:CURR:LIST 1, 1")
    ask(session, "INIT")
    ask(session, "ABOR")
    assert ask(session, "TRIG:STAT?") == ["IDLE;IDLE;1"]
    assert int(ask(session, "TRAC:ACT?")[0]) < 100


def test_from_config_wires_the_world_cell_and_checks_options() -> None:
    from labctl.simulators.world import World

    device = DeviceConfig.model_validate(
        {"kind": "potentiostat", "driver": "scpi", "address": "TCPIP::127.0.0.1::0::SOCKET"}
    )
    twin = TwinConfig.model_validate({"kind": "scpi-smu", "options": {"cell": "flow-cell"}})
    world = World(seed=1)
    built = ScpiSmuTwin.from_config("smu", device, twin, seed=3, time_scale=0.0, world=world)
    assert isinstance(built, ScpiSmuTwin)
    assert "flow-cell" in world.cells
    assert ScpiSmuTwin.check_config("smu", device, twin) == []
    bad = TwinConfig.model_validate({"kind": "scpi-smu", "options": {"resistance": 5.0}})
    assert ScpiSmuTwin.check_config("smu", device, bad)
    with pytest.raises(ConfigError, match="resistance"):
        ScpiSmuTwin.from_config("smu", device, bad, seed=3, time_scale=0.0)


def test_a_dry_world_cell_is_an_open_circuit() -> None:
    from labctl.simulators.world import World

    world = World(seed=1)
    device = DeviceConfig.model_validate(
        {"kind": "potentiostat", "driver": "scpi", "address": "TCPIP::127.0.0.1::0::SOCKET"}
    )
    twin = TwinConfig.model_validate({"kind": "scpi-smu", "options": {"cell": "dry"}})
    built = ScpiSmuTwin.from_config("smu", device, twin, seed=3, time_scale=0.0, world=world)
    session = ScpiSmuSession(built.instrument)
    for line in ("SOUR:FUNC VOLT", "SOUR:LIST:VOLT 1,1,1", "SOUR:SWE:VOLT:LIST 1, 0.1", "INIT"):
        ask(session, line)
    readings = [
        float(v) for v in ask(session, 'TRAC:DATA? 1, 3, "defbuffer1", READ')[0].split(",")
    ]
    assert max(abs(value) for value in readings) < 1e-9  # 1 V across ~1e12 ohm


def pending(twin: ScpiSmuTwin) -> tuple[int, str] | None:
    return twin.instrument.pending_error


def test_the_twin_serves_visa_sockets_and_offers_its_faults() -> None:
    from labctl.simulators.twin import Twin

    twin = ScpiSmuTwin(seed=0)
    assert isinstance(twin, Twin)
    address = twin.start()
    try:
        assert address == f"TCPIP::127.0.0.1::{twin.server.port}::SOCKET"
        assert twin.chaos_faults() == {"drop", "silence", "garbage", "instrument_error"}
        end = twin.begin_fault("instrument_error")
        assert pending(twin) is not None
        end()
        assert pending(twin) is None
        end = twin.begin_fault("silence")
        assert twin.server.fault == "silence"
        end()
        assert twin.server.fault is None
    finally:
        twin.stop()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_random_bytes_never_break_the_session(chunks: list[bytes]) -> None:
    session = ScpiSmuSession(SmuInstrument(OhmicCell(), seed=0))
    for chunk in chunks:
        for reply in session.feed(chunk):
            assert reply.endswith(b"\n")
    assert list(session.feed(b"\n*IDN?\n"))[-1] == IDENTITY.encode() + b"\n"


_WORDS = st.sampled_from(
    [
        "SOUR",
        "FUNC",
        "CURR",
        "VOLT",
        "LIST",
        "SWE",
        "APP",
        "VLIM",
        "ILIM",
        "SENS",
        "TRAC",
        "DATA",
        "ACT",
        "CLE",
        "INIT",
        "ABOR",
        "OUTP",
        "TRIG",
        "STAT",
        "SYST",
        "ERR",
        "*IDN",
        "*RST",
    ]
)
_ARGS = st.lists(
    st.one_of(
        st.sampled_from(["1", "0", "-1", "1e6", "0.5", "ON", '"defbuffer1"', "READ", "REL", ""]),
        st.floats(allow_nan=True).map(str),
    ),
    max_size=4,
).map(", ".join)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(_WORDS, min_size=1, max_size=4), st.booleans(), _ARGS), max_size=12
    )
)
def test_random_commands_only_fill_the_error_queue(
    commands: list[tuple[list[str], bool, str]],
) -> None:
    session = ScpiSmuSession(SmuInstrument(OhmicCell(), seed=0))
    for words, query, argument in commands:
        line = ":".join(words) + ("?" if query else "") + " " + argument
        for reply in session.feed(line.encode() + b"\n"):
            assert reply.endswith(b"\n")
    (reply,) = session.feed(b"SYST:ERR?\n")
    assert re.fullmatch(rb'-?\d+,"[^"]*"\n', reply)
