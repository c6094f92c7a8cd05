"""The formulation campaign's true objectives, vectorised: dense sampling of the twin's front.

A campaign measures conductivity (fitted from an EIS), the oxidative stability limit (from an LSV)
and computes the material cost; the twins draw those measurements from
:func:`labctl.simulators.electrolyte.model.electrolyte_properties` of what is in the cell. To
judge a campaign one needs the *true* Pareto front of those properties over the search space,
which only dense sampling gives — millions of compositions, far too many for the scalar model
(its stability limit is a 50-step bisection per composition). This module evaluates the same
three quantities on arrays:

* conductivity κ — the calibrated Casteel–Amis surrogate (:mod:`.mixing`), whose per-blend
  parameters come from the scalar code and which is already vectorised in molality;
* stability limit — the closed form of the SURROGATE LSV model of :mod:`.stability`: every term
  of j(E) grows as exp(αfE) with the same slope αf = αF/(RT), so j(E) = C_dl·v + A·exp(αfE) with
  A = j0·[Σᵢ xᵢ,free·exp(−αf·E_ox,i) + x_anion·exp(−αf·E_ox,A)], and j(E_lim) = j_cut gives
  E_lim = ln((j_cut − C_dl·v)/A)/(αf) — the root the scalar bisection converges to;
* cost per kg of electrolyte — Σ mᵢ·priceᵢ over the solution's mass fractions, as
  :meth:`.cost.PriceTable.cost` computes it: (m·M_salt·p_salt + Σ wⱼ pⱼ)/(1 + m·M_salt).

The tests check these against :func:`~labctl.simulators.electrolyte.model.electrolyte_properties`
point by point. Whether a blend is liquid is not an objective and not returned (the twins
measure a supercooled blend like any other).

Units: molality mol/kg, mass fractions dimensionless, temperature K, κ S/m, E V vs Li/Li⁺,
cost in the price table's currency per kg of electrolyte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labctl.errors import UnitError
from labctl.simulators.electrolyte.components import GAS_CONSTANT, SALTS, solvent
from labctl.simulators.electrolyte.composition import mass_to_mole_fractions, validate_fractions
from labctl.simulators.electrolyte.cost import PriceTable
from labctl.simulators.electrolyte.mixing import DEFAULT_SURROGATE, CasteelAmisSurrogate
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY, FARADAY, StabilityModel

__all__ = ["TrueObjectives", "blend_grid", "blend_objectives", "dense_objectives"]

FloatArray = npt.NDArray[np.float64]

STABILITY_SWEEP_RATE = 1e-3
"""V/s: the sweep rate at which the model's ``stability_limit`` is defined (its default)."""


@dataclass(frozen=True)
class TrueObjectives:
    """True objective values at ``n`` formulations.

    Args:
        molality: salt molality, mol/kg (``n``).
        fractions: solvent mass fractions of the salt-free blend (``n × len(solvents)``).
        solvents: the solvents, in the columns' order.
        conductivity: κ, S/m (``n``).
        stability_limit: V vs Li/Li⁺ (``n``).
        cost: currency per kg of electrolyte (``n``).
    """

    molality: FloatArray
    fractions: FloatArray
    solvents: tuple[str, ...]
    conductivity: FloatArray
    stability_limit: FloatArray
    cost: FloatArray

    def __len__(self) -> int:
        return len(self.molality)


