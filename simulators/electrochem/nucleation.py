"""SURROGATE nucleation density: finer nuclei at higher overpotential (REFERENCES 2.3 [SURR]).

Not a fitted model — a labelled surrogate with the trend classical nucleation theory gives, so
that a metal plated far below its limiting current (Zn in 1–2 M ZnSO4: J_lim ≈ 0.5 A/cm²) still
responds to the pulse shape. The free energy of a critical 3-D nucleus falls as 1/η²
(ΔG* = 16πσ³V_m²/(3(zFη)²); Budevski, Staikov & Lorenz, *Electrochemical Phase Formation and
Growth*, VCH 1996, ch. 6; Pei et al., Nano Lett. 17, 1132 (2017) for Li: nucleus size ∝ 1/η,
areal density rising steeply with η), so the density of nuclei formed at overpotential η is

    N_nuc(η) = N0·(φ + exp(−b/η²)),

with φ = N_min/N0 the substrate's share of sites that nucleate at any overpotential (defects;
it keeps N_nuc > 0 as η → 0). A deposit keeps the nuclei its highest overpotential made: the
electrode remembers that peak (:attr:`ElectrodeState.nucleation_overpotential`), reset when the
deposit is stripped away. The dendrite index of REFERENCES 2.4 is multiplied by

    F = (N_ref/N_nuc)^κ,   N_ref = N0,   so 1 ≤ F ≤ φ^−κ

(coarse, sparse nuclei grow into the electrolyte as isolated grains; κ ≈ 0.5 makes F the ratio of
nucleus spacings).

The overpotential is the charge-transfer overpotential the *faradaic* current density j_F needs
at the bulk concentration, η = (RT/(αzF))·asinh(|j_F|/(2j0)) (Butler–Volmer, exact for α = 0.5):
it is taken after the double layer has filtered the applied current, so pulses shorter than
≈ 3τ_DL (τ_DL = R_ct·C_dl) reach a lower peak overpotential and nucleate coarser — the reason DI
rises again for very short pulses (REFERENCES 2.3, Aryanfar et al., J. Phys. Chem. Lett. 5, 1721
(2014)); and it leaves out the concentration overpotential, which diverges at Sand's time and
would otherwise reward depletion.

Consequences: at fixed average current, short pulses (t_on ≪ δ²/D, longer than ≈ 3τ_DL) keep the
transport term of DI at its DC value while the nucleation factor falls to that of the peak
current — the benefit of pulsing for Zn; below ≈ 3τ_DL the benefit fades.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT

if TYPE_CHECKING:
    from labctl.simulators.electrochem.state import CellState

__all__ = ["nucleation_density", "nucleation_factor", "nucleation_overpotential"]


def nucleation_overpotential(state: CellState, current_density: float) -> float:
    """η = (RT/(αzF))·asinh(|j_F|/(2j0)), V (≥ 0): the overpotential a faradaic j_F needs.

    Args:
        state: the cell (T, α, z and j0 of its metal couple).
        current_density: the faradaic current density j_F, A/m² (sign ignored).
    """
    slope = (
        GAS_CONSTANT
        * state.temperature
        / (state.metal_transfer_coefficient * state.metal_electrons * FARADAY)
    )
    return slope * math.asinh(abs(current_density) / (2.0 * state.metal_exchange_current))


def nucleation_density(state: CellState, overpotential: float) -> float:
    """N_nuc/N0 = φ + exp(−b/η²) at overpotential η (V), dimensionless.

    With b = 0 (no barrier) every site nucleates: 1 + φ.
    """
    barrier = state.nucleation_barrier
    floor = state.nucleation_floor
    if barrier <= 0:
        return 1.0 + floor
    if overpotential <= 0:
        return floor
    return floor + math.exp(-barrier / overpotential**2)


def nucleation_factor(state: CellState, overpotential: float) -> float:
    """F = (N_ref/N_nuc)^κ with N_ref = N0: 1 for a fully nucleated deposit, ≤ φ^−κ.

    Exactly 1 when κ = 0 (the :class:`CellState` default: no nucleation effect).
    """
    exponent = state.nucleation_exponent
    if exponent == 0:
        return 1.0
    density = min(max(nucleation_density(state, overpotential), 1e-12), 1.0)
    return float(density**-exponent)
