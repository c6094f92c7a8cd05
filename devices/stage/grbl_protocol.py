r"""The GRBL v1.1 serial interface: what the controller sends, what it means, what to send it.

Pure functions and constants, no I/O; :mod:`labctl.devices.stage.grbl` uses them to drive a
controller. Facts from GRBL's own documentation (``gnea/grbl``, ``doc/markdown/interface.md``,
``doc/markdown/commands.md``, ``doc/csv/alarm_codes_en_US.csv``,
``doc/csv/error_codes_en_US.csv``):

* Lines to GRBL end with a return (``\n`` or ``\r``); every line gets exactly one **response
  message**, ``ok`` or ``error:N`` (interface.md, "Grbl Response Messages"). An empty line is
  answered ``ok`` (useful to synchronise).
* **Push messages** may arrive at any time and are not responses: status reports ``<...>``, the
  welcome message ``Grbl 1.1h ['$' for help]`` (after power-up and every reset, preceded by an
  empty line — ``report_init_message`` in ``grbl/report.c``), ``ALARM:N``,
  settings ``$N=value``, feedback ``[MSG:...]``/``[GC:...]``/``[VER:...]``..., and startup-line
  echoes ``>G54:ok`` (interface.md, "Message Summary", "Grbl Push Messages").
* **Real-time commands** are single bytes, never followed by a return, acted on at once:
  ``?`` status report, ``!`` feed hold, ``~`` cycle start/resume, ``0x18`` (Ctrl-X) soft reset
  (commands.md, "Grbl v1.1 Realtime commands").
* A status report is ``<State|MPos:x,y,z|...>`` (or ``WPos:``), fields separated by ``|``; the
  state is one of ``Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep``, optionally with a
  sub-state (``Hold:0`` hold complete, ``Hold:1`` hold in progress); ``WCO:`` (work coordinate
  offset) appears now and then, and ``WPos = MPos − WCO``; ``FS:feed,speed`` or ``F:feed``;
  ``Pn:`` lists triggered input pins (``XYZ`` limits, ``P`` probe, ``DHRS``); fields other than
  the first two may be absent or in any order (interface.md, "Real-time Status Reports").
* Hard and soft limit alarms (1, 2) are critical: GRBL sends ``ALARM:N`` and
  ``[MSG:Reset to continue]`` and accepts nothing but a soft reset; after the reset it stays in
  the Alarm state (``[MSG:'$H'|'$X' to unlock]``). G-code sent in the Alarm state is refused with
  ``error:9`` (interface.md, "Alarm Message", "Feedback Messages").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from labctl.errors import ProtocolError

__all__ = [
    "ALARM_CODES",
    "CYCLE_START",
    "ERROR_CODES",
    "FEED_HOLD",
    "MACHINE_STATES",
    "SOFT_RESET",
    "STATUS_QUERY",
    "Alarm",
    "Banner",
    "ErrorReply",
    "Message",
    "Ok",
    "Reply",
    "StatusReport",
    "alarm_meaning",
    "error_meaning",
    "format_move",
    "parse_probe",
    "parse_reply",
    "parse_status",
]

STATUS_QUERY = b"?"
FEED_HOLD = b"!"
CYCLE_START = b"~"
SOFT_RESET = b"\x18"
HOME = b"$H\n"
UNLOCK = b"$X\n"
BUILD_INFO = b"$I\n"

MACHINE_STATES = frozenset(
    {"Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep"}
)
"""Machine states a status report starts with (interface.md, "Machine State")."""

ALARM_CODES: dict[int, str] = {
    1: "hard limit triggered; machine position is likely lost, re-homing is recommended",
    2: "soft limit: the motion target exceeds the machine travel; position retained, the alarm "
    "may be unlocked",
    3: "reset while in motion; position may be lost, re-homing is recommended",
    4: "probe fail: the probe was not in the expected initial state",
    5: "probe fail: no contact within the programmed probe travel",
    6: "homing fail: the homing cycle was reset",
    7: "homing fail: the safety door was opened during homing",
    8: "homing fail: pulling off did not clear the limit switch",
    9: "homing fail: no limit switch found within the search distance",
    10: "homing fail: the second switch of a dual axis did not trigger",
}
"""``ALARM:N`` codes of GRBL v1.1 (``doc/csv/alarm_codes_en_US.csv``), paraphrased."""

ERROR_CODES: dict[int, str] = {
    1: "expected a command letter (G-code words are a letter and a value)",
    2: "bad number format or missing value",
    3: "'$' system command not recognized or supported",
    4: "negative value for an expected positive value",
    5: "homing is not enabled in the settings",
    6: "minimum step pulse time must be greater than 3 µs",
    7: "EEPROM read failed; defaults restored",
    8: "'$' command refused unless the controller is idle",
    9: "G-code locked out during alarm or jog state",
    10: "soft limits cannot be enabled without homing",
    11: "line too long; not executed",
    12: "setting exceeds the maximum step rate",
    13: "safety door detected as opened",
    14: "build info or startup line too long for EEPROM",
    15: "jog target exceeds machine travel",
    16: "invalid jog command",
    17: "laser mode requires PWM output",
    20: "unsupported or invalid G-code command in block",
    21: "more than one G-code command of one modal group in block",
    22: "feed rate not yet set or undefined",
    23: "G-code command requires an integer value",
    24: "more than one G-code command requiring axis words in block",
    25: "repeated G-code word in block",
    26: "no axis words in block for a command that requires them",
    27: "line number out of range",
    28: "G-code command is missing a required value word",
    29: "G59.x work coordinate systems are not supported",
    30: "G53 only allowed with G0 and G1 motion modes",
    31: "axis words in block with no command or modal state using them",
    32: "G2/G3 arcs need at least one in-plane axis word",
    33: "motion command target is invalid",
    34: "arc radius value is invalid",
    35: "G2/G3 arcs need at least one in-plane offset word",
    36: "unused value words in block",
    37: "G43.1 tool length offset not on the configured axis",
    38: "tool number greater than the maximum supported",
}
"""``error:N`` codes of GRBL v1.1 (``doc/csv/error_codes_en_US.csv``), paraphrased."""

CRITICAL_ALARMS = frozenset({1, 2})
"""Alarms after which GRBL accepts nothing but a soft reset (interface.md, "Feedback Messages")."""

_MAX_LINE = 1024
_BANNER = re.compile(r"^Grbl (\d+\.\d+[a-z]?) \['\$' for help\]$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CODE = re.compile(r"^\d{1,3}$")

Vector: TypeAlias = tuple[float, float, float]


def alarm_meaning(code: int) -> str:
    """What ``ALARM:code`` means (``"unknown alarm"`` for a code GRBL v1.1 does not define)."""
    return ALARM_CODES.get(code, f"unknown alarm {code}")


def error_meaning(code: int) -> str:
    """What ``error:code`` means (``"unknown error"`` for a code GRBL v1.1 does not define)."""
    return ERROR_CODES.get(code, f"unknown error {code}")


@dataclass(frozen=True)
class StatusReport:
    """One real-time status report.

    Args:
        state: machine state (``Idle``, ``Run``, ``Hold``, ``Alarm``, ...).
        substate: the sub-state code (``Hold:0`` → 0), if given.
        machine_position: ``MPos`` (X, Y, Z), mm, if reported.
        work_position: ``WPos`` (X, Y, Z), mm, if reported.
        work_offset: ``WCO`` (X, Y, Z), mm, if present in this report.
        feed: current feed rate, mm/min, if reported.
        pins: triggered input pins (``"P"`` = probe, ``"X"`` = X limit, ...).
    """

    state: str
    substate: int | None = None
    machine_position: Vector | None = None
    work_position: Vector | None = None
    work_offset: Vector | None = None
    feed: float | None = None
    pins: frozenset[str] = field(default_factory=frozenset)

    def positions(self, offset: Vector) -> tuple[Vector, Vector]:
        """(machine, work) positions, given the last known work offset (``WPos = MPos − WCO``)."""
        wco = self.work_offset or offset
        if self.machine_position is not None:
            mpos = self.machine_position
            return mpos, _sub(mpos, wco)
        assert self.work_position is not None
        wpos = self.work_position
        return _add(wpos, wco), wpos


@dataclass(frozen=True)
class Ok:
    """``ok``: the last line was parsed and executed (or queued for execution)."""


@dataclass(frozen=True)
class ErrorReply:
    """``error:N``: the last line was refused and purged."""

    code: int

    @property
    def meaning(self) -> str:
        """What the code means."""
        return error_meaning(self.code)


@dataclass(frozen=True)
class Alarm:
    """``ALARM:N``: the controller entered the Alarm state."""

    code: int

    @property
    def meaning(self) -> str:
        """What the code means."""
        return alarm_meaning(self.code)

    @property
    def critical(self) -> bool:
        """A hard or soft limit: only a soft reset is accepted afterwards."""
        return self.code in CRITICAL_ALARMS


@dataclass(frozen=True)
class Banner:
    """The welcome message: the controller (re)initialised, after power-up or a reset."""

    version: str


@dataclass(frozen=True)
class Message:
    """Another push message: ``[MSG:...]``, ``[VER:...]``, ``$N=value``, ``>line:ok``, ``""``."""

    text: str


Reply: TypeAlias = Ok | ErrorReply | Alarm | Banner | Message | StatusReport
Context: TypeAlias = tuple[str, str, object]
"""(device, address, last command sent), for error messages."""

_NO_CONTEXT: Context = ("grbl", "?", None)


def _fail(context: Context, detail: str, received: object) -> ProtocolError:
    device, address, sent = context
    return ProtocolError(
        device, address, detail, sent=sent, expected="a GRBL v1.1 message", received=received
    )


def _text(line: bytes | str, context: Context) -> str:
    if isinstance(line, bytes):
        if len(line) > _MAX_LINE:
            raise _fail(context, "reply line too long", line[:80])
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise _fail(context, "reply is not ASCII text", line) from None
    else:
        text = line
    text = text.strip("\r\n ")
    if any(ord(char) < 0x20 or ord(char) > 0x7E for char in text):
        raise _fail(context, "reply holds control characters", line)
    return text


def parse_reply(line: bytes | str, context: Context = _NO_CONTEXT) -> Reply:
    """Classify one line GRBL sent (its line end may or may not be included).

    Raises:
        ProtocolError: the line is no GRBL v1.1 message (garbage, a broken line).
    """
    text = _text(line, context)
    if text == "ok":
        return Ok()
    if not text:
        return Message("")  # the welcome message is preceded by an empty line (report.c)
    if text.startswith("error:"):
        return ErrorReply(_code(text[6:], context, text))
    if text.startswith("ALARM:"):
        return Alarm(_code(text[6:], context, text))
    if text.startswith("<"):
        return parse_status(text, context)
    banner = _BANNER.match(text)
    if banner:
        return Banner(banner.group(1))
    if (text.startswith("[") and text.endswith("]") and len(text) > 2) or (
        text.startswith(("$", ">")) and len(text) > 1
    ):
        return Message(text)
    raise _fail(context, "unrecognised reply", text)


def _code(text: str, context: Context, line: str) -> int:
    if not _CODE.match(text):
        raise _fail(context, "malformed code", line)
    return int(text)


def _number(text: str, context: Context, line: str) -> float:
    if not _NUMBER.match(text):
        raise _fail(context, f"malformed number {text!r} in status report", line)
    value = float(text)
    if not math.isfinite(value):  # pragma: no cover - the pattern admits finite values only
        raise _fail(context, "non-finite number in status report", line)
    return value


def _vector(text: str, context: Context, line: str) -> Vector:
    parts = text.split(",")
    if len(parts) < 3 or len(parts) > 6:
        raise _fail(context, "a position needs three values (X, Y, Z)", line)
    values = [_number(part, context, line) for part in parts]
    return values[0], values[1], values[2]


def parse_status(line: bytes | str, context: Context = _NO_CONTEXT) -> StatusReport:
    """Parse a real-time status report ``<Idle|MPos:0.000,0.000,0.000|FS:0,0>``.

    Unknown fields (``Bf``, ``Ln``, ``Ov``, ``A``) are ignored, as the documentation asks.

    Raises:
        ProtocolError: not a well-formed report.
    """
    text = _text(line, context)
    if not (text.startswith("<") and text.endswith(">")):
        raise _fail(context, "a status report is enclosed in <>", text)
    fields = text[1:-1].split("|")
    head, _, sub = fields[0].partition(":")
    if head not in MACHINE_STATES:
        raise _fail(context, f"unknown machine state {head!r}", text)
    substate = _code(sub, context, text) if sub else None
    values: dict[str, str] = {}
    for item in fields[1:]:
        name, colon, value = item.partition(":")
        if not colon or not name:
            raise _fail(context, f"malformed status field {item!r}", text)
        if name in values:
            raise _fail(context, f"repeated status field {name!r}", text)
        values[name] = value
    if ("MPos" in values) == ("WPos" in values):
        raise _fail(context, "a status report carries exactly one of MPos and WPos", text)
    mpos = _vector(values["MPos"], context, text) if "MPos" in values else None
    wpos = _vector(values["WPos"], context, text) if "WPos" in values else None
    wco = _vector(values["WCO"], context, text) if "WCO" in values else None
    feed: float | None = None
    if "FS" in values:
        feed = _number(values["FS"].split(",")[0], context, text)
    elif "F" in values:
        feed = _number(values["F"], context, text)
    pins = values.get("Pn", "")
    if any(pin not in "XYZAPDHRS" for pin in pins):
        raise _fail(context, f"unknown input pin in {pins!r}", text)
    return StatusReport(
        state=head,
        substate=substate,
        machine_position=mpos,
        work_position=wpos,
        work_offset=wco,
        feed=feed,
        pins=frozenset(pins),
    )


def format_move(
    target: tuple[float | None, float | None, float | None],
    feed: float,
    *,
    mode: Literal["G1", "G0", "G38.2", "G38.3"] = "G1",
) -> bytes:
    r"""The line for an absolute move in mm: ``G90 G21 G1 X10.000 Z2.500 F600.0\n``.

    Args:
        target: X, Y, Z in work coordinates, mm (``None``: the axis does not move).
        feed: feed rate, mm/min (ignored by ``G0``, which moves at the maximum rate).
        mode: ``G1`` (linear move at ``feed``), ``G0`` (rapid), or a straight probe toward
            the target that stops when the probe input triggers: ``G38.2`` (alarm 5 without
            contact) or ``G38.3`` (no alarm) (commands.md, ``$#``: ``PRB``; alarm codes 4, 5).

    Raises:
        ValueError: no axis given, or a value is not finite or the feed not positive.
    """
    words = []
    for letter, value in zip("XYZ", target, strict=True):
        if value is None:
            continue
        if not math.isfinite(value):
            raise ValueError(f"{letter} must be finite, got {value}")
        words.append(f"{letter}{value:.3f}")
    if not words:
        raise ValueError("a move needs at least one axis")
    if not (math.isfinite(feed) and feed > 0):
        raise ValueError(f"feed rate must be positive, got {feed}")
    feed_word = "" if mode == "G0" else f" F{feed:.1f}"
    return f"G90 G21 {mode} {' '.join(words)}{feed_word}\n".encode("ascii")


def parse_probe(text: str, context: Context = _NO_CONTEXT) -> tuple[Vector, bool]:
    """``[PRB:x,y,z:1]`` → (machine position of the probe's stop, whether it made contact).

    Raises:
        ProtocolError: not a probe report.
    """
    if not (text.startswith("[PRB:") and text.endswith("]")):
        raise _fail(context, "a probe report is [PRB:x,y,z:0|1]", text)
    position, colon, success = text[5:-1].rpartition(":")
    if not colon or success not in ("0", "1"):
        raise _fail(context, "a probe report ends in :0 or :1", text)
    return _vector(position, context, text), success == "1"


def _add(a: Vector, b: Vector) -> Vector:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _sub(a: Vector, b: Vector) -> Vector:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]
