"""scikit-optimize's Gaussian-process optimizer as a baseline behind the same ask/tell interface.

scikit-optimize optimizes one objective. Several objectives are turned into one by a declared
scalarization of the objectives, each min-max normalized over the feasible completed
experiments (1 = best seen, 0 = worst seen):

* ``chebyshev-random`` (default, ParEGO-style): an augmented Chebyshev scalarization
  ``max_i w_i (1 - f_i) + 0.05 Σ_i w_i (1 - f_i)`` with weights ``w`` drawn afresh (seeded) on
  the simplex for every ``ask``, so the batch of asks spreads along the front;
* ``chebyshev`` or ``weighted-sum`` (``-Σ w_i f_i``) with fixed ``weights`` (default equal).

Experiments violating an outcome constraint, and failed ones, are given the worst scalarized
value seen plus one; pending ones the best (the "constant liar" scikit-optimize itself uses for
batches), so suggestions keep away from both.

A fresh ``skopt.Optimizer`` is built for every ``ask`` over the search coordinates of the space
(reals in [0, 1], stick-breaking coordinates for mixtures, integer grids, categorical options),
so its state is the told data and nothing else. Linear constraints are passed as its
``space_constraint`` and then its acquisition is maximized by sampling (``lbfgs`` could leave
the feasible set).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from labctl.optimizers.base import AskTellOptimizer, BaseOptions
from labctl.optimizers.candidates import is_new
from labctl.optimizers.registry import register

__all__ = ["SkoptOptimizer", "SkoptOptions", "scalarize"]


class SkoptOptions(BaseOptions):
    """Options of :class:`SkoptOptimizer`.

    Args:
        initial_experiments: size of the Sobol design before the first model.
        scalarization: ``chebyshev-random``, ``chebyshev`` or ``weighted-sum``.
        weights: objective name → weight for the fixed scalarizations (default equal).
        acq_func: scikit-optimize's acquisition (``gp_hedge``, ``EI``, ``LCB``, ``PI``).
        acquisition_points: random points scored when maximizing the acquisition.
    """

    scalarization: Literal["chebyshev-random", "chebyshev", "weighted-sum"] = "chebyshev-random"
    weights: dict[str, float] | None = None
    acq_func: Literal["gp_hedge", "EI", "LCB", "PI"] = "gp_hedge"
    acquisition_points: int = Field(default=2000, ge=10)


def scalarize(
    objectives_max: np.ndarray,
    weights: np.ndarray,
    kind: Literal["chebyshev-random", "chebyshev", "weighted-sum"],
) -> np.ndarray:
    """Objectives (``n x k``, maximization space) → one value per row to minimize.

    Args:
        objectives_max: ``n x k`` objectives in maximization space.
        weights: length-``k`` non-negative weights.
        kind: the scalarization (see the module docstring).

    Returns:
        Array of length ``n`` (smaller is better).
    """
    low = objectives_max.min(axis=0)
    span = objectives_max.max(axis=0) - low
    normalized = (objectives_max - low) / np.where(span > 0, span, 1.0)
    if kind == "weighted-sum":
        return np.asarray(-(normalized * weights).sum(axis=1))
    shortfall = weights * (1.0 - normalized)
    return np.asarray(shortfall.max(axis=1) + 0.05 * shortfall.sum(axis=1))


@register("skopt-gp")
class SkoptOptimizer(AskTellOptimizer):
    """scikit-optimize GP minimization of a scalarization (see the module docstring).

    Args:
        space: the search space, or the ``space`` section of a campaign config.
        objectives: the objectives, or the ``objectives`` section.
        seed: seed of the design, the weights and scikit-optimize's random state.
        **options: see :class:`SkoptOptions`.
    """

    Options = SkoptOptions
    options: SkoptOptions

    def _dimensions(self) -> list[Any]:
        from skopt.space import Categorical, Integer, Real

        dimensions: list[Any] = []
        for kind, column in zip(self.space.search_kinds, self._search_columns(), strict=True):
            if kind == "integer":
                dimensions.append(Integer(0, self.space.integer_steps(column)))
            else:
                dimensions.append(Real(0.0, 1.0))
        dimensions.extend(Categorical(list(range(size))) for size in self.space.categorical_sizes)
        return dimensions

    def _search_columns(self) -> list[int]:
        """For each search coordinate, the model column it copies (-1 for stick coordinates)."""
        columns = [-1] * self.space.search_dim
        for model, search in zip(
            self.space.direct_model_columns, self.space.direct_search_columns, strict=True
        ):
            columns[search] = model
        return columns

    def _to_skopt(self, X: np.ndarray) -> list[list[Any]]:
        Z, categories = self.space.to_search(torch.as_tensor(X, dtype=torch.float64))
        points = []
        for z, codes in zip(Z.numpy(), categories.numpy(), strict=True):
            point: list[Any] = []
            for value, kind, column in zip(
                z, self.space.search_kinds, self._search_columns(), strict=True
            ):
                if kind == "integer":
                    point.append(round(value * self.space.integer_steps(column)))
                else:
                    point.append(float(value))
            point.extend(int(code) for code in codes)
            points.append(point)
        return points

    def _from_skopt(self, points: list[list[Any]]) -> np.ndarray:
        e = self.space.search_dim
        Z = np.array([[float(v) for v in point[:e]] for point in points]).reshape(-1, e)
        for i, (kind, column) in enumerate(
            zip(self.space.search_kinds, self._search_columns(), strict=True)
        ):
            if kind == "integer":
                Z[:, i] /= self.space.integer_steps(column)
        categories = torch.tensor([[float(v) for v in point[e:]] for point in points])
        X = self.space.to_model(
            torch.as_tensor(Z), categories if self.space.categorical_columns else None
        )
        return self.space.repair(X.numpy())

    def _feasible_point(self, point: list[Any]) -> bool:
        return bool(self.space.is_feasible(self._from_skopt([list(point)]))[0])

    def _weights(self, draw: int) -> np.ndarray:
        k = self.objectives.num_objectives
        if self.options.scalarization == "chebyshev-random":
            generator = np.random.default_rng(self.derived_seed(draw, 17))
            return np.asarray(generator.dirichlet(np.ones(k)))
        declared: Mapping[str, float] = self.options.weights or {}
        return np.array([declared.get(name, 1.0) for name in self.objectives.objective_names])

    def _suggest(self, n: int, X: np.ndarray, Y: np.ndarray, X_pending: np.ndarray) -> np.ndarray:
        from skopt import Optimizer

        completed = self.completed(Y)
        known = np.vstack([X, X_pending])
        if len(known) < self.initial_experiments or completed.sum() < 2:
            return self.sobol(n, known)
        feasible = self.objectives.feasible(Y) & completed
        values = np.full(len(X), np.nan)
        if feasible.any():
            objectives_max = self.objectives.maximization(Y[feasible])
            values[feasible] = scalarize(
                objectives_max, self._weights(len(known)), self.options.scalarization
            )
            worst, best = float(np.nanmax(values)) + 1.0, float(np.nanmin(values))
        else:
            worst, best = 1.0, 0.0
        values[np.isnan(values)] = worst
        told_X = np.vstack([X, X_pending])
        told_y = np.concatenate([values, np.full(len(X_pending), best)])
        optimizer = Optimizer(
            self._dimensions(),
            base_estimator="GP",
            n_initial_points=1,
            acq_func=self.options.acq_func,
            acq_optimizer="sampling" if self.space.constraints else "lbfgs",
            acq_optimizer_kwargs={"n_points": self.options.acquisition_points},
            random_state=self.derived_seed(len(X), len(X_pending), n),
            space_constraint=self._feasible_point if self.space.constraints else None,
        )
        with warnings.catch_warnings():
            # scikit-learn's GP warns about hyperparameters at their bounds; harmless here.
            warnings.simplefilter("ignore")
            optimizer.tell(self._to_skopt(told_X), told_y.tolist())
            points = optimizer.ask(n_points=n) if n > 1 else [optimizer.ask()]
        suggestion = self._from_skopt(points)
        chosen: list[np.ndarray] = []
        for x in suggestion:
            seen = np.vstack([known, *chosen]) if chosen else known
            if self.space.is_feasible(x[None, :])[0] and is_new(x, seen):
                chosen.append(x[None, :])
            else:  # a repeat or an infeasible point: take the next new Sobol point instead
                chosen.append(self.sobol(1, np.vstack([seen, x[None, :]])))
        return np.vstack(chosen)
