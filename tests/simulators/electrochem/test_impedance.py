"""EIS of the Randles cell: the pinned formula and its limits.

References: REFERENCES 3; Bard & Faulkner, *Electrochemical Methods*, 2nd ed., §10.3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT
from labctl.simulators.electrochem.impedance import (
    charge_transfer_resistance,
    randles_impedance,
    warburg_coefficient,
)
from labctl.simulators.electrochem.response import respond
from labctl.simulators.electrochem.state import CellState

R_S, C_DL, R_CT, SIGMA = 100.0, 1e-6, 400.0, 5.0


def test_formula_is_the_pinned_randles_form() -> None:
    """Z = R_s + jωL + 1/(jωC_dl + 1/(R_ct + σω^−½(1 − j))), evaluated by hand at one point."""
    f, inductance = 123.0, 2e-7
    w = 2 * math.pi * f
    warburg = SIGMA / math.sqrt(w) * (1 - 1j)
    expected = R_S + 1j * w * inductance + 1 / (1j * w * C_DL + 1 / (R_CT + warburg))
    z = randles_impedance(f, R_S, C_DL, R_CT, SIGMA, inductance)
    assert z == pytest.approx(expected, rel=1e-14)


def test_high_frequency_limit_is_solution_resistance() -> None:
    z = randles_impedance(1e9, R_S, C_DL, R_CT, SIGMA)
    assert z.real == pytest.approx(R_S, rel=1e-6)
    assert abs(z.imag) < 1e-3


def test_semicircle_apex_at_one_over_rct_cdl() -> None:
    """Without Warburg the apex is exactly R_ct/2 at ω = 1/(R_ct C_dl); with a small σ, ≈."""
    omega = 1.0 / (R_CT * C_DL)
    z = randles_impedance(omega / (2 * math.pi), R_S, C_DL, R_CT, 0.0)
    assert -z.imag == pytest.approx(R_CT / 2, rel=1e-12)
    assert z.real == pytest.approx(R_S + R_CT / 2, rel=1e-12)
    frequency = np.geomspace(1e5, 1e-1, 4001)
    spectrum = randles_impedance(frequency, R_S, C_DL, R_CT, SIGMA)
    apex = int(np.argmax(-spectrum.imag[frequency > 5]))
    assert 2 * math.pi * frequency[apex] == pytest.approx(omega, rel=0.05)
    assert -spectrum.imag[apex] == pytest.approx(R_CT / 2, rel=0.05)


def test_low_frequency_warburg_line_is_at_45_degrees() -> None:
    """At low ω: Z′ = R_s + R_ct + σω^−½, −Z″ = σω^−½ + 2σ²C_dl (slope 1)."""
    frequency = np.array([1e-4, 2e-4])
    z = randles_impedance(frequency, R_S, C_DL, R_CT, SIGMA)
    slope = (-z.imag[0] + z.imag[1]) / (z.real[0] - z.real[1])
    assert slope == pytest.approx(1.0, abs=2e-3)
    assert -z.imag[0] == pytest.approx(z.real[0] - R_S - R_CT + 2 * SIGMA**2 * C_DL, rel=1e-3)


def test_charge_transfer_resistance_and_warburg_coefficient() -> None:
    temperature, area = 298.15, 2e-6
    assert charge_transfer_resistance(10.0, area, temperature) == pytest.approx(
        GAS_CONSTANT * temperature / (FARADAY * 10.0 * area)
    )
    sigma = warburg_coefficient(1000.0, 3e-10, area, temperature, transference_number=0.2)
    expected = (
        GAS_CONSTANT
        * temperature
        * 0.8
        / (math.sqrt(2) * FARADAY**2 * area * 1000.0 * math.sqrt(3e-10))
    )
    assert sigma == pytest.approx(expected, rel=1e-12)


def _eis(state: CellState, seed: int = 0) -> dict[str, np.ndarray]:
    technique = {
        "kind": "eis",
        "frequencies": list(np.geomspace(1e5, 1e-2, 36)),
        "amplitude": 0.01,
        "dc_potential": 0.0,
    }
    return respond(technique, state, np.random.default_rng(seed))


def test_respond_eis_uses_the_cell_parameters() -> None:
    state = CellState(noise=0)
    result = _eis(state)
    assert list(result) == ["frequency", "z_real", "z_imag"]
    assert np.all(result["z_imag"] < 0)
    assert result["z_real"][0] == pytest.approx(state.solution_resistance, rel=1e-3)
    sigma = warburg_coefficient(
        state.salt_concentration,
        state.salt_diffusivity,
        state.electrode_area,
        state.temperature,
        transference_number=state.transference_number,
    )
    expected = randles_impedance(
        result["frequency"],
        state.solution_resistance,
        state.capacitance,
        state.charge_transfer_resistance,
        sigma,
    )
    np.testing.assert_allclose(result["z_real"], expected.real, rtol=1e-12)
    np.testing.assert_allclose(result["z_imag"], expected.imag, rtol=1e-12)


def test_eis_noise_is_a_tenth_of_a_percent_of_z_and_seeded() -> None:
    noiseless = _eis(CellState(noise=0))
    first, second = _eis(CellState(noise=1), seed=5), _eis(CellState(noise=1), seed=5)
    np.testing.assert_array_equal(first["z_real"], second["z_real"])
    modulus = np.hypot(noiseless["z_real"], noiseless["z_imag"])
    relative = (first["z_real"] - noiseless["z_real"]) / modulus
    assert 3e-4 < float(np.std(relative)) < 3e-3
    assert not np.array_equal(first["z_real"], _eis(CellState(noise=1), seed=6)["z_real"])


def test_dry_and_shorted_cells() -> None:
    dry = _eis(CellState(noise=0, dry=True))
    assert np.all(np.hypot(dry["z_real"], dry["z_imag"]) > 1e6)
    shorted = CellState(noise=0)
    shorted.memory.shorted = True
    result = _eis(shorted)
    np.testing.assert_allclose(result["z_real"], shorted.short_resistance)
