"""A soft signal for values a device last reported or computed, described with units.

Bluesky's descriptors carry ``units`` and ``precision`` per data key so that tables, plots and the
store show a value with its unit and sensible digits; ophyd's plain ``Signal`` describes neither.
Text values (a phase, a fault message) get no precision.
"""

from __future__ import annotations

from typing import Any

from ophyd import Signal

__all__ = ["Reading"]


class Reading(Signal):  # type: ignore[misc]
    """A value described with its units and, unless it is text, its precision (decimals).

    Args:
        units: the value's unit as pint writes it (``""``: dimensionless or text).
        precision: decimals worth showing.
    """

    def __init__(self, *args: Any, units: str = "", precision: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = units
        self.precision = precision

    def describe(self) -> dict[str, dict[str, Any]]:
        """The data key with units and precision."""
        description: dict[str, dict[str, Any]] = super().describe()
        key = description[self.name]
        key["units"] = self.units
        if key.get("dtype") != "string":
            key["precision"] = self.precision
        return description
