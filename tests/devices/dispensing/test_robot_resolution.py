"""A trace the recipe solver asks of one stock, below what its pump can move, is left out.

A Cavro pump moves whole plunger increments (1 mL syringe: 0.33 µL); an addition under half an
increment rounds to nothing and the pump refuses it — midway through a preparation, so the
campaign lost the proposal (seen in the electrolyte benchmark: 0.15 µL of ``salt_ec``). The
robot now plans without such an addition when the composition stays within its
``composition_tolerance``, and refuses the recipe before anything moves otherwise.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.recipe import Recipe, RecipeError
from labctl.devices.dispensing.robot import DispensingRobot, DispensingRobotOptions
from labctl.units import ureg

STOCKS = [
    {
        "name": "salt_dmc",
        "composition": "2 mol/kg LiPF6 in DMC",
        "density": "1.29 g/mL",
        "volume": "250 mL",
    },
    {"name": "dmc", "composition": "pure DMC", "density": "1.07 g/mL", "volume": "250 mL"},
    {"name": "ec", "composition": "pure EC", "density": "1.32 g/mL", "volume": "250 mL"},
]


def _robot(tmp_path: Path, **options: float) -> DispensingRobot:
    validated = DispensingRobotOptions.model_validate(
        {
            "pumps": {stock["name"]: f"pump_{stock['name']}" for stock in STOCKS},
            "balance": "balance",
            "stocks": STOCKS,
            "inventory": str(tmp_path / "inventory.json"),
            "vials": ["MIX"],
            **options,
        }
    )
    robot = DispensingRobot(options=validated, name="robot")
    increment = ureg.Quantity(1.0 / 3000, "mL")  # a 1 mL syringe, standard resolution
    robot.pumps = {
        name: SimpleNamespace(increment_volume=increment) for name in robot.options.pumps
    }  # type: ignore[misc]
    robot._inventory = Inventory(tmp_path / "inventory.json", validated.stocks)
    return robot


def _recipe(ec_fraction: float) -> Recipe:
    return Recipe(
        molality="1 mol/kg",
        solvents={"EC": ec_fraction, "DMC": 1.0 - ec_fraction},
        amount="1.5 mL",
    )


def test_an_addition_under_half_an_increment_is_left_out_within_tolerance(tmp_path: Path) -> None:
    plan = _robot(tmp_path).plan(_recipe(1e-4))  # ≈ 0.1 µL of EC
    assert [addition.stock for addition in plan.additions] == ["salt_dmc", "dmc"]
    assert plan.predicted.solvents.get("EC", 0.0) == 0.0
    assert plan.composition_error == pytest.approx(1e-4, rel=0.05)


def test_an_addition_the_pump_can_move_is_kept(tmp_path: Path) -> None:
    plan = _robot(tmp_path).plan(_recipe(1e-3))  # ≈ 1 µL of EC: three increments
    assert [addition.stock for addition in plan.additions] == ["salt_dmc", "dmc", "ec"]
    assert plan.composition_error < 1e-9


def test_leaving_it_out_beyond_the_tolerance_refuses_the_recipe_before_anything_moves(
    tmp_path: Path,
) -> None:
    robot = _robot(tmp_path, composition_tolerance=1e-5)
    with pytest.raises(RecipeError) as caught:
        robot.plan(_recipe(1e-4))
    assert caught.value.reason == "below_resolution"
    assert "of ec is less than its pump can deliver" in str(caught.value)
    assert "composition_tolerance 1e-05" in str(caught.value)
