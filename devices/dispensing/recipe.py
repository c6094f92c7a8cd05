"""Electrolyte recipes: stock solutions, target compositions, and the amounts that make them.

A :class:`Stock` is a bottle of a salt dissolved in a solvent or solvent blend (``"2 mol/kg
LiPF6 in EC"``, ``"pure DMC"``, ``"EC:DMC 1:1 by mass"``). A :class:`Recipe` is the electrolyte
wanted: a salt molality (mol per kg of solvent), the solvent blend's mass fractions (they sum to
1), an optional additive's mass fraction of the whole solution, and a total mass or volume.
:func:`~labctl.devices.dispensing.recipe_solver.solve` turns a recipe into a plan — the mass and
volume of each stock to add — or refuses it with a :class:`RecipeError` saying why.
:func:`achieved_composition` computes what a vial actually holds from the masses the balance
measured for each addition.

Composition conventions (the same as the simulated world's, re-derived here because runtime
code never imports the simulators):

* molality m = n_salt / m_solvent, mol/kg, where the solvent is every component that is neither
  a salt nor the recipe's additive;
* solvent fractions wⱼ = m_j / m_solvent (salt-free, additive-free blend), summing to 1;
* additive fraction a = m_additive / m_total (the whole solution);
* a stock with molality m in a blend w has component mass fractions salt: m·M/(1 + m·M),
  solvent j: wⱼ/(1 + m·M) (M the salt's molar mass in kg/mol).

Per kilogram of solvent a recipe needs m·M kg of salt, wⱼ kg of each solvent and
a·(1 + m·M)/(1 − a) kg of additive; the solver matches those component masses with a
non-negative combination of stock masses (non-negative least squares, then an exact
least-squares polish on the stocks used) and reports the remaining composition error.
Volumes are masses over each stock's density; a recipe given as a volume assumes the additions'
volumes add (the excess volume of mixing of carbonates is below 1 %).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labctl.config import QUANTITY_SERIALIZER, quantity_validator
from labctl.errors import InventoryError, LabctlError
from labctl.units import Quantity, parse_quantity, to_magnitude, ureg

__all__ = [
    "SALT_MOLAR_MASSES",
    "Achieved",
    "InsufficientStock",
    "Recipe",
    "RecipeError",
    "RecipeProblem",
    "Stock",
    "StockComposition",
    "achieved_composition",
    "parse_composition",
    "salt_molar_mass",
    "stock_table",
]

SALT_MOLAR_MASSES: dict[str, float] = {
    "LiPF6": 151.905,
    "LiFSI": 187.07,
    "LiTFSI": 287.08,
    "NaPF6": 167.95,
    "ZnSO4": 161.44,
}
"""Molar masses of common salts, g/mol (anhydrous; ZnSO4 is *not* the heptahydrate, 287.5).

Computed from the formulas (LiPF6; LiN(SO2F)2; LiN(SO2CF3)2; NaPF6; ZnSO4) with the IUPAC/CIAAW
2021 abridged standard atomic weights (Li 6.94, Na 22.990, Zn 65.38, P 30.974, F 18.998,
N 14.007, S 32.06, O 15.999, C 12.011); LiPF6 kept at 151.905, the value the simulated world and
suppliers' data sheets use. A stock of another salt gives ``salt_molar_mass`` in its config.
"""

FRACTION_TOLERANCE = 1e-6
"""How far from 1 a recipe's solvent fractions may sum (they are then renormalised exactly)."""

DUST = 1e-12
"""A stock's share of a plan below this fraction of the total is dropped (numerical noise)."""

RecipeProblem: TypeAlias = Literal[
    "invalid",
    "fractions_sum",
    "negative_amount",
    "unknown_stock",
    "unknown_salt",
    "component_unsupplied",
    "salt_unreachable",
    "composition_unreachable",
    "insufficient_stock",
    "below_resolution",
]
"""Why a recipe was refused (:attr:`RecipeError.reason`)."""


