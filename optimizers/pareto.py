"""Pareto tools: non-dominated set, hypervolume, its progress, and a Pareto-front plot.

Hypervolumes use BoTorch's box decompositions; the plot has units on its axes.

Every function takes objectives in *maximization space* (``n x k`` arrays, minimized objectives
negated — :meth:`~labctl.optimizers.objectives.Objectives.maximization`), except
:func:`plot_pareto`, which shows the values in their own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

from labctl.optimizers.objectives import Objectives

__all__ = ["hypervolume", "hypervolume_progress", "non_dominated", "plot_pareto"]


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """Which rows no other row dominates.

    Args:
        Y: ``n x k`` objectives in maximization space (rows with NaN are never on the front).

    Returns:
        Boolean array of length ``n`` (duplicates of a front point: only the first is marked).
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    mask = np.zeros(len(Y), dtype=bool)
    finite = ~np.isnan(Y).any(axis=1)
    if finite.any():
        front = is_non_dominated(torch.as_tensor(Y[finite]), deduplicate=True).numpy()
        mask[np.flatnonzero(finite)[front]] = True
    return mask


def hypervolume(Y: np.ndarray, reference: Sequence[float] | np.ndarray) -> float:
    """The hypervolume dominated by ``Y`` and bounded by ``reference``.

    Args:
        Y: ``n x k`` objectives in maximization space (NaN rows ignored).
        reference: length-``k`` reference point in maximization space.

    Returns:
        The hypervolume, in the product of the objectives' units (0 if no point beats the
        reference in every objective).
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    reference_tensor = torch.as_tensor(np.asarray(reference, dtype=float))
    Y = Y[~np.isnan(Y).any(axis=1)]
    if len(Y) == 0:
        return 0.0
    points = torch.as_tensor(Y)
    better = (points > reference_tensor).all(dim=-1)
    if not bool(better.any()):
        return 0.0
    if points.shape[-1] == 1:
        return float((points[better] - reference_tensor).max())
    partitioning = DominatedPartitioning(ref_point=reference_tensor, Y=points[better])
    return float(partitioning.compute_hypervolume())


def hypervolume_progress(
    Y: np.ndarray, reference: Sequence[float] | np.ndarray, feasible: np.ndarray | None = None
) -> np.ndarray:
    """Hypervolume after each experiment, in the order they were run.

    Args:
        Y: ``n x k`` objectives in maximization space, NaN for failed experiments.
        reference: length-``k`` reference point in maximization space.
        feasible: length-``n`` mask of experiments meeting the outcome constraints (default:
            all with values).

    Returns:
        Array of length ``n``, non-decreasing.
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    keep = ~np.isnan(Y).any(axis=1) if feasible is None else np.asarray(feasible, dtype=bool)
    progress = np.zeros(len(Y))
    value = 0.0
    for i in range(len(Y)):
        if keep[i]:
            value = hypervolume(Y[: i + 1][keep[: i + 1]], reference)
        progress[i] = value
    return progress


def plot_pareto(
    Y: np.ndarray,
    objectives: Objectives,
    path: str | Path,
    *,
    title: str = "",
    feasible: np.ndarray | None = None,
) -> Path:
    """Save a Pareto-front plot (PNG) of told outcomes, with units on the axes.

    Two objectives give one scatter plot; more give a grid of every pair. Observations are grey,
    the non-dominated feasible ones are joined by a step line; infeasible ones (outcome
    constraints) are crosses.

    Args:
        Y: ``n x m`` outcomes in their own units (columns as :attr:`Objectives.names`).
        objectives: the campaign's objectives (names, directions, units).
        path: where to write the PNG.
        title: a title for the figure.
        feasible: which rows meet the outcome constraints (default: computed).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    ok = objectives.feasible(Y) if feasible is None else np.asarray(feasible, dtype=bool)
    front = np.zeros(len(Y), dtype=bool)
    if ok.any():
        front[np.flatnonzero(ok)[non_dominated(objectives.maximization(Y[ok]))]] = True
    names = objectives.objective_names
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))] or [(0, 0)]
    figure, axes_grid = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.2), squeeze=False)
    for axes, (i, j) in zip(axes_grid[0], pairs, strict=True):
        a, b = objectives.objective_columns[i], objectives.objective_columns[j]
        x_values = Y[:, a]
        y_values = Y[:, b] if i != j else np.arange(len(Y))
        axes.scatter(x_values[ok], y_values[ok], s=16, color="0.6", label="feasible")
        if (~ok).any():
            axes.scatter(
                x_values[~ok], y_values[~ok], s=16, marker="x", color="tab:red", label="infeasible"
            )
        if front.any():
            order = np.argsort(x_values[front])
            axes.step(
                x_values[front][order], y_values[front][order], where="post", color="tab:blue"
            )
            axes.scatter(
                x_values[front], y_values[front], s=28, color="tab:blue", label="Pareto front"
            )
        axes.set_xlabel(_label(objectives, names[i]))
        axes.set_ylabel(_label(objectives, names[j]) if i != j else "experiment")
        axes.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return target


def _label(objectives: Objectives, name: str) -> str:
    arrow: dict[str, Any] = {"maximize": "↑", "minimize": "↓"}
    return f"{objectives.describe(name)} {arrow.get(objectives.specs[name].direction, '')}".strip()
