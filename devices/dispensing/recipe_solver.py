"""From a recipe to the stocks that make it: the mass and volume of each addition.

Per kilogram of solvent a recipe needs m·M kg of salt, wⱼ kg of each solvent and
a·(1 + m·M)/(1 − a) kg of additive (the conventions of :mod:`labctl.devices.dispensing.recipe`);
:func:`solve` matches those component masses with a non-negative combination of stock masses
(non-negative least squares, then an exact least-squares polish on the stocks used) and reports
the remaining composition error, or refuses the recipe with a
:class:`~labctl.devices.dispensing.recipe.RecipeError` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
)
from scipy.optimize import lsq_linear, nnls

from labctl.devices.dispensing.recipe import (
    DUST,
    Achieved,
    InsufficientStock,
    Mass,
    Recipe,
    RecipeError,
    Stock,
    Volume,
    achieved_composition,
    salt_molar_mass,
    stock_table,
)
from labctl.units import Quantity, to_magnitude, ureg

__all__ = ["Addition", "Plan", "solve"]

_MODEL = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Addition(BaseModel):
    """One stock's share of a plan.

    Args:
        stock: the stock's name.
        mass: mass to add (g).
        volume: the same as a volume (mL, with the stock's density).
    """

    model_config = _MODEL

    stock: str
    mass: Mass
    volume: Volume


class Plan(BaseModel):
    """How to make a recipe from the stocks (from :func:`solve`).

    Args:
        recipe: the recipe.
        additions: the stocks to add, in the order the stocks were given; unused stocks omitted.
        predicted: the composition these exact amounts make.
        composition_error: ``predicted.error(recipe)``: largest deviation from the recipe.
    """

    model_config = _MODEL

    recipe: Recipe
    additions: tuple[Addition, ...]
    predicted: Achieved
    composition_error: float

    @property
    def total_mass(self) -> Quantity:
        """The sum of the additions' masses (g)."""
        return ureg.Quantity(math.fsum(to_magnitude(a.mass, "g") for a in self.additions), "g")

    @property
    def total_volume(self) -> Quantity:
        """The sum of the additions' volumes (mL)."""
        return ureg.Quantity(math.fsum(to_magnitude(a.volume, "mL") for a in self.additions), "mL")

    def volumes(self) -> dict[str, Quantity]:
        """Stock name → volume to draw (mL)."""
        return {a.stock: a.volume.to("mL") for a in self.additions}

    def masses(self) -> dict[str, Quantity]:
        """Stock name → mass to add (g)."""
        return {a.stock: a.mass.to("g") for a in self.additions}

    def as_record(self) -> dict[str, Any]:
        """Plain SI values for documents.

        Per-stock mass (kg) and volume (m³), the predicted composition
        (:meth:`Achieved.as_record`) and the composition error.
        """
        return {
            "additions": {
                a.stock: {
                    "mass": to_magnitude(a.mass, "kg"),
                    "volume": to_magnitude(a.volume, "m**3"),
                }
                for a in self.additions
            },
            "predicted": self.predicted.as_record(),
            "composition_error": self.composition_error,
        }

    def cost(self, stocks: Iterable[Stock] | Mapping[str, Stock]) -> float | None:
        """Σ mass·price over the additions (``None`` if a stock used has no price)."""
        table = stock_table(stocks)
        prices = [table[a.stock].price for a in self.additions]
        if any(price is None for price in prices):
            return None
        return math.fsum(
            to_magnitude(a.mass, "g") * (price or 0.0)
            for a, price in zip(self.additions, prices, strict=True)
        )


def solve(
    recipe: Recipe,
    stocks: Iterable[Stock] | Mapping[str, Stock],
    *,
    tolerance: float = 1e-9,
) -> Plan:
    """Turn a recipe into per-stock masses and volumes, or refuse it before anything moves.

    Args:
        recipe: what to make.
        stocks: the stocks available, with their current volumes (``Stock.volume``).
        tolerance: the largest composition error accepted (:meth:`Achieved.error`).

    Raises:
        RecipeError: with :attr:`~RecipeError.reason` ``unknown_stock`` (the recipe names a stock
            that does not exist), ``component_unsupplied`` (no stock holds a needed component),
            ``salt_unreachable`` (more salt per solvent than the richest stock), ``invalid``
            (stocks disagree on the salt's molar mass), ``composition_unreachable`` (no
            non-negative mix of the stocks matches), or
            :class:`InsufficientStock` (``insufficient_stock``: more than a stock holds).
    """
    table = stock_table(stocks)
    if recipe.stocks is not None:
        unknown = [name for name in recipe.stocks if name not in table]
        if unknown:
            raise RecipeError(
                "unknown_stock",
                f"no stock called {', '.join(map(repr, unknown))} (known: {', '.join(table)})",
            )
        table = {name: table[name] for name in table if name in recipe.stocks}
    fractions = {name: stock.mass_fractions() for name, stock in table.items()}
    molality = to_magnitude(recipe.molality, "mol/kg")
    needed = [*recipe.solvents]
    if molality > 0:
        needed.append(recipe.salt)
    if recipe.additive is not None and recipe.additive_fraction > 0:
        needed.append(recipe.additive)
    for component in needed:
        if not any(component in stock_fractions for stock_fractions in fractions.values()):
            raise RecipeError(
                "component_unsupplied",
                f"no stock supplies {component} (stocks: {', '.join(table) or 'none'})",
            )
    molar_mass = _recipe_molar_mass(recipe, table) if molality > 0 else 0.0
    if molality > 0:
        _check_salt_reach(recipe, table, molality, molar_mass)
    target = recipe.mass_fractions(molar_mass)

    names = list(table)
    components = sorted({c for f in fractions.values() for c in f} | set(target))
    matrix = np.array([[fractions[name].get(c, 0.0) for name in names] for c in components])
    wanted = np.array([target.get(c, 0.0) for c in components])
    plan = _plan(recipe, table, names, _polish(matrix, wanted, nnls(matrix, wanted)[0]))
    if plan.composition_error > tolerance:
        raise RecipeError(
            "composition_unreachable",
            f"no non-negative mix of the stocks ({', '.join(names)}) makes it; the closest "
            f"has {plan.predicted.molality:.4g} mol/kg {recipe.salt}, solvents "
            f"{_fractions_text(plan.predicted.solvents)}, additive fraction "
            f"{plan.predicted.additive_fraction:.4g} (error {plan.composition_error:.3g})",
        )
    shortages = _shortages(plan, table)
    if not shortages:
        return plan
    # With more stocks than components another mix may spare the short stock: bounded least
    # squares with each stock's mass limited to what its bottle holds.
    grams_per_unit = to_magnitude(plan.total_mass, "g")
    upper = np.array([_available_grams(table[name]) / grams_per_unit for name in names])
    usable = upper > 0
    if usable.any():
        bounded = np.zeros(len(names))
        result = lsq_linear(
            matrix[:, usable],
            wanted,
            bounds=(np.zeros(usable.sum()), upper[usable]),
            method="bvls",
        )
        bounded[usable] = np.clip(result.x, 0.0, upper[usable])
        polished = _polish(matrix, wanted, bounded)
        for masses in (polished, bounded):
            alternative = _plan(recipe, table, names, masses)
            if alternative.composition_error <= tolerance and not _shortages(alternative, table):
                return alternative
    raise InsufficientStock(shortages)


def _recipe_molar_mass(recipe: Recipe, table: Mapping[str, Stock]) -> float:
    """The salt's molar mass, kg/mol: that of the stocks holding it (they must agree)."""
    values = {
        stock.molar_mass
        for stock in table.values()
        if stock.composition.salt == recipe.salt and stock.molar_mass is not None
    }
    if len(values) > 1:
        raise RecipeError("invalid", f"the stocks give different molar masses for {recipe.salt}")
    if values:
        return values.pop()
    return to_magnitude(salt_molar_mass(recipe.salt), "kg/mol")


def _check_salt_reach(
    recipe: Recipe, table: Mapping[str, Stock], molality: float, molar_mass: float
) -> None:
    """A mix's salt per solvent is at most the richest stock's: say so early and plainly."""
    best, richest = 0.0, ""
    for stock in table.values():
        fractions = stock.mass_fractions()
        salt = fractions.get(recipe.salt, 0.0)
        solvent = math.fsum(
            w for c, w in fractions.items() if c not in (recipe.additive, stock.composition.salt)
        )
        if salt > 0 and solvent <= 0:
            return  # a salt with no solvent (or only the additive) reaches any molality
        if salt > 0 and salt / solvent > best:
            best, richest = salt / solvent, stock.name
    reach = best / molar_mass
    if molality > reach * (1 + 1e-12):
        raise RecipeError(
            "salt_unreachable",
            f"{recipe.molality:~P} {recipe.salt} wanted, but the richest stock ({richest}) holds "
            f"{reach:.4g} mol/kg: no mix of the stocks reaches more",
        )


def _polish(matrix: Any, wanted: Any, masses: Any) -> Any:
    """Re-solve exactly on the stocks NNLS kept (its active set), if that stays non-negative."""
    used = masses > 0
    if not used.any():
        return masses
    exact, *_ = np.linalg.lstsq(matrix[:, used], wanted, rcond=None)
    if (exact < 0).any():
        return masses
    polished = np.zeros_like(masses)
    polished[used] = exact
    return polished


def _plan(
    recipe: Recipe,
    table: Mapping[str, Stock],
    names: list[str],
    unit_masses: Any,
) -> Plan:
    """Scale masses per gram of solution to the recipe's amount and build the plan."""
    amount = recipe.amount
    unit_total = float(np.sum(unit_masses))
    if unit_total <= 0:
        raise RecipeError("composition_unreachable", "the stocks give no solution at all")
    if amount.is_compatible_with("g"):
        scale = to_magnitude(amount, "g") / unit_total
    else:
        unit_volume = math.fsum(
            float(m) / to_magnitude(table[n].density, "g/mL")
            for n, m in zip(names, unit_masses, strict=True)
        )
        scale = to_magnitude(amount, "mL") / unit_volume
    additions = []
    # Shares below 1e-12 of the whole are rounding dust of the solve, not additions.
    dust = DUST * unit_total * scale
    for name, unit_mass in zip(names, unit_masses, strict=True):
        grams = float(unit_mass) * scale
        if grams > dust:
            volume = grams / to_magnitude(table[name].density, "g/mL")
            additions.append(
                Addition(
                    stock=name, mass=ureg.Quantity(grams, "g"), volume=ureg.Quantity(volume, "mL")
                )
            )
    predicted = achieved_composition(
        {a.stock: a.mass for a in additions},
        table,
        salt=recipe.salt,
        additive=recipe.additive,
    )
    return Plan(
        recipe=recipe,
        additions=tuple(additions),
        predicted=predicted,
        composition_error=predicted.error(recipe),
    )


def _available_grams(stock: Stock) -> float:
    return to_magnitude(stock.volume, "mL") * to_magnitude(stock.density, "g/mL")


def _shortages(plan: Plan, table: Mapping[str, Stock]) -> dict[str, tuple[float, float]]:
    short = {}
    for addition in plan.additions:
        needed = to_magnitude(addition.volume, "mL")
        left = to_magnitude(table[addition.stock].volume, "mL")
        if needed > left:
            short[addition.stock] = (needed, left)
    return short


def _fractions_text(fractions: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in fractions.items()) or "none"
