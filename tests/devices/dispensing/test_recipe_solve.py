"""solve(): random feasible recipes are met exactly; infeasible ones are refused, with reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.devices.dispensing.recipe import (
    InsufficientStock,
    Recipe,
    RecipeError,
    Stock,
    achieved_composition,
)
from labctl.devices.dispensing.recipe_solver import Plan, solve
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.world import Stock as WorldStock
from labctl.simulators.world import World
from labctl.units import ureg


def stock(
    name: str, composition: str, density: float, volume: float = 500.0, **extra: object
) -> Stock:
    return Stock.model_validate(
        {
            "name": name,
            "composition": composition,
            "density": f"{density} g/mL",
            "volume": f"{volume} mL",
            **extra,
        }
    )


# One salt stock per solvent and the pure solvents: every molality up to 2 mol/kg is reachable
# in every blend of EC, DMC and EMC (each solvent's salt comes with that solvent).
SINGLE = [
    stock("lipf6_ec", "2 mol/kg LiPF6 in EC", 1.45, price=0.9),
    stock("lipf6_dmc", "2 mol/kg LiPF6 in DMC", 1.25, price=0.8),
    stock("lipf6_emc", "2 mol/kg LiPF6 in EMC", 1.20, price=0.8),
    stock("ec", "pure EC", 1.321, price=0.05),
    stock("dmc", "pure DMC", 1.063, price=0.04),
    stock("emc", "pure EMC", 1.006, price=0.05),
    stock("vc", "pure VC", 1.355, price=0.3),
]
# Commercial-style blends: feasibility is checked by building recipes from random mixes.
BLENDS = [
    stock("lp30", "1 mol/L LiPF6 in EC:DMC 1:1", 1.30),
    stock("lp57", "1.2 mol/kg LiPF6 in EC:EMC 3:7", 1.22),
    stock("ecdmc", "EC:DMC 1:1 by mass", 1.18),
    stock("emc", "pure EMC", 1.006),
    stock("dmc", "pure DMC", 1.063),
    stock("fec", "pure FEC", 1.454),
]


def check_plan(plan: Plan, recipe: Recipe, stocks: list[Stock]) -> None:
    """The plan's amounts, recomputed by hand, make the recipe."""
    assert plan.composition_error < 1e-9
    by_name = {s.name: s for s in stocks}
    for addition in plan.additions:
        assert addition.mass.to("g").magnitude > 0
        assert addition.volume.to("mL").magnitude > 0
        density = by_name[addition.stock].density.to("g/mL").magnitude
        assert addition.volume.to("mL").magnitude == pytest.approx(
            addition.mass.to("g").magnitude / density, rel=1e-14
        )
    if recipe.amount.is_compatible_with("g"):
        assert plan.total_mass.to("g").magnitude == pytest.approx(
            recipe.amount.to("g").magnitude, rel=1e-12
        )
    else:
        assert plan.total_volume.to("mL").magnitude == pytest.approx(
            recipe.amount.to("mL").magnitude, rel=1e-12
        )
    # Independent check: component masses summed by hand.
    components: dict[str, float] = {}
    for addition in plan.additions:
        for name, fraction in by_name[addition.stock].mass_fractions().items():
            components[name] = (
                components.get(name, 0.0) + addition.mass.to("g").magnitude * fraction
            )
    salt = components.pop(recipe.salt, 0.0)
    additive = components.pop(recipe.additive, 0.0) if recipe.additive else 0.0
    solvent = math.fsum(components.values())
    molality = salt / 151.905 / (solvent / 1000)
    assert molality == pytest.approx(recipe.molality.to("mol/kg").magnitude, abs=1e-9)
    for name, fraction in recipe.solvents.items():
        assert components.get(name, 0.0) / solvent == pytest.approx(fraction, abs=1e-9)
    for name, mass in components.items():
        if name not in recipe.solvents:
            assert mass < 1e-12 * solvent
    assert additive / (salt + additive + solvent) == pytest.approx(
        recipe.additive_fraction, abs=1e-9
    )


@pytest.mark.parametrize("seed", range(20))
def test_random_feasible_recipes_are_met_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    solvents = dict(zip(["EC", "DMC", "EMC"], rng.dirichlet([1.0, 1.0, 1.0]), strict=True))
    with_additive = bool(rng.integers(2))
    amount = f"{rng.uniform(1, 20):.6f} g" if rng.integers(2) else f"{rng.uniform(1, 15):.6f} mL"
    recipe = Recipe(
        molality=f"{rng.uniform(0, 1.9)} mol/kg",
        solvents=solvents,
        amount=amount,
        additive="VC" if with_additive else None,
        additive_fraction=rng.uniform(0, 0.05) if with_additive else 0.0,
    )
    plan = solve(recipe, SINGLE)
    check_plan(plan, recipe, SINGLE)


