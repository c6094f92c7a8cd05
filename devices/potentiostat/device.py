"""The potentiostat as one ophyd device, whichever instrument and wire protocol is behind it.

:class:`Potentiostat` holds the technique to run as configuration (``technique`` = its kind,
``settings`` = its parameters with units, as JSON), checks every technique against the configured
safety limits before anything is sent, and runs it on :meth:`trigger` through its driver on a
worker thread — the RunEngine's event loop never blocks on the instrument. The status completes
when the data are in, or fails with the instrument's error. :meth:`stop` and :meth:`pause`
(RunEngine abort, halt, pause, Ctrl-C) stop the technique and return once the cell is at open
circuit.

``read()`` gives the curve as arrays — ``time`` (s), ``potential`` (V), ``current`` (A) and, for
EIS, ``frequency`` (Hz), ``z_real`` and ``z_imag`` (Ω) — with their shape, dtype and units in
``describe()``, plus scalar summaries: ``points``, ``elapsed`` (s), ``charge`` (C, ∫I dt),
``final_potential`` (V), ``final_current`` (A), ``interlock`` (what tripped: a short circuit or
the compliance voltage, see :mod:`~labctl.devices.potentiostat.interlocks`; empty when nothing
did) and ``completed`` (1, or 0 when a pause or stop cut the technique short — with the
RunEngine's rewind off, a paused technique's partial curve is what gets recorded, and reducers
must know). Keys a technique does not produce are empty arrays
(NaN scalars), so every read of the device has the same keys.

Drivers (``driver:`` in the config): ``methodscript`` (PalmSens EmStat family over a pyserial
URL) and ``scpi`` (a Keithley 2450-class source-measure unit over a VISA resource).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import numpy as np
from ophyd import Component, Device, Signal
from ophyd.status import DeviceStatus, Status
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig, QuantityField
from labctl.devices.potentiostat.errors import TechniqueNotSupportedError
from labctl.devices.potentiostat.interlocks import (
    InterlockOptions,
    InterlockTripped,
    check_interlocks,
)
from labctl.devices.potentiostat.techniques import (
    Technique,
    TechniqueLimits,
    limit_issues,
    parse_technique,
)
from labctl.errors import ConfigIssue, LabctlError
from labctl.units import to_magnitude

__all__ = ["Potentiostat", "PotentiostatDriver", "PotentiostatOptions", "TechniqueStopped"]


class PotentiostatDriver(Protocol):
    """What the device needs of a driver (one wire protocol, one instrument)."""

    supports: frozenset[str]
    address: str

    def open(self) -> None:
        """Connect and check the instrument answers."""

    def close(self) -> None:
        """Disconnect (idempotent)."""

    def identify(self) -> str:
        """The instrument's identity string."""

    def abort(self) -> None:
        """Stop whatever runs and leave the cell at open circuit."""

    def run(self, technique: Any, *, stop: threading.Event) -> dict[str, np.ndarray]:
        """Run a technique; the arrays of its curve in SI units."""


class TechniqueStatus(DeviceStatus):  # type: ignore[misc]
    """A trigger's status whose text carries its failure.

    The RunEngine records a failed status's text as the run's ``reason``; ophyd's own text is only
    ``DeviceStatus(device=…, done=True, success=False)``, which says nothing about why.
    """

    def __repr__(self) -> str:
        text: str = super().__repr__()
        if self.done and not self.success:
            error = self.exception(timeout=0)
            if error is not None:
                text += f": {error}"
        return text

    __str__ = __repr__


class TechniqueStopped(LabctlError):
    """The technique was stopped early (stop, pause or abort); the cell is at open circuit."""


