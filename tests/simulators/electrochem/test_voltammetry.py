"""CV/LSV/CA physics: Randles–Sevcik, reversible peak separation, Cottrell, oxidative onset.

References: Bard & Faulkner, *Electrochemical Methods*, 2nd ed. (2001), §6.2 (reversible CV:
i_p = 0.4463·nFAC·√(nFvD/(RT)), E_p − E½ = ±28.5 mV at 25 °C so ΔE_p ≈ 57–58 mV), §5.2
(Cottrell); Nicholson, Anal. Chem. 37, 1351 (1965) (quasi-reversible ΔE_p grows as k0 falls);
REFERENCES 1.2 [SURR] (oxidative stability onset).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest

from labctl.simulators.electrochem.constants import FARADAY
from labctl.simulators.electrochem.response import cell_state, respond
from labctl.simulators.electrochem.state import CellState
from labctl.simulators.electrochem.voltammetry import cv_program, randles_sevcik_current
from labctl.simulators.electrolyte import Composition, electrolyte_properties
from labctl.simulators.world import Mixture, World

RNG = np.random.default_rng(0)


def _cv(state: CellState, scan_rate: float = 0.1, step: float = 1e-3) -> dict[str, Any]:
    technique = {
        "kind": "cv",
        "start": 2.95,
        "vertex1": 3.55,
        "vertex2": 2.95,
        "step": step,
        "scan_rate": scan_rate,
        "cycles": 1,
    }
    return respond(technique, state, RNG)


def _peaks(result: dict[str, Any]) -> tuple[float, float, float]:
    """(ΔE_p V, forward peak current A, E_pa V) of a one-cycle CV up then down."""
    potential, current = result["potential"], result["current"]
    half = len(potential) // 2
    anodic = int(np.argmax(current[:half]))
    cathodic = half + int(np.argmin(current[half:]))
    return potential[anodic] - potential[cathodic], current[anodic], potential[anodic]


def _ideal() -> CellState:
    """No iR drop and no double layer: the diffusion numerics alone."""
    return CellState(noise=0, conductivity=1e6, double_layer_capacitance=0.0)


def test_reversible_cv_peak_separation_and_randles_sevcik_ideal() -> None:
    state = _ideal()
    separation, peak, anodic = _peaks(_cv(state))
    expected = randles_sevcik_current(1, state.electrode_area, 1.0, 1e-9, 0.1, 298.15)
    assert 0.057 <= separation <= 0.062
    assert peak == pytest.approx(expected, rel=0.005)
    # E_pa − E°′ = +28.5 mV (Bard & Faulkner eq. 6.2.4 with E½ = E°′ for D_O = D_R).
    assert anodic - state.redox_potential == pytest.approx(0.0285, abs=0.0015)


@pytest.mark.parametrize("scan_rate", [0.01, 0.05, 0.1])
def test_reversible_cv_with_default_cell_meets_the_acceptance(scan_rate: float) -> None:
    """With the defaults' iR drop and double layer, still 57–62 mV and within 3 % of i_p."""
    state = CellState(noise=0)
    separation, peak, _ = _peaks(_cv(state, scan_rate))
    expected = randles_sevcik_current(
        1,
        state.electrode_area,
        state.redox_concentration,
        state.redox_diffusivity,
        scan_rate,
        state.temperature,
    )
    assert 0.057 <= separation <= 0.062
    assert peak == pytest.approx(expected, rel=0.03)


def test_peak_current_scales_with_root_scan_rate() -> None:
    slow = _peaks(_cv(_ideal(), 0.01))[1]
    fast = _peaks(_cv(_ideal(), 1.0))[1]
    assert fast / slow == pytest.approx(10.0, rel=0.01)


@pytest.mark.parametrize(("psi", "separation"), [(1.0, 0.084), (0.25, 0.141), (0.1, 0.212)])
def test_quasi_reversible_peak_separation_follows_nicholson(psi: float, separation: float) -> None:
    """Nicholson (1965), Table I (α = 0.5): ψ = k0/√(πDfv) → ΔE_p 84, 141, 212 mV."""
    f = FARADAY / (8.314462618 * 298.15)
    k0 = psi * math.sqrt(math.pi * 1e-9 * f * 0.1)
    state = CellState(
        noise=0, conductivity=1e6, double_layer_capacitance=0.0, redox_rate_constant=k0
    )
    assert _peaks(_cv(state))[0] == pytest.approx(separation, abs=0.005)


def test_fast_kinetics_are_reversible() -> None:
    f = FARADAY / (8.314462618 * 298.15)
    k0 = 100 * math.sqrt(math.pi * 1e-9 * f * 0.1)
    state = CellState(
        noise=0, conductivity=1e6, double_layer_capacitance=0.0, redox_rate_constant=k0
    )
    assert 0.057 <= _peaks(_cv(state))[0] <= 0.062


def test_cv_time_grid_and_program() -> None:
    result = _cv(CellState(noise=0))
    n = len(result["time"])
    assert n == 1200
    np.testing.assert_allclose(result["time"], np.arange(1, n + 1) * 1e-3 / 0.1)
    np.testing.assert_allclose(result["potential"], cv_program(2.95, 3.55, 2.95, 1e-3))
    assert result["potential"][599] == pytest.approx(3.55)
    assert result["potential"][-1] == pytest.approx(2.95)


