"""Mettler-Toledo MT-SICS (levels 0 and 1) replies: pure parsers and the balance's named errors.

Nothing here does I/O. Commands are ASCII lines ended by CR LF; every reply is one line ended by
CR LF (MT-SICS reference manual 11780711, §2.1 "Command formats", §2.1.2 "Response formats",
§2.1.3 "Error messages"; the same forms are in the New Classic / Excellence balance manuals'
MT-SICS chapters). Commands used and their replies:

* ``S`` — stable weight: ``S S <value> <unit>``; ``S I`` not executable (busy, or no stable
  weight within the balance's own time limit); ``S +`` overload; ``S -`` underload;
* ``SI`` — weight at once: ``S S …`` (stable) or ``S D …`` (dynamic, i.e. not stable), or
  ``S I`` / ``S +`` / ``S -``;
* ``Z`` — zero (waits for stability): ``Z A``; ``Z I``; ``Z +`` / ``Z -`` (the zeroing range
  exceeded upwards / downwards);
* ``T`` — tare (waits for stability): ``T S <tare value> <unit>``; ``T I``; ``T +`` / ``T -``;
* ``I4`` — serial number: ``I4 A "<SNR>"``; ``I1`` — level and versions:
  ``I1 A "<level>" "<V0>" "<V1>" …``;
* ``@`` — reset (cancel everything, clear the tare): answered like ``I4``.

General errors, any command: ``ES`` syntax error (not a command), ``ET`` transmission error
(parity, break), ``EL`` logical error (understood but cannot be executed, e.g. a bad parameter).
The weight value is right-aligned in a 10-character field, followed by a space and the unit.

Each refusal raises its own :class:`BalanceError` subclass (all are
:class:`~labctl.errors.ProtocolError`); bytes that are not an MT-SICS reply raise
:class:`~labctl.errors.ProtocolError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from labctl.errors import ProtocolError
from labctl.units import Quantity, ureg

__all__ = [
    "UNITS",
    "BalanceError",
    "BalanceLogicalError",
    "BalanceNotExecutableError",
    "BalanceOverloadError",
    "BalanceSyntaxError",
    "BalanceTransmissionError",
    "BalanceUnderloadError",
    "SicsReply",
    "balance_error",
    "parse_reply",
]

UNITS: dict[str, str] = {
    "g": "g",
    "mg": "mg",
    "kg": "kg",
    "ug": "ug",
    "ct": "carat",
    "lb": "lb",
    "oz": "oz",
    "ozt": "troy_ounce",
    "GN": "grain",
    "dwt": "pennyweight",
}
"""MT-SICS unit symbols → pint units (mass units only; ``%`` and piece counts are refused)."""

_MAX_REPLY = 1000
_WEIGHT = re.compile(r"^([A-Z][A-Z0-9]*) ([SD]) +([+-]?\s*\d+(?:\.\d*)?|[+-]?\.\d+) +(\S+)$")
_STATUS = re.compile(r"^([A-Z][A-Z0-9]*) ([AIL+\-])(?: (.*))?$")
_TEXT = re.compile(r'"([^"]*)"')


class BalanceError(ProtocolError):
    """The balance refused or could not carry out a command (an MT-SICS error reply).

    Args:
        device: the device's name.
        address: where the balance is.
        sent: the command.
        received: the reply line.
    """

    reply_code: ClassVar[str] = ""
    meaning: ClassVar[str] = "the balance refused the command"

    def __init__(
        self, device: str, address: str, *, sent: object = None, received: object = None
    ) -> None:
        super().__init__(
            device,
            address,
            self.meaning,
            sent=sent,
            expected="a successful MT-SICS reply",
            received=received,
        )


class BalanceSyntaxError(BalanceError):
    """``ES``: the balance did not recognise the command."""

    reply_code = "ES"
    meaning = "syntax error (ES): the balance does not know the command"


class BalanceTransmissionError(BalanceError):
    """``ET``: the balance received a faulty command (parity error, break)."""

    reply_code = "ET"
    meaning = "transmission error (ET): check baud rate, parity and cable"


class BalanceLogicalError(BalanceError):
    """``EL``: understood but cannot be executed (e.g. an invalid parameter)."""

    reply_code = "EL"
    meaning = "logical error (EL): the command cannot be executed"


class BalanceNotExecutableError(BalanceError):
    """``<cmd> I``: busy, or no stable weight within the balance's time limit."""

    reply_code = "I"
    meaning = (
        "command not executable (I): the balance is busy or the weight did not become stable "
        "within its time limit (draught, vibration, a moving sample)"
    )


