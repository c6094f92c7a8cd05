"""Acceptance: 20 random feasible recipes on the twins; the inventory read in a new process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labctl.devices.dispensing.recipe import Recipe, salt_molar_mass
from labctl.lab.session import Lab
from labctl.testing.configs import write_config
from labctl.testing.store import prepare_store

from .test_robot_lab import STOCKS, VOLUME, lab_document, vial_names

COUNT = 20
TOLERANCE = 0.02  # largest |achieved - requested|: mol/kg or mass fraction


def random_recipes(seed: int) -> list[Recipe]:
    """Feasible recipes: the salt comes with EC, so x_EC ≥ molality × (1 kg / 2 mol)."""
    rng = np.random.default_rng(seed)
    recipes = []
    for _ in range(COUNT):
        molality = float(rng.uniform(0.1, 1.4))
        ec = float(rng.uniform(molality / 2 + 0.05, 0.95))
        recipes.append(
            Recipe(
                molality=f"{molality} mol/kg",
                solvents={"EC": ec, "DMC": 1 - ec},
                amount=f"{rng.uniform(1.5, 2.5)} g",
            )
        )
    return recipes


def world_composition(masses: dict[str, float]) -> dict[str, float]:
    """Molality and solvent fractions of what the world's vial holds (masses in g)."""
    salt = masses.get("LiPF6", 0.0)
    solvent = sum(v for k, v in masses.items() if k != "LiPF6")
    molar_mass = salt_molar_mass("LiPF6").to("g/mol").magnitude
    return {
        "molality": salt / molar_mass / (solvent / 1000),
        **{f"solvent:{k}": v / solvent for k, v in masses.items() if k != "LiPF6"},
    }


def test_twenty_recipes_match_the_request_and_the_world(tmp_path: Path) -> None:
    prepare_store(tmp_path / "data" / "tiled")
    names = vial_names(COUNT)
    dispensed = {s["name"]: 0.0 for s in STOCKS}
    errors: list[float] = []
    with Lab.from_config(write_config(tmp_path, lab_document(vials=COUNT))) as lab:
        robot = lab.devices["robot"]
        for recipe, vial in zip(random_recipes(2026), names, strict=True):
            lab.twins["balance"].place(vial)
            plan = robot.plan(recipe)
            robot.prepare(recipe, vial).wait(60)
            for addition in plan.additions:
                dispensed[addition.stock] += addition.volume.to("mL").magnitude
            achieved = robot.achieved
            errors.append(achieved.error(recipe))
            held = world_composition(dict(lab.world.vial(vial).contents.masses))
            assert achieved.molality == pytest.approx(held["molality"], abs=2e-3)
            for solvent, fraction in achieved.solvents.items():
                assert fraction == pytest.approx(held[f"solvent:{solvent}"], abs=1e-3)
            assert achieved.total_mass == pytest.approx(
                lab.world.vial(vial).contents.total_mass, abs=2e-3
            )
        inventory = robot.inventory.path
        assert set(robot.vial_states().values()) == {"used"}
    print(f"composition error, {COUNT} recipes: max {max(errors):.4g}, mean {np.mean(errors):.4g}")
    assert max(errors) < TOLERANCE
    script = (
        "import json, sys\n"
        "from labctl.devices.dispensing.inventory import Inventory\n"
        "inv = Inventory(sys.argv[1], [])\n"
        "print(json.dumps({k: v.to('mL').magnitude for k, v in inv.volumes().items()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", script, str(inventory)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    volumes = json.loads(result.stdout)
    for stock, used in dispensed.items():
        assert volumes[stock] == pytest.approx(VOLUME - used, abs=1e-5)
