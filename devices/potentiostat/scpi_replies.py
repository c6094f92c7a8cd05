"""Pure parsers of the replies a SCPI source-measure unit (Keithley 2450 class) sends.

Every function takes the raw reply (``bytes`` or ``str``, line terminator optional) and either
returns Python values or raises :class:`~labctl.errors.ProtocolError` naming the device, its
address, the command that was sent and the reply received. Nothing else comes out of them, for
any input (a property-based test feeds them random bytes).

Reply forms handled:

* a number in SCPI ``<NR1>/<NR2>/<NR3>`` form (``1``, ``-0.5``, ``+1.0000E-03``); the 2450 also
  answers ``9.9E37`` for an overflowed reading, which is returned as a number;
* a comma list of numbers (``TRAC:DATA?`` readings, source values, relative times);
* an error-queue entry ``<code>,"<message>"`` (``0,"No error"``, ``-113,"Undefined header"``);
* a plain token (``RUNNING``, ``IDLE``) and the ``*IDN?`` identity (four comma fields).
"""

from __future__ import annotations

import math
import re

from labctl.errors import ProtocolError

__all__ = [
    "ScpiContext",
    "parse_error_entry",
    "parse_identity",
    "parse_int",
    "parse_number",
    "parse_numbers",
    "parse_token",
    "reply_text",
]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_ERROR = re.compile(r'([+-]?\d{1,6}),"([^"\x00-\x1f]*)"')
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MAX_REPLY = 50_000_000


class ScpiContext:
    """Who was asked what: the data every :class:`ProtocolError` from these parsers carries.

    Args:
        device: the device's name.
        address: the VISA resource.
        sent: the command whose reply is parsed.
    """

    __slots__ = ("address", "device", "sent")

    def __init__(self, device: str, address: str, sent: str) -> None:
        self.device = device
        self.address = address
        self.sent = sent

    def error(self, detail: str, expected: str, received: object) -> ProtocolError:
        """A :class:`ProtocolError` about ``received``."""
        shown = received
        if isinstance(received, bytes) and len(received) > 200:
            shown = received[:200] + b"..."
        elif isinstance(received, str) and len(received) > 200:
            shown = received[:200] + "..."
        return ProtocolError(
            self.device, self.address, detail, sent=self.sent, expected=expected, received=shown
        )


def reply_text(reply: bytes | str, context: ScpiContext, expected: str) -> str:
    """The reply as printable ASCII text without its line terminator."""
    if isinstance(reply, bytes):
        if len(reply) > _MAX_REPLY:
            raise context.error("the reply is implausibly long", expected, reply)
        try:
            text = reply.decode("ascii")
        except UnicodeDecodeError:
            raise context.error("the reply is not ASCII text", expected, reply) from None
    else:
        text = reply
    text = text.rstrip("\r\n")
    if not text or not text.isprintable() or not text.isascii():
        raise context.error("the reply is empty or holds control characters", expected, reply)
    return text.strip()


def parse_number(reply: bytes | str, context: ScpiContext) -> float:
    """One number."""
    expected = "a number"
    text = reply_text(reply, context, expected)
    if not _NUMBER.fullmatch(text):
        raise context.error("the reply is not a number", expected, reply)
    value = float(text)
    if not math.isfinite(value):
        raise context.error("the reply is not a finite number", expected, reply)
    return value


def parse_int(reply: bytes | str, context: ScpiContext) -> int:
    """One whole number (a count, a state ``0``/``1``)."""
    value = parse_number(reply, context)
    if value != int(value) or abs(value) > 2**53:
        raise context.error("the reply is not a whole number", "a whole number", reply)
    return int(value)


def parse_numbers(
    reply: bytes | str, context: ScpiContext, *, count: int | None = None
) -> list[float]:
    """A comma list of numbers; with ``count``, exactly that many."""
    expected = "a comma list of numbers" if count is None else f"{count} comma-separated numbers"
    text = reply_text(reply, context, expected)
    fields = [field.strip() for field in text.split(",")]
    values: list[float] = []
    for field in fields:
        if not _NUMBER.fullmatch(field):
            raise context.error(f"field {field[:40]!r} is not a number", expected, reply)
        value = float(field)
        if not math.isfinite(value):
            raise context.error(f"field {field[:40]!r} is not finite", expected, reply)
        values.append(value)
    if count is not None and len(values) != count:
        raise context.error(f"the reply holds {len(values)} numbers", expected, reply)
    return values


def parse_error_entry(reply: bytes | str, context: ScpiContext) -> tuple[int, str]:
    """An error-queue entry ``<code>,"<message>"`` → ``(code, message)``; code 0 = no error."""
    expected = 'an error-queue entry <code>,"<message>"'
    text = reply_text(reply, context, expected)
    match = _ERROR.fullmatch(text)
    if match is None:
        raise context.error("the reply is not an error-queue entry", expected, reply)
    return int(match.group(1)), match.group(2)


def parse_token(reply: bytes | str, context: ScpiContext, allowed: frozenset[str]) -> str:
    """One word out of ``allowed`` (compared in upper case); a trailing ``;...`` is ignored."""
    expected = "one of " + ", ".join(sorted(allowed))
    text = reply_text(reply, context, expected).split(";", 1)[0].strip().upper()
    if not _TOKEN.fullmatch(text) or text not in allowed:
        raise context.error("unexpected reply", expected, reply)
    return text


def parse_identity(reply: bytes | str, context: ScpiContext) -> str:
    """The ``*IDN?`` reply (manufacturer, model, serial, firmware) as one cleaned string."""
    expected = "manufacturer,model,serial,firmware"
    text = reply_text(reply, context, expected)
    fields = [field.strip() for field in text.split(",")]
    if len(fields) != 4 or not fields[0] or not fields[1]:
        raise context.error("the identity does not have four fields", expected, reply)
    return ",".join(fields)