def test_thousand_point_cv_is_fast() -> None:
    state = CellState(noise=0)
    technique = {
        "kind": "cv",
        "start": 3.0,
        "vertex1": 3.5,
        "vertex2": 3.0,
        "step": 1e-3,
        "scan_rate": 0.1,
        "cycles": 1,
    }
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        result = respond(technique, state, RNG)
        best = min(best, time.perf_counter() - started)
    assert len(result["time"]) == 1000
    assert best < 0.2


def test_capacitive_current_on_a_blank_sweep() -> None:
    """Without probe, below any onset, an LSV draws C_dl·A·v."""
    state = CellState(noise=0, redox_concentration=0.0, leakage_resistance=math.inf)
    technique = {"kind": "lsv", "start": 2.0, "end": 2.5, "step": 1e-3, "scan_rate": 0.05}
    current = respond(technique, state, RNG)["current"]
    assert np.median(current) == pytest.approx(state.capacitance * 0.05, rel=1e-3)


def test_cottrell_current_in_chronoamperometry() -> None:
    """A step far beyond E°′: i = nFAC√(D/(πt)) (Bard & Faulkner eq. 5.2.11)."""
    state = CellState(noise=0, conductivity=1e6, double_layer_capacitance=0.0)
    technique = {"kind": "ca", "potential": 3.75, "duration": 10.0, "interval": 0.01}
    result = respond(technique, state, RNG)
    t, i = result["time"], result["current"]
    cottrell = FARADAY * state.electrode_area * 1.0 * np.sqrt(1e-9 / (np.pi * t))
    late = t > 1.0
    np.testing.assert_allclose(i[late], cottrell[late], rtol=0.01)


def _world_cell(world: World, name: str, molarity: float) -> None:
    composition = Composition.from_molarity(molarity, {"EC": 0.3, "EMC": 0.7}, 298.15)
    cell = world.cell(name)
    cell.contents = Mixture(composition.masses(5.0))


def _crossing(result: dict[str, Any], area: float, threshold: float) -> float:
    density = result["current"] / area
    index = int(np.argmax(density >= threshold))
    assert density[index] >= threshold
    return float(result["potential"][index])


def test_lsv_onset_follows_the_electrolyte_stability_limit() -> None:
    """More salt → fewer free solvent molecules → a higher limit (REFERENCES 1.2 [SURR])."""
    world = World(0)
    _world_cell(world, "dilute", 0.5)
    _world_cell(world, "concentrated", 1.5)
    technique = {"kind": "lsv", "start": 3.0, "end": 6.0, "step": 2e-3, "scan_rate": 1e-3}
    crossings = {}
    for name, molarity in (("dilute", 0.5), ("concentrated", 1.5)):
        state = cell_state(world, name)
        result = respond(technique, state, RNG)
        crossings[name] = _crossing(result, state.electrode_area, 1.0)
        composition = Composition.from_molarity(molarity, {"EC": 0.3, "EMC": 0.7}, 298.15)
        limit = electrolyte_properties(composition, 298.15).stability_limit
        # One 2 mV step of the staircase, plus the small iR drop at 1 A/m².
        assert crossings[name] == pytest.approx(limit, abs=0.004)
    assert crossings["concentrated"] > crossings["dilute"] + 0.01


def test_a_cv_sent_as_two_sweeps_equals_the_cv() -> None:
    """A run that continues the last one keeps the probe's diffusion layer (an SMU list)."""
    whole = _cv(_ideal())
    state = _ideal()
    up = {"kind": "lsv", "start": 2.95, "end": 3.55, "step": 1e-3, "scan_rate": 0.1}
    down = {"kind": "lsv", "start": 3.55, "end": 2.95, "step": 1e-3, "scan_rate": 0.1}
    first, second = respond(up, state, RNG), respond(down, state, RNG)
    joined = np.concatenate([first["current"], second["current"]])
    np.testing.assert_allclose(joined, whole["current"], rtol=1e-9, atol=1e-15)
    # After a quiet time the next CV starts from a uniform probe again.
    state.memory.forget_probe()
    np.testing.assert_allclose(_cv(state)["current"], whole["current"], rtol=1e-9, atol=1e-15)


def test_long_continued_history_stays_accurate() -> None:
    """Merging old steps into blocks changes the current by far less than the noise."""
    state, reference = _ideal(), _ideal()
    ca = {"kind": "ca", "potential": 3.3, "duration": 120.0, "interval": 0.01}
    for _ in range(2):
        respond(ca, state, RNG)
    assert state.memory.probe_history is not None
    assert state.memory.probe_history[0].size < 10_000  # 24 000 steps merged into blocks
    long_ca = {"kind": "ca", "potential": 3.3, "duration": 240.0, "interval": 0.01}
    expected = respond(long_ca, reference, RNG)["current"][-1]
    last = respond({**ca, "duration": 1.0}, state, RNG)["current"][0]
    assert last == pytest.approx(expected, rel=1e-3)
