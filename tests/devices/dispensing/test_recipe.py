"""Stocks and recipes: composition text, molar masses, validation, achieved compositions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labctl.devices.dispensing.recipe import (
    SALT_MOLAR_MASSES,
    InsufficientStock,
    Recipe,
    RecipeError,
    Stock,
    achieved_composition,
    parse_composition,
    salt_molar_mass,
)
from labctl.errors import InventoryError, LabctlError
from labctl.units import ureg

# IUPAC/CIAAW 2021 abridged standard atomic weights (Pure Appl. Chem. 94, 573 (2022), Table 1).
ATOMIC_WEIGHTS = {
    "Li": 6.94,
    "Na": 22.990,
    "Zn": 65.38,
    "P": 30.974,
    "F": 18.998,
    "N": 14.007,
    "S": 32.06,
    "O": 15.999,
    "C": 12.011,
}
FORMULAS = {
    "LiPF6": {"Li": 1, "P": 1, "F": 6},
    "LiFSI": {"Li": 1, "N": 1, "S": 2, "O": 4, "F": 2},  # LiN(SO2F)2
    "LiTFSI": {"Li": 1, "N": 1, "S": 2, "O": 4, "C": 2, "F": 6},  # LiN(SO2CF3)2
    "NaPF6": {"Na": 1, "P": 1, "F": 6},
    "ZnSO4": {"Zn": 1, "S": 1, "O": 4},
}


def salt_stock(**changes: object) -> Stock:
    data: dict[str, object] = {
        "name": "lipf6_ec",
        "composition": "2 mol/kg LiPF6 in EC",
        "density": "1.45 g/mL",
        "volume": "100 mL",
    }
    data.update(changes)
    return Stock.model_validate(data)


@pytest.mark.parametrize("salt", sorted(FORMULAS))
def test_salt_molar_masses_follow_from_the_formulas(salt: str) -> None:
    expected = sum(ATOMIC_WEIGHTS[element] * n for element, n in FORMULAS[salt].items())
    assert SALT_MOLAR_MASSES[salt] == pytest.approx(expected, abs=0.02)
    assert salt_molar_mass(salt).to("g/mol").magnitude == SALT_MOLAR_MASSES[salt]


def test_a_molar_mass_override_wins_and_an_unknown_salt_is_refused() -> None:
    override = ureg.Quantity(303.1, "g/mol")
    assert salt_molar_mass("NaTFSI", override) == override
    with pytest.raises(RecipeError, match="NaTFSI") as caught:
        salt_molar_mass("NaTFSI")
    assert caught.value.reason == "unknown_salt"


@pytest.mark.parametrize(
    ("text", "salt", "molality", "solvents"),
    [
        ("2 mol/kg LiPF6 in EC", "LiPF6", 2.0, {"EC": 1.0}),
        ("pure DMC", None, None, {"DMC": 1.0}),
        ("DMC", None, None, {"DMC": 1.0}),
        ("EC:DMC 1:1 by mass", None, None, {"EC": 0.5, "DMC": 0.5}),
        ("EC:EMC 3:7 (w/w)", None, None, {"EC": 0.3, "EMC": 0.7}),
        ("EC:DMC:EMC 1:1:2", None, None, {"EC": 0.25, "DMC": 0.25, "EMC": 0.5}),
        ("EC:DMC 50:50 wt%", None, None, {"EC": 0.5, "DMC": 0.5}),
        ("1.2 molal LiFSI in EC:EMC 3:7", "LiFSI", 1.2, {"EC": 0.3, "EMC": 0.7}),
        ("0.5 mol / kg ZnSO4 in H2O", "ZnSO4", 0.5, {"H2O": 1.0}),
    ],
)
def test_composition_text_is_read(
    text: str, salt: str | None, molality: float | None, solvents: dict[str, float]
) -> None:
    composition = parse_composition(text)
    assert composition.salt == salt
    if molality is None:
        assert composition.molality is None
    else:
        assert composition.molality is not None
        assert composition.molality.to("mol/kg").magnitude == pytest.approx(molality)
    assert composition.solvents == pytest.approx(solvents)


@pytest.mark.parametrize(
    "text",
    [
        "EC:DMC 1:1 v/v",  # volume ratio: needs the pure solvents' densities
        "EC:DMC 1:1 by volume",
        "EC:DMC 1:1 mol/mol",
        "EC:DMC",  # no ratio
        "EC:DMC 1:1:1",  # one ratio too many
        "EC:DMC 1:-1",
        "EC:DMC 0:0",
        "2 m LiPF6 in EC",  # metres, not molal
        "2 g LiPF6 in EC",
        "",
        "1 mol/kg LiPF6 in ",
    ],
)
def test_bad_composition_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_composition(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_random_composition_text_gives_a_composition_or_a_value_error(text: str) -> None:
    try:
        composition = parse_composition(text)
    except ValueError:
        return
    assert math.isclose(sum(composition.solvents.values()), 1.0)


def test_a_stock_knows_its_component_mass_fractions() -> None:
    stock = salt_stock()
    salt = 2.0 * 0.151905  # kg of LiPF6 per kg of EC
    assert stock.molality == 2.0
    assert stock.mass_fractions() == pytest.approx(
        {"LiPF6": salt / (1 + salt), "EC": 1 / (1 + salt)}, rel=1e-15
    )
    assert salt_stock(composition="EC:DMC 1:1").mass_fractions() == {"EC": 0.5, "DMC": 0.5}


def test_a_molarity_is_converted_with_the_stocks_density() -> None:
    stock = salt_stock(composition="1 mol/L LiPF6 in EC:DMC 1:1", density="1.30 g/mL")
    # 1 L weighs 1.30 kg, of which 0.151905 kg is salt: m = 1 mol / 1.148095 kg.
    assert stock.molality == pytest.approx(1 / (1.30 - 0.151905), rel=1e-12)
    with pytest.raises(ValidationError, match="outweighs"):
        salt_stock(composition="10 mol/L LiPF6 in EC", density="1.3 g/mL")


def test_a_structured_composition_is_accepted() -> None:
    stock = salt_stock(
        composition={"salt": "LiPF6", "molality": "1 mol/kg", "solvents": {"EC": 0.5, "DMC": 0.5}}
    )
    assert stock.composition.solvents == {"EC": 0.5, "DMC": 0.5}
    assert stock.molality == 1.0


def test_a_stock_round_trips_through_its_json_form() -> None:
    stock = salt_stock(low_stock="10 mL", price=0.9)
    assert Stock.model_validate(stock.model_dump(mode="json")) == stock


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"composition": "2 mol/kg NaTFSI in EC"}, "NaTFSI"),
        ({"volume": "-1 mL"}, "volume"),
        ({"volume": "1 g"}, "volume"),
        ({"density": "0 g/mL"}, "density"),
        ({"low_stock": "-1 mL"}, "low_stock"),
        ({"price": -1.0}, "price"),
        ({"colour": "blue"}, "colour"),
        ({"composition": {"solvents": {"EC": 0.5}}}, "sum"),
        ({"composition": {"solvents": {"EC": 1}, "molality": "1 mol/kg"}}, "no salt"),
        ({"composition": {"solvents": {"EC": 1}, "salt": "LiPF6"}}, "exactly one"),
        ({"composition": "1 mol/kg LiPF6 in LiPF6"}, "both as the salt"),
    ],
)
def test_bad_stock_definitions_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        salt_stock(**changes)


def test_an_unknown_salt_needs_its_molar_mass() -> None:
    stock = salt_stock(composition="1 mol/kg NaTFSI in PC", salt_molar_mass="303.1 g/mol")
    assert stock.molar_mass == pytest.approx(0.3031)


def test_a_recipe_is_stored_renormalised() -> None:
    recipe = Recipe(
        molality="1 mol/kg", solvents={"EC": 0.5000004, "DMC": 0.4999999, "EMC": 0}, amount="5 g"
    )
    assert recipe.solvents == pytest.approx({"EC": 0.5000004, "DMC": 0.4999999}, abs=1e-6)
    assert math.fsum(recipe.solvents.values()) == pytest.approx(1.0, abs=1e-15)
    assert "EMC" not in recipe.solvents


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        ({"solvents": {"EC": 0.5, "DMC": 0.4}}, "fractions_sum", "sum to 0.9"),
        ({"solvents": {"EC": 1.2, "DMC": -0.2}}, "negative_amount", "DMC"),
        ({"solvents": {}}, "invalid", "no solvent"),
        ({"molality": "-0.5 mol/kg"}, "negative_amount", "molality"),
        ({"amount": "-5 g"}, "negative_amount", "amount"),
        ({"amount": "0 mL"}, "negative_amount", "amount"),
        ({"amount": "5 s"}, "invalid", "neither a mass nor a volume"),
        ({"molality": "1 mol/L"}, "invalid", "molality"),
        ({"molality": "1"}, "invalid", "molality"),
        ({"additive_fraction": -0.01, "additive": "VC"}, "negative_amount", "additive"),
        ({"additive_fraction": 1.0, "additive": "VC"}, "invalid", "below 1"),
        ({"additive_fraction": 0.02}, "invalid", "no additive"),
        ({"additive_fraction": 0.02, "additive": "EC"}, "invalid", "both a solvent"),
        ({"salt": "EC"}, "invalid", "also named"),
        ({"temperature": "25 degC"}, "invalid", "temperature"),
    ],
)
def test_bad_recipes_are_refused_with_their_reason(
    data: dict[str, object], reason: str, words: str
) -> None:
    recipe: dict[str, object] = {
        "molality": "1 mol/kg",
        "solvents": {"EC": 0.5, "DMC": 0.5},
        "amount": "5 g",
    }
    recipe.update(data)
    with pytest.raises(RecipeError, match=words) as caught:
        Recipe(**recipe)
    assert caught.value.reason == reason
    assert isinstance(caught.value, LabctlError)


def test_insufficient_stock_is_both_a_recipe_and_an_inventory_error() -> None:
    error = InsufficientStock({"dmc": (12.0, 3.5)})
    assert isinstance(error, RecipeError)
    assert isinstance(error, InventoryError)
    assert error.reason == "insufficient_stock"
    assert "'dmc' needs 12 mL but holds 3.5 mL" in str(error)


STOCKS = [
    salt_stock(),
    Stock(name="dmc", composition="pure DMC", density="1.063 g/mL", volume="100 mL"),
    Stock(name="vc", composition="pure VC", density="1.35 g/mL", volume="20 mL"),
    Stock(
        name="lifsi_dmc",
        composition="1 mol/kg LiFSI in DMC",
        density="1.2 g/mL",
        volume="50 mL",
    ),
]


def test_the_achieved_composition_follows_from_measured_masses() -> None:
    achieved = achieved_composition(
        {"lipf6_ec": "1.303810 g", "dmc": ureg.Quantity(1000, "mg"), "vc": "0.1 g"},
        STOCKS,
        additive="VC",
    )
    # 1.30381 g of stock = 1 g EC + 0.30381 g LiPF6 (2 mmol); solvent 2 g in all.
    assert achieved.salt == "LiPF6"
    assert achieved.molality == pytest.approx(1.0, rel=1e-9)
    assert achieved.solvents == pytest.approx({"EC": 0.5, "DMC": 0.5}, rel=1e-9)
    assert achieved.additive_fraction == pytest.approx(0.1 / 2.40381, rel=1e-9)
    assert achieved.total_mass == pytest.approx(2.40381)
    assert achieved.other_salts == {}
    recipe = Recipe(
        molality="1 mol/kg",
        solvents={"EC": 0.5, "DMC": 0.5},
        amount="2.4 g",
        additive="VC",
        additive_fraction=0.1 / 2.40381,
    )
    assert achieved.error(recipe) < 1e-9


def test_additions_in_several_portions_are_summed() -> None:
    once = achieved_composition({"lipf6_ec": "2 g", "dmc": "1 g"}, STOCKS)
    twice = achieved_composition(
        [("lipf6_ec", "1.5 g"), ("dmc", "1 g"), ("lipf6_ec", "0.5 g")], STOCKS
    )
    assert twice.molality == pytest.approx(once.molality, rel=1e-15)
    assert twice.solvents == pytest.approx(once.solvents, rel=1e-15)


def test_a_second_salt_is_reported_and_counts_as_a_deviation() -> None:
    with pytest.raises(RecipeError, match="several salts"):
        achieved_composition({"lipf6_ec": "1 g", "lifsi_dmc": "1 g"}, STOCKS)
    achieved = achieved_composition({"lipf6_ec": "1 g", "lifsi_dmc": "1 g"}, STOCKS, salt="LiPF6")
    assert set(achieved.other_salts) == {"LiFSI"}
    recipe = Recipe(
        molality=f"{achieved.molality} mol/kg", solvents=achieved.solvents, amount="2 g"
    )
    deviation = achieved.deviation(recipe)
    assert deviation["molality"] < 1e-12
    assert deviation["other_salt:LiFSI"] == pytest.approx(achieved.other_salts["LiFSI"])


@pytest.mark.parametrize(
    ("additions", "reason"),
    [
        ({"nope": "1 g"}, "unknown_stock"),
        ({"dmc": "-1 g"}, "negative_amount"),
        ({"vc": "1 g"}, "invalid"),  # the only liquid is the additive: no solvent
    ],
)
def test_bad_measurements_are_refused(additions: dict[str, object], reason: str) -> None:
    with pytest.raises(RecipeError) as caught:
        achieved_composition(additions, STOCKS, additive="VC")
    assert caught.value.reason == reason


def test_a_measurement_without_units_is_refused() -> None:
    with pytest.raises(LabctlError, match="units"):
        achieved_composition({"dmc": 1.0}, STOCKS)
