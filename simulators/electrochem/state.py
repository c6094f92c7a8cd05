"""The electrochemical state of one cell: its parameters and its electrode's memory.

:class:`CellState` holds every parameter the model reads, in SI units, with defaults that describe
a 1.6 mm disk working electrode (0.02 cm²) in 1 M LiPF6 in EC:EMC 3:7 (w:w) at 25 °C facing a
lithium counter/reference electrode (potentials are V vs Li/Li⁺):

* electrolyte — conductivity κ and the oxidative stability limit as the electrolyte model
  (:mod:`labctl.simulators.electrolyte.model`) gives them for that composition (κ = 0.9189 S/m,
  limit 5.027 V at 1 A/m² on Pt); salt diffusivity and cation transference number from
  Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079 (2019) at 1 mol/L, 298.15 K
  (D = 2.892e-10 m²/s, t₊ = 0.2209; REFERENCES 2.1 quotes 2.89e-10 and 0.221);
* lithium metal kinetics — j0 = 1 mA/cm², α = 0.5, C_dl = 20 µF/cm², V_m = 1.3e-5 m³/mol
  (REFERENCES 2.3, textbook ranges);
* a one-electron redox probe (ferrocene-like, E°′ = 3.25 V vs Li/Li⁺, 1 mM, D = 1e-9 m²/s,
  Nernstian) for cyclic voltammetry — only in a directly built state: a world cell has none unless
  its parameters say so (see :func:`labctl.simulators.electrochem.response.cell_state`);
* an inert substrate (Pt-like: no metal plated at first, no oxidation of its own; a copper one
  sets ``substrate_exchange_current`` = 10 A/m² at ``substrate_oxidation_potential`` 3.5 V)
  resting at 3.0 V vs Li/Li⁺.

The small disk keeps the reversible CV of the 1 mM probe close to ideal (iR drop i_p·R_s ≈ 0.6 mV
at 0.1 V/s with R_s = K_cell/κ = 109 Ω): ΔE_p 59–60 mV up to 0.1 V/s, 64 mV at 1 V/s.

:class:`ElectrodeState` is the mutable memory that persists from one technique to the next (plated
metal, the salt's diffusion-mode amplitudes, the double-layer potential, the dendrite and a short).
A :class:`CellState` carries one; a world cell keeps its own in ``cell.properties["electrochem"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from labctl.simulators.electrochem.constants import FARADAY
from labctl.simulators.electrochem.impedance import charge_transfer_resistance
from labctl.simulators.electrochem.nucleation import nucleation_factor

__all__ = ["CellState", "ElectrodeState"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class ElectrodeState:
    """What the electrode remembers between techniques (mutated by the model).

    Args:
        plated_charge: active (strippable) metal on the electrode, C (≥ 0).
        deposited_charge: charge plated into the present deposit since the electrode was last
            bare, C (sets the deposit thickness of the dendrite index).
        lost_charge: cumulative charge lost to SEI, dead metal and side reactions, C.
        dendrite_length: excess tip length L_d of the SURROGATE dendrite model, m.
        shorted: a dendrite has reached the counter electrode (the cell is a resistor).
        interfacial_potential: potential across the double layer, V vs Li/Li⁺ (``None``: at rest,
            the open-circuit value).
        flux: cation flux consumed at the electrode of the steady profile the modes refer to,
            mol/(m²·s) (plating positive).
        modes: amplitudes aₙ of the salt's diffusion modes cos(kₙx), mol/m³ (empty: uniform).
        elapsed: time the model has run this electrode, s.
        contents_key: fingerprint of the electrolyte the diffusion modes belong to (a refill
            resets them).
        probe_history: the redox probe's past current steps (start s, end s, current A — three
            arrays on the ``elapsed`` clock) while a potentiostatic run may still be continued.
        probe_potential: the last applied potential of that run, V.
        nucleation_overpotential: the highest nucleation overpotential the present deposit has
            seen, V (sets its nucleus density, :mod:`~labctl.simulators.electrochem.nucleation`;
            0 on a bare electrode).
    """

    plated_charge: float = 0.0
    deposited_charge: float = 0.0
    lost_charge: float = 0.0
    dendrite_length: float = 0.0
    shorted: bool = False
    interfacial_potential: float | None = None
    flux: float = 0.0
    modes: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    elapsed: float = 0.0
    contents_key: object = None
    probe_history: tuple[FloatArray, FloatArray, FloatArray] | None = field(
        default=None, repr=False
    )
    probe_potential: float = math.nan
    nucleation_overpotential: float = 0.0

    def roughness(self, state: CellState) -> float:
        """SURROGATE roughness factor ρ = 1 + k_ρ·DI: electroactive over geometric area (≥ 1).

        A dendritic or mossy deposit offers more surface to the metal couple than the flat
        electrode it grew on, so the same current needs less charge-transfer overpotential as the
        deposit roughens: the plating overpotential *falls* during galvanostatic growth (Wood et
        al., ACS Cent. Sci. 2, 790 (2016), operando microscopy of Li beside its voltage trace;
        Bai et al., Energy Environ. Sci. 9, 3221 (2016): mossy growth lowers the overpotential
        before Sand's time) [MEM]. Not a published model: the area is taken to grow linearly
        with the dendrite index (k_ρ = ``roughness_gain``), declared accuracy "trends only". It
        scales the exchange current of the metal couple (:class:`~labctl.simulators.
        electrochem.plating.MetalInterface`) and nothing else — the dendrite index itself does
        not depend on it — so a measured potential carries the index's signature.
        """
        if state.roughness_gain == 0:
            return 1.0
        return 1.0 + state.roughness_gain * self.dendrite_index(state)

    def reset_transport(self) -> None:
        """Forget the concentration profiles (fresh, uniform electrolyte)."""
        self.flux = 0.0
        self.modes = np.zeros(0)
        self.probe_history = None

    def forget_probe(self) -> None:
        """Let the redox probe's diffusion layer relax (a quiet time before the next run)."""
        self.probe_history = None

    def surface_concentration(self, state: CellState) -> float:
        """Salt concentration at the electrode, mol/m³: c_s = c0 − Nδ/D + Σ aₙ (REFERENCES 2.2)."""
        steady = (
            state.salt_concentration - self.flux * state.diffusion_layer / state.salt_diffusivity
        )
        return float(steady + (self.modes.sum() if self.modes.size else 0.0))

    def dendrite_index(self, state: CellState) -> float:
        """SURROGATE dendrite index DI = (L_d/h_deposit)·(N_ref/N_nuc)^κ (REFERENCES 2.4).

        Dimensionless, 0 on a bare electrode; the nucleation factor is
        :func:`labctl.simulators.electrochem.nucleation.nucleation_factor` (1 with the default
        κ = 0).
        """
        thickness = state.deposit_thickness(self.deposited_charge)
        if thickness <= 0:
            return 0.0
        return (
            self.dendrite_length
            / thickness
            * nucleation_factor(state, self.nucleation_overpotential)
        )


@dataclass
class CellState:
    """Parameters of the model for one cell, SI units (see the module docstring for defaults).

    Args:
        temperature: T, K.
        electrode_area: working-electrode area A, m² (0.02 cm² = 2e-6 m²).
        cell_constant: K_cell = length/area, 1/m (1 cm⁻¹ = 100 m⁻¹).
        conductivity: electrolyte conductivity κ, S/m.
        inductance: stray series inductance L, H (the Randles model's jωL).
        double_layer_capacitance: C_dl, F/m² (20 µF/cm² = 0.2 F/m²).
        dry: no electrolyte: the cell is an open circuit.
        open_circuit_resistance: resistance of a dry cell, Ω.
        stray_capacitance: capacitance across a dry cell, F.
        noise: noise scale (0: noiseless and exactly reproducible; 1: the nominal noise).
        redox_potential: formal potential E°′ of the redox probe, V.
        redox_concentration: bulk concentration of the probe's reduced form, mol/m³ (1 mM = 1).
        redox_diffusivity: D of both forms of the probe, m²/s.
        redox_electrons: n of the probe.
        redox_rate_constant: standard rate constant k0, m/s (``None``: Nernstian, reversible).
        redox_transfer_coefficient: α of the probe (cathodic).
        oxidation_limit: electrolyte's oxidative stability limit, V (where j_ox = cutoff).
        oxidation_cutoff: the current density defining that limit, A/m².
        oxidation_transfer_coefficient: α of the Tafel oxidation current.
        metal_potential: standard potential of the metal couple, V (0 for Li vs Li/Li⁺).
        metal_exchange_current: exchange current density j0 at the bulk concentration, A/m².
        metal_transfer_coefficient: cathodic α of the metal couple (anodic 1 − α).
        metal_electrons: z of the metal ion.
        metal_molar_volume: V_m of the metal, m³/mol.
        metal_charge: metal on a fresh electrode, C (0: a bare substrate; large: metal foil).
        salt_concentration: bulk salt concentration c0, mol/m³.
        salt_diffusivity: ambipolar salt diffusivity D, m²/s.
        transference_number: cation transference number t₊ (may be negative; never clipped).
        diffusion_layer: Nernst layer thickness δ, m.
        diffusion_modes: number of modes of the diffusion solver.
        substrate_oxidation_potential: potential at which the bare substrate carries
            ``substrate_exchange_current``, V (Cu ≈ 3.5 V vs Li/Li⁺).
        substrate_exchange_current: A/m² (0: an inert substrate).
        substrate_transfer_coefficient: α of the substrate's Tafel oxidation.
        rest_potential: open-circuit potential of the bare substrate, V.
        leakage_resistance: area-specific resistance of the slow side reactions that set the
            bare electrode's rest potential, Ω·m².
        side_reduction_potential: potential at which a reduction side reaction (hydrogen
            evolution for Zn) carries ``side_reduction_current``, V.
        side_reduction_current: its current density there, A/m² (0: none).
        side_reduction_transfer_coefficient: its α (Tafel slope RT/(αF)).
        tip_amplification_max: A_max of the SURROGATE dendrite model.
        sei_loss: ε_SEI, fraction of plated charge lost to SEI on a smooth deposit.
        sei_area_factor: k_A, growth of the SEI loss with the dendrite index.
        dead_metal_loss: ε_dead, fraction lost as dead metal per unit dendrite index.
        nucleation_barrier: b of the SURROGATE nucleation density N0·exp(−b/η²), V².
        nucleation_floor: N_min/N0, the share of nucleation sites the substrate offers at any
            overpotential (defects; bounds the nucleation factor by (N0/N_min)^κ).
        nucleation_exponent: κ of the nucleation factor (N_ref/N_nuc)^κ (0: no nucleation
            effect, the default).
        roughness_gain: k_ρ of the SURROGATE roughness factor ρ = 1 + k_ρ·DI, the deposit's
            electroactive area over the geometric one (0: a flat electrode, the default; see
            :meth:`ElectrodeState.roughness`).
        electrode_gap: distance to the counter electrode, m (a dendrite this long shorts).
        short_resistance: resistance of a shorted cell, Ω.
        default_compliance: largest |cell voltage| when a technique gives no compliance, V.
        electrode: the persistent memory of the electrode (see :class:`ElectrodeState`).
    """

    temperature: float = 298.15
    electrode_area: float = 2.0e-6
    cell_constant: float = 100.0
    conductivity: float = 0.9188525499734028
    inductance: float = 0.0
    double_layer_capacitance: float = 0.2
    dry: bool = False
    open_circuit_resistance: float = 1e12
    stray_capacitance: float = 1e-12
    noise: float = 1.0
    redox_potential: float = 3.25
    redox_concentration: float = 1.0
    redox_diffusivity: float = 1e-9
    redox_electrons: int = 1
    redox_rate_constant: float | None = None
    redox_transfer_coefficient: float = 0.5
    oxidation_limit: float = 5.0269277071912155
    oxidation_cutoff: float = 0.9998
    oxidation_transfer_coefficient: float = 0.5
    metal_potential: float = 0.0
    metal_exchange_current: float = 10.0
    metal_transfer_coefficient: float = 0.5
    metal_electrons: int = 1
    metal_molar_volume: float = 1.3e-5
    metal_charge: float = 0.0
    salt_concentration: float = 1000.0
    salt_diffusivity: float = 2.89224775016992e-10
    transference_number: float = 0.22091281149999986
    diffusion_layer: float = 2.5e-4
    diffusion_modes: int = 400
    substrate_oxidation_potential: float = 3.5
    substrate_exchange_current: float = 0.0
    substrate_transfer_coefficient: float = 0.5
    rest_potential: float = 3.0
    leakage_resistance: float = 1000.0
    side_reduction_potential: float = -1.0
    side_reduction_current: float = 0.0
    side_reduction_transfer_coefficient: float = 0.5
    tip_amplification_max: float = 10.0
    sei_loss: float = 0.05
    sei_area_factor: float = 1.0
    dead_metal_loss: float = 0.1
    nucleation_barrier: float = 0.0
    nucleation_floor: float = 1e-3
    nucleation_exponent: float = 0.0
    roughness_gain: float = 0.0
    electrode_gap: float = 1e-4
    short_resistance: float = 0.5
    default_compliance: float = 10.0
    electrode: ElectrodeState | None = None

    def __post_init__(self) -> None:
        if self.electrode is None:
            self.electrode = ElectrodeState(plated_charge=self.metal_charge)
        if not (self.temperature > 0 and self.electrode_area > 0 and self.cell_constant > 0):
            raise ValueError("temperature, electrode_area and cell_constant must be > 0")
        if not (self.conductivity > 0 and self.salt_diffusivity > 0 and self.diffusion_layer > 0):
            raise ValueError("conductivity, salt_diffusivity and diffusion_layer must be > 0")
        if self.diffusion_modes < 1:
            raise ValueError("diffusion_modes must be ≥ 1")
        if not (self.metal_exchange_current > 0 and self.double_layer_capacitance >= 0):
            raise ValueError("metal_exchange_current must be > 0, double_layer_capacitance ≥ 0")
        if not (self.noise >= 0 and self.salt_concentration > 0):
            raise ValueError("noise must be ≥ 0 and salt_concentration > 0")

    @property
    def memory(self) -> ElectrodeState:
        """The electrode's persistent state (never ``None`` after construction)."""
        if self.electrode is None:
            self.electrode = ElectrodeState(plated_charge=self.metal_charge)
        return self.electrode

    @property
    def solution_resistance(self) -> float:
        """R_s = K_cell/κ, Ω (REFERENCES 1.3)."""
        return self.cell_constant / self.conductivity

    @property
    def capacitance(self) -> float:
        """Double-layer capacitance of the electrode, C_dl·A, F."""
        return self.double_layer_capacitance * self.electrode_area

    @property
    def charge_transfer_resistance(self) -> float:
        """R_ct = RT/(zF·j0·A) of the metal couple, Ω."""
        return charge_transfer_resistance(
            self.metal_exchange_current,
            self.electrode_area,
            self.temperature,
            self.metal_electrons,
        )

    @property
    def limiting_current_density(self) -> float:
        """J_lim = zFDc0/((1 − t₊)δ), A/m² (REFERENCES 2.1); ``inf`` when t₊ ≥ 1."""
        denominator = (1.0 - self.transference_number) * self.diffusion_layer
        if denominator <= 0:
            return math.inf
        return (
            self.metal_electrons
            * FARADAY
            * self.salt_diffusivity
            * self.salt_concentration
            / denominator
        )

    def deposit_thickness(self, charge: float) -> float:
        """Thickness of a compact deposit of ``charge`` (C) on the electrode, m."""
        return (
            self.metal_molar_volume
            * charge
            / (self.metal_electrons * FARADAY * self.electrode_area)
        )
