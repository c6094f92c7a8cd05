"""Parameter sets for the cells the twins simulate (CellState overrides; SI units).

* :data:`LITHIUM_CARBONATE` — the :class:`~labctl.simulators.electrochem.state.CellState`
  defaults (Li metal on a 1.6 mm disk in 1 M LiPF6 EC:EMC 3:7 at 25 °C, potentials vs Li/Li⁺:
  D = 2.89e-10 m²/s and t₊ = 0.221 from Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079
  (2019); j0 = 1 mA/cm², α = 0.5, C_dl = 20 µF/cm², V_m = 1.3e-5 m³/mol, REFERENCES 2.3) plus
  the SURROGATE nucleation term of :mod:`~labctl.simulators.electrochem.nucleation`: b =
  (40 mV)², φ = 1e-3, κ = 0.5 — Li on Cu nucleates at tens of mV (Pei et al., Nano Lett. 17,
  1132 (2017); Yan et al., Nat. Energy 1, 16010 (2016)) [MEM], so the factor is ≈ 3.6 at
  1 mA/cm² DC and ≈ 1.06 at 10 mA/cm².
* :data:`ZINC_SULFATE` — Zn plating from 1 M aqueous ZnSO4 in a flowing droplet (the scanning
  droplet cell, REFERENCES 2.3 and 4; potentials vs Zn/Zn²⁺). Values [MEM], of the right size,
  not fitted: z = 2; V_m = 9.16e-6 m³/mol (65.38 g/mol / 7.14 g/cm³; 1 mAh/cm² = 1.71 µm);
  dilute-salt D = 8.47e-10 m²/s and t₊ = 0.40 (REFERENCES 2.3; measured t₊ 0.2–0.4 at 1–2 M);
  κ ≈ 4.6 S/m; j0 = 1 mA/cm²; δ = 50 µm, so J_lim ≈ 0.54 A/cm² (REFERENCES 2.3: ≈ 0.5); a 1 mm
  droplet contact. Hydrogen evolution is the reduction side reaction (Tafel, α = 0.5,
  1e-5 A/m² at +0.49 V vs Zn — the H⁺/H₂ potential at pH ≈ 4.5): ≈ 0.4 % of the charge at
  10 mA/cm², ≈ 3 % at 1 mA/cm², so the Coulombic efficiency lands in the 97–99.5 % REFERENCES 2.4
  asks for and falls at low current, as hydrogen evolution makes it. Water oxidation stands in
  for the electrolyte's oxidation (1 A/m² at 2.2 V vs Zn). At open circuit the same hydrogen
  evolution corrodes the deposit (≈ 0.014 mA/cm² at the Zn potential), so long rests cost charge.
  SEI loss 0.5 %, dead metal 10 % per unit dendrite index (SURROGATE). Nucleation (SURROGATE,
  REFERENCES 2.3): b = (70 mV)², φ = 1e-3, κ = 0.5 — Zn nucleates at ≈ 30–100 mV depending on
  the substrate [MEM]; the factor is ≈ 30 at 1 mA/cm² DC, ≈ 2 at 10 mA/cm², ≈ 1.2 at 100 mA/cm²,
  which is what makes pulsing matter for Zn far below its limiting current. Roughness
  (SURROGATE, :meth:`~labctl.simulators.electrochem.state.ElectrodeState.roughness`):
  ρ = 1 + 10·DI, so a deposit of index 0.1 doubles its electroactive area and its plating
  overpotential falls by ≈ (RT/(αzF))·ln 2 ≈ 18 mV — the signature the pulsed-charging reducer's
  dendrite proxy reads (the Li set leaves it off: there concentration polarisation dominates).
* :func:`site_parameters` — per-site substrate variation (seeded, smooth across the substrate).

Use: ``CellState(**ZINC_SULFATE)`` or, for a world cell, put the mapping (or part of it) in
``cell.properties["electrochem_parameters"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from labctl.simulators.electrochem.state import CellState

__all__ = ["LITHIUM_CARBONATE", "PRESETS", "SITE_SPREAD", "ZINC_SULFATE", "site_parameters"]

LITHIUM_CARBONATE: Mapping[str, Any] = MappingProxyType(
    {
        "nucleation_barrier": 1.6e-3,
        "nucleation_floor": 1e-3,
        "nucleation_exponent": 0.5,
    }
)
"""The CellState defaults plus the nucleation surrogate (see the module docstring)."""

ZINC_SULFATE: Mapping[str, Any] = MappingProxyType(
    {
        "electrode_area": 7.85e-7,
        "conductivity": 4.6,
        "metal_potential": 0.0,
        "metal_electrons": 2,
        "metal_molar_volume": 9.16e-6,
        "metal_exchange_current": 10.0,
        "salt_concentration": 1000.0,
        "salt_diffusivity": 8.47e-10,
        "transference_number": 0.40,
        "diffusion_layer": 50e-6,
        "redox_concentration": 0.0,
        "oxidation_limit": 2.2,
        "oxidation_cutoff": 1.0,
        "rest_potential": 0.8,
        "side_reduction_potential": 0.49,
        "side_reduction_current": 1e-5,
        "side_reduction_transfer_coefficient": 0.5,
        "sei_loss": 0.005,
        "dead_metal_loss": 0.1,
        "nucleation_barrier": 4.9e-3,
        "nucleation_floor": 1e-3,
        "nucleation_exponent": 0.5,
        "roughness_gain": 10.0,
    }
)
"""Zn in 1 M ZnSO4, flowing droplet (see the module docstring)."""

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"zinc-sulfate": ZINC_SULFATE, "lithium-carbonate": LITHIUM_CARBONATE}
)
"""Presets by the name configs use."""

SITE_SPREAD: Mapping[str, float] = MappingProxyType(
    {
        "nucleation_floor": 0.5,
        "metal_exchange_current": 0.15,
        "diffusion_layer": 0.1,
        "electrode_area": 0.1,
    }
)
"""Default log-normal spread (σ of ln x) of each varied parameter across a substrate."""

_WAVES = 4
_SMOOTH_SHARE = 0.8


def site_parameters(
    base: Mapping[str, Any],
    *,
    seed: int,
    row: int,
    column: int,
    spread: Mapping[str, float] | None = None,
    defaults: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """``base`` with the parameters of site (row, column) of a substrate varied, reproducibly.

    SURROGATE (REFERENCES 4 [SURR]): each varied parameter x becomes x·exp(σ·g(row, column)),
    g a standard-normal field that is smooth across the substrate (80 % of its variance from
    four seeded plane waves: a latent field like a sputtered film's thickness gradient) plus 20 %
    site-to-site scatter. Same seed, same site → the same numbers, in any process.

    Args:
        base: the preset (CellState field → value).
        seed: the substrate's seed.
        row: the site's row (0-based).
        column: the site's column (0-based).
        spread: parameter → σ (default :data:`SITE_SPREAD`); σ = 0 leaves it alone.
        defaults: values of varied parameters missing from ``base`` (the CellState defaults
            for the ones :data:`SITE_SPREAD` names are used when absent here too).

    Returns:
        A new mapping (``base`` is not changed).
    """
    chosen = SITE_SPREAD if spread is None else spread
    fallback = CellState()
    out = dict(base)
    for index, (name, sigma) in enumerate(sorted(chosen.items())):
        if sigma == 0:
            continue
        value = out.get(name)
        if value is None:
            value = (defaults or {}).get(name, getattr(fallback, name))
        waves = np.random.default_rng([seed, 1 + index, 0x5D1])
        wavenumbers = waves.uniform(0.05, 0.6, size=(_WAVES, 2))
        phases = waves.uniform(0.0, 2.0 * math.pi, size=_WAVES)
        smooth = math.sqrt(2.0 / _WAVES) * float(
            np.cos(wavenumbers[:, 0] * column + wavenumbers[:, 1] * row + phases).sum()
        )
        scatter = float(np.random.default_rng([seed, 1 + index, row, column]).normal())
        field = math.sqrt(_SMOOTH_SHARE) * smooth + math.sqrt(1.0 - _SMOOTH_SHARE) * scatter
        out[name] = float(value) * math.exp(sigma * field)
    return out
