"""The Cavro DT protocol: command frames, answer blocks, error codes → named errors (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.devices.dispensing.pump_protocol import (
    PUMP_ERRORS,
    CommandOverflowError,
    InvalidCommandError,
    InvalidOperandError,
    PlungerMoveNotAllowedError,
    PlungerOverloadError,
    PumpError,
    PumpInitializationError,
    PumpNotInitializedError,
    UnknownPumpError,
    ValveOverloadError,
    address_character,
    command_frame,
    full_stroke,
    parse_reply,
    pump_error,
)
from labctl.errors import ProtocolError

WHERE = {"device": "pump", "address": "socket://127.0.0.1:1 (pump 1)"}


def test_command_frames_follow_the_dt_block() -> None:
    assert command_frame(1, "Z") == b"/1ZR\r"
    assert command_frame(2, "I3P1500") == b"/2I3P1500R\r"
    assert command_frame(15, "Q", execute=False) == b"/?Q\r"
    assert command_frame(10, "?6", execute=False) == b"/:?6\r"


@pytest.mark.parametrize("address", [0, 16, -1])
def test_addresses_outside_1_to_15_are_refused(address: int) -> None:
    with pytest.raises(ValueError, match="1…15"):
        address_character(address)


def test_strokes() -> None:
    assert full_stroke("standard") == 3000
    assert full_stroke("fine") == 24000


def test_a_ready_answer_with_data() -> None:
    reply = parse_reply(b"/0`1500\x03\r", **WHERE)
    assert (reply.ready, reply.error, reply.data) == (True, 0, "1500")


def test_a_busy_answer_and_an_error_code() -> None:
    busy = parse_reply(b"/0@\x03\r", **WHERE)
    assert (busy.ready, busy.error, busy.data) == (False, 0, "")
    overloaded = parse_reply(b"/0i\x03", **WHERE)  # 0x69: ready, error 9
    assert (overloaded.ready, overloaded.error) == (True, 9)


def test_leading_line_noise_is_tolerated_but_not_text() -> None:
    assert parse_reply(b"\x00\xff/0`\x03\r", **WHERE).ready
    with pytest.raises(ProtocolError, match="before the answer block"):
        parse_reply(b"junk/0`\x03\r", **WHERE)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "no answer block start"),
        (b"/0`1500\r", "ETX"),
        (b"/0\x03", "status byte"),
        (b"/0\xe0\x03", "not of the form"),
        (b"/0p\x03", "not of the form"),  # bit 4 set
        (b"/0`\x07\x03", "non-printable"),
        (b"/0`" + b"1" * 5000 + b"\x03", "far longer"),
    ],
)
def test_malformed_answers_are_protocol_errors(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_reply(raw, sent=b"/1Q\r", **WHERE)
    assert caught.value.sent == b"/1Q\r"
    assert not isinstance(caught.value, PumpError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, PumpInitializationError),
        (2, InvalidCommandError),
        (3, InvalidOperandError),
        (7, PumpNotInitializedError),
        (9, PlungerOverloadError),
        (10, ValveOverloadError),
        (11, PlungerMoveNotAllowedError),
        (15, CommandOverflowError),
        (8, UnknownPumpError),
    ],
)
def test_each_error_code_has_its_named_error(code: int, cls: type[PumpError]) -> None:
    reply = parse_reply(b"/0" + bytes([0x60 | code]) + b"\x03\r", **WHERE)
    error = pump_error(
        reply.error, "pump", "COM3 (pump 1)", sent=b"/1A9000R\r", received=reply.raw
    )
    assert type(error) is cls
    assert isinstance(error, ProtocolError)
    assert error.error_code == code
    assert f"pump error {code}" in str(error)
    assert "COM3 (pump 1)" in str(error)
    assert "A9000" in str(error)


def test_fatal_errors_say_to_initialise_again() -> None:
    fatal = {code for code, cls in PUMP_ERRORS.items() if cls.fatal}
    assert fatal == {1, 9, 10}
    assert "initialise again" in str(pump_error(9, "pump", "COM3"))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_random_bytes_give_a_reply_or_a_protocol_error(raw: bytes) -> None:
    try:
        reply = parse_reply(raw, **WHERE)
    except ProtocolError:
        return
    assert 0 <= reply.error <= 15
    assert reply.data.isprintable() or reply.data == ""


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.integers(0, 1),
    st.integers(0, 15),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
def test_every_well_formed_answer_parses_back(ready: int, error: int, data: str) -> None:
    status = 0x40 | (0x20 * ready) | error
    reply = parse_reply(b"/0" + bytes([status]) + data.encode() + b"\x03\r", **WHERE)
    assert (reply.ready, reply.error, reply.data) == (bool(ready), error, data)
