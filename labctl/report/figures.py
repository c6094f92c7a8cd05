"""Figures of a campaign: Pareto front, hypervolume vs experiment, inputs vs objectives.

Every figure is drawn with matplotlib's Agg backend (no display needed) and returned as PNG
bytes, to be embedded in the HTML report or written to a file. :func:`write_live_pareto` is what
``labctl run`` calls after each experiment: it replaces the PNG atomically and never raises for a
plotting problem (it logs it), so a live plot can never stop a campaign.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labctl.config import CampaignSection
from labctl.errors import LabctlError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.plans.records import ExperimentRecord
from labctl.report.table import input_columns, input_value

__all__ = [
    "HypervolumeTrace",
    "campaign_space",
    "hypervolume_png",
    "hypervolume_trace",
    "outcome_array",
    "pareto_png",
    "placeholder_png",
    "scatter_grid_png",
    "write_live_pareto",
]

_log = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def campaign_space(section: CampaignSection) -> tuple[SearchSpace, Objectives]:
    """The campaign section's validated search space and objectives."""
    space = SearchSpace(section.space, where=("campaign", "space"), source="<campaign>")
    objectives = Objectives(
        section.objectives, where=("campaign", "objectives"), source="<campaign>"
    )
    return space, objectives


def outcome_array(records: Sequence[ExperimentRecord], objectives: Objectives) -> np.ndarray:
    """``n x m`` outcomes of every attempt (NaN rows for attempts without an outcome)."""
    return objectives.to_array(
        [record.outcome if record.status == "completed" else None for record in records]
    )


