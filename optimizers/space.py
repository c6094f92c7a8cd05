"""Search spaces: parameters with units, mixtures and linear constraints, and their encodings.

Three views of one experiment setting:

* **decoded** — what people and plans see: a dict parameter name → :class:`pint.Quantity`
  (continuous, integer with units, mixture fractions as dimensionless quantities, fixed values)
  or the chosen option of a categorical parameter.
* **model space** ``X`` (``d`` columns, what the surrogate models): continuous and integer
  parameters scaled to [0, 1] (log scale where asked, integers on a grid), each mixture member as
  its fraction (a column per member, so the sum is plainly 1), each categorical as its option's
  index 0 … c - 1. Fixed parameters have no column.
* **search coordinates** ``Z`` (``e`` columns, all in [0, 1], what acquisition optimization moves):
  like ``X`` for continuous and integer parameters, ``k - 1`` stick-breaking coordinates for a
  ``k``-member mixture (:mod:`~labctl.optimizers.simplex`), categoricals held out as codes.
  Optimizing over ``Z`` needs only box bounds however many mixtures there are, and every image
  ``X`` sums to 1 exactly.

Linear inequality constraints are kept in model space (:class:`ModelConstraint`); a strictly
feasible centre point found by linear programming at construction proves the space is usable and
repairs optimizer round-off (a suggestion is moved towards it just enough to satisfy every
constraint to 1e-12).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint
import torch
from pydantic import TypeAdapter, ValidationError
from torch import Tensor
from torch.quasirandom import SobolEngine

from labctl.errors import ConfigError, ConfigIssue, UnitError
from labctl.optimizers.constraints import ModelConstraint, Variable, parse_constraint
from labctl.optimizers.errors import InputError, SpaceExhaustedError
from labctl.optimizers.simplex import StickBreaking, uniform_sticks
from labctl.optimizers.space_config import (
    CategoricalSpec,
    ContinuousSpec,
    FixedSpec,
    IntegerSpec,
    MixtureSpec,
    ParameterSpec,
    infer_type,
    quantity_of,
)
from labctl.units import Quantity, decode_quantity, ureg

__all__ = ["FEASIBILITY_TOLERANCE", "Column", "SearchSpace", "config_error"]

FEASIBILITY_TOLERANCE = 1e-9
"""Largest violation of a bound, mixture sum or linear constraint a suggestion may have."""

_PARAMETER = TypeAdapter(ParameterSpec)
_MAX_SAMPLE_DRAWS = 1 << 17


def config_error(error: ValidationError, where: Sequence[str | int], source: str) -> ConfigError:
    """Turn a pydantic error into a :class:`ConfigError` with key paths under ``where``."""
    issues = []
    for detail in error.errors():
        location = list(detail["loc"])
        if location and location[0] in _TAGS:  # the discriminated union's tag
            location = location[1:]
        message = str(detail["msg"]).removeprefix("Value error, ")
        value = detail.get("input") if detail["type"] != "missing" else None
        issues.append(ConfigIssue((*where, *location), message, value))
    return ConfigError(source, issues)


_TAGS = {"continuous", "integer", "categorical", "fixed", "mixture"}


@dataclass(frozen=True)
class Column:
    """One model-space column.

    Args:
        parameter: the parameter (or mixture member) it holds.
        kind: ``continuous``, ``integer``, ``categorical`` or ``member``.
        low: lower bound in model space.
        high: upper bound in model space.
    """

    parameter: str
    kind: str
    low: float
    high: float


class SearchSpace:
    """A validated search space built from the ``space`` section of a campaign config.

    Args:
        config: parameter name → description, plus optional ``constraints`` (a list of linear
            inequalities as text); see :mod:`labctl.optimizers.space_config`.
        where: key path of the section in its document, for error messages.
        source: where the config came from, for error messages.

    Raises:
        ConfigError: every problem found, each with its key path (empty bounds, a one-member
            mixture, units that don't match, unknown names, contradictory constraints …).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        where: Sequence[str | int] = ("space",),
        source: str = "<search space>",
    ) -> None:
        self.where = tuple(where)
        self.source = source
        if not isinstance(config, Mapping):
            raise ConfigError(source, [ConfigIssue(self.where, "must be a mapping", config)])
        self.specs: dict[str, Any] = {}
        issues: list[ConfigIssue] = []
        raw_constraints = config.get("constraints", [])
        for name, entry in config.items():
            if name == "constraints":
                continue
            if not str(name).isidentifier():
                issues.append(
                    ConfigIssue((*self.where, name), "a parameter name must be an identifier")
                )
                continue
            try:
                self.specs[name] = _PARAMETER.validate_python(infer_type(entry))
            except ValidationError as error:
                issues.extend(config_error(error, (*self.where, name), source).issues)
        if not isinstance(raw_constraints, list) or not all(
            isinstance(text, str) for text in raw_constraints
        ):
            issues.append(
                ConfigIssue(
                    (*self.where, "constraints"),
                    "must be a list of inequalities as text",
                    raw_constraints,
                )
            )
            raw_constraints = []
        if issues:
            raise ConfigError(source, issues)
        self.constraint_texts: list[str] = list(raw_constraints)
        self._build_columns(issues)
        if issues:
            raise ConfigError(source, issues)
        self.constraints = self._parse_constraints(issues)
        if issues:
            raise ConfigError(source, issues)
        self.center = self._find_center(issues)
        if issues:
            raise ConfigError(source, issues)

    # ------------------------------------------------------------------ construction

    def _build_columns(self, issues: list[ConfigIssue]) -> None:
        self.columns: list[Column] = []
        self.search_kinds: list[str] = []  # per search coordinate
        self.mixtures: list[tuple[str, list[int], list[int], StickBreaking]] = []
        self.parameter_column: dict[str, int] = {}
        self.fixed: dict[str, Any] = {}
        self.categorical_columns: list[int] = []
        self.categorical_sizes: list[int] = []
        self.integer_columns: list[int] = []
        self.direct_model_columns: list[int] = []  # model columns equal to a search coordinate
        self.direct_search_columns: list[int] = []
        names: set[str] = set()
        for name, spec in self.specs.items():
            members = list(spec.mixture) if isinstance(spec, MixtureSpec) else [name]
            for member in members:
                if member in names or (member != name and member in self.specs):
                    issues.append(
                        ConfigIssue(
                            (*self.where, name), f"the name {member!r} is used twice", member
                        )
                    )
                names.add(member)
            if isinstance(spec, FixedSpec):
                self.fixed[name] = spec.resolved()
            elif isinstance(spec, CategoricalSpec):
                self.parameter_column[name] = len(self.columns)
                self.categorical_columns.append(len(self.columns))
                self.categorical_sizes.append(len(spec.choices))
                self.columns.append(Column(name, "categorical", 0.0, len(spec.choices) - 1.0))
            elif isinstance(spec, MixtureSpec):
                model = list(range(len(self.columns), len(self.columns) + len(members)))
                search = list(
                    range(len(self.search_kinds), len(self.search_kinds) + len(model) - 1)
                )
                for member, column in zip(members, model, strict=True):
                    bounds = spec.mixture[member]
                    self.parameter_column[member] = column
                    self.columns.append(Column(member, "member", bounds.low, bounds.high))
                self.search_kinds.extend(["stick"] * (len(model) - 1))
                low = [spec.mixture[member].low for member in members]
                high = [spec.mixture[member].high for member in members]
                self.mixtures.append((name, model, search, StickBreaking(low, high)))
            else:
                kind = "integer" if isinstance(spec, IntegerSpec) else "continuous"
                column = len(self.columns)
                self.parameter_column[name] = column
                if kind == "integer":
                    self.integer_columns.append(column)
                self.direct_model_columns.append(column)
                self.direct_search_columns.append(len(self.search_kinds))
                self.columns.append(Column(name, kind, 0.0, 1.0))
                self.search_kinds.append(kind)
        if not self.columns:
            issues.append(ConfigIssue(self.where, "nothing to search: every parameter is fixed"))

    def _variables(self) -> tuple[dict[str, Variable], dict[str, str]]:
        variables: dict[str, Variable] = {}
        refused: dict[str, str] = {}
        for name, spec in self.specs.items():
            if isinstance(spec, ContinuousSpec) and not spec.log:
                low, high, units = spec.bounds()
                variables[name] = Variable(self.parameter_column[name], units, low, high - low)
            elif isinstance(spec, ContinuousSpec):
                refused[name] = "it is on a log scale, where a linear constraint is not linear"
            elif isinstance(spec, MixtureSpec):
                for member in spec.mixture:
                    variables[member] = Variable(self.parameter_column[member], "", 0.0, 1.0)
            else:
                refused[name] = (
                    f"only continuous parameters and mixture members can, not {spec.type}"
                )
        return variables, refused

    def _parse_constraints(self, issues: list[ConfigIssue]) -> list[ModelConstraint]:
        variables, refused = self._variables()
        parsed = []
        for index, text in enumerate(self.constraint_texts):
            try:
                parsed.append(parse_constraint(text, variables, refused))
            except ValueError as error:
                issues.append(ConfigIssue((*self.where, "constraints", index), str(error), text))
        return parsed

    def _find_center(self, issues: list[ConfigIssue]) -> np.ndarray:
        """A strictly feasible point (Chebyshev centre in the mixtures' affine hull)."""
        from scipy.optimize import linprog

        d = self.model_dim
        free = [i for i, column in enumerate(self.columns) if column.kind != "categorical"]
        rows: list[np.ndarray] = []
        rhs: list[float] = []
        for i in free:
            unit = np.zeros(d)
            unit[i] = 1.0
            rows += [unit, -unit]
            rhs += [self.columns[i].high, -self.columns[i].low]
        for constraint in self.constraints:  # Σ a X ≥ b  →  -Σ a X ≤ -b
            row = np.zeros(d)
            row[list(constraint.columns)] = constraint.coefficients
            rows.append(-row)
            rhs.append(-constraint.rhs)
        equalities = np.zeros((len(self.mixtures), d))
        for g, (_, model, _, _) in enumerate(self.mixtures):
            equalities[g, model] = 1.0
        A = np.array(rows)
        if len(self.mixtures):
            projector = np.eye(d) - np.linalg.pinv(equalities) @ equalities
            norms = np.linalg.norm(A @ projector, axis=1)
        else:
            norms = np.linalg.norm(A, axis=1)
        A_ub = np.hstack([A, norms[:, None]])
        bounds: list[tuple[float | None, float | None]] = [(None, None)] * d + [(0.0, 1.0)]
        for i, column in enumerate(self.columns):
            if column.kind == "categorical":
                bounds[i] = (0.0, 0.0)
        result = linprog(
            c=np.r_[np.zeros(d), -1.0],
            A_ub=A_ub,
            b_ub=np.array(rhs),
            A_eq=np.hstack([equalities, np.zeros((len(self.mixtures), 1))])
            if len(self.mixtures)
            else None,
            b_eq=np.ones(len(self.mixtures)) if len(self.mixtures) else None,
            bounds=bounds,
            method="highs",
        )
        where = (*self.where, "constraints") if self.constraints else self.where
        if result.status == 2:
            issues.append(
                ConfigIssue(
                    where,
                    "contradictory constraints: no setting satisfies the bounds, mixtures and "
                    "constraints together",
                )
            )
            return np.zeros(d)
        if result.status != 0 or result.x[-1] < 1e-7:
            issues.append(
                ConfigIssue(
                    where,
                    "the constraints leave no room: the settings that satisfy them have no "
                    "interior (a parameter is pinned); loosen a constraint or fix the parameter",
                )
            )
            return np.zeros(d)
        center = np.asarray(result.x[:d], dtype=float)
        for i in self.integer_columns:
            center[i] = self.columns[i].low
        return center

    # ------------------------------------------------------------------ shape

    @property
    def model_dim(self) -> int:
        """Number of model-space columns ``d``."""
        return len(self.columns)

    @property
    def search_dim(self) -> int:
        """Number of continuous search coordinates ``e`` (categoricals excluded)."""
        return len(self.search_kinds)

    @property
    def model_bounds(self) -> np.ndarray:
        """``2 x d`` array of model-space bounds."""
        return np.array([[c.low for c in self.columns], [c.high for c in self.columns]])

    @property
    def names(self) -> list[str]:
        """Names of every decoded value: parameters, mixture members and fixed parameters."""
        return [column.parameter for column in self.columns] + list(self.fixed)

    def category_combinations(self) -> list[tuple[int, ...]]:
        """Every combination of categorical options, as option indices (``[()]`` if none)."""
        return list(itertools.product(*(range(size) for size in self.categorical_sizes)))

    def to_config(self) -> dict[str, Any]:
        """The space as a plain, JSON-ready dict (what :class:`SearchSpace` takes)."""
        config: dict[str, Any] = {
            name: spec.model_dump(mode="json") for name, spec in self.specs.items()
        }
        if self.constraint_texts:
            config["constraints"] = list(self.constraint_texts)
        return config

    # ------------------------------------------------------------------ search ↔ model

    def to_model(self, Z: Tensor, categories: Tensor | None = None) -> Tensor:
        """Map search coordinates (and categorical codes) to model space.

        Args:
            Z: ``... x e`` tensor in [0, 1].
            categories: ``... x c`` tensor of option indices (broadcast against ``Z``), one per
                categorical parameter; ``None`` when the space has none.

        Returns:
            ``... x d`` tensor in model space (mixtures sum to 1; integers not yet rounded).
        """
        batch = Z.shape[:-1]
        parts: list[Tensor | None] = [None] * self.model_dim
        for model_column, search_column in zip(
            self.direct_model_columns, self.direct_search_columns, strict=True
        ):
            parts[model_column] = Z[..., search_column]
        for _, model, search, sticks in self.mixtures:
            fractions = sticks.to_fractions(Z[..., search])
            for j, column in enumerate(model):
                parts[column] = fractions[..., j]
        for j, column in enumerate(self.categorical_columns):
            if categories is None:
                raise ValueError("this space has categorical parameters: give their codes")
            parts[column] = categories[..., j].to(Z).expand(batch)
        return torch.stack([part for part in parts if part is not None], dim=-1)

    def to_search(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Map model-space points to search coordinates and categorical codes.

        Args:
            X: ``... x d`` tensor in model space.

        Returns:
            ``(Z, categories)``: ``... x e`` in [0, 1] and ``... x c`` option indices.
        """
        Z = torch.zeros(*X.shape[:-1], self.search_dim, dtype=X.dtype)
        for model_column, search_column in zip(
            self.direct_model_columns, self.direct_search_columns, strict=True
        ):
            Z[..., search_column] = X[..., model_column].clamp(0.0, 1.0)
        for _, model, search, sticks in self.mixtures:
            Z[..., search] = sticks.to_sticks(X[..., model])
        return Z, X[..., self.categorical_columns].round()

    # ------------------------------------------------------------------ feasibility

    def violation(self, X: np.ndarray) -> np.ndarray:
        """Largest violation of any bound, mixture sum or constraint, per row (0 if feasible).

        Args:
            X: ``n x d`` array in model space.
        """
        X = np.atleast_2d(X)
        bounds = self.model_bounds
        worst = np.maximum(bounds[0] - X, X - bounds[1]).max(axis=1).clip(min=0.0)
        for _, model, _, _ in self.mixtures:
            worst = np.maximum(worst, np.abs(X[:, model].sum(axis=1) - 1.0))
        for constraint in self.constraints:
            worst = np.maximum(worst, (-constraint.slack(X)).clip(min=0.0))
        return np.asarray(worst)

    def is_feasible(self, X: np.ndarray, tolerance: float = FEASIBILITY_TOLERANCE) -> np.ndarray:
        """Whether each row satisfies everything to ``tolerance``.

        Args:
            X: ``n x d`` array in model space.
            tolerance: the largest violation allowed.
        """
        return np.asarray(self.violation(X) <= tolerance)

    def repair(self, X: np.ndarray) -> np.ndarray:
        """Snap optimizer output onto the feasible set.

        Integers and categoricals are rounded, bounds clipped, mixtures made to sum to 1 exactly,
        and each point moved towards the centre point just enough to satisfy every linear
        constraint.

        Args:
            X: ``n x d`` array in model space (close to feasible).

        Returns:
            ``n x d`` array, feasible to :data:`FEASIBILITY_TOLERANCE`.
        """
        X = np.array(np.atleast_2d(X), dtype=float)
        bounds = self.model_bounds
        X = np.clip(X, bounds[0], bounds[1])
        for column in self.categorical_columns:
            X[:, column] = np.round(X[:, column])
        if self.constraints:
            # Segment from X to the strictly feasible centre: the smallest step that satisfies
            # every constraint (the set is convex, so the whole rest of the segment is feasible).
            step = np.zeros(len(X))
            for constraint in self.constraints:
                slack = constraint.slack(X)
                gain = constraint.slack(self.center[None, :])[0] - slack
                needed = np.where(slack < 0, -slack / np.where(gain > 0, gain, 1.0), 0.0)
                step = np.maximum(step, needed)
            step = np.where(step > 0, np.minimum(step * (1 + 1e-9) + 1e-12, 1.0), 0.0)
            free = [i for i, c in enumerate(self.columns) if c.kind in ("continuous", "member")]
            X[:, free] += step[:, None] * (self.center[free][None, :] - X[:, free])
        for _, model, _, _ in self.mixtures:
            X[:, model] = self._exact_sum(X[:, model], bounds[:, model])
        return self.round_integers(X)

    def round_integers(self, X: np.ndarray) -> np.ndarray:
        """Put integer columns on their grid.

        Args:
            X: ``n x d`` array in model space (changed in place and returned).
        """
        for column in self.integer_columns:
            steps = self.integer_steps(column)
            X[:, column] = np.round(X[:, column] * steps) / steps
        return X

    @staticmethod
    def _exact_sum(fractions: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        fractions = fractions / fractions.sum(axis=1, keepdims=True)
        fractions = np.clip(fractions, bounds[0], bounds[1])
        for row in fractions:  # the largest member takes up what rounding left over
            largest = int(np.argmax(row))
            row[largest] = 1.0 - (row.sum() - row[largest])
        return fractions

    def integer_steps(self, column: int) -> int:
        """Number of grid steps of the integer parameter in model column ``column``."""
        spec = self.specs[self.columns[column].parameter]
        return int(spec.high - spec.low)

    # ------------------------------------------------------------------ sampling

    def sample(self, n: int, seed: int, start: int = 0) -> np.ndarray:
        """Feasible points ``start … start + n - 1`` of a seeded scrambled Sobol sequence.

        Mixture coordinates are warped so that unbounded mixtures are sampled uniformly on the
        simplex; points violating a linear constraint are skipped (rejection). When the
        constraints reject more than 95 % of the first block, the rejected points are instead
        pulled towards the centre point (by a random fraction of the way to the boundary), so
        thin feasible sets are still covered. The same seed and ``start`` always give the same
        points.

        Args:
            n: how many points.
            seed: the Sobol scrambling seed.
            start: how many feasible points of the sequence to skip.

        Returns:
            ``n x d`` array in model space, feasible and rounded.

        Raises:
            SpaceExhaustedError: the constraints accept too few random settings to sample.
        """
        e, c = self.search_dim, len(self.categorical_columns)
        if n <= 0:
            return np.zeros((0, self.model_dim))
        engine = SobolEngine(e + c + 1, scramble=True, seed=seed)  # type: ignore[no-untyped-call]
        found: list[np.ndarray] = []
        total = drawn = 0
        pull = False
        while total < start + n:
            if drawn >= _MAX_SAMPLE_DRAWS:
                raise SpaceExhaustedError(
                    f"the constraints accept fewer than {start + n} of {drawn} random settings; "
                    "they leave too little room to sample"
                )
            U = engine.draw(1024, dtype=torch.float64)
            drawn += 1024
            X = self.round_integers(self._from_uniform(U[:, :-1]).numpy())
            feasible = self.is_feasible(X)
            if drawn == 1024 and feasible.mean() < 0.05:
                pull = True
            if pull:
                X[~feasible] = self._pull_inside(X[~feasible], U[~feasible, -1].numpy())
                feasible = self.is_feasible(X)
            found.append(X[feasible])
            total += int(feasible.sum())
        return np.concatenate(found)[start : start + n]

    def _pull_inside(self, X: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Move each row along the segment to the centre into the feasible set.

        Row ``x`` becomes ``c + f·t·(x - c)``, ``t`` the largest step from the centre ``c`` that
        meets every linear constraint and ``f`` in [0, 1); bounds and mixture sums hold for the
        whole segment, so only the linear constraints limit ``t``.
        """
        X = X.copy()
        free = [
            i for i, column in enumerate(self.columns) if column.kind in ("continuous", "member")
        ]
        center = np.broadcast_to(self.center, X.shape)
        step = np.ones(len(X))
        for constraint in self.constraints:
            at_center = constraint.slack(self.center[None, :])[0]
            at_x = constraint.slack(X)
            outside = at_x < 0
            step[outside] = np.minimum(step[outside], at_center / (at_center - at_x[outside]))
        X[:, free] = center[:, free] + (fraction * step)[:, None] * (X[:, free] - center[:, free])
        return X

    def _from_uniform(self, U: Tensor) -> Tensor:
        e = self.search_dim
        Z = U[:, :e].clone()
        for _, _, search, _ in self.mixtures:
            Z[:, search] = uniform_sticks(U[:, search])
        sizes = torch.tensor(self.categorical_sizes, dtype=U.dtype)
        categories = torch.minimum(torch.floor(U[:, e : e + len(sizes)] * sizes), sizes - 1)
        return self.to_model(Z, categories if len(sizes) else None)

    # ------------------------------------------------------------------ decoded ↔ model

    def encode(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """One decoded setting → its model-space row.

        Values may be quantities, numbers in the parameter's units, text with units
        (``"0.5 mol/kg"``) or ``{"value": …, "units": …}`` as stored in start documents.

        Args:
            inputs: parameter name → value (fixed parameters may be left out).

        Returns:
            Array of length ``d``.

        Raises:
            InputError: a parameter is missing, a value has the wrong units, an option is
                unknown, or a mixture's fractions do not sum to 1 (within 1 %).
        """
        row = np.zeros(self.model_dim)
        for name, spec in self.specs.items():
            if isinstance(spec, FixedSpec):
                continue
            if isinstance(spec, MixtureSpec):
                fractions = np.array([self._fraction(inputs, member) for member in spec.mixture])
                total = fractions.sum()
                if abs(total - 1.0) > 1e-2:
                    raise InputError(
                        f"the fractions of mixture {name!r} sum to {total:g}, not 1: "
                        f"{dict(zip(spec.mixture, fractions.tolist(), strict=True))}"
                    )
                for member, value in zip(spec.mixture, fractions / total, strict=True):
                    row[self.parameter_column[member]] = value
                continue
            value = self._lookup(inputs, name)
            column = self.parameter_column[name]
            if isinstance(spec, CategoricalSpec):
                labels = [str(choice) for choice in spec.choices]
                if str(value) not in labels:
                    raise InputError(f"{name}: {value!r} is not one of the options {labels}")
                row[column] = labels.index(str(value))
            elif isinstance(spec, IntegerSpec):
                number = self._magnitude(name, value, spec.units)
                row[column] = (number - spec.low) / (spec.high - spec.low)
            else:
                low, high, units = spec.bounds()
                number = self._magnitude(name, value, units)
                if spec.log:
                    if number <= 0:
                        raise InputError(f"{name}: {number:g} {units} is not positive (log scale)")
                    row[column] = math.log(number / low) / math.log(high / low)
                else:
                    row[column] = (number - low) / (high - low)
        return row

    def encode_many(self, inputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Several decoded settings → an ``n x d`` array in model space."""
        return np.array([self.encode(point) for point in inputs]).reshape(-1, self.model_dim)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """One model-space row → the setting with units (and the fixed parameters).

        Args:
            x: array of length ``d`` (as produced by :meth:`repair`).

        Returns:
            Parameter name → :class:`pint.Quantity`, categorical option, or fixed value.
        """
        decoded: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if isinstance(spec, FixedSpec):
                decoded[name] = self.fixed[name]
            elif isinstance(spec, MixtureSpec):
                for member in spec.mixture:
                    decoded[member] = ureg.Quantity(float(x[self.parameter_column[member]]), "")
            elif isinstance(spec, CategoricalSpec):
                index = round(float(x[self.parameter_column[name]]))
                decoded[name] = spec.choices[min(max(index, 0), len(spec.choices) - 1)]
            elif isinstance(spec, IntegerSpec):
                u = min(max(float(x[self.parameter_column[name]]), 0.0), 1.0)
                value = spec.low + round(u * (spec.high - spec.low))
                decoded[name] = ureg.Quantity(value, spec.units)
            else:
                low, high, units = spec.bounds()
                u = min(max(float(x[self.parameter_column[name]]), 0.0), 1.0)
                number = low * (high / low) ** u if spec.log else low + u * (high - low)
                decoded[name] = ureg.Quantity(min(max(number, low), high), units)
        return decoded

    def decode_many(self, X: np.ndarray) -> list[dict[str, Any]]:
        """An ``n x d`` array → ``n`` decoded settings."""
        return [self.decode(row) for row in np.atleast_2d(X)]

    @staticmethod
    def _lookup(inputs: Mapping[str, Any], name: str) -> Any:
        if name not in inputs:
            raise InputError(f"the setting has no value for {name!r}; it has {sorted(inputs)}")
        return decode_quantity(inputs[name])

    def _fraction(self, inputs: Mapping[str, Any], member: str) -> float:
        return self._magnitude(member, self._lookup(inputs, member), "")

    @staticmethod
    def _magnitude(name: str, value: Any, units: str) -> float:
        try:
            if isinstance(value, pint.Quantity):
                quantity: Quantity = value
            elif isinstance(value, str):
                quantity = quantity_of(value, units or "dimensionless")
            elif isinstance(value, int | float | np.number) and not isinstance(value, bool):
                return float(value)
            else:
                raise InputError(f"{name}: {value!r} is not a number or a quantity")
            return float(quantity.to(units or "dimensionless").magnitude)
        except (UnitError, pint.errors.DimensionalityError) as error:
            raise InputError(
                f"{name}: {value!r} cannot be expressed in {units or 'no units'}"
            ) from error
