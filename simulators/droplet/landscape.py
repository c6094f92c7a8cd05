"""What one pulsed-plating protocol does to a cell: rate, dendrite index, Coulombic efficiency.

The pulsed-charging campaign's landscape, read off the shared model
(:func:`labctl.simulators.electrochem.plating.galvanostatic`) without any instrument: plate with
``cycles`` pulses of ``peak_density`` for ``on_time`` and rest (or reverse) for ``off_time``,
then report

* ``rate`` — the average plating current density over the run, A/m² (charge / area / time);
* ``dendrite_index`` — the SURROGATE index of the deposit (REFERENCES 2.4, with the nucleation
  factor of :mod:`labctl.simulators.electrochem.nucleation`);
* ``efficiency`` — the Coulombic efficiency a full strip would find: active metal added to the
  electrode / cathodic charge passed (SEI, dead metal, hydrogen evolution during the pulses,
  corrosion during the rests and, on a bare electrode, the double layer's first charging from
  the rest potential all count as lost);
* ``nucleation_overpotential`` — the deposit's peak nucleation overpotential, V.

:func:`objective` is the scalar the landscape test maximises: the dendrite-free plating rate
rate·CE·exp(−DI/DI_tol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labctl.simulators.electrochem.plating import Segment, galvanostatic
from labctl.simulators.electrochem.state import CellState

__all__ = ["PulseOutcome", "objective", "pulse_outcome"]


@dataclass(frozen=True)
class PulseOutcome:
    """What a pulse protocol did (see the module docstring).

    Args:
        rate: average plating current density, A/m².
        dendrite_index: SURROGATE dendrite index.
        efficiency: Coulombic efficiency (0…1).
        nucleation_overpotential: peak nucleation overpotential of the deposit, V.
        charge: cathodic charge passed, C.
        duration: s.
    """

    rate: float
    dendrite_index: float
    efficiency: float
    nucleation_overpotential: float
    charge: float
    duration: float


def pulse_outcome(
    state: CellState,
    peak_density: float,
    on_time: float,
    off_time: float,
    *,
    duration: float | None = None,
    cycles: int | None = None,
    charge_density: float | None = None,
    off_density: float = 0.0,
) -> PulseOutcome:
    """Plate ``state`` (mutated) with a pulse train and report the outcome.

    Args:
        state: the cell (a fresh one for a fresh site).
        peak_density: |on-current density|, A/m² (plating).
        on_time: s.
        off_time: s.
        duration: run about this long (whole cycles, at least one); or give ``cycles`` or
            ``charge_density``.
        cycles: number of on/off cycles.
        charge_density: plate about this much cathodic charge per area, C/m² (whole cycles).
        off_density: current density during the off-time, A/m² (0: rest; > 0: a reverse,
            anodic pulse).
    """
    if cycles is None:
        if charge_density is not None:
            cycles = max(1, round(charge_density / (abs(peak_density) * on_time)))
        elif duration is not None:
            cycles = max(1, round(duration / (on_time + off_time)))
        else:
            raise ValueError("give duration, cycles or charge_density")
    area = state.electrode_area
    on = Segment(on_time, -abs(peak_density) * area, "on")
    off = Segment(off_time, off_density * area, "off")
    total = cycles * (on_time + off_time)
    memory = state.memory
    before = memory.plated_charge
    galvanostatic(state, [on, off] * cycles, total / 4)
    charge = abs(peak_density) * area * on_time * cycles
    return PulseOutcome(
        rate=charge / area / total,
        dendrite_index=memory.dendrite_index(state),
        efficiency=(memory.plated_charge - before) / charge,
        nucleation_overpotential=memory.nucleation_overpotential,
        charge=charge,
        duration=total,
    )


def objective(outcome: PulseOutcome, tolerance: float) -> float:
    """The dendrite-free plating rate rate·CE·exp(−DI/DI_tol), A/m².

    Args:
        outcome: a protocol's outcome.
        tolerance: DI_tol, the dendrite index that costs a factor e.
    """
    return outcome.rate * outcome.efficiency * math.exp(-outcome.dendrite_index / tolerance)
