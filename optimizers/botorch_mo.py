"""The default optimizer: BoTorch multi-objective Bayesian optimization with ask/tell.

Until ``initial_experiments`` settings are known (told, failed or pending) suggestions come from
a scrambled Sobol design. Then each ``ask``:

1. fits one GP per outcome on the completed experiments (:mod:`~labctl.optimizers.surrogate`);
2. builds qLogNEHVI (default) or qLogNParEGO (:mod:`~labctl.optimizers.acquisition`), with the
   configured or inferred reference point, outcome constraints, and as ``X_pending`` both the
   pending experiments and the failed ones (so a failed setting is not suggested again);
3. maximizes it by sequential greedy candidate generation (:mod:`~labctl.optimizers.candidates`),
   mixtures through the stick-breaking reparametrization so the optimizer stays bound-
   constrained (``mixture_strategy="equality"`` optimizes with SLSQP and equality constraints
   instead, to compare).

Threads: PyTorch's intra-op thread count is set to ``threads`` (default 1) at the start of every
``ask``, on the thread that runs it. This is process-wide. On a 2-core machine shared with the
RunEngine and instrument twins, one thread was 10–40× faster than torch's default of two for
both model fitting and acquisition optimization (see ``benchmarks/optimizers/README.md``).

Large campaigns: an exact GP costs O(n³) to fit, and qLogNEHVI's box decomposition grows with the
front. Measured here at d = 4 (one thread, under load): n = 500 takes 4 s per suggestion, n = 1000
takes 27 s (fit 19.5 s). With ``max_model_points`` (default 500) the model sees at most that many
completed experiments: every non-dominated feasible one, then the most recent, then a seeded random
draw of the rest (:func:`model_subset`); experiments left out still count as known, so they are
never suggested again. Below the bound nothing changes.

Reproducibility: the fit, the QMC sampler, raw samples and restarts are seeded from ``seed`` and
the number of known experiments, under :func:`torch.random.fork_rng`, so the same data and
pending settings give the same suggestions and the global torch RNG is left untouched.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from pydantic import Field

from labctl.optimizers.acquisition import AcquisitionKind, build_acquisition
from labctl.optimizers.base import AskTellOptimizer, BaseOptions
from labctl.optimizers.candidates import MixtureStrategy, optimize_candidates
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.pareto import non_dominated
from labctl.optimizers.registry import register
from labctl.optimizers.surrogate import fit_surrogate

__all__ = ["BotorchMultiObjective", "BotorchOptions", "model_subset"]

# fork_rng swaps the process-wide torch RNG state: one suggestion at a time.
_TORCH_RNG = threading.Lock()


class BotorchOptions(BaseOptions):
    """Options of :class:`BotorchMultiObjective`.

    Args:
        initial_experiments: size of the Sobol design before the first model (default
            ``2 (e + 1)``).
        acquisition: ``qlognehvi`` (default) or ``qnparego``.
        num_restarts: local optimizations of the acquisition function per suggestion.
        raw_samples: random feasible settings scored to choose the restarts.
        mc_samples: quasi-Monte Carlo samples of the posterior.
        max_iterations: iteration limit of each local optimization.
        mixture_strategy: ``reparametrize`` (stick-breaking, bound-constrained L-BFGS-B) or
            ``equality`` (SLSQP with the mixture sums as equality constraints).
        threads: PyTorch intra-op threads while suggesting (process-wide).
        max_model_points: most completed experiments the model is fitted on (``None``: all);
            see :func:`model_subset`.
    """

    acquisition: AcquisitionKind = "qlognehvi"
    num_restarts: int = Field(default=10, ge=1)
    raw_samples: int = Field(default=512, ge=8)
    mc_samples: int = Field(default=128, ge=8)
    max_iterations: int = Field(default=200, ge=1)
    mixture_strategy: MixtureStrategy = "reparametrize"
    threads: int = Field(default=1, ge=1)
    max_model_points: int | None = Field(default=500, ge=10)


@register("botorch-mo")
class BotorchMultiObjective(AskTellOptimizer):
    """Multi-objective Bayesian optimization with BoTorch (see the module docstring).

    Args:
        space: the search space, or the ``space`` section of a campaign config.
        objectives: the objectives, or the ``objectives`` section.
        seed: seed of the design, fits and acquisition optimization.
        **options: see :class:`BotorchOptions`.
    """

    Options = BotorchOptions
    options: BotorchOptions

    def _suggest(self, n: int, X: np.ndarray, Y: np.ndarray, X_pending: np.ndarray) -> np.ndarray:
        completed = self.completed(Y)
        known = np.vstack([X, X_pending])
        if len(known) < self.initial_experiments or completed.sum() < 2:
            return self.sobol(n, known)
        torch.set_num_threads(self.options.threads)
        seed = self.derived_seed(len(X), len(X_pending), n)
        with _TORCH_RNG, torch.random.fork_rng():
            torch.manual_seed(seed)
            return self._bayesian(n, X, Y, X_pending, completed, seed)

    def _bayesian(
        self,
        n: int,
        X: np.ndarray,
        Y: np.ndarray,
        X_pending: np.ndarray,
        completed: np.ndarray,
        seed: int,
    ) -> np.ndarray:
        X_done, Y_done = X[completed], Y[completed]
        if self.options.max_model_points is not None:
            chosen = model_subset(self.objectives, Y_done, self.options.max_model_points, seed)
            X_done, Y_done = X_done[chosen], Y_done[chosen]
        model = fit_surrogate(X_done, Y_done, self.space)
        reference, _ = self.objectives.reference_point(Y_done)
        avoid = np.vstack([X[~completed], X_pending])
        baseline = torch.as_tensor(X_done, dtype=torch.float64)
        acquisition = build_acquisition(
            self.options.acquisition,
            model,
            baseline,
            self.objectives,
            torch.as_tensor(reference, dtype=torch.float64),
            X_pending=torch.as_tensor(avoid, dtype=torch.float64) if len(avoid) else None,
            mc_samples=self.options.mc_samples,
            seed=seed,
        )
        return optimize_candidates(
            acquisition,
            self.space,
            n,
            known=np.vstack([X, X_pending]),
            num_restarts=self.options.num_restarts,
            raw_samples=self.options.raw_samples,
            seed=seed,
            strategy=self.options.mixture_strategy,
            options={"maxiter": self.options.max_iterations},
        )


def model_subset(objectives: Objectives, Y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices (sorted) of at most ``limit`` rows of ``Y`` to fit the model on.

    Every non-dominated feasible row first (the front the acquisition improves on), then the
    most recent rows (the region the campaign is exploring now), then a seeded random draw of
    the rest; all rows when there are no more than ``limit``.
    """
    n = len(Y)
    if n <= limit:
        return np.arange(n)
    feasible = np.flatnonzero(objectives.feasible(Y))
    front = feasible[non_dominated(objectives.maximization(Y[feasible]))] if len(feasible) else []
    chosen = list(dict.fromkeys(int(i) for i in front))[:limit]
    taken = set(chosen)
    recent = [i for i in range(n - 1, -1, -1) if i not in taken]
    chosen += recent[: max(0, (limit - len(chosen)) // 2)]
    rest = np.array(sorted(set(range(n)) - set(chosen)))
    room = limit - len(chosen)
    if room > 0 and len(rest):
        draw = np.random.default_rng(seed).choice(rest, size=min(room, len(rest)), replace=False)
        chosen += [int(i) for i in draw]
    return np.array(sorted(chosen))
