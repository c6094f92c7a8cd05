r"""Driver for GRBL v1.1 G-code motion controllers (most lab-built XYZ stages) over serial.

The address is any pyserial port or URL (``/dev/ttyUSB0``, ``socket://127.0.0.1:PORT`` for a
twin); GRBL's serial settings are 115200 8-N-1 (commands.md, "Getting Started"). The wire format
is in :mod:`labctl.devices.stage.grbl_protocol`.

How the driver talks (interface.md, "Streaming Protocol: Simple Send-Response"): one line at a
time, each answered ``ok`` or ``error:N`` before the next is sent; push messages met on the way
(``[MSG:...]``, settings, status reports) are skipped. A move is
``G90 G21 G1 X.. Y.. Z.. F..`` (absolute, mm, feed in mm/min); GRBL answers ``ok`` as soon as
the move is *queued*, so the driver then polls ``?`` status reports until the controller is
``Idle`` at the target, with a deadline of distance/feed plus a margin — never a guessed sleep.
Polling follows the documentation's advice of at most 5 Hz by default (interface.md, "Status
Reporting"). Positions are work coordinates (``WPos = MPos − WCO``, the last ``WCO:`` seen).

Homing (``$H``) and probing (``G38.2``/``G38.3``, reported as ``[PRB:x,y,z:1]``) are answered
only when they are over (commands.md, "``$H``"; GRBL sends no status reports while homing).

Errors: ``error:N`` raises :class:`~labctl.devices.stage.errors.StageCommandError` and
``ALARM:N`` :class:`~labctl.devices.stage.errors.StageAlarm`, both naming the code's meaning.
After a critical alarm (hard or soft limit) GRBL accepts nothing but a soft reset, so the driver
sends one (the controller then stays in the Alarm state: home or unlock to move again).
A silent controller raises :class:`~labctl.errors.DeviceTimeout`, a dropped link
:class:`~labctl.errors.DeviceConnectionError`, bytes that are no GRBL message
:class:`~labctl.errors.ProtocolError`. After a timeout or garbage the next call re-synchronises
on a status report with the port left open (reopening a USB port resets an Arduino-based GRBL
and loses the homed position); after a lost connection it reopens the port first.

Stopping (:meth:`GrblDriver.halt`): ``!`` feed hold (the machine decelerates and holds, position
kept), wait for ``Hold:0`` (hold complete) or ``Idle``, then Ctrl-X soft reset, which discards the
queued motion; a reset after a completed hold raises no alarm (interface.md, "Machine State").
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeAlias, TypeVar

from labctl.devices.stage.errors import MoveStopped, StageAlarm, StageCommandError
from labctl.devices.stage.grbl_protocol import (
    BUILD_INFO,
    FEED_HOLD,
    HOME,
    SOFT_RESET,
    STATUS_QUERY,
    UNLOCK,
    Alarm,
    Banner,
    ErrorReply,
    Message,
    Ok,
    Reply,
    StatusReport,
    format_move,
    parse_probe,
    parse_reply,
)
from labctl.errors import CommunicationError, DeviceConnectionError, DeviceTimeout, ProtocolError
from labctl.transports.line import BufferedLineTransport
from labctl.transports.link import LineInstrumentLink

__all__ = ["GrblDriver", "StagePosition"]

StagePosition: TypeAlias = tuple[float, float, float]
"""X, Y, Z in work coordinates, mm."""

_T = TypeVar("_T")

AT_TARGET = 0.002
"""Largest distance, mm, between a reported position and the target that counts as arrived
(GRBL reports three decimals in mm mode)."""
_MAX_STRAY_LINES = 1000


class GrblDriver(LineInstrumentLink):
    """A GRBL v1.1 controller: homing, absolute moves, status, alarms, hold/resume/reset.

    Args:
        address: a pyserial port or URL.
        device: the device's name, for messages.
        timeout: seconds to wait for any one reply line.
        baudrate: for real serial ports (ignored by ``socket://``).
        transport: a line transport to use instead of a :class:`SerialTransport` (tests pass a
            :class:`~labctl.transports.memory.MemoryTransport`).
        poll_interval: seconds between status queries while waiting for motion.
        motion_margin: seconds added to distance/feed for acceleration and latency.
        homing_timeout: longest wait for a homing cycle, s.
        connect_timeout: how long to keep asking for a first status report, s (default:
            ``timeout``). Opening a USB serial port resets an Arduino-based controller, whose
            bootloader drops what arrives in its first second or two.
    """

    def __init__(
        self,
        address: str,
        *,
        device: str,
        timeout: float,
        baudrate: int = 115200,
        transport: BufferedLineTransport | None = None,
        poll_interval: float = 0.2,
        motion_margin: float = 2.0,
        homing_timeout: float = 60.0,
        connect_timeout: float | None = None,
    ) -> None:
        if poll_interval <= 0 or motion_margin < 0 or homing_timeout <= 0:
            raise ValueError("poll_interval and homing_timeout must be > 0, motion_margin ≥ 0")
        super().__init__(
            address, device=device, timeout=timeout, baudrate=baudrate, transport=transport
        )
        self.poll_interval = poll_interval
        self.motion_margin = motion_margin
        self.homing_timeout = homing_timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._offset: StagePosition = (0.0, 0.0, 0.0)
        self.last_status: StatusReport | None = None
        self.position: StagePosition | None = None
        """Last reported work position, mm (``None`` before the first report)."""
        self.on_position: Callable[[StagePosition], None] | None = None
        """Called with the work position of every status report (live readbacks)."""

    # -- connection ---------------------------------------------------------------------------
    def identify(self) -> str:
        """``GRBL <version>`` and the build string, from ``$I``."""
        messages = self._guarded(lambda: self._command(BUILD_INFO))
        for text in messages:
            if text.startswith("[VER:") and text.endswith("]"):
                version, _, build = text[5:-1].partition(":")
                return f"GRBL {version}" + (f" ({build})" if build else "")
        return "GRBL"

    def _synchronise(self) -> None:
        """Wait for a first status report: a GRBL controller answers, in step with the driver."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                self._transport.discard_input()
                self._read_status()
                break
            except StageAlarm:
                raise  # the controller answered; the next call re-synchronises once more
            except (DeviceTimeout, ProtocolError):
                # A controller still booting after the port opened, or stale bytes of an
                # earlier failure: ask again until the connect timeout runs out.
                if time.monotonic() < deadline:
                    continue
                raise
            except CommunicationError:
                self._drop()
                raise

    def _guarded(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` in step with the controller.

        After a timeout or an unreadable reply the next call re-synchronises on a status
        report; only a lost connection closes the port. (Reopening a USB serial port resets an
        Arduino-based GRBL, which would lose the homed position.)
        """
        with self._lock:
            self._ensure_open()
            try:
                return action()
            except StageAlarm:
                # GRBL may still send the ``ok`` of the line the alarm interrupted: the next
                # call re-synchronises on a status report, which skips it.
                self._synced = False
                raise
            except StageCommandError:
                raise
            except DeviceConnectionError:
                self._drop()
                raise
            except CommunicationError:
                self._synced = False
                raise

    # -- the line protocol --------------------------------------------------------------------
    def _context(self) -> tuple[str, str, object]:
        return (self.device, self.address, self._transport.last_sent)

    def _read(self, timeout: float | None = None) -> Reply:
        line = self._transport.read_line(timeout)
        return parse_reply(line, self._context())

    def _command(self, line: bytes, timeout: float | None = None) -> list[str]:
        """Send one line; return the push messages before its ``ok``.

        Raises:
            StageCommandError: ``error:N``.
            StageAlarm: ``ALARM:N`` arrived instead.
        """
        self._transport.write(line)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        messages: list[str] = []
        for _ in range(_MAX_STRAY_LINES):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            reply = self._read(remaining)
            if isinstance(reply, Ok):
                return messages
            if isinstance(reply, ErrorReply):
                raise StageCommandError(
                    self.device, self.address, reply.code, reply.meaning, sent=line
                )
            if isinstance(reply, Alarm):
                raise self._alarm(reply, line)
            if isinstance(reply, Banner):
                raise ProtocolError(
                    self.device,
                    self.address,
                    "the controller reset while a command was pending",
                    sent=line,
                    expected="ok or error:N",
                    received=f"Grbl {reply.version}",
                )
            if isinstance(reply, StatusReport):
                self._note(reply)
            elif isinstance(reply, Message):
                messages.append(reply.text)
        raise DeviceTimeout(
            self.device,
            self.address,
            f"no ok or error:N within {wait:g} s",
            sent=line,
            expected="ok or error:N",
        )

    def _alarm(self, alarm: Alarm, sent: object) -> StageAlarm:
        """The error for ``alarm``; after a critical one, soft-reset so GRBL listens again."""
        if alarm.critical:
            self._reset()
        return StageAlarm(self.device, self.address, alarm.code, alarm.meaning, sent=sent)

    def _reset(self) -> None:
        """Ctrl-X, then read up to the welcome message (alarms met on the way are expected)."""
        self._transport.write(SOFT_RESET)
        deadline = time.monotonic() + self.timeout
        for _ in range(_MAX_STRAY_LINES):
            reply = self._read(max(deadline - time.monotonic(), 1e-3))
            if isinstance(reply, Banner):
                return
        raise ProtocolError(
            self.device, self.address, "no welcome message after a soft reset", sent=SOFT_RESET
        )

    def _read_status(self) -> StatusReport:
        """``?`` → the next status report (push messages before it skipped).

        Raises:
            StageAlarm: an ``ALARM:N`` arrived first.
        """
        self._transport.write(STATUS_QUERY)
        deadline = time.monotonic() + self.timeout
        for _ in range(_MAX_STRAY_LINES):
            reply = self._read(max(deadline - time.monotonic(), 1e-3))
            if isinstance(reply, StatusReport):
                self._note(reply)
                return reply
            if isinstance(reply, Alarm):
                raise self._alarm(reply, STATUS_QUERY)
        raise ProtocolError(
            self.device, self.address, "too many lines without a status report", sent=b"?"
        )

    def _note(self, report: StatusReport) -> None:
        if report.work_offset is not None:
            self._offset = report.work_offset
        _, self.position = report.positions(self._offset)
        self.last_status = report
        if self.on_position is not None:
            self.on_position(self.position)

    # -- what a stage does --------------------------------------------------------------------
    def status(self) -> StatusReport:
        """The controller's status now (state, positions, feed, pins)."""
        return self._guarded(self._read_status)

    @property
    def work_offset(self) -> StagePosition:
        """The last work coordinate offset reported (``WCO``), mm."""
        return self._offset

    def home(self) -> StagePosition:
        """Run the homing cycle (``$H``); return the work position afterwards.

        GRBL answers ``$H`` only when homing is over (no status reports meanwhile), so this
        waits up to ``homing_timeout``.
        """

        def run() -> StagePosition:
            self._command(HOME, timeout=self.homing_timeout)
            return self._position_now()

        return self._guarded(run)

    def unlock(self) -> None:
        """Clear the alarm lock (``$X``): only after checking the stage may move safely."""
        self._guarded(lambda: self._command(UNLOCK))

    def feed_hold(self) -> None:
        """``!``: decelerate to a stop and hold (resume with :meth:`resume`)."""
        self._guarded(lambda: self._transport.write(FEED_HOLD))

    def resume(self) -> None:
        """``~``: resume after a feed hold."""
        self._guarded(lambda: self._transport.write(b"~"))

    def soft_reset(self) -> None:
        """Ctrl-X: stop at once and discard queued motion (an alarm if the stage was moving)."""
        self._guarded(self._reset)

    def halt(self) -> StagePosition:
        """Feed hold, wait until the stage stands still, then soft-reset; return the position.

        Position is kept (the reset comes after the hold completed), queued motion is dropped.
        """

        def run() -> StagePosition:
            self._halt()
            return self._position_now()

        return self._guarded(run)

    def _halt(self) -> None:
        self._transport.write(FEED_HOLD)
        deadline = time.monotonic() + self.timeout + self.motion_margin
        while True:
            report = self._read_status()
            held = report.state == "Hold" and report.substate != 1
            if held or report.state in ("Idle", "Alarm"):
                break
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    self.device,
                    self.address,
                    "the stage did not come to a hold",
                    sent=FEED_HOLD,
                    expected="<Hold:0|...> or <Idle|...>",
                )
            time.sleep(min(self.poll_interval, 0.05))
        self._reset()

    def _position_now(self) -> StagePosition:
        self._read_status()
        assert self.position is not None
        return self.position

    def probe(
        self,
        target: tuple[float | None, float | None, float | None],
        feed: float,
        *,
        require_contact: bool = True,
    ) -> StagePosition | None:
        """Probe toward ``target`` (work mm) at ``feed`` mm/min; stop where the probe triggers.

        For a droplet cell whose contact sensor is wired to the probe input: landing in one
        controller command (``G38.2``; ``G38.3`` when ``require_contact`` is false). GRBL
        answers when the probe cycle is over, after a ``[PRB:x,y,z:1]`` report.

        Returns:
            The work position where contact was made (``None``: no contact, with
            ``require_contact=False``).

        Raises:
            StageAlarm: alarm 5 (no contact within the travel) or 4 (already in contact).
        """
        mode: Literal["G38.2", "G38.3"] = "G38.2" if require_contact else "G38.3"
        line = format_move(target, feed, mode=mode)

        def run() -> StagePosition | None:
            start = self._position_now()
            goal = _goal(start, target)
            budget = math.dist(start, goal) / feed * 60.0 + self.motion_margin + self.timeout
            messages = self._command(line, timeout=budget)
            found = [m for m in messages if m.startswith("[PRB:")]
            if not found:
                raise ProtocolError(
                    self.device,
                    self.address,
                    "no probe report before ok",
                    sent=line,
                    expected="[PRB:x,y,z:0|1]",
                    received=messages,
                )
            machine, touched = parse_probe(found[-1], self._context())
            self._position_now()
            if not touched:
                return None
            x, y, z = (m - o for m, o in zip(machine, self._offset, strict=True))
            return x, y, z

        return self._guarded(run)

    def move_to(
        self,
        target: tuple[float | None, float | None, float | None],
        feed: float,
        *,
        stop: threading.Event | None = None,
    ) -> StagePosition:
        """Move to ``target`` (work coordinates, mm; ``None`` = axis stays) at ``feed`` mm/min.

        Returns once the controller reports ``Idle`` at the target.

        Raises:
            StageAlarm: an alarm (limit, reset) stopped the move, or the stage is in alarm.
            StageCommandError: the controller refused the move.
            MoveStopped: ``stop`` was set; the stage was held and reset (position kept).
            DeviceTimeout: not at the target within distance/feed + margin.
        """
        line = format_move(target, feed)
        return self._guarded(lambda: self._move(line, target, feed, stop))

    def _move(
        self,
        line: bytes,
        target: tuple[float | None, float | None, float | None],
        feed: float,
        stop: threading.Event | None,
    ) -> StagePosition:
        start = self._position_now()
        report = self.last_status
        assert report is not None
        if report.state == "Alarm":
            raise StageCommandError(
                self.device,
                self.address,
                9,
                "the controller is in the Alarm state; home or unlock it before moving",
                sent=line,
            )
        goal = _goal(start, target)
        distance = math.dist(start, goal)
        self._command(line)
        budget = distance / feed * 60.0 + self.motion_margin
        deadline = time.monotonic() + budget
        while True:
            if stop is not None and stop.is_set():
                self._halt()
                position = self._position_now()
                raise MoveStopped(
                    f"{self.device}: move to {_text(goal)} mm stopped at {_text(position)} mm "
                    "(feed hold, then reset)"
                )
            report = self._read_status()
            assert self.position is not None
            if report.state == "Idle" and _arrived(self.position, goal):
                return self.position
            if report.state in ("Alarm", "Door", "Sleep"):
                raise StageAlarm(
                    self.device,
                    self.address,
                    0,
                    f"the controller entered the {report.state} state during the move",
                    sent=line,
                )
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    self.device,
                    self.address,
                    f"move not finished within {budget:.3g} s (distance {distance:.3f} mm at "
                    f"{feed:g} mm/min + {self.motion_margin:g} s); state {report.state} at "
                    f"{_text(self.position)} mm",
                    sent=line,
                    expected=f"<Idle|...> at {_text(goal)} mm",
                )
            if stop is not None:
                stop.wait(self.poll_interval)
            else:
                time.sleep(self.poll_interval)


def _goal(
    start: StagePosition, target: tuple[float | None, float | None, float | None]
) -> StagePosition:
    x, y, z = (now if want is None else want for now, want in zip(start, target, strict=True))
    return x, y, z


def _arrived(position: StagePosition, goal: tuple[float, ...]) -> bool:
    return all(abs(a - b) <= AT_TARGET for a, b in zip(position, goal, strict=True))


def _text(position: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{value:.3f}" for value in position) + ")"
