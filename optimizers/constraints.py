"""Linear inequality constraints between parameters, written as text with units.

A constraint is one inequality whose sides are sums of terms separated by `` + `` or `` - ``
(with spaces): a parameter, a number times a parameter (``0.25 * pulse_on_time``), or a quantity
with units (``100 ms``). Coefficients are plain numbers, so every parameter in one constraint has
the same dimension and every constant that dimension too::

    pulse_off_time >= 0.25 * pulse_on_time
    pulse_on_time + pulse_off_time <= 100 ms
    ec_fraction + pc_fraction <= 0.6

Only continuous parameters on a linear scale and mixture members can appear (a constraint is
linear in the model's unit cube only for those). The text is turned into the model-space form
``Σ coefficient_j · X[column_j] ≥ rhs`` that BoTorch's optimizers take.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from labctl.errors import UnitError
from labctl.units import Quantity, parse_quantity, ureg

__all__ = ["ModelConstraint", "Variable", "parse_constraint"]

_COMPARATOR = re.compile(r"(<=|>=|==|≤|≥|=|<|>)")
_TERM_SPLIT = re.compile(r"\s+([+-])\s+")
_VARIABLE_TERM = re.compile(
    r"^(?P<coefficient>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)?\s*\*?\s*(?P<name>[A-Za-z_]\w*)$"
)


@dataclass(frozen=True)
class Variable:
    """How a parameter's value relates to its model-space column: ``value = offset + scale·X``.

    Args:
        column: the parameter's column in model space.
        units: the unit ``value`` is in (``""`` for dimensionless).
        offset: value at ``X = 0``.
        scale: change of value per unit of ``X``.
    """

    column: int
    units: str
    offset: float
    scale: float


@dataclass(frozen=True)
class ModelConstraint:
    """A linear inequality in model space: ``Σ coefficients[i] · X[columns[i]] ≥ rhs``.

    Args:
        text: the constraint as the user wrote it.
        columns: model-space columns involved.
        coefficients: one per column.
        rhs: the right-hand side.
    """

    text: str
    columns: tuple[int, ...]
    coefficients: tuple[float, ...]
    rhs: float

    def slack(self, X: np.ndarray) -> np.ndarray:
        """``Σ coefficient·X - rhs`` per row (≥ 0 where satisfied).

        Args:
            X: ``n x d`` array in model space.

        Returns:
            Array of length ``n``.
        """
        columns = list(self.columns)
        return np.asarray(X[:, columns] @ np.asarray(self.coefficients) - self.rhs)


def _split_terms(side: str) -> list[tuple[float, str]]:
    """``"a + 0.5 * b - 3 ms"`` → ``[(1, "a"), (1, "0.5 * b"), (-1, "3 ms")]``."""
    text = side.strip()
    sign = 1.0
    if text.startswith("-"):
        sign, text = -1.0, text[1:].strip()
    elif text.startswith("+"):
        text = text[1:].strip()
    parts = _TERM_SPLIT.split(text)
    terms = [(sign, parts[0].strip())]
    for operator, term in zip(parts[1::2], parts[2::2], strict=True):
        terms.append((1.0 if operator == "+" else -1.0, term.strip()))
    if any(not term for _, term in terms):
        raise ValueError("an empty term (two operators in a row, or a trailing + or -)")
    return terms


def _factor(units: str, reference: str) -> float:
    """How many ``reference`` one ``units`` is (both multiplicative units)."""
    return float(ureg.Quantity(1.0, units or "dimensionless").to(reference or "dimensionless").m)


def parse_constraint(
    text: str, variables: Mapping[str, Variable], refused: Mapping[str, str]
) -> ModelConstraint:
    """Parse one constraint into its model-space form.

    Args:
        text: the inequality, e.g. ``"pulse_off_time >= 0.25 * pulse_on_time"``.
        variables: parameters that may appear, by name.
        refused: parameters that exist but may not appear, by name → why not.

    Raises:
        ValueError: with a sentence saying what is wrong (unknown name, mixed units, no
            comparator, an equality …).
    """
    pieces = _COMPARATOR.split(text)
    if len(pieces) != 3:
        raise ValueError("a constraint needs exactly one comparator, <= or >=")
    left, comparator, right = pieces
    if comparator in ("=", "=="):
        raise ValueError(
            "equalities between parameters are not supported; use a mixture group for "
            "fractions that sum to 1"
        )
    coefficients: dict[str, float] = {}
    constants: list[Quantity] = []
    for side_sign, side in ((1.0, left), (-1.0, right)):
        for sign, term in _split_terms(side):
            match = _VARIABLE_TERM.match(term)
            if match is not None and match["name"] in refused:
                raise ValueError(f"{match['name']!r} cannot appear: {refused[match['name']]}")
            if match is not None and match["name"] in variables:
                value = float(match["coefficient"]) if match["coefficient"] else 1.0
                name = match["name"]
                coefficients[name] = coefficients.get(name, 0.0) + side_sign * sign * value
                continue
            if match is not None and not match["coefficient"]:
                raise ValueError(f"unknown parameter {match['name']!r}")
            try:
                quantity = parse_quantity(term)
            except UnitError:
                try:
                    quantity = parse_quantity(float(term), "dimensionless")
                except ValueError:
                    name = match["name"] if match is not None else term
                    raise ValueError(f"unknown parameter {name!r}") from None
            constants.append(-side_sign * sign * quantity)
    if not coefficients:
        raise ValueError("a constraint must involve at least one parameter")
    names = list(coefficients)
    reference = variables[names[0]].units
    for name in names[1:]:
        units = variables[name].units
        if not ureg.Quantity(1.0, units or "dimensionless").is_compatible_with(
            reference or "dimensionless"
        ):
            raise ValueError(
                f"units that don't match: {names[0]!r} is in {reference or 'no units'}, "
                f"{name!r} in {units or 'no units'}"
            )
    for name in names:
        if not ureg.Quantity(1.0, variables[name].units or "dimensionless")._is_multiplicative:
            raise ValueError(
                f"{name!r} is in {variables[name].units}, a unit with an offset; declare it "
                "in an absolute unit (K) to use it in a linear constraint"
            )
    # Everything moved to the left: Σ a_j value_j (≥ or ≤) Σ constants.
    total = 0.0
    for constant in constants:
        try:
            total += float(constant.to(reference or "dimensionless").magnitude)
        except Exception as error:  # pint raises DimensionalityError / OffsetUnitCalculusError
            raise ValueError(
                f"units that don't match: the constant {constant:~P} cannot be compared with "
                f"{names[0]!r} in {reference or 'no units'}"
            ) from error
    direction = 1.0 if comparator in (">=", "≥", ">") else -1.0
    columns: list[int] = []
    model_coefficients: list[float] = []
    rhs = direction * total
    for name in names:
        variable = variables[name]
        a = direction * coefficients[name] * _factor(variable.units, reference)
        rhs -= a * variable.offset
        columns.append(variable.column)
        model_coefficients.append(a * variable.scale)
    if all(abs(value) < 1e-15 for value in model_coefficients):
        raise ValueError("the parameters cancel out: the constraint does not involve any")
    return ModelConstraint(text, tuple(columns), tuple(model_coefficients), rhs)
