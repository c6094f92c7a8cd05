"""GRBL v1.1 messages: status reports, responses, push messages, move lines; fuzzed parsers.

Message shapes from GRBL's interface documentation (gnea/grbl doc/markdown/interface.md,
"Real-time Status Reports", "Message Summary") and its code tables (doc/csv/*_codes_en_US.csv).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.devices.stage.grbl_protocol import (
    ALARM_CODES,
    ERROR_CODES,
    Alarm,
    Banner,
    ErrorReply,
    Message,
    Ok,
    StatusReport,
    format_move,
    parse_probe,
    parse_reply,
    parse_status,
)
from labctl.errors import ProtocolError


def test_the_documented_status_report_parses() -> None:
    report = parse_status(b"<Idle|MPos:0.000,0.000,0.000|FS:0.0,0>\r")
    assert report == StatusReport("Idle", machine_position=(0.0, 0.0, 0.0), feed=0.0)


def test_work_position_with_offset_gives_machine_position() -> None:
    report = parse_status("<Run|WPos:-2.500,0.000,11.000|FS:500,8000|WCO:0.000,1.551,5.664>")
    assert report.state == "Run"
    assert report.feed == 500
    machine, work = report.positions((9.0, 9.0, 9.0))
    assert work == (-2.5, 0.0, 11.0)
    assert machine == pytest.approx((-2.5, 1.551, 16.664))


def test_machine_position_uses_the_last_offset_when_the_report_has_none() -> None:
    report = parse_status("<Idle|MPos:10.000,5.000,3.000|F:0>")
    machine, work = report.positions((1.0, 2.0, 3.0))
    assert machine == (10.0, 5.0, 3.0)
    assert work == (9.0, 3.0, 0.0)


def test_substates_pins_and_unknown_fields() -> None:
    report = parse_status("<Hold:1|MPos:1,2,3|Bf:15,128|Ln:99|Ov:100,100,100|A:SFM|Pn:PZ>")
    assert report.state == "Hold"
    assert report.substate == 1
    assert report.pins == frozenset({"P", "Z"})
    assert report.feed is None
    assert parse_status("<Alarm|MPos:1,2,3,4|FS:0,0>").machine_position == (1, 2, 3)


@pytest.mark.parametrize(
    "line",
    [
        "<Idle|MPos:0,0,0",  # unterminated
        "<Walk|MPos:0,0,0>",  # unknown state
        "<Idle|FS:0,0>",  # no position
        "<Idle|MPos:0,0,0|WPos:0,0,0>",  # both positions
        "<Idle|MPos:0,0>",  # two axes
        "<Idle|MPos:0,x,0>",  # not a number
        "<Idle|MPos:0,0,0|MPos:1,1,1>",  # repeated field
        "<Idle|MPos:nan,0,0>",  # not finite
        "<Idle|MPos:0,0,0|Pn:Q>",  # unknown pin
        "<Idle:x|MPos:0,0,0>",  # malformed substate
        "<Idle|MPos0,0,0>",  # no colon
    ],
)
def test_malformed_status_reports_are_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError, match=r"status|position|state|number|pin|code|field"):
        parse_status(line)


def test_responses_and_push_messages() -> None:
    assert parse_reply(b"ok\r") == Ok()
    error = parse_reply(b"error:9")
    assert error == ErrorReply(9)
    assert isinstance(error, ErrorReply)
    assert error.meaning == "G-code locked out during alarm or jog state"
    alarm = parse_reply("ALARM:2")
    assert isinstance(alarm, Alarm)
    assert alarm.critical
    assert "soft limit" in alarm.meaning
    assert not Alarm(3).critical
    assert parse_reply("Grbl 1.1h ['$' for help]") == Banner("1.1h")
    assert parse_reply(b"\r") == Message("")  # the empty line before the welcome message
    for text in ("[MSG:Reset to continue]", "[VER:1.1h.20190825:]", "$10=255", ">G54G20:ok"):
        assert parse_reply(text) == Message(text)
    assert isinstance(parse_reply("<Idle|MPos:0,0,0>"), StatusReport)


def test_code_tables_cover_grbl_v1_1() -> None:
    assert set(ALARM_CODES) == set(range(1, 11))
    assert set(ERROR_CODES) == set(range(1, 18)) | set(range(20, 39))
    assert "unknown" in ErrorReply(99).meaning
    assert "unknown" in Alarm(42).meaning


@pytest.mark.parametrize(
    "line", [b"okay", b"error:", b"error:x", b"ALARM:-1", b"[", b"\xff\xfe", b"Grbl 1.1h"]
)
def test_unrecognised_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"GRBL|reply|code"):
        parse_reply(line)


def test_protocol_errors_name_device_address_and_command() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_reply(b"\x00junk", ("stage", "socket://127.0.0.1:1", b"?"))
    message = str(caught.value)
    assert "stage at socket://127.0.0.1:1" in message
    assert "sent b'?'" in message


def test_move_lines() -> None:
    assert format_move((10, None, 2.5), 600) == b"G90 G21 G1 X10.000 Z2.500 F600.0\n"
    assert format_move((None, -1.23456, None), 50.0, mode="G0") == b"G90 G21 G0 Y-1.235\n"
    with pytest.raises(ValueError, match="at least one axis"):
        format_move((None, None, None), 100)
    with pytest.raises(ValueError, match="finite"):
        format_move((float("inf"), None, None), 100)
    with pytest.raises(ValueError, match="feed"):
        format_move((1, 2, 3), 0)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_give_only_protocol_errors(data: bytes) -> None:
    for parser in (parse_reply, parse_status):
        with contextlib.suppress(ProtocolError):
            parser(data)


_FIELD = st.sampled_from(["MPos", "WPos", "WCO", "FS", "F", "Pn", "Bf", "Ov", "A", "Ln", ""])
_VALUE = st.text(alphabet="0123456789.,-+:PXYZ|e", max_size=24)


@settings(max_examples=400, deadline=None)
@given(
    state=st.sampled_from(["Idle", "Run", "Hold:0", "Alarm", "Door:2", "Jog", "Home", "X"]),
    fields=st.lists(st.tuples(_FIELD, _VALUE), max_size=5),
)
def test_status_like_lines_give_reports_or_protocol_errors(
    state: str, fields: list[tuple[str, str]]
) -> None:
    line = "<" + "|".join([state, *(f"{name}:{value}" for name, value in fields)]) + ">"
    try:
        report = parse_status(line)
    except ProtocolError:
        return
    assert (report.machine_position is None) != (report.work_position is None)


@settings(max_examples=200, deadline=None)
@given(
    position=st.tuples(*[st.floats(-1e4, 1e4, allow_nan=False)] * 3),
    offset=st.tuples(*[st.floats(-1e3, 1e3, allow_nan=False)] * 3),
)
def test_reported_positions_round_trip(
    position: tuple[float, float, float], offset: tuple[float, float, float]
) -> None:
    text = ",".join(f"{value:.3f}" for value in position)
    wco = ",".join(f"{value:.3f}" for value in offset)
    report = parse_status(f"<Idle|WPos:{text}|WCO:{wco}>")
    machine, work = report.positions((0.0, 0.0, 0.0))
    assert work == pytest.approx(position, abs=1e-3)
    expected = tuple(a + b for a, b in zip(work, offset, strict=True))
    assert machine == pytest.approx(expected, abs=2e-3)


def test_probe_reports() -> None:
    assert parse_probe("[PRB:1.000,2.000,-3.500:1]") == ((1.0, 2.0, -3.5), True)
    assert parse_probe("[PRB:0,0,0:0]") == ((0.0, 0.0, 0.0), False)
    for bad in ("[PRB:0,0,0]", "[PRB:0,0:1]", "PRB:0,0,0:1", "[PRB:0,0,0:2]"):
        with pytest.raises(ProtocolError, match=r"probe|position"):
            parse_probe(bad)
    assert format_move((None, None, 0.0), 60, mode="G38.2") == b"G90 G21 G38.2 Z0.000 F60.0\n"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_probe_reports_give_only_protocol_errors(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_probe("[PRB:" + text)
