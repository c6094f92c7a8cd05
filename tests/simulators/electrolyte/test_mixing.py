"""The SURROGATE conductivity mixing rule: calibration residuals, structure, the liquid check."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.simulators.electrolyte.calibration import (
    calibration_residuals,
    fit_surrogate,
    hull_distance,
)
from labctl.simulators.electrolyte.composition import Composition, molarity_to_molality
from labctl.simulators.electrolyte.mixing import (
    DEFAULT_SURROGATE,
    blend_permittivity,
    blend_viscosity,
    casteel_amis,
    is_liquid,
    liquidus_temperature,
)

EC_BLENDS = [{"EC": 0.5, "DMC": 0.5}, {"EC": 0.3, "EMC": 0.7}, {"EC": 0.3, "DMC": 0.7}]
MOLARITIES = np.linspace(0.1, 2.0, 191)


def _surrogate_vs_molarity(blend: dict[str, float], temperature: float) -> np.ndarray:
    molality = [molarity_to_molality(c, blend, temperature, "LiPF6") for c in MOLARITIES]
    return DEFAULT_SURROGATE.conductivity(np.array(molality), blend, temperature)


def test_calibration_residuals_against_landesfeind() -> None:
    """Surrogate vs the three Landesfeind & Gasteiger (2019) fits on 0.2–2 M × 263–323 K.

    Measured: max 13.9 / 10.6 / 8.4 %, rms 4.6 / 4.2 / 3.1 % (EC:DMC, EC:EMC, EMC:FEC);
    at 1 M and 25 °C −4.7 / +0.6 / −2.2 %. Declared accuracy ±10–15 %.
    """
    residuals = {r.system: r for r in calibration_residuals(DEFAULT_SURROGATE)}
    assert set(residuals) == {"EC:DMC 1:1", "EC:EMC 3:7", "EMC:FEC 19:1"}
    for residual in residuals.values():
        assert residual.max_relative_error < 0.15
        assert residual.rms_relative_error < 0.05
        assert abs(residual.relative_error_25c_1m) < 0.05
    assert residuals["EC:DMC 1:1"].max_relative_error == pytest.approx(0.1385, abs=0.002)


def test_default_constants_are_the_least_squares_fit() -> None:
    """Refitting from the stored constants does not move them: they are the fit's optimum."""
    refit = fit_surrogate(DEFAULT_SURROGATE)
    before = {r.system: r.rms_relative_error for r in calibration_residuals(DEFAULT_SURROGATE)}
    after = {r.system: r.rms_relative_error for r in calibration_residuals(refit)}
    for system, rms in before.items():
        assert after[system] == pytest.approx(rms, abs=2e-4)


def test_casteel_amis_peaks_at_mu_with_kappa_max() -> None:
    m = np.linspace(0.01, 3.0, 2991)
    kappa = casteel_amis(m, 1.1, 0.9, 0.8, -0.2)
    assert float(m[np.argmax(kappa)]) == pytest.approx(0.9, abs=1e-3)
    assert float(kappa.max()) == pytest.approx(1.1, rel=1e-6)
    assert float(casteel_amis(0.0, 1.1, 0.9, 0.8, -0.2)) == 0.0


@pytest.mark.parametrize("blend", EC_BLENDS)
def test_surrogate_is_unimodal_with_maximum_near_1_molar(blend: dict[str, float]) -> None:
    kappa = _surrogate_vs_molarity(blend, 298.15)
    peak = int(np.argmax(kappa))
    assert np.all(np.diff(kappa[: peak + 1]) > 0)
    assert np.all(np.diff(kappa[peak:]) < 0)
    assert 0.8 <= MOLARITIES[peak] <= 1.1


@pytest.mark.parametrize("blend", EC_BLENDS)
def test_surrogate_maximum_moves_up_with_temperature(blend: dict[str, float]) -> None:
    peaks = [
        MOLARITIES[np.argmax(_surrogate_vs_molarity(blend, t))] for t in (263.15, 298.15, 323.15)
    ]
    assert peaks[0] < peaks[1] < peaks[2]


