"""The Cavro pump twin: simulated XCalibur pumps on one line, served on loopback TCP or in memory.

The driver reaches it as the pyserial URL ``socket://127.0.0.1:PORT``. The pumps' state is
shared by every connection; each connection gets its own
:class:`~labctl.simulators.cavro.instrument.CavroBusSession` (framing). The pump acts on the
lab's shared :class:`~labctl.simulators.world.World`: twin options bind valve ports to stock
bottles, vials and measurement cells (see :class:`CavroTwinOptions`).

Faults: ``drop``, ``silence``, ``garbage`` (the wire, from
:class:`~labctl.simulators.serving.TcpTwinServer`) and the instrument's own: ``clog`` (the line
delivers 30 % less until cleared), ``plunger_overload`` / ``valve_overload`` (the next plunger /
valve move stalls: error 9 / 10 until re-initialised), ``init_failure`` (the next
initialisation fails: error 1), ``power_cycle`` (the pump forgets its initialisation: error 7 on
the next move); :meth:`CavroTwin.inject_error` puts any error code into the next answer.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.errors import ConfigError, ConfigIssue, UnitError
from labctl.simulators.cavro.instrument import (
    CavroBus,
    CavroBusSession,
    PortBinding,
    SimulatedPump,
)
from labctl.simulators.serving import ServedTwin
from labctl.simulators.twin import ConfiguredTwin, twin_options_path
from labctl.simulators.world import Stock, World
from labctl.units import parse_quantity, to_magnitude

__all__ = ["CavroTwin", "CavroTwinOptions", "CellDefinition", "StockDefinition"]

_INSTRUMENT_FAULTS = frozenset(
    {"clog", "plunger_overload", "valve_overload", "init_failure", "power_cycle"}
)


class StockDefinition(BaseModel):
    """A stock bottle the twin puts into the world when the world lacks it.

    Args:
        name: the stock's name.
        mass_fractions: component → mass fraction (sums to 1).
        density: g/mL.
        volume: mL in the bottle.
        price: currency per g (optional).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    mass_fractions: dict[str, float]
    density: float = Field(gt=0)
    volume: float = Field(ge=0)
    price: float | None = None


