"""Compositions and concentration conversions: round trips, validation, the density model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.errors import LabctlError, UnitError
from labctl.simulators.electrolyte.components import SOLVENTS, molar_mass
from labctl.simulators.electrolyte.composition import (
    Composition,
    density,
    mass_to_mole_fractions,
    molality_to_molarity,
    molarity_to_molality,
    mole_to_mass_fractions,
    validate_fractions,
)

SOLVENT_NAMES = sorted(SOLVENTS)


@st.composite
def blends(draw: st.DrawFn) -> dict[str, float]:
    """Random solvent blends: 1–4 known solvents with positive weights, normalised."""
    names = draw(st.lists(st.sampled_from(SOLVENT_NAMES), min_size=1, max_size=4, unique=True))
    weights = [draw(st.floats(0.01, 1.0)) for _ in names]
    total = math.fsum(weights)
    return {name: w / total for name, w in zip(names, weights, strict=True)}


def test_molar_masses() -> None:
    assert molar_mass("LiPF6") == pytest.approx(151.905e-3)
    assert molar_mass("EC") == pytest.approx(88.06e-3)
    with pytest.raises(UnitError, match="unknown component"):
        molar_mass("H2O2")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(blend=blends(), molality=st.floats(0.0, 4.0), temperature=st.floats(250.0, 350.0))
def test_molality_molarity_round_trip(
    blend: dict[str, float], molality: float, temperature: float
) -> None:
    molarity = molality_to_molarity(molality, blend, temperature, "LiPF6")
    back = molarity_to_molality(molarity, blend, temperature, "LiPF6")
    assert back == pytest.approx(molality, rel=1e-12, abs=1e-15)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(blend=blends())
def test_mass_mole_fraction_round_trip(blend: dict[str, float]) -> None:
    moles = mass_to_mole_fractions(blend)
    assert math.fsum(moles.values()) == pytest.approx(1.0)
    back = mole_to_mass_fractions(moles)
    for name, w in blend.items():
        assert back[name] == pytest.approx(w, rel=1e-12, abs=1e-15)


def test_mole_fractions_by_hand() -> None:
    """EC:DMC 1:1 by mass: x_EC = (1/88.06)/(1/88.06 + 1/90.08) = 0.50570."""
    x = mass_to_mole_fractions({"EC": 0.5, "DMC": 0.5})
    assert x["EC"] == pytest.approx((1 / 88.06) / (1 / 88.06 + 1 / 90.08), rel=1e-12)
    with_salt = mass_to_mole_fractions({"LiPF6": 0.2, "EC": 0.8})
    assert with_salt["LiPF6"] == pytest.approx((0.2 / 151.905) / (0.2 / 151.905 + 0.8 / 88.06))


def test_density_model_by_hand_and_against_lp30() -> None:
    """ρ = (1 + m M) / (Σ wᵢ/ρᵢ + m V_φ); 1 mol/L LiPF6 in EC:DMC 1:1 (LP30) is ≈ 1.3 g/mL."""
    blend = {"EC": 0.5, "DMC": 0.5}
    specific_volume = 0.5 / 1321.0 + 0.5 / 1063.0
    expected = (1 + 1.2 * 0.151905) / (specific_volume + 1.2 * 30e-6)
    assert density(1.2, blend, 298.15, "LiPF6") == pytest.approx(expected, rel=1e-12)
    lp30 = Composition.from_molarity(1.0, blend, 298.15)
    assert lp30.density(298.15) == pytest.approx(1300.0, rel=0.02)
    assert lp30.molarity(298.15) == pytest.approx(1.0, rel=1e-12)
    # Warmer liquid is less dense, so the same molality is a lower molarity.
    assert lp30.molarity(323.15) < lp30.molarity(298.15)


def test_salt_free_blend_has_the_ideal_mixing_density() -> None:
    rho = density(0.0, {"EMC": 1.0}, 298.15, "LiPF6")
    assert rho == pytest.approx(1006.0)
    assert molality_to_molarity(0.0, {"EMC": 1.0}, 298.15, "LiPF6") == 0.0


def test_from_masses() -> None:
    """1.519 g LiPF6 (10 mmol) in 5 g EC + 5 g DMC is 1.000 mol/kg."""
    composition = Composition.from_masses({"LiPF6": 1.51905, "EC": 5.0, "DMC": 5.0})
    assert composition.molality == pytest.approx(1.0, rel=1e-12)
    assert composition.solvent_fractions == pytest.approx({"EC": 0.5, "DMC": 0.5})
    masses = composition.masses(11.51905)
    assert masses["LiPF6"] == pytest.approx(1.51905)
    assert masses["EC"] == pytest.approx(5.0)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(blend=blends(), molality=st.floats(0.0, 4.0))
def test_from_masses_inverts_masses(blend: dict[str, float], molality: float) -> None:
    composition = Composition(molality, blend)
    again = Composition.from_masses(composition.masses(7.5))
    assert again.molality == pytest.approx(molality, rel=1e-9, abs=1e-12)
    for name, w in composition.solvent_fractions.items():
        assert again.solvent_fractions[name] == pytest.approx(w, rel=1e-9)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    fractions=st.dictionaries(
        st.sampled_from([*SOLVENT_NAMES, "water", "LiPF6", ""]),
        st.floats(allow_nan=True, allow_infinity=True),
        max_size=5,
    )
)
def test_invalid_fractions_raise_only_unit_error(fractions: dict[str, float]) -> None:
    """Any dict is either a valid blend or refused with a UnitError (a LabctlError)."""
    try:
        valid = validate_fractions(fractions)
    except UnitError as error:
        assert isinstance(error, LabctlError)
        assert "expected" in str(error)
    else:
        assert math.fsum(valid.values()) == pytest.approx(1.0)
        assert all(v > 0 for v in valid.values())


@pytest.mark.parametrize(
    ("fractions", "reason"),
    [
        ({}, "no solvent"),
        ({"EC": 0.5, "DMC": 0.4}, "sum to 0.9"),
        ({"EC": 1.2, "DMC": -0.2}, "fraction of DMC"),
        ({"EC": 0.5, "acetone": 0.5}, "not a known solvent"),
        ({"EC": float("nan")}, "fraction of EC"),
    ],
)
def test_invalid_fractions_name_the_problem(fractions: dict[str, float], reason: str) -> None:
    with pytest.raises(UnitError, match=reason):
        Composition(1.0, fractions)


def test_invalid_amounts_are_refused() -> None:
    with pytest.raises(UnitError):
        Composition(-0.1, {"EC": 1.0})
    with pytest.raises(UnitError, match="unknown salt"):
        Composition(1.0, {"EC": 1.0}, salt="NaCl")
    with pytest.raises(UnitError, match="the salt alone fills it"):
        molarity_to_molality(40.0, {"EC": 1.0}, 298.15, "LiPF6")
    with pytest.raises(UnitError, match="temperature"):
        molality_to_molarity(1.0, {"EC": 1.0}, -5.0, "LiPF6")
    with pytest.raises(UnitError, match="unknown component"):
        Composition.from_masses({"EC": 1.0, "LiPF6": 0.1, "LiBF4": 0.1})
    with pytest.raises(UnitError, match="no solvent"):
        Composition.from_masses({"LiPF6": 0.1})
