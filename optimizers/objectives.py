"""Objectives and outcome constraints, from the ``objectives`` section of a campaign config.

::

    objectives:
      conductivity: {direction: maximize, units: mS/cm, reference: 2 mS/cm}
      stability_limit: {direction: maximize, units: V}
      viscosity: {direction: none, units: cP}     # measured and constrained, not optimized
      constraints:
        - conductivity >= 5 mS/cm
        - viscosity <= 4 cP

Outcomes are told as floats in each objective's ``units`` (or as quantities, converted). The
optimizers work in a *maximization space*: each objective's value times +1 (maximize) or -1
(minimize). A reference point left out of the config is inferred from the data (BoTorch's
``infer_reference_point``: the worst observed value of each objective less 10 % of its range)
and reported by :meth:`Objectives.reference_point`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pint
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from labctl.errors import ConfigError, ConfigIssue, UnitError
from labctl.optimizers.errors import InputError
from labctl.units import ureg

__all__ = ["ObjectiveSpec", "Objectives", "OutcomeConstraint"]

_CONSTRAINT = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?P<op><=|>=|≤|≥)\s*(?P<bound>.+?)\s*$")


class ObjectiveSpec(BaseModel):
    """One measured outcome.

    Args:
        direction: ``maximize``, ``minimize``, or ``none`` (modelled for outcome constraints
            only).
        units: the unit outcomes are told in (pint text; a unit pint does not know, such as a
            currency, is kept as a label and then bounds must be bare numbers).
        reference: the hypervolume reference point for this objective (the worst value still
            worth having), in ``units`` or as text with units; inferred from data when absent.
        description: what it is, for people.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Literal["maximize", "minimize", "none"]
    units: str = ""
    reference: str | float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> ObjectiveSpec:
        if self.reference is not None:
            if self.direction == "none":
                raise ValueError("an outcome with direction 'none' has no reference point")
            self.magnitude(self.reference)
        return self

    def magnitude(self, value: str | float) -> float:
        """A bound or reference as a float in this objective's units (finite).

        Raises:
            ValueError: not a quantity in these units, or NaN or infinite (a NaN reference point
                crashes the first model fit; an infinite one makes the hypervolume 0).
        """
        number = self._number(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number

    def _number(self, value: str | float) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            quantity: Any = ureg.Quantity(str(value).strip())
            if not isinstance(quantity, pint.Quantity):
                raise UnitError(value, self.units, "not a quantity")
            if quantity.dimensionless and not any(c.isalpha() for c in str(value)):
                return float(quantity.magnitude)
            return float(quantity.to(self.units or "dimensionless").magnitude)
        except (pint.errors.PintError, UnitError, ValueError, AttributeError, TypeError) as error:
            raise ValueError(
                f"units that don't match: {value!r} cannot be expressed in "
                f"{self.units or 'no units'}"
            ) from error


@dataclass(frozen=True)
class OutcomeConstraint:
    """A feasibility requirement on an outcome: ``outcome ≥ bound`` or ``outcome ≤ bound``.

    Args:
        text: as written in the config.
        outcome: index of the outcome in :attr:`Objectives.names`.
        upper: ``True`` for ``≤``.
        bound: in the outcome's units.
    """

    text: str
    outcome: int
    upper: bool
    bound: float

    def slack(self, Y: np.ndarray) -> np.ndarray:
        """≥ 0 where satisfied, per row of an ``n x m`` array of outcomes."""
        values = Y[:, self.outcome]
        return np.asarray(self.bound - values if self.upper else values - self.bound)


class Objectives:
    """The validated ``objectives`` section.

    Args:
        config: outcome name → description (:class:`ObjectiveSpec`), plus ``constraints``.
        where: key path of the section, for error messages.
        source: where the config came from, for error messages.

    Raises:
        ConfigError: unknown keys, bad units, no objective to optimize, a constraint on an
            unknown outcome.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        where: Sequence[str | int] = ("objectives",),
        source: str = "<objectives>",
    ) -> None:
        self.where = tuple(where)
        issues: list[ConfigIssue] = []
        self.specs: dict[str, ObjectiveSpec] = {}
        for name, entry in config.items():
            if name == "constraints":
                continue
            try:
                self.specs[name] = ObjectiveSpec.model_validate(entry)
            except ValidationError as error:
                for detail in error.errors():
                    message = str(detail["msg"]).removeprefix("Value error, ")
                    issues.append(ConfigIssue((*self.where, name, *detail["loc"]), message))
        if not issues and not any(spec.direction != "none" for spec in self.specs.values()):
            issues.append(ConfigIssue(self.where, "no objective to maximize or minimize"))
        self.names = list(self.specs)
        self.constraint_texts: list[str] = list(config.get("constraints", []) or [])
        self.constraints: list[OutcomeConstraint] = []
        for index, text in enumerate(self.constraint_texts):
            try:
                self.constraints.append(self._parse(str(text)))
            except ValueError as error:
                issues.append(ConfigIssue((*self.where, "constraints", index), str(error), text))
        if issues:
            raise ConfigError(source, issues)
        self.objective_names = [n for n in self.names if self.specs[n].direction != "none"]
        self.objective_columns = [self.names.index(n) for n in self.objective_names]
        self.signs = np.array(
            [1.0 if self.specs[n].direction == "maximize" else -1.0 for n in self.objective_names]
        )

    @property
    def directions(self) -> dict[str, str]:
        """Outcome name → ``maximize``, ``minimize`` or ``none`` (measured, not optimized)."""
        return {name: spec.direction for name, spec in self.specs.items()}

    def _parse(self, text: str) -> OutcomeConstraint:
        match = _CONSTRAINT.match(text)
        if match is None:
            raise ValueError("an outcome constraint reads 'name >= bound' or 'name <= bound'")
        name = match["name"]
        if name not in self.specs:
            raise ValueError(
                f"unknown objective {name!r} in an outcome constraint; known: {self.names}"
            )
        bound = self.specs[name].magnitude(match["bound"])
        return OutcomeConstraint(text, self.names.index(name), match["op"] in ("<=", "≤"), bound)

    def to_config(self) -> dict[str, Any]:
        """The section as a plain, JSON-ready dict."""
        config: dict[str, Any] = {
            name: spec.model_dump(mode="json", exclude_defaults=True)
            for name, spec in self.specs.items()
        }
        if self.constraint_texts:
            config["constraints"] = list(self.constraint_texts)
        return config

    @property
    def num_objectives(self) -> int:
        """How many outcomes are optimized."""
        return len(self.objective_names)

    def to_array(self, outcomes: Sequence[Mapping[str, Any] | None]) -> np.ndarray:
        """Told outcomes → an ``n x m`` array in each outcome's units (NaN where missing).

        Raises:
            InputError: a value cannot be expressed in its outcome's units.
        """
        Y = np.full((len(outcomes), len(self.names)), np.nan)
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                continue
            for j, name in enumerate(self.names):
                if name in outcome and outcome[name] is not None:
                    Y[i, j] = self._value(name, outcome[name])
        return Y

    def _value(self, name: str, value: Any) -> float:
        if isinstance(value, pint.Quantity):
            try:
                return float(value.to(self.specs[name].units or "dimensionless").magnitude)
            except pint.errors.PintError as error:
                raise InputError(
                    f"outcome {name}: {value} cannot be expressed in {self.specs[name].units}"
                ) from error
        number = float(value)
        return number if math.isfinite(number) else math.nan

    def maximization(self, Y: np.ndarray) -> np.ndarray:
        """``n x m`` outcomes → ``n x k`` objectives in maximization space (signs applied)."""
        return np.asarray(Y[:, self.objective_columns] * self.signs)

    def feasible(self, Y: np.ndarray) -> np.ndarray:
        """Rows meeting every outcome constraint (rows with NaN are not feasible)."""
        ok = ~np.isnan(Y).any(axis=1)
        for constraint in self.constraints:
            with np.errstate(invalid="ignore"):
                ok &= constraint.slack(Y) >= 0
        return np.asarray(ok)

    def fixed_reference(self) -> np.ndarray | None:
        """The configured reference point in maximization space, if every objective has one."""
        values = [self.specs[name].reference for name in self.objective_names]
        if any(value is None for value in values):
            return None
        magnitudes = [
            self.specs[name].magnitude(value)
            for name, value in zip(self.objective_names, values, strict=True)
            if value is not None
        ]
        return np.asarray(np.asarray(magnitudes) * self.signs)

    def reference_point(self, Y: np.ndarray) -> tuple[np.ndarray, bool]:
        """The hypervolume reference point in maximization space, and whether it was inferred.

        Configured values are used where given; the others are inferred from the feasible
        observations' Pareto front (worst value less 10 % of the range), or 0 with no data.

        Args:
            Y: ``n x m`` told outcomes (NaN rows ignored).

        Returns:
            ``(reference, inferred)``: an array of length ``k`` and ``True`` if any part was
            inferred.
        """
        import torch
        from botorch.utils.multi_objective.hypervolume import infer_reference_point
        from botorch.utils.multi_objective.pareto import is_non_dominated

        configured = [self.specs[name].reference for name in self.objective_names]
        if all(value is not None for value in configured):
            fixed = self.fixed_reference()
            assert fixed is not None
            return fixed, False
        feasible = self.maximization(Y[self.feasible(Y)])
        if len(feasible) == 0:
            observed = self.maximization(Y[~np.isnan(Y).any(axis=1)])
            feasible = observed
        if len(feasible) == 0:
            inferred = np.zeros(self.num_objectives)
        else:
            tensor = torch.as_tensor(feasible, dtype=torch.float64)
            front = tensor[is_non_dominated(tensor)]
            inferred = infer_reference_point(front).numpy()
        reference = np.array(
            [
                inferred[i] if value is None else self.specs[name].magnitude(value) * self.signs[i]
                for i, (name, value) in enumerate(
                    zip(self.objective_names, configured, strict=True)
                )
            ]
        )
        return reference, True

    def describe(self, name: str) -> str:
        """``"conductivity (mS/cm)"`` — a label for plots and tables."""
        units = self.specs[name].units
        return f"{name} ({units})" if units else name
