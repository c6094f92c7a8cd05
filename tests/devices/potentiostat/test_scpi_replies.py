"""The SCPI reply parsers: exact forms, and only ProtocolError out of random bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.devices.potentiostat.scpi_replies import (
    ScpiContext,
    parse_error_entry,
    parse_identity,
    parse_int,
    parse_number,
    parse_numbers,
    parse_token,
)
from labctl.errors import ProtocolError

CONTEXT = ScpiContext("smu", "TCPIP::127.0.0.1::5025::SOCKET", "TRAC:DATA? 1, 2")
TOKENS = frozenset({"RUNNING", "IDLE"})


def test_numbers() -> None:
    assert parse_number(b"+1.000000E-03\n", CONTEXT) == 1e-3
    assert parse_number("9.9E37", CONTEXT) == 9.9e37
    assert parse_int(b"42\n", CONTEXT) == 42
    assert parse_numbers(b"1,-2.5E-1, 3\n", CONTEXT, count=3) == [1.0, -0.25, 3.0]


def test_error_entries_and_tokens() -> None:
    assert parse_error_entry(b'0,"No error"\n', CONTEXT) == (0, "No error")
    assert parse_error_entry(b'-222,"Data out of range"', CONTEXT) == (-222, "Data out of range")
    assert parse_token(b"IDLE;IDLE\n", CONTEXT, TOKENS) == "IDLE"
    assert parse_identity(b"KEITHLEY INSTRUMENTS,MODEL 2450,0123,1.7\n", CONTEXT).startswith(
        "KEITHLEY"
    )


@pytest.mark.parametrize(
    ("parser", "reply"),
    [
        (parse_number, b"nan"),
        (parse_number, b"1e999"),
        (parse_number, b"\x00\xff"),
        (parse_int, b"1.5"),
        (parse_numbers, b"1,,2"),
        (parse_error_entry, b"-113,Undefined header"),
        (parse_identity, b"KEITHLEY"),
        (parse_number, b""),
    ],
)
def test_malformed_replies_name_device_address_and_command(parser: object, reply: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        parser(reply, CONTEXT)  # type: ignore[operator]
    assert caught.value.device == "smu"
    assert caught.value.sent == "TRAC:DATA? 1, 2"
    assert "TCPIP::127.0.0.1::5025::SOCKET" in str(caught.value)


def test_wrong_count_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="holds 2 numbers"):
        parse_numbers(b"1,2", CONTEXT, count=3)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_random_input_gives_values_or_protocol_errors(reply: bytes | str) -> None:
    for parse in (parse_number, parse_int, parse_numbers, parse_error_entry, parse_identity):
        with contextlib.suppress(ProtocolError):
            parse(reply, CONTEXT)
    with contextlib.suppress(ProtocolError):
        parse_token(reply, CONTEXT, TOKENS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1))
def test_number_lists_round_trip(values: list[float]) -> None:
    text = ",".join(f"{value:.9E}" for value in values)
    assert parse_numbers(text, CONTEXT, count=len(values)) == pytest.approx(values, rel=1e-8)
