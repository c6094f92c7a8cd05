"""The analyses applied to the twins' electrochemistry model: the physics acceptance of issue 3.

The model (``labctl.simulators.electrochem.response.respond``) answers techniques as a driver
would; noiseless runs (``CellState(noise=0)``) must give back the model's own parameters:
EIS circuit parameters within 2 % and conductivity within 2 %; a reversible one-electron CV at
25 °C with ΔE_p in 57–62 mV and i_p within 3 % of Randles–Sevcik (Bard & Faulkner eq. 6.2.19);
the LSV limit where the oxidation current density reaches the model's cut-off.
"""

from __future__ import annotations

import numpy as np
import pytest

from labctl.analysis import (
    conductivity_from_resistance,
    cv_peaks,
    fit_randles,
    plate_strip_metrics,
    stability_limit,
)

response = pytest.importorskip("labctl.simulators.electrochem.response")

FARADAY, GAS = 96485.33212, 8.314462618
FREQUENCIES = [float(f) for f in 10.0 ** np.linspace(6.0, -1.0, 71)]


def run(technique, **state_overrides):
    state = response.CellState(noise=state_overrides.pop("noise", 0.0), **state_overrides)
    result = response.respond(technique, state, np.random.default_rng(0))
    return result, state


def eis(**overrides):
    return run(
        {"kind": "eis", "frequencies": FREQUENCIES, "amplitude": 0.01, "dc_potential": 0.0},
        **overrides,
    )


def test_eis_fit_recovers_the_model_circuit_and_conductivity():
    data, state = eis()
    fit = fit_randles(data["frequency"], data["z_real"], data["z_imag"])
    assert fit.solution_resistance.value == pytest.approx(state.solution_resistance, rel=1e-6)
    assert fit.charge_transfer_resistance.value == pytest.approx(
        state.charge_transfer_resistance, rel=1e-6
    )
    assert fit.double_layer_capacitance.value == pytest.approx(state.capacitance, rel=1e-6)
    kappa = conductivity_from_resistance(fit.solution_resistance, state.cell_constant)
    assert kappa.value == pytest.approx(state.conductivity, rel=0.02)
    assert kappa.value == pytest.approx(state.conductivity, rel=1e-6)


def test_eis_fit_with_stray_inductance_and_model_noise():
    for seed in range(3):
        state = response.CellState(noise=1.0, inductance=50e-9)
        technique = {
            "kind": "eis",
            "frequencies": FREQUENCIES,
            "amplitude": 0.01,
            "dc_potential": 0.0,
        }
        data = response.respond(technique, state, np.random.default_rng(seed))
        fit = fit_randles(data["frequency"], data["z_real"], data["z_imag"], fit_inductance=True)
        kappa = conductivity_from_resistance(fit.solution_resistance, state.cell_constant)
        assert abs(kappa.value - state.conductivity) < 3 * kappa.uncertainty
        assert kappa.value == pytest.approx(state.conductivity, rel=0.02)


def test_reversible_cv_of_the_model():
    state = response.CellState(noise=0.0)
    e0 = state.redox_potential
    technique = {
        "kind": "cv",
        "start": e0 - 0.25,
        "vertex1": e0 + 0.3,
        "vertex2": e0 - 0.3,
        "step": 1e-3,
        "scan_rate": 0.1,
        "cycles": 1,
    }
    data = response.respond(technique, state, np.random.default_rng(0))
    (cycle,) = cv_peaks(data["potential"], data["current"])
    f = FARADAY / (GAS * state.temperature)
    randles_sevcik = (
        0.4463 * FARADAY * state.electrode_area * state.redox_concentration
        * np.sqrt(f * 0.1 * state.redox_diffusivity)
    )  # fmt: skip
    assert 0.057 <= cycle.peak_separation <= 0.062
    assert cycle.anodic_peak_current == pytest.approx(randles_sevcik, rel=0.03)
    assert cycle.half_wave_potential == pytest.approx(e0, abs=5e-3)


def test_lsv_limit_of_the_model():
    state = response.CellState(noise=0.0)
    # From the rest potential, so the redox probe's wave has decayed before the baseline window.
    technique = {"kind": "lsv", "start": 3.0, "end": 5.4, "step": 1e-3, "scan_rate": 1e-3}
    data = response.respond(technique, state, np.random.default_rng(0))
    limit = stability_limit(
        data["potential"],
        data["current"],
        electrode_area=state.electrode_area,
        current_density_threshold=state.oxidation_cutoff,
        baseline_window=(3.6, 4.0),
    )
    assert limit.potential == pytest.approx(state.oxidation_limit, abs=5e-3)


def test_plate_strip_of_the_model():
    technique = {
        "kind": "plate_strip",
        "plate_current": -1e-4,
        "plate_charge": 0.1,
        "rest_time": 10.0,
        "strip_current": 1e-4,
        "cutoff_potential": 1.0,
        "interval": 1.0,
    }
    data, _ = run(technique)
    metrics = plate_strip_metrics(
        data["time"], data["potential"], data["current"], rest_potential=0.0, initial_time=0.0
    )
    assert metrics.charge.plated_charge == pytest.approx(0.1, rel=1e-3)
    assert 0.5 < metrics.coulombic_efficiency < 1.0
    assert metrics.mean_plating_overpotential < 0.0 < metrics.mean_stripping_overpotential
