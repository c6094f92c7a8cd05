"""The search space as written in a campaign config: pydantic models of plain dicts.

A campaign's ``space`` section maps each parameter's name to its description; the optional key
``constraints`` holds linear inequalities between continuous parameters::

    space:
      salt_molality: {low: 0.5 mol/kg, high: 2 mol/kg}
      temperature: {low: 10 degC, high: 50 degC}
      pulse_on_time: {low: 1 ms, high: 1 s, log: true}
      pulse_off_time: {low: 1 ms, high: 1 s}
      repeats: {type: integer, low: 1, high: 5}
      salt: {choices: [LiPF6, LiFSI]}
      electrode: {value: Pt}
      solvent: {mixture: {ec_fraction: {low: 0.1, high: 0.6}, emc_fraction: {}, dmc_fraction: {}}}
      constraints:
        - pulse_off_time >= 0.25 * pulse_on_time

The ``type`` of an entry is inferred when absent (``choices`` → categorical, ``value`` → fixed,
``mixture`` → mixture, ``low``/``high`` → continuous). Quantities are strings with units; bare
numbers mean a dimensionless parameter. Unknown keys are errors. Cross-parameter checks (names,
constraints, feasibility) happen when :class:`~labctl.optimizers.space.SearchSpace` is built.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.errors import UnitError
from labctl.units import Quantity, parse_quantity

__all__ = [
    "CategoricalSpec",
    "ContinuousSpec",
    "FixedSpec",
    "IntegerSpec",
    "MemberSpec",
    "MixtureSpec",
    "ParameterSpec",
    "infer_type",
    "quantity_of",
    "units_text",
]

_NUMBER_START = re.compile(r"^\s*[-+]?(\d|\.\d)")
_LEADING_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def units_text(value: str | float) -> str:
    """The unit part of a quantity as the user wrote it (``"0.5 mol/kg"`` → ``"mol/kg"``)."""
    if not isinstance(value, str):
        return ""
    match = _LEADING_NUMBER.match(value)
    return value[match.end() :].strip() if match else ""


def quantity_of(value: str | float, units: str | None = None) -> Quantity:
    """A quantity from config text (``"0.5 mol/kg"``) or a bare number (dimensionless).

    Args:
        value: text with units, or a number.
        units: the dimension the value must have (a unit of it), if known.

    Raises:
        UnitError: the text is not a quantity or has another dimension.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if units is None or parse_quantity(f"1 {units}").dimensionless:
            quantity = parse_quantity(float(value), "dimensionless")
            return quantity.to(units) if units else quantity
        raise UnitError(value, f"a quantity in {units}", "a bare number has no units")
    return parse_quantity(value, units)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContinuousSpec(_Strict):
    """A real-valued parameter between two bounds.

    Args:
        type: ``"continuous"``.
        low: lower bound with units (``"0.5 mol/kg"``) or a number (dimensionless).
        high: upper bound, same dimension as ``low``, strictly greater.
        units: the unit suggestions are given in (default: the unit of ``low``).
        log: search on a logarithmic scale (both bounds must be positive).
        description: what the parameter is, for people.
    """

    type: Literal["continuous"] = "continuous"
    low: str | float
    high: str | float
    units: str | None = None
    log: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> ContinuousSpec:
        low, high, units = self.bounds()
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("bounds must be finite")
        if not high > low:
            raise ValueError(
                f"empty bounds: high ({high:g} {units}) must be greater than low "
                f"({low:g} {units}); use {{value: …}} for a fixed parameter"
            )
        if self.log and low <= 0:
            raise ValueError(f"a log-scale parameter needs positive bounds, got low {low:g}")
        return self

    def bounds(self) -> tuple[float, float, str]:
        """``(low, high, units)``: the bounds as magnitudes in the parameter's units."""
        units = self.units if self.units is not None else units_text(self.low)
        dimension = units or "dimensionless"
        try:
            low = quantity_of(self.low, dimension)
            high = quantity_of(self.high, dimension)
        except UnitError as error:
            raise ValueError(
                f"units that don't match: low {self.low!r}, high {self.high!r}"
                + (f", units {self.units!r}" if self.units else "")
                + f" ({error.reason})"
            ) from error
        return float(low.to(dimension).magnitude), float(high.to(dimension).magnitude), units