def blend_objectives(
    molality: npt.ArrayLike,
    solvent_fractions: Mapping[str, float],
    temperature: float,
    prices: PriceTable,
    *,
    salt: str = "LiPF6",
    surrogate: CasteelAmisSurrogate = DEFAULT_SURROGATE,
    stability: StabilityModel = DEFAULT_STABILITY,
    stability_cutoff: float = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """κ (S/m), stability limit (V) and cost (per kg) of one blend at many molalities.

    Args:
        molality: m, mol/kg (≥ 0; scalar or 1-d array).
        solvent_fractions: solvent → mass fraction of the salt-free blend.
        temperature: T, K.
        prices: the price table (every component of the blend and the salt priced).
        salt: the salt.
        surrogate: the conductivity mixing rule (the twins' default).
        stability: the LSV model (the twins' default).
        stability_cutoff: j_cut, A/m² (the model's default 1 A/m² = 0.1 mA/cm²).

    Raises:
        UnitError: a negative molality, bad fractions, or a solvent without an oxidation
            potential.
        LabctlError: a component has no price.
    """
    m = np.atleast_1d(np.asarray(molality, dtype=np.float64))
    if (m < 0).any() or not np.isfinite(m).all():
        raise UnitError(float(m.min()), "molalities ≥ 0 in mol/kg", "negative or not finite")
    fractions = validate_fractions(solvent_fractions)
    kappa = np.atleast_1d(surrogate.conductivity(m, fractions, temperature))

    slope = stability.transfer_coefficient * FARADAY / (GAS_CONSTANT * temperature)
    solvent_moles = math.fsum(w / solvent(name).molar_mass for name, w in fractions.items())
    weight = 0.0
    for name, x in mass_to_mole_fractions(fractions).items():
        if name not in stability.oxidation_potentials:
            known = ", ".join(stability.oxidation_potentials)
            raise UnitError(name, f"a solvent with an oxidation potential ({known})", "none")
        weight += x * math.exp(-slope * stability.oxidation_potentials[name])
    free = np.maximum(0.0, 1.0 - stability.solvation_number * m / solvent_moles)
    anion = m / (m + solvent_moles)
    prefactor = stability.exchange_current * (
        free * weight + anion * math.exp(-slope * stability.anion_oxidation_potential)
    )
    faradaic = stability_cutoff - stability.double_layer_capacitance * STABILITY_SWEEP_RATE
    limit = (math.log(faradaic) - np.log(prefactor)) / slope

    salt_mass = m * SALTS[salt].molar_mass  # kg of salt per kg of solvent
    solvent_price = math.fsum(w * prices.price(name) for name, w in fractions.items())
    cost = (salt_mass * prices.price(salt) + solvent_price) / (1.0 + salt_mass)
    return kappa, limit, cost


def blend_grid(bounds: Mapping[str, tuple[float, float]], step: float) -> FloatArray:
    """Every blend of three solvents on a mass-fraction lattice of ``step``, within ``bounds``.

    The first two fractions run from their lower bounds in steps of ``step`` up to their upper
    bounds (a bound with low = high pins that fraction: a face of the space); the third is 1
    minus them and must fall inside its own bounds (within 1e-12).

    Args:
        bounds: exactly three solvents → (low, high) mass fraction.
        step: lattice spacing (0 < step ≤ 0.5).

    Returns:
        ``n × 3`` mass fractions in the order of ``bounds``, rows summing to 1.

    Raises:
        UnitError: not three solvents, a bad step, or bounds that leave no blend.
    """
    if len(bounds) != 3:
        raise UnitError(dict(bounds), "bounds of exactly three solvents", f"{len(bounds)} given")
    if not 0 < step <= 0.5:
        raise UnitError(step, "a lattice step in (0, 0.5]", "out of range")
    (low0, high0), (low1, high1), (low2, high2) = bounds.values()

    def axis(low: float, high: float) -> FloatArray:
        if not 0 <= low <= high <= 1:
            raise UnitError((low, high), "bounds 0 ≤ low ≤ high ≤ 1", "out of order or range")
        count = math.floor((high - low) / step + 1e-9)
        return low + np.arange(count + 1, dtype=np.float64) * step

    grid_a, grid_b = np.meshgrid(axis(low0, high0), axis(low1, high1), indexing="ij")
    a, b = grid_a.ravel(), grid_b.ravel()
    c = 1.0 - a - b
    keep = (c >= low2 - 1e-12) & (c <= high2 + 1e-12)
    if not keep.any():
        raise UnitError(dict(bounds), "bounds that admit a blend summing to 1", "none on the grid")
    return np.column_stack([a[keep], b[keep], np.clip(c[keep], 0.0, 1.0)])


def dense_objectives(
    molality_range: tuple[float, float],
    bounds: Mapping[str, tuple[float, float]],
    temperature: float,
    prices: PriceTable,
    *,
    blend_step: float,
    molality_points: int,
    salt: str = "LiPF6",
) -> TrueObjectives:
    """The true objectives on a full lattice: :func:`blend_grid` × evenly spaced molalities.

    Args:
        molality_range: (low, high) salt molality, mol/kg.
        bounds: three solvents → (low, high) mass fraction.
        temperature: T, K.
        prices: the price table.
        blend_step: the blend lattice's spacing (mass fraction).
        molality_points: molalities from low to high inclusive (≥ 2).
        salt: the salt.

    Returns:
        ``len(blends) × molality_points`` formulations and their true objectives.
    """
    if molality_points < 2:
        raise UnitError(molality_points, "at least 2 molality points", "too few")
    low, high = molality_range
    molalities = np.linspace(low, high, molality_points)
    blends = blend_grid(bounds, blend_step)
    names: Sequence[str] = tuple(bounds)
    kappa = np.empty((len(blends), molality_points))
    limit = np.empty_like(kappa)
    cost = np.empty_like(kappa)
    for row, blend in enumerate(blends):
        fractions = {name: float(w) for name, w in zip(names, blend, strict=True) if w > 0}
        kappa[row], limit[row], cost[row] = blend_objectives(
            molalities, fractions, temperature, prices, salt=salt
        )
    return TrueObjectives(
        molality=np.tile(molalities, len(blends)),
        fractions=np.repeat(blends, molality_points, axis=0),
        solvents=tuple(names),
        conductivity=kappa.ravel(),
        stability_limit=limit.ravel(),
        cost=cost.ravel(),
    )
