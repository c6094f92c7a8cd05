"""A deliberately simple cell for protocol tests of the SCPI twin and driver.

Not physics: an ohmic resistance in series with a metal electrode at its rest potential, so a
test can state exactly what the instrument must read back (V = I·R) and check the wire protocol,
compliance clamping and buffer bookkeeping to the last digit. The twins themselves always answer
from the shared electrochemistry model (:mod:`labctl.simulators.electrochem`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OhmicCell"]


@dataclass
class OhmicCell:
    """Series resistance plus a metal electrode; plating charge is booked so a strip can run out.

    Negative current plates metal, positive current strips it; once the plated charge is gone the
    electrode potential rises by ``depletion_step`` (what a plate/strip cut-off detects).

    Args:
        rest_potential: open-circuit potential, V.
        resistance: series resistance, ohm.
        plated_charge: metal already on the electrode, C.
        depletion_step: potential jump when no metal is left to strip, V.
        noise: standard deviation of the measurement noise (V or A).
    """

    rest_potential: float = 0.0
    resistance: float = 10.0
    plated_charge: float = 0.0
    depletion_step: float = 1.5
    noise: float = 1e-5

    def __call__(
        self, function: str, values: np.ndarray, interval: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Measured voltage (current source) or current (voltage source) per point."""
        out = np.empty(len(values))
        for index, value in enumerate(values):
            if function == "current":
                self.plated_charge -= float(value) * interval
                depleted = value > 0 and self.plated_charge <= 0
                self.plated_charge = max(self.plated_charge, 0.0)
                potential = self.rest_potential + float(value) * self.resistance
                out[index] = potential + (self.depletion_step if depleted else 0.0)
            else:
                current = (float(value) - self.rest_potential) / self.resistance
                self.plated_charge = max(0.0, self.plated_charge - current * interval)
                out[index] = current
        return out + rng.normal(0.0, self.noise, len(values))
