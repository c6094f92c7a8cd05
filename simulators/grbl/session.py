r"""One connection to the simulated GRBL controller: real-time bytes and lines.

Real-time commands are picked off the byte stream wherever they occur, as GRBL does
(commands.md of ``gnea/grbl``, "Realtime commands"): ``?`` status report, ``!`` feed hold,
``~`` resume, ``0x18`` soft reset; bytes ≥ 0x80 (overrides) are ignored. Everything else is
collected into lines ended by ``\n`` or ``\r``; each line gets one response, ``ok`` or
``error:N``, every reply line ends with ``\r\n``. While a critical alarm is active only the
soft reset is acted on.

``$`` commands understood: ``$`` (help), ``$$`` (the settings modelled), ``$I`` (build info),
``$G`` (parser state), ``$H`` (homing), ``$X`` (unlock); any other gets ``error:3``.
A homing cycle, a ``G38.2``/``G38.3`` probe and a ``G4`` dwell answer only when they are over
(scaled by the time scale), as GRBL does.
"""

from __future__ import annotations

from collections.abc import Iterator

from labctl.simulators.grbl.gcode import PROBE, PROBE_NO_ERROR, parse_block, prefilter
from labctl.simulators.grbl.machine import BUILD, NO_REPLY, VERSION, GrblMachine

__all__ = ["GrblSession"]

_LINE_BUFFER = 80
"""GRBL's line buffer: longer lines are refused with ``error:11``."""
_MAX_RAW = 4096
_HELP = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]"


class GrblSession:
    """The wire behaviour of one connection (a :class:`~labctl.protocols.TwinSession`).

    Args:
        machine: the controller (shared by all connections).
        identity: the build-info string ``$I`` reports.
    """

    def __init__(self, machine: GrblMachine, identity: str = "labctl GRBL twin") -> None:
        self.machine = machine
        self.identity = identity
        self._line = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Consume ``data``; yield reply chunks (a homing cycle pauses between them)."""
        machine = self.machine
        out: list[str] = []
        for byte in data:
            if byte == 0x18:
                self._line.clear()
                self._overflow = False
                out += machine.soft_reset()
                continue
            if machine.critical:
                continue
            if byte == 0x3F:  # ?
                out += machine.take_pushed()
                if not machine.locked_out():
                    out.append(machine.status_report())
            elif byte == 0x21:  # !
                machine.feed_hold()
            elif byte == 0x7E:  # ~
                machine.cycle_start()
            elif byte >= 0x80:
                continue
            elif byte in (0x0A, 0x0D):
                raw = self._line.decode("latin-1")
                overflow = self._overflow
                self._line.clear()
                self._overflow = False
                out += machine.take_pushed()
                if machine.locked_out():
                    continue
                wait, replies = self._line_reply(prefilter(raw), overflow)
                if wait > 0:
                    if out:
                        yield _encode(out)
                        out = []
                    self._wait(wait)
                if self._homing:
                    machine.finish_homing()
                if self._probing:
                    replies = machine.finish_probe()
                out += replies
                out += machine.take_pushed()
            elif len(self._line) < _MAX_RAW:
                self._line.append(byte)
            else:
                self._overflow = True
        if out:
            yield _encode(out)

    def _wait(self, simulated: float) -> None:
        scale = self.machine.time_scale
        if scale > 0:
            self.machine.interrupt.wait(simulated / scale)

    def _line_reply(self, text: str, overflow: bool) -> tuple[float, list[str]]:
        """(simulated seconds to wait before replying, reply lines) for one line."""
        self._homing = self._probing = False
        machine = self.machine
        if overflow or len(text) >= _LINE_BUFFER:
            return 0.0, ["error:11"]
        if not text:
            return 0.0, ["ok"]
        if text.startswith("$"):
            return self._system(text)
        if machine.state == "Alarm":
            return 0.0, ["error:9"]
        block = parse_block(text)
        if isinstance(block, int):
            return 0.0, [f"error:{block}"]
        if block.g.get("motion") in (PROBE, PROBE_NO_ERROR):
            result = machine.start_probe(block)
            if result == NO_REPLY:
                return 0.0, []
            if isinstance(result, int):
                return 0.0, [f"error:{result}"]
            self._probing = True
            return result, []
        if block.g.get("non_modal") == 4:
            remaining = machine.remaining_time()
            motion = 0.0 if remaining == float("inf") else remaining
            return motion + block.words["P"], ["ok"]
        code = machine.execute(block)
        if code == NO_REPLY:
            return 0.0, []
        return 0.0, ["ok" if code is None else f"error:{code}"]

    def _system(self, text: str) -> tuple[float, list[str]]:
        machine = self.machine
        if text == "$":
            return 0.0, [_HELP, "ok"]
        if text == "$I":
            return 0.0, [f"[VER:{VERSION}.{BUILD}:{self.identity}]", "[OPT:V,15,128]", "ok"]
        if text == "$G":
            modal = machine.modal
            parts = [
                f"G{modal.motion}",
                "G54 G17",
                "G20" if modal.inches else "G21",
                "G91" if modal.incremental else "G90",
                "G94 M5 M9 T0",
                f"F{modal.feed:g} S0",
            ]
            return 0.0, [f"[GC:{' '.join(parts)}]", "ok"]
        if text == "$X":
            code, messages = machine.unlock()
            return 0.0, [*messages, "ok" if code is None else f"error:{code}"]
        if text == "$$":
            if machine.state not in ("Idle", "Alarm"):
                return 0.0, ["error:8"]
            return 0.0, [*machine.settings_lines(), "ok"]
        if text == "$H":
            code, seconds = machine.home()
            if code is not None:
                return 0.0, [f"error:{code}"]
            self._homing = True
            return seconds, ["ok"]
        return 0.0, ["error:3"]

    _homing = False
    _probing = False


def _encode(lines: list[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("ascii")
