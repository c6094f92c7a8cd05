"""Candidate generation: maximize an acquisition function over a search space.

Points are chosen one at a time (sequential greedy); every result is feasible and new.

For each of the ``q`` points:

1. ``raw_samples`` feasible settings are drawn (:meth:`SearchSpace.sample`, Sobol, mixtures
   uniform on their simplex, categoricals among them) and the acquisition function is evaluated
   on all of them; ``num_restarts`` are picked by BoTorch's Boltzmann heuristic
   (``initialize_q_batch``). Categorical options come from these starts: only combinations that
   won a start are optimized.
2. Each start is refined with BoTorch's ``optimize_acqf`` — by default over the search
   coordinates (``strategy="reparametrize"``: box bounds only, L-BFGS-B, mixtures through the
   stick-breaking map), or over model space with mixtures as equality constraints
   (``strategy="equality"``, SLSQP; kept to measure what the reparametrization saves). Linear
   constraints are passed on (linear in the search coordinates for continuous parameters,
   through the map for mixture members).
3. The best refined point is repaired onto the feasible set (:meth:`SearchSpace.repair`),
   checked against everything observed, failed, pending or already chosen (a repeat is replaced
   by the next best start, then by the best raw sample), and appended to the pending points of
   the acquisition function for the next of the ``q``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.exceptions.errors import CandidateGenerationError
from botorch.exceptions.warnings import BotorchWarning
from botorch.optim.initializers import initialize_q_batch
from botorch.optim.optimize import optimize_acqf
from torch import Tensor

from labctl.optimizers.acquisition import SearchSpaceAcquisition
from labctl.optimizers.errors import SpaceExhaustedError
from labctl.optimizers.space import SearchSpace

__all__ = ["MixtureStrategy", "is_new", "optimize_candidates"]

MixtureStrategy = Literal["reparametrize", "equality"]
_DUPLICATE = 1e-6


def is_new(x: np.ndarray, known: np.ndarray) -> bool:
    """Whether model-space row ``x`` differs from every row of ``known`` (by more than 1e-6)."""
    if len(known) == 0:
        return True
    return bool((np.abs(known - x[None, :]).max(axis=1) > _DUPLICATE).all())


def _evaluate(acquisition: AcquisitionFunction, X: np.ndarray, batch: int = 256) -> Tensor:
    values = []
    with torch.no_grad():
        for start in range(0, len(X), batch):
            chunk = torch.as_tensor(X[start : start + batch], dtype=torch.float64)
            values.append(acquisition(chunk.unsqueeze(-2)))
    return torch.cat(values)


def _linear_in_search(space: SearchSpace) -> list[tuple[Tensor, Tensor, float]]:
    """Constraints on continuous parameters only, in search coordinates."""
    to_search = dict(zip(space.direct_model_columns, space.direct_search_columns, strict=True))
    result = []
    for constraint in space.constraints:
        if all(column in to_search for column in constraint.columns):
            indices = torch.tensor([to_search[c] for c in constraint.columns], dtype=torch.long)
            coefficients = torch.tensor(constraint.coefficients, dtype=torch.float64)
            result.append((indices, coefficients, float(constraint.rhs)))
    return result


def _through_map(
    space: SearchSpace, wrapped: SearchSpaceAcquisition
) -> list[tuple[Callable[[Tensor], Tensor], bool]]:
    """Constraints involving mixture members, as functions of the search coordinates."""
    to_search = set(space.direct_model_columns)
    result: list[tuple[Callable[[Tensor], Tensor], bool]] = []
    for constraint in space.constraints:
        if all(column in to_search for column in constraint.columns):
            continue
        columns = list(constraint.columns)
        coefficients = torch.tensor(constraint.coefficients, dtype=torch.float64)
        rhs = float(constraint.rhs)

        def slack(
            Z: Tensor, columns: list[int] = columns, a: Tensor = coefficients, b: float = rhs
        ) -> Tensor:
            return (wrapped.to_model(Z)[..., columns] * a).sum(dim=-1) - b

        result.append((slack, True))
    return result


def _refine(
    acquisition: AcquisitionFunction,
    space: SearchSpace,
    starts: np.ndarray,
    categories: tuple[int, ...],
    strategy: MixtureStrategy,
    options: dict[str, bool | float | int | str],
    raw_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimize from ``starts`` (``r x d`` model space, one category combination).

    Returns:
        ``(X, values)``: ``r x d`` refined model-space points and their acquisition values.
    """
    if strategy == "equality" and (space.mixtures or space.constraints):
        return _refine_in_model_space(acquisition, space, starts, categories, options, raw_samples)
    if space.search_dim == 0:
        return starts, _evaluate(acquisition, starts).numpy()
    wrapped = SearchSpaceAcquisition(acquisition, space, categories)
    Z, _ = space.to_search(torch.as_tensor(starts, dtype=torch.float64))
    bounds = torch.stack([torch.zeros(space.search_dim), torch.ones(space.search_dim)]).double()
    linear = _linear_in_search(space)
    nonlinear = _through_map(space, wrapped)
    Z_best, values = optimize_acqf(
        wrapped,
        bounds=bounds,
        q=1,
        num_restarts=len(starts),
        batch_initial_conditions=Z.unsqueeze(-2),
        inequality_constraints=linear or None,
        nonlinear_inequality_constraints=nonlinear or None,
        # SciPy's SLSQP takes one start at a time when constraints are nonlinear.
        options={**options, "batch_limit": 1} if nonlinear else options,
        return_best_only=False,
    )
    assert values is not None  # return_acq_values defaults to True
    with torch.no_grad():
        X = wrapped.to_model(Z_best.detach()).reshape(len(starts), space.model_dim)
    return X.numpy(), values.detach().reshape(-1).numpy()


