r"""The Tecan Cavro DT (data terminal) ASCII protocol of XCalibur / Centris pumps: pure code.

Nothing here does I/O: it builds command frames, parses answer blocks and turns a pump's error
code into a named exception. :mod:`labctl.devices.dispensing.pump` sends and receives.

Wire format (RS-232, 9600 baud 8N1 by default), from the Cavro XP 3000 operator's manual
(725730C, ch. 3 "Software Communication": "DT protocol command/answer block characters", Table
3-2 "Address switch settings", Table 3-8 "Error codes and ASCII and hexadecimal values",
p. 3-46) and the Cavro XLP 6000 operating manual (734237-C, §3.1 "Addressing scheme", §3.6
"Error codes and pump status"), which describe the same command set as the XCalibur:

* command block: ``/`` + pump address + command string + ``R`` (execute) + CR. Report commands
  (``?``, ``?6``, ``Q``, ``&``) need no ``R``. A command string may chain several commands
  (``I3P1500R``), executed in order;
* pump address: the address switch 0…E is sent as ASCII ``1``…``?`` (31h…3Fh): labctl numbers
  pumps 1…15 (``"1"`` … ``"?"``); ``_`` (5Fh) addresses all pumps, which then do not answer
  reports;
* answer block: ``/`` + master address ``0`` + status byte + data + ETX (03h) + CR + LF;
* status byte: bit 7 = 0, bit 6 = 1, bit 5 = ready (1) / busy (0), bit 4 = 0, bits 3…0 = error
  code (``@``/`` ` `` = no error, busy/ready). A busy pump only accepts report and terminate
  commands; a move sent while it is busy answers error 15 (command overflow);
* ``Q`` reports the status byte; the driver polls it until the pump is ready (uppercase moves
  ``A``/``P``/``D`` leave the pump busy until the plunger stops).

Commands used: ``Z``/``Y`` initialise plunger and valve (valve towards the right / left), ``W``
initialise the valve only; ``I<n>``/``O<n>`` turn a distribution valve to port ``n`` clockwise /
counter-clockwise, ``o<n>`` the shortest way (multi-port valves of newer pumps; the driver uses
the form the config names); ``A<n>`` absolute plunger position, ``P<n>`` relative pick-up,
``D<n>`` relative dispense, in increments: 0…3000 in standard resolution (``N0``) and 0…24000
in fine positioning (``N1``; XP 3000 manual p. 3-41, "N<n> set microstep mode"); ``V<n>`` top
speed, 5…6000 half-steps/s, ``S<n>`` speed code 0…40 (XP 3000 manual App. G "Command quick
reference"); ``?`` absolute plunger position, ``?6`` valve position (port number for
distribution valves; XLP 6000 manual §3.5 "Report commands"), ``&`` firmware version, ``T``
terminate.

One standard increment is two half-steps: a plunger move at top speed ``V`` takes about
``2 · increments / V`` seconds in standard resolution (ramps aside).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from labctl.errors import ProtocolError

__all__ = [
    "ADDRESS_ALL",
    "ETX",
    "FINE_INCREMENTS",
    "PUMP_ERRORS",
    "SPEED_CODES",
    "STANDARD_INCREMENTS",
    "TOP_SPEED_RANGE",
    "CommandOverflowError",
    "EepromError",
    "FluidDetectionError",
    "InvalidCommandError",
    "InvalidCommandSequenceError",
    "InvalidOperandError",
    "PlungerMoveNotAllowedError",
    "PlungerOverloadError",
    "PumpError",
    "PumpInitializationError",
    "PumpNotInitializedError",
    "PumpReply",
    "Resolution",
    "UnknownPumpError",
    "ValveOverloadError",
    "address_character",
    "command_frame",
    "full_stroke",
    "parse_reply",
    "pump_error",
]

Resolution = Literal["standard", "fine"]
"""Plunger resolution: ``standard`` = 3000 increments per stroke (``N0``), ``fine`` = 24000
(``N1``)."""

STANDARD_INCREMENTS = 3000
FINE_INCREMENTS = 24000
TOP_SPEED_RANGE = (5, 6000)
"""``V`` accepts 5…6000 half-steps per second."""
SPEED_CODES = (0, 40)
"""``S`` accepts speed codes 0 (fastest) … 40 (slowest)."""
ETX = b"\x03"
START = b"/"
MASTER = b"0"
ADDRESS_ALL = "_"
_MAX_REPLY = 4096


def full_stroke(resolution: Resolution) -> int:
    """Increments of one full plunger stroke."""
    return FINE_INCREMENTS if resolution == "fine" else STANDARD_INCREMENTS


def address_character(address: int) -> str:
    """The ASCII address of pump ``address`` (1…15 → ``"1"`` … ``"?"``).

    Raises:
        ValueError: outside 1…15.
    """
    if not 1 <= address <= 15:
        raise ValueError(f"a Cavro pump address is 1…15 (switch 0…E), got {address}")
    return chr(0x30 + address)


def command_frame(address: int, commands: str, *, execute: bool = True) -> bytes:
    """The DT command block for ``commands`` (``"I3P1500"``) to pump ``address``.

    ``execute`` appends ``R``; report commands (``?``, ``Q``) are sent without it.
    """
    body = commands + ("R" if execute else "")
    return START + address_character(address).encode("ascii") + body.encode("ascii") + b"\r"


class PumpError(ProtocolError):
    """The pump answered with a non-zero error code in its status byte.

    Each code has its own subclass (see :data:`PUMP_ERRORS`); ``fatal`` codes (initialisation,
    plunger and valve overload) need a new initialisation before the pump moves again.

    Args:
        device: the device's name.
        address: where the pump is (port or URL, and the pump's bus address).
        code: the error code (bits 3…0 of the status byte).
        sent: the command whose answer carried the error.
        received: the raw answer.
    """

    code: ClassVar[int] = -1
    title: ClassVar[str] = "unknown error"
    fatal: ClassVar[bool] = False
    advice: ClassVar[str] = ""

    def __init__(
        self,
        device: str,
        address: str,
        *,
        sent: object = None,
        received: object = None,
        code: int | None = None,
    ) -> None:
        self.error_code = self.code if code is None else code
        advice = f"; {self.advice}" if self.advice else ""
        super().__init__(
            device,
            address,
            f"pump error {self.error_code} ({self.title}){advice}",
            sent=sent,
            expected="status with error code 0",
            received=received,
        )


class PumpInitializationError(PumpError):
    """Error 1: the plunger or valve could not be initialised."""

    code = 1
    title = "initialization error"
    fatal = True
    advice = "check the syringe and valve, then initialise again"


class InvalidCommandError(PumpError):
    """Error 2: a command the pump does not know."""

    code = 2
    title = "invalid command"


class InvalidOperandError(PumpError):
    """Error 3: an operand out of range (e.g. a plunger position beyond the stroke)."""

    code = 3
    title = "invalid operand"


class InvalidCommandSequenceError(PumpError):
    """Error 4: commands in an order the pump refuses."""

    code = 4
    title = "invalid command sequence"


class FluidDetectionError(PumpError):
    """Error 5: the fluid sensor tripped."""

    code = 5
    title = "fluid detection"


class EepromError(PumpError):
    """Error 6: the pump's EEPROM failed."""

    code = 6
    title = "EEPROM failure"


class PumpNotInitializedError(PumpError):
    """Error 7: a move before a successful initialisation."""

    code = 7
    title = "device not initialized"
    advice = "initialise the pump (Z/Y) first"


class PlungerOverloadError(PumpError):
    """Error 9: the plunger stalled (blocked line, closed port, crystallised salt)."""

    code = 9
    title = "plunger overload"
    fatal = True
    advice = "clear the blockage, then initialise again"


class ValveOverloadError(PumpError):
    """Error 10: the valve could not turn."""

    code = 10
    title = "valve overload"
    fatal = True
    advice = "check the valve, then initialise again"


class PlungerMoveNotAllowedError(PumpError):
    """Error 11: a plunger move with the valve in bypass or throughput position."""

    code = 11
    title = "plunger move not allowed"


class CommandOverflowError(PumpError):
    """Error 15: a move, set or valve command while the plunger was moving."""

    code = 15
    title = "command overflow"


class UnknownPumpError(PumpError):
    """An error code no manual lists (8, 12, 13, 14)."""

    title = "undocumented error code"


PUMP_ERRORS: dict[int, type[PumpError]] = {
    cls.code: cls
    for cls in (
        PumpInitializationError,
        InvalidCommandError,
        InvalidOperandError,
        InvalidCommandSequenceError,
        FluidDetectionError,
        EepromError,
        PumpNotInitializedError,
        PlungerOverloadError,
        ValveOverloadError,
        PlungerMoveNotAllowedError,
        CommandOverflowError,
    )
}
"""Error code → its exception class."""


def pump_error(
    code: int, device: str, address: str, *, sent: object = None, received: object = None
) -> PumpError:
    """The named exception for error ``code`` (1…15)."""
    cls = PUMP_ERRORS.get(code, UnknownPumpError)
    return cls(device, address, sent=sent, received=received, code=code)


@dataclass(frozen=True)
class PumpReply:
    """One parsed answer block.

    Args:
        ready: bit 5 of the status byte (``False`` = busy).
        error: the error code (0 = none).
        data: the answer's data block (report commands), ASCII.
        raw: the bytes as received (without the line feed).
    """

    ready: bool
    error: int
    data: str
    raw: bytes


def parse_reply(raw: bytes, *, device: str, address: str, sent: object = None) -> PumpReply:
    """Parse one answer block (``/0`` + status + data + ETX [+ CR], the LF already removed).

    Does not raise for the error code it carries (see :func:`pump_error`); only for bytes that
    are not an answer block.

    Raises:
        ProtocolError: not a DT answer block.
    """

    def bad(detail: str) -> ProtocolError:
        shown = raw if len(raw) <= 200 else raw[:200] + b"..."
        return ProtocolError(
            device,
            address,
            detail,
            sent=sent,
            expected="an answer block /0<status><data>\\x03\\r\\n",
            received=shown,
        )

    if len(raw) > _MAX_REPLY:
        raise bad(f"answer of {len(raw)} bytes is far longer than any pump answer")
    block = raw[:-1] if raw.endswith(b"\r") else raw
    start = block.find(START + MASTER)
    if start < 0:
        raise bad("no answer block start '/0'")
    if start > 0 and block[:start].strip(b"\x00\xff\r\n "):
        raise bad("bytes before the answer block")
    block = block[start:]
    if not block.endswith(ETX):
        raise bad("the answer block does not end with ETX (03h)")
    if len(block) < 4:
        raise bad("the answer block has no status byte")
    status = block[2]
    if status & 0xD0 != 0x40:
        raise bad(f"status byte {status:#04x} is not of the form 01x0eeee")
    payload = block[3:-1]
    if any(byte < 0x20 or byte > 0x7E for byte in payload):
        raise bad("the data block holds non-printable bytes")
    return PumpReply(
        ready=bool(status & 0x20), error=status & 0x0F, data=payload.decode("ascii"), raw=raw
    )
