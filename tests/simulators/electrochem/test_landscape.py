"""The pulsed-plating landscape: transport checks, nucleation, monotonicities, a real optimum.

References: Sand, Phil. Mag. 1, 45 (1901) and Bard & Faulkner, *Electrochemical Methods*, 2nd ed.,
§8.2 (t_s = πD(zc0F)²/(4J²(1 − t₊)²), binary salt, semi-infinite diffusion); REFERENCES 2.1
(J_lim = zFDc0/((1 − t₊)δ), steady c_s/c0 = 1 − J/J_lim), 2.2 (the modal solver), 2.3 (double
layer filtering, the nucleation surrogate N_nuc = N0·exp(−b/η²)), 2.4 (the SURROGATE dendrite
index and Coulombic efficiency, and the monotonicities they must show).

Where a monotonicity holds only in part of the parameter space, the test says which part: the
nucleation factor makes the dendrite index *fall* with the peak current below the nucleation
onset (η ≲ √b: Li below ≈ 2 mA/cm², Zn below ≈ 10 mA/cm²) — that is the benefit of pulsing
for Zn — and hydrogen evolution lowers a Zn deposit's efficiency at low current independently of
its dendrite index, so "CE never rises with DI" is checked where the index is the only loss that
changes (Li; Zn sites that differ only in their substrate).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.simulators.droplet.landscape import objective, pulse_outcome
from labctl.simulators.electrochem.dendrite import coulombic_loss
from labctl.simulators.electrochem.diffusion import ModalDiffusion, sand_time
from labctl.simulators.electrochem.nucleation import (
    nucleation_density,
    nucleation_factor,
    nucleation_overpotential,
)
from labctl.simulators.electrochem.plating import Segment, galvanostatic
from labctl.simulators.electrochem.presets import (
    LITHIUM_CARBONATE,
    ZINC_SULFATE,
    site_parameters,
)
from labctl.simulators.electrochem.response import respond
from labctl.simulators.electrochem.state import CellState

RNG = np.random.default_rng(0)
REST_LOSS = 2e-3
"""Time-based losses (Li: the leakage side current at rest; Zn: corrosion) differ between two
protocols that last differently long by up to this share of the charge, whatever the index."""
FEW = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def lithium(**changes: Any) -> CellState:
    """Li in 1 M LiPF6 EC:EMC with nucleation (noiseless, fewer modes for speed)."""
    return CellState(**{**LITHIUM_CARBONATE, "noise": 0, "diffusion_modes": 64, **changes})


def zinc(**changes: Any) -> CellState:
    """Zn in 1 M ZnSO4, flowing droplet (noiseless, fewer modes for speed)."""
    return CellState(**{**ZINC_SULFATE, "noise": 0, "diffusion_modes": 32, **changes})


# -- transport: Sand's time, the steady Nernst layer, conservation ---------------------------


def _sand_transition(state: CellState, density: float) -> tuple[float, float]:
    expected = sand_time(
        state.salt_concentration,
        state.salt_diffusivity,
        density,
        state.transference_number,
        state.metal_electrons,
    )
    technique = {
        "kind": "cp",
        "current": -density * state.electrode_area,
        "duration": 1.05 * expected,
        "interval": expected / 4000,
        "compliance_voltage": 5.0,
    }
    result = respond(technique, state, RNG)
    potential, time = result["potential"], result["time"]
    return float(time[int(np.argmax(potential < -1.0))]), expected


@pytest.mark.parametrize(
    ("electrons", "transference", "density"),
    [(1, 0.221, 100.0), (2, 0.40, 300.0), (1, -0.30, 100.0), (2, -0.50, 400.0)],
)
def test_sands_time_within_one_percent(
    electrons: int, transference: float, density: float
) -> None:
    """t_s = πD(zc0F)²/(4J²(1 − t₊)²) for z = 1, 2 and t₊ < 0 (Sand 1901; Bard & Faulkner §8.2)."""
    base = CellState(noise=0, metal_electrons=electrons, transference_number=transference)
    expected = sand_time(1000.0, base.salt_diffusivity, density, transference, electrons)
    thick = 20 * math.sqrt(base.salt_diffusivity * expected)
    state = CellState(
        noise=0, metal_electrons=electrons, transference_number=transference, diffusion_layer=thick
    )
    transition, expected = _sand_transition(state, density)
    assert transition == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(
    ("cell", "fraction"),
    [("lithium", 0.3), ("lithium", 0.8), ("zinc", 0.5), ("negative", 0.6)],
)
def test_steady_surface_concentration_under_a_nernst_layer(cell: str, fraction: float) -> None:
    """REFERENCES 2.1: with a Nernst layer and DC, c_s = c0(1 − J/J_lim) within 1e-4."""
    if cell == "zinc":
        state = zinc(diffusion_modes=400, side_reduction_current=0.0)
    elif cell == "negative":
        state = lithium(diffusion_modes=400, transference_number=-0.4, diffusion_layer=5e-5)
    else:
        state = lithium(diffusion_modes=400, diffusion_layer=5e-5)
    density = fraction * state.limiting_current_density
    duration = 20 * state.diffusion_layer**2 / state.salt_diffusivity
    galvanostatic(state, [Segment(duration, -density * state.electrode_area)], duration / 20)
    c0 = state.salt_concentration
    surface = state.memory.surface_concentration(state)
    assert abs(surface / c0 - (1.0 - fraction)) < 1e-4


def test_salt_removed_equals_charge_passed_in_a_thick_layer() -> None:
    """Conservation: ∫(c0 − c)dx = ∫N dt with N = (1 − t₊)j/(zF) while the layer is thick."""
    c0, diffusivity, thickness = 1000.0, 8.47e-10, 5e-3
    solver = ModalDiffusion(c0, diffusivity, thickness, 2000)
    amplitudes, flux, passed = solver.fresh(), 0.0, 0.0
    program = [(0.5, 2e-3), (0.2, 0.0), (0.7, 3e-3), (0.3, -1e-3)] * 5
    for duration, new in program:
        amplitudes = solver.advance(amplitudes, flux, new, duration)
        flux = new
        passed += new * duration
    # Profile deficit: steady part Nδ²/(2D) minus the modes' Σ aₙ·sin(kₙδ)/kₙ.
    signs = np.sin(solver.wavenumbers * thickness) / solver.wavenumbers
    deficit = flux * thickness**2 / (2 * diffusivity) - float(np.dot(amplitudes, signs))
    assert deficit == pytest.approx(passed, rel=1e-3)


def test_charge_is_conserved_by_the_bookkeeping() -> None:
    """Cathodic charge passed = active metal + lost metal (+ the double layer's sliver)."""
    state = lithium()
    current = 20.0 * state.electrode_area
    galvanostatic(state, [Segment(100.0, -current)], 1.0)
    memory = state.memory
    passed = current * 100.0
    assert memory.plated_charge + memory.lost_charge == pytest.approx(passed, rel=1e-3)
    assert memory.deposited_charge == pytest.approx(passed, rel=1e-3)
    # Zn: hydrogen evolution takes its share too, never more than was passed.
    zn = zinc()
    current = 100.0 * zn.electrode_area
    galvanostatic(zn, [Segment(10.0, -current)], 1.0)
    booked = zn.memory.plated_charge + zn.memory.lost_charge
    assert 0.99 * current * 10.0 < booked < current * 10.0


# -- the nucleation surrogate ----------------------------------------------------------------


def test_nucleation_density_and_factor() -> None:
    state = zinc()
    etas = [0.0, 0.02, 0.05, 0.07, 0.1, 0.2, 0.5]
    densities = [nucleation_density(state, eta) for eta in etas]
    assert densities == sorted(densities)  # finer nuclei at higher overpotential
    assert densities[0] == pytest.approx(state.nucleation_floor)
    factors = [nucleation_factor(state, eta) for eta in etas]
    assert factors == sorted(factors, reverse=True)
    assert factors[0] == pytest.approx(state.nucleation_floor**-0.5)
    assert factors[-1] == pytest.approx(1.0, abs=0.02)
    # The CellState defaults have no nucleation effect.
    assert nucleation_factor(CellState(), 0.001) == 1.0
    # Butler–Volmer at α = 0.5: η = (RT/(αzF))·asinh(j/(2j0)); 10 mA/cm² on Zn ≈ 59 mV.
    assert nucleation_overpotential(state, 100.0) == pytest.approx(0.0593, abs=5e-4)


def test_pulsing_helps_zinc_far_below_its_limiting_current() -> None:
    """REFERENCES 2.3: without nucleation, Zn at 2 mA/cm² would not notice pulsing at all."""
    average = 20.0  # A/m², 2 mA/cm², J_lim ≈ 5400 A/m²
    dc = pulse_outcome(zinc(), average, 2.0, 1e-6, cycles=1)
    pulsed = pulse_outcome(zinc(), 10 * average, 1e-3, 9e-3, duration=2.0)
    assert pulsed.rate == pytest.approx(dc.rate, rel=1e-3)
    assert pulsed.dendrite_index < dc.dendrite_index / 3
    assert pulsed.nucleation_overpotential > dc.nucleation_overpotential + 0.03
    flat = {"nucleation_exponent": 0.0}
    dc_flat = pulse_outcome(zinc(**flat), average, 2.0, 1e-6, cycles=1)
    pulsed_flat = pulse_outcome(zinc(**flat), 10 * average, 1e-3, 9e-3, duration=2.0)
    assert pulsed_flat.dendrite_index >= dc_flat.dendrite_index  # transport alone: no benefit


def test_site_parameters_vary_smoothly_and_reproducibly() -> None:
    sites = {
        (r, c): site_parameters(ZINC_SULFATE, seed=7, row=r, column=c)
        for r in range(6)
        for c in range(6)
    }
    again = site_parameters(ZINC_SULFATE, seed=7, row=2, column=3)
    assert again == sites[2, 3]
    assert site_parameters(ZINC_SULFATE, seed=8, row=2, column=3) != again
    floors = np.array([[sites[r, c]["nucleation_floor"] for c in range(6)] for r in range(6)])
    logs = np.log(floors / ZINC_SULFATE["nucleation_floor"])
    assert 0.2 < logs.std() < 1.0
    # Smooth: neighbours differ less than random pairs.
    neighbour = np.abs(np.diff(logs, axis=1)).mean()
    shuffled = np.random.default_rng(0).permutation(logs.ravel())
    assert neighbour < np.abs(logs.ravel() - shuffled).mean()
    untouched = site_parameters(ZINC_SULFATE, seed=7, row=0, column=0, spread={})
    assert untouched == dict(ZINC_SULFATE)


# -- monotonicities (REFERENCES 2.4), property-based -----------------------------------------


@FEW
@given(
    peak=st.floats(25.0, 100.0),
    ratio=st.floats(1.5, 3.0),
    duty=st.sampled_from([0.1, 0.25, 0.5]),
    on_time=st.floats(0.01, 0.3),
)
def test_index_rises_with_peak_current_at_fixed_duty_li(
    peak: float, ratio: float, duty: float, on_time: float
) -> None:
    """Li, peak above the nucleation onset (≈ 2 mA/cm²), same charge: DI up, CE not up."""
    off = on_time * (1 - duty) / duty
    charge = (
        400.0  # C/m², 0.11 mAh/cm²: the bare electrode's double-layer charge is the same share
    )
    low = pulse_outcome(lithium(), peak, on_time, off, charge_density=charge)
    high = pulse_outcome(lithium(), ratio * peak, on_time, off, charge_density=charge)
    assert high.dendrite_index > low.dendrite_index
    assert high.efficiency <= low.efficiency + REST_LOSS


@FEW
@given(
    peak=st.floats(150.0, 1500.0),
    ratio=st.floats(1.5, 3.0),
    duty=st.sampled_from([0.25, 0.5]),
    on_time=st.floats(1e-3, 0.1),
)
def test_index_rises_with_peak_current_at_fixed_duty_zn(
    peak: float, ratio: float, duty: float, on_time: float
) -> None:
    """Zn, peak above its nucleation onset (≈ 10 mA/cm²): DI up."""
    off = on_time * (1 - duty) / duty
    low = pulse_outcome(zinc(), peak, on_time, off, duration=1.0)
    high = pulse_outcome(zinc(), ratio * peak, on_time, off, duration=1.0)
    assert high.dendrite_index > low.dendrite_index


@FEW
@given(
    peak=st.floats(30.0, 100.0),
    on_time=st.floats(0.05, 0.5),
    ratio=st.floats(2.0, 6.0),
)
def test_index_rises_with_on_time_at_fixed_average_current(
    peak: float, on_time: float, ratio: float
) -> None:
    """Duty 1/4, same peak and average: longer pulses deplete more (Li)."""
    short = pulse_outcome(lithium(), peak, on_time, 3 * on_time, duration=40.0)
    long = pulse_outcome(lithium(), peak, ratio * on_time, 3 * ratio * on_time, duration=40.0)
    assert long.rate == pytest.approx(short.rate, rel=0.05)
    assert long.dendrite_index > short.dendrite_index
    assert long.efficiency <= short.efficiency + REST_LOSS


@FEW
@given(
    average=st.floats(4.0, 10.0),
    duty=st.sampled_from([0.1, 0.2, 0.3]),
    short_periods=st.floats(0.1, 0.3),
    long_periods=st.floats(10.0, 30.0),
)
def test_index_rises_again_for_periods_below_the_double_layer_time(
    average: float, duty: float, short_periods: float, long_periods: float
) -> None:
    """Li: pulses far shorter than τ_DL = R_ct·C_dl are smoothed into DC and nucleate coarser.

    On a Li foil (its double layer already at the Li potential), 0.1 s of pulses.
    """
    tau = lithium().charge_transfer_resistance * lithium().capacitance
    foil = {"metal_charge": 1.0}
    outcomes = []
    for periods in (long_periods, short_periods):
        period = periods * tau
        outcomes.append(
            pulse_outcome(
                lithium(**foil), average / duty, duty * period, (1 - duty) * period, duration=0.1
            )
        )
    slow, fast = outcomes
    assert fast.dendrite_index > slow.dendrite_index
    assert fast.nucleation_overpotential < slow.nucleation_overpotential
    assert fast.efficiency <= slow.efficiency + REST_LOSS


@FEW
@given(
    low=st.floats(0.1, 0.6),
    step=st.floats(0.1, 0.35),
    cell=st.sampled_from(["lithium", "zinc"]),
    pulsed=st.booleans(),
)
def test_index_rises_as_the_average_current_approaches_the_limit(
    low: float, step: float, cell: str, pulsed: bool
) -> None:
    """DI rises as J_avg → J_lim (droplet-sized Nernst layer, 50 µm); Li's CE falls with it."""

    def make() -> CellState:
        return lithium(diffusion_layer=5e-5) if cell == "lithium" else zinc()

    limit = make().limiting_current_density
    duration = 3 * make().diffusion_layer ** 2 / make().salt_diffusivity
    results = []
    for fraction in (low, low + step):
        if pulsed:
            outcome = pulse_outcome(make(), 2 * fraction * limit, 0.01, 0.01, duration=duration)
        else:
            outcome = pulse_outcome(make(), fraction * limit, duration, 1e-6, cycles=1)
        results.append(outcome)
    assert results[1].dendrite_index > results[0].dendrite_index
    if cell == "lithium":
        assert results[1].efficiency <= results[0].efficiency + REST_LOSS


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    first=st.floats(0.0, 20.0),
    second=st.floats(0.0, 20.0),
    preset=st.sampled_from([LITHIUM_CARBONATE, ZINC_SULFATE]),
)
def test_loss_never_falls_as_the_index_rises(
    first: float, second: float, preset: dict[str, Any]
) -> None:
    state = CellState(**preset)
    low, high = sorted((first, second))
    assert coulombic_loss(state, high) >= coulombic_loss(state, low)


