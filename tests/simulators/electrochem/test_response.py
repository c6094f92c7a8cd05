"""The entry points: every technique kind, the time grids, seeded noise, world cells."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from labctl.errors import LabctlError
from labctl.simulators.electrochem import CellState, ElectrodeState, cell_state, respond
from labctl.simulators.electrochem.response import KINDS
from labctl.simulators.electrolyte import LANDESFEIND_SYSTEMS, Composition, electrolyte_properties
from labctl.simulators.world import Mixture, World

TECHNIQUES: dict[str, dict[str, Any]] = {
    "ocv": {"kind": "ocv", "duration": 5.0, "interval": 0.5},
    "ca": {"kind": "ca", "potential": 3.3, "duration": 2.0, "interval": 0.1},
    "cp": {"kind": "cp", "current": -2e-5, "duration": 2.0, "interval": 0.1},
    "lsv": {"kind": "lsv", "start": 3.0, "end": 3.5, "step": 0.005, "scan_rate": 0.05},
    "cv": {
        "kind": "cv",
        "start": 3.0,
        "vertex1": 3.5,
        "vertex2": 2.9,
        "step": 0.005,
        "scan_rate": 0.1,
        "cycles": 2,
    },
    "eis": {
        "kind": "eis",
        "frequencies": [1e5, 1e3, 10.0, 0.1],
        "amplitude": 0.01,
        "dc_potential": 0.0,
    },
    "pulse_train": {
        "kind": "pulse_train",
        "on_current": -2e-5,
        "on_time": 0.1,
        "off_current": 1e-5,
        "off_time": 0.3,
        "cycles": 5,
        "interval": 0.05,
    },
    "plate_strip": {
        "kind": "plate_strip",
        "plate_current": -2e-5,
        "plate_charge": 2e-4,
        "rest_time": 1.0,
        "strip_current": 2e-5,
        "cutoff_potential": 1.0,
        "interval": 0.1,
    },
}


def test_every_contract_kind_is_answered() -> None:
    assert set(TECHNIQUES) == KINDS


@pytest.mark.parametrize("kind", sorted(TECHNIQUES))
def test_shapes_keys_and_finiteness(kind: str) -> None:
    result = respond(TECHNIQUES[kind], CellState(), np.random.default_rng(1))
    if kind == "eis":
        assert set(result) == {"frequency", "z_real", "z_imag"}
        assert len(result["frequency"]) == 4
    else:
        assert set(result) == {"time", "potential", "current"}
        assert len({len(v) for v in result.values()}) == 1
    for values in result.values():
        assert values.dtype == np.float64
        assert np.all(np.isfinite(values))


@pytest.mark.parametrize(
    ("kind", "count", "interval"),
    [
        ("ocv", 10, 0.5),
        ("ca", 20, 0.1),
        ("cp", 20, 0.1),
        ("lsv", 100, 0.1),
        ("cv", 2 * 240, 0.05),
        ("pulse_train", 40, 0.05),
    ],
)
def test_time_grid_is_interval_times_k(kind: str, count: int, interval: float) -> None:
    result = respond(TECHNIQUES[kind], CellState(noise=0), np.random.default_rng(0))
    np.testing.assert_allclose(result["time"], interval * np.arange(1, count + 1), rtol=1e-12)


def test_plate_strip_stops_at_the_first_sample_beyond_the_cutoff() -> None:
    result = respond(TECHNIQUES["plate_strip"], CellState(noise=0), np.random.default_rng(0))
    potential, current = result["potential"], result["current"]
    assert current[0] < 0
    assert current[-1] > 0
    assert potential[-1] > 1.0
    assert np.all(potential[:-1][current[:-1] > 0] <= 1.0)
    plate_samples = int(np.sum(current < 0))
    assert plate_samples == 100  # 2e-4 C at 2e-5 A: 10 s


@pytest.mark.parametrize("kind", sorted(TECHNIQUES))
def test_seeded_noise_is_reproducible(kind: str) -> None:
    first = respond(TECHNIQUES[kind], CellState(), np.random.default_rng(42))
    second = respond(TECHNIQUES[kind], CellState(), np.random.default_rng(42))
    other = respond(TECHNIQUES[kind], CellState(), np.random.default_rng(43))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert any(
        not np.array_equal(first[k], other[k]) for k in first if k not in ("time", "frequency")
    )


@pytest.mark.parametrize("kind", sorted(TECHNIQUES))
def test_zero_noise_is_exact_and_draws_nothing(kind: str) -> None:
    rng = np.random.default_rng(3)
    first = respond(TECHNIQUES[kind], CellState(noise=0), rng)
    second = respond(TECHNIQUES[kind], CellState(noise=0), np.random.default_rng(99))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert rng.random() == np.random.default_rng(3).random()


def test_invalid_techniques_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown technique kind"):
        respond({"kind": "swv"}, CellState(), rng)
    with pytest.raises(ValueError, match="needs 'current'"):
        respond({"kind": "cp", "duration": 1.0, "interval": 0.1}, CellState(), rng)
    with pytest.raises(ValueError, match="interval must be > 0"):
        respond(
            {"kind": "ca", "potential": 0.0, "duration": 1.0, "interval": 0.0}, CellState(), rng
        )


def test_defaults_are_the_electrolyte_model_for_1m_lipf6_ec_emc() -> None:
    composition = Composition.from_molarity(1.0, {"EC": 0.3, "EMC": 0.7}, 298.15)
    properties = electrolyte_properties(composition, 298.15)
    system = LANDESFEIND_SYSTEMS["EC:EMC 3:7"]
    state = CellState()
    assert state.conductivity == pytest.approx(properties.conductivity, rel=1e-9)
    assert state.oxidation_limit == pytest.approx(properties.stability_limit, rel=1e-9)
    assert state.salt_diffusivity == pytest.approx(float(system.diffusivity(1.0, 298.15)))
    assert state.transference_number == pytest.approx(
        float(system.transference_number(1.0, 298.15))
    )
    assert 0.8 < state.conductivity < 1.2


# -- world cells -------------------------------------------------------------------------------


def _world(molarity: float = 1.0, blend: dict[str, float] | None = None) -> World:
    world = World(0)
    cell = world.cell("cell", cell_constant=1.3, electrode_area=0.05, temperature=300.0)
    composition = Composition.from_molarity(molarity, blend or {"EC": 0.3, "EMC": 0.7}, 300.0)
    cell.contents = Mixture(composition.masses(4.0))
    return world


def test_solution_resistance_is_cell_constant_over_model_conductivity() -> None:
    world = _world()
    state = cell_state(world, "cell")
    cell = world.cells["cell"]
    composition = Composition.from_masses(cell.contents.masses)
    kappa = electrolyte_properties(composition, 300.0).conductivity  # S/m
    expected = (1.3 * 100.0) / kappa  # K_cell 1/cm → 1/m
    assert state.solution_resistance == pytest.approx(expected, rel=1e-9)
    assert state.electrode_area == pytest.approx(0.05e-4)
    assert state.temperature == 300.0
    assert state.redox_concentration == 0.0
    eis = respond(TECHNIQUES["eis"], state, np.random.default_rng(0))
    assert eis["z_real"][0] == pytest.approx(expected, rel=0.01)


def test_cell_state_keeps_plated_charge_and_follows_new_contents() -> None:
    world = _world()
    rng = np.random.default_rng(0)
    plate = {"kind": "cp", "current": -1e-4, "duration": 20.0, "interval": 1.0}
    respond(plate, cell_state(world, "cell"), rng)
    memory = world.cells["cell"].properties["electrochem"]
    assert isinstance(memory, ElectrodeState)
    plated = memory.plated_charge
    assert plated > 0.9 * 2e-3
    first_resistance = cell_state(world, "cell").solution_resistance
    assert cell_state(world, "cell").memory is memory
    # Same electrolyte, less of it: nothing resets.
    world.cells["cell"].contents.remove(1.0)
    assert cell_state(world, "cell").memory.modes.size > 0
    # A new electrolyte: R_s follows it; the metal stays, the concentration profile resets.
    composition = Composition.from_molarity(0.4, {"EC": 0.5, "DMC": 0.5}, 300.0)
    world.cells["cell"].contents = Mixture(composition.masses(4.0))
    state = cell_state(world, "cell")
    kappa = electrolyte_properties(composition, 300.0).conductivity
    assert state.solution_resistance == pytest.approx(130.0 / kappa, rel=1e-9)
    assert state.solution_resistance != pytest.approx(first_resistance, rel=1e-3)
    assert state.memory.plated_charge == plated
    assert state.memory.modes.size == 0
    assert state.salt_concentration == pytest.approx(400.0, rel=1e-9)
    respond({"kind": "ocv", "duration": 2.0, "interval": 1.0}, state, rng)
    assert cell_state(world, "cell").memory.plated_charge == pytest.approx(plated, rel=1e-3)


def test_dry_cell_is_an_open_circuit() -> None:
    world = World(0)
    world.cell("dry")
    state = cell_state(world, "dry")
    assert state.dry
    rng = np.random.default_rng(0)
    ca = respond({**TECHNIQUES["ca"], "potential": 1.0}, state, rng)
    assert np.all(np.abs(ca["current"]) < 1e-8)
    cp = respond(TECHNIQUES["cp"], state, rng)
    assert np.all(cp["current"] == pytest.approx(0.0, abs=1e-8))
    eis = respond(TECHNIQUES["eis"], state, rng)
    assert np.all(np.hypot(eis["z_real"], eis["z_imag"]) > 1e6)


def test_parameter_overrides_and_their_errors() -> None:
    world = _world()
    properties = world.cells["cell"].properties
    properties["electrochem_parameters"] = {"redox_concentration": 1.0, "metal_charge": 5.0}
    state = cell_state(world, "cell")
    assert state.redox_concentration == 1.0
    assert state.memory.plated_charge == 5.0
    properties["electrochem_parameters"] = {"nonsense": 1.0}
    with pytest.raises(ValueError, match="nonsense"):
        cell_state(world, "cell")
    with pytest.raises(KeyError):
        cell_state(world, "missing")


def test_unknown_contents_are_reported() -> None:
    world = World(0)
    world.cell("water").contents = Mixture({"H2O": 5.0})
    with pytest.raises(LabctlError, match="no solvent"):
        cell_state(world, "water")


def test_transport_of_a_blend_comes_from_the_nearest_published_system() -> None:
    state = cell_state(_world(1.0, {"EC": 0.5, "DMC": 0.5}), "cell")
    system = LANDESFEIND_SYSTEMS["EC:DMC 1:1"]
    molarity = state.salt_concentration / 1000.0
    assert state.transference_number == pytest.approx(
        float(system.transference_number(molarity, 300.0))
    )
    # The exact blend of a published system: no viscosity rescaling.
    assert state.salt_diffusivity == pytest.approx(float(system.diffusivity(molarity, 300.0)))
    assert math.isfinite(state.limiting_current_density)
