"""The pulsed-charging experiment's options, its pulse protocol and the outcomes it reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.config import (
    QUANTITY_SERIALIZER,
    Duration,
    quantity_validator,
)
from labctl.errors import LabctlError
from labctl.units import parse_quantity, to_magnitude, ureg

__all__ = [
    "METADATA_KEY",
    "OUTCOME_UNITS",
    "PLAN_NAME",
    "PulseProtocol",
    "PulsedChargingOptions",
]


PLAN_NAME = "pulsed_charging_experiment"
METADATA_KEY = "pulsed_charging"
"""Start-document key of everything the reducer needs besides the streams."""

OUTCOME_UNITS: dict[str, str] = {
    "plating_rate": "mA/cm**2",
    "coulombic_efficiency": "",
    "dendrite_proxy": "mV",
    "plated_charge": "mC/cm**2",
    "short_circuit": "",
    "stripping_plateau": "V",
}
"""The reducer's outcomes and the units it reports them in (objectives must use these)."""

CurrentDensity: TypeAlias = Annotated[Any, quantity_validator("A/m**2"), QUANTITY_SERIALIZER]
Potential: TypeAlias = Annotated[Any, quantity_validator("V"), QUANTITY_SERIALIZER]


class PulsedChargingOptions(BaseModel):
    """``campaign.experiment_options`` of the ``pulsed-charging`` experiment.

    Args:
        droplet: the scanning droplet cell's device name.
        plating_time: nominal pulse-train length (whole cycles, at least 4).
        rest_time: open circuit between plating and stripping (default 0 s: none).
        rest_interval: sampling interval of the rest.
        strip_current_density: anodic current density of the strip.
        strip_excess: the strip lasts this many times the charge the protocol leaves (> 1).
        strip_points: samples of the strip (its interval follows).
        cutoff_potential: cell voltage that marks the end of the metal's stripping plateau.
        compliance_voltage: compliance of the pulse train and the strip.
        max_points: the most samples a pulse train may have (a protocol needing more is
            refused before the run: its pulses are too short for its length).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    droplet: str = "droplet"
    plating_time: Duration = Field(default_factory=lambda: ureg.Quantity(2.0, "s"))
    rest_time: Duration = Field(default_factory=lambda: ureg.Quantity(0.0, "s"))
    rest_interval: Duration = Field(default_factory=lambda: ureg.Quantity(10.0, "ms"))
    strip_current_density: CurrentDensity = Field(
        default_factory=lambda: ureg.Quantity(10.0, "mA/cm**2")
    )
    strip_excess: float = Field(default=1.3, gt=1.0, le=3.0)
    strip_points: int = Field(default=2000, ge=50, le=100_000)
    cutoff_potential: Potential = Field(default_factory=lambda: ureg.Quantity(0.3, "V"))
    compliance_voltage: Potential = Field(default_factory=lambda: ureg.Quantity(3.0, "V"))
    max_points: int = Field(default=20_000, ge=100, le=1_000_000)


class PulseProtocol(BaseModel):
    """One proposed protocol, in SI units (A/m², s).

    Args:
        peak_density: plating current density of the on-pulse (magnitude), A/m².
        on_time: s.
        off_time: s.
        reverse_density: anodic current density during the off-time (0: rest), A/m².
    """

    model_config = ConfigDict(frozen=True)

    peak_density: float = Field(gt=0)
    on_time: float = Field(gt=0)
    off_time: float = Field(gt=0)
    reverse_density: float = Field(default=0.0, ge=0)

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> PulseProtocol:
        """The protocol a proposal describes.

        The proposal holds ``pulse_current_density``, ``on_time``, ``off_time`` and optionally
        ``reverse_current_density`` (quantities, or text with units).

        Raises:
            LabctlError: a missing input, or one with the wrong units or sign.
        """
        missing = {"pulse_current_density", "on_time", "off_time"} - set(inputs)
        if missing:
            raise LabctlError(f"a pulsed-charging proposal needs {sorted(missing)}")
        reverse = inputs.get("reverse_current_density")
        try:
            return cls(
                peak_density=abs(_si(inputs["pulse_current_density"], "A/m**2")),
                on_time=_si(inputs["on_time"], "s"),
                off_time=_si(inputs["off_time"], "s"),
                reverse_density=0.0 if reverse is None else abs(_si(reverse, "A/m**2")),
            )
        except ValidationError as error:
            raise LabctlError(f"not a pulse protocol: {error}") from None

    @property
    def duty_cycle(self) -> float:
        """on_time/(on_time + off_time)."""
        return self.on_time / (self.on_time + self.off_time)

    @property
    def net_density(self) -> float:
        """Time-averaged net plating current density, A/m² (reverse pulses subtract)."""
        duty = self.duty_cycle
        return duty * self.peak_density - (1.0 - duty) * self.reverse_density


def _si(value: Any, unit: str) -> float:
    return to_magnitude(parse_quantity(value, unit), unit)
