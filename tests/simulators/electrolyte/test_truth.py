"""The vectorised true objectives (dense sampling of the formulation campaign's front).

* Point by point they are the scalar model's: conductivity, stability limit (the closed form of
  the bisection, including salt beyond the solvent-in-salt point) and cost.
* The blend lattice keeps to the bounds, sums to 1, reaches the bounds, and pins a face.
* On nested lattices the Pareto set is non-dominated, dominates everything else, lies where EMC
  is at its lower bound (EMC is worse than DMC in every objective), and the hypervolume grows with
  the density.
"""

from __future__ import annotations

import numpy as np
import pytest

from labctl.errors import UnitError
from labctl.optimizers.pareto import hypervolume, non_dominated
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.cost import ILLUSTRATIVE_PRICES
from labctl.simulators.electrolyte.model import electrolyte_properties
from labctl.simulators.electrolyte.truth import blend_grid, blend_objectives, dense_objectives

BOUNDS = {"EC": (0.1, 0.7), "EMC": (0.05, 0.85), "DMC": (0.05, 0.85)}
REFERENCE = np.array([4.0, 5.0, -7.0])  # mS/cm, V, −USD/kg: the campaign config's


def test_the_vectorised_objectives_are_the_scalar_models() -> None:
    rng = np.random.default_rng(3)
    for _ in range(12):
        weights = rng.dirichlet([1.0, 1.0, 1.0])
        blend = dict(zip(("EC", "EMC", "DMC"), weights, strict=True))
        molalities = np.array([0.0, *rng.uniform(0.1, 3.5, 4)])  # 3.5: all solvent bound
        temperature = float(rng.uniform(263.15, 323.15))
        kappa, limit, cost = blend_objectives(molalities, blend, temperature, ILLUSTRATIVE_PRICES)
        for i, molality in enumerate(molalities):
            truth = electrolyte_properties(
                Composition(float(molality), blend), temperature, prices=ILLUSTRATIVE_PRICES
            )
            assert kappa[i] == pytest.approx(truth.conductivity, rel=1e-12, abs=1e-15)
            assert limit[i] == pytest.approx(truth.stability_limit, abs=1e-9)
            assert cost[i] == pytest.approx(truth.cost, rel=1e-12)


def test_the_blend_lattice_keeps_to_the_bounds_and_reaches_them() -> None:
    blends = blend_grid(BOUNDS, 0.05)
    assert np.allclose(blends.sum(axis=1), 1.0)
    for j, (low, high) in enumerate(BOUNDS.values()):
        assert blends[:, j].min() == pytest.approx(low)
        assert blends[:, j].max() == pytest.approx(high)
        assert (blends[:, j] >= low - 1e-12).all()
        assert (blends[:, j] <= high + 1e-12).all()
    assert len(np.unique(blends.round(9), axis=0)) == len(blends)
    face = blend_grid({**BOUNDS, "EMC": (0.05, 0.05)}, 0.05)
    assert np.allclose(face[:, 1], 0.05)
    assert len(face) == 13  # EC 0.10, 0.15, …, 0.70; DMC = 0.95 − EC
    with pytest.raises(UnitError, match="three solvents"):
        blend_grid({"EC": (0.0, 1.0), "DMC": (0.0, 1.0)}, 0.1)
    with pytest.raises(UnitError, match="summing to 1"):
        blend_grid({"EC": (0.6, 0.7), "EMC": (0.3, 0.4), "DMC": (0.3, 0.4)}, 0.05)
    with pytest.raises(UnitError, match="molalities"):
        blend_objectives([-0.1], {"EC": 1.0}, 298.15, ILLUSTRATIVE_PRICES)


def test_the_dense_front_is_non_dominated_and_its_hypervolume_grows_with_density() -> None:
    volumes = []
    # Nested lattices: each one holds every formulation of the one before.
    for step, points in ((0.1, 8), (0.05, 15), (0.025, 29)):
        truth = dense_objectives(
            (0.4, 1.8),
            BOUNDS,
            298.15,
            ILLUSTRATIVE_PRICES,
            blend_step=step,
            molality_points=points,
        )
        Y = np.column_stack([truth.conductivity * 10.0, truth.stability_limit, -truth.cost])
        front = non_dominated(Y)
        F = Y[front]
        # No front point dominates another; every other point is weakly dominated by one.
        ge = (F[:, None, :] >= F[None, :, :]).all(axis=2)
        gt = (F[:, None, :] > F[None, :, :]).any(axis=2)
        assert not (ge & gt).any()
        rest = Y[~front]
        assert (F[None, :, :] >= rest[:, None, :]).all(axis=2).any(axis=1).all()
        # The front lies on the face where EMC is at its lower bound.
        assert np.allclose(truth.fractions[front, 1], BOUNDS["EMC"][0])
        volumes.append(hypervolume(F, REFERENCE))
        assert volumes[-1] == pytest.approx(hypervolume(Y, REFERENCE), rel=1e-12)
    assert 0 < volumes[0] < volumes[1] < volumes[2]
