"""Electrochemical techniques as typed, validated values with units.

A technique says *what* to do to the cell (chronoamperometry at 0.1 V for 60 s, a pulse train of
−5 mA/cm² pulses); a driver says *how* an instrument does it. Every technique:

* is a frozen pydantic model whose quantities carry pint units (``"2 mA"``, ``"50 mV/s"``), so a
  plan or a config states them the way a scientist writes them;
* checks its own consistency when built (a sampling interval longer than the step it samples, a
  vertex equal to the start, a pulse whose off-current pushes the same way as its on-current);
* checks itself against the potentiostat's configured safety limits
  (:meth:`Technique.check_limits`) before anything is sent;
* turns into the SI mapping drivers and twins share (:meth:`Technique.as_si`: floats in s, V, A,
  C, Hz; currents follow the IUPAC sign convention, anodic positive, so plating is negative).

Battery protocols are techniques in their own right: :class:`PulseTrain` (galvanostatic pulses,
with duty cycle and average current derived) and :class:`PlateStrip` (plate a charge, rest, strip
to a cut-off potential).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from labctl.config import (
    QUANTITY_SERIALIZER,
    LimitRange,
    issues_from_validation_error,
    quantity_validator,
)
from labctl.errors import ConfigError, ConfigIssue, SafetyLimitError
from labctl.units import Quantity, to_magnitude, ureg

__all__ = [
    "CA",
    "CP",
    "CV",
    "EIS",
    "LSV",
    "OCV",
    "AnyTechnique",
    "PlateStrip",
    "PulseTrain",
    "Technique",
    "TechniqueLimits",
    "parse_technique",
]

Potential: TypeAlias = Annotated[Quantity, quantity_validator("V"), QUANTITY_SERIALIZER]
Current: TypeAlias = Annotated[Quantity, quantity_validator("A"), QUANTITY_SERIALIZER]
Charge: TypeAlias = Annotated[Quantity, quantity_validator("C"), QUANTITY_SERIALIZER]
Time: TypeAlias = Annotated[Quantity, quantity_validator("s"), QUANTITY_SERIALIZER]
ScanRate: TypeAlias = Annotated[Quantity, quantity_validator("V/s"), QUANTITY_SERIALIZER]
Frequency: TypeAlias = Annotated[Quantity, quantity_validator("Hz"), QUANTITY_SERIALIZER]

LIMIT_NAMES = ("potential", "current", "current_density", "compliance_voltage", "duration")
"""The safety limits a potentiostat entry may configure (``devices.<name>.limits.<limit>``)."""
_LIMIT_UNITS = {
    "potential": "V",
    "current": "A",
    "current_density": "A/m**2",
    "compliance_voltage": "V",
    "duration": "s",
}


def _si(quantity: Quantity, unit: str) -> float:
    return to_magnitude(quantity, unit)


def _text(value: float, unit: str) -> str:
    return f"{ureg.Quantity(value, unit).to_compact():.4g~P}"


@dataclass(frozen=True)
class TechniqueLimits:
    """A potentiostat's safety limits in SI, from ``devices.<name>.limits`` and its options.

    Args:
        device: the device name, for messages.
        potential: allowed working-electrode potentials (low, high), V; ``None`` = open end.
        current: largest |current|, A.
        current_density: largest |current| per electrode area, A/m².
        electrode_area: working-electrode area, m² (needed for ``current_density``).
        compliance_voltage: largest compliance voltage of a current-controlled technique, V.
        duration: longest technique, s.
    """

    device: str
    potential: tuple[float | None, float | None] = (None, None)
    current: float | None = None
    current_density: float | None = None
    electrode_area: float | None = None
    compliance_voltage: float | None = None
    duration: float | None = None

    @classmethod
    def from_config(
        cls, device: str, limits: Mapping[str, LimitRange], electrode_area: Quantity | None
    ) -> TechniqueLimits:
        """The limits of ``devices.<device>.limits`` (names in :data:`LIMIT_NAMES`).

        ``current``, ``current_density``, ``compliance_voltage`` and ``duration`` are magnitudes:
        their ``high`` end applies (a ``low`` end is refused by :func:`limit_issues`).
        """

        def high(name: str) -> float | None:
            limit = limits.get(name)
            if limit is None or limit.high is None:
                return None
            return _si(limit.high, _LIMIT_UNITS[name])

        window = limits.get("potential")
        potential = (
            (None, None)
            if window is None
            else (
                None if window.low is None else _si(window.low, "V"),
                None if window.high is None else _si(window.high, "V"),
            )
        )
        return cls(
            device=device,
            potential=potential,
            current=high("current"),
            current_density=high("current_density"),
            electrode_area=None if electrode_area is None else _si(electrode_area, "m**2"),
            compliance_voltage=high("compliance_voltage"),
            duration=high("duration"),
        )

    def check_potential(self, what: str, value: float) -> None:
        """Refuse a working-electrode potential outside the window."""
        low, high = self.potential
        if (low is not None and value < low) or (high is not None and value > high):
            window = f"[{'-∞' if low is None else _text(low, 'V')}, "
            window += f"{'∞' if high is None else _text(high, 'V')}]"
            raise SafetyLimitError(self.device, what, _text(value, "V"), window)

    def check_current(self, what: str, value: float) -> None:
        """Refuse a current above the current limit or the current-density limit."""
        if self.current is not None and abs(value) > self.current:
            raise SafetyLimitError(
                self.device, what, _text(value, "A"), f"|I| ≤ {_text(self.current, 'A')}"
            )
        if self.current_density is not None and self.electrode_area:
            density = abs(value) / self.electrode_area
            if density > self.current_density:
                raise SafetyLimitError(
                    self.device,
                    f"{what} density",
                    f"{density / 10:.4g} mA/cm² ({_text(value, 'A')} on "
                    f"{self.electrode_area * 1e4:.4g} cm²)",
                    f"|j| ≤ {self.current_density / 10:.4g} mA/cm²",
                )

    def check_compliance(self, value: float | None) -> None:
        """Refuse a compliance voltage above the limit."""
        if (
            value is not None
            and self.compliance_voltage is not None
            and abs(value) > self.compliance_voltage
        ):
            raise SafetyLimitError(
                self.device,
                "compliance voltage",
                _text(value, "V"),
                f"≤ {_text(self.compliance_voltage, 'V')}",
            )

    def check_duration(self, seconds: float) -> None:
        """Refuse a technique that would run longer than the limit."""
        if self.duration is not None and seconds > self.duration:
            raise SafetyLimitError(
                self.device,
                "duration",
                _text(seconds, "s"),
                f"≤ {_text(self.duration, 's')}",
            )


def limit_issues(device: str, limits: Mapping[str, LimitRange]) -> list[ConfigIssue]:
    """Every problem with a potentiostat's ``limits`` section, with key paths."""
    issues: list[ConfigIssue] = []
    for name, limit in limits.items():
        where = ("devices", device, "limits", name)
        if name not in _LIMIT_UNITS:
            issues.append(ConfigIssue(where, f"unknown limit; a potentiostat has {LIMIT_NAMES}"))
            continue
        for end in ("low", "high"):
            value = getattr(limit, end)
            if value is not None and not value.is_compatible_with(_LIMIT_UNITS[name]):
                issues.append(
                    ConfigIssue(
                        (*where, end), f"wrong dimension: {name} is in {_LIMIT_UNITS[name]}", value
                    )
                )
        if name != "potential" and limit.low is not None:
            issues.append(
                ConfigIssue(
                    (*where, "low"),
                    f"{name} is a magnitude limit: give only 'high'",
                    f"{limit.low:~P}",
                )
            )
    return issues


