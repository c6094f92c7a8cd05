"""The droplet cell in the shared world: the landed droplet *is* the potentiostat twin's cell.

A :class:`DropletSubstrate` (kept in ``world.substrates[name]``) is the site grid of the mounted
substrate — rows × columns, pitch and origin in stage work coordinates (mm), the electrolyte's
parameter preset (:data:`labctl.simulators.electrochem.presets.PRESETS`) and a seed — and keeps,
per site, the electrochemical memory of that spot (plated metal, diffusion layer, dendrite) and
its parameters: the preset varied per site by
:func:`~labctl.simulators.electrochem.presets.site_parameters` (seeded, smooth across the
substrate).

A :class:`DropletCell` replaces the world's measurement cell the potentiostat twin is wired to
(twin option ``cell``). Whenever the twin asks for the cell's state
(:func:`labctl.simulators.electrochem.response.cell_state` reads ``cell.properties``), the cell
looks at the stage (:func:`labctl.simulators.grbl.stage_world.stage_state`):

* the droplet touches the substrate (``stage_world`` contact: tip Z at or below the surface plus
  the droplet's height, no ``contact_loss`` fault) and the head holds electrolyte (if a
  ``head_vial`` is named: the pump twin delivered liquid into it) and the tip is over the
  grid → the cell is the site under the tip: that site's parameters and its own electrode
  memory, so what was plated on (r, c) stays on (r, c);
* otherwise → a dry cell (open circuit: a potentiostat sees no current path).

The geometry: a droplet contact of diameter d is a disk electrode of area πd²/4 whose solution
resistance is 1/(4κr) (Newman, J. Electrochem. Soc. 113, 501 (1966)), so the cell constant is
1/(4r) = 1/(2d).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labctl.simulators.electrochem.presets import PRESETS, site_parameters
from labctl.simulators.grbl.stage_world import stage_state
from labctl.simulators.world import MeasurementCell, World

__all__ = ["DropletCell", "DropletSubstrate", "install"]

_PARAMETERS = "electrochem_parameters"


@dataclass
class DropletSubstrate:
    """A substrate's sites in the world (see the module docstring).

    Args:
        name: its key in ``world.substrates``.
        rows: rows of sites (Y).
        columns: columns of sites (X).
        pitch: mm.
        origin: work (x, y) of site (0, 0), mm.
        preset: name of the electrolyte's parameter set.
        seed: seed of the per-site variation.
        spread: parameter → σ of its log-normal variation (``None``: the default spread).
        overrides: CellState fields set on every site (after the variation).
        electrode_area: the droplet's contact area, m² (varied per site unless spread says 0).
        surface_z: work Z of the substrate surface, mm (for a stage twin that reads it).
    """

    name: str
    rows: int
    columns: int
    pitch: float
    origin: tuple[float, float] = (0.0, 0.0)
    preset: str = "zinc-sulfate"
    seed: int = 0
    spread: Mapping[str, float] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    electrode_area: float = math.pi * (0.5e-3) ** 2
    surface_z: float | None = None
    _sites: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")

    def site_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The site whose pitch × pitch square holds (x, y) mm (``None``: off the grid)."""
        column = round((x - self.origin[0]) / self.pitch)
        row = round((y - self.origin[1]) / self.pitch)
        if 0 <= row < self.rows and 0 <= column < self.columns:
            return row, column
        return None

    def parameters(self, row: int, column: int) -> dict[str, Any]:
        """The CellState overrides of site (row, column)."""
        base = dict(PRESETS[self.preset])
        base.pop("electrode_area", None)  # the droplet's contact sets it
        varied = site_parameters(
            base,
            seed=self.seed,
            row=row,
            column=column,
            spread=self.spread,
            defaults={"electrode_area": self.electrode_area},
        )
        varied.setdefault("electrode_area", self.electrode_area)
        varied.update(self.overrides)
        varied["dry"] = False
        return varied

    def properties(self, row: int, column: int) -> dict[str, Any]:
        """The site's ``cell.properties`` (its parameters and, once measured, its memory)."""
        key = (row, column)
        if key not in self._sites:
            self._sites[key] = {_PARAMETERS: self.parameters(row, column)}
        return self._sites[key]

    def touched(self) -> list[tuple[int, int]]:
        """Sites that have been measured (hold an electrode memory), in order."""
        return sorted(self._sites)


class DropletCell(MeasurementCell):
    """The world cell a potentiostat twin measures: the site under a landed droplet, or dry.

    Args:
        name: the cell's name (the potentiostat twin's ``cell`` option).
        world: the shared world.
        substrate: the substrate's name in ``world.substrates``.
        stage: the stage's name in the world (``world.stages``).
        head_vial: the vial the pump fills the head through (``None``: always wet).
        contact_diameter: droplet contact diameter, m (sets the cell constant).
    """

    def __init__(
        self,
        name: str,
        *,
        world: World,
        substrate: str,
        stage: str,
        head_vial: str | None = None,
        contact_diameter: float = 1e-3,
    ) -> None:
        self._world = world
        self._substrate = substrate
        self._stage = stage
        self._head_vial = head_vial
        self._dry: dict[str, Any] = {}
        radius_cm = contact_diameter * 100 / 2
        super().__init__(
            name,
            cell_constant=1.0 / (4.0 * radius_cm),
            electrode_area=math.pi * radius_cm**2,
        )

    @property
    def properties(self) -> dict[str, Any]:
        """The landed site's properties, or the dry cell's."""
        site = self.landed_site()
        if site is None:
            return self._dry
        substrate: DropletSubstrate = self._world.substrates[self._substrate]
        return substrate.properties(*site)

    @properties.setter
    def properties(self, value: dict[str, Any]) -> None:
        self._dry = value

    def wet(self) -> bool:
        """Whether the head holds electrolyte (always, without a head vial)."""
        if self._head_vial is None:
            return True
        with self._world.lock:
            vial = self._world.vials.get(self._head_vial)
            return vial is not None and vial.contents.total_mass > 0

    def landed_site(self) -> tuple[int, int] | None:
        """The (row, column) the droplet stands on now (``None``: not in contact)."""
        with self._world.lock:
            stage = stage_state(self._world, self._stage)
            substrate = self._world.substrates.get(self._substrate)
        if not isinstance(substrate, DropletSubstrate) or not stage.contact or not self.wet():
            return None
        x, y, _ = stage.work_position
        return substrate.site_at(x, y)


def install(
    world: World,
    *,
    cell: str,
    substrate: DropletSubstrate,
    stage: str,
    head_vial: str | None = None,
    contact_diameter: float = 1e-3,
) -> DropletCell:
    """Put ``substrate`` and a :class:`DropletCell` named ``cell`` into ``world``.

    Replaces a plain cell of that name (a potentiostat twin built earlier created it empty: it
    looks the cell up by name for every measurement, so it measures the droplet from now on).
    If the stage is already in the world without a contact height and the substrate knows its
    ``surface_z``, the droplet's contact starts there (droplet height 0.5 mm).
    """
    with world.lock:
        world.substrates[substrate.name] = substrate
        droplet = DropletCell(
            cell,
            world=world,
            substrate=substrate.name,
            stage=stage,
            head_vial=head_vial,
            contact_diameter=contact_diameter,
        )
        world.cells[cell] = droplet
        state = stage_state(world, stage)
        if state.substrate is None:
            state.substrate = substrate.name
        if state.contact_z is None and substrate.surface_z is not None:
            state.contact_z = substrate.surface_z + 0.5
    return droplet
