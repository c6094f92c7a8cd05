"""Steps and sweeps: open circuit, chronoamperometry, chronopotentiometry, LSV, CV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from labctl.devices.potentiostat.techniques.base import (
    Current,
    Potential,
    ScanRate,
    Technique,
    Time,
    require_finite,
    require_positive,
)
from labctl.units import to_magnitude, ureg

__all__ = ["CA", "CP", "CV", "LSV", "OCV"]


class OCV(Technique):
    """Open-circuit potential: no current, the cell's potential recorded every ``interval``."""

    kind: Literal["ocv"] = "ocv"
    label: ClassVar[str] = "OCV"
    duration: Time
    interval: Time

    @model_validator(mode="after")
    def _consistent(self) -> OCV:
        require_positive("duration", self.duration)
        require_positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return to_magnitude(self.duration, "s")


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
        require_finite("potential", self.potential)
        require_positive("duration", self.duration)
        require_positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        if self.current_limit is not None:
            require_positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return to_magnitude(self.duration, "s")

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "potential", to_magnitude(self.potential, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", to_magnitude(self.current_limit, "A")


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
        require_finite("current", self.current)
        require_positive("duration", self.duration)
        require_positive("interval", self.interval)
        if self.interval > self.duration:
            raise ValueError("interval must not exceed duration")
        if self.compliance_voltage is not None:
            require_positive("compliance_voltage", self.compliance_voltage)
        return self

    def expected_duration(self) -> float:
        """``duration``, s."""
        return to_magnitude(self.duration, "s")

    def _currents(self) -> Iterator[tuple[str, float]]:
        yield "current", to_magnitude(self.current, "A")

    def _compliance(self) -> float | None:
        return (
            None if self.compliance_voltage is None else to_magnitude(self.compliance_voltage, "V")
        )


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
        require_finite("start", self.start)
        require_finite("end", self.end)
        require_positive("scan_rate", self.scan_rate)
        require_positive("step", self.step)
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if self.step > abs(self.end - self.start):
            raise ValueError("step must not exceed the swept range")
        if self.current_limit is not None:
            require_positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """|end − start| / scan_rate, s."""
        return abs(to_magnitude(self.end, "V") - to_magnitude(self.start, "V")) / to_magnitude(
            self.scan_rate, "V/s"
        )

    def _potentials(self) -> Iterator[tuple[str, float]]:
        yield "start potential", to_magnitude(self.start, "V")
        yield "end potential", to_magnitude(self.end, "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", to_magnitude(self.current_limit, "A")


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
            require_finite(name, getattr(self, name))
        require_positive("scan_rate", self.scan_rate)
        require_positive("step", self.step)
        if self.vertex1 == self.vertex2:
            raise ValueError("vertex1 and vertex2 must differ")
        if self.step > abs(self.vertex1 - self.vertex2):
            raise ValueError("step must not exceed the distance between the vertices")
        if self.current_limit is not None:
            require_positive("current_limit", self.current_limit)
        return self

    def expected_duration(self) -> float:
        """The swept path over ``scan_rate`` for all cycles, s."""
        start, first, second = (
            to_magnitude(getattr(self, n), "V") for n in ("start", "vertex1", "vertex2")
        )
        path = abs(first - start) + abs(second - first) + abs(start - second)
        return self.cycles * path / to_magnitude(self.scan_rate, "V/s")

    def _potentials(self) -> Iterator[tuple[str, float]]:
        for name in ("start", "vertex1", "vertex2"):
            yield f"{name} potential", to_magnitude(getattr(self, name), "V")

    def _currents(self) -> Iterator[tuple[str, float]]:
        if self.current_limit is not None:
            yield "current limit", to_magnitude(self.current_limit, "A")
