"""Plating/stripping: Sand's time, the modal transport solver, Coulombic efficiency, shorts.

References: Sand, Phil. Mag. 1, 45 (1901) and Bard & Faulkner §8.2 (t_s = πD(zc0F)²/(4J²(1−t₊)²)
for a binary salt); REFERENCES 2.1–2.4 (modal solver, J_lim, double-layer filtering, the
SURROGATE dendrite index and Coulombic efficiency).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from labctl.simulators.electrochem.diffusion import (
    ModalDiffusion,
    sand_time,
    semi_infinite_surface_concentration,
)
from labctl.simulators.electrochem.plating import Segment, galvanostatic
from labctl.simulators.electrochem.response import respond
from labctl.simulators.electrochem.state import CellState

RNG = np.random.default_rng(0)


def test_sand_time_formula_matches_the_reference_example() -> None:
    """REFERENCES 2.1: 1 M LiPF6 EC:EMC, D 2.89e-10, t₊ 0.221, 10 mA/cm² → 348 s."""
    assert sand_time(1000.0, 2.89e-10, 100.0, 0.221) == pytest.approx(348, rel=0.005)
    assert sand_time(1000.0, 2.89e-10, 10.0, 0.221) / 3600 == pytest.approx(9.7, rel=0.01)


@pytest.mark.parametrize("current_density", [100.0, 300.0])
def test_potential_diverges_at_sands_time_in_the_thick_layer_limit(current_density: float) -> None:
    base = CellState(noise=0)
    expected = sand_time(
        base.salt_concentration, base.salt_diffusivity, current_density, base.transference_number
    )
    thick = 20 * math.sqrt(base.salt_diffusivity * expected)
    state = CellState(noise=0, diffusion_layer=thick)
    technique = {
        "kind": "cp",
        "current": -current_density * state.electrode_area,
        "duration": 1.05 * expected,
        "interval": expected / 4000,
        "compliance_voltage": 5.0,
    }
    result = respond(technique, state, RNG)
    potential, time = result["potential"], result["time"]
    # The transition: the overpotential runs away past −1 V (it is −0.1 V just before).
    transition = time[int(np.argmax(potential < -1.0))]
    assert transition == pytest.approx(expected, rel=0.005)
    assert potential[-1] == pytest.approx(-5.0)  # clipped at the compliance voltage
    assert np.all(np.isfinite(potential))


def test_modal_solver_matches_duhamel_for_pulses() -> None:
    """Piecewise-constant flux in a thick layer: modal c_s = semi-infinite Duhamel c_s."""
    diffusion = ModalDiffusion(1000.0, 3e-10, 5e-3, 400)
    amplitudes, flux = diffusion.fresh(), 0.0
    program = [(2.0, 1e-4), (1.0, 0.0), (3.0, 2e-4), (0.5, -1e-4)] * 3
    step_times, fluxes, now = [], [], 0.0
    checks = []
    for duration, new_flux in program:
        step_times.append(now)
        fluxes.append(new_flux)
        amplitudes = diffusion.advance(amplitudes, flux, new_flux, duration)
        flux = new_flux
        now += duration
        checks.append((now, diffusion.surface(amplitudes, flux)))
    times = [t for t, _ in checks]
    exact = semi_infinite_surface_concentration(times, step_times, fluxes, 1000.0, 3e-10)
    np.testing.assert_allclose([c for _, c in checks], exact, rtol=2e-4)


def test_steady_state_under_a_nernst_layer() -> None:
    """REFERENCES 2.1: steady c_s/c0 = 1 − J/J_lim, J_lim = zFDc0/((1 − t₊)δ)."""
    state = CellState(noise=0)
    current_density = 0.5 * state.limiting_current_density
    duration = 20 * state.diffusion_layer**2 / state.salt_diffusivity
    galvanostatic(
        state, [Segment(duration, -current_density * state.electrode_area)], duration / 50
    )
    ratio = state.memory.surface_concentration(state) / state.salt_concentration
    # 1e-4: the leakage side current (3 mA/m² at 0 V) carries a sliver of the 71 A/m².
    assert ratio == pytest.approx(0.5, rel=1e-4)


def _plate_strip(state: CellState, density: float, cutoff: float = 1.0) -> dict[str, Any]:
    current = density * state.electrode_area
    charge = 1.8e4 * state.electrode_area  # 0.5 mAh/cm²
    technique = {
        "kind": "plate_strip",
        "plate_current": -current,
        "plate_charge": charge,
        "rest_time": 10.0,
        "strip_current": current,
        "cutoff_potential": cutoff,
        "interval": charge / current / 1000,
    }
    result = respond(technique, state, RNG)
    result["plate_charge"] = charge
    return result


def _efficiency(result: dict[str, Any]) -> float:
    current, time = result["current"], result["time"]
    interval = time[1] - time[0]
    return float(np.sum(current[current > 0]) * interval / result["plate_charge"])


def test_plate_strip_bookkeeping_and_cutoff() -> None:
    state = CellState(noise=0)
    result = _plate_strip(state, 10.0)
    potential, current = result["potential"], result["current"]
    strip = current > 0
    # The strip stops at the first sample beyond the cut-off, and only there.
    assert potential[-1] > 1.0
    assert np.all(potential[strip][:-1] <= 1.0)
    # The deposit is gone; what was not stripped was lost (SEI, dead metal).
    memory = state.memory
    assert memory.plated_charge == 0.0
    efficiency = _efficiency(result)
    assert 0.85 < efficiency < 1.0
    lost = memory.lost_charge / result["plate_charge"]
    assert efficiency + lost == pytest.approx(1.0, abs=0.002)  # one sample's worth


def test_plated_charge_persists_between_techniques() -> None:
    state = CellState(noise=0)
    current = -10.0 * state.electrode_area
    respond({"kind": "cp", "current": current, "duration": 100.0, "interval": 1.0}, state, RNG)
    plated = state.memory.plated_charge + state.memory.lost_charge
    assert plated == pytest.approx(-current * 100.0, rel=1e-3)
    respond({"kind": "ocv", "duration": 10.0, "interval": 1.0}, state, RNG)
    strip = {"kind": "cp", "current": -current / 2, "duration": 50.0, "interval": 1.0}
    before = state.memory.plated_charge
    respond(strip, state, RNG)
    assert state.memory.plated_charge == pytest.approx(before + current / 2 * 50.0, rel=1e-3)


def test_coulombic_efficiency_falls_as_the_dendrite_index_rises() -> None:
    efficiencies, indices = [], []
    for density in (2.0, 20.0, 80.0):
        state = CellState(noise=0)
        current = density * state.electrode_area
        charge = 1.8e4 * state.electrode_area
        galvanostatic(state, [Segment(charge / current, -current)], charge / current / 100)
        indices.append(state.memory.dendrite_index(state))
        result = _plate_strip(CellState(noise=0), density)
        efficiencies.append(_efficiency(result))
    assert indices[0] < indices[1] < indices[2]
    assert efficiencies[0] > efficiencies[1] > efficiencies[2]
    assert all(e < 1.0 for e in efficiencies)


def _pulsed_index(on_time: float, duration: float, peak_density: float = 50.0) -> float:
    """Dendrite index after pulses at duty 1/4 for ``duration`` s (sampled coarsely)."""
    state = CellState(noise=0)
    peak = -peak_density * state.electrode_area
    cycles = round(duration / (4 * on_time))
    segments = [Segment(on_time, peak), Segment(3 * on_time, 0.0)] * cycles
    galvanostatic(state, segments, duration / 20)
    return state.memory.dendrite_index(state)


def _dc_index(duration: float, density: float = 12.5) -> float:
    state = CellState(noise=0)
    galvanostatic(state, [Segment(duration, -density * state.electrode_area)], duration / 20)
    return state.memory.dendrite_index(state)


def test_pulses_shorter_than_the_double_layer_time_behave_like_dc() -> None:
    """Double-layer filtering (REFERENCES 2.3): t_on = 0.2 ms < τ_DL ≈ 0.5 ms smooths to DC."""
    assert _pulsed_index(2e-4, 2.0) == pytest.approx(_dc_index(2.0), rel=0.05)
    assert _pulsed_index(2e-2, 2.0) > 1.05 * _dc_index(2.0)


def test_dendrite_index_rises_with_on_time_at_fixed_average_current() -> None:
    """REFERENCES 2.4: DI rises with t_on at fixed average current (here 12.5 A/m²)."""
    indices = [_pulsed_index(on, 40.0) for on in (0.1, 1.0, 5.0)]
    assert indices[0] < indices[1] < indices[2]
    assert indices[0] > _dc_index(40.0)


def test_short_circuit_collapses_the_cell_voltage() -> None:
    state = CellState(noise=0, electrode_gap=2e-8)
    current = -50.0 * state.electrode_area
    result = respond(
        {"kind": "cp", "current": current, "duration": 200.0, "interval": 0.5}, state, RNG
    )
    assert state.memory.shorted
    potential = result["potential"]
    assert potential[-1] == pytest.approx(current * state.short_resistance)
    jump = np.abs(np.diff(potential))
    assert jump.max() > 10 * np.median(jump)  # sudden, not gradual


def test_strip_of_a_bare_electrode_jumps_to_the_substrate_oxidation() -> None:
    copper = CellState(noise=0, substrate_exchange_current=10.0)
    current = 10.0 * copper.electrode_area
    result = respond(
        {"kind": "cp", "current": current, "duration": 5.0, "interval": 0.1}, copper, RNG
    )
    # Settles where the substrate carries the current (3.5 V at 10 A/m²) plus iR.
    expected = copper.substrate_oxidation_potential + current * copper.solution_resistance
    assert result["potential"][-1] == pytest.approx(expected, abs=0.01)


def test_galvanostatic_run_is_finite_beyond_any_limit() -> None:
    state = CellState(noise=0, diffusion_layer=1e-3)
    result = respond(
        {"kind": "cp", "current": -1.0, "duration": 10.0, "interval": 0.1}, state, RNG
    )
    assert np.all(np.isfinite(result["potential"]))
    assert np.all(np.abs(result["potential"]) <= state.default_compliance)


def test_zinc_preset_for_the_droplet_cell() -> None:
    """REFERENCES 2.3/2.4: J_lim ≈ 0.5 A/cm² at δ = 50 µm; CE 97–99.5 %, lower at low current."""
    from labctl.simulators.electrochem.presets import ZINC_SULFATE

    assert CellState(**ZINC_SULFATE).limiting_current_density / 1e4 == pytest.approx(0.5, rel=0.1)
    efficiencies = []
    for density in (10.0, 100.0):
        state = CellState(noise=0, **ZINC_SULFATE)
        efficiencies.append(_efficiency(_plate_strip(state, density, cutoff=0.3)))
    assert efficiencies[0] < efficiencies[1]
    assert 0.95 < efficiencies[0] < 0.995
    assert 0.97 < efficiencies[1] < 0.995
