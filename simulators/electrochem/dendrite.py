"""SURROGATE dendrite indicator, Coulombic efficiency and short circuit (REFERENCES 2.4 [SURR]).

Not a published model: a surrogate with the right monotonic behaviour, declared accuracy "trends
only". Tip amplification A = min(c0/c_s, A_max) (the tip sees the bulk while the flat surface sees
the depleted c_s); excess tip growth dL/dt = (V_m/(zF))·|j_F|·(A − 1) (Akolkar-type, J. Power
Sources 246, 84 (2014)); dendrite index DI = L_d/h_deposit with h_deposit the compact deposit's
thickness V_m·Q/(zFA), times the nucleation factor (N_ref/N_nuc)^κ of REFERENCES 2.4 from
:mod:`labctl.simulators.electrochem.nucleation` (1 unless the cell's ``nucleation_exponent`` κ is
set: the presets set it); loss per plated coulomb ε = ε_SEI(1 + k_A·DI) + ε_dead·DI, clipped to
[0, 1],
so the Coulombic efficiency CE = 1 − ε falls as DI rises. With the defaults (ε_SEI 0.05, k_A 1,
ε_dead 0.1) a DC plate at 0.1–2 mA/cm² gives CE ≈ 0.90–0.95 (REFERENCES 2.4 asks 85–95 % for Li in
carbonates). A dendrite as long as the electrode gap shorts the cell: its voltage collapses to
i·R_short.

Consequences that come from the transport model, not from tuning: DI rises with the peak current at
fixed duty, with t_on at fixed average current, and as J_avg → J_lim; the double layer smooths
pulses shorter than ≈ 3τ_DL into DC. With the nucleation factor on, those smoothed pulses also
lose their higher peak overpotential (coarser nuclei), so DI rises again for such short pulses;
and far below J_lim (Zn in ZnSO4) the nucleation factor, not transport, sets how DI responds to
the pulse shape.
"""

from __future__ import annotations

from labctl.simulators.electrochem.constants import FARADAY
from labctl.simulators.electrochem.nucleation import nucleation_overpotential
from labctl.simulators.electrochem.state import CellState, ElectrodeState

__all__ = ["coulombic_loss", "grow", "strip"]


def coulombic_loss(state: CellState, dendrite_index: float) -> float:
    """Fraction ε of plated charge lost, ε_SEI(1 + k_A·DI) + ε_dead·DI clipped to [0, 1]."""
    loss = state.sei_loss * (1.0 + state.sei_area_factor * dendrite_index)
    loss += state.dead_metal_loss * dendrite_index
    return min(max(loss, 0.0), 1.0)


def grow(
    state: CellState,
    memory: ElectrodeState,
    charge: float,
    duration: float,
    surface_concentration: float,
) -> None:
    """Book ``charge`` (C, > 0) plated in ``duration`` (s) at surface concentration c_s (mol/m³).

    Raises the deposit's peak nucleation overpotential to that of this step's faradaic current
    density, adds the active fraction (1 − ε) to the plated charge and ε to the lost charge,
    grows the dendrite and sets :attr:`ElectrodeState.shorted` once it spans the electrode gap.
    """
    if charge <= 0 or duration <= 0:
        return
    current_density = charge / duration / state.electrode_area
    if state.nucleation_exponent != 0:
        memory.nucleation_overpotential = max(
            memory.nucleation_overpotential, nucleation_overpotential(state, current_density)
        )
    index = memory.dendrite_index(state)
    loss = coulombic_loss(state, index)
    memory.plated_charge += charge * (1.0 - loss)
    memory.lost_charge += charge * loss
    memory.deposited_charge += charge
    c0 = state.salt_concentration
    floor = c0 / state.tip_amplification_max
    amplification = c0 / max(surface_concentration, floor)
    rate = state.metal_molar_volume / (state.metal_electrons * FARADAY) * current_density
    memory.dendrite_length += rate * max(amplification - 1.0, 0.0) * duration
    if memory.dendrite_length >= state.electrode_gap:
        memory.shorted = True


def strip(memory: ElectrodeState, charge: float) -> float:
    """Remove up to ``charge`` (C, > 0) of active metal; returns what was removed, C.

    When the deposit is gone the electrode is bare again (no deposit, no dendrite).
    """
    taken = min(charge, memory.plated_charge)
    memory.plated_charge -= taken
    if memory.plated_charge <= 0.0:
        memory.plated_charge = 0.0
        memory.deposited_charge = 0.0
        memory.dendrite_length = 0.0
        memory.nucleation_overpotential = 0.0
    return taken
