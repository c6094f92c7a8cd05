"""Oxidative stability limit: a SURROGATE linear-sweep-voltammetry (LSV) current model.

No simple predictive model of the anodic stability of an electrolyte exists. This SURROGATE
captures only the monotonic trends that are reproducible in practice, and nothing else should be
read from it:

* the limit rises with salt concentration (fewer free, uncoordinated solvent molecules),
* it falls with a lower current cut-off j_cut,
* it falls when a component that oxidises at a lower potential is added.

Current density on a sweep at rate v (the curve a potentiostat twin draws for an LSV):

    j(E) = C_dl·v + Σᵢ xᵢ,free · j0 · exp(α f (E − E_ox,i)) + x_anion · j0 · exp(α f (E − E_ox,A))

with f = F/RT; xᵢ,free = xᵢ·max(0, 1 − N_s·m/n_solv) the free fraction of solvent i (xᵢ its
mole fraction among solvents, N_s the Li⁺ solvation number, m the molality, n_solv the moles of
solvent per kg); x_anion = m/(m + n_solv) the anion's share, which oxidises at E_ox,A. E_ox,i is
the potential at which the pure solvent would carry j0 = 1 mA/cm² on the stated electrode.
The stability limit is the E at which j(E) = j_cut; report it with j_cut and the electrode.

The E_ox values are illustrative (right order, vs Li/Li⁺ on Pt), not measurements. When all
solvent is coordinated ("solvent-in-salt", m ≥ n_solv/N_s ≈ 2.8 mol/kg) the anion term alone
sets the limit, and the monotonic rise with salt ends there.

Units (SI): potential V vs Li/Li⁺, current density A/m² (1 mA/cm² = 10 A/m²), sweep rate V/s,
capacitance F/m² (20 µF/cm² = 0.2 F/m²), temperature K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from labctl.errors import LabctlError, UnitError
from labctl.simulators.electrolyte.components import GAS_CONSTANT, solvent
from labctl.simulators.electrolyte.composition import Composition

__all__ = ["DEFAULT_STABILITY", "StabilityModel"]

FARADAY = 96485.33212
"""F, C/mol."""

FloatArray = npt.NDArray[np.float64]

_ILLUSTRATIVE_OXIDATION_POTENTIALS: dict[str, float] = {
    # Assumed ordering: cyclic (and fluorinated) carbonates oxidise later than linear ones.
    "EC": 5.5,
    "PC": 5.4,
    "FEC": 5.7,
    "DMC": 5.2,
    "EMC": 5.1,
    "DEC": 5.0,
}


@dataclass(frozen=True)
class StabilityModel:
    """SURROGATE LSV model of the oxidative stability limit (see the module docstring).

    Args:
        oxidation_potentials: solvent → E_ox, V vs Li/Li⁺ (illustrative values by default).
        anion_oxidation_potential: E_ox of the salt's anion (PF6⁻), V vs Li/Li⁺.
        exchange_current: j0, A/m² (current density of a pure component at its E_ox).
        transfer_coefficient: α (dimensionless).
        solvation_number: N_s, solvent molecules bound per Li⁺ (3–4).
        double_layer_capacitance: C_dl, F/m².
        electrode: the working electrode the limit refers to (reported with the limit).
    """

    oxidation_potentials: dict[str, float] = field(
        default_factory=lambda: dict(_ILLUSTRATIVE_OXIDATION_POTENTIALS)
    )
    anion_oxidation_potential: float = 6.0
    exchange_current: float = 10.0
    transfer_coefficient: float = 0.5
    solvation_number: float = 4.0
    double_layer_capacitance: float = 0.2
    electrode: str = "Pt"

    def free_solvent_fraction(self, composition: Composition) -> float:
        """Fraction of solvent molecules not bound to Li⁺, max(0, 1 − N_s·m/n_solv)."""
        solvent_moles = math.fsum(
            w / solvent(name).molar_mass for name, w in composition.solvent_fractions.items()
        )
        return max(0.0, 1.0 - self.solvation_number * composition.molality / solvent_moles)

    def current_density(
        self,
        composition: Composition,
        potential: npt.ArrayLike,
        temperature: float,
        sweep_rate: float = 1e-3,
    ) -> FloatArray:
        """SURROGATE LSV current density j(E), A/m² (capacitive plus oxidation currents).

        Args:
            composition: the electrolyte.
            potential: E, V vs Li/Li⁺ (scalar or array: the sweep).
            temperature: T, K.
            sweep_rate: v, V/s (> 0).

        Returns:
            j with the shape of ``potential`` (0-d for a scalar), A/m².

        Raises:
            UnitError: a solvent has no oxidation potential in this model.
        """
        e = np.asarray(potential, dtype=np.float64)
        slope = self.transfer_coefficient * FARADAY / (GAS_CONSTANT * temperature)
        mole_fractions = composition.solvent_mole_fractions()
        free = self.free_solvent_fraction(composition)
        solvent_moles = math.fsum(
            w / solvent(name).molar_mass for name, w in composition.solvent_fractions.items()
        )
        anion_share = composition.molality / (composition.molality + solvent_moles)
        current = np.full_like(e, self.double_layer_capacitance * sweep_rate)
        for name, x in mole_fractions.items():
            if name not in self.oxidation_potentials:
                known = ", ".join(self.oxidation_potentials)
                raise UnitError(name, f"a solvent with an oxidation potential ({known})", "none")
            onset = self.oxidation_potentials[name]
            current += x * free * self.exchange_current * np.exp(slope * (e - onset))
        anion_onset = self.anion_oxidation_potential
        current += anion_share * self.exchange_current * np.exp(slope * (e - anion_onset))
        result: FloatArray = current
        return result

    def stability_limit(
        self,
        composition: Composition,
        temperature: float,
        current_cutoff: float = 1.0,
        sweep_rate: float = 1e-3,
    ) -> float:
        """SURROGATE oxidative stability limit: the E where j(E) = j_cut, V vs Li/Li⁺.

        j(E) rises strictly with E, so the root is unique; it is found by bisection on ln j.

        Args:
            composition: the electrolyte.
            temperature: T, K.
            current_cutoff: j_cut, A/m² (default 1 A/m² = 0.1 mA/cm²).
            sweep_rate: v, V/s.

        Raises:
            LabctlError: j_cut is not above the capacitive current C_dl·v (no faradaic onset
                can be defined), or no root lies in 0–10 V.
        """
        capacitive = self.double_layer_capacitance * sweep_rate
        if not current_cutoff > capacitive:
            raise LabctlError(
                f"current cut-off {current_cutoff:g} A/m² is not above the capacitive current "
                f"{capacitive:g} A/m² at {sweep_rate:g} V/s: choose a larger cut-off"
            )
        low, high = 0.0, 10.0

        def excess(e: float) -> float:
            j = float(self.current_density(composition, e, temperature, sweep_rate))
            return math.log(j) - math.log(current_cutoff)

        if excess(low) > 0 or excess(high) < 0:
            raise LabctlError(f"no stability limit between {low} and {high} V vs Li/Li+")
        # 50 halvings of a 10 V bracket: below 1e-14 V, far finer than the model means.
        for _ in range(50):
            middle = 0.5 * (low + high)
            if excess(middle) > 0:
                high = middle
            else:
                low = middle
        return 0.5 * (low + high)


DEFAULT_STABILITY = StabilityModel()
"""The SURROGATE with illustrative oxidation potentials, on Pt."""
