"""The shared simulated world that every twin of a lab is a view of.

One :class:`World` holds what the instruments act on: stock bottles, vials and their contents,
measurement cells, substrates with their sites, and the simulated clock. Twins do not copy state:
the pump twin moves liquid from a stock into a vial, the balance twin weighs that same vial, the
potentiostat twin measures whatever electrolyte is in its cell, the stage twin lands a droplet on a
site of that substrate. A lab builds one world and hands it to every twin it starts.

Liquids are tracked as masses of named components (g), so any composition measure — molality,
mass or mole fractions, molarity with a density model — is derived, never stored twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MeasurementCell", "Mixture", "Stock", "Vial", "World"]


@dataclass
class Mixture:
    """A liquid as masses of its components.

    Args:
        masses: component name → mass, g (e.g. ``{"LiPF6": 1.52, "EC": 4.4, "DMC": 4.4}``).
    """

    masses: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for component, mass in self.masses.items():
            if not mass >= 0:
                raise ValueError(f"mass of {component} must be ≥ 0 g, got {mass}")

    @property
    def total_mass(self) -> float:
        """Total mass, g."""
        return float(sum(self.masses.values()))

    def mass_fractions(self) -> dict[str, float]:
        """Component → mass fraction (sums to 1; empty for an empty mixture)."""
        total = self.total_mass
        if total <= 0:
            return {}
        return {component: mass / total for component, mass in self.masses.items()}

    def portion(self, mass: float) -> Mixture:
        """A well-mixed portion of ``mass`` g of this mixture (same fractions)."""
        if mass < 0:
            raise ValueError(f"a portion must be ≥ 0 g, got {mass}")
        return Mixture(
            {component: mass * fraction for component, fraction in self.mass_fractions().items()}
        )

    def add(self, other: Mixture) -> None:
        """Pour ``other`` into this mixture."""
        for component, mass in other.masses.items():
            self.masses[component] = self.masses.get(component, 0.0) + mass

    def remove(self, mass: float) -> Mixture:
        """Take ``mass`` g out (well mixed) and return what was taken.

        Raises:
            ValueError: more than the mixture holds.
        """
        total = self.total_mass
        if mass > total * (1 + 1e-12):
            raise ValueError(f"cannot take {mass:.6g} g from a mixture of {total:.6g} g")
        taken = self.portion(min(mass, total))
        for component, part in taken.masses.items():
            self.masses[component] = max(0.0, self.masses[component] - part)
        return taken

    def copy(self) -> Mixture:
        """An independent copy."""
        return Mixture(dict(self.masses))


@dataclass
class Stock:
    """A stock bottle of known (true) composition.

    Args:
        name: the stock's name, as in the lab's config.
        mass_fractions: component → mass fraction of the stock (sums to 1).
        density: g/mL at the lab's temperature.
        volume: liquid left, mL.
        price: currency per g, for cost objectives (optional).
    """

    name: str
    mass_fractions: dict[str, float]
    density: float
    volume: float
    price: float | None = None

    def __post_init__(self) -> None:
        total = sum(self.mass_fractions.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"stock {self.name}: mass fractions sum to {total}, not 1")
        if not (self.density > 0 and self.volume >= 0):
            raise ValueError(f"stock {self.name}: density must be > 0 and volume ≥ 0")

    def draw(self, volume: float) -> Mixture:
        """Take ``volume`` mL out of the bottle and return it as a mixture.

        Raises:
            ValueError: the bottle holds less.
        """
        if volume < 0:
            raise ValueError(f"stock {self.name}: cannot draw a negative volume ({volume} mL)")
        if volume > self.volume * (1 + 1e-12):
            raise ValueError(
                f"stock {self.name}: {volume:.6g} mL requested, {self.volume:.6g} mL left"
            )
        self.volume = max(0.0, self.volume - volume)
        mass = volume * self.density
        return Mixture({name: mass * fraction for name, fraction in self.mass_fractions.items()})


@dataclass
class Vial:
    """A vial on the robot's deck.

    Args:
        name: its position name (``A1``).
        tare: the empty vial's mass, g.
        contents: what is in it.
        bad: set when a preparation failed (e.g. a gravimetric mismatch): never measured.
    """

    name: str
    tare: float = 12.0
    contents: Mixture = field(default_factory=Mixture)
    bad: bool = False

    @property
    def gross_mass(self) -> float:
        """Vial plus contents, g (what a balance weighs)."""
        return self.tare + self.contents.total_mass


@dataclass
class MeasurementCell:
    """A measurement cell (conductivity cell, droplet) holding an electrolyte.

    Args:
        name: the cell's name.
        cell_constant: K_cell = length/area, 1/cm (conductivity cells).
        temperature: electrolyte temperature, K.
        contents: the electrolyte in the cell (empty: the cell is dry).
        electrode_area: working-electrode area, cm² (for current densities).
    """

    name: str
    cell_constant: float = 1.0
    temperature: float = 298.15
    contents: Mixture = field(default_factory=Mixture)
    electrode_area: float = 0.0707
    properties: dict[str, Any] = field(default_factory=dict)


class World:
    """Everything the twins of one lab share.

    Args:
        seed: seed of the world's own randomness (dosing errors, bubbles, site variation); each
            twin draws from :meth:`rng` with its own stream name, so adding a twin does not shift
            another twin's numbers.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.stocks: dict[str, Stock] = {}
        self.vials: dict[str, Vial] = {}
        self.cells: dict[str, MeasurementCell] = {}
        self.substrates: dict[str, Any] = {}
        self.time = 0.0
        self.lock = threading.RLock()
        self._streams: dict[str, np.random.Generator] = {}

    def rng(self, stream: str) -> np.random.Generator:
        """The random generator of one named stream (stable for a given world seed)."""
        with self.lock:
            if stream not in self._streams:
                digest = sum((index + 1) * ord(char) for index, char in enumerate(stream))
                self._streams[stream] = np.random.default_rng([self.seed, digest, len(stream)])
            return self._streams[stream]

    def add_stocks(self, stocks: Iterable[Stock]) -> None:
        """Put stock bottles in the world (a name already present is replaced)."""
        with self.lock:
            for stock in stocks:
                self.stocks[stock.name] = stock

    def vial(self, name: str) -> Vial:
        """The vial at ``name``, placed (empty) on first use."""
        with self.lock:
            if name not in self.vials:
                self.vials[name] = Vial(name)
            return self.vials[name]

    def cell(self, name: str, **defaults: Any) -> MeasurementCell:
        """The measurement cell ``name``, created with ``defaults`` on first use."""
        with self.lock:
            if name not in self.cells:
                self.cells[name] = MeasurementCell(name, **defaults)
            return self.cells[name]

    def transfer(self, stock: str, vial: str, volume: float, *, error: float = 0.0) -> Mixture:
        """Move ``volume`` mL from a stock into a vial; ``error`` is the relative dosing error.

        Returns what actually arrived (the stock loses the same).

        Raises:
            KeyError: no such stock.
            ValueError: the stock holds less than the (erroneous) volume.
        """
        with self.lock:
            delivered = volume * (1.0 + error)
            liquid = self.stocks[stock].draw(delivered)
            self.vial(vial).contents.add(liquid)
            return liquid

    def fill_cell(self, cell: str, vial: str, mass: float) -> Mixture:
        """Fill a measurement cell with ``mass`` g taken from a vial (replacing what it held)."""
        with self.lock:
            taken = self.vial(vial).contents.remove(mass)
            self.cell(cell).contents = taken
            return taken

    def advance(self, seconds: float) -> None:
        """Advance the world's clock, s."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        with self.lock:
            self.time += seconds

    def snapshot(self) -> Mapping[str, Any]:
        """A plain summary (for tests and debugging): stock volumes and vial masses."""
        with self.lock:
            return {
                "stocks": {name: stock.volume for name, stock in self.stocks.items()},
                "vials": {name: vial.contents.copy().masses for name, vial in self.vials.items()},
                "cells": {name: cell.contents.copy().masses for name, cell in self.cells.items()},
            }