class RecipeError(LabctlError):
    """A recipe cannot be made; nothing was dispensed.

    Args:
        reason: the kind of problem (see :data:`RecipeProblem`).
        detail: a sentence saying what is wrong and what would be needed.
    """

    def __init__(self, reason: RecipeProblem, detail: str) -> None:
        self.reason: RecipeProblem = reason
        self.detail = detail
        super().__init__(f"recipe refused ({reason.replace('_', ' ')}): {detail}")


class InsufficientStock(RecipeError, InventoryError):
    """One or more stocks hold less than a plan needs; nothing was dispensed.

    Args:
        shortages: stock name → (needed, left), both in mL.
    """

    def __init__(self, shortages: Mapping[str, tuple[float, float]]) -> None:
        self.shortages = dict(shortages)
        parts = [
            f"stock {name!r} needs {needed:.6g} mL but holds {left:.6g} mL"
            for name, (needed, left) in self.shortages.items()
        ]
        super().__init__("insufficient_stock", "; ".join(parts))


def salt_molar_mass(name: str, override: Quantity | None = None) -> Quantity:
    """The molar mass of salt ``name`` (g/mol): ``override`` if given, else the table's.

    Raises:
        RecipeError: (``unknown_salt``) the salt is not in :data:`SALT_MOLAR_MASSES` and no
            override was given.
    """
    if override is not None:
        return override.to("g/mol")
    if name not in SALT_MOLAR_MASSES:
        known = ", ".join(SALT_MOLAR_MASSES)
        raise RecipeError(
            "unknown_salt",
            f"the molar mass of {name!r} is unknown (known: {known}); "
            "give the stock a salt_molar_mass",
        )
    return ureg.Quantity(SALT_MOLAR_MASSES[name], "g/mol")


Molality: TypeAlias = Annotated[Quantity, quantity_validator("mol/kg"), QUANTITY_SERIALIZER]
Molarity: TypeAlias = Annotated[Quantity, quantity_validator("mol/L"), QUANTITY_SERIALIZER]
Density: TypeAlias = Annotated[Quantity, quantity_validator("g/mL"), QUANTITY_SERIALIZER]
Volume: TypeAlias = Annotated[Quantity, quantity_validator("[volume]"), QUANTITY_SERIALIZER]
Mass: TypeAlias = Annotated[Quantity, quantity_validator("[mass]"), QUANTITY_SERIALIZER]
MolarMass: TypeAlias = Annotated[Quantity, quantity_validator("g/mol"), QUANTITY_SERIALIZER]
Amount: TypeAlias = Annotated[Quantity, quantity_validator(None), QUANTITY_SERIALIZER]

_MODEL = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _normalised(fractions: Mapping[str, float], what: str) -> dict[str, float]:
    """Fractions ≥ 0 summing to 1 (± 1e-6), renormalised exactly, zeros dropped."""
    if not fractions:
        raise RecipeError("invalid", f"no {what} given")
    for name, value in fractions.items():
        if not name.strip():
            raise RecipeError("invalid", f"{what}: a component has an empty name")
        if not math.isfinite(value):
            raise RecipeError("invalid", f"{what}: the fraction of {name} is {value!r}")
        if value < 0:
            raise RecipeError("negative_amount", f"{what}: the fraction of {name} is {value:g}")
    total = math.fsum(fractions.values())
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        raise RecipeError(
            "fractions_sum", f"{what} sum to {total:.9g}, not 1 (tolerance {FRACTION_TOLERANCE:g})"
        )
    return {name: value / total for name, value in fractions.items() if value > 0}


