"""Material cost of an electrolyte from a price table: cost = Σ mᵢ · priceᵢ.

Prices are volatile and differ by an order of magnitude between bulk (battery-grade, tonnes) and
lab (reagent, grams) tiers, so they are configuration data with their source, date and tier, passed
in — never constants of the model. :data:`ILLUSTRATIVE_PRICES` is a small example table of round
numbers for demonstrations and tests: it is ILLUSTRATIVE, not a quotation.

Units: masses kg, prices currency per kg, cost in that currency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from labctl.errors import LabctlError, UnitError

__all__ = ["ILLUSTRATIVE_PRICES", "PriceEntry", "PriceTable"]


@dataclass(frozen=True)
class PriceEntry:
    """The price of one material.

    Args:
        component: the material's name as used in compositions (``"LiPF6"``, ``"EC"``).
        price: currency per kg (≥ 0).
        currency: ISO code, e.g. ``"USD"``.
        source: where the price comes from (supplier, catalogue number, report).
        date: when it was quoted (ISO date or year).
        tier: ``"bulk"`` (battery-grade, large lots) or ``"lab"`` (reagent, small packs).
    """

    component: str
    price: float
    currency: str
    source: str
    date: str
    tier: Literal["bulk", "lab"]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.price) and self.price >= 0):
            raise UnitError(self.price, f"a price ≥ 0 per kg for {self.component}", "invalid")


class PriceTable:
    """Prices by component, in one currency.

    Args:
        entries: one entry per component.

    Raises:
        LabctlError: a component is listed twice, or the currencies differ.
    """

    def __init__(self, entries: Iterable[PriceEntry]) -> None:
        self.entries: dict[str, PriceEntry] = {}
        for entry in entries:
            if entry.component in self.entries:
                raise LabctlError(f"price table: {entry.component} is listed twice")
            self.entries[entry.component] = entry
        currencies = {entry.currency for entry in self.entries.values()}
        if len(currencies) > 1:
            raise LabctlError(f"price table: mixed currencies {sorted(currencies)}; use one")
        self.currency = currencies.pop() if currencies else ""

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> PriceTable:
        """Build a table from config records (mappings, e.g. parsed YAML).

        Args:
            records: mappings with keys component, price (currency per kg), currency, source,
                date and tier.

        Raises:
            LabctlError: a record lacks a key or has a bad value.
        """
        entries = []
        for record in records:
            try:
                price = record["price"]
                tier = record["tier"]
                if isinstance(price, bool) or not isinstance(price, int | float):
                    raise LabctlError(f"price record {dict(record)}: price must be a number")
                if tier != "bulk" and tier != "lab":
                    raise LabctlError(f"price record {dict(record)}: tier must be bulk or lab")
                entries.append(
                    PriceEntry(
                        component=str(record["component"]),
                        price=float(price),
                        currency=str(record["currency"]),
                        source=str(record["source"]),
                        date=str(record["date"]),
                        tier=tier,
                    )
                )
            except KeyError as error:
                raise LabctlError(f"price record {dict(record)}: missing {error}") from error
        return cls(entries)

    def price(self, component: str) -> float:
        """Price of ``component``, currency per kg.

        Raises:
            LabctlError: the component has no price.
        """
        try:
            return self.entries[component].price
        except KeyError:
            known = ", ".join(self.entries) or "none"
            raise LabctlError(f"no price for {component} (priced: {known})") from None

    def cost(self, masses: Mapping[str, float]) -> float:
        """Material cost Σ mᵢ·priceᵢ, in the table's currency.

        Args:
            masses: component → mass, kg (≥ 0).

        Raises:
            LabctlError: a component has no price.
            UnitError: a negative or non-finite mass.
        """
        total = []
        for component, mass in masses.items():
            if not (math.isfinite(mass) and mass >= 0):
                raise UnitError(mass, f"a mass ≥ 0 kg of {component}", "negative or not finite")
            total.append(mass * self.price(component))
        return math.fsum(total)


_ILLUSTRATIVE = "ILLUSTRATIVE round numbers of the right order; not a quotation"

ILLUSTRATIVE_PRICES = PriceTable(
    PriceEntry(name, price, "USD", _ILLUSTRATIVE, "2025", "bulk")
    for name, price in (
        ("LiPF6", 20.0),
        ("EC", 2.0),
        ("PC", 2.5),
        ("DMC", 1.5),
        ("EMC", 3.0),
        ("DEC", 3.0),
        ("FEC", 15.0),
    )
)
"""An ILLUSTRATIVE bulk-tier price table (USD/kg) — replace it with your lab's config."""
