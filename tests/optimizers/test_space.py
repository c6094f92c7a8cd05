"""Search spaces: building from config dicts, encodings, feasibility, and refusing bad spaces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from labctl.errors import ConfigError
from labctl.optimizers.simplex import StickBreaking, uniform_sticks
from labctl.optimizers.space import SearchSpace
from labctl.units import ureg

ELECTROLYTE: dict[str, Any] = {
    "salt_molality": {"low": "0.5 mol/kg", "high": "2 mol/kg"},
    "temperature": {"low": "10 degC", "high": "50 degC"},
    "salt": {"choices": ["LiPF6", "LiFSI"]},
    "cell": {"value": "Pt"},
    "cell_constant": {"value": "1.2 1/cm"},
    "solvent": {"mixture": {"ec": {"low": 0.1, "high": 0.6}, "emc": {}, "dmc": {}}},
    "constraints": ["ec + dmc <= 0.8"],
}
PULSES: dict[str, Any] = {
    "pulse_on_time": {"low": "1 ms", "high": "1 s"},
    "pulse_off_time": {"low": "1 ms", "high": "1 s"},
    "current_density": {"low": "1 mA/cm**2", "high": "50 mA/cm**2", "log": True},
    "pulses": {"type": "integer", "low": 1, "high": 20},
    "constraints": ["pulse_off_time >= 0.25 * pulse_on_time"],
}


def issues_of(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        SearchSpace(config)
    return [str(issue) for issue in caught.value.issues]


def test_electrolyte_space_columns() -> None:
    space = SearchSpace(ELECTROLYTE)
    assert space.model_dim == 6  # molality, temperature, salt, three fractions
    assert space.search_dim == 4  # molality, temperature, two sticks
    assert space.categorical_sizes == [2]
    assert space.names[-2:] == ["cell", "cell_constant"]


def test_samples_are_feasible_and_decode_with_units() -> None:
    space = SearchSpace(ELECTROLYTE)
    X = space.sample(64, seed=3)
    assert space.is_feasible(X).all()
    for setting in space.decode_many(X):
        assert setting["salt_molality"].units == ureg.parse_units("mol/kg")
        assert 0.5 <= setting["salt_molality"].magnitude <= 2.0
        assert 10 <= setting["temperature"].to("degC").magnitude <= 50
        assert setting["salt"] in ("LiPF6", "LiFSI")
        assert setting["cell"] == "Pt"
        assert setting["cell_constant"] == ureg.Quantity(1.2, "1/cm")
        fractions = [setting[name].magnitude for name in ("ec", "emc", "dmc")]
        assert abs(sum(fractions) - 1.0) <= 1e-12
        assert 0.1 <= fractions[0] <= 0.6
        assert fractions[0] + fractions[2] <= 0.8 + 1e-9


def test_encode_decode_round_trip_and_other_input_forms() -> None:
    space = SearchSpace(PULSES)
    X = space.sample(16, seed=1)
    assert np.allclose(space.encode_many(space.decode_many(X)), X, atol=1e-12)
    setting = {
        "pulse_on_time": "100 ms",
        "pulse_off_time": {"value": 0.2, "units": "s"},
        "current_density": ureg.Quantity(10, "A/m**2"),
        "pulses": 5,
    }
    decoded = space.decode(space.encode(setting))
    assert decoded["pulse_on_time"].to("ms").magnitude == pytest.approx(100)
    assert decoded["pulse_off_time"].to("ms").magnitude == pytest.approx(200)
    assert decoded["current_density"].to("mA/cm**2").magnitude == pytest.approx(1.0)
    assert decoded["pulses"].magnitude == 5


def test_sampling_is_reproducible_and_continues() -> None:
    space = SearchSpace(PULSES)
    first = space.sample(10, seed=5)
    assert np.array_equal(first, space.sample(10, seed=5))
    assert np.array_equal(first[4:], space.sample(6, seed=5, start=4))
    assert not np.array_equal(first, space.sample(10, seed=6))


def test_repair_meets_constraints_to_tolerance() -> None:
    space = SearchSpace(ELECTROLYTE)
    X = space.sample(8, seed=0)
    X[:, 3:] = [0.6, 0.0, 0.4]  # ec + dmc = 1.0 > 0.8
    X[:, 0] += 1e-7  # outside the bound
    repaired = space.repair(X)
    assert space.violation(repaired).max() <= 1e-9
    assert np.all(repaired[:, 3:].sum(axis=1) == 1.0) or np.allclose(
        repaired[:, 3:].sum(axis=1), 1.0, atol=1e-15, rtol=0
    )


def test_stick_breaking_is_exact_and_invertible() -> None:
    sticks = StickBreaking([0.1, 0.0, 0.2, 0.0], [0.6, 0.5, 1.0, 0.3])
    Z = torch.rand(1000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fractions = sticks.to_fractions(Z)
    assert torch.all((fractions.sum(-1) - 1).abs() <= 1e-15)
    assert torch.all(fractions >= torch.tensor([0.1, 0.0, 0.2, 0.0]) - 1e-15)
    assert torch.all(fractions <= torch.tensor([0.6, 0.5, 1.0, 0.3]) + 1e-15)
    assert torch.allclose(sticks.to_fractions(sticks.to_sticks(fractions)), fractions)


def test_uniform_sticks_give_uniform_simplex() -> None:
    uniform = torch.rand(20000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fractions = StickBreaking([0, 0, 0], [1, 1, 1]).to_fractions(uniform_sticks(uniform))
    # Dirichlet(1, 1, 1): every member has mean 1/3 and P(x_i > 1/2) = 1/4.
    assert torch.allclose(
        fractions.mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01
    )
    assert torch.allclose(
        (fractions > 0.5).double().mean(0), torch.full((3,), 0.25, dtype=torch.float64), atol=0.01
    )


def test_to_config_rebuilds_the_same_space() -> None:
    space = SearchSpace(ELECTROLYTE)
    again = SearchSpace(space.to_config())
    assert np.array_equal(space.sample(5, seed=2), again.sample(5, seed=2))


@pytest.mark.parametrize(
    ("config", "where", "words"),
    [
        ({"x": {"low": "2 mol/kg", "high": "1 mol/kg"}}, "space.x", "empty bounds"),
        ({"x": {"low": 1, "high": 1}}, "space.x", "empty bounds"),
        ({"n": {"type": "integer", "low": 3, "high": 3}}, "space.n", "empty bounds"),
        ({"x": {"low": "1 mol/kg", "high": "5 K"}}, "space.x", "units that don't match"),
        ({"x": {"low": "1 s", "high": "5 s", "units": "m"}}, "space.x", "units that don't match"),
        ({"x": {"low": "0 s", "high": "5 s", "log": True}}, "space.x", "positive"),
        ({"s": {"mixture": {"ec": {}}}}, "space.s.mixture", "at least two members"),
        ({"s": {"mixture": {"a": {"low": 0.6}, "b": {"low": 0.6}}}}, "space.s", "sum to"),
        ({"c": {"choices": ["LiPF6"]}}, "space.c.choices", "at least two choices"),
        ({"x": {"low": 0, "high": 1, "colour": "red"}}, "space.x.colour", "Extra inputs"),
        ({"x": {"value": "Pt"}}, "space", "nothing to search"),
    ],
)
def test_bad_parameters_are_refused(config: dict[str, Any], where: str, words: str) -> None:
    issues = issues_of(config)
    assert any(issue.startswith(where) and words in issue for issue in issues), issues


@pytest.mark.parametrize(
    ("constraint", "words"),
    [
        ("a >= 0.9 * b + 2 s", "contradictory constraints"),
        ("a + b >= 3 s", "contradictory constraints"),
        ("a <= 0 s", "no room"),
        ("a >= c", "units that don't match"),
        ("a >= 1 m", "units that don't match"),
        ("a >= zeta", "unknown parameter"),
        ("a == b", "equalities"),
        ("a >= b >= 0 s", "exactly one comparator"),
        ("log_time >= 1 s", "log scale"),
        ("count >= 2", "only continuous"),
    ],
)
def test_bad_constraints_are_refused(constraint: str, words: str) -> None:
    config = {
        "a": {"low": "0 s", "high": "1 s"},
        "b": {"low": "0 s", "high": "1 s"},
        "c": {"low": "0 m", "high": "1 m"},
        "log_time": {"low": "1 ms", "high": "1 s", "log": True},
        "count": {"type": "integer", "low": 1, "high": 4},
        "constraints": [constraint],
    }
    issues = issues_of(config)
    assert any(words in issue for issue in issues), issues
    assert all(issue.startswith("space.constraints") for issue in issues), issues


def test_constraint_with_mixed_units_of_one_dimension() -> None:
    space = SearchSpace(
        {
            "on": {"low": "1 ms", "high": "1000 ms"},
            "off": {"low": "0.001 s", "high": "1 s"},
            "constraints": ["on + off <= 500 ms"],
        }
    )
    for setting in space.decode_many(space.sample(50, seed=0)):
        assert (setting["on"] + setting["off"]).to("ms").magnitude <= 500 + 1e-6


def test_error_paths_follow_the_campaign_section() -> None:
    with pytest.raises(ConfigError) as caught:
        SearchSpace({"x": {"low": 2, "high": 1}}, where=("campaign", "space"))
    assert caught.value.issues[0].key_path == "campaign.space.x"