class CellDefinition(BaseModel):
    """The geometry of a measurement cell a pump port feeds (a flow-through conductivity cell).

    Set on the world's cell of that name (created if absent), so the potentiostat twin wired to
    the same cell (its option ``cell``) measures with it.

    Args:
        name: the world cell's name.
        cell_constant: K_cell = length/area, 1/cm (the true value; a lab calibrates it).
        electrode_area: working-electrode area, cm².
        temperature: electrolyte temperature, K (the glovebox's, the cell has no thermostat).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    cell_constant: float = Field(default=1.0, gt=0)
    electrode_area: float = Field(default=0.0707, gt=0)
    temperature: float = Field(default=298.15, gt=0)


class CavroTwinOptions(BaseModel):
    """``twin.options`` of a ``cavro`` twin.

    The syringe volume, the number of valve ports and the pump's bus address come from the
    device's own options (``syringe_volume``, ``ports``, ``pump_address``).

    Args:
        stocks: valve port → the world's stock bottle plumbed to it.
        vials: valve port → the vial (deck position) plumbed to it.
        cells: valve port → the world's measurement cell plumbed to it (liquid pushed there
            fills the cell; liquid drawn from there empties it).
        define_stocks: stock bottles to put into the world if it has none of that name.
        define_cells: geometry of measurement cells the pump feeds (see :class:`CellDefinition`).
        dosing_error: relative standard deviation of each volume drawn from a stock.
        clog_fraction: share a clogged line holds back (0.3 = delivers 30 % less).
        busy_polls: status polls answered busy after each move at time scale 0.
        vial_density: g/mL assumed when liquid is drawn back out of a vial.
    """

    model_config = ConfigDict(extra="forbid")

    stocks: dict[int, str] = Field(default_factory=dict)
    vials: dict[int, str] = Field(default_factory=dict)
    cells: dict[int, str] = Field(default_factory=dict)
    define_stocks: list[StockDefinition] = Field(default_factory=list)
    define_cells: list[CellDefinition] = Field(default_factory=list)
    dosing_error: float = Field(default=0.002, ge=0, lt=0.5)
    clog_fraction: float = Field(default=0.3, ge=0, le=1)
    busy_polls: int = Field(default=1, ge=0, le=1000)
    vial_density: float = Field(default=1.2, gt=0)


class CavroTwin(ConfiguredTwin[CavroTwinOptions], ServedTwin):
    """Simulated Cavro pumps on one serial line, served on loopback TCP.

    Args:
        pumps: bus address → simulated pump.
        name: for thread names.
    """

    kind: ClassVar[str] = "cavro"
    Options = CavroTwinOptions

    def __init__(self, pumps: dict[int, SimulatedPump], *, name: str = "cavro") -> None:
        super().__init__(name=name)
        self.bus = CavroBus(pumps)

    def session(self) -> CavroBusSession:
        """A new connection to the line (in-memory tests feed it directly)."""
        return CavroBusSession(self.bus)

    @property
    def pump(self) -> SimulatedPump:
        """The pump with the lowest address (the only one of a lab's twin)."""
        return self.bus.pumps[min(self.bus.pumps)]

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def check_options(
        cls, name: str, device: DeviceConfig, options: CavroTwinOptions
    ) -> list[ConfigIssue]:
        """Valve ports beyond the device's ``ports`` and ports bound twice, with key paths."""
        where = twin_options_path(name)
        ports = int(device.options.get("ports", 9))
        issues = []
        for group in ("stocks", "vials", "cells"):
            for port in getattr(options, group):
                if not 1 <= port <= ports:
                    issues.append(
                        ConfigIssue((*where, group, port), f"the valve has ports 1…{ports}", port)
                    )
        for port in set(options.stocks) & set(options.vials):
            issues.append(
                ConfigIssue((*where, "vials", port), "the port is already bound to a stock", port)
            )
        for port in (set(options.stocks) | set(options.vials)) & set(options.cells):
            issues.append(
                ConfigIssue(
                    (*where, "cells", port), "the port is already bound to a stock or vial", port
                )
            )
        return issues

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: CavroTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of pump ``name``, acting on ``world`` (a private world if ``None``)."""
        where = twin_options_path(name)
        world = world if world is not None else World(seed)
        with world.lock:
            for spec in options.define_stocks:
                if spec.name not in world.stocks:
                    world.add_stocks([Stock(**spec.model_dump())])
            for cell_spec in options.define_cells:
                cell = world.cell(cell_spec.name)
                cell.cell_constant = cell_spec.cell_constant
                cell.electrode_area = cell_spec.electrode_area
                cell.temperature = cell_spec.temperature
        missing = [
            ConfigIssue((*where, "stocks", port), f"the world has no stock {stock!r}", stock)
            for port, stock in options.stocks.items()
            if stock not in world.stocks
        ]
        if missing:
            raise ConfigError("<config>", missing)
        try:
            syringe = to_magnitude(
                parse_quantity(device.options.get("syringe_volume", "1 mL"), "[volume]"), "mL"
            )
        except UnitError as error:
            raise ConfigError(
                "<config>",
                [ConfigIssue(("devices", name, "options", "syringe_volume"), str(error))],
            ) from error
        bindings = {port: PortBinding("stock", stock) for port, stock in options.stocks.items()}
        bindings |= {port: PortBinding("vial", vial) for port, vial in options.vials.items()}
        bindings |= {port: PortBinding("cell", cell) for port, cell in options.cells.items()}
        pump = SimulatedPump(
            world,
            syringe_volume=syringe,
            ports=int(device.options.get("ports", 9)),
            bindings=bindings,
            rng=np.random.default_rng(seed),
            dosing_error=options.dosing_error,
            clog_fraction=options.clog_fraction,
            busy_polls=options.busy_polls,
            time_scale=time_scale,
            vial_density=options.vial_density,
        )
        return cls({int(device.options.get("pump_address", 1)): pump}, name=name)

    # -- faults ---------------------------------------------------------------------------------
    def inject_error(self, code: int) -> None:
        """The next answer of every pump carries error ``code`` (1…15)."""
        for pump in self.bus.pumps.values():
            pump.inject_error(code)

    instrument_faults = _INSTRUMENT_FAULTS
    chaos_instrument_faults = frozenset({"clog", "plunger_overload"})

    def _instrument_fault(self, fault: str | None) -> None:
        for pump in self.bus.pumps.values():
            with pump.lock:
                if fault is None:
                    pump.clog = False
                    pump.overload = None
                    pump.init_failure = False
                    pump.next_error = 0
                elif fault == "clog":
                    pump.clog = True
                elif fault == "plunger_overload":
                    pump.overload = "plunger"
                elif fault == "valve_overload":
                    pump.overload = "valve"
                elif fault == "init_failure":
                    pump.init_failure = True
            if fault == "power_cycle":
                pump.power_cycle()
