"""Battery protocols: galvanostatic pulse trains and plate-then-strip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from labctl.devices.potentiostat.techniques.base import (
    Charge,
    Current,
    Potential,
    Technique,
    Time,
    require_finite,
    require_positive,
)
from labctl.units import Quantity, to_magnitude, ureg

__all__ = ["PlateStrip", "PulseTrain"]


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
        require_finite("on_current", self.on_current)
        require_finite("off_current", self.off_current)
        if self.on_current.magnitude == 0:
            raise ValueError("on_current must not be zero")
        if self.off_current.magnitude * self.on_current.magnitude > 0:
            raise ValueError("off_current must be zero or reverse (opposite sign to on_current)")
        require_positive("on_time", self.on_time)
        require_positive("off_time", self.off_time)
        if self.interval is not None:
            require_positive("interval", self.interval)
            if self.interval > min(self.on_time, self.off_time):
                raise ValueError("interval must not exceed the shorter of on_time and off_time")
        if self.compliance_voltage is not None:
            require_positive("compliance_voltage", self.compliance_voltage)
        return self

    @property
    def duty_cycle(self) -> float:
        """on_time / (on_time + off_time), dimensionless."""
        on, off = to_magnitude(self.on_time, "s"), to_magnitude(self.off_time, "s")
        return on / (on + off)

    @property
    def average_current(self) -> Quantity:
        """Time-averaged current over one period (reverse pulses subtract)."""
        duty = self.duty_cycle
        on, off = to_magnitude(self.on_current, "A"), to_magnitude(self.off_current, "A")
        return ureg.Quantity(duty * on + (1 - duty) * off, "A")

    def _derived_si(self) -> dict[str, Any]:
        on, off = to_magnitude(self.on_time, "s"), to_magnitude(self.off_time, "s")
        interval = to_magnitude(self.interval, "s") if self.interval is not None else min(on, off)
        return {"interval": interval}

    def expected_duration(self) -> float:
        """Cycles × (on_time + off_time), s."""
        return self.cycles * (to_magnitude(self.on_time, "s") + to_magnitude(self.off_time, "s"))

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "on-current", to_magnitude(self.on_current, "A")
        yield "off-current", to_magnitude(self.off_current, "A")

    def _compliance(self) -> float | None:
        return (
            None if self.compliance_voltage is None else to_magnitude(self.compliance_voltage, "V")
        )


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
        require_positive("plate_charge", self.plate_charge)
        require_finite("cutoff_potential", self.cutoff_potential)
        if self.rest_time.magnitude < 0:
            raise ValueError("rest_time must be ≥ 0")
        require_positive("interval", self.interval)
        if self.compliance_voltage is not None:
            require_positive("compliance_voltage", self.compliance_voltage)
        return self

    @property
    def plate_time(self) -> float:
        """Time to plate ``plate_charge``, s."""
        return to_magnitude(self.plate_charge, "C") / abs(to_magnitude(self.plate_current, "A"))

    def expected_duration(self) -> float:
        """Plate + rest + the longest strip (1.5 × the plated charge), s."""
        strip = 1.5 * to_magnitude(self.plate_charge, "C") / to_magnitude(self.strip_current, "A")
        return self.plate_time + to_magnitude(self.rest_time, "s") + strip

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "cut-off potential", to_magnitude(self.cutoff_potential, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "plating current", to_magnitude(self.plate_current, "A")
        yield "stripping current", to_magnitude(self.strip_current, "A")

    def _compliance(self) -> float | None:
        return (
            None if self.compliance_voltage is None else to_magnitude(self.compliance_voltage, "V")
        )