class StockComposition(BaseModel):
    """What a stock bottle holds: a salt (or none) dissolved in a solvent blend.

    Written in a config either as text (see :func:`parse_composition`) or as a mapping.

    Args:
        solvents: solvent → mass fraction of the salt-free blend (sums to 1).
        salt: the salt's formula, or ``None`` for a pure solvent or blend.
        molality: salt molality, mol/kg of solvent.
        molarity: salt molarity, mol/L of solution (instead of ``molality``; converted with the
            stock's density).
    """

    model_config = _MODEL

    solvents: dict[str, float]
    salt: str | None = None
    molality: Molality | None = None
    molarity: Molarity | None = None

    @field_validator("solvents")
    @classmethod
    def _a_blend(cls, value: dict[str, float]) -> dict[str, float]:
        try:
            return _normalised(value, "solvent fractions")
        except RecipeError as error:
            raise ValueError(error.detail) from None

    @model_validator(mode="after")
    def _salt_amount(self) -> StockComposition:
        given = [q for q in (self.molality, self.molarity) if q is not None]
        if self.salt is None and given:
            raise ValueError("a salt amount is given but no salt")
        if self.salt is not None and len(given) != 1:
            raise ValueError(f"give either molality or molarity of {self.salt}, exactly one")
        if given and not given[0].magnitude >= 0:
            raise ValueError(f"the salt amount must be ≥ 0, got {given[0]:~P}")
        if self.salt is not None and self.salt in self.solvents:
            raise ValueError(f"{self.salt} is named both as the salt and as a solvent")
        return self


