"""The droplet cell's twin: no wire of its own, it wires the other twins together in the world.

A ``droplet-cell`` device (driver ``composite``) talks to its stage, pump and potentiostat, whose
twins already act on the shared :class:`~labctl.simulators.world.World`. Its twin (kind
``droplet-cell``) only installs the glue of :mod:`labctl.simulators.droplet.world`: the
substrate's sites in ``world.substrates`` and the :class:`~labctl.simulators.droplet.world.
DropletCell` the potentiostat twin measures (its ``cell`` option must name the same cell). The
site grid (rows, columns, pitch, origin, name) is read from the device's own ``options.substrate``
so the two cannot disagree.

Config::

    droplet:
      kind: droplet-cell
      driver: composite
      twin:
        kind: droplet-cell
        options:
          cell: droplet           # the potentiostat twin's `cell`
          stage: stage            # the stage device (its GRBL twin gives contact)
          preset: zinc-sulfate    # or lithium-carbonate
          seed: 3                 # per-site variation (default: the twin's seed)
          head_vial: head         # the pump twin's vial feeding the head (wet only once filled)
          contact_diameter: 1.0   # mm
      options: {...}              # the device's (stage, pump, potentiostat, substrate, ...)

:meth:`DropletCellTwin.start` serves nothing and returns an empty address.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.errors import ConfigIssue, LabctlError
from labctl.simulators.droplet.world import DropletCell, DropletSubstrate, install
from labctl.simulators.electrochem.presets import PRESETS
from labctl.simulators.twin import ConfiguredTwin, twin_options_path
from labctl.simulators.world import World
from labctl.units import parse_quantity, to_magnitude

__all__ = ["DropletCellTwin", "DropletCellTwinOptions"]


class DropletCellTwinOptions(BaseModel):
    """``twin.options`` of a ``droplet-cell`` twin (see the module docstring).

    Args:
        cell: the world cell the potentiostat twin measures (default: the device's name).
        stage: the stage device's name.
        preset: the electrolyte's parameter set (``zinc-sulfate``, ``lithium-carbonate``).
        seed: seed of the per-site variation (default: the twin's seed).
        spread: parameter → σ of its per-site log-normal variation (default: the preset
            module's; ``{}``: identical sites).
        overrides: CellState fields for every site (e.g. ``{diffusion_layer: 5.0e-5}``).
        head_vial: vial the pump fills the head through (``None``: the head is always wet).
        contact_diameter: droplet contact diameter, mm.
        surface_z: work Z of the substrate surface, mm (for a stage twin without one).
    """

    model_config = ConfigDict(extra="forbid")

    cell: str | None = None
    stage: str = Field(min_length=1)
    preset: str = "zinc-sulfate"
    seed: int | None = None
    spread: dict[str, float] | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    head_vial: str | None = None
    contact_diameter: float = Field(default=1.0, gt=0, le=10)
    surface_z: float | None = None


def _geometry(device: DeviceConfig) -> dict[str, Any]:
    """rows, columns, pitch (mm), origin (mm), name from the device's ``options.substrate``."""
    raw = device.options.get("substrate")
    if not isinstance(raw, dict):
        raise LabctlError("the droplet cell's options need a 'substrate' section")
    origin = raw.get("origin") or {}
    if not isinstance(origin, dict):
        raise LabctlError("the substrate's origin must be {x: …, y: …} with units")
    return {
        "name": str(raw.get("name", "substrate")),
        "rows": int(raw["rows"]),
        "columns": int(raw["columns"]),
        "pitch": to_magnitude(parse_quantity(raw["pitch"], "[length]"), "mm"),
        "origin": (
            to_magnitude(parse_quantity(origin.get("x", "0 mm"), "[length]"), "mm"),
            to_magnitude(parse_quantity(origin.get("y", "0 mm"), "[length]"), "mm"),
        ),
    }


class DropletCellTwin(ConfiguredTwin[DropletCellTwinOptions]):
    """Installs the droplet glue into the world (no server; see the module docstring).

    Args:
        world: the shared world.
        cell: the world cell's name.
        substrate: the substrate's sites.
        stage: the stage's name.
        head_vial: the head's vial (``None``: always wet).
        contact_diameter: m.
    """

    kind: ClassVar[str] = "droplet-cell"
    Options = DropletCellTwinOptions

    def __init__(
        self,
        world: World,
        *,
        cell: str,
        substrate: DropletSubstrate,
        stage: str,
        head_vial: str | None = None,
        contact_diameter: float = 1e-3,
    ) -> None:
        self.world = world
        self.substrate = substrate
        self.cell: DropletCell = install(
            world,
            cell=cell,
            substrate=substrate,
            stage=stage,
            head_vial=head_vial,
            contact_diameter=contact_diameter,
        )

    @classmethod
    def check_options(
        cls, name: str, device: DeviceConfig, options: DropletCellTwinOptions
    ) -> list[ConfigIssue]:
        """An unknown preset and an unreadable ``options.substrate`` of the device."""
        issues: list[ConfigIssue] = []
        if options.preset not in PRESETS:
            issues.append(
                ConfigIssue(
                    (*twin_options_path(name), "preset"),
                    f"known presets: {', '.join(PRESETS)}",
                    options.preset,
                )
            )
        try:
            _geometry(device)
        except (LabctlError, KeyError, TypeError, ValueError) as error:
            issues.append(
                ConfigIssue(("devices", name, "options", "substrate"), f"unreadable: {error}")
            )
        return issues

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: DropletCellTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The glue for droplet cell ``name`` in ``world`` (a private one if ``None``)."""
        del time_scale
        geometry = _geometry(device)
        diameter = options.contact_diameter * 1e-3
        substrate = DropletSubstrate(
            name=geometry["name"],
            rows=geometry["rows"],
            columns=geometry["columns"],
            pitch=geometry["pitch"],
            origin=geometry["origin"],
            preset=options.preset,
            seed=seed if options.seed is None else options.seed,
            spread=options.spread,
            overrides=options.overrides,
            electrode_area=3.141592653589793 * (diameter / 2) ** 2,
            surface_z=options.surface_z,
        )
        return cls(
            world if world is not None else World(seed),
            cell=options.cell or name,
            substrate=substrate,
            stage=options.stage,
            head_vial=options.head_vial,
            contact_diameter=diameter,
        )

    # -- the Twin protocol: nothing to serve --------------------------------------------------
    @property
    def address(self) -> str:
        """Empty: the droplet cell has no wire of its own."""
        return ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Nothing to start; returns the empty address."""
        del host, port
        return ""

    def stop(self) -> None:
        """Nothing to stop."""

    def close(self) -> None:
        """Nothing to close."""