def placeholder_png(message: str, title: str = "") -> bytes:
    """A figure that only says ``message`` (not enough data yet)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=12)
    if title:
        figure.suptitle(title)
    return _png(figure)


def pareto_png(Y: np.ndarray, objectives: Objectives, title: str = "") -> bytes:
    """The Pareto front of the completed experiments (``Y``: their outcomes, NaN rows dropped).

    Drawn by :func:`labctl.optimizers.pareto.plot_pareto`: feasible points grey, infeasible
    ones (outcome constraints) red crosses, the non-dominated feasible ones blue and joined,
    units and directions on the axes.
    """
    from labctl.optimizers.pareto import plot_pareto

    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    Y = Y[~np.isnan(Y[:, objectives.objective_columns]).any(axis=1)]
    if len(Y) < 2:
        return placeholder_png(
            f"{len(Y)} completed experiment{'s' if len(Y) != 1 else ''} so far: "
            "the Pareto front appears after two.",
            title,
        )
    with tempfile.TemporaryDirectory(prefix="labctl-report-") as folder:
        path = plot_pareto(Y, objectives, Path(folder) / "pareto.png", title=title)
        return path.read_bytes()


@dataclass(frozen=True)
class HypervolumeTrace:
    """Hypervolume after each attempt.

    Args:
        values: hypervolume after attempt 1 … n (units: the product of the objectives' units).
        reference: the reference point in the objectives' own units (minimized ones not negated).
        inferred: the reference point was inferred from the data (not configured).
    """

    values: np.ndarray
    reference: dict[str, float]
    inferred: bool


def hypervolume_trace(Y: np.ndarray, objectives: Objectives) -> HypervolumeTrace:
    """Hypervolume of the feasible front after each attempt, with its reference point."""
    from labctl.optimizers.pareto import hypervolume_progress

    Y = np.atleast_2d(np.asarray(Y, dtype=float)).reshape(-1, len(objectives.names))
    reference, inferred = objectives.reference_point(Y)
    values = (
        hypervolume_progress(objectives.maximization(Y), reference, objectives.feasible(Y))
        if len(Y)
        else np.zeros(0)
    )
    own_units = {
        name: float(value * sign)
        for name, value, sign in zip(
            objectives.objective_names, reference, objectives.signs, strict=True
        )
    }
    return HypervolumeTrace(np.asarray(values), own_units, inferred)


def hypervolume_png(trace: HypervolumeTrace, objectives: Objectives) -> bytes:
    """Hypervolume vs experiment number, the reference point in the caption."""
    if len(trace.values) == 0:
        return placeholder_png("No experiments yet.", "Hypervolume")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.8))
    numbers = np.arange(1, len(trace.values) + 1)
    axes.step(numbers, trace.values, where="post", color="tab:blue")
    axes.plot(numbers, trace.values, "o", ms=3, color="tab:blue")
    units = [objectives.specs[name].units for name in objectives.objective_names]
    product = " · ".join(f"({u})" for u in units if u) or "dimensionless"
    axes.set_xlabel("experiment (attempt number)")
    axes.set_ylabel(f"hypervolume [{product}]")
    where = ", ".join(
        f"{name} = {value:.4g} {objectives.specs[name].units}".strip()
        for name, value in trace.reference.items()
    )
    axes.set_title(
        f"reference point: {where} ({'inferred' if trace.inferred else 'configured'})",
        fontsize="small",
    )
    figure.tight_layout()
    return _png(figure)


def scatter_grid_png(
    records: Sequence[ExperimentRecord], space: SearchSpace, objectives: Objectives
) -> bytes:
    """One panel per (outcome, input): completed experiments, Pareto-optimal ones highlighted."""
    completed = [record for record in records if record.status == "completed"]
    if not completed:
        return placeholder_png("No completed experiments yet.", "Inputs vs objectives")
    Y = outcome_array(completed, objectives)
    feasible = objectives.feasible(Y)
    front = np.zeros(len(Y), dtype=bool)
    if feasible.any():
        from labctl.optimizers.pareto import non_dominated

        front[np.flatnonzero(feasible)[non_dominated(objectives.maximization(Y[feasible]))]] = True
    columns = [c for c in input_columns(space) if c.kind != "fixed"]
    names = objectives.names
    plt = _pyplot()
    figure, grid = plt.subplots(
        len(names),
        len(columns),
        figsize=(2.8 * len(columns) + 0.6, 2.5 * len(names) + 0.4),
        squeeze=False,
    )
    for c, column in enumerate(columns):
        raw = [input_value(record.inputs.get(column.name), column) for record in completed]
        if column.kind == "categorical":
            labels = sorted({str(value) for value in raw})
            x = np.array([labels.index(str(value)) for value in raw], dtype=float)
        else:
            labels = []
            x = np.array([np.nan if v is None else float(v) for v in raw], dtype=float)
        for r, name in enumerate(names):
            axes = grid[r][c]
            y = Y[:, r]
            axes.scatter(x[~front], y[~front], s=12, color="0.55")
            axes.scatter(x[front], y[front], s=18, color="tab:blue")
            if labels:
                axes.set_xticks(range(len(labels)), labels, rotation=30, fontsize="small")
            if r == len(names) - 1:
                axes.set_xlabel(column.label, fontsize="small")
            if c == 0:
                axes.set_ylabel(objectives.describe(name), fontsize="small")
            axes.tick_params(labelsize="x-small")
    figure.suptitle("Inputs vs outcomes (blue: Pareto-optimal)", fontsize="medium")
    figure.tight_layout()
    return _png(figure)


def write_live_pareto(
    records: Sequence[ExperimentRecord], section: CampaignSection, path: str | Path
) -> Path:
    """Write the campaign's Pareto front so far to ``path`` (PNG), replacing it atomically.

    Copes with no or one completed experiment (a placeholder figure says so). A plotting
    failure is logged, never raised: only a :class:`LabctlError` (an invalid campaign section,
    an unwritable folder) comes out.

    Returns:
        ``path``.
    """
    target = Path(path)
    space_objectives = campaign_space(section)
    objectives = space_objectives[1]
    completed = sum(1 for record in records if record.status == "completed")
    title = f"{section.name}: {completed} completed of {len(records)} attempts"
    try:
        data = pareto_png(outcome_array(records, objectives), objectives, title)
    except LabctlError:
        raise
    except Exception as error:  # a live plot must never stop a campaign
        _log.warning("the live Pareto plot failed: %s", error)
        try:
            data = placeholder_png(f"plotting failed: {type(error).__name__}", title)
        except Exception:
            return target
    temporary: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        temporary = Path(name)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        temporary.replace(target)  # atomic: a viewer never sees half a file
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise LabctlError(f"cannot write the live Pareto plot {target}: {error}") from error
    return target
