"""Physical quantities for labctl: one pint registry, parsing from text, dimension checks.

Users write quantities as strings in configs and at the console (``"2 mA/cm**2"``, ``"25 degC"``,
``"10 uL/s"``). They are parsed once, at the edge, into :class:`pint.Quantity` objects of the
single registry :data:`ureg`; devices convert to the instrument's unit at the driver, and documents
carry SI floats with the unit in the descriptor.

Besides pint's defaults (which include ``ppm``) the registry knows the molality unit ``molal``
(mol/kg), common in electrolyte work.

This module is part of the ground floor: it imports no labctl module other than :mod:`errors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeAlias

import pint

from labctl.errors import UnitError

__all__ = [
    "Quantity",
    "decode_quantity",
    "dimension_name",
    "encode_quantity",
    "parse_quantity",
    "require_dimension",
    "to_magnitude",
    "ureg",
]

ureg: pint.UnitRegistry[Any] = pint.UnitRegistry(
    autoconvert_offset_to_baseunit=True,
    on_redefinition="raise",
    cache_folder=None,
)
if "molal" not in ureg:
    ureg.define("molal = mole / kilogram")
ureg.formatter.default_format = "~P"

Quantity: TypeAlias = pint.Quantity[Any]
"""The quantity type of :data:`ureg` (use it in type hints)."""

# Names for the dimensions labctl meets (keyed by a representative unit), so errors speak the
# scientist's language.
_DIMENSION_EXAMPLES: dict[str, str] = {
    "K": "a temperature",
    "m": "a length",
    "m**2": "an area",
    "L": "a volume",
    "kg": "a mass",
    "s": "a time",
    "Hz": "a frequency",
    "A": "a current",
    "A/m**2": "a current density",
    "V": "a potential",
    "ohm": "a resistance",
    "F": "a capacitance",
    "C": "a charge",
    "Pa": "a pressure",
    "L/s": "a flow rate",
    "m/s": "a speed",
    "mol/L": "a concentration",
    "mol/kg": "a molality",
    "kg/m**3": "a density",
    "S/m": "a conductivity",
    "V/s": "a sweep rate",
    "dimensionless": "a dimensionless number",
}
_dimension_names: dict[Any, str] = {}


def _name_of(dimensionality: Any) -> str | None:
    if not _dimension_names:
        for unit, name in _DIMENSION_EXAMPLES.items():
            _dimension_names[ureg.parse_units(unit).dimensionality] = name
    return _dimension_names.get(dimensionality)


def dimension_name(dimension: str) -> str:
    """Describe a dimension in words, e.g. ``"[temperature]"`` → ``"a temperature"``.

    Args:
        dimension: a pint dimensionality (``"[current] / [length] ** 2"``) or a unit expression
            (``"mA/cm**2"``).
    """
    try:
        if dimension.strip().startswith("["):
            dimensionality = ureg.get_dimensionality(dimension)
        else:
            dimensionality = ureg.parse_units(dimension).dimensionality
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, KeyError):
        return dimension
    text = str(dimensionality) if dimensionality else "dimensionless"
    name = _name_of(dimensionality)
    return f"{name} ({text})" if name else f"a quantity of dimension {text}"


def parse_quantity(value: object, dimension: str | None = None) -> Quantity:
    """Parse text or a number-with-units into a quantity of :data:`ureg`.

    Args:
        value: ``"2 mA/cm**2"``, ``"25 degC"``, or an existing quantity. A bare number is
            refused unless ``dimension`` is dimensionless: every physical value carries units.
        dimension: if given, the dimension the result must have — a dimensionality
            (``"[temperature]"``) or any unit of that dimension (``"mA/cm**2"``).

    Raises:
        UnitError: the text is not a quantity, or has another dimension than ``dimension``.
    """
    expected = dimension_name(dimension) if dimension else "a quantity with units"
    if isinstance(value, pint.Quantity):
        quantity = ureg.Quantity(value.magnitude, str(value.units))
    elif isinstance(value, bool):
        raise UnitError(value, expected, "a true/false value is not a quantity")
    elif isinstance(value, int | float):
        if dimension is not None and _is_dimensionless(dimension):
            quantity = ureg.Quantity(value, "dimensionless")
        else:
            raise UnitError(value, expected, "a bare number has no units")
    elif isinstance(value, str):
        quantity = _parse_text(value, expected)
    else:
        raise UnitError(value, expected, f"a {type(value).__name__} is not a quantity")
    magnitude = quantity.magnitude
    if isinstance(magnitude, int | float) and not math.isfinite(magnitude):
        # A NaN reference point crashes a model fit; an infinite one zeroes a hypervolume.
        raise UnitError(value, expected, "not a finite number")
    if dimension is not None:
        require_dimension(quantity, dimension)
    return quantity


def _parse_text(text: str, expected: str) -> Quantity:
    """Parse ``text`` as a quantity, turning pint's many failure modes into one error."""
    stripped = text.strip()
    if not stripped:
        raise UnitError(text, expected, "the text is empty")
    try:
        parsed: Any = ureg.Quantity(stripped)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError) as error:
        raise UnitError(text, expected, f"not a quantity ({error})") from error
    except (
        Exception
    ) as error:  # pint's parser evaluates expressions; anything it raises is "bad text"
        raise UnitError(text, expected, f"not a quantity ({type(error).__name__})") from error
    if not isinstance(parsed, pint.Quantity):
        raise UnitError(text, expected, "not a quantity")
    magnitude = parsed.magnitude
    if not isinstance(magnitude, int | float) or isinstance(magnitude, bool):
        raise UnitError(text, expected, "the magnitude is not a real number")
    if magnitude != magnitude or magnitude in (float("inf"), float("-inf")):
        raise UnitError(text, expected, "the magnitude is not finite")
    if (
        parsed.dimensionless
        and parsed.units == ureg.dimensionless
        and not _has_unit_word(stripped)
    ):
        raise UnitError(text, expected, "a bare number has no units")
    return parsed


