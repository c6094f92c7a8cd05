"""Electrochemical impedance spectroscopy (potentiostatic EIS)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from labctl.devices.potentiostat.techniques.base import (
    Frequency,
    Potential,
    Technique,
    require_finite,
    require_positive,
)
from labctl.units import to_magnitude, ureg

__all__ = ["EIS"]


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
        require_finite("dc_potential", self.dc_potential)
        require_positive("amplitude", self.amplitude)
        ranged = (self.max_frequency, self.min_frequency, self.points_per_decade)
        if self.frequencies is not None:
            if any(value is not None for value in ranged):
                raise ValueError("give either frequencies or a decade range, not both")
            if not self.frequencies:
                raise ValueError("frequencies must not be empty")
            for value in self.frequencies:
                require_positive("every frequency", value)
        else:
            if any(value is None for value in ranged):
                raise ValueError(
                    "give frequencies, or all of max_frequency, min_frequency, points_per_decade"
                )
            assert self.max_frequency is not None
            assert self.min_frequency is not None
            require_positive("max_frequency", self.max_frequency)
            require_positive("min_frequency", self.min_frequency)
            if self.min_frequency >= self.max_frequency:
                raise ValueError("min_frequency must be below max_frequency")
        return self

    def frequency_list(self) -> list[float]:
        """The measured frequencies, high to low, Hz."""
        if self.frequencies is not None:
            return sorted((to_magnitude(f, "Hz") for f in self.frequencies), reverse=True)
        assert self.max_frequency is not None
        assert self.min_frequency is not None
        assert self.points_per_decade is not None
        high, low = to_magnitude(self.max_frequency, "Hz"), to_magnitude(self.min_frequency, "Hz")
        decades = math.log10(high / low)
        count = max(2, round(decades * self.points_per_decade) + 1)
        return [float(value) for value in np.geomspace(high, low, count)]

    def as_si(self) -> dict[str, Any]:
        """The SI mapping: ``frequencies`` always as the explicit list, high to low."""
        return {
            "kind": "eis",
            "dc_potential": to_magnitude(self.dc_potential, "V"),
            "amplitude": to_magnitude(self.amplitude, "V"),
            "frequencies": self.frequency_list(),
        }

    def expected_duration(self) -> float:
        """About three periods per frequency (at least 0.1 s each), s."""
        return sum(max(3.0 / frequency, 0.1) for frequency in self.frequency_list())

    def _potentials(self) -> Iterator[tuple[str, float]]:
        dc = to_magnitude(self.dc_potential, "V")
        peak = math.sqrt(2.0) * to_magnitude(self.amplitude, "V")
        yield "EIS potential (dc − peak)", dc - peak
        yield "EIS potential (dc + peak)", dc + peak
