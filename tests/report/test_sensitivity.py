"""Sobol indices: the estimator on the Ishigami function, then on a fitted GP surrogate."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.config import CampaignSection
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.space import SearchSpace
from labctl.plans.records import ExperimentRecord
from labctl.report.figures import campaign_space, outcome_array
from labctl.report.sensitivity import (
    SensitivityError,
    base_samples,
    explain,
    factors_of,
    sobol_indices,
    surrogate_sensitivity,
)


def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def test_ishigami_indices_match_the_analytic_values() -> None:
    # Analytic (a = 7, b = 0.1): S1 = 0.3139, S2 = 0.4424, S3 = 0; ST1 = 0.5576, ST2 = 0.4424,
    # ST3 = 0.2437.
    rng = np.random.default_rng(7)
    A = rng.uniform(-np.pi, np.pi, (20_000, 3))
    B = rng.uniform(-np.pi, np.pi, (20_000, 3))
    result = sobol_indices(ishigami, A, B, bootstrap=100, seed=1)
    np.testing.assert_allclose(result.first, [0.314, 0.442, 0.0], atol=0.03)
    np.testing.assert_allclose(result.total, [0.558, 0.442, 0.244], atol=0.03)
    for value, (low, high) in zip(result.total, result.total_interval, strict=True):
        assert low <= value <= high
    assert result.names == ["x1", "x2", "x3"]


def test_constant_function_has_zero_indices() -> None:
    A = np.random.default_rng(0).uniform(size=(64, 2))
    result = sobol_indices(lambda X: np.ones(len(X)), A, A[::-1].copy(), bootstrap=10)
    assert result.variance == 0.0
    np.testing.assert_array_equal(result.total, [0.0, 0.0])


def test_grouped_factors_swap_columns_together() -> None:
    # f = x1 + x2 + 10 x3: the group {x1, x2} carries 2/102 of the variance, x3 the rest.
    rng = np.random.default_rng(3)
    A, B = rng.uniform(size=(20_000, 3)), rng.uniform(size=(20_000, 3))
    result = sobol_indices(
        lambda X: X[:, 0] + X[:, 1] + 10 * X[:, 2], A, B, [[0, 1], [2]], bootstrap=0
    )
    np.testing.assert_allclose(result.first, [2 / 102, 100 / 102], atol=0.02)
    np.testing.assert_allclose(result.total, [2 / 102, 100 / 102], atol=0.02)


def test_space_samples_give_the_analytic_indices_of_an_additive_function(
    section: CampaignSection,
) -> None:
    # f = 15 m + 5 DMC on the toy space (m uniform on [0, 1] in model space, the mixture
    # uniform on the simplex: Var DMC = 1/18): shares 18.75 : 25/18 of the variance.
    space, _ = campaign_space(section)
    A, B = base_samples(space, 2048, seed=0)
    assert abs(np.corrcoef(A[:, 3], B[:, 3])[0, 1]) < 0.1
    groups = [factor.columns for factor in factors_of(space)]
    result = sobol_indices(lambda X: 15 * X[:, 3] + 5 * X[:, 1], A, B, groups, bootstrap=0)
    total = 18.75 + 25 / 18
    np.testing.assert_allclose(result.first, [25 / 18 / total, 18.75 / total], atol=0.03)
    np.testing.assert_allclose(result.total, [25 / 18 / total, 18.75 / total], atol=0.03)


def test_gp_sensitivity_finds_the_irrelevant_input() -> None:
    space = SearchSpace(
        {
            "x": {"low": "0 K", "high": "1 K"},
            "y": {"low": 0.0, "high": 1.0},
            "z": {"low": "0 s", "high": "1 s"},
        }
    )
    objectives = Objectives({"f": {"direction": "maximize"}})
    X = space.sample(40, seed=3)
    Y = (np.sin(3 * X[:, 0]) + 2 * X[:, 1])[:, None]  # z is irrelevant
    (result,) = surrogate_sensitivity(X, Y, space, objectives, samples=512, bootstrap=50, seed=0)
    indices = dict(zip(result.indices.names, result.indices.total, strict=True))
    assert indices["z"] < 0.02
    assert indices["y"] > 0.3
    assert indices["x"] > 0.1
    assert result.observations == 40
    assert result.length_scales["z"][0] > result.length_scales["y"][0]
    text = explain(result)
    assert text.startswith("f is driven mostly by y") or text.startswith("f is driven mostly by x")
    assert "z barely matters" in text


def test_mixture_is_one_factor_and_sensitivity_is_seeded(
    section: CampaignSection, records: list[ExperimentRecord]
) -> None:
    space, objectives = campaign_space(section)
    factors = factors_of(space)
    assert [(f.name, f.members) for f in factors] == [
        ("solvent", ("EC", "DMC", "EMC")),
        ("salt_molality", ()),
    ]
    completed = [r for r in records if r.status == "completed"]
    X = space.encode_many([r.inputs for r in completed])
    Y = outcome_array(completed, objectives)
    first = surrogate_sensitivity(X, Y, space, objectives, samples=128, bootstrap=20, seed=4)
    again = surrogate_sensitivity(X, Y, space, objectives, samples=128, bootstrap=20, seed=4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_allclose(a.indices.total, b.indices.total)
    assert [r.outcome for r in first] == ["ionic_conductivity", "cost"]
    assert len(first[0].length_scales["solvent"]) == 3


def test_too_few_observations_is_a_sensitivity_error(section: CampaignSection) -> None:
    space, objectives = campaign_space(section)
    X = space.sample(1, seed=0)
    with pytest.raises(SensitivityError, match="cannot be fitted"):
        surrogate_sensitivity(X, np.array([[1.0, 2.0]]), space, objectives, samples=16)