class Technique(BaseModel):
    """What every technique shares: validation, limits, the SI mapping, the expected duration."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    kind: str
    label: ClassVar[str] = ""

    def as_si(self) -> dict[str, Any]:
        """The technique as the SI mapping drivers and twins share (floats, lists, ints)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name, value in self:
            if name == "kind" or value is None:
                continue
            out[name] = _si_value(value)
        out.update(self._derived_si())
        return out

    def _derived_si(self) -> dict[str, Any]:
        return {}

    def expected_duration(self) -> float:
        """How long the technique takes on the instrument in real time, s."""
        raise NotImplementedError

    def check_limits(self, limits: TechniqueLimits) -> None:
        """Refuse the technique if any part of it leaves the configured safety limits.

        Raises:
            SafetyLimitError: naming the device, the quantity, the requested value and the limit.
        """
        for what, potential in self._potentials():
            limits.check_potential(what, potential)
        for what, current in self._currents():
            limits.check_current(what, current)
        limits.check_compliance(self._compliance())
        limits.check_duration(self.expected_duration())

    def _potentials(self) -> Iterator[tuple[str, float]]:
        return iter(())

    def _currents(self) -> Iterator[tuple[str, float]]:
        return iter(())

    def _compliance(self) -> float | None:
        return None

    def describe(self) -> str:
        """One line for people: ``CA 100 mV for 60 s``."""
        fields = ", ".join(
            f"{name} {value:~P}" if hasattr(value, "units") else f"{name} {value}"
            for name, value in self
            if name != "kind" and value is not None
        )
        return f"{self.label or self.kind.upper()}: {fields}"


