"""Background faradaic currents: electrolyte oxidation, substrate oxidation, side reactions.

* **Oxidative decomposition of the electrolyte** — SURROGATE (REFERENCES 1.2 [SURR]): the
  electrolyte model's LSV current (:mod:`labctl.simulators.electrolyte.stability`) is a sum of
  Tafel terms Σ aᵢ exp(αf(E − E_ox,i)) with one common α, which is exactly one Tafel term
  j_ox(E) = j_cut·exp(αf(E − E_lim)) through the stability limit E_lim at the cut-off j_cut. So
  this term, given the limit the electrolyte model computes for the cell's contents, reproduces
  that model's faradaic current, and an LSV crosses j_cut at E_lim (plus the capacitive C_dl·v).
  Trends only: the limit is not a prediction of a real electrolyte's window.
* **Substrate oxidation** — Tafel law j = j_sub·exp(α_sub f (E − E_sub)) of the bare substrate
  (Cu dissolution ≈ 3.5 V vs Li/Li⁺): where a galvanostatic strip lands once the metal is gone.
* **Leakage** — a linear (area-specific resistance) side current (E − E_rest)/r_leak that sets the
  rest potential of an electrode without metal (SURROGATE; r_leak large enough that it carries
  < 0.1 % of a voltammetric peak).
* **Reduction side reaction** — Tafel law −j_red·exp(−α f (E − E_red)), e.g. hydrogen evolution
  on zinc (REFERENCES 2.3); off by default.

f = F/(RT). All currents in A (densities × the electrode area), anodic positive (IUPAC).
"""

from __future__ import annotations

import math

from labctl.simulators.electrochem.constants import FARADAY, GAS_CONSTANT
from labctl.simulators.electrochem.state import CellState

__all__ = ["background_current", "oxidation_current_density", "safe_exp"]

_EXPONENT_CAP = 700.0


def safe_exp(exponent: float) -> float:
    """exp(x) with x capped at 700 (finite for every potential the model visits)."""
    return math.exp(min(exponent, _EXPONENT_CAP))


def oxidation_current_density(
    potential: float,
    limit: float,
    cutoff: float,
    transfer_coefficient: float,
    temperature: float,
) -> float:
    """SURROGATE electrolyte oxidation j_ox = j_cut·exp(αF(E − E_lim)/(RT)), A/m².

    Args:
        potential: E, V vs Li/Li⁺.
        limit: stability limit E_lim, V vs Li/Li⁺ (where j_ox = j_cut).
        cutoff: j_cut, A/m².
        transfer_coefficient: α.
        temperature: T, K.
    """
    slope = transfer_coefficient * FARADAY / (GAS_CONSTANT * temperature)
    return cutoff * safe_exp(slope * (potential - limit))


def background_current(potential: float, state: CellState) -> tuple[float, float]:
    """Sum of the background faradaic currents at interfacial potential E, and its dE-slope.

    Args:
        potential: E across the double layer, V vs Li/Li⁺.
        state: the cell's parameters.

    Returns:
        (i, di/dE): A and A/V; di/dE > 0 (every term rises with E).
    """
    f = FARADAY / (GAS_CONSTANT * state.temperature)
    area = state.electrode_area
    a_ox = state.oxidation_transfer_coefficient * f
    ox = state.oxidation_cutoff * safe_exp(a_ox * (potential - state.oxidation_limit))
    a_sub = state.substrate_transfer_coefficient * f
    sub = state.substrate_exchange_current * safe_exp(
        a_sub * (potential - state.substrate_oxidation_potential)
    )
    current = ox + sub
    slope = a_ox * ox + a_sub * sub
    if state.leakage_resistance > 0 and math.isfinite(state.leakage_resistance):
        current += (potential - state.rest_potential) / state.leakage_resistance
        slope += 1.0 / state.leakage_resistance
    if state.side_reduction_current > 0:
        a_red = state.side_reduction_transfer_coefficient * f
        red = state.side_reduction_current * safe_exp(
            -a_red * (potential - state.side_reduction_potential)
        )
        current -= red
        slope += a_red * red
    return current * area, slope * area
