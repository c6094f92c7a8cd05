"""Pure parsers of what a PalmSens MethodSCRIPT instrument (EmStat4, EmStat Pico) sends back.

Every function takes one received line (``bytes`` or ``str``, line terminator optional) and
either returns Python values or raises :class:`~labctl.errors.ProtocolError` naming the device,
its address, what was sent and the line received. Nothing else comes out of them, for any input
(a property-based test feeds them random bytes).

Sources: the MethodSCRIPT manual (v1.2 "Measurement data package variables"; v1.8 online at
dev.palmsens.com/methodscript) and PalmSens' own example parsers in the public
``PalmSens/MethodSCRIPT_Examples`` repository (``palmsens/mscript.py``, ``palmsens/instrument.py``
and ``src/palmsens/mscript.h`` of the C example), read for the formats below; no code was taken.

Reply lines, identified by their first character (C example ``mscript.h``, ``MSCRIPT_REPLY_ID_*``)
---------------------------------------------------------------------------------------------
* ``e`` the script was received and starts; ``e!XXXX...`` it was refused (``XXXX`` = hex code);
* ``P`` a data package (below); ``T`` text from ``send_string``;
* ``L``/``+`` start/end of a ``loop``; ``M<4 hex>``/``*`` start/end of a measurement loop
  (``meas_loop_*``); ``C<4 hex>``/``-`` start/end of one scan of a multi-scan CV;
* ``!XXXX[: ...]`` an error during execution; ``Z`` acknowledges an abort (``Z!0006``: nothing
  was running, ``instrument.py``'s ``abort_and_sync``);
* an empty line: the script has finished (after ``on_finished:`` ran).

Data packages (manual §4.2 "Measurement data package variables"; ``mscript.py``)
-------------------------------------------------------------------------------
``P`` followed by variables separated by ``;``. Each variable is a two-letter type (``da``
applied potential, ``ab`` measured WE potential, ``ba`` WE current, ``eb`` time, ``dc`` applied
frequency, ``cc``/``cd`` real/imaginary impedance, ...; :data:`VARIABLE_TYPES`), seven hex digits
holding the value plus ``0x8000000`` (28 bits: the manual's example encodes 0.01 as ``800000Am``),
and one SI prefix character (``a f p n u m`` space ``k M G T P E``, or ``i`` for an integer).
The eight characters of value and prefix read ``     nan`` for a value that is not a number.
Optional metadata follow, each after a ``,``: ``1X`` = status bits (1 timing error, 2 overload,
4 underload, 8 overload warning), ``2XX`` = the current (or potential) range index.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from labctl.errors import ProtocolError

__all__ = [
    "SI_PREFIXES",
    "STATUS_FLAGS",
    "VALUE_OFFSET",
    "VARIABLE_TYPES",
    "MethodScriptContext",
    "Reply",
    "ReplyKind",
    "Variable",
    "decode_value",
    "format_number",
    "parse_error",
    "parse_firmware",
    "parse_packet",
    "parse_reply",
    "reply_text",
]

VALUE_OFFSET = 0x8000000
"""Added to every packet value before it is written as seven hex digits (2**27)."""

SI_PREFIXES: dict[str, float] = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    " ": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "i": 1.0,
}
"""Packet SI prefix character → factor (``i``: an integer, ``' '``: no prefix)."""

VARIABLE_TYPES: dict[str, tuple[str, str]] = {
    "aa": ("unknown", ""),
    "ab": ("WE potential vs RE", "V"),
    "ac": ("CE potential vs GND", "V"),
    "ad": ("SE potential vs GND", "V"),
    "ae": ("RE potential vs GND", "V"),
    "af": ("WE potential vs GND", "V"),
    "ag": ("WE potential vs CE", "V"),
    "ba": ("WE current", "A"),
    "ca": ("phase", "degree"),
    "cb": ("impedance modulus", "ohm"),
    "cc": ("impedance, real part", "ohm"),
    "cd": ("impedance, imaginary part", "ohm"),
    "ce": ("EIS potential, time domain", "V"),
    "cf": ("EIS current, time domain", "A"),
    "cg": ("EIS sampling frequency", "Hz"),
    "ch": ("EIS AC potential", "V"),
    "ci": ("EIS DC potential", "V"),
    "cj": ("EIS AC current", "A"),
    "ck": ("EIS DC current", "A"),
    "da": ("applied potential", "V"),
    "db": ("applied current", "A"),
    "dc": ("applied frequency", "Hz"),
    "dd": ("applied AC amplitude", "V"),
    "ea": ("channel", ""),
    "eb": ("time", "s"),
    "ec": ("pin mask", ""),
    "ed": ("temperature", "degC"),
    "ha": ("generic current 1", "A"),
    "ia": ("generic potential 1", "V"),
    "ja": ("generic value 1", ""),
}
"""Two-letter variable types of a data package → (meaning, SI unit). Unknown types still parse."""

STATUS_FLAGS = {1: "timing error", 2: "overload", 4: "underload", 8: "overload warning"}
"""Bits of the ``1X`` status metadata."""

ReplyKind = Literal[
    "accepted",
    "packet",
    "text",
    "loop_start",
    "loop_end",
    "measurement_start",
    "measurement_end",
    "scan_start",
    "scan_end",
    "error",
    "abort",
    "end",
]

_VARIABLE = re.compile(
    r"([a-z]{2})(?:([0-9A-Fa-f]{7})([afpnum kMGTPEi])|     nan)((?:,[0-9A-Fa-f]+)*)"
)
_ERROR = re.compile(r"([A-Za-z]?)!([0-9A-Fa-f]{4})(?:[:,]? ?([ -~]*))?")
_MARKER = re.compile(r"([MC])([0-9A-Fa-f]{4})")
_MAX_LINE = 100_000
_MAX_VARIABLES = 64


class MethodScriptContext:
    """Who was asked what: the data every :class:`ProtocolError` from these parsers carries.

    Args:
        device: the device's name.
        address: the instrument's address (a pyserial URL or port).
        sent: what was sent (a command or the first line of a script).
    """

    __slots__ = ("address", "device", "sent")

    def __init__(self, device: str, address: str, sent: str) -> None:
        self.device = device
        self.address = address
        self.sent = sent

    def error(self, detail: str, expected: str, received: object) -> ProtocolError:
        """A :class:`ProtocolError` about ``received``."""
        shown = received
        if isinstance(received, (bytes, str)) and len(received) > 200:
            shown = received[:200] + (b"..." if isinstance(received, bytes) else "...")  # type: ignore[operator]
        return ProtocolError(
            self.device, self.address, detail, sent=self.sent, expected=expected, received=shown
        )


@dataclass(frozen=True)
class Variable:
    """One variable of a data package.

    Attributes:
        type: the two-letter variable type (``ba`` = WE current, ...).
        value: the value in SI units (``nan`` when the instrument sent none).
        status: the ``1X`` status bits, if sent.
        range_index: the ``2XX`` range index, if sent.
    """

    type: str
    value: float
    status: int | None = None
    range_index: int | None = None

    @property
    def overloaded(self) -> bool:
        """Whether the instrument flagged an overload for this value."""
        return bool(self.status is not None and self.status & 2)


@dataclass(frozen=True)
class Reply:
    """One classified reply line.

    Attributes:
        kind: what the line is (see the module docstring).
        text: the line without its terminator.
        variables: the variables of a data package (empty otherwise).
        code: the error code of an ``error`` line (or of a refused abort ``Z!XXXX``).
    """

    kind: ReplyKind
    text: str
    variables: tuple[Variable, ...] = ()
    code: int | None = None


def reply_text(line: bytes | str, context: MethodScriptContext, expected: str) -> str:
    """The line as printable ASCII without its terminator (an empty string is allowed)."""
    if isinstance(line, bytes):
        if len(line) > _MAX_LINE:
            raise context.error("the line is implausibly long", expected, line)
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise context.error("the line is not ASCII text", expected, line) from None
    else:
        if len(line) > _MAX_LINE:
            raise context.error("the line is implausibly long", expected, line)
        text = line
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.isascii() or not text.isprintable():
        raise context.error("the line holds control characters", expected, line)
    return text


def decode_value(digits: str, prefix: str) -> float:
    """Seven hex digits and an SI prefix character → the value in SI units.

    Raises:
        ValueError: not seven hex digits, or an unknown prefix.
    """
    if len(digits) != 7 or prefix not in SI_PREFIXES:
        raise ValueError(f"not a packet value: {digits!r}{prefix!r}")
    return (int(digits, 16) - VALUE_OFFSET) * SI_PREFIXES[prefix]


def _variable(field: str, context: MethodScriptContext, line: object) -> Variable:
    expected = "a variable: 2-letter type, 7 hex digits, an SI prefix, optional ,metadata"
    match = _VARIABLE.fullmatch(field)
    if match is None:
        raise context.error(f"package variable {field[:40]!r} is malformed", expected, line)
    vartype, digits, prefix, metadata = match.groups()
    value = math.nan if digits is None else decode_value(digits, prefix)
    status: int | None = None
    range_index: int | None = None
    for token in metadata.split(",")[1:]:
        if token[0] == "1" and len(token) == 2:
            status = int(token[1], 16)
        elif token[0] == "2" and len(token) == 3:
            range_index = int(token[1:], 16)
        # other metadata kinds (newer firmware) carry nothing this driver uses
    return Variable(vartype, value, status, range_index)


def parse_packet(line: bytes | str, context: MethodScriptContext) -> tuple[Variable, ...]:
    """A data package ``P<var>;<var>;...`` → its variables, in order."""
    expected = "a data package P<type><7 hex><prefix>[;...]"
    text = reply_text(line, context, expected)
    if not text.startswith("P") or len(text) < 2:
        raise context.error("the line is not a data package", expected, line)
    fields = text[1:].split(";")
    if len(fields) > _MAX_VARIABLES:
        raise context.error("the data package holds too many variables", expected, line)
    return tuple(_variable(field, context, line) for field in fields)


def parse_error(line: bytes | str, context: MethodScriptContext) -> tuple[int, str]:
    """An error line ``[c]!XXXX[: detail]`` → (code, detail)."""
    expected = "an error line !XXXX"
    text = reply_text(line, context, expected)
    match = _ERROR.fullmatch(text)
    if match is None:
        raise context.error("the line is not an error line", expected, line)
    return int(match.group(2), 16), (match.group(3) or "").strip()


def parse_reply(line: bytes | str, context: MethodScriptContext) -> Reply:
    """Classify one line the instrument sent while it executes a script."""
    expected = "a MethodSCRIPT reply (P..., e, M/*, L/+, C/-, T..., !XXXX, Z or an empty line)"
    text = reply_text(line, context, expected)
    if not text:
        return Reply("end", text)
    first = text[0]
    if first == "P":
        return Reply("packet", text, parse_packet(text, context))
    if "!" in text[:2]:
        code, _ = parse_error(text, context)
        return Reply("abort" if first == "Z" else "error", text, code=code)
    if text == "e":
        return Reply("accepted", text)
    if text == "Z":
        return Reply("abort", text)
    if first == "T":
        return Reply("text", text)
    simple: dict[str, ReplyKind] = {
        "L": "loop_start",
        "+": "loop_end",
        "*": "measurement_end",
        "-": "scan_end",
    }
    if text in simple:
        return Reply(simple[text], text)
    match = _MARKER.fullmatch(text)
    if match is not None:
        return Reply("measurement_start" if match.group(1) == "M" else "scan_start", text)
    raise context.error("unexpected line", expected, line)


def parse_firmware(lines: list[bytes | str], context: MethodScriptContext) -> str:
    """The reply to ``t`` (firmware version): a line starting ``t``, the last ending in ``*``.

    Returns the version text without the ``t``, the ``*`` and line breaks (``es4_hr1100#...``).
    """
    expected = "t<firmware version> ... ending in *"
    texts = [reply_text(line, context, expected) for line in lines]
    if not texts or not texts[0].startswith("t") or not texts[-1].endswith("*"):
        raise context.error("not a firmware-version reply", expected, "\n".join(texts))
    version = " ".join(texts)[1:-1].strip()
    if not version:
        raise context.error("the firmware version is empty", expected, "\n".join(texts))
    return version


_SCRIPT_PREFIXES = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("u", 1e-6))
_FINE_PREFIXES = (("n", 1e-9), ("p", 1e-12), ("f", 1e-15))
_MAX_MANTISSA = 10**9


def format_number(value: float) -> str:
    """A number as a MethodSCRIPT literal: a whole number with an SI prefix (``100m``, ``-5u``).

    The coarsest prefix that represents ``value`` exactly is used; otherwise the finest prefix
    whose mantissa stays below 10⁹ (about nine significant digits).

    Raises:
        ValueError: ``value`` is not finite, or too large or small for the prefixes.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written in a script")
    if value == 0:
        return "0"
    prefixes = _SCRIPT_PREFIXES + _FINE_PREFIXES
    for symbol, factor in prefixes:
        mantissa = value / factor
        whole = round(mantissa)
        if (
            abs(whole) < _MAX_MANTISSA
            and whole != 0
            and abs(mantissa - whole) <= 1e-9 * abs(whole)
        ):
            return f"{whole}{symbol}"
    for symbol, factor in reversed(prefixes):
        whole = round(value / factor)
        if abs(whole) < _MAX_MANTISSA:
            if whole == 0:
                break
            return f"{whole}{symbol}"
    raise ValueError(f"{value} is out of the range a script literal can hold")
