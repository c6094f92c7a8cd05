"""What every technique is: a frozen model of quantities with units, its limits, its SI form."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, TypeAlias

import numpy as np
from pydantic import BaseModel, ConfigDict

from labctl.config import (
    QUANTITY_SERIALIZER,
    quantity_validator,
)
from labctl.devices.potentiostat.techniques.limits import TechniqueLimits
from labctl.units import Quantity

__all__ = [
    "Charge",
    "Current",
    "Frequency",
    "Potential",
    "ScanRate",
    "Technique",
    "Time",
    "require_finite",
    "require_positive",
]

Potential: TypeAlias = Annotated[Quantity, quantity_validator("V"), QUANTITY_SERIALIZER]
Current: TypeAlias = Annotated[Quantity, quantity_validator("A"), QUANTITY_SERIALIZER]
Charge: TypeAlias = Annotated[Quantity, quantity_validator("C"), QUANTITY_SERIALIZER]
Time: TypeAlias = Annotated[Quantity, quantity_validator("s"), QUANTITY_SERIALIZER]
ScanRate: TypeAlias = Annotated[Quantity, quantity_validator("V/s"), QUANTITY_SERIALIZER]
Frequency: TypeAlias = Annotated[Quantity, quantity_validator("Hz"), QUANTITY_SERIALIZER]


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


def require_positive(name: str, quantity: Quantity) -> None:
    """Refuse a quantity that is not a finite number above zero (a technique's validator).

    Raises:
        ValueError: naming the field and the value.
    """
    if not quantity.magnitude > 0 or not math.isfinite(float(quantity.magnitude)):
        raise ValueError(f"{name} must be > 0, got {quantity:~P}")


def require_finite(name: str, quantity: Quantity) -> None:
    """Refuse a quantity that is NaN or infinite (a technique's validator).

    Raises:
        ValueError: naming the field and the value.
    """
    if not math.isfinite(float(quantity.magnitude)):
        raise ValueError(f"{name} must be a finite number, got {quantity:~P}")