def test_zinc_sites_with_a_higher_index_have_a_lower_efficiency() -> None:
    """Same protocol on sites that differ only in their substrate (nucleation floor)."""
    outcomes = []
    for row in range(4):
        params = site_parameters(
            ZINC_SULFATE, seed=3, row=row, column=0, spread={"nucleation_floor": 1.0}
        )
        state = CellState(**{**params, "noise": 0, "diffusion_modes": 32})
        outcomes.append(pulse_outcome(state, 30.0, 2.0, 1e-6, cycles=1))
    ranked = sorted(outcomes, key=lambda o: o.dendrite_index)
    assert ranked[0].dendrite_index < ranked[-1].dendrite_index
    efficiencies = [o.efficiency for o in ranked]
    assert efficiencies == sorted(efficiencies, reverse=True)


# -- the landscape has an interior optimum ---------------------------------------------------

PEAKS = (300.0, 1000.0, 3000.0)  # A/m²: 30, 100, 300 mA/cm²
ON_TIMES = (1e-5, 1e-4, 1e-3)  # s
OFF_TIMES = (1e-4, 1e-3, 1e-2)  # s
TOLERANCE = 0.01  # DI that costs a factor e


def test_coarse_grid_has_an_interior_optimum() -> None:
    """Zn droplet, 1 s of plating per protocol; objective rate·CE·exp(−DI/0.01).

    Each axis trades: more current or longer pulses plate faster but deplete the layer; shorter
    rests (higher duty) plate faster but leave less time to relax; pulses far shorter than the
    double layer's charging time are smoothed and nucleate coarser.
    """
    table = {
        (peak, on, off): pulse_outcome(zinc(), peak, on, off, duration=1.0)
        for peak, on, off in itertools.product(PEAKS, ON_TIMES, OFF_TIMES)
    }
    scores = {key: objective(outcome, TOLERANCE) for key, outcome in table.items()}
    best = max(scores, key=lambda key: scores[key])
    assert best == (PEAKS[1], ON_TIMES[1], OFF_TIMES[1])
    # A real trade-off: the fastest protocol is not the least dendritic one.
    fastest = max(table, key=lambda key: table[key].rate)
    smoothest = min(table, key=lambda key: table[key].dendrite_index)
    assert fastest != smoothest
    assert table[fastest].dendrite_index > 5 * table[best].dendrite_index
