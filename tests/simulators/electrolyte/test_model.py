"""The entry point the twins call: SI floats, flags and consistency with the parts."""

from __future__ import annotations

import pytest

from labctl.simulators.electrolyte import (
    ILLUSTRATIVE_PRICES,
    Composition,
    ElectrolyteModel,
    electrolyte_properties,
)
from labctl.simulators.electrolyte.mixing import DEFAULT_SURROGATE
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY
from labctl.simulators.electrolyte.viscosity import carbonate_viscosity


def test_properties_of_lp57_in_si_units() -> None:
    composition = Composition.from_molarity(1.0, {"EC": 0.3, "EMC": 0.7}, 298.15)
    props = electrolyte_properties(composition, 298.15, prices=ILLUSTRATIVE_PRICES)
    assert props.molarity == pytest.approx(1000.0)  # mol/m³
    assert props.molality == pytest.approx(composition.molality)
    assert 1100 < props.density < 1300  # kg/m³
    assert props.conductivity == pytest.approx(0.913, rel=0.05)  # S/m (Landesfeind: 0.913)
    assert props.viscosity == pytest.approx(
        carbonate_viscosity(1.0, {"EC": 0.3, "EMC": 0.7}, 298.15)
    )
    assert props.stability_limit == pytest.approx(
        DEFAULT_STABILITY.stability_limit(composition, 298.15)
    )
    assert props.stability_cutoff == 1.0
    assert props.stability_electrode == "Pt"
    assert props.cost is not None
    assert props.currency == "USD"
    assert props.is_liquid
    assert not props.extrapolated
    assert props.extrapolation_reasons == ()


def test_cost_is_none_without_prices() -> None:
    props = electrolyte_properties(Composition(1.0, {"EC": 0.5, "DMC": 0.5}), 298.15)
    assert props.cost is None
    assert props.currency == ""


@pytest.mark.parametrize(
    ("composition", "temperature", "reason"),
    [
        (Composition(1.0, {"PC": 1.0}), 298.15, "calibration hull"),
        (Composition(1.0, {"EC": 0.5, "DMC": 0.5}), 333.15, "temperature"),
        (Composition(3.0, {"EC": 0.3, "EMC": 0.7}), 298.15, "concentration"),
        (Composition(0.02, {"EC": 0.3, "EMC": 0.7}), 298.15, "concentration"),
    ],
)
def test_extrapolation_is_flagged_with_the_reason(
    composition: Composition, temperature: float, reason: str
) -> None:
    props = electrolyte_properties(composition, temperature)
    assert props.extrapolated
    assert any(reason in text for text in props.extrapolation_reasons)


def test_solid_blend_is_not_a_liquid() -> None:
    props = electrolyte_properties(Composition(0.5, {"EC": 0.9, "DMC": 0.1}), 298.15)
    assert not props.is_liquid
    assert props.liquidus_temperature > 298.15


def test_model_parameters_are_used() -> None:
    composition = Composition(1.0, {"EC": 0.5, "DMC": 0.5})
    default = ElectrolyteModel().properties(composition, 298.15)
    strict = ElectrolyteModel(stability_cutoff=0.1).properties(composition, 298.15)
    assert strict.stability_limit < default.stability_limit
    assert default.conductivity == pytest.approx(
        float(DEFAULT_SURROGATE.conductivity(1.0, {"EC": 0.5, "DMC": 0.5}, 298.15))
    )