def _si_value(value: Any) -> Any:
    if hasattr(value, "units"):
        base = value.to_base_units()
        magnitude = base.magnitude
        if isinstance(magnitude, np.ndarray):
            return [float(item) for item in magnitude]
        return float(magnitude)
    if isinstance(value, list | tuple):
        return [_si_value(item) for item in value]
    return value


def _positive(name: str, quantity: Quantity) -> None:
    if not quantity.magnitude > 0 or not math.isfinite(float(quantity.magnitude)):
        raise ValueError(f"{name} must be > 0, got {quantity:~P}")


def _finite(name: str, quantity: Quantity) -> None:
    if not math.isfinite(float(quantity.magnitude)):
        raise ValueError(f"{name} must be a finite number, got {quantity:~P}")


class OCV(Technique):
    """Open-circuit potential: no current, the cell's potential recorded every ``interval``."""

    kind: Literal["ocv"] = "ocv"
    label: ClassVar[str] = "OCV"
    duration: Time
    interval: Time

    @model_validator(mode="after")
    def _consistent(self) -> OCV:
        _positive("duration", self.duration)
        _positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return _si(self.duration, "s")


class CA(Technique):
    """Chronoamperometry: hold ``potential``, record the current every ``interval``.

    ``current_limit`` (optional) is the instrument's current compliance during the hold.
    """

    kind: Literal["ca"] = "ca"
    label: ClassVar[str] = "CA"
    potential: Potential
    duration: Time
    interval: Time
    current_limit: Current | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CA:
        _finite("potential", self.potential)
        _positive("duration", self.duration)
        _positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        if self.current_limit is not None:
            _positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return _si(self.duration, "s")

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "potential", _si(self.potential, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", _si(self.current_limit, "A")


class CP(Technique):
    """Chronopotentiometry: hold ``current``, record the potential every ``interval``.

    ``compliance_voltage`` (optional) bounds the voltage the instrument may apply.
    """

    kind: Literal["cp"] = "cp"
    label: ClassVar[str] = "CP"
    current: Current
    duration: Time
    interval: Time
    compliance_voltage: Potential | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CP:
        _finite("current", self.current)
        _positive("duration", self.duration)
        _positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        if self.compliance_voltage is not None:
            _positive("compliance_voltage", self.compliance_voltage)
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return _si(self.duration, "s")

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "current", _si(self.current, "A")

    def _compliance(self) -> float | None:
        return None if self.compliance_voltage is None else _si(self.compliance_voltage, "V")


class LSV(Technique):
    """Linear sweep voltammetry from ``start`` to ``end`` at ``scan_rate``, one point per step."""

    kind: Literal["lsv"] = "lsv"
    label: ClassVar[str] = "LSV"
    start: Potential
    end: Potential
    scan_rate: ScanRate
    step: Potential = Field(default_factory=lambda: ureg.Quantity(1.0, "mV"))
    current_limit: Current | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LSV:
        _finite("start", self.start)
        _finite("end", self.end)
        _positive("scan_rate", self.scan_rate)
        _positive("step", self.step)
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if self.step > abs(self.end - self.start):
            raise ValueError("step must not exceed the swept range")
        if self.current_limit is not None:
            _positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """|end − start| / scan_rate, s."""
        return abs(_si(self.end, "V") - _si(self.start, "V")) / _si(self.scan_rate, "V/s")

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "start potential", _si(self.start, "V")
        yield "end potential", _si(self.end, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", _si(self.current_limit, "A")


class CV(Technique):
    """Cyclic voltammetry: start → vertex1 → vertex2 → start, ``cycles`` times."""

    kind: Literal["cv"] = "cv"
    label: ClassVar[str] = "CV"
    start: Potential
    vertex1: Potential
    vertex2: Potential
    scan_rate: ScanRate
    step: Potential = Field(default_factory=lambda: ureg.Quantity(1.0, "mV"))
    cycles: int = Field(default=1, ge=1, le=10_000)
    current_limit: Current | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CV:
        for name in ("start", "vertex1", "vertex2"):
            _finite(name, getattr(self, name))
        _positive("scan_rate", self.scan_rate)
        _positive("step", self.step)
        if self.vertex1 == self.vertex2:
            raise ValueError("vertex1 and vertex2 must differ")
        if self.step > abs(self.vertex1 - self.vertex2):
            raise ValueError("step must not exceed the distance between the vertices")
        if self.current_limit is not None:
            _positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """The swept path over ``scan_rate`` for all cycles, s."""
        start, first, second = (
            _si(getattr(self, n), "V") for n in ("start", "vertex1", "vertex2")
        )
        path = abs(first - start) + abs(second - first) + abs(start - second)
        return self.cycles * path / _si(self.scan_rate, "V/s")

    def _potentials(self) -> Iterator[tuple[str, float]]:
        for name in ("start", "vertex1", "vertex2"):
            yield f"{name} potential", _si(getattr(self, name), "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", _si(self.current_limit, "A")


class EIS(Technique):
    """Potentiostatic impedance spectroscopy around ``dc_potential``.

    Give either ``frequencies`` (any order; measured high to low) or a decade range
    (``max_frequency``, ``min_frequency``, ``points_per_decade``). ``amplitude`` is the RMS of
    the sine perturbation.
    """

    kind: Literal["eis"] = "eis"
    label: ClassVar[str] = "EIS"
    dc_potential: Potential
    amplitude: Potential = Field(default_factory=lambda: ureg.Quantity(10.0, "mV"))
    frequencies: list[Frequency] | None = None
    max_frequency: Frequency | None = None
    min_frequency: Frequency | None = None
    points_per_decade: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> EIS:
        _finite("dc_potential", self.dc_potential)
        _positive("amplitude", self.amplitude)
        ranged = (self.max_frequency, self.min_frequency, self.points_per_decade)
        if self.frequencies is not None:
            if any(value is not None for value in ranged):
                raise ValueError("give either frequencies or a decade range, not both")
            if not self.frequencies:
                raise ValueError("frequencies must not be empty")
            for value in self.frequencies:
                _positive("every frequency", value)
        else:
            if any(value is None for value in ranged):
                raise ValueError(
                    "give frequencies, or all of max_frequency, min_frequency, points_per_decade"
                )
            assert self.max_frequency is not None
            assert self.min_frequency is not None
            _positive("max_frequency", self.max_frequency)
            _positive("min_frequency", self.min_frequency)
            if self.min_frequency >= self.max_frequency:
                raise ValueError("min_frequency must be below max_frequency")
        return self

    def frequency_list(self) -> list[float]:
        """The measured frequencies, high to low, Hz."""
        if self.frequencies is not None:
            return sorted((_si(f, "Hz") for f in self.frequencies), reverse=True)
        assert self.max_frequency is not None
        assert self.min_frequency is not None
        assert self.points_per_decade is not None
        high, low = _si(self.max_frequency, "Hz"), _si(self.min_frequency, "Hz")
        decades = math.log10(high / low)
        count = max(2, round(decades * self.points_per_decade) + 1)
        return [float(value) for value in np.geomspace(high, low, count)]

    def as_si(self) -> dict[str, Any]:
        """The SI mapping: ``frequencies`` always as the explicit list, high to low."""
        return {
            "kind": "eis",
            "dc_potential": _si(self.dc_potential, "V"),
            "amplitude": _si(self.amplitude, "V"),
            "frequencies": self.frequency_list(),
        }

    def expected_duration(self) -> float:
        """About three periods per frequency (at least 0.1 s each), s."""
        return sum(max(3.0 / frequency, 0.1) for frequency in self.frequency_list())

    def _potentials(self) -> Iterator[tuple[str, float]]:
        dc = _si(self.dc_potential, "V")
        peak = math.sqrt(2.0) * _si(self.amplitude, "V")
        yield "EIS potential (dc − peak)", dc - peak
        yield "EIS potential (dc + peak)", dc + peak


class PulseTrain(Technique):
    """Galvanostatic pulses: ``on_current`` for ``on_time``, ``off_current`` for ``off_time``.

    ``off_current`` is zero (rest) or of the opposite sign (a reverse pulse); the pattern repeats
    ``cycles`` times, sampled every ``interval`` (default: the shorter of the two times).
    Derived: :attr:`duty_cycle` and :attr:`average_current`.
    """

    kind: Literal["pulse_train"] = "pulse_train"
    label: ClassVar[str] = "Pulse train"
    on_current: Current
    on_time: Time
    off_time: Time
    off_current: Current = Field(default_factory=lambda: ureg.Quantity(0.0, "A"))
    cycles: int = Field(ge=1, le=1_000_000)
    interval: Time | None = None
    compliance_voltage: Potential | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PulseTrain:
        _finite("on_current", self.on_current)
        _finite("off_current", self.off_current)
        if self.on_current.magnitude == 0:
            raise ValueError("on_current must not be zero")
        if self.off_current.magnitude * self.on_current.magnitude > 0:
            raise ValueError("off_current must be zero or reverse (opposite sign to on_current)")
        _positive("on_time", self.on_time)
        _positive("off_time", self.off_time)
        if self.interval is not None:
            _positive("interval", self.interval)
            if self.interval > min(self.on_time, self.off_time):
                raise ValueError("interval must not exceed the shorter of on_time and off_time")
        if self.compliance_voltage is not None:
            _positive("compliance_voltage", self.compliance_voltage)
        return self

    @property
    def duty_cycle(self) -> float:
        """on_time / (on_time + off_time), dimensionless."""
        on, off = _si(self.on_time, "s"), _si(self.off_time, "s")
        return on / (on + off)

    @property
    def average_current(self) -> Quantity:
        """Time-averaged current over one period (reverse pulses subtract)."""
        duty = self.duty_cycle
        on, off = _si(self.on_current, "A"), _si(self.off_current, "A")
        return ureg.Quantity(duty * on + (1 - duty) * off, "A")

    def _derived_si(self) -> dict[str, Any]:
        on, off = _si(self.on_time, "s"), _si(self.off_time, "s")
        interval = _si(self.interval, "s") if self.interval is not None else min(on, off)
        return {"interval": interval}

    def expected_duration(self) -> float:
        """Cycles × (on_time + off_time), s."""
        return self.cycles * (_si(self.on_time, "s") + _si(self.off_time, "s"))

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "on-current", _si(self.on_current, "A")
        yield "off-current", _si(self.off_current, "A")

    def _compliance(self) -> float | None:
        return None if self.compliance_voltage is None else _si(self.compliance_voltage, "V")


class PlateStrip(Technique):
    """Plate ``plate_charge`` at ``plate_current``, rest, strip at ``strip_current`` to a cut-off.

    ``plate_current`` is cathodic (negative), ``strip_current`` anodic (positive); the strip ends
    when the potential crosses ``cutoff_potential`` or after 1.5 × the plated charge.
    """

    kind: Literal["plate_strip"] = "plate_strip"
    label: ClassVar[str] = "Plate/strip"
    plate_current: Current
    plate_charge: Charge
    strip_current: Current
    cutoff_potential: Potential
    rest_time: Time = Field(default_factory=lambda: ureg.Quantity(0.0, "s"))
    interval: Time
    compliance_voltage: Potential | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlateStrip:
        if not self.plate_current.magnitude < 0:
            raise ValueError("plate_current must be cathodic (negative)")
        if not self.strip_current.magnitude > 0:
            raise ValueError("strip_current must be anodic (positive)")
        _positive("plate_charge", self.plate_charge)
        _finite("cutoff_potential", self.cutoff_potential)
        if self.rest_time.magnitude < 0:
            raise ValueError("rest_time must be ≥ 0")
        _positive("interval", self.interval)
        if self.compliance_voltage is not None:
            _positive("compliance_voltage", self.compliance_voltage)
        return self

    @property
    def plate_time(self) -> float:
        """Time to plate ``plate_charge``, s."""
        return _si(self.plate_charge, "C") / abs(_si(self.plate_current, "A"))

    def expected_duration(self) -> float:
        """Plate + rest + the longest strip (1.5 × the plated charge), s."""
        strip = 1.5 * _si(self.plate_charge, "C") / _si(self.strip_current, "A")
        return self.plate_time + _si(self.rest_time, "s") + strip

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "cut-off potential", _si(self.cutoff_potential, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "plating current", _si(self.plate_current, "A")
        yield "stripping current", _si(self.strip_current, "A")

    def _compliance(self) -> float | None:
        return None if self.compliance_voltage is None else _si(self.compliance_voltage, "V")


AnyTechnique: TypeAlias = Annotated[
    OCV | CA | CP | LSV | CV | EIS | PulseTrain | PlateStrip, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyTechnique)


def parse_technique(value: Technique | Mapping[str, Any], *, source: str = "<technique>") -> Any:
    """A technique from a mapping of text quantities (``{"kind": "ca", "potential": "0.1 V"}``).

    Raises:
        ConfigError: naming every invalid field by its key path under ``source``.
    """
    if isinstance(value, Technique):
        return value
    try:
        return _ADAPTER.validate_python(dict(value))
    except ValidationError as error:
        raise ConfigError(source, issues_from_validation_error(error, ())) from None