class PotentiostatOptions(BaseModel):
    """``options`` of a ``potentiostat`` device.

    Args:
        electrode_area: working-electrode area (for current-density limits and summaries).
        visa_backend: PyVISA backend of the ``scpi`` driver (``"@py"`` = pyvisa-py).
        baudrate: serial baud rate of the ``methodscript`` driver (ignored for ``socket://``).
        interlocks: what a short circuit or a reached compliance does (default: fail the
            technique; see :mod:`labctl.devices.potentiostat.interlocks`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    electrode_area: QuantityField | None = None
    visa_backend: str = "@py"
    baudrate: int = Field(default=230400, gt=0)
    interlocks: InterlockOptions = Field(default_factory=InterlockOptions)


_ARRAYS = {
    "time": "s",
    "potential": "V",
    "current": "A",
    "frequency": "Hz",
    "z_real": "ohm",
    "z_imag": "ohm",
}


class MeasuredSignal(Signal):  # type: ignore[misc]
    """A read-only result of the last technique, described with its units."""

    def __init__(self, *args: Any, units: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = units

    def describe(self) -> dict[str, dict[str, Any]]:
        """The data key with units and, for arrays, the numpy dtype."""
        description: dict[str, dict[str, Any]] = super().describe()
        key = description[self.name]
        key["units"] = self.units
        value = self._readback
        if isinstance(value, np.ndarray):
            key["dtype"] = "array"
            key["shape"] = list(value.shape)
            key["dtype_numpy"] = value.dtype.str
        key["source"] = f"potentiostat:{self.parent.name if self.parent else self.name}"
        return description


def _array_component(units: str) -> Component:
    return Component(MeasuredSignal, value=np.zeros(0), units=units, kind="normal")


class Potentiostat(Device):  # type: ignore[misc]
    """A potentiostat or galvanostat running one technique per trigger.

    Build it with :meth:`from_config`, or directly with a driver (tests, notebooks).

    Args:
        driver: the instrument's driver.
        limits: the safety limits every technique is checked against.
    """

    Options: ClassVar[type[BaseModel]] = PotentiostatOptions

    technique = Component(Signal, value="", kind="config")
    settings = Component(Signal, value="{}", kind="config")

    time = _array_component("s")
    potential = _array_component("V")
    current = _array_component("A")
    frequency = _array_component("Hz")
    z_real = _array_component("ohm")
    z_imag = _array_component("ohm")
    points = Component(MeasuredSignal, value=0, units="", kind="normal")
    elapsed = Component(MeasuredSignal, value=float("nan"), units="s", kind="hinted")
    charge = Component(MeasuredSignal, value=float("nan"), units="C", kind="normal")
    final_potential = Component(MeasuredSignal, value=float("nan"), units="V", kind="hinted")
    final_current = Component(MeasuredSignal, value=float("nan"), units="A", kind="normal")
    completed = Component(MeasuredSignal, value=0, units="", kind="normal")
    interlock = Component(MeasuredSignal, value="", units="", kind="normal")

    def __init__(
        self,
        *,
        driver: PotentiostatDriver,
        limits: TechniqueLimits,
        interlocks: InterlockOptions | None = None,
        **kwargs: Any,
    ) -> None:
        # Not "detectors": %ct counts those, and a potentiostat needs a technique set first.
        kwargs.setdefault("labels", {"potentiostats"})
        super().__init__(**kwargs)
        self.driver = driver
        self.limits = limits
        self.interlocks = interlocks or InterlockOptions()
        self._technique: Technique | None = None
        self._stop_event = threading.Event()
        self._stopped_cleanly = False
        self._stop_cause: BaseException | None = None
        self._worker: threading.Thread | None = None

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: PotentiostatOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options and limits of potentiostat ``name``, with key paths."""
        where = ("devices", name)
        issues = limit_issues(name, config.limits)
        area = None if options is None else options.electrode_area
        if area is not None and not area.is_compatible_with("m**2"):
            issues.append(
                ConfigIssue((*where, "options", "electrode_area"), "must be an area", f"{area:~P}")
            )
        if "current_density" in config.limits and area is None and options is not None:
            issues.append(
                ConfigIssue(
                    (*where, "limits", "current_density"),
                    "a current-density limit needs options.electrode_area",
                )
            )
        return issues

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: PotentiostatOptions
    ) -> Potentiostat:
        """Build potentiostat ``name`` talking to ``address`` (not yet connected)."""
        timeout = to_magnitude(config.timeout.read, "s")
        limits = TechniqueLimits.from_config(name, config.limits, options.electrode_area)
        driver = _DRIVERS[str(config.driver)](name, address, timeout, options, limits)
        return cls(driver=driver, limits=limits, interlocks=options.interlocks, name=name)

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the connection and check the instrument answers.

        Raises:
            CommunicationError: unreachable, silent, or not the expected instrument.
        """
        self.driver.open()

    def close(self) -> None:
        """Stop a running technique and close the connection."""
        self.stop()
        self.driver.close()

    # -- configuration ------------------------------------------------------------------------
    def set(self, technique: Technique | Mapping[str, Any]) -> Status:
        """Make ``technique`` the one :meth:`trigger` runs (``bps.mv(pstat, CA(...))``).

        Raises:
            ConfigError: the mapping is not a valid technique.
            SafetyLimitError: the technique leaves the configured limits (nothing is sent).
            TechniqueNotSupportedError: the instrument cannot run it (an SMU asked for EIS).
        """
        chosen = parse_technique(technique, source=f"{self.name}.technique")
        self._supported(chosen)
        chosen.check_limits(self.limits)
        self._technique = chosen
        self.technique.put(chosen.kind)
        self.settings.put(json.dumps(_settings_text(chosen), sort_keys=True))
        status = Status(obj=self)
        status.set_finished()
        return status

    def configure(self, d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``configure({"technique": CA(...)})``: the same checks as :meth:`set`."""
        unknown = set(d) - {"technique"}
        if unknown:
            raise ValueError(f"{self.name}: only 'technique' can be configured, not {unknown}")
        old = self.read_configuration()
        self.set(d["technique"])
        return old, self.read_configuration()

    @property
    def current_technique(self) -> Technique | None:
        """The technique :meth:`trigger` runs next (``None`` before one is set)."""
        return self._technique

    def _supported(self, technique: Technique) -> None:
        if technique.kind not in self.driver.supports:
            instrument = type(self.driver).__name__
            reason = (
                "a source-measure unit cannot do impedance spectroscopy (EIS); use a "
                "potentiostat with a frequency-response analyser (driver: methodscript)"
                if technique.kind == "eis"
                else f"{instrument} runs {sorted(self.driver.supports)}"
            )
            raise TechniqueNotSupportedError(f"{self.name}: {technique.kind}: {reason}")

    # -- acquisition --------------------------------------------------------------------------
    def trigger(self) -> DeviceStatus:
        """Run the configured technique; the status finishes when its data are in.

        The status fails with the driver's error (timeout, lost connection, instrument error),
        or with :class:`TechniqueStopped` when :meth:`stop` ended it early (a pause finishes it
        with the data so far; the RunEngine rewinds and runs it again on resume).
        """
        technique = self._technique
        status = TechniqueStatus(self)
        if technique is None:
            status.set_exception(
                LabctlError(f"{self.name}: no technique set; set one first (bps.mv(pstat, CA(…)))")
            )
            return status
        try:
            # Limits may have been tightened since set(); check again before sending.
            technique.check_limits(self.limits)
        except LabctlError as error:
            status.set_exception(error)
            return status
        self._stop_event = stop = threading.Event()
        self._stopped_cleanly = False
        self._stop_cause = None
        self._worker = threading.Thread(
            target=self._run,
            args=(technique, stop, status),
            name=f"labctl-{self.name}-technique",
            daemon=True,
        )
        self._worker.start()
        return status

    def _run(self, technique: Technique, stop: threading.Event, status: DeviceStatus) -> None:
        try:
            data = self.driver.run(technique, stop=stop)
        except Exception as error:
            status.set_exception(error)
            return
        self._publish(data, completed=not stop.is_set())
        spec = technique.as_si()
        compliance = spec.get("compliance_voltage") or self.limits.compliance_voltage
        tripped, must_fail, which = check_interlocks(
            self.name, spec, data, self.interlocks, compliance
        )
        self.interlock.put(tripped)
        if must_fail:
            status.set_exception(InterlockTripped(tripped, interlock=which))
            return
        if stop.is_set() and not self._stopped_cleanly:
            if self._stop_cause is not None:
                status.set_exception(self._stop_cause)  # an interlock elsewhere stopped it
                return
            status.set_exception(
                TechniqueStopped(
                    f"{self.name}: {technique.kind} stopped after {len(data.get('time', []))} "
                    "points; the cell was left at open circuit"
                )
            )
            return
        status.set_finished()

    def _publish(self, data: Mapping[str, np.ndarray], *, completed: bool) -> None:
        arrays = {name: np.asarray(data.get(name, np.zeros(0)), dtype=float) for name in _ARRAYS}
        for name, values in arrays.items():
            getattr(self, name).put(values)
        time, potential, current = arrays["time"], arrays["potential"], arrays["current"]
        count = len(arrays["frequency"]) if len(arrays["frequency"]) else len(time)
        self.points.put(int(count))
        self.elapsed.put(float(time[-1]) if len(time) else float("nan"))
        self.charge.put(float(np.trapezoid(current, time)) if len(time) > 1 else float("nan"))
        self.final_potential.put(float(potential[-1]) if len(potential) else float("nan"))
        self.final_current.put(float(current[-1]) if len(current) else float("nan"))
        self.completed.put(int(completed))

    def stop(self, *, success: bool = False, cause: BaseException | None = None) -> None:
        """Stop the running technique; return once the cell is at open circuit.

        ``success=True`` (what the RunEngine asks on pause and suspend, which rewind and re-run
        the technique) finishes the trigger's status with the data so far; ``success=False``
        (abort, halt, a user's stop) fails it with :class:`TechniqueStopped`, or with ``cause``
        when another device's interlock stopped it (a droplet that lost contact).

        Waits (bounded by the driver's own timeouts) for the driver to abort, so that when the
        RunEngine's abort, halt or pause returns, the instrument is no longer driving the cell.
        """
        self._stopped_cleanly = success
        if cause is not None and not success:
            self._stop_cause = cause
        self._stop_event.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=_STOP_WAIT)

    def pause(self) -> None:
        """RunEngine pause: stop the technique (a resumed plan re-runs it from its checkpoint)."""
        self.stop(success=True)

    def resume(self) -> None:
        """Nothing to do: the next trigger starts afresh."""


