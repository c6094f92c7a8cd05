"""What drives each objective: global sensitivity of the fitted surrogate and its length scales.

For every outcome the campaign's surrogate (:func:`labctl.optimizers.surrogate.fit_surrogate`, one
GP per outcome in the optimizer's model space) is fitted on the completed experiments, and the
variance of its **posterior mean** over the search space is decomposed into Sobol indices:

* first-order ``S_i`` — the share of the variance explained by factor ``i`` alone;
* total ``ST_i`` — the share involving factor ``i`` at all (alone or in interactions).

Estimators (Saltelli et al. 2010, *Comput. Phys. Commun.* 181, 259): two independent samples
``A`` and ``B`` (``N`` rows each) and, per factor, ``AB_i`` = ``A`` with the factor's columns
taken from ``B``; ``S_i = mean(f(B)·(f(AB_i) − f(A))) / V`` and Jansen's
``ST_i = mean((f(A) − f(AB_i))²) / (2V)``, ``V`` the variance of ``f`` over ``A`` and ``B``
together. Confidence intervals: percentile bootstrap over the ``N`` rows (the same resampled rows
for ``A``, ``B`` and every ``AB_i``). Everything is seeded.

Factors and mixtures: ``A`` and ``B`` are feasible settings from ``space.sample`` (Sobol points of
the space's own sampler, two scrambling seeds, ``B``'s rows in random order — the rows of two
scrambles of one Sobol sequence are correlated otherwise). A mixture's members cannot vary one at a
time — their fractions sum to 1 — so **a mixture is one factor**: its member columns are swapped
together, giving the group (closed) Sobol index of the mixture's composition. Continuous, integer
and categorical parameters are one factor each (a categorical is swapped as its option index, as
the space encodes it). Factors are treated as independent with the marginal distributions of the
sampler; where linear constraints couple parameters of different factors, ``AB_i`` may leave the
constrained set and the GP mean is evaluated there too (noted in the report).

Length scales: the ARD length scales of each GP's kernel per model-space column, on the inputs
the surrogate normalizes to [0, 1] by the space's bounds (short = the outcome changes quickly
along that input). A mixture lists one per member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labctl.errors import LabctlError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.optimizers.space_config import MixtureSpec

__all__ = [
    "Factor",
    "ObjectiveSensitivity",
    "SensitivityError",
    "SobolIndices",
    "base_samples",
    "explain",
    "factors_of",
    "saltelli_matrices",
    "sobol_indices",
    "surrogate_sensitivity",
]


class SensitivityError(LabctlError):
    """The surrogate cannot be fitted (too few completed experiments) or evaluated."""


@dataclass(frozen=True)
class Factor:
    """One factor of the sensitivity analysis: a parameter, or a whole mixture.

    Args:
        name: the parameter or mixture name.
        columns: its model-space columns.
        members: a mixture's member names (empty otherwise).
    """

    name: str
    columns: tuple[int, ...]
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class SobolIndices:
    """First-order and total Sobol indices of each factor, with bootstrap intervals.

    Args:
        names: the factors.
        first: ``S_i`` per factor.
        total: ``ST_i`` per factor.
        first_interval: ``k x 2`` lower/upper bounds of ``S_i``.
        total_interval: ``k x 2`` lower/upper bounds of ``ST_i``.
        variance: the output variance ``V`` the indices divide.
        confidence: the intervals' confidence level.
    """

    names: list[str]
    first: np.ndarray
    total: np.ndarray
    first_interval: np.ndarray
    total_interval: np.ndarray
    variance: float
    confidence: float


@dataclass(frozen=True)
class ObjectiveSensitivity:
    """Sensitivity of one outcome's surrogate.

    Args:
        outcome: the outcome's name.
        indices: Sobol indices of its GP posterior mean.
        length_scales: factor name → ARD length scales of its columns (normalized inputs).
        observations: how many experiments the GP was fitted on.
    """

    outcome: str
    indices: SobolIndices
    length_scales: dict[str, list[float]] = field(default_factory=dict)
    observations: int = 0


def factors_of(space: SearchSpace) -> list[Factor]:
    """The space's factors: each non-fixed parameter, a mixture as one."""
    factors = []
    for name, spec in space.specs.items():
        if isinstance(spec, MixtureSpec):
            members = tuple(spec.mixture)
            columns = tuple(space.parameter_column[member] for member in members)
            factors.append(Factor(name, columns, members))
        elif name in space.parameter_column:
            factors.append(Factor(name, (space.parameter_column[name],)))
    return factors