def _has_unit_word(text: str) -> bool:
    """Whether ``text`` names a unit at all (``"5"`` does not, ``"5 ppm"`` does)."""
    return any(character.isalpha() or character == "%" for character in text)


def _is_dimensionless(dimension: str) -> bool:
    if dimension in ("[]", "dimensionless", ""):
        return True
    try:
        return bool(ureg.parse_units(dimension).dimensionless)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError):
        return False


def require_dimension(quantity: Quantity, dimension: str) -> Quantity:
    """Return ``quantity`` if it has ``dimension``, else raise an error naming the expected one.

    Args:
        quantity: a quantity of :data:`ureg`.
        dimension: a dimensionality (``"[length]"``) or a unit of that dimension (``"mm"``).

    Raises:
        UnitError: the dimensions differ.
    """
    expected = dimension_name(dimension)
    try:
        ok = (
            quantity.check(dimension)
            if dimension.startswith("[")
            else quantity.is_compatible_with(dimension)
        )
    except (pint.errors.PintError, AttributeError, TypeError, ValueError) as error:
        raise UnitError(quantity, expected, f"cannot compare dimensions ({error})") from error
    if not ok:
        actual = dimension_name(str(quantity.dimensionality))
        raise UnitError(f"{quantity:~P}", expected, f"it is {actual}")
    return quantity


def to_magnitude(quantity: Quantity, unit: str) -> float:
    """Express ``quantity`` in ``unit`` and return the bare float (for drivers and documents).

    Raises:
        UnitError: ``quantity`` cannot be expressed in ``unit``.
    """
    try:
        return float(quantity.to(unit).magnitude)
    except pint.errors.DimensionalityError as error:
        raise UnitError(f"{quantity:~P}", dimension_name(unit), "incompatible units") from error


# The unit each dimension is recorded in: documents carry SI values (rule 4 of DESIGN.md).
_RECORD_UNITS: tuple[str, ...] = (
    "K",
    "Pa",
    "m",
    "m**2",
    "m**3",
    "kg",
    "s",
    "Hz",
    "A",
    "A/m**2",
    "V",
    "ohm",
    "F",
    "C",
    "m**3/s",
    "m/s",
    "mol/m**3",
    "mol/kg",
    "kg/m**3",
    "S/m",
    "V/s",
    "W",
    "J",
)
_record_units_by_dimension: dict[Any, str] = {}


def record_unit(unit: str) -> str:
    """The SI unit a value given in ``unit`` is recorded in (``"degC"`` → ``"K"``).

    Dimensionless ratios (``ppm``, ``%``) keep their own unit: 5e-7 is no way to show 0.5 ppm,
    and a ratio has no SI unit but 1.

    Raises:
        UnitError: ``unit`` is not a unit.
    """
    try:
        parsed = ureg.parse_units(unit)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError) as error:
        raise UnitError(unit, "a unit", f"not a unit ({error})") from error
    if parsed.dimensionless:
        return unit
    if not _record_units_by_dimension:
        for si_unit in _RECORD_UNITS:
            _record_units_by_dimension[ureg.parse_units(si_unit).dimensionality] = si_unit
    known = _record_units_by_dimension.get(parsed.dimensionality)
    if known is not None:
        return known
    return f"{ureg.Quantity(1, parsed).to_base_units().units:~C}"


def encode_quantity(value: Any) -> Any:
    """A value as JSON documents keep it: a quantity as ``{"value": float, "units": text}``.

    The one codec of quantities in documents (start documents, optimizer states, approvals,
    reports): the units are pint's short form (``"mol/kg"``, ``"mA/cm²"``; ``"1"`` when
    dimensionless), which :func:`decode_quantity` and :func:`parse_quantity` read back. A numpy
    scalar becomes a Python number; anything else is returned as is.
    """
    if isinstance(value, pint.Quantity):
        return {"value": float(value.magnitude), "units": f"{value.units:~P}" or "1"}
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def decode_quantity(value: Any) -> Any:
    """A value written by :func:`encode_quantity`: ``{"value", "units"}`` → a quantity.

    Anything that is not such a mapping is returned as is.
    """
    if isinstance(value, Mapping) and set(value) == {"value", "units"}:
        units = str(value["units"])
        return ureg.Quantity(float(value["value"]), "" if units == "1" else units)
    return value
