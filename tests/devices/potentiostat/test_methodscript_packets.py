"""MethodSCRIPT reply parsing: known lines, and only ProtocolError out of anything else."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.devices.potentiostat.methodscript_packets import (
    MethodScriptContext,
    decode_value,
    format_number,
    parse_error,
    parse_firmware,
    parse_packet,
    parse_reply,
)
from labctl.errors import ProtocolError
from labctl.simulators.methodscript.interpreter import encode_value
from labctl.simulators.methodscript.script import parse_number

CONTEXT = MethodScriptContext("pstat", "socket://127.0.0.1:1", "e + ca script")


def test_the_manuals_example_value() -> None:
    # MethodSCRIPT manual v1.2 §4.2: 0.01 is sent as "800000Am".
    assert decode_value("800000A", "m") == pytest.approx(0.01)
    assert decode_value("7FFFFF6", "m") == pytest.approx(-0.01)


def test_a_package_with_metadata() -> None:
    variables = parse_packet(b"Pda800000Am;ba7FFFFF6u,12,21B;eb8000064m\n", CONTEXT)
    assert [v.type for v in variables] == ["da", "ba", "eb"]
    assert variables[0].value == pytest.approx(0.01)
    assert variables[1].value == pytest.approx(-10e-6)
    assert variables[1].status == 2
    assert variables[1].overloaded
    assert variables[1].range_index == 27
    assert variables[2].value == pytest.approx(0.1)
    assert variables[0].status is None
    assert not variables[0].overloaded


def test_not_a_number_and_integer_values() -> None:
    nan, count = parse_packet("Pab     nan;ja8000005i", CONTEXT)
    assert math.isnan(nan.value)
    assert count.value == 5


@pytest.mark.parametrize(
    ("line", "kind", "code"),
    [
        (b"e\n", "accepted", None),
        (b"\n", "end", None),
        (b"M0007", "measurement_start", None),
        (b"*", "measurement_end", None),
        (b"L", "loop_start", None),
        (b"+", "loop_end", None),
        (b"C0001", "scan_start", None),
        (b"-", "scan_end", None),
        (b"Thello world", "text", None),
        (b"!000F: Line 12", "error", 0x000F),
        (b"e!4001: Line 2, Col 1", "error", 0x4001),
        (b"Z", "abort", None),
        (b"Z!0006", "abort", 6),
        (b"Pba8000000 ", "packet", None),
    ],
)
def test_reply_kinds(line: bytes, kind: str, code: int | None) -> None:
    reply = parse_reply(line, CONTEXT)
    assert reply.kind == kind
    assert reply.code == code


@pytest.mark.parametrize(
    "line",
    [
        b"Pxx",
        b"Pba800000",
        b"Pba800000Gq",
        b"PBA8000000 ",
        b"Pba8000000 ,",
        b"Pba8000000 ;",
        b"?",
        b"MXYZ",
        b"\x00\xff\xfe#!garbage\x07\r",
        b"P\x00",
        "Pba8000000µ".encode(),
    ],
)
def test_malformed_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_reply(line, CONTEXT)
    assert caught.value.device == "pstat"
    assert caught.value.address == "socket://127.0.0.1:1"
    assert caught.value.sent == "e + ca script"


def test_error_lines() -> None:
    assert parse_error("e!4001: Line 2, Col 1", CONTEXT) == (0x4001, "Line 2, Col 1")
    assert parse_error("!0010", CONTEXT) == (0x0010, "")
    with pytest.raises(ProtocolError):
        parse_error("!12", CONTEXT)


def test_firmware_reply() -> None:
    assert parse_firmware([b"tes4_hr1.4.00#twin", b"R*"], CONTEXT) == "es4_hr1.4.00#twin R"
    with pytest.raises(ProtocolError, match="not a firmware-version reply"):
        parse_firmware([b"xes4", b"R*"], CONTEXT)


@pytest.mark.parametrize(
    ("value", "literal"),
    [(0.1, "100m"), (-0.5, "-500m"), (2.5e-6, "2500n"), (1.0, "1"), (1e5, "100k"), (0.0, "0")],
)
def test_script_literals(value: float, literal: str) -> None:
    assert format_number(value) == literal


def test_unwritable_numbers() -> None:
    for value in (math.nan, math.inf, 1e-30, 1e30):
        with pytest.raises(ValueError, match=r"cannot be written|out of the range"):
            format_number(value)


# -- properties ---------------------------------------------------------------------------------


def _only_protocol_errors(data: bytes | str) -> None:
    for parse in (parse_reply, parse_packet, parse_error):
        with contextlib.suppress(ProtocolError):
            parse(data, CONTEXT)
    with contextlib.suppress(ProtocolError):
        parse_firmware([data, data], CONTEXT)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_only_protocol_errors(data: bytes) -> None:
    _only_protocol_errors(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_only_protocol_errors(data: str) -> None:
    _only_protocol_errors(data)


_PACKAGE_ALPHABET = "Pabcdem;,0123456789ABCDEFafpnumkMGTPEi !*+-LMCTZe\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_PACKAGE_ALPHABET, max_size=80))
def test_near_miss_packages_give_only_protocol_errors(data: str) -> None:
    _only_protocol_errors("P" + data)


_FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20)


@settings(max_examples=300, deadline=None)
@given(_FINITE)
def test_package_values_round_trip(value: float) -> None:
    text = "ba" + encode_value(value)
    (variable,) = parse_packet("P" + text, CONTEXT)
    assert variable.value == pytest.approx(value, rel=1e-5, abs=1e-18)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=1e-12, max_value=1e8),
        st.floats(min_value=-1e8, max_value=-1e-12),
    )
)
def test_script_literals_round_trip(value: float) -> None:
    parsed = parse_number(format_number(value))
    assert parsed is not None
    assert parsed == pytest.approx(value, rel=1e-6)