_SALTED = re.compile(r"^(?P<amount>.+?)\s+(?P<salt>[A-Za-z][A-Za-z0-9()]*)\s+in\s+(?P<blend>.+)$")
_BASIS = re.compile(
    r"\s*(\(?\s*(w/w|wt\s*%|wt\.?|by\s+(mass|weight))\s*\)?)\s*$", flags=re.IGNORECASE
)
_OTHER_BASIS = re.compile(
    r"(\bv/v\b|\bvol\b|\bby\s+volume\b|\bmol/mol\b|\bby\s+moles?\b)", flags=re.IGNORECASE
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


def parse_composition(text: str) -> StockComposition:
    """Read a stock's composition written the way chemists label bottles.

    Accepted forms: ``"pure DMC"`` (or ``"DMC"``), ``"EC:DMC 1:1"`` / ``"EC:DMC 3:7 by mass"`` /
    ``"(w/w)"``, and a salt in front: ``"2 mol/kg LiPF6 in EC"``, ``"1.2 molal LiFSI in
    EC:EMC 3:7"``, ``"1 mol/L LiPF6 in EC:DMC 1:1"`` (molarity; converted with the stock's
    density). Blend ratios are by mass; volume or mole ratios are refused (they need data the
    stock does not carry).

    Raises:
        ValueError: the text is none of these.
    """
    salt: str | None = None
    molality: Quantity | None = None
    molarity: Quantity | None = None
    blend = text.strip()
    match = _SALTED.match(blend)
    if match:
        salt, blend = match["salt"], match["blend"].strip()
        amount = parse_quantity(match["amount"])
        if amount.is_compatible_with("mol/kg"):
            molality = amount
        elif amount.is_compatible_with("mol/L"):
            molarity = amount
        else:
            raise ValueError(f"{match['amount']!r} is neither a molality (mol/kg) nor mol/L")
    blend = _BASIS.sub("", blend).strip()
    if _OTHER_BASIS.search(blend):
        raise ValueError(f"{text!r}: blend ratios must be by mass (w/w)")
    if blend.lower().startswith("pure "):
        blend = blend[5:].strip()
    names_text, _, ratio_text = blend.partition(" ")
    names = [name.strip() for name in names_text.split(":")]
    ratio_text = ratio_text.strip().strip("()").strip()
    if not all(_NAME.match(name) for name in names):
        raise ValueError(f"{text!r}: cannot read the solvent names in {names_text!r}")
    if ratio_text:
        try:
            ratios = [float(part) for part in ratio_text.split(":")]
        except ValueError:
            raise ValueError(f"{text!r}: cannot read the ratio {ratio_text!r}") from None
    elif len(names) == 1:
        ratios = [1.0]
    else:
        raise ValueError(f"{text!r}: a blend needs its mass ratio, e.g. 'EC:DMC 1:1'")
    if len(ratios) != len(names) or not all(math.isfinite(r) and r >= 0 for r in ratios):
        raise ValueError(f"{text!r}: one ratio ≥ 0 per solvent is needed")
    total = sum(ratios)
    if total <= 0:
        raise ValueError(f"{text!r}: the ratios sum to zero")
    solvents = {name: ratio / total for name, ratio in zip(names, ratios, strict=True)}
    return StockComposition(solvents=solvents, salt=salt, molality=molality, molarity=molarity)


class Stock(BaseModel):
    """A stock bottle the robot draws from.

    Args:
        name: the stock's name (as the pump's port binding and the inventory call it).
        composition: text (``"2 mol/kg LiPF6 in EC"``) or a :class:`StockComposition` mapping.
        density: the stock's density (``"1.41 g/mL"``).
        volume: liquid in the bottle (``"100 mL"``); the inventory keeps the current value.
        low_stock: below this volume a low-stock warning is given.
        price: cost per gram of stock (currency of the lab's cost table), optional.
        salt_molar_mass: the salt's molar mass, overriding :data:`SALT_MOLAR_MASSES` (needed
            for a salt the table lacks).
    """

    model_config = _MODEL

    name: str = Field(min_length=1)
    composition: StockComposition
    density: Density
    volume: Volume
    low_stock: Volume = Field(default_factory=lambda: ureg.Quantity(0.0, "mL"))
    price: float | None = Field(default=None, ge=0)
    salt_molar_mass: MolarMass | None = None

    @field_validator("composition", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return parse_composition(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Stock:
        if not self.density.magnitude > 0:
            raise ValueError(f"density must be > 0, got {self.density:~P}")
        for field in ("volume", "low_stock"):
            if not getattr(self, field).magnitude >= 0:
                raise ValueError(f"{field} must be ≥ 0, got {getattr(self, field):~P}")
        salt = self.composition.salt
        if salt is not None:
            try:
                salt_molar_mass(salt, self.salt_molar_mass)
            except RecipeError as error:
                raise ValueError(error.detail) from None
            _ = self.molality  # a molarity whose salt outweighs the density is refused here
        return self

    @property
    def molar_mass(self) -> float | None:
        """The salt's molar mass, kg/mol (``None`` for a salt-free stock)."""
        salt = self.composition.salt
        if salt is None:
            return None
        return to_magnitude(salt_molar_mass(salt, self.salt_molar_mass), "kg/mol")

    @property
    def molality(self) -> float:
        """Salt molality, mol/kg of solvent (a molarity c is converted as c/(ρ − c·M))."""
        composition = self.composition
        if composition.molality is not None:
            return to_magnitude(composition.molality, "mol/kg")
        if composition.molarity is None:
            return 0.0
        molarity = to_magnitude(composition.molarity, "mol/L")
        solvent_per_litre = to_magnitude(self.density, "kg/L") - molarity * (self.molar_mass or 0)
        if solvent_per_litre <= 0:
            raise ValueError(f"{composition.molarity:~P} of salt outweighs {self.density:~P}")
        return molarity / solvent_per_litre

    def mass_fractions(self) -> dict[str, float]:
        """Component → mass fraction of the stock (salt and solvents; sums to 1)."""
        salt_mass = self.molality * (self.molar_mass or 0.0)
        total = 1.0 + salt_mass
        fractions = {name: w / total for name, w in self.composition.solvents.items()}
        if self.composition.salt is not None and salt_mass > 0:
            fractions[self.composition.salt] = salt_mass / total
        return fractions


class Recipe(BaseModel):
    """The electrolyte wanted.

    Construction (``Recipe(**data)`` or :meth:`from_mapping`) refuses a bad recipe with
    :class:`RecipeError`; pydantic's ``model_validate`` bypasses that and raises pydantic's own
    error for values it cannot parse.

    Args:
        molality: salt molality, mol/kg of solvent (``"1 mol/kg"``).
        solvents: solvent → mass fraction of the solvent blend (≥ 0, summing to 1 within 1e-6;
            stored renormalised, zeros dropped).
        amount: total mass (``"5 g"``) or volume (``"4 mL"``) to prepare.
        salt: the salt's formula.
        additive: an additive component's name (``"VC"``), if any.
        additive_fraction: the additive's mass fraction of the whole solution, in [0, 1).
        stocks: the stocks the robot may use (default: all it has).
    """

    model_config = _MODEL

    molality: Molality
    solvents: dict[str, float]
    amount: Amount
    salt: str = "LiPF6"
    additive: str | None = None
    additive_fraction: float = 0.0
    stocks: tuple[str, ...] | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in issue['loc']) or 'recipe'}: {issue['msg']}"
                for issue in error.errors()
            )
            raise RecipeError("invalid", problems) from error

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Recipe:
        """A recipe from a mapping (an optimizer's proposal, a plan's arguments).

        Raises:
            RecipeError: as the constructor.
        """
        return cls(**data)

    @field_validator("solvents")
    @classmethod
    def _a_blend(cls, value: dict[str, float]) -> dict[str, float]:
        return _normalised(value, "solvent fractions")

    @model_validator(mode="after")
    def _sensible(self) -> Recipe:
        molality = to_magnitude(self.molality, "mol/kg")
        if not math.isfinite(molality) or molality < 0:
            raise RecipeError("negative_amount", f"molality {self.molality:~P} is below zero")
        if not self.amount.is_compatible_with("g") and not self.amount.is_compatible_with("mL"):
            raise RecipeError("invalid", f"amount {self.amount:~P} is neither a mass nor a volume")
        if not self.amount.magnitude > 0:
            raise RecipeError("negative_amount", f"amount {self.amount:~P} must be above zero")
        fraction = self.additive_fraction
        if not math.isfinite(fraction) or fraction < 0:
            raise RecipeError("negative_amount", f"additive fraction {fraction!r} is below zero")
        if fraction >= 1:
            raise RecipeError("invalid", f"additive fraction {fraction!r} must be below 1")
        if fraction > 0 and self.additive is None:
            raise RecipeError("invalid", "an additive fraction is given but no additive")
        if self.additive is not None and self.additive in self.solvents:
            raise RecipeError("invalid", f"{self.additive} is both a solvent and the additive")
        if self.salt in self.solvents or self.salt == self.additive:
            raise RecipeError("invalid", f"the salt {self.salt} is also named as a liquid")
        return self

    def mass_fractions(self, molar_mass: float) -> dict[str, float]:
        """Component → mass fraction of the whole solution.

        Args:
            molar_mass: the salt's molar mass, kg/mol.
        """
        salt = to_magnitude(self.molality, "mol/kg") * molar_mass  # kg per kg of solvent
        total = (1.0 + salt) / (1.0 - self.additive_fraction)
        fractions = {name: w / total for name, w in self.solvents.items()}
        if salt > 0:
            fractions[self.salt] = salt / total
        if self.additive is not None and self.additive_fraction > 0:
            fractions[self.additive] = self.additive_fraction
        return fractions