def _refine_in_model_space(
    acquisition: AcquisitionFunction,
    space: SearchSpace,
    starts: np.ndarray,
    categories: tuple[int, ...],
    options: dict[str, bool | float | int | str],
    raw_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain ``optimize_acqf`` in model space, the approach the reparametrization replaces.

    Mixture sums are equality constraints; BoTorch draws its own initial conditions (polytope
    sampling).
    """
    bounds = torch.as_tensor(space.model_bounds, dtype=torch.float64)
    fixed: dict[int, float] = {
        column: float(code)
        for column, code in zip(space.categorical_columns, categories, strict=True)
    }
    equalities = [
        (torch.tensor(model), torch.ones(len(model), dtype=torch.float64), 1.0)
        for _, model, _, _ in space.mixtures
    ]
    inequalities = [
        (
            torch.tensor(c.columns),
            torch.tensor(c.coefficients, dtype=torch.float64),
            float(c.rhs),
        )
        for c in space.constraints
    ]
    X_best, values = optimize_acqf(
        acquisition,
        bounds=bounds,
        q=1,
        num_restarts=len(starts),
        raw_samples=raw_samples,
        equality_constraints=equalities or None,
        inequality_constraints=inequalities or None,
        fixed_features=fixed or None,
        options=options,
        return_best_only=False,
    )
    assert values is not None  # return_acq_values defaults to True
    return (
        X_best.detach().reshape(len(starts), space.model_dim).numpy(),
        values.detach().reshape(-1).numpy(),
    )


def optimize_candidates(
    acquisition: AcquisitionFunction,
    space: SearchSpace,
    q: int,
    *,
    known: np.ndarray,
    num_restarts: int = 10,
    raw_samples: int = 512,
    seed: int = 0,
    strategy: MixtureStrategy = "reparametrize",
    options: dict[str, bool | float | int | str] | None = None,
) -> np.ndarray:
    """Choose ``q`` new feasible settings by sequential greedy maximization.

    Args:
        acquisition: a model-space acquisition function; its ``X_pending`` is extended with
            each chosen point (and restored afterwards).
        space: the search space.
        q: how many settings.
        known: ``n x d`` model-space settings not to repeat (observed, failed, pending).
        num_restarts: local optimizations per point.
        raw_samples: random feasible settings scored to choose the starts.
        seed: seed of the raw samples and start selection.
        strategy: ``"reparametrize"`` (box-bounded search coordinates) or ``"equality"``
            (model space, SLSQP with the mixture sums as equality constraints).
        options: passed to BoTorch's ``gen_candidates_scipy`` (``maxiter``, ``batch_limit``).

    Returns:
        ``q x d`` array in model space, feasible to 1e-9 and distinct from ``known`` and from
        each other.

    Raises:
        SpaceExhaustedError: no new feasible setting was found.
    """
    options = {"maxiter": 200, "batch_limit": 8, **(options or {})}
    original_pending = getattr(acquisition, "X_pending", None)
    chosen: list[np.ndarray] = []
    generator = torch.Generator().manual_seed(seed)
    try:
        for step in range(q):
            raw = space.sample(raw_samples, seed=seed + 7919 * step)
            values = _evaluate(acquisition, raw)
            count = min(num_restarts, len(raw))
            with torch.random.fork_rng():
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
                starts_tensor, _ = initialize_q_batch(
                    torch.as_tensor(raw).unsqueeze(-2), values, n=count
                )
            starts = starts_tensor.squeeze(-2).numpy()
            candidates: list[tuple[float, np.ndarray]] = []
            codes = np.round(starts[:, space.categorical_columns]).astype(int)
            for combination in sorted({tuple(row) for row in codes.tolist()}):
                members = (codes == np.array(combination)).all(axis=1)
                with warnings.catch_warnings():
                    # Optimizer exit messages (iteration limits) are expected and harmless.
                    warnings.simplefilter("ignore", BotorchWarning)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    try:
                        X, refined = _refine(
                            acquisition,
                            space,
                            starts[members],
                            combination,
                            strategy,
                            options,
                            max(raw_samples * int(members.sum()) // count, 8),
                        )
                    except CandidateGenerationError:
                        # SLSQP ended outside the constraints from every start; the (feasible)
                        # starts themselves remain candidates.
                        X = starts[members]
                        refined = _evaluate(acquisition, X).numpy()
                candidates.extend(zip(refined.tolist(), list(X), strict=True))
            order = np.argsort(-values.numpy())
            candidates.sort(key=lambda pair: -pair[0])
            everything = np.vstack([known.reshape(-1, space.model_dim), *chosen])
            pick = None
            for _, x in candidates:
                repaired = space.repair(x[None, :])[0]
                if space.is_feasible(repaired[None, :])[0] and is_new(repaired, everything):
                    pick = repaired
                    break
            if pick is None:
                for index in order:
                    if is_new(raw[index], everything):
                        pick = raw[index]
                        break
            if pick is None:
                raise SpaceExhaustedError(
                    "no new feasible setting found: every candidate repeats an observed, failed "
                    "or pending experiment"
                )
            chosen.append(pick[None, :])
            if step + 1 < q:
                pending = torch.as_tensor(np.vstack(chosen), dtype=torch.float64)
                if original_pending is not None:
                    pending = torch.cat([original_pending, pending])
                acquisition.set_X_pending(pending)
    finally:
        if q > 1:
            acquisition.set_X_pending(original_pending)
    return np.vstack(chosen)
