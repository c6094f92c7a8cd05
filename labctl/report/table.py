"""A campaign's attempts as a table: one row per attempt, units in the column names.

Input columns are the model-space view of the search space decoded back to people's units:
continuous and integer parameters in their configured units, each mixture member as its
fraction (``"EC [mass fraction]"``), categoricals as text. Objective columns are named
``"name [units]"``. ``frame.attrs["units"]`` maps every column to its unit (``"1"`` for
fractions, ``""`` for text and bookkeeping columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pint

from labctl.errors import UnitError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.optimizers.space_config import (
    CategoricalSpec,
    ContinuousSpec,
    FixedSpec,
    IntegerSpec,
    MixtureSpec,
    quantity_of,
)
from labctl.plans.records import ExperimentRecord
from labctl.units import decode_quantity

__all__ = [
    "BOOKKEEPING",
    "InputColumn",
    "experiments_table",
    "input_columns",
    "input_value",
    "objective_column",
]

BOOKKEEPING = ["campaign", "iteration", "attempt", "status", "reason", "uid"]
"""The first columns of every table."""


@dataclass(frozen=True)
class InputColumn:
    """One input column of the table.

    Args:
        name: the parameter or mixture member.
        label: the column name (with units).
        units: pint text (``"1"`` for fractions, ``""`` for categoricals and bare numbers).
        kind: ``continuous``, ``integer``, ``member``, ``categorical`` or ``fixed``.
        group: the mixture a member belongs to (else the name itself).
    """

    name: str
    label: str
    units: str
    kind: str
    group: str


def _label(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def input_columns(space: SearchSpace) -> list[InputColumn]:
    """The input columns of a space, in the order of its configuration."""
    columns: list[InputColumn] = []
    for name, spec in space.specs.items():
        if isinstance(spec, MixtureSpec):
            text = f"{spec.basis} fraction"
            columns += [InputColumn(m, f"{m} [{text}]", "1", "member", name) for m in spec.mixture]
        elif isinstance(spec, CategoricalSpec):
            columns.append(InputColumn(name, name, "", "categorical", name))
        elif isinstance(spec, IntegerSpec):
            columns.append(
                InputColumn(name, _label(name, spec.units), spec.units, "integer", name)
            )
        elif isinstance(spec, ContinuousSpec):
            units = spec.bounds()[2]
            columns.append(InputColumn(name, _label(name, units), units, "continuous", name))
        elif isinstance(spec, FixedSpec):
            value = spec.resolved()
            units = f"{value.units:~P}" if isinstance(value, pint.Quantity) else ""
            columns.append(InputColumn(name, _label(name, units), units, "fixed", name))
    return columns


def objective_column(objectives: Objectives, name: str) -> str:
    """``"conductivity [mS/cm]"``: an outcome's column name."""
    return _label(name, objectives.specs[name].units)


def input_value(value: Any, column: InputColumn) -> float | str | None:
    """One stored input as a float in the column's units (text for categoricals)."""
    if value is None:
        return None
    if column.kind == "categorical":
        return str(value)
    value = decode_quantity(value)
    target = "dimensionless" if column.units in ("", "1") else column.units
    try:
        if isinstance(value, pint.Quantity):
            return float(value.to(target).magnitude)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float | np.number):
            return float(value)
        if isinstance(value, str):
            if column.kind == "fixed" and not column.units:
                return value
            return float(quantity_of(value, target).to(target).magnitude)
    except (UnitError, pint.errors.PintError, ValueError):
        return math.nan
    return str(value)


def experiments_table(
    records: Sequence[ExperimentRecord],
    space: SearchSpace,
    objectives: Objectives,
    campaign: str,
) -> pd.DataFrame:
    """One row per attempt, oldest first.

    Args:
        records: the campaign's attempts (completed ones with their outcomes).
        space: the campaign's search space.
        objectives: the campaign's objectives.
        campaign: the campaign id.

    Returns:
        A DataFrame with the bookkeeping columns, one column per input and per outcome, and
        ``feasible`` (meets the outcome constraints) and ``pareto_optimal`` (on the feasible
        front); ``attrs["units"]`` maps each column to its unit.
    """
    columns = input_columns(space)
    outcome_labels = [objective_column(objectives, name) for name in objectives.names]
    Y = objectives.to_array(
        [record.outcome if record.status == "completed" else None for record in records]
    )
    feasible = objectives.feasible(Y) if len(Y) else np.zeros(0, dtype=bool)
    front = np.zeros(len(Y), dtype=bool)
    if feasible.any():
        from labctl.optimizers.pareto import non_dominated

        front[np.flatnonzero(feasible)[non_dominated(objectives.maximization(Y[feasible]))]] = True
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        row: dict[str, Any] = {
            "campaign": campaign,
            "iteration": record.iteration,
            "attempt": record.attempt,
            "status": record.status,
            "reason": record.reason or "",
            "uid": record.uid or "",
        }
        for column in columns:
            raw = record.inputs.get(column.name)
            if raw is None and column.kind == "fixed":
                raw = space.fixed.get(column.name)
            row[column.label] = input_value(raw, column)
        for label, value in zip(outcome_labels, Y[i], strict=True):
            row[label] = float(value)
        row["feasible"] = bool(feasible[i])
        row["pareto_optimal"] = bool(front[i])
        rows.append(row)
    order = [*BOOKKEEPING, *(c.label for c in columns), *outcome_labels, "feasible"]
    frame = pd.DataFrame(rows, columns=[*order, "pareto_optimal"])
    for column in columns:
        if column.kind in ("continuous", "integer", "member"):
            frame[column.label] = frame[column.label].astype(float)
    for label in outcome_labels:
        frame[label] = frame[label].astype(float)
    frame["iteration"] = frame["iteration"].astype(int)
    frame["attempt"] = frame["attempt"].astype(int)
    units: dict[str, str] = dict.fromkeys(frame.columns, "")
    for column in columns:
        units[column.label] = column.units
    for name, label in zip(objectives.names, outcome_labels, strict=True):
        units[label] = objectives.specs[name].units or ""
    frame.attrs["units"] = units
    return frame
