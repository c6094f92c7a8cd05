"""Parameter sets for the cells the twins simulate (CellState overrides; SI units).

* :data:`LITHIUM_CARBONATE` — the :class:`~labctl.simulators.electrochem.state.CellState`
  defaults: Li metal on a 1.6 mm disk in 1 M LiPF6 EC:EMC 3:7 at 25 °C (potentials vs Li/Li⁺).
* :data:`ZINC_SULFATE` — Zn plating from 1 M aqueous ZnSO4 in a flowing droplet (the scanning
  droplet cell, REFERENCES 2.3 and 4; potentials vs Zn/Zn²⁺). Values [MEM], of the right size,
  not fitted: z = 2; V_m = 9.16e-6 m³/mol (65.38 g/mol / 7.14 g/cm³; 1 mAh/cm² = 1.71 µm);
  dilute-salt D = 8.47e-10 m²/s and t₊ = 0.40 (REFERENCES 2.3; measured t₊ 0.2–0.4 at 1–2 M);
  κ ≈ 4.6 S/m; j0 = 1 mA/cm²; δ = 50 µm, so J_lim ≈ 0.54 A/cm² (REFERENCES 2.3: ≈ 0.5); a 1 mm
  droplet contact. Hydrogen evolution is the reduction side reaction (Tafel, α = 0.5,
  1e-5 A/m² at +0.49 V vs Zn — the H⁺/H₂ potential at pH ≈ 4.5): ≈ 0.4 % of the charge at
  10 mA/cm², ≈ 3 % at 1 mA/cm², so the Coulombic efficiency lands in the 97–99.5 % REFERENCES 2.4
  asks for and falls at low current, as hydrogen evolution makes it. Water oxidation stands in
  for the electrolyte's oxidation (1 A/m² at 2.2 V vs Zn). SEI loss 0.5 %, dead metal 2 % per
  unit dendrite index (SURROGATE). No nucleation model (REFERENCES 2.3's N_nuc term is absent).

Use: ``CellState(**ZINC_SULFATE)`` or, for a world cell, put the mapping (or part of it) in
``cell.properties["electrochem_parameters"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["LITHIUM_CARBONATE", "ZINC_SULFATE"]

LITHIUM_CARBONATE: Mapping[str, Any] = MappingProxyType({})
"""The CellState defaults (no overrides)."""

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
        "dead_metal_loss": 0.02,
    }
)
"""Zn in 1 M ZnSO4, flowing droplet (see the module docstring)."""
