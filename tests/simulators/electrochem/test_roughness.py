"""The SURROGATE roughness factor: a roughening deposit lowers the plating overpotential.

Trend (Wood et al., ACS Cent. Sci. 2, 790 (2016); Bai et al., Energy Environ. Sci. 9, 3221
(2016)): as a deposit grows dendritic or mossy its electroactive area grows and the galvanostatic
plating overpotential falls. The surrogate ρ = 1 + k_ρ·DI scales the exchange current only, so
the dendrite index itself barely changes with k_ρ.
"""

from __future__ import annotations

import math

import pytest

from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT
from labctl.simulators.electrochem.plating import Segment, galvanostatic
from labctl.simulators.electrochem.presets import ZINC_SULFATE
from labctl.simulators.electrochem.state import CellState


def _plate(gain: float) -> tuple[CellState, float]:
    state = CellState(
        **{**ZINC_SULFATE, "noise": 0, "diffusion_modes": 64, "roughness_gain": gain}
    )
    current = -1000.0 * state.electrode_area  # 100 mA/cm²
    result = galvanostatic(state, [Segment(2.0, current, "plate")], 0.05)
    return state, float(result["potential"][-1])


def test_roughness_lowers_the_overpotential_and_leaves_the_index_alone() -> None:
    flat, flat_end = _plate(0.0)
    rough, rough_end = _plate(10.0)
    index = rough.memory.dendrite_index(rough)
    # (The double layer discharges a little as the overpotential falls: 0.05 % more faradaic.)
    assert index == pytest.approx(flat.memory.dendrite_index(flat), rel=1e-3)
    assert flat.memory.roughness(flat) == 1.0
    assert rough.memory.roughness(rough) == pytest.approx(1.0 + 10.0 * index)
    # Tafel regime: the same current through ρ times the area needs b·ln ρ less overpotential,
    # b = RT/(αzF) (α = 0.5, z = 2 for Zn: 25.7 mV at 25 °C).
    slope = GAS_CONSTANT * rough.temperature / (0.5 * 2 * FARADAY)
    fall = rough_end - flat_end
    assert fall > 0
    assert fall == pytest.approx(slope * math.log(1.0 + 10.0 * index), rel=0.1)
