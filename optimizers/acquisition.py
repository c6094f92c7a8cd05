"""Acquisition functions: BoTorch's noisy hypervolume and ParEGO criteria, wired to objectives.

:func:`build_acquisition` returns a BoTorch :class:`~botorch.acquisition.AcquisitionFunction` in
model space: qLogNEHVI (the default; Daulton et al., NeurIPS 2021, with the log-smoothed
formulation of Ament et al., NeurIPS 2023) or qLogNParEGO (random augmented-Chebyshev
scalarizations), or qLogNEI when there is a single objective. Minimized objectives are negated by
a weighted multi-output objective; outcome constraints become BoTorch's constraint callables
(negative = feasible). Pending experiments are ``X_pending``: the criterion values them as if
already observed, so a new suggestion is made away from them.

:class:`SearchSpaceAcquisition` composes such a function with the map from search coordinates
to model space (stick-breaking for mixtures, categorical options held fixed), so that the
acquisition optimizer sees a plain box.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.objective import LinearMCObjective
from botorch.models.model import Model
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace

__all__ = ["AcquisitionKind", "SearchSpaceAcquisition", "build_acquisition"]

AcquisitionKind = Literal["qlognehvi", "qnparego"]


def _outcome_constraints(objectives: Objectives) -> list[Callable[[Tensor], Tensor]] | None:
    callables: list[Callable[[Tensor], Tensor]] = []
    for constraint in objectives.constraints:
        index, bound, upper = constraint.outcome, constraint.bound, constraint.upper

        def function(
            samples: Tensor, index: int = index, bound: float = bound, upper: bool = upper
        ) -> Tensor:
            values = samples[..., index]
            return values - bound if upper else bound - values

        callables.append(function)
    return callables or None


def build_acquisition(
    kind: AcquisitionKind,
    model: Model,
    X_baseline: Tensor,
    objectives: Objectives,
    reference: Tensor,
    *,
    X_pending: Tensor | None = None,
    mc_samples: int = 128,
    seed: int = 0,
) -> AcquisitionFunction:
    """Build the acquisition function for the next suggestion.

    Args:
        kind: ``"qlognehvi"`` or ``"qnparego"`` (either is qLogNEI for one objective).
        model: the fitted surrogate, ``m`` outputs in the outcomes' units.
        X_baseline: ``n x d`` tensor in model space, the observed experiments.
        objectives: names, directions and outcome constraints.
        reference: length-``k`` reference point in maximization space.
        X_pending: ``p x d`` tensor in model space of experiments still running (and failed
            ones, so they are not suggested again).
        mc_samples: quasi-Monte Carlo samples of the posterior.
        seed: seed of the QMC sampler.

    Returns:
        An acquisition function over ``b x q x d`` model-space tensors.
    """
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)
    weights = torch.as_tensor(objectives.signs, dtype=X_baseline.dtype)
    constraints = _outcome_constraints(objectives)
    if objectives.num_objectives == 1:
        full = torch.zeros(len(objectives.names), dtype=X_baseline.dtype)
        full[objectives.objective_columns[0]] = weights[0]
        return qLogNoisyExpectedImprovement(
            model,
            X_baseline,
            sampler=sampler,
            objective=LinearMCObjective(full),
            X_pending=X_pending,
            constraints=constraints,
            prune_baseline=True,
        )
    objective = WeightedMCMultiOutputObjective(
        weights, outcomes=list(objectives.objective_columns), num_outcomes=len(objectives.names)
    )
    if kind == "qnparego":
        return qLogNParEGO(
            model,
            X_baseline,
            sampler=sampler,
            objective=objective,
            constraints=constraints,
            X_pending=X_pending,
            prune_baseline=True,
        )
    return qLogNoisyExpectedHypervolumeImprovement(
        model,
        ref_point=reference,
        X_baseline=X_baseline,
        sampler=sampler,
        objective=objective,
        constraints=constraints,
        X_pending=X_pending,
        prune_baseline=True,
    )


class SearchSpaceAcquisition(AcquisitionFunction):
    """An acquisition function seen through the search coordinates of a space.

    ``forward(Z) = acquisition(space.to_model(Z, categories))``: gradients flow through the
    stick-breaking map, so L-BFGS-B can optimize over the box ``[0, 1]^e``.

    Args:
        acquisition: a model-space acquisition function.
        space: the search space.
        categories: the option index of each categorical parameter, held fixed.
    """

    def __init__(
        self, acquisition: AcquisitionFunction, space: SearchSpace, categories: Sequence[int]
    ) -> None:
        super().__init__(model=acquisition.model)
        self.acquisition = acquisition
        self.space = space
        self.categories = torch.tensor(list(categories), dtype=torch.float64)
        self._log = acquisition._log

    def to_model(self, Z: Tensor) -> Tensor:
        """``b x q x e`` search coordinates → ``b x q x d`` model space."""
        categories = self.categories if len(self.categories) else None
        return self.space.to_model(Z, categories)

    def forward(self, X: Tensor) -> Tensor:
        """Acquisition value of ``b x q x e`` search coordinates, a tensor of length ``b``."""
        values: Tensor = self.acquisition(self.to_model(X))
        return values

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        """Pending points are set on the model-space function; this wrapper takes none."""
        if X_pending is not None:
            raise NotImplementedError("set pending points on the wrapped acquisition function")