@pytest.mark.parametrize("seed", range(20))
def test_recipes_mixed_from_blended_stocks_are_found_again(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    used = rng.random(len(BLENDS)) < 0.6
    used[int(rng.integers(2))] = True  # at least one salt stock
    masses = {s.name: float(rng.uniform(0.2, 3.0)) for s, u in zip(BLENDS, used, strict=True) if u}
    made = achieved_composition({n: f"{m} g" for n, m in masses.items()}, BLENDS, additive="FEC")
    recipe = Recipe(
        molality=f"{made.molality} mol/kg",
        solvents=made.solvents,
        amount=f"{sum(masses.values())} g",
        additive="FEC",
        additive_fraction=made.additive_fraction,
    )
    plan = solve(recipe, BLENDS)
    check_plan(plan, recipe, BLENDS)


def test_a_recipe_without_salt_or_additive_is_a_blend() -> None:
    recipe = Recipe(molality="0 mol/kg", solvents={"EC": 0.3, "EMC": 0.7}, amount="10 g")
    plan = solve(recipe, SINGLE)
    masses = {name: mass.to("g").magnitude for name, mass in plan.masses().items()}
    assert masses == pytest.approx({"ec": 3.0, "emc": 7.0}, rel=1e-12)
    assert plan.predicted.molality == 0.0


def test_the_plan_cost_sums_mass_times_price() -> None:
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 1.0}, amount="10 g")
    plan = solve(recipe, SINGLE)
    expected = sum(
        a.mass.to("g").magnitude * {"lipf6_ec": 0.9, "ec": 0.05}[a.stock] for a in plan.additions
    )
    assert plan.cost(SINGLE) == pytest.approx(expected)
    assert plan.cost([stock("lipf6_ec", "2 mol/kg LiPF6 in EC", 1.45), *SINGLE[1:]]) is None


def test_the_recipes_stock_list_limits_the_choice() -> None:
    recipe = Recipe(
        molality="1 mol/kg",
        solvents={"EC": 0.5, "DMC": 0.5},
        amount="5 g",
        stocks=("lipf6_dmc", "ec"),
    )
    plan = solve(recipe, SINGLE)
    assert {a.stock for a in plan.additions} == {"lipf6_dmc", "ec"}


def refused(recipe: Recipe, stocks: list[Stock]) -> RecipeError:
    with pytest.raises(RecipeError) as caught:
        solve(recipe, stocks)
    return caught.value


def test_an_unknown_stock_is_refused() -> None:
    recipe = Recipe(
        molality="1 mol/kg", solvents={"EC": 1.0}, amount="5 g", stocks=("lipf6_ec", "lp40")
    )
    error = refused(recipe, SINGLE)
    assert error.reason == "unknown_stock"
    assert "'lp40'" in str(error)


def test_salt_beyond_the_richest_stock_is_refused() -> None:
    recipe = Recipe(molality="2.5 mol/kg", solvents={"EC": 1.0}, amount="5 g")
    error = refused(recipe, SINGLE)
    assert error.reason == "salt_unreachable"
    assert "lipf6_ec" in str(error)
    assert "2 mol/kg" in str(error)


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"solvents": {"EC": 0.5, "PC": 0.5}}, "PC"),
        ({"salt": "LiTFSI"}, "LiTFSI"),
        ({"additive": "FEC", "additive_fraction": 0.02}, "FEC"),
    ],
)
def test_a_component_no_stock_supplies_is_refused(data: dict[str, object], missing: str) -> None:
    recipe_data: dict[str, object] = {
        "molality": "1 mol/kg",
        "solvents": {"EC": 0.5, "DMC": 0.5},
        "amount": "5 g",
    }
    recipe_data.update(data)
    error = refused(Recipe(**recipe_data), SINGLE)
    assert error.reason == "component_unsupplied"
    assert f"no stock supplies {missing}" in str(error)


def test_a_composition_outside_the_stocks_reach_is_refused() -> None:
    # Salt comes only with EC (2 mol/kg): 1.5 mol/kg needs 0.75 kg EC per kg of solvent.
    stocks = [SINGLE[0], SINGLE[4]]
    recipe = Recipe(molality="1.5 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="5 g")
    error = refused(recipe, stocks)
    assert error.reason == "composition_unreachable"
    assert "closest" in str(error)
    # The edge of the reachable region is still met exactly.
    edge = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="5 g")
    assert solve(edge, stocks).composition_error < 1e-12


