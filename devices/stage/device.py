"""The XYZ motion stage as one ophyd device: an axis per direction, positions in mm.

:class:`Stage` has three movable axes, ``stage.x``, ``stage.y``, ``stage.z``
(``bps.mv(stage.z, 2.5)``; a pint length is accepted too), and :meth:`Stage.move_to` for a
combined move (``bps.mv(stage, {"x": 10, "y": 20})`` does the same). Each ``set`` returns a
status that finishes when the controller reports ``Idle`` at the target, or fails with the
controller's alarm or error (named, with its meaning). Moves run one after another on a worker
thread; the RunEngine's loop never waits on the wire.

:meth:`Stage.home` runs the homing cycle, :meth:`Stage.unlock` clears an alarm lock, and
:meth:`Stage.probe` approaches a target until the controller's probe input triggers (a droplet
cell's contact sensor wired to it), leaving the contact position in ``last_probe``.

Safety: the configured ``limits`` (travel per axis, a Z floor, a feed ceiling; see
:mod:`labctl.devices.stage.limits`) are checked when ``set``/``move_to`` is called, before
anything is sent — a refused move raises :class:`~labctl.errors.SafetyLimitError` at once.

Stopping: :meth:`Stage.stop` (RunEngine abort, halt, pause, end of a run) does nothing when the
stage is still; during a move it sends a feed hold, waits until the stage stands, then a soft
reset (position kept, queued motion dropped) and returns. ``success=True`` (pause, suspend:
the RunEngine re-issues the move on resume) finishes the move's status; ``success=False``
fails it with :class:`~labctl.devices.stage.errors.MoveStopped`. Homing and probing are single
controller commands that GRBL answers only when done; a stop waits for them to end.

Readings: ``<name>_x``, ``<name>_y``, ``<name>_z`` (reported work positions, mm, hinted) and
their ``_setpoint`` (mm), with units ``mm`` in ``describe()`` — the stage's own unit, kept in
documents because it is how stage coordinates are written everywhere.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeAlias

import pint
from ophyd import Component, Device, Signal
from ophyd.status import DeviceStatus, Status
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import (
    QUANTITY_SERIALIZER,
    DeviceConfig,
    Duration,
    quantity_validator,
)
from labctl.devices.stage.errors import MoveStopped
from labctl.devices.stage.grbl import GrblDriver, StagePosition
from labctl.devices.stage.limits import StageLimits, Target, limit_issues
from labctl.errors import CommunicationError, ConfigIssue, UnitError
from labctl.units import Quantity, parse_quantity, to_magnitude

__all__ = ["Stage", "StageAxis", "StageOptions"]

Speed: TypeAlias = Annotated[Quantity, quantity_validator("mm/min"), QUANTITY_SERIALIZER]
_AXES = ("x", "y", "z")
_STOP_WAIT = 30.0
"""Longest wait, s, for a move to be held and reset; the driver's own timeouts end it sooner."""


