"""Conductivity from a fitted resistance, and the blocking-electrode cell fit (REFERENCES §1.3).

κ = K_cell/R_b; the cell spectrum is Z = R_b + jωL + 1/(Q(jω)^α). Acceptance (issue 3):
conductivity recovered within 2 % of the model value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis import (
    AnalysisError,
    FittedParameter,
    blocking_cell_impedance,
    conductivity_from_resistance,
    fit_blocking_cell,
    fit_randles,
)

FREQUENCY = 10.0 ** np.linspace(6.0, -1.0, 71)
CELL_CONSTANT = 100.0  # 1/m = 1 cm⁻¹


def blocking(frequency, bulk, q, alpha, inductance=0.0):
    omega = 2 * np.pi * frequency
    return bulk + 1j * omega * inductance + 1.0 / (q * (1j * omega) ** alpha)


def test_conductivity_is_cell_constant_over_resistance():
    result = conductivity_from_resistance(50.0, CELL_CONSTANT)
    assert result.value == pytest.approx(2.0)
    assert result.uncertainty == 0.0
    assert result.resistance == 50.0
    assert result.cell_constant == CELL_CONSTANT


def test_kcl_calibration_standard():
    # 0.01 M KCl at 25 °C: 1.413 mS/cm = 0.1413 S/m; in a 1 cm⁻¹ cell R = 707.7 Ω.
    resistance = CELL_CONSTANT / 0.1413
    assert conductivity_from_resistance(resistance, CELL_CONSTANT).value == pytest.approx(0.1413)


def test_uncertainties_add_in_quadrature():
    result = conductivity_from_resistance(
        50.0, CELL_CONSTANT, resistance_uncertainty=0.15, cell_constant_uncertainty=0.4
    )
    assert result.uncertainty == pytest.approx(2.0 * math.hypot(0.003, 0.004))


def test_fitted_parameter_brings_its_uncertainty():
    result = conductivity_from_resistance(FittedParameter(50.0, 0.5, "ohm"), CELL_CONSTANT)
    assert result.uncertainty == pytest.approx(0.02)


@pytest.mark.parametrize("resistance", [0.0, -3.0, math.inf, math.nan])
def test_unphysical_resistance_is_refused(resistance):
    with pytest.raises(AnalysisError, match="solution_resistance"):
        conductivity_from_resistance(resistance, CELL_CONSTANT)


def test_conductivity_from_a_noiseless_randles_fit_within_two_percent():
    kappa = 0.95  # S/m, ≈ 1 M LiPF6 in EC:EMC at 25 °C
    rs = CELL_CONSTANT / kappa
    omega = 2 * np.pi * FREQUENCY
    z = rs + 1.0 / (1j * omega * 20e-6 + 1.0 / (80.0 + 15.0 * omega**-0.5 * (1 - 1j)))
    fit = fit_randles(FREQUENCY, z.real, z.imag)
    result = conductivity_from_resistance(fit.solution_resistance, CELL_CONSTANT)
    assert abs(result.value / kappa - 1.0) < 1e-8


def test_blocking_model_function_is_the_formula():
    z = blocking_cell_impedance(FREQUENCY, 150.0, 5e-6, 0.92, 50e-9)
    np.testing.assert_allclose(z, blocking(FREQUENCY, 150.0, 5e-6, 0.92, 50e-9), rtol=1e-13)


def test_noiseless_blocking_cell_is_recovered():
    kappa = 0.667
    z = blocking(FREQUENCY, CELL_CONSTANT / kappa, 5e-6, 0.92, 50e-9)
    fit = fit_blocking_cell(FREQUENCY, z.real, z.imag)
    assert fit.bulk_resistance.value == pytest.approx(CELL_CONSTANT / kappa, rel=1e-9)
    assert fit.cpe_coefficient.value == pytest.approx(5e-6, rel=1e-9)
    assert fit.cpe_exponent.value == pytest.approx(0.92, rel=1e-9)
    assert fit.inductance.value == pytest.approx(50e-9, rel=1e-7)
    assert abs(fit.conductivity(CELL_CONSTANT).value / kappa - 1.0) < 1e-8
    np.testing.assert_allclose(fit.impedance(FREQUENCY), z, rtol=1e-9)


def test_ideal_capacitor_exponent_one():
    z = blocking(FREQUENCY, 40.0, 10e-6, 1.0)
    fit = fit_blocking_cell(FREQUENCY, z.real, z.imag, fit_inductance=False)
    assert fit.cpe_exponent.value == pytest.approx(1.0, abs=1e-9)
    assert fit.inductance.fixed


def test_blocking_uncertainties_cover_the_truth_with_seeded_noise():
    truth = {"bulk_resistance": 150.0, "cpe_coefficient": 5e-6, "cpe_exponent": 0.92}
    z = blocking(FREQUENCY, 150.0, 5e-6, 0.92, 50e-9)
    normalised = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        noisy = z + 1e-3 * np.abs(z) * (
            rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size)
        )
        fit = fit_blocking_cell(FREQUENCY, noisy.real, noisy.imag, relative_noise=1e-3)
        for name, value in truth.items():
            parameter = getattr(fit, name)
            normalised.append((parameter.value - value) / parameter.uncertainty)
        kappa = fit.conductivity(CELL_CONSTANT)
        assert abs(kappa.value / (CELL_CONSTANT / 150.0) - 1.0) < 0.02
        assert abs(kappa.value - CELL_CONSTANT / 150.0) < 3 * kappa.uncertainty
    assert np.abs(normalised).max() < 3.0
    assert 0.6 < float(np.mean(np.square(normalised))) < 1.5


def test_a_spectrum_without_capacitive_tail_is_refused():
    with pytest.raises(AnalysisError, match="capacitive"):
        fit_blocking_cell(FREQUENCY, np.full(FREQUENCY.size, 20.0), np.zeros(FREQUENCY.size))
