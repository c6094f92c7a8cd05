"""Viscosity: the carbonate SURROGATE (Walden check) and Laliberté's aqueous ZnSO4 model."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.errors import UnitError
from labctl.simulators.electrolyte.composition import molarity_to_molality
from labctl.simulators.electrolyte.mixing import DEFAULT_SURROGATE, blend_viscosity
from labctl.simulators.electrolyte.viscosity import (
    carbonate_viscosity,
    water_viscosity,
    zinc_sulfate_viscosity,
)


def _walden_products(blend: dict[str, float], temperature: float) -> np.ndarray:
    """Λ·η = (κ/c)·η over 0.5–1.5 mol/L, relative to its value at 1 mol/L."""
    products = []
    for c in np.linspace(0.5, 1.5, 11):
        m = molarity_to_molality(c, blend, temperature, "LiPF6")
        kappa = float(DEFAULT_SURROGATE.conductivity(m, blend, temperature))
        products.append(kappa / c * carbonate_viscosity(c, blend, temperature))
    values = np.array(products)
    relative: np.ndarray = values / values[5]
    return relative


@pytest.mark.parametrize("blend", [{"EC": 0.5, "DMC": 0.5}, {"EC": 0.3, "EMC": 0.7}])
@pytest.mark.parametrize("temperature", [283.15, 298.15, 313.15])
def test_walden_product_is_nearly_constant(blend: dict[str, float], temperature: float) -> None:
    """Walden's rule: molar conductivity × viscosity ≈ const (within ±30 % over 0.5–1.5 M).

    Measured for these EC blends at 10–40 °C: −13…+19 %. (κ·η itself, without the 1/c of molar
    conductivity, changes 2.2–2.7× over the same range, as it must when η rises with c.)
    """
    relative = _walden_products(blend, temperature)
    assert np.all(np.abs(relative - 1.0) < 0.30), relative


def test_carbonate_viscosity_trends_and_size() -> None:
    blend = {"EC": 0.3, "EMC": 0.7}
    assert carbonate_viscosity(0.0, blend, 298.15) == pytest.approx(blend_viscosity(blend, 298.15))
    values = [carbonate_viscosity(c, blend, 298.15) for c in (0.0, 0.5, 1.0, 1.5, 2.0)]
    assert values == sorted(values)
    assert carbonate_viscosity(1.0, blend, 323.15) < carbonate_viscosity(1.0, blend, 298.15)
    # 1 mol/L LiPF6 in EC:EMC 3:7 at 25 °C: a few mPa·s.
    assert 1.5e-3 < carbonate_viscosity(1.0, blend, 298.15) < 5e-3
    with pytest.raises(UnitError):
        carbonate_viscosity(1.0, blend, 230.0)
    with pytest.raises(UnitError):
        carbonate_viscosity(-1.0, blend, 298.15)


def test_water_viscosity() -> None:
    """Laliberté (2009) eq. 12: 0.890 mPa·s at 25 °C (IAPWS: 0.8900 mPa·s)."""
    assert water_viscosity(298.15) == pytest.approx(0.8900e-3, rel=1e-3)


def test_zinc_sulfate_viscosity() -> None:
    """Laliberté (2009), ZnSO4 coefficients: pure-water limit, rises with w, falls with T."""
    assert zinc_sulfate_viscosity(0.0, 298.15) == pytest.approx(water_viscosity(298.15))
    values = [zinc_sulfate_viscosity(w, 298.15) for w in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert values == sorted(values)
    assert zinc_sulfate_viscosity(0.139, 318.15) < zinc_sulfate_viscosity(0.139, 298.15)
    # ≈ 1 mol/kg ZnSO4 (w = 0.139) at 25 °C: about twice water's viscosity (model: 1.69 mPa·s).
    assert zinc_sulfate_viscosity(0.139, 298.15) == pytest.approx(1.69e-3, rel=0.01)
    with pytest.raises(UnitError, match=r"0\.318"):
        zinc_sulfate_viscosity(0.4, 298.15)
