"""Config fields: quantities with units, the strict base model, limit ranges.

Every physical value in a config carries units (``"2 s"``, ``"10 ppm"``, ``"25 degC"``); these
field types parse it into a pint quantity of the right dimension, and write it back as text.
Device, technique and plan option models across labctl declare their fields with them.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, TypeAlias

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, model_validator

from labctl.units import Quantity, parse_quantity

__all__ = [
    "QUANTITY_SERIALIZER",
    "Duration",
    "LimitRange",
    "QuantityField",
    "StrictModel",
    "quantity_validator",
]


def quantity_validator(dimension: str | None) -> PlainValidator:
    """A pydantic validator parsing text into a pint quantity of ``dimension``.

    Use it to declare a config field of a given dimension::

        Current = Annotated[Quantity, quantity_validator("[current]"), QUANTITY_SERIALIZER]

    Args:
        dimension: a dimensionality (``"[time]"``) or a unit of the wanted dimension
            (``"mA/cm**2"``); ``None`` accepts any quantity that has units.
    """
    return PlainValidator(
        partial(parse_quantity, dimension=dimension),
        json_schema_input_type=str,
    )


QUANTITY_SERIALIZER = PlainSerializer(lambda quantity: f"{quantity:~P}", return_type=str)
"""Writes a quantity back as text (``"2 s"``) when a model is dumped."""

QuantityField: TypeAlias = Annotated[Quantity, quantity_validator(None), QUANTITY_SERIALIZER]
"""Any quantity with units."""

Duration: TypeAlias = Annotated[Quantity, quantity_validator("[time]"), QUANTITY_SERIALIZER]
"""A time span with units (``"2 s"``, ``"500 ms"``)."""


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, quantities are pint objects."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


class LimitRange(StrictModel):
    """A safety or alarm range for one quantity; either end may be open.

    Args:
        low: lowest allowed value, with units.
        high: highest allowed value, with units.
    """

    low: QuantityField | None = None
    high: QuantityField | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LimitRange:
        if self.low is None and self.high is None:
            raise ValueError("a limit needs at least one of 'low' or 'high'")
        if self.low is not None and self.high is not None:
            if not self.low.is_compatible_with(self.high):
                raise ValueError(
                    f"'low' ({self.low:~P}) and 'high' ({self.high:~P}) have different dimensions"
                )
            if self.low >= self.high:
                raise ValueError(f"'low' ({self.low:~P}) must be below 'high' ({self.high:~P})")
        return self

    def contains(self, value: Quantity) -> bool:
        """Whether ``value`` lies inside the range (ends included)."""
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)

    def describe(self) -> str:
        """The range as text, e.g. ``"[0 ppm, 10 ppm]"`` or ``"≤ 10 ppm"``."""
        if self.low is not None and self.high is not None:
            return f"[{self.low:~P}, {self.high:~P}]"
        if self.high is not None:
            return f"≤ {self.high:~P}"
        return f"≥ {self.low:~P}"