def saltelli_matrices(
    A: np.ndarray, B: np.ndarray, groups: Sequence[Sequence[int]]
) -> list[np.ndarray]:
    """``AB_i`` for each group of columns: ``A`` with those columns taken from ``B``."""
    matrices = []
    for columns in groups:
        AB = A.copy()
        AB[:, list(columns)] = B[:, list(columns)]
        matrices.append(AB)
    return matrices


def _estimate(f_A: np.ndarray, f_B: np.ndarray, f_AB: np.ndarray) -> tuple[np.ndarray, ...]:
    """Saltelli 2010 first-order and Jansen total indices; ``f_AB`` is ``k x N``."""
    variance = float(np.var(np.concatenate([f_A, f_B])))
    if variance <= 0.0 or not np.isfinite(variance):
        zeros = np.zeros(len(f_AB))
        return zeros, zeros.copy(), np.array(0.0)
    first = np.mean(f_B[None, :] * (f_AB - f_A[None, :]), axis=1) / variance
    total = 0.5 * np.mean((f_A[None, :] - f_AB) ** 2, axis=1) / variance
    return first, total, np.array(variance)


def sobol_indices(
    function: Callable[[np.ndarray], np.ndarray],
    A: np.ndarray,
    B: np.ndarray,
    groups: Sequence[Sequence[int]] | None = None,
    *,
    names: Sequence[str] | None = None,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> SobolIndices:
    """Sobol indices of ``function`` from the base samples ``A`` and ``B``.

    Args:
        function: maps an ``n x d`` array to ``n`` values.
        A: ``N x d`` base sample.
        B: another ``N x d`` sample, independent of ``A``.
        groups: the columns of each factor (default: one factor per column).
        names: the factors' names (default: ``x1 … xk``).
        bootstrap: bootstrap resamples for the intervals (0: intervals equal the estimate).
        confidence: the intervals' confidence level.
        seed: seed of the bootstrap.

    Returns:
        The indices (a constant function gives zeros).
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    B = np.atleast_2d(np.asarray(B, dtype=float))
    if A.shape != B.shape:
        raise ValueError(f"A and B must have one shape, got {A.shape} and {B.shape}")
    column_groups = (
        [list(g) for g in groups] if groups is not None else [[i] for i in range(A.shape[1])]
    )
    labels = list(names) if names is not None else [f"x{i + 1}" for i in range(len(column_groups))]
    n = len(A)
    AB = saltelli_matrices(A, B, column_groups)
    values = np.asarray(function(np.concatenate([A, B, *AB])), dtype=float).reshape(-1)
    f_A, f_B = values[:n], values[n : 2 * n]
    f_AB = values[2 * n :].reshape(len(column_groups), n)
    first, total, variance = _estimate(f_A, f_B, f_AB)
    tail = (1.0 - confidence) / 2.0
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws_first = np.empty((bootstrap, len(column_groups)))
        draws_total = np.empty_like(draws_first)
        for b in range(bootstrap):
            rows = rng.integers(0, n, n)
            draws_first[b], draws_total[b], _ = _estimate(f_A[rows], f_B[rows], f_AB[:, rows])
        first_interval = np.quantile(draws_first, [tail, 1.0 - tail], axis=0).T
        total_interval = np.quantile(draws_total, [tail, 1.0 - tail], axis=0).T
    else:
        first_interval = np.stack([first, first], axis=1)
        total_interval = np.stack([total, total], axis=1)
    return SobolIndices(
        labels, first, total, first_interval, total_interval, float(variance), confidence
    )


def _length_scales(model: Any, d: int) -> dict[int, float]:
    """ARD length scales per model-space column, from any kernel with ``active_dims``."""
    scales: dict[int, float] = {}
    for module in model.covar_module.modules():
        if not getattr(module, "has_lengthscale", False):
            continue
        values = module.lengthscale.detach().reshape(-1).cpu().numpy()
        active = module.active_dims
        columns = list(range(d)) if active is None else [int(i) for i in active.tolist()]
        if len(values) == len(columns):
            for column, value in zip(columns, values, strict=True):
                scales.setdefault(column, float(value))
        elif len(values) == 1:
            for column in columns:
                scales.setdefault(column, float(values[0]))
    return scales


def base_samples(space: SearchSpace, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent ``samples x d`` feasible samples of the space (model space), seeded.

    Row j of two scrambled Sobol sequences is correlated (one unscrambled point, scrambles that
    differ by a linear map and a shift), so ``B``'s rows are put in random order.
    """
    A = space.sample(samples, seed=seed)
    B = space.sample(samples, seed=seed + 1)[np.random.default_rng(seed).permutation(samples)]
    return A, B


def surrogate_sensitivity(
    X: np.ndarray,
    Y: np.ndarray,
    space: SearchSpace,
    objectives: Objectives,
    *,
    samples: int = 512,
    bootstrap: int = 200,
    seed: int = 0,
) -> list[ObjectiveSensitivity]:
    """Fit the campaign's surrogate and compute each outcome's Sobol indices and length scales.

    Args:
        X: ``n x d`` completed experiments in model space (``space.encode_many``).
        Y: ``n x m`` their outcomes in the objectives' units (columns as ``objectives.names``).
        space: the search space.
        objectives: the objectives.
        samples: ``N``, rows of each base sample (the GP mean is evaluated ``N·(k + 2)`` times).
        bootstrap: bootstrap resamples for the intervals.
        seed: seeds the base samples and the bootstrap.

    Raises:
        SensitivityError: fewer than two observations of an outcome, or the fit failed.
    """
    import torch

    from labctl.optimizers.errors import OptimizerError
    from labctl.optimizers.surrogate import fit_surrogate

    torch.manual_seed(seed)
    try:
        model = fit_surrogate(np.asarray(X, dtype=float), np.asarray(Y, dtype=float), space)
    except OptimizerError as error:
        raise SensitivityError(f"the surrogate cannot be fitted: {error}") from error
    except (RuntimeError, ValueError) as error:
        raise SensitivityError(f"fitting the surrogate failed: {error}") from error
    factors = factors_of(space)
    A, B = base_samples(space, samples, seed)
    results = []
    for j, name in enumerate(objectives.names):
        gp = model.models[j]

        def mean(points: np.ndarray, gp: Any = gp) -> np.ndarray:
            with torch.no_grad():
                tensor = torch.as_tensor(points, dtype=torch.float64)
                chunks = [
                    gp.posterior(tensor[i : i + 4096]).mean.reshape(-1)
                    for i in range(0, len(tensor), 4096)
                ]
                return torch.cat(chunks).cpu().numpy()

        indices = sobol_indices(
            mean,
            A,
            B,
            [factor.columns for factor in factors],
            names=[factor.name for factor in factors],
            bootstrap=bootstrap,
            seed=seed + 17 * (j + 1),
        )
        scales = _length_scales(gp, space.model_dim)
        length_scales = {
            factor.name: [scales.get(column, float("nan")) for column in factor.columns]
            for factor in factors
        }
        observed = int((~np.isnan(np.asarray(Y)[:, j])).sum())
        results.append(ObjectiveSensitivity(name, indices, length_scales, observed))
    return results


def explain(result: ObjectiveSensitivity, *, small: float = 0.05) -> str:
    """One paragraph in plain language: what drives this outcome, by the total indices."""
    indices = result.indices
    if indices.variance <= 0.0:
        return (
            f"The surrogate of {result.outcome} is flat over the search space: none of the "
            "inputs changes it noticeably with the data so far."
        )
    order = np.argsort(-indices.total)
    parts = []
    for i in order:
        if indices.total[i] < small:
            continue
        low, high = indices.total_interval[i]
        parts.append(
            f"{indices.names[i]} (involved in {100 * indices.total[i]:.0f} % of the variation, "
            f"{100 * indices.confidence:.0f} % interval {100 * low:.0f}–{100 * high:.0f} %; "
            f"{100 * max(indices.first[i], 0.0):.0f} % on its own)"
        )
    quiet = [indices.names[i] for i in order if indices.total[i] < small]
    text = f"{result.outcome} is driven mostly by " + (
        "; then ".join(parts) if parts else "no single input"
    )
    text += "."
    if quiet:
        text += (
            f" {', '.join(quiet)} barely matter{'s' if len(quiet) == 1 else ''} (< {small:.0%})."
        )
    interactions = float(np.sum(indices.total) - np.sum(np.clip(indices.first, 0.0, None)))
    if interactions > 0.1:
        text += (
            f" Interactions between inputs account for roughly {100 * interactions:.0f} % of "
            "the variation, so the best value of one input depends on the others."
        )
    text += (
        f" These figures describe the Gaussian-process surrogate fitted to {result.observations} "
        "experiments, not the chemistry directly"
        + (
            "; with so few experiments they are rough."
            if result.observations < 3 * max(len(indices.names), 1)
            else "."
        )
    )
    return text