class IntegerSpec(_Strict):
    """A whole-number parameter between two bounds (inclusive).

    Args:
        type: ``"integer"``.
        low: smallest value.
        high: largest value, greater than ``low``.
        units: the unit of the count's steps, if any (``"cycle"`` is not a unit: leave empty).
        description: what the parameter is, for people.
    """

    type: Literal["integer"] = "integer"
    low: int
    high: int
    units: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> IntegerSpec:
        if not self.high > self.low:
            raise ValueError(
                f"empty bounds: high ({self.high}) must be greater than low ({self.low}); "
                "use {value: …} for a fixed parameter"
            )
        if self.units:
            parse_quantity(f"1 {self.units}")
        return self


class CategoricalSpec(_Strict):
    """A choice among named options (e.g. the salt).

    Args:
        type: ``"categorical"``.
        choices: at least two distinct options.
        description: what the parameter is, for people.
    """

    type: Literal["categorical"] = "categorical"
    choices: list[str | int | float] = Field(min_length=1)
    description: str = ""

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: list[str | int | float]) -> list[str | int | float]:
        if len(choices) < 2:
            raise ValueError(
                f"a categorical parameter needs at least two choices, got {choices!r}; "
                "use {value: …} for a fixed parameter"
            )
        if len(set(map(str, choices))) != len(choices):
            raise ValueError(f"choices must be distinct, got {choices!r}")
        return choices


class FixedSpec(_Strict):
    """A parameter held at one value (recorded with every suggestion, never searched).

    Args:
        type: ``"fixed"``.
        value: a quantity with units (``"0.2 cm**2"``), a number, or a label (``"Pt"``).
        description: what the parameter is, for people.
    """

    type: Literal["fixed"] = "fixed"
    value: str | float | bool
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> FixedSpec:
        self.resolved()
        return self

    def resolved(self) -> Quantity | str | float | bool:
        """The value: a quantity when the text starts with a number, else the label as is."""
        if isinstance(self.value, str) and _NUMBER_START.match(self.value):
            try:
                return parse_quantity(self.value)
            except UnitError as error:
                raise ValueError(f"{self.value!r} is not a quantity: {error.reason}") from error
        return self.value


class MemberSpec(_Strict):
    """One member of a mixture: bounds on its fraction.

    Args:
        low: smallest fraction (0 … 1).
        high: largest fraction (0 … 1), at least ``low``.
    """

    low: float = Field(default=0.0, ge=0.0, le=1.0)
    high: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> MemberSpec:
        if self.high < self.low:
            raise ValueError(f"empty bounds: high ({self.high:g}) is below low ({self.low:g})")
        return self


class MixtureSpec(_Strict):
    """Fractions that sum to exactly 1 (a solvent blend).

    Args:
        type: ``"mixture"``.
        mixture: member name → bounds of its fraction (``{}`` for 0 … 1); at least two members.
            Each member becomes a parameter of its own name in suggestions.
        basis: what the fractions are fractions of (for people and the experiment plan).
        description: what the mixture is, for people.
    """

    type: Literal["mixture"] = "mixture"
    mixture: dict[str, MemberSpec]
    basis: Literal["mass", "mole", "volume"] = "mass"
    description: str = ""

    @field_validator("mixture", mode="before")
    @classmethod
    def _members(cls, members: Any) -> Any:
        if isinstance(members, list | tuple):
            members = {str(name): {} for name in members}
        if isinstance(members, dict):
            if len(members) < 2:
                raise ValueError(
                    f"a mixture needs at least two members, got {list(members)!r}; "
                    "a single member would always be 1"
                )
            return {name: ({} if spec is None else spec) for name, spec in members.items()}
        return members

    @model_validator(mode="after")
    def _check(self) -> MixtureSpec:
        low = sum(member.low for member in self.mixture.values())
        high = sum(member.high for member in self.mixture.values())
        if low > 1 + 1e-12:
            raise ValueError(f"the members' lower bounds sum to {low:g} > 1: no blend fits")
        if high < 1 - 1e-12:
            raise ValueError(f"the members' upper bounds sum to {high:g} < 1: no blend fits")
        return self


ParameterSpec = Annotated[
    ContinuousSpec | IntegerSpec | CategoricalSpec | FixedSpec | MixtureSpec,
    Field(discriminator="type"),
]
"""Any parameter entry of a ``space`` section."""


def infer_type(entry: Any) -> Any:
    """Fill in ``type`` from the keys of an entry that does not state it."""
    if not isinstance(entry, dict) or "type" in entry:
        return entry
    if "choices" in entry:
        kind = "categorical"
    elif "value" in entry:
        kind = "fixed"
    elif "mixture" in entry:
        kind = "mixture"
    else:
        kind = "continuous"
    return {"type": kind, **entry}