class Achieved(BaseModel):
    """The composition of a mixture of stocks (what was made, or what a plan will make).

    Args:
        salt: the recipe's salt (``None``: no salt).
        molality: its molality, mol/kg of solvent.
        solvents: solvent → mass fraction of the solvent blend.
        additive: the additive's name, if any.
        additive_fraction: its mass fraction of the whole solution.
        other_salts: salt → molality (mol/kg) of salts other than ``salt`` (contaminants).
        component_masses: component → mass, g.
        total_mass: g.
    """

    model_config = _MODEL

    salt: str | None
    molality: float
    solvents: dict[str, float]
    additive: str | None
    additive_fraction: float
    other_salts: dict[str, float]
    component_masses: dict[str, float]
    total_mass: float

    def deviation(self, recipe: Recipe) -> dict[str, float]:
        """Absolute differences from ``recipe``, by name.

        Keys: ``molality`` (mol/kg), ``solvent:NAME`` and ``additive`` (mass fractions),
        ``other_salt:NAME`` (mol/kg of a salt the recipe does not want).
        """
        target = to_magnitude(recipe.molality, "mol/kg")
        same_salt = self.salt in (recipe.salt, None)
        result = {"molality": abs(self.molality - target) if same_salt else self.molality + target}
        for name in sorted(set(self.solvents) | set(recipe.solvents)):
            result[f"solvent:{name}"] = abs(
                self.solvents.get(name, 0.0) - recipe.solvents.get(name, 0.0)
            )
        wanted = recipe.additive_fraction if recipe.additive == self.additive else 0.0
        result["additive"] = abs(self.additive_fraction - wanted)
        for name, molality in self.other_salts.items():
            result[f"other_salt:{name}"] = molality
        return result

    def as_record(self) -> dict[str, Any]:
        """Plain SI values for documents: molality mol/kg, fractions, total mass kg."""
        return {
            "salt": self.salt,
            "molality": self.molality,
            "solvents": dict(self.solvents),
            "additive": self.additive,
            "additive_fraction": self.additive_fraction,
            "other_salts": dict(self.other_salts),
            "total_mass": self.total_mass / 1000.0,
        }

    def error(self, recipe: Recipe) -> float:
        """The largest of :meth:`deviation` (mol/kg and mass fractions mixed: both are O(1))."""
        return max(self.deviation(recipe).values())


