"""MT-SICS reply parsing and the balance's named errors (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.devices.dispensing.balance_protocol import (
    BalanceError,
    BalanceLogicalError,
    BalanceNotExecutableError,
    BalanceOverloadError,
    BalanceSyntaxError,
    BalanceTransmissionError,
    BalanceUnderloadError,
    balance_error,
    parse_reply,
)
from labctl.errors import ProtocolError

WHERE = {"device": "balance", "address": "socket://127.0.0.1:1"}


def test_stable_and_dynamic_weights() -> None:
    stable = parse_reply(b"S S     12.3456 g\r\n", **WHERE)
    assert (stable.command, stable.status, stable.stable) == ("S", "S", True)
    assert stable.weight is not None
    assert stable.weight.to("kg").magnitude == pytest.approx(0.0123456)
    dynamic = parse_reply(b"S D     -0.0012 g", **WHERE)
    assert not dynamic.stable
    assert dynamic.weight is not None
    assert dynamic.weight.to("mg").magnitude == pytest.approx(-1.2)
    in_mg = parse_reply(b"S S   1234.5 mg", **WHERE)
    assert in_mg.weight is not None
    assert in_mg.weight.to("g").magnitude == pytest.approx(1.2345)


def test_tare_zero_and_identity_replies() -> None:
    tare = parse_reply(b"T S     12.0000 g", **WHERE)
    assert tare.command == "T"
    assert tare.weight is not None
    assert parse_reply(b"Z A", **WHERE).status == "A"
    identity = parse_reply(b'I4 A "B123456789"', **WHERE)
    assert identity.texts == ("B123456789",)
    level = parse_reply(b'I1 A "01" "2.20" "2.20" "" ""', **WHERE)
    assert level.texts == ("01", "2.20", "2.20", "", "")


@pytest.mark.parametrize(
    ("line", "cls"),
    [
        (b"ES", BalanceSyntaxError),
        (b"ET", BalanceTransmissionError),
        (b"EL", BalanceLogicalError),
        (b"S I", BalanceNotExecutableError),
        (b"S +", BalanceOverloadError),
        (b"S -", BalanceUnderloadError),
        (b"Z I", BalanceNotExecutableError),
        (b"Z +", BalanceOverloadError),
        (b"T -", BalanceUnderloadError),
        (b"I4 I", BalanceNotExecutableError),
        (b"S L", BalanceLogicalError),
    ],
)
def test_each_refusal_is_its_named_error(line: bytes, cls: type[BalanceError]) -> None:
    reply = parse_reply(line, **WHERE)
    assert reply.is_error
    error = balance_error(reply, "balance", "COM4", sent=b"S\r\n")
    assert type(error) is cls
    assert isinstance(error, ProtocolError)
    assert "COM4" in str(error)
    assert "S\\r\\n" in str(error)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "not an MT-SICS reply"),
        (b"S S 12.3 %", "not a mass unit"),
        (b"S S abc g", "not an MT-SICS reply"),
        (b"S X 12 g", "not an MT-SICS reply"),
        (b"I4 A B123", "quoted"),
        (b"S I extra", "carries no fields"),
        (b"S S 12\x07 g", "control characters"),
        (b"\xff\xfe", "not ASCII"),
        (b"S" * 2000, "MT-SICS replies are short"),
    ],
)
def test_malformed_replies_are_protocol_errors(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_reply(line, **WHERE)
    assert not isinstance(caught.value, BalanceError)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_random_bytes_give_a_reply_or_a_protocol_error(raw: bytes) -> None:
    try:
        reply = parse_reply(raw, **WHERE)
    except ProtocolError:
        return
    if reply.weight is not None:
        assert reply.weight.dimensionality == reply.weight.to("kg").dimensionality


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list('SDIAZT+-ESLG 0123456789."g')), max_size=40))
def test_reply_shaped_text_gives_a_reply_or_a_protocol_error(text: str) -> None:
    try:
        parse_reply(text.encode(), **WHERE)
    except ProtocolError:
        return


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from(["S", "D"]))
def test_formatted_weights_parse_back(value: float, status: str) -> None:
    reply = parse_reply(f"S {status} {value:>10.4f} g\r\n".encode(), **WHERE)
    assert reply.weight is not None
    assert reply.weight.to("g").magnitude == pytest.approx(round(value, 4), abs=1e-9)
    assert reply.stable is (status == "S")