@pytest.mark.parametrize("blend", EC_BLENDS)
def test_surrogate_temperature_coefficient(blend: dict[str, float]) -> None:
    """dκ/dT ≈ 1.8 %/K at 25 °C and 1 M (loose: 1.2–2.5 %/K; measured 1.7–2.0 %/K)."""
    m = molarity_to_molality(1.0, blend, 298.15, "LiPF6")
    low = float(DEFAULT_SURROGATE.conductivity(m, blend, 297.65))
    high = float(DEFAULT_SURROGATE.conductivity(m, blend, 298.65))
    assert 0.012 < np.log(high / low) < 0.025


def test_surrogate_extrapolates_to_plausible_values() -> None:
    """Outside the hull the numbers are extrapolations, but must stay physical.

    At 1 M and 25 °C carbonates give 0.3–1.5 S/m; 1 M LiPF6 in PC is ≈ 0.58 S/m (Xu 2004).
    """
    for blend in ({"PC": 1.0}, {"DMC": 1.0}, {"DEC": 1.0}, {"EC": 0.2, "PC": 0.2, "DMC": 0.6}):
        m = molarity_to_molality(1.0, blend, 298.15, "LiPF6")
        kappa = float(DEFAULT_SURROGATE.conductivity(m, blend, 298.15))
        assert 0.3 < kappa < 1.5, (blend, kappa)
    pc_m = molarity_to_molality(1.0, {"PC": 1.0}, 298.15, "LiPF6")
    assert float(DEFAULT_SURROGATE.conductivity(pc_m, {"PC": 1.0}, 298.15)) == pytest.approx(
        0.58, rel=0.15
    )


def test_blend_viscosity_and_permittivity_rules() -> None:
    """Grunberg–Nissan is a mole-fraction geometric mean; ε mixes by volume fraction."""
    assert blend_viscosity({"DMC": 1.0}, 298.15) == pytest.approx(0.59e-3)
    x = 0.5 / 0.08806 / (0.5 / 0.08806 + 0.5 / 0.09008)
    ec = blend_viscosity({"EC": 1.0}, 298.15)
    expected = ec**x * 0.59e-3 ** (1 - x)
    assert blend_viscosity({"EC": 0.5, "DMC": 0.5}, 298.15) == pytest.approx(expected)
    assert blend_viscosity({"EMC": 1.0}, 323.15) < blend_viscosity({"EMC": 1.0}, 298.15)
    phi = (0.5 / 1321.0) / (0.5 / 1321.0 + 0.5 / 1063.0)
    eps = blend_permittivity({"EC": 0.5, "DMC": 0.5}, 298.15)
    assert eps == pytest.approx(phi * 89.8 + (1 - phi) * 3.11)


def test_liquid_check() -> None:
    """Pure EC melts at 36.4 °C; EC-rich blends are solid at 25 °C; LP30/LP57 are liquid."""
    pure_ec = Composition(0.0, {"EC": 1.0})
    assert liquidus_temperature(pure_ec) == pytest.approx(309.55)
    assert not is_liquid(pure_ec, 298.15)
    assert is_liquid(pure_ec, 313.15)
    assert not is_liquid(Composition(0.0, {"EC": 0.9, "DMC": 0.1}), 298.15)
    assert is_liquid(Composition.from_molarity(1.0, {"EC": 0.5, "DMC": 0.5}, 298.15), 298.15)
    assert is_liquid(Composition.from_molarity(1.0, {"EC": 0.3, "EMC": 0.7}, 298.15), 253.15)
    # Salt depresses the liquidus (cryoscopy).
    salt_free = liquidus_temperature(Composition(0.0, {"EC": 0.5, "DMC": 0.5}))
    assert liquidus_temperature(Composition(1.0, {"EC": 0.5, "DMC": 0.5})) < salt_free


def test_hull_distance() -> None:
    assert hull_distance({"EC": 0.5, "DMC": 0.5}) == pytest.approx(0.0, abs=1e-9)
    # Halfway between EC:DMC 1:1 and EC:EMC 3:7 lies inside.
    assert hull_distance({"EC": 0.4, "DMC": 0.25, "EMC": 0.35}) == pytest.approx(0.0, abs=1e-9)
    assert hull_distance({"EC": 0.3, "DMC": 0.7}) > 0.1
    assert hull_distance({"PC": 1.0}) > 0.5