class StageOptions(BaseModel):
    """``options`` of a ``stage`` device.

    Args:
        feed: feed rate of moves unless one is given (e.g. ``"600 mm/min"``).
        poll_interval: time between status queries while moving (GRBL advises ≤ 5 Hz).
        motion_margin: added to distance/feed before a move counts as overdue.
        homing_timeout: longest homing cycle.
        baudrate: serial baud rate (GRBL's default is 115200; ignored by ``socket://``).
        home_on_connect: run the homing cycle when the lab connects (the stage moves!).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    feed: Speed = Field(default_factory=lambda: parse_quantity("600 mm/min", "mm/min"))
    poll_interval: Duration = Field(default_factory=lambda: parse_quantity("200 ms"))
    motion_margin: Duration = Field(default_factory=lambda: parse_quantity("2 s"))
    homing_timeout: Duration = Field(default_factory=lambda: parse_quantity("60 s"))
    baudrate: int = Field(default=115200, gt=0)
    home_on_connect: bool = False


class PositionSignal(Signal):  # type: ignore[misc]
    """A position in mm, described with its units and precision."""

    def describe(self) -> dict[str, dict[str, Any]]:
        """The data key with ``units: mm`` and three decimals."""
        description: dict[str, dict[str, Any]] = super().describe()
        key = description[self.name]
        key.update(units="mm", precision=3, dtype="number", shape=[])
        return description


class StageAxis(Device):  # type: ignore[misc]
    """One axis of a :class:`Stage`: ``set(position_mm)`` moves it, ``position`` reads it.

    Args:
        axis: ``"x"``, ``"y"`` or ``"z"``.
    """

    readback = Component(PositionSignal, value=math.nan, kind="hinted")
    setpoint = Component(PositionSignal, value=math.nan, kind="normal")

    def __init__(self, *args: Any, axis: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.axis = axis
        self.readback.name = self.name

    def _owner(self) -> Stage:
        """The stage this axis belongs to (``stage`` is ophyd's staging method)."""
        parent = self.parent
        assert isinstance(parent, Stage)
        return parent

    @property
    def position(self) -> float:
        """The last reported position, mm."""
        return float(self.readback.get())

    def set(self, value: float | str | Quantity) -> DeviceStatus:
        """Move this axis to ``value`` (mm, or a pint length); the others stay.

        Raises:
            SafetyLimitError: outside the configured limits (nothing is sent).
        """
        target: list[float | str | Quantity | None] = [None, None, None]
        target[_AXES.index(self.axis)] = value
        return self._owner().move_to(*target, obj=self)

    def stop(self, *, success: bool = False) -> None:
        """Stop the stage (see :meth:`Stage.stop`)."""
        self._owner().stop(success=success)


class Stage(Device):  # type: ignore[misc]
    """An XYZ stage driven by a G-code controller.

    Build it with :meth:`from_config`, or directly with a driver (tests, notebooks).

    Args:
        driver: the controller's driver.
        limits: the travel limits every move is checked against.
        feed: default feed rate, mm/min.
    """

    Options: ClassVar[type[BaseModel]] = StageOptions

    x = Component(StageAxis, axis="x", kind="hinted")
    y = Component(StageAxis, axis="y", kind="hinted")
    z = Component(StageAxis, axis="z", kind="hinted")
    state = Component(Signal, value="", kind="config")

    def __init__(
        self,
        *,
        driver: GrblDriver,
        limits: StageLimits | None = None,
        feed: float = 600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("labels", {"motors", "stages"})
        super().__init__(**kwargs)
        self.driver = driver
        self.limits = limits or StageLimits()
        self.feed = feed
        self._move_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._stopped_cleanly = False
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()
        self.home_on_connect = False
        self.last_probe: StagePosition | None = None
        """Where the last :meth:`probe` made contact (work coordinates, mm)."""
        driver.on_position = self._on_position

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: StageOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options and limits of stage ``name``, with key paths."""
        del options
        return limit_issues(name, config.limits)

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: StageOptions
    ) -> Stage:
        """Build stage ``name`` talking to ``address`` (not yet connected)."""
        driver = GrblDriver(
            address,
            device=name,
            timeout=to_magnitude(config.timeout.read, "s"),
            baudrate=options.baudrate,
            poll_interval=to_magnitude(options.poll_interval, "s"),
            motion_margin=to_magnitude(options.motion_margin, "s"),
            homing_timeout=to_magnitude(options.homing_timeout, "s"),
            connect_timeout=to_magnitude(config.timeout.connect, "s"),
        )
        stage = cls(
            driver=driver,
            limits=StageLimits.from_config(config.limits),
            feed=to_magnitude(options.feed, "mm/min"),
            name=name,
        )
        stage.home_on_connect = options.home_on_connect
        return stage

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the link, check a GRBL controller answers, and read where the stage is.

        Raises:
            CommunicationError: unreachable, silent, or not a GRBL controller.
        """
        self.driver.open()
        self._publish()
        if self.home_on_connect:
            self.home().wait(self.driver.homing_timeout + self.driver.timeout)

    def close(self) -> None:
        """Stop a move in progress and close the link."""
        self.stop()
        self.driver.close()

    # -- moving -------------------------------------------------------------------------------
    @property
    def position(self) -> tuple[float, float, float]:
        """The last reported work position (X, Y, Z), mm."""
        return self.x.position, self.y.position, self.z.position

    def set(
        self, value: Mapping[str, float | str | Quantity] | Sequence[float | str | Quantity]
    ) -> Status:
        """``bps.mv(stage, {"x": 10, "z": 5})`` or ``(x, y, z)``: see :meth:`move_to`."""
        if isinstance(value, Mapping):
            unknown = set(value) - set(_AXES)
            if unknown:
                raise ValueError(f"{self.name}: axes are x, y, z, not {sorted(unknown)}")
            return self.move_to(value.get("x"), value.get("y"), value.get("z"))
        if len(value) != 3:
            raise ValueError(f"{self.name}: a position is (x, y, z), got {value!r}")
        return self.move_to(*value)

    def move_to(
        self,
        x: float | str | Quantity | None = None,
        y: float | str | Quantity | None = None,
        z: float | str | Quantity | None = None,
        *,
        feed: float | str | Quantity | None = None,
        obj: Any = None,
    ) -> DeviceStatus:
        """Move to (x, y, z) in mm (or pint lengths; ``None``: the axis stays) at ``feed``.

        Returns a status that finishes when the controller reports Idle at the target.

        Raises:
            SafetyLimitError: outside the configured limits (nothing is sent).
            UnitError: a value is not a length (or ``feed`` not a speed).
        """
        target: Target = (_mm(x, "x"), _mm(y, "y"), _mm(z, "z"))
        if all(value is None for value in target):
            raise ValueError(f"{self.name}: a move needs at least one axis")
        rate = self.feed if feed is None else _rate(feed)
        self.limits.check(self.name, target, rate)
        for axis, value in zip(_AXES, target, strict=True):
            if value is not None:
                getattr(self, axis).setpoint.put(value)
        status = DeviceStatus(obj if obj is not None else self)
        self._spawn(status, "move", lambda stop: self._move(target, rate, stop))
        return status

    def probe(
        self,
        x: float | str | Quantity | None = None,
        y: float | str | Quantity | None = None,
        z: float | str | Quantity | None = None,
        *,
        feed: float | str | Quantity | None = None,
        require_contact: bool = True,
    ) -> DeviceStatus:
        """Move toward (x, y, z) until the controller's probe input triggers (``G38.2``).

        For landing a droplet cell whose contact sensor is wired to the probe input: give the
        lowest Z to try (checked against the limits and Z floor first). The status finishes at
        contact, with the contact position in :attr:`last_probe`; without contact it fails with
        alarm 5 (or, with ``require_contact=False``, finishes with ``last_probe`` ``None``).

        Raises:
            SafetyLimitError: the probe target is outside the limits (nothing is sent).
        """
        target: Target = (_mm(x, "x"), _mm(y, "y"), _mm(z, "z"))
        if all(value is None for value in target):
            raise ValueError(f"{self.name}: a probe needs at least one axis")
        rate = self.feed if feed is None else _rate(feed)
        self.limits.check(self.name, target, rate)
        self.last_probe = None

        def run(_stop: threading.Event) -> None:
            self.last_probe = self.driver.probe(target, rate, require_contact=require_contact)

        status = DeviceStatus(self)
        self._spawn(status, "probe", run)
        return status

    def home(self) -> DeviceStatus:
        """Run the controller's homing cycle (``$H``); clears an alarm lock."""
        status = DeviceStatus(self)
        self._spawn(status, "home", lambda _stop: self.driver.home())
        return status

    def unlock(self) -> DeviceStatus:
        """Clear an alarm lock without homing (``$X``) — only when the position is known."""
        status = DeviceStatus(self)
        self._spawn(status, "unlock", lambda _stop: self.driver.unlock())
        return status

    def _move(self, target: Target, rate: float, stop: threading.Event) -> StagePosition:
        return self.driver.move_to(target, rate, stop=stop)

    def _spawn(self, status: DeviceStatus, what: str, action: Any) -> None:
        stop = self._stop_event
        worker = threading.Thread(
            target=self._run,
            args=(status, what, action, stop),
            name=f"labctl-{self.name}-{what}",
            daemon=True,
        )
        with self._workers_lock:
            self._workers.add(worker)
        worker.start()

    def _run(self, status: DeviceStatus, what: str, action: Any, stop: threading.Event) -> None:
        failure: Exception | None = None
        try:
            with self._move_lock:
                if stop.is_set():
                    raise MoveStopped(f"{self.name}: {what} cancelled by a stop before it began")
                action(stop)
        except MoveStopped as error:
            self._publish_quietly()
            failure = None if self._stopped_cleanly else error
        except Exception as error:
            self._publish_quietly(ask=True)
            failure = error
        else:
            self._publish_quietly()
        # Leave the set of workers before the status completes, so the RunEngine's stop() at
        # the end of a plan finds nothing moving and sends nothing.
        with self._workers_lock:
            self._workers.discard(threading.current_thread())
        if failure is None:
            status.set_finished()
        else:
            status.set_exception(failure)

    def _publish(self) -> None:
        report = self.driver.status()
        self.state.put(report.state)
        self._put_position()

    def _publish_quietly(self, *, ask: bool = False) -> None:
        """Publish the last known state (``ask``: ask the controller first, if it answers)."""
        if ask:
            with contextlib.suppress(CommunicationError):
                self.driver.status()
        report = self.driver.last_status
        if report is not None:
            self.state.put(report.state)
        self._put_position()

    def _put_position(self) -> None:
        position = self.driver.position
        if position is not None:
            self._on_position(position)

    def _on_position(self, position: StagePosition) -> None:
        """Every status report updates the readbacks (live while moving)."""
        for axis, value in zip(_AXES, position, strict=True):
            getattr(self, axis).readback.put(value)

    def stop(self, *, success: bool = False) -> None:
        """Stop a move in progress: feed hold, wait until still, soft reset; then return.

        Nothing is sent when the stage is not moving. ``success=True`` (RunEngine pause and
        suspend) finishes the move's status; ``success=False`` fails it with
        :class:`MoveStopped`.
        """
        with self._workers_lock:
            workers = [w for w in self._workers if w is not threading.current_thread()]
        if not workers:
            return
        self._stopped_cleanly = success
        stop, self._stop_event = self._stop_event, threading.Event()
        stop.set()
        for worker in workers:
            worker.join(timeout=_STOP_WAIT)

    @property
    def moving(self) -> bool:
        """Whether a move, homing or unlock is in progress or queued."""
        with self._workers_lock:
            return bool(self._workers)


def _mm(value: float | str | Quantity | None, axis: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, pint.Quantity):
        if not value.is_compatible_with("mm"):
            raise UnitError(value, f"a length for {axis}", "not a length")
        return to_magnitude(value, "mm")
    if isinstance(value, str):
        return to_magnitude(parse_quantity(value, "[length]"), "mm")
    return float(value)


def _rate(value: float | str | Quantity) -> float:
    if isinstance(value, pint.Quantity):
        if not value.is_compatible_with("mm/min"):
            raise UnitError(value, "a speed (mm/min)", "not a speed")
        return to_magnitude(value, "mm/min")
    if isinstance(value, str):
        return to_magnitude(parse_quantity(value, "mm/min"), "mm/min")
    return float(value)
