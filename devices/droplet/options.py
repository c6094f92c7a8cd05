"""The ``options`` of a ``droplet-cell`` device: parts, substrate grid, heights, contact probe.

Quantities carry units (pint) and are checked when the config is validated, so a wrong unit or
an impossible height order is a config error with its key path, never a surprise mid-move.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from labctl.config import QUANTITY_SERIALIZER, Duration, quantity_validator
from labctl.units import parse_quantity, to_magnitude, ureg

__all__ = ["ContactOptions", "DropletCellOptions", "SubstrateOptions"]

Length: TypeAlias = Annotated[Any, quantity_validator("[length]"), QUANTITY_SERIALIZER]
Speed: TypeAlias = Annotated[Any, quantity_validator("mm/min"), QUANTITY_SERIALIZER]
Volume: TypeAlias = Annotated[Any, quantity_validator("[volume]"), QUANTITY_SERIALIZER]
Current: TypeAlias = Annotated[Any, quantity_validator("A"), QUANTITY_SERIALIZER]
Potential: TypeAlias = Annotated[Any, quantity_validator("V"), QUANTITY_SERIALIZER]


class SubstrateOptions(BaseModel):
    """The substrate's site grid (``options.substrate``).

    Args:
        name: the substrate's name (recorded in the site file and in readings).
        rows: rows of sites (Y direction).
        columns: columns of sites (X direction).
        pitch: distance between neighbouring sites (≥ two droplet diameters, REFERENCES 4).
        origin: stage work coordinates of site (0, 0): ``{x: 10 mm, y: 10 mm}``.
        state_file: the site-state file, relative to the lab's data directory (default
            ``droplet/<name>.sites.json``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(default="substrate", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    rows: int = Field(ge=1, le=1000)
    columns: int = Field(ge=1, le=1000)
    pitch: Length
    origin: dict[str, Length] = Field(
        default_factory=lambda: {"x": ureg.Quantity(0.0, "mm"), "y": ureg.Quantity(0.0, "mm")}
    )
    state_file: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SubstrateOptions:
        if set(self.origin) - {"x", "y"}:
            raise ValueError(f"origin has x and y only, not {sorted(set(self.origin))}")
        if not to_magnitude(self.pitch, "mm") > 0:
            raise ValueError("pitch must be > 0")
        return self


class ContactOptions(BaseModel):
    """The electrical contact probe (``options.contact``).

    Args:
        current: amplitude of the ± probe current (net charge zero).
        pulse: length of each half.
        cycles: ± pairs per probe.
        swing: the largest peak-to-peak cell voltage that counts as a landed droplet.
        compliance: compliance voltage of the probe (a dry gap drives the cell to it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    current: Current = Field(default_factory=lambda: parse_quantity("1 uA", "A"))
    pulse: Duration = Field(default_factory=lambda: parse_quantity("10 ms"))
    cycles: int = Field(default=2, ge=1, le=100)
    swing: Potential = Field(default_factory=lambda: parse_quantity("1 V", "V"))
    compliance: Potential = Field(default_factory=lambda: parse_quantity("3 V", "V"))


class DropletCellOptions(BaseModel):
    """``options`` of a ``droplet-cell`` device (driver ``composite``).

    Args:
        stage: the stage device's name.
        pump: the electrolyte syringe pump's name.
        potentiostat: the potentiostat's name.
        substrate: the site grid.
        safe_z: travel height (lateral moves only happen at or above it; REFERENCES 4: lift
            ≈ 5 mm).
        approach_start: Z where the stepwise landing starts (above contact).
        approach_step: Z step between contact probes.
        land_limit: the lowest Z landing may reach; no contact by then is an error.
        travel_feed: feed of lifts and lateral moves (default: the stage's).
        approach_feed: feed of landing steps.
        flush_from: pump port (number or name) the electrolyte comes from.
        flush_to: pump port feeding the cell head.
        flush_volume: volume an experiment plan flushes before landing (as
            :func:`~labctl.plans.pulsed_charging.pulsed_charging_experiment` does; 0 mL: none).
        contact: the contact probe.
        watch_interval: how often the contact is checked while landed.
        watch_contact: check the contact sensor (stage probe input) while landed.
        move_timeout: longest wait for one stage move or pump stroke.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    stage: str
    pump: str
    potentiostat: str
    substrate: SubstrateOptions
    safe_z: Length = Field(default_factory=lambda: parse_quantity("10 mm", "[length]"))
    approach_start: Length
    approach_step: Length = Field(default_factory=lambda: parse_quantity("0.1 mm", "[length]"))
    land_limit: Length
    travel_feed: Speed | None = None
    approach_feed: Speed = Field(default_factory=lambda: parse_quantity("60 mm/min", "mm/min"))
    flush_from: int | str = 1
    flush_to: int | str = 2
    flush_volume: Volume = Field(default_factory=lambda: parse_quantity("0 mL", "[volume]"))
    contact: ContactOptions = Field(default_factory=ContactOptions)
    watch_interval: Duration = Field(default_factory=lambda: parse_quantity("50 ms"))
    watch_contact: bool = True
    move_timeout: Duration = Field(default_factory=lambda: parse_quantity("120 s"))

    @model_validator(mode="after")
    def _heights(self) -> DropletCellOptions:
        safe, start, limit = (
            to_magnitude(self.safe_z, "mm"),
            to_magnitude(self.approach_start, "mm"),
            to_magnitude(self.land_limit, "mm"),
        )
        if not limit < start <= safe:
            raise ValueError("heights must satisfy land_limit < approach_start ≤ safe_z")
        if not to_magnitude(self.approach_step, "mm") > 0:
            raise ValueError("approach_step must be > 0")
        return self
