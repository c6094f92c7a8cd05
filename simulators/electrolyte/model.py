"""The electrolyte property model the twins call: one composition and temperature in, SI out.

:func:`electrolyte_properties` (or :class:`ElectrolyteModel` for non-default parameters) combines

* conductivity — the SURROGATE Casteel–Amis mixing rule of :mod:`.mixing`, calibrated on
  Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079 (2019); ±10–15 % inside the
  calibration hull;
* viscosity — the SURROGATE of :mod:`.viscosity` (Grunberg–Nissan blend viscosity raised by the
  Valøen & Reimers (2005) diffusivity ratio); ±30 %;
* oxidative stability limit — the SURROGATE LSV model of :mod:`.stability` (trends only);
* density, molarity — the stated density model of :mod:`.composition`;
* cost per kg of electrolyte — from a price table passed in (:mod:`.cost`);
* whether it is a liquid — the ideal-solubility liquidus of :mod:`.mixing` (a constraint).

A result is flagged ``extrapolated`` (with the reasons) outside 263.15–323.15 K, outside
0.1–2 mol/L, or farther than 0.02 (mass fraction) from the calibration hull.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labctl.simulators.electrolyte.calibration import hull_distance
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.cost import PriceTable
from labctl.simulators.electrolyte.landesfeind import (
    FIT_CONCENTRATION_RANGE,
    FIT_TEMPERATURE_RANGE,
)
from labctl.simulators.electrolyte.mixing import (
    DEFAULT_SURROGATE,
    CasteelAmisSurrogate,
    liquidus_temperature,
)
from labctl.simulators.electrolyte.stability import DEFAULT_STABILITY, StabilityModel
from labctl.simulators.electrolyte.viscosity import VISCOSITY_EXPONENT, carbonate_viscosity

__all__ = ["ElectrolyteModel", "ElectrolyteProperties", "electrolyte_properties"]

HULL_TOLERANCE = 0.02
"""Distance (mass fraction) from the calibration hull beyond which a blend is extrapolated."""


@dataclass(frozen=True)
class ElectrolyteProperties:
    """Properties of one electrolyte at one temperature, as SI floats.

    Args:
        temperature: T, K.
        molality: salt molality, mol/kg of solvent.
        molarity: salt concentration, mol/m³ (1 mol/L = 1000 mol/m³).
        density: kg/m³.
        conductivity: ionic conductivity κ, S/m (SURROGATE).
        viscosity: dynamic viscosity η, Pa·s (SURROGATE).
        stability_limit: oxidative stability limit, V vs Li/Li⁺ (SURROGATE), at
            ``stability_cutoff`` on ``stability_electrode``.
        stability_cutoff: the current density j_cut defining the limit, A/m².
        stability_electrode: the electrode the limit refers to.
        cost: material cost per kg of electrolyte, in ``currency`` (None without a price table).
        currency: the price table's currency ("" without one).
        is_liquid: whether it is above its liquidus (a constraint; properties of a solid are
            those of the supercooled liquid).
        liquidus_temperature: K.
        extrapolated: True when any model is used outside its calibration range.
        extrapolation_reasons: why, in words (empty when not extrapolated).
    """

    temperature: float
    molality: float
    molarity: float
    density: float
    conductivity: float
    viscosity: float
    stability_limit: float
    stability_cutoff: float
    stability_electrode: str
    cost: float | None
    currency: str
    is_liquid: bool
    liquidus_temperature: float
    extrapolated: bool
    extrapolation_reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ElectrolyteModel:
    """The property model with its parameters (the defaults are the calibrated ones).

    Args:
        surrogate: conductivity mixing rule.
        stability: LSV stability model.
        prices: price table for the cost (None: cost is not computed).
        viscosity_exponent: β of the viscosity surrogate.
        stability_cutoff: j_cut, A/m² (default 1 A/m² = 0.1 mA/cm²).
    """

    surrogate: CasteelAmisSurrogate = DEFAULT_SURROGATE
    stability: StabilityModel = DEFAULT_STABILITY
    prices: PriceTable | None = None
    viscosity_exponent: float = VISCOSITY_EXPONENT
    stability_cutoff: float = 1.0

    def properties(self, composition: Composition, temperature: float) -> ElectrolyteProperties:
        """Every property of ``composition`` at ``temperature`` (K), as SI floats.

        Raises:
            UnitError: an invalid temperature or composition.
            LabctlError: a component has no price in the price table.
        """
        fractions = composition.solvent_fractions
        molarity = composition.molarity(temperature)
        reasons = []
        t_low, t_high = FIT_TEMPERATURE_RANGE
        if not t_low <= temperature <= t_high:
            reasons.append(f"temperature {temperature:.2f} K outside {t_low}–{t_high} K")
        c_low, c_high = FIT_CONCENTRATION_RANGE
        if not c_low <= molarity <= c_high:
            reasons.append(f"concentration {molarity:.3g} mol/L outside {c_low}–{c_high} mol/L")
        distance = hull_distance(fractions)
        if distance > HULL_TOLERANCE:
            reasons.append(f"solvent blend {distance:.3f} (mass fraction) from calibration hull")
        liquidus = liquidus_temperature(composition)
        cost = None
        if self.prices is not None:
            cost = self.prices.cost(composition.mass_fractions())
        return ElectrolyteProperties(
            temperature=temperature,
            molality=composition.molality,
            molarity=molarity * 1000.0,
            density=composition.density(temperature),
            conductivity=float(
                self.surrogate.conductivity(composition.molality, fractions, temperature)
            ),
            viscosity=carbonate_viscosity(
                molarity, fractions, temperature, self.viscosity_exponent
            ),
            stability_limit=self.stability.stability_limit(
                composition, temperature, self.stability_cutoff
            ),
            stability_cutoff=self.stability_cutoff,
            stability_electrode=self.stability.electrode,
            cost=cost,
            currency=self.prices.currency if self.prices is not None else "",
            is_liquid=temperature > liquidus,
            liquidus_temperature=liquidus,
            extrapolated=bool(reasons),
            extrapolation_reasons=tuple(reasons),
        )


def electrolyte_properties(
    composition: Composition, temperature: float, *, prices: PriceTable | None = None
) -> ElectrolyteProperties:
    """Properties of ``composition`` at ``temperature`` (K) with the default calibrated model.

    Args:
        composition: the electrolyte (salt molality and solvent mass fractions).
        temperature: T, K.
        prices: price table for the cost per kg (None: cost is None).
    """
    return ElectrolyteModel(prices=prices).properties(composition, temperature)