def stock_table(stocks: Iterable[Stock] | Mapping[str, Stock]) -> dict[str, Stock]:
    """Stocks by name.

    Raises:
        RecipeError: two stocks share a name.
    """
    items = stocks.values() if isinstance(stocks, Mapping) else stocks
    table: dict[str, Stock] = {}
    for stock in items:
        if stock.name in table:
            raise RecipeError("invalid", f"two stocks are called {stock.name!r}")
        table[stock.name] = stock
    return table


def achieved_composition(
    additions: Mapping[str, object] | Iterable[tuple[str, object]],
    stocks: Iterable[Stock] | Mapping[str, Stock],
    *,
    salt: str | None = None,
    additive: str | None = None,
) -> Achieved:
    """The composition made by adding measured masses of stocks (balance readings).

    Args:
        additions: stock name → mass added (``"1.2034 g"``, a quantity), or (name, mass) pairs
            (a stock added twice is summed).
        stocks: the stocks, by name.
        salt: the salt whose molality is wanted (default: the only salt present).
        additive: the component counted as additive rather than solvent.

    Raises:
        RecipeError: an unknown stock, a negative mass, no solvent, or several salts and no
            ``salt`` to choose.
    """
    table = stock_table(stocks)
    pairs = additions.items() if isinstance(additions, Mapping) else additions
    masses: dict[str, float] = {}
    molar_masses: dict[str, float] = {}
    for name, value in pairs:
        if name not in table:
            raise RecipeError("unknown_stock", f"no stock called {name!r} ({', '.join(table)})")
        grams = to_magnitude(parse_quantity(value, "[mass]"), "g")
        if not grams >= 0:
            raise RecipeError("negative_amount", f"the mass added of {name} is {grams:g} g")
        stock = table[name]
        for component, fraction in stock.mass_fractions().items():
            masses[component] = masses.get(component, 0.0) + grams * fraction
        if stock.composition.salt is not None and stock.molar_mass is not None:
            molar_masses[stock.composition.salt] = stock.molar_mass
    present = [name for name in molar_masses if masses.get(name, 0.0) > 0]
    if salt is None and len(present) > 1:
        raise RecipeError("invalid", f"several salts ({', '.join(present)}): say which")
    salt = salt if salt is not None else (present[0] if present else None)
    solvent_mass = math.fsum(
        mass for name, mass in masses.items() if name not in molar_masses and name != additive
    )
    if solvent_mass <= 0:
        raise RecipeError("invalid", "the additions contain no solvent")
    total = math.fsum(masses.values())
    solvent_kg = solvent_mass / 1000.0
    molalities = {
        name: masses.get(name, 0.0) / 1000.0 / molar_mass / solvent_kg
        for name, molar_mass in molar_masses.items()
    }
    return Achieved(
        salt=salt,
        molality=molalities.pop(salt, 0.0) if salt is not None else 0.0,
        solvents={
            name: mass / solvent_mass
            for name, mass in masses.items()
            if name not in molar_masses and name != additive and mass > 0
        },
        additive=additive,
        additive_fraction=masses.get(additive, 0.0) / total if additive is not None else 0.0,
        other_salts={name: m for name, m in molalities.items() if m > 0},
        component_masses=masses,
        total_mass=total,
    )