def test_a_stock_of_another_salt_is_not_used() -> None:
    stocks = [stock("lifsi_ec", "1 mol/kg LiFSI in EC", 1.4), *SINGLE]
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 1.0}, amount="5 g")
    plan = solve(recipe, stocks)
    assert "lifsi_ec" not in plan.masses()
    only_lifsi = Recipe(
        molality="0.5 mol/kg", solvents={"EC": 1.0}, amount="5 g", stocks=("lifsi_ec", "ec")
    )
    assert refused(only_lifsi, stocks).reason == "component_unsupplied"


def test_more_than_a_stock_holds_is_refused_with_the_volumes() -> None:
    stocks = [stock("lipf6_ec", "2 mol/kg LiPF6 in EC", 1.45, volume=3.0), SINGLE[4]]
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="20 g")
    error = refused(recipe, stocks)
    assert isinstance(error, InsufficientStock)
    needed, left = error.shortages["lipf6_ec"]
    assert left == 3.0
    # 20 g solution: 1.303810/2.303810 of it is the salt stock, at 1.45 g/mL.
    assert needed == pytest.approx(20 * 1.303810 / 2.303810 / 1.45, rel=1e-6)
    assert "holds 3 mL" in str(error)


@pytest.mark.parametrize("order", [1, -1])
def test_a_short_stock_is_spared_when_another_mix_exists(order: int) -> None:
    # Four stocks, three components: many mixes make the recipe. The least-squares mix draws
    # 2.3 mL of salt_a; the bounded one keeps to the 1 mL it holds.
    stocks = [
        stock("salt_a", "2 mol/kg LiPF6 in EC", 1.45, volume=1.0),
        stock("salt_b", "1.5 mol/kg LiPF6 in EC", 1.40),
        stock("ec", "pure EC", 1.321),
        stock("dmc", "pure DMC", 1.063),
    ][::order]
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.7, "DMC": 0.3}, amount="10 g")
    roomy = [s.model_copy(update={"volume": ureg.Quantity(500.0, "mL")}) for s in stocks]
    unlimited = solve(recipe, roomy)
    assert unlimited.volumes()["salt_a"].to("mL").magnitude > 1.0
    plan = solve(recipe, stocks)
    assert plan.volumes()["salt_a"].to("mL").magnitude <= 1.0
    check_plan(plan, recipe, stocks)


def test_a_plan_made_in_the_simulated_world_holds_the_recipe() -> None:
    """The runtime's composition conventions agree with the world's and the property model's."""
    recipe = Recipe(molality="1.1 mol/kg", solvents={"EC": 0.3, "EMC": 0.7}, amount="8 mL")
    plan = solve(recipe, SINGLE)
    world = World(seed=1)
    world.add_stocks(
        WorldStock(s.name, s.mass_fractions(), s.density.to("g/mL").magnitude, 500.0)
        for s in SINGLE
    )
    for addition in plan.additions:
        world.transfer(addition.stock, "A1", addition.volume.to("mL").magnitude)
    held = Composition.from_masses(world.vial("A1").contents.masses)
    assert held.molality == pytest.approx(1.1, rel=1e-12)
    assert held.solvent_fractions == pytest.approx({"EC": 0.3, "EMC": 0.7}, rel=1e-12)
    assert world.vial("A1").contents.total_mass == pytest.approx(
        plan.total_mass.to("g").magnitude, rel=1e-12
    )


def test_a_plan_and_its_prediction_give_si_records() -> None:
    recipe = Recipe.from_mapping(
        {"molality": "1 mol/kg", "solvents": {"EC": 0.5, "DMC": 0.5}, "amount": "5 g"}
    )
    plan = solve(recipe, SINGLE)
    record = plan.as_record()
    assert sum(a["mass"] for a in record["additions"].values()) == pytest.approx(0.005)
    volume = plan.total_volume.to("mL").magnitude * 1e-6
    assert sum(a["volume"] for a in record["additions"].values()) == pytest.approx(volume)
    assert record["predicted"]["molality"] == pytest.approx(1.0)
    assert record["predicted"]["total_mass"] == pytest.approx(0.005)
    assert record["composition_error"] < 1e-9


def test_stocks_disagreeing_on_the_salts_molar_mass_are_refused() -> None:
    odd = stock("odd", "1 mol/kg LiPF6 in DMC", 1.2, salt_molar_mass="150 g/mol")
    recipe = Recipe(molality="1 mol/kg", solvents={"EC": 0.5, "DMC": 0.5}, amount="5 g")
    error = refused(recipe, [*SINGLE, odd])
    assert error.reason == "invalid"
    assert "molar masses" in str(error)