class BalanceOverloadError(BalanceError):
    """``<cmd> +``: overload (weighing or zeroing/taring range exceeded upwards)."""

    reply_code = "+"
    meaning = "overload (+): the load exceeds the balance's range"


class BalanceUnderloadError(BalanceError):
    """``<cmd> -``: underload (e.g. the weighing pan is not in place)."""

    reply_code = "-"
    meaning = "underload (-): is the weighing pan in place?"


_ERRORS: dict[str, type[BalanceError]] = {
    cls.reply_code: cls
    for cls in (
        BalanceSyntaxError,
        BalanceTransmissionError,
        BalanceLogicalError,
        BalanceNotExecutableError,
        BalanceOverloadError,
        BalanceUnderloadError,
    )
}


@dataclass(frozen=True)
class SicsReply:
    """One parsed MT-SICS reply line.

    Args:
        command: the command the reply answers (``S``, ``Z``, ``T``, ``I4``); ``""`` for a
            general error.
        status: ``S`` stable, ``D`` dynamic, ``A`` done, ``I``/``L``/``+``/``-`` refusals, or the
            general error code (``ES``, ``ET``, ``EL``).
        weight: the weight value with its unit (weight replies only).
        texts: the quoted fields (``I4 A "B123"`` → ``("B123",)``).
        raw: the line as received.
    """

    command: str
    status: str
    weight: Quantity | None
    texts: tuple[str, ...]
    raw: bytes

    @property
    def is_error(self) -> bool:
        """Whether the reply is a refusal or a general error."""
        return self.status not in ("S", "D", "A")

    @property
    def stable(self) -> bool:
        """Whether a weight reply is stable (``S``), not dynamic (``D``)."""
        return self.status == "S"


def balance_error(
    reply: SicsReply, device: str, address: str, *, sent: object = None
) -> BalanceError:
    """The named error for a refusal or general-error reply."""
    cls = _ERRORS.get(reply.status, BalanceLogicalError)
    return cls(device, address, sent=sent, received=reply.raw)


def parse_reply(raw: bytes, *, device: str, address: str, sent: object = None) -> SicsReply:
    """Parse one reply line (its CR LF optional).

    Raises:
        ProtocolError: not an MT-SICS reply (or a weight in a unit that is not a mass).
    """

    def bad(detail: str) -> ProtocolError:
        shown = raw if len(raw) <= 200 else raw[:200] + b"..."
        return ProtocolError(
            device,
            address,
            detail,
            sent=sent,
            expected="an MT-SICS reply such as 'S S     12.3456 g'",
            received=shown,
        )

    if len(raw) > _MAX_REPLY:
        raise bad(f"a reply of {len(raw)} bytes; MT-SICS replies are short lines")
    try:
        text = raw.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise bad("the reply is not ASCII") from None
    if any(ord(char) < 0x20 for char in text):
        raise bad("the reply holds control characters")
    if text in ("ES", "ET", "EL"):
        return SicsReply("", text, None, (), raw)
    match = _WEIGHT.match(text)
    if match is not None:
        command, status, number, unit = match.groups()
        if unit not in UNITS:
            raise bad(f"unit {unit!r} is not a mass unit labctl knows ({sorted(UNITS)})")
        value = float(number.replace(" ", ""))
        if not math.isfinite(value):
            raise bad("the weight is not a finite number")
        return SicsReply(command, status, ureg.Quantity(value, UNITS[unit]), (), raw)
    match = _STATUS.match(text)
    if match is not None:
        command, status, rest = match.groups()
        texts = tuple(_TEXT.findall(rest or ""))
        if rest and status == "A" and not texts:
            raise bad("the fields of an 'A' reply are quoted texts")
        if rest and status != "A":
            raise bad(f"a '{status}' reply carries no fields")
        return SicsReply(command, status, None, texts, raw)
    raise bad("not an MT-SICS reply")