_STOP_WAIT = 30.0
"""Longest wait, s, for a driver to abort; its own I/O timeouts normally end it far sooner."""


def _settings_text(technique: Technique) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in technique:
        if name == "kind" or value is None:
            continue
        if hasattr(value, "units"):
            out[name] = f"{value:~P}"
        elif isinstance(value, list):
            out[name] = [f"{item:~P}" if hasattr(item, "units") else item for item in value]
        else:
            out[name] = value
    return out


def _methodscript(
    name: str, address: str, timeout: float, options: PotentiostatOptions, limits: TechniqueLimits
) -> PotentiostatDriver:
    from labctl.devices.potentiostat.methodscript import CURRENT_RANGE, MethodScriptDriver

    return MethodScriptDriver(
        address,
        device=name,
        timeout=timeout,
        baudrate=options.baudrate,
        current_range=limits.current or CURRENT_RANGE,
    )


def _scpi(
    name: str, address: str, timeout: float, options: PotentiostatOptions, limits: TechniqueLimits
) -> PotentiostatDriver:
    from labctl.devices.potentiostat.scpi import CURRENT_RANGE, VOLTAGE_RANGE, ScpiSmuDriver

    return ScpiSmuDriver(
        address,
        device=name,
        timeout=timeout,
        backend=options.visa_backend,
        voltage_limit=limits.compliance_voltage or VOLTAGE_RANGE,
        current_limit=limits.current or CURRENT_RANGE,
    )


_DRIVERS: dict[str, Callable[..., PotentiostatDriver]] = {
    "methodscript": _methodscript,
    "scpi": _scpi,
}
