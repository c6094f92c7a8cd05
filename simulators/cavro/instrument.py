r"""Simulated Cavro XCalibur pumps on one RS-232 bus, speaking DT, acting on the shared world.

:class:`SimulatedPump` is one pump: plunger (kept in fine increments, 0…24000, reported in the
current ``N`` resolution), distribution valve, speeds, the error state, and the liquid in the
syringe. :class:`CavroBus` holds the pumps of one line; :class:`CavroBusSession` is the
per-connection :class:`~labctl.protocols.TwinSession` that frames commands (``/<addr>…R\\r``)
and answers (``/0<status><data>\\x03\\r\\n``) as the driver's
:mod:`labctl.devices.dispensing.pump_protocol` describes. Pumps absent from the bus stay silent,
as on a real line; commands to all pumps (address ``_``) are executed without an answer.

Errors (codes and when, after the XP 3000 manual's "error reporting examples", Table 3-8):
a command letter the pump does not know answers error 2 at once and nothing runs; a move before
initialisation answers 7 at once; a move, valve or set command (other than ``V``) while busy
answers 15 at once; an operand out of range (plunger beyond the stroke, a port the valve lacks,
a speed out of 5…6000) stops the string there and is reported by the next ``Q`` (3); a stalled
plunger (fault ``plunger_overload``) reports 9 and a stuck valve (``valve_overload``) 10 on the
next ``Q``, and every later move answers the same error until the pump is initialised again; a
failed initialisation (``init_failure``) reports 1. ``inject_error(code)`` makes the next answer
carry any code, the command refused (tests of the driver's error classes).

Liquid: the valve's ports are bound to the world's stock bottles, vials, measurement cells (a
flow-through conductivity cell: what is pushed in is what the potentiostat twin on that cell
measures; drawing from it empties it), or nothing (waste/air).
Picking up from a stock draws ``volume · (1 + ε)`` from the bottle (ε ~ N(0, dosing_error), the
twin's seeded stream); dispensing pushes the matching share of what the syringe holds into the
bound vial. A ``clog`` lets only ``1 − clog_fraction`` (70 %) of it arrive; the rest stays in the
clogged line (counted in :attr:`SimulatedPump.lost_volume`). The stock loses what was drawn, the
vial gains what arrived: the world's books always balance with the twin's counters.

Time: a move of n standard increments at top speed V takes ``2 n / V`` s. At ``time_scale`` 0
the pump reports busy for ``busy_polls`` ``Q`` polls after each move, then ready; at
``time_scale`` > 0 it is busy for the move's duration scaled to wall time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labctl.simulators.world import Mixture, World

__all__ = ["CavroBus", "CavroBusSession", "PortBinding", "SimulatedPump"]

FINE = 24000
STANDARD = 3000
_TOKEN = re.compile(r"([A-Za-z?&#])(\d+(?:,\d+)*)?")
_KNOWN = set("ZYWIOoAaPpDdVvcSLKkNTQ?&FRgGMHhz")
_MOVES = set("ZYWIOoAaPpDd")
_SETS = set("vcSLKkN")
_SPEED_TABLE = (
    *(6000, 5600, 5000, 4400, 3800, 3200, 2600, 2200, 2000, 1800, 1600, 1400, 1200, 1000, 800),
    *(600, 400, 200, 190, 180, 170, 160, 150, 140, 130, 120, 110, 100, 90, 80),
    *(70, 60, 50, 40, 30, 20, 18, 16, 14, 12, 10),
)
_SPEED_CODES = dict(enumerate(_SPEED_TABLE))
"""Speed code → top speed, half-steps/s (the manuals' speed-code table)."""


@dataclass(frozen=True)
class PortBinding:
    """What a valve port is plumbed to.

    Args:
        kind: ``stock`` (a stock bottle), ``vial`` (a vial on the deck), ``cell`` (a measurement
            cell of the world) or ``waste``.
        name: the stock's, vial's or cell's name in the world.
    """

    kind: Literal["stock", "vial", "cell", "waste"]
    name: str = ""


class _Stop(Exception):
    """Ends a command string with an error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class SimulatedPump:
    """One simulated pump with a distribution valve.

    Args:
        world: the shared world its ports reach.
        syringe_volume: mL.
        ports: ports of the distribution valve.
        bindings: port → what it is plumbed to (unbound ports are waste/air).
        rng: the twin's seeded generator (dosing error).
        dosing_error: relative standard deviation of the volume drawn from a stock.
        clog_fraction: share of the liquid a clogged line holds back.
        busy_polls: ``Q`` polls answered busy after a move at time scale 0.
        time_scale: simulated seconds per wall second (0 = moves finish at once).
        vial_density: g/mL assumed when liquid is drawn back out of a vial.
        firmware: what ``&`` reports.
    """

    world: World
    syringe_volume: float = 1.0
    ports: int = 9
    bindings: dict[int, PortBinding] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    dosing_error: float = 0.0
    clog_fraction: float = 0.3
    busy_polls: int = 1
    time_scale: float = 0.0
    vial_density: float = 1.2
    firmware: str = "XCalibur labctl twin 1.0"

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.initialized = False
        self.position = 0  # fine increments, 0…24000
        self.port = 1
        self.fine = False
        self.top_speed = 1400
        self.start_speed = 900
        self.cutoff_speed = 900
        self.pending_error = 0
        self.sticky_error = 0
        self.next_error = 0
        self.clog = False
        self.overload: Literal["plunger", "valve"] | None = None
        self.init_failure = False
        self.contents = Mixture()
        self.liquid_volume = 0.0  # mL of liquid in the syringe (the rest is air)
        self.lost_volume = 0.0
        self.waste_volume = 0.0
        self.commands: list[str] = []
        self._busy_polls_left = 0
        self._busy_until = 0.0

    # -- the wire -------------------------------------------------------------------------------
    def handle(self, body: str) -> bytes:
        """Execute one command string (``I3P1500R`` / ``Q`` / ``?6``) and return the answer."""
        with self.lock:
            self.commands.append(body)
            data = ""
            error = 0
            busy_before = self.busy
            if self.next_error:  # an injected error: the command is refused, nothing runs
                error, self.next_error = self.next_error, 0
            else:
                try:
                    data = self._execute(body)
                except _Stop as stop:
                    error = stop.code
            busy = busy_before if body.startswith("Q") else self.busy
            status = 0x40 | (0x20 if not busy else 0) | (error & 0x0F)
            return b"/0" + bytes([status]) + data.encode("ascii") + b"\x03\r\n"

    @property
    def busy(self) -> bool:
        """Whether the plunger or valve is still moving."""
        if self.time_scale > 0:
            return time.monotonic() < self._busy_until
        return self._busy_polls_left > 0

    def _execute(self, body: str) -> str:
        execute = body.endswith("R")
        text = body[:-1] if execute else body
        tokens = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.group(1) not in _KNOWN:
                raise _Stop(2)
            tokens.append((match.group(1), match.group(2)))
            position = match.end()
        if not tokens:
            raise _Stop(2) if not execute else _Stop(0)
        letter, operand = tokens[0]
        if letter in "?&QF":
            if len(tokens) > 1:
                raise _Stop(2)
            return self._report(letter, operand)
        if not execute:
            return ""  # stored in the buffer until R: nothing to simulate here
        if letter == "T":
            self._busy_polls_left = 0
            self._busy_until = 0.0
            return ""
        if self.busy and any(t[0] in _MOVES | _SETS for t in tokens):
            raise _Stop(15)
        if any(t[0] in _MOVES - set("ZYW") for t in tokens):
            if not self.initialized and not any(t[0] in "ZYW" for t in tokens[:1]):
                raise _Stop(7)
            if self.sticky_error and tokens[0][0] not in "ZYW":
                raise _Stop(self.sticky_error)
        duration = 0.0
        for letter, operand in tokens:
            try:
                duration += self._command(letter, operand)
            except _Stop as stop:
                self.pending_error = stop.code
                break
        self._start_busy(duration)
        return ""

    def _report(self, letter: str, operand: str | None) -> str:
        if letter == "Q":
            if not self.busy and self.pending_error:
                error, self.pending_error = self.pending_error, 0
                raise _Stop(error)
            if self.time_scale == 0 and self._busy_polls_left > 0:
                self._busy_polls_left -= 1
            return ""
        if letter == "&":
            return self.firmware
        if letter == "F":
            return "0"
        reports = {
            None: str(self.position if self.fine else self.position // 8),
            "1": str(self.start_speed),
            "2": str(self.top_speed),
            "3": str(self.cutoff_speed),
            "4": str(self.position if self.fine else self.position // 8),
            "6": str(self.port),
            "10": "0",
        }
        if operand not in reports:
            raise _Stop(3)
        return reports[operand]

    # -- commands -------------------------------------------------------------------------------
    def _command(self, letter: str, operand: str | None) -> float:
        """Run one command; return its duration, s."""
        values = [int(part) for part in operand.split(",")] if operand else []
        value = values[0] if values else None
        if letter in "ZYW":
            return self._initialize(letter, values)
        if letter in "IOo":
            if value is None or not 1 <= value <= self.ports:
                raise _Stop(3)
            if self.overload == "valve":
                self.overload = None
                self.sticky_error = 10
                raise _Stop(10)
            self.port = value
            return 0.2
        if letter in "AaPpDd":
            if value is None:
                raise _Stop(3)
            scale = 1 if self.fine else 8
            current = self.position // scale
            target = {"A": value, "P": current + value, "D": current - value}[letter.upper()]
            if not 0 <= target <= (FINE if self.fine else STANDARD):
                raise _Stop(3)
            if self.overload == "plunger":
                self.overload = None
                self.sticky_error = 9
                raise _Stop(9)
            return self._move(target * scale) if letter.isupper() else self._move_quiet(target)
        if letter == "V":
            if value is None or not 5 <= value <= 6000:
                raise _Stop(3)
            self.top_speed = value
            return 0.0
        if letter == "S":
            if value is None or value not in _SPEED_CODES:
                raise _Stop(3)
            self.top_speed = _SPEED_CODES[value]
            return 0.0
        if letter == "N":
            if value not in (0, 1, 2):
                raise _Stop(3)
            self.fine = value != 0
            return 0.0
        return 0.0  # v, c, L, K, k, g, G, M, H, h, z: accepted, not simulated

    def _move_quiet(self, target: int) -> float:
        self._move(target * (1 if self.fine else 8))
        return 0.0

    def _initialize(self, letter: str, values: list[int]) -> float:
        if values and not 0 <= values[0] <= 40:
            raise _Stop(3)
        if self.init_failure:
            self.init_failure = False
            self.initialized = False
            raise _Stop(1)
        self.sticky_error = 0
        self.overload = None
        if letter != "W":
            self._move(0, destination=PortBinding("waste"))
        self.initialized = True
        return 1.0

    def _move(self, target: int, destination: PortBinding | None = None) -> float:
        delta = target - self.position
        if delta > 0:
            self._pick_up(delta)
        elif delta < 0:
            self._push_out(-delta, destination)
        self.position = target
        half_steps = 2 * abs(delta) / 8
        return half_steps / max(self.top_speed, 1)

    def _volume(self, increments: int) -> float:
        return self.syringe_volume * increments / FINE

    def _pick_up(self, increments: int) -> None:
        nominal = self._volume(increments)
        binding = self.bindings.get(self.port, PortBinding("waste"))
        with self.world.lock:
            if binding.kind == "stock":
                stock = self.world.stocks[binding.name]
                error = (
                    float(self.rng.normal(0.0, self.dosing_error)) if self.dosing_error else 0.0
                )
                wanted = max(0.0, nominal * (1.0 + error))
                drawn = min(wanted, stock.volume)
                self.contents.add(stock.draw(drawn))
                self.liquid_volume += drawn
            elif binding.kind in ("vial", "cell"):
                held = (
                    self.world.vial(binding.name).contents
                    if binding.kind == "vial"
                    else self.world.cell(binding.name).contents
                )
                mass = min(nominal * self.vial_density, held.total_mass)
                self.contents.add(held.remove(mass))
                self.liquid_volume += mass / self.vial_density

    def _push_out(self, increments: int, destination: PortBinding | None) -> None:
        share = min(1.0, increments / self.position) if self.position else 1.0
        volume = self.liquid_volume * share
        taken = self.contents.remove(self.contents.total_mass * share)
        self.liquid_volume -= volume
        binding = destination or self.bindings.get(self.port, PortBinding("waste"))
        arrived = taken
        if self.clog:
            arrived = taken.portion(taken.total_mass * (1.0 - self.clog_fraction))
            self.lost_volume += volume * self.clog_fraction
            volume *= 1.0 - self.clog_fraction
        with self.world.lock:
            if binding.kind == "vial":
                self.world.vial(binding.name).contents.add(arrived)
            elif binding.kind == "cell":
                self.world.cell(binding.name).contents.add(arrived)
            elif binding.kind == "stock":
                self.world.stocks[binding.name].volume += volume
            else:
                self.waste_volume += volume

    def _start_busy(self, duration: float) -> None:
        if duration <= 0:
            return
        if self.time_scale > 0:
            self._busy_until = time.monotonic() + duration / self.time_scale
        else:
            self._busy_polls_left = self.busy_polls

    # -- faults ---------------------------------------------------------------------------------
    def inject_error(self, code: int) -> None:
        """The next answer carries error ``code`` (1…15)."""
        if not 1 <= code <= 15:
            raise ValueError(f"a pump error code is 1…15, got {code}")
        with self.lock:
            self.next_error = code

    def power_cycle(self) -> None:
        """The pump lost power: not initialised, errors cleared."""
        with self.lock:
            self.initialized = False
            self.sticky_error = 0
            self.pending_error = 0
            self._busy_polls_left = 0


class CavroBus:
    """The pumps on one line, by address (1…15).

    Args:
        pumps: address → pump.
    """

    def __init__(self, pumps: dict[int, SimulatedPump]) -> None:
        for address in pumps:
            if not 1 <= address <= 15:
                raise ValueError(f"a pump address is 1…15, got {address}")
        self.pumps = dict(pumps)

    def handle(self, frame: bytes) -> bytes | None:
        """Answer one command block (without its CR); ``None`` when no pump answers."""
        start = frame.rfind(b"/")
        if start < 0 or len(frame) < start + 2:
            return None
        try:
            text = frame[start + 1 :].decode("ascii")
        except UnicodeDecodeError:
            return None
        target, body = text[0], text[1:]
        if target == "_":
            for pump in self.pumps.values():
                pump.handle(body)
            return None
        addressed = self.pumps.get(ord(target) - 0x30)
        return None if addressed is None else addressed.handle(body)


class CavroBusSession:
    """One connection to the bus: CR-framed commands in, answer blocks out.

    Args:
        bus: the pumps on the line.
    """

    _MAX_FRAME = 4096

    def __init__(self, bus: CavroBus) -> None:
        self.bus = bus
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterable[bytes]:
        """Consume bytes; return the answers of the complete command blocks among them."""
        self._buffer.extend(data)
        replies: list[bytes] = []
        while True:
            end = self._buffer.find(b"\r")
            if end < 0:
                if len(self._buffer) > self._MAX_FRAME:
                    self._buffer.clear()
                return replies
            frame = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            reply = self.bus.handle(frame.strip(b"\n"))
            if reply is not None:
                replies.append(reply)
