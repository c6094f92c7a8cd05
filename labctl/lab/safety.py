"""Suspenders on the lab's environment: pause a running plan while the atmosphere is unsafe.

A glovebox whose H2O or O2 rises above its ceiling, or a room out of its temperature range, must
pause whatever is running — mid-experiment — and let it resume when conditions recover, with
nothing lost: bluesky's suspenders do exactly that (the RunEngine rewinds to the last checkpoint
and re-runs from there once the suspender releases; :mod:`labctl.lab.rewind` keeps the retaken
readings from being stored twice). Our environment sensors are polled over OPC UA, not pushed, so
an :class:`EnvironmentWatch` reads each sensor every ``period`` seconds on its own thread and
publishes the values on ophyd signals the suspenders subscribe to. A sensor that cannot be read
counts as unsafe too (its ``fault`` signal goes high), so a dead glovebox controller does not
silently let work continue.

Limits are the device's configured alarm limits (``devices.<name>.limits``), in the recorded
units; the plan resumes once the value is back inside by a hysteresis margin (a fraction of the
limit's magnitude, default 5 %) and has stayed there for ``settle`` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ophyd import Signal

from labctl.devices.alarms import AlarmLimits
from labctl.errors import LabctlError
from labctl.protocols import LabLike

__all__ = ["EnvironmentWatch", "SafetyOptions", "environment_suspenders", "install_suspenders"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafetyOptions:
    """How environment suspenders behave.

    Args:
        period: seconds between readings of each sensor.
        hysteresis: resume once the value is this fraction of the limit's magnitude back inside.
        settle: seconds the value must stay safe before the plan resumes.
    """

    period: float = 1.0
    hysteresis: float = 0.05
    settle: float = 2.0


class EnvironmentWatch:
    """Polls one environment sensor and publishes each channel on an ophyd :class:`Signal`.

    Args:
        device: an :class:`~labctl.devices.environment.EnvironmentSensor` (anything with
            ``name``, ``channel_values()`` and per-channel signals carrying ``alarm`` limits).
        period: seconds between readings.
    """

    def __init__(self, device: Any, period: float = 1.0) -> None:
        self.device = device
        self.period = period
        self.signals: dict[str, Signal] = {
            channel: Signal(name=f"{device.name}_{channel}_watch", value=float("nan"))
            for channel in device.options.channels
        }
        self.fault = Signal(name=f"{device.name}_watch_fault", value=0)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Read every channel now and publish the values (a failed read raises ``fault``)."""
        try:
            values = self.device.channel_values()
        except LabctlError as error:
            self.last_error = str(error)
            log.warning("environment watch on %s: %s", self.device.name, error)
            self._publish(self.fault, 1)
            return
        self.last_error = None
        for channel, value in values.items():
            self._publish(self.signals[channel], value)
        self._publish(self.fault, 0)

    def _publish(self, signal: Signal, value: float) -> None:
        """Put a value; a subscriber's failure must not end the watch.

        bluesky's suspenders raise when they trip while no RunEngine is running (nothing to
        suspend); the value is still recorded and the next plan starts suspended.
        """
        try:
            signal.put(value)
        except Exception as error:  # the watch must outlive its subscribers
            log.debug("environment watch on %s: subscriber failed: %s", self.device.name, error)

    def start(self) -> None:
        """Start polling on a daemon thread (the first reading happens at once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.poll_once()
        self._thread = threading.Thread(
            target=self._run, name=f"safety-watch-{self.device.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.poll_once()
            except Exception:  # never let one bad poll end the watch
                log.exception("environment watch on %s failed", self.device.name)

    def stop(self) -> None:
        """Stop polling and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period + 5.0)
            self._thread = None

    def limits(self) -> Mapping[str, AlarmLimits]:
        """Channel → alarm limits in the recorded units (``None``: no limit)."""
        return {
            channel: AlarmLimits(*getattr(getattr(self.device, channel), "alarm", AlarmLimits()))
            for channel in self.signals
        }


def environment_suspenders(
    watches: Iterable[EnvironmentWatch], options: SafetyOptions | None = None
) -> list[Any]:
    """Suspenders for every limited channel of every watched sensor, plus one per sensor fault."""
    from bluesky.suspenders import SuspendBoolHigh, SuspendCeil, SuspendFloor

    options = options or SafetyOptions()
    suspenders: list[Any] = []
    for watch in watches:
        for channel, (low, high) in watch.limits().items():
            signal = watch.signals[channel]
            if high is not None:
                margin = options.hysteresis * max(abs(high), 1e-12)
                suspenders.append(
                    SuspendCeil(  # type: ignore[no-untyped-call]
                        signal,
                        high,
                        resume_thresh=high - margin,
                        sleep=options.settle,
                        tripped_message=f"{signal.name} above its ceiling {high:g}",
                    )
                )
            if low is not None:
                margin = options.hysteresis * max(abs(low), 1e-12)
                suspenders.append(
                    SuspendFloor(  # type: ignore[no-untyped-call]
                        signal,
                        low,
                        resume_thresh=low + margin,
                        sleep=options.settle,
                        tripped_message=f"{signal.name} below its floor {low:g}",
                    )
                )
        suspenders.append(
            SuspendBoolHigh(  # type: ignore[no-untyped-call]
                watch.fault,
                sleep=options.settle,
                tripped_message=f"{watch.device.name} cannot be read",
            )
        )
    return suspenders


def install_suspenders(
    lab: LabLike, options: SafetyOptions | None = None
) -> tuple[list[EnvironmentWatch], list[Any]]:
    """Watch every environment sensor of ``lab`` and install its suspenders on ``lab.RE``.

    Returns the watches (stop them when the session ends; :class:`~labctl.lab.session.Lab` does)
    and the installed suspenders.
    """
    from labctl.devices.environment import EnvironmentSensor

    options = options or SafetyOptions()
    watches = [
        EnvironmentWatch(device, options.period)
        for device in lab.devices.values()
        if isinstance(device, EnvironmentSensor)
    ]
    for watch in watches:
        watch.start()
    suspenders = environment_suspenders(watches, options)
    for suspender in suspenders:
        lab.RE.install_suspender(suspender)
    return watches, suspenders
