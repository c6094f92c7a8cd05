"""Physical constants shared by the electrochemistry model (SI, CODATA 2018 exact values)."""

from __future__ import annotations

from labctl.simulators.electrolyte.components import GAS_CONSTANT
from labctl.simulators.electrolyte.stability import FARADAY

__all__ = ["FARADAY", "GAS_CONSTANT", "thermal_voltage"]


def thermal_voltage(temperature: float) -> float:
    """RT/F, V, at ``temperature`` (K): 25.69 mV at 298.15 K."""
    return GAS_CONSTANT * temperature / FARADAY
