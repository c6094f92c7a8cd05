"""Objectives (directions, units, reference points, outcome constraints) and Pareto tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labctl.errors import ConfigError
from labctl.optimizers.objectives import Objectives
from labctl.optimizers.pareto import (
    hypervolume,
    hypervolume_progress,
    non_dominated,
    plot_pareto,
)
from labctl.units import ureg

ELECTROLYTE = {
    "conductivity": {"direction": "maximize", "units": "mS/cm", "reference": "0.1 S/m"},
    "cost": {"direction": "minimize", "units": "USD/kg", "reference": 50},
    "viscosity": {"direction": "none", "units": "cP"},
    "constraints": ["viscosity <= 4 cP", "conductivity >= 2 mS/cm"],
}


def test_directions_units_and_fixed_reference() -> None:
    objectives = Objectives(ELECTROLYTE)
    assert objectives.objective_names == ["conductivity", "cost"]
    Y = objectives.to_array(
        [
            {"conductivity": 8.0, "cost": 20.0, "viscosity": 3.0},
            {"conductivity": ureg.Quantity(0.5, "S/m"), "cost": 30.0, "viscosity": 5.0},
            None,
        ]
    )
    assert Y[1, 0] == pytest.approx(5.0)
    assert np.isnan(Y[2]).all()
    assert objectives.feasible(Y).tolist() == [True, False, False]
    assert objectives.maximization(Y[:1]).tolist() == [[8.0, -20.0]]
    reference, inferred = objectives.reference_point(Y)
    assert not inferred
    assert reference.tolist() == pytest.approx([1.0, -50.0])
    assert objectives.describe("conductivity") == "conductivity (mS/cm)"


def test_reference_point_inferred_from_the_front() -> None:
    objectives = Objectives({"a": {"direction": "maximize"}, "b": {"direction": "minimize"}})
    Y = np.array([[1.0, 1.0], [2.0, 3.0], [0.0, 0.0]])
    reference, inferred = objectives.reference_point(Y)
    assert inferred
    # Front (maximization space): (1, -1), (2, -3), (0, 0); nadir (0, -3), range (2, 3).
    assert reference.tolist() == pytest.approx([-0.2, -3.3])


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"a": {"direction": "maximize"}, "constraints": ["b >= 1"]}, "unknown objective 'b'"),
        ({"a": {"direction": "up"}}, "Input should be"),
        ({"a": {"direction": "none"}}, "no objective"),
        ({"a": {"direction": "maximize", "units": "V", "reference": "3 s"}}, "units that don't"),
        ({"a": {"direction": "maximize", "units": "V"}, "constraints": ["a >= 2 K"]}, "units"),
        ({"a": {"direction": "maximize"}, "constraints": ["a > > 1"]}, "reads"),
    ],
)
def test_bad_objectives_are_refused(config: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Objectives(config, where=("campaign", "objectives"))
    text = [str(issue) for issue in caught.value.issues]
    assert any(words in line and line.startswith("campaign.objectives") for line in text), text


def test_non_dominated_and_hypervolume() -> None:
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.2], [np.nan, 5.0]])
    assert non_dominated(Y).tolist() == [True, True, True, False, False]
    assert hypervolume(Y, [0.0, 0.0]) == pytest.approx(0.25)
    assert hypervolume(Y, [2.0, 2.0]) == 0.0
    assert hypervolume(np.array([[3.0]]), [1.0]) == pytest.approx(2.0)
    progress = hypervolume_progress(Y, [0.0, 0.0])
    assert progress.tolist() == pytest.approx([0.0, 0.0, 0.25, 0.25, 0.25])
    assert np.all(np.diff(progress) >= 0)


def test_pareto_plot_is_written_with_units(tmp_path: Path) -> None:
    objectives = Objectives(ELECTROLYTE)
    rng = np.random.default_rng(0)
    Y = np.c_[rng.uniform(1, 10, 30), rng.uniform(10, 40, 30), rng.uniform(2, 5, 30)]
    path = plot_pareto(Y, objectives, tmp_path / "front.png", title="electrolyte")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("reference", ["nan mS/cm", "inf mS/cm", float("nan"), float("-inf")])
def test_a_reference_point_that_is_not_finite_is_a_config_error(reference: object) -> None:
    from labctl.errors import ConfigError
    from labctl.optimizers.objectives import Objectives

    with pytest.raises(ConfigError, match="not a finite number"):
        Objectives(
            {"conductivity": {"direction": "maximize", "units": "mS/cm", "reference": reference}}
        )
