"""The simulated GRBL controller and its axes: state machine, motion timing, limits, homing.

:class:`GrblMachine` is one controller shared by every connection (it is one instrument). Motion
is computed lazily from the clock: a queued move runs at its feed rate (capped per axis by
``max_rate``, no acceleration) and takes ``distance / feed`` simulated minutes, i.e.
``distance / feed * 60 / time_scale`` wall seconds (``time_scale`` 0: a move is done the moment
it is queued). Whenever anything asks (a status query, another twin through the world), the
position is brought up to date.

Behaviour follows GRBL v1.1's documentation (``gnea/grbl`` ``doc/markdown/interface.md`` and
``commands.md``):

* homing enabled and ``start_locked``: the controller starts in the Alarm state (``$H`` or
  ``$X`` to unlock); ``$H`` answers ``ok`` only when homing is over;
* soft limits: a target outside the travel raises ``ALARM:2`` before moving; hard limits: a move
  that crosses the travel stops at the limit with ``ALARM:1`` (position lost). Both are critical:
  nothing but Ctrl-X is accepted afterwards (``?`` is not answered), and after the reset the
  controller stays in the Alarm state;
* ``!`` holds (the twin stops at once: ``Hold:0``), ``~`` resumes, Ctrl-X discards queued motion;
  a reset while moving raises ``ALARM:3``; G-code in the Alarm state is refused with
  ``error:9``.

Alarms raised while no request is being answered are pushed with the next reply (a polling host
sees them before the next status report).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from labctl.simulators.grbl.gcode import PROBE_NO_ERROR, Block
from labctl.simulators.grbl.stage_world import StageState

__all__ = ["NO_REPLY", "GrblMachine", "MachineSettings", "Segment"]

Vector = tuple[float, float, float]
VERSION = "1.1h"
BUILD = "20190830"
_REPORT_WCO_EVERY = 10
NO_REPLY = -1
"""What :meth:`GrblMachine.execute` returns when GRBL answers nothing (a critical alarm)."""


@dataclass(frozen=True)
class MachineSettings:
    """The controller's configuration (GRBL's ``$`` settings and compile options).

    Args:
        travel: (low, high) machine coordinates of X, Y, Z, mm.
        home: machine position after homing, mm.
        max_rate: maximum rate of X, Y, Z, mm/min (``$110``-``$112``).
        homing_rate: homing seek rate, mm/min (``$25``).
        soft_limits: ``$20``.
        hard_limits: ``$21``.
        homing: ``$22``.
        start_locked: start (and come back from power-up) in the Alarm state until homed.
        work_offset: the G54 work coordinate offset, mm (``WPos = MPos − WCO``).
        report_machine_position: status reports carry ``MPos`` (else ``WPos``; ``$10``).
        probe_on_contact: the probe pin (``Pn:P``) reads triggered while the droplet touches.
    """

    travel: tuple[tuple[float, float], ...] = ((0.0, 150.0), (0.0, 150.0), (0.0, 50.0))
    home: Vector = (0.0, 0.0, 50.0)
    max_rate: Vector = (3000.0, 3000.0, 1000.0)
    homing_rate: float = 1500.0
    soft_limits: bool = True
    hard_limits: bool = True
    homing: bool = True
    start_locked: bool = True
    work_offset: Vector = (0.0, 0.0, 0.0)
    report_machine_position: bool = True
    probe_on_contact: bool = True


@dataclass
class Segment:
    """One queued straight move, in machine coordinates."""

    start: Vector
    end: Vector
    feed: float
    """Effective rate, mm/min."""
    elapsed: float = 0.0
    """Simulated seconds already moved."""
    stop_fraction: float | None = None
    """Where along the move a limit switch trips (hard limit or injected alarm)."""

    @property
    def duration(self) -> float:
        """Simulated seconds the whole move takes."""
        return math.dist(self.start, self.end) / self.feed * 60.0

    def point(self, fraction: float) -> Vector:
        """The position at ``fraction`` (0..1) of the move."""
        s, e = self.start, self.end
        return tuple(a + (b - a) * fraction for a, b in zip(s, e, strict=True))  # type: ignore[return-value]


@dataclass
class _Modal:
    motion: int = 0
    inches: bool = False
    incremental: bool = False
    feed: float = 0.0


class GrblMachine:
    """One simulated GRBL controller.

    Args:
        settings: its configuration.
        time_scale: simulated seconds per wall second (0 = instant).
        stage: its place in the shared world (updated on every change).
        clock: wall-clock source, s (tests may pass a fake).
    """

    def __init__(
        self,
        settings: MachineSettings | None = None,
        *,
        time_scale: float = 0.0,
        stage: StageState | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must be ≥ 0, got {time_scale}")
        self.settings = settings or MachineSettings()
        self.time_scale = time_scale
        self.lock = threading.RLock()
        self.stage = stage or StageState("grbl")
        self.stage.tracker = self.update
        self._monotonic = clock
        self.interrupt = threading.Event()
        """Set when the twin stops: ends a homing or dwell wait early."""
        self.position: Vector = self.settings.home
        self.offset: Vector = self.settings.work_offset
        self.segments: deque[Segment] = deque()
        self.state = "Alarm" if (self.settings.homing and self.settings.start_locked) else "Idle"
        self.critical = False
        self.modal = _Modal()
        self.pushed: list[str] = []
        self.pending_alarm: int | None = None
        """Fault: the next move trips a limit switch half way (``ALARM:<code>``)."""
        self._updated = self._monotonic()
        self._reports = 0
        self._report_offset = True
        self._sync_stage()

    # -- time ---------------------------------------------------------------------------------
    def update(self) -> None:
        """Advance motion to now."""
        with self.lock:
            now = self._monotonic()
            elapsed = now - self._updated
            self._updated = now
            if self.state == "Run":
                self._advance(math.inf if self.time_scale == 0 else elapsed * self.time_scale)
            self._sync_stage()

    def _advance(self, seconds: float) -> None:
        while self.segments and seconds > 0:
            segment = self.segments[0]
            trip_at = (
                math.inf
                if segment.stop_fraction is None
                else segment.stop_fraction * segment.duration
            )
            remaining = min(segment.duration, trip_at) - segment.elapsed
            if seconds < remaining:
                segment.elapsed += seconds
                self.position = segment.point(segment.elapsed / segment.duration)
                return
            seconds -= remaining
            if segment.stop_fraction is not None:
                self.position = segment.point(segment.stop_fraction)
                self._raise_alarm(1)
                return
            self.position = segment.end
            self.segments.popleft()
        if not self.segments:
            self.state = "Idle"

    def remaining_time(self) -> float:
        """Simulated seconds until queued motion ends (``inf`` while held)."""
        with self.lock:
            self.update()
            if not self.segments:
                return 0.0
            if self.state != "Run":
                return math.inf
            return sum(segment.duration - segment.elapsed for segment in self.segments)

    def _sync_stage(self) -> None:
        self.stage.machine_position = self.position
        self.stage.work_position = self.work_position
        self.stage.state = self.state

    @property
    def work_position(self) -> Vector:
        """WPos = MPos − WCO, mm."""
        return _sub(self.position, self.offset)

    # -- alarms and realtime commands ---------------------------------------------------------
    def _raise_alarm(self, code: int) -> None:
        self.segments.clear()
        self.state = "Alarm"
        self.pushed.append(f"ALARM:{code}")
        if code in (1, 2):
            self.critical = True
            self.pushed.append("[MSG:Reset to continue]")

    def locked_out(self) -> bool:
        """Whether a critical alarm blocks everything but a soft reset."""
        with self.lock:
            return self.critical

    def take_pushed(self) -> list[str]:
        """Push messages waiting to be sent (alarms raised meanwhile)."""
        with self.lock:
            self.update()
            pushed, self.pushed = self.pushed, []
            return pushed

    def feed_hold(self) -> None:
        """``!``: hold motion (the twin decelerates instantly: ``Hold:0``)."""
        with self.lock:
            self.update()
            if self.state in ("Idle", "Run"):
                self.state = "Hold"
            self._sync_stage()

    def cycle_start(self) -> None:
        """``~``: resume after a hold."""
        with self.lock:
            self.update()
            if self.state == "Hold":
                self.state = "Run" if self.segments else "Idle"
            self._sync_stage()

    def soft_reset(self) -> list[str]:
        """Ctrl-X: stop, drop queued motion, reinitialise; return what GRBL prints."""
        with self.lock:
            self.update()
            out: list[str] = []
            if self.state == "Run" and self.segments:
                self._raise_alarm(3)
                out.extend(self.pushed)
                self.pushed.clear()
            self.segments.clear()
            self.critical = False
            self.modal = _Modal()
            self._report_offset = True
            if self.state != "Alarm":
                self.state = "Idle"
            out += ["", f"Grbl {VERSION} ['$' for help]"]
            if self.state == "Alarm":
                out.append("[MSG:'$H'|'$X' to unlock]")
            self._sync_stage()
            return out

    def status_report(self) -> str:
        """The ``?`` report: ``<Idle|MPos:0.000,0.000,50.000|FS:0,0|WCO:...>``."""
        with self.lock:
            self.update()
            state = "Hold:0" if self.state == "Hold" else self.state
            if self.settings.report_machine_position:
                fields = [state, "MPos:" + _fmt(self.position)]
            else:
                fields = [state, "WPos:" + _fmt(self.work_position)]
            moving = self.state == "Run" and self.segments
            feed = self.segments[0].feed if moving else 0.0
            fields.append(f"FS:{feed:.0f},0")
            if self.settings.probe_on_contact and self.stage.touching():
                fields.append("Pn:P")
            self._reports += 1
            if self._report_offset or self._reports % _REPORT_WCO_EVERY == 0:
                fields.append("WCO:" + _fmt(self.offset))
                self._report_offset = False
            return "<" + "|".join(fields) + ">"

    # -- line commands ------------------------------------------------------------------------
    def home(self) -> tuple[int | None, float]:
        """``$H``: (error code or ``None``, simulated seconds homing takes)."""
        with self.lock:
            self.update()
            if not self.settings.homing:
                return 5, 0.0
            if self.state not in ("Idle", "Alarm"):
                return 8, 0.0
            pairs = zip(self.position, self.settings.home, strict=True)
            distance = max(abs(a - b) for a, b in pairs)
            self.state = "Home"
            self._sync_stage()
            return None, distance / self.settings.homing_rate * 60.0

    def finish_homing(self) -> None:
        """Homing is over: at the home position, Idle."""
        with self.lock:
            self.position = self.settings.home
            self.state = "Idle"
            self._updated = self._monotonic()
            self._sync_stage()

    def unlock(self) -> tuple[int | None, list[str]]:
        """``$X``: (error code or ``None``, feedback messages)."""
        with self.lock:
            self.update()
            if self.state == "Alarm":
                self.state = "Idle"
                self._sync_stage()
                return None, ["[MSG:Caution: Unlocked]"]
            if self.state not in ("Idle",):
                return 8, []
            return None, []

    def _apply_modal(self, block: Block) -> None:
        modal = self.modal
        units = block.g.get("units")
        if units is not None:
            modal.inches = units == 20
        distance = block.g.get("distance")
        if distance is not None:
            modal.incremental = distance == 91
        motion = block.g.get("motion")
        if motion in (0, 1):
            modal.motion = motion
        if "F" in block.words:
            modal.feed = block.words["F"] * (25.4 if modal.inches else 1.0)

    def execute(self, block: Block) -> int | None:
        """Run one G-code block; return an error code, ``None`` (``ok``) or :data:`NO_REPLY`."""
        with self.lock:
            self.update()
            if self.state == "Alarm":
                return 9
            self._apply_modal(block)
            modal = self.modal
            axes = block.axes
            if not axes:
                return None
            if modal.motion == 1 and modal.feed <= 0:
                return 22
            target = self._target(axes, machine=block.g.get("non_modal") == 53)
            return self._queue(target, math.inf if modal.motion == 0 else modal.feed)

    def _target(self, axes: dict[str, float], *, machine: bool) -> Vector:
        scale = 25.4 if self.modal.inches else 1.0
        start = self.segments[-1].end if self.segments else self.position
        result = list(start)
        for index, axis in enumerate("XYZ"):
            if axis not in axes:
                continue
            value = axes[axis] * scale
            if self.modal.incremental:
                result[index] = start[index] + value
            else:
                result[index] = value + (0.0 if machine else self.offset[index])
        return result[0], result[1], result[2]

    def _queue(self, target: Vector, feed: float) -> int | None:
        start = self.segments[-1].end if self.segments else self.position
        distance = math.dist(start, target)
        if distance == 0:
            return None
        inside = _inside(target, self.settings.travel)
        if self.settings.soft_limits and not inside:
            self._raise_alarm(2)
            self._sync_stage()
            return NO_REPLY
        rate = min(
            [feed]
            + [
                limit * distance / abs(b - a)
                for a, b, limit in zip(start, target, self.settings.max_rate, strict=True)
                if b != a
            ]
        )
        segment = Segment(start, target, rate)
        if self.pending_alarm is not None:
            segment.stop_fraction = 0.5
            self.pending_alarm = None
        elif self.settings.hard_limits and not inside:
            segment.stop_fraction = _crossing(start, target, self.settings.travel)
        self.segments.append(segment)
        if self.state == "Idle":
            self.state = "Run"
        self._updated = self._monotonic()
        if self.time_scale == 0 and self.state == "Run":
            self._advance(math.inf)
        self._sync_stage()
        return None

    def start_probe(self, block: Block) -> int | float:
        """``G38.2``/``G38.3``: an error code, or simulated seconds until the probe ends.

        The probe moves toward the target and stops where the droplet meets the substrate (the
        probe pin triggers); :meth:`finish_probe` gives the reply when the time has passed.
        """
        with self.lock:
            self.update()
            if self.state == "Alarm":
                return 9
            self._apply_modal(block)
            if self.modal.feed <= 0:
                return 22
            self._probe = None
            if self.stage.touching():
                self._raise_alarm(4)  # the probe is already triggered
                return 0.0
            target = self._target(block.axes, machine=False)
            if self.settings.soft_limits and not _inside(target, self.settings.travel):
                self._raise_alarm(2)
                self._sync_stage()
                return NO_REPLY
            start = self.segments[-1].end if self.segments else self.position
            stop, touched = target, False
            surface = None if self.stage.contact_lost else self.stage.contact_z
            if surface is not None and start[2] > surface >= target[2]:
                fraction = (start[2] - surface) / (start[2] - target[2])
                stop = Segment(start, target, 1.0).point(fraction)
                stop, touched = (stop[0], stop[1], surface), True
            no_error = block.g.get("motion") == PROBE_NO_ERROR
            self._probe = (touched, no_error, stop)
            if math.dist(start, stop) > 0:
                self._queue(stop, self.modal.feed)
            return self.remaining_time()

    def finish_probe(self) -> list[str]:
        """The reply to a probe whose time has passed: ``[PRB:x,y,z:1]``, ``ok`` (or alarm 5)."""
        with self.lock:
            self.update()
            if self.state == "Run":  # ended early (the twin is stopping): finish the motion
                self._advance(math.inf)
                self._sync_stage()
            probe, self._probe = self._probe, None
            lines = self.take_pushed()
            if probe is None:
                return [*lines, "ok"]
            touched, no_error, stop = probe
            if touched:
                return [*lines, f"[PRB:{_fmt(stop)}:1]", "ok"]
            if not no_error:
                self._raise_alarm(5)
                lines += self.take_pushed()
            return [*lines, f"[PRB:{_fmt(self.position)}:0]", "ok"]

    _probe: tuple[bool, bool, Vector] | None = None

    def settings_lines(self) -> list[str]:
        """``$$``: the settings this twin models."""
        s = self.settings
        lines = [
            "$10=" + ("1" if s.report_machine_position else "0"),
            f"$20={int(s.soft_limits)}",
            f"$21={int(s.hard_limits)}",
            f"$22={int(s.homing)}",
            f"$25={s.homing_rate:.3f}",
        ]
        lines += [f"$11{index}={rate:.3f}" for index, rate in enumerate(s.max_rate)]
        lines += [f"$13{index}={high - low:.3f}" for index, (low, high) in enumerate(s.travel)]
        return lines


def _inside(point: Sequence[float], travel: Sequence[tuple[float, float]]) -> bool:
    pairs = zip(point, travel, strict=True)
    return all(low - 1e-9 <= value <= high + 1e-9 for value, (low, high) in pairs)


def _crossing(start: Vector, end: Vector, travel: Sequence[tuple[float, float]]) -> float:
    """The fraction of the move start → end at which it first leaves the travel."""
    fraction = 1.0
    for a, b, (low, high) in zip(start, end, travel, strict=True):
        if b > high and b != a:
            fraction = min(fraction, max(0.0, (high - a) / (b - a)))
        if b < low and b != a:
            fraction = min(fraction, max(0.0, (low - a) / (b - a)))
    return fraction


def _sub(a: Vector, b: Vector) -> Vector:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def _fmt(vector: Vector) -> str:
    return ",".join(f"{value:.3f}" for value in vector)
