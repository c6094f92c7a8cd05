"""The GRBL stage twin: a simulated G-code XYZ stage on loopback TCP (or in memory).

The driver reaches it as the pyserial URL ``socket://127.0.0.1:PORT``; tests may talk to
:meth:`GrblTwin.session` through :class:`~labctl.transports.memory.MemoryTransport`. One
controller (:class:`~labctl.simulators.grbl.machine.GrblMachine`) is shared by all connections.

The world: the twin keeps the stage's position in ``world.stages[<device name>]``
(:mod:`labctl.simulators.grbl.stage_world`). With twin option ``surface_z`` (work Z of the
substrate surface, mm) the droplet touches the substrate when the tip is at or below
``surface_z + droplet_height``: :attr:`GrblTwin.contact` and
``stage_world.contact(world, name)`` say so, and status reports show the probe pin triggered
(``Pn:P``) while it does. Option ``substrate`` records which entry of ``world.substrates`` lies
under the stage; when ``surface_z`` is not given and that entry has a ``surface_z`` (attribute or
key), that height is used.

Faults: ``drop``, ``silence``, ``garbage`` (the wire, from
:class:`~labctl.simulators.serving.TcpTwinServer`), ``alarm`` (the next move trips a limit
switch half way: ``ALARM:1``) and ``contact_loss`` (the droplet reports no contact).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from labctl.config import DeviceConfig
from labctl.simulators.grbl.machine import GrblMachine, MachineSettings
from labctl.simulators.grbl.session import GrblSession
from labctl.simulators.grbl.stage_world import StageState, stage_state
from labctl.simulators.serving import ServedTwin
from labctl.simulators.twin import ConfiguredTwin
from labctl.simulators.world import World

__all__ = ["GrblTwin", "GrblTwinOptions"]

Axes = tuple[float, float, float]


class GrblTwinOptions(BaseModel):
    """``twin.options`` of a ``grbl`` twin (lengths in mm, rates in mm/min).

    Args:
        travel: machine travel per axis, ``{x: [low, high], ...}`` (machine coordinates).
        home: machine position after homing.
        max_rate: maximum rate per axis.
        homing_rate: homing seek rate.
        soft_limits: refuse targets outside the travel with ``ALARM:2``.
        hard_limits: stop at the travel's end with ``ALARM:1``.
        homing: homing enabled (``$H``).
        start_locked: start in the Alarm state until homed or unlocked.
        work_offset: G54 work coordinate offset (WPos = MPos − WCO).
        report: report ``mpos`` (machine) or ``wpos`` (work) positions.
        substrate: the ``world.substrates`` entry under the stage.
        surface_z: work Z of the substrate surface (``None``: no contact ever).
        droplet_height: how far the droplet hangs below the tip.
        probe_on_contact: show contact as a triggered probe pin (``Pn:P``).
    """

    model_config = ConfigDict(extra="forbid")

    travel: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"x": (0.0, 150.0), "y": (0.0, 150.0), "z": (0.0, 50.0)}
    )
    home: dict[str, float] = Field(default_factory=lambda: {"x": 0.0, "y": 0.0, "z": 50.0})
    max_rate: dict[str, float] = Field(
        default_factory=lambda: {"x": 3000.0, "y": 3000.0, "z": 1000.0}
    )
    homing_rate: float = Field(default=1500.0, gt=0)
    soft_limits: bool = True
    hard_limits: bool = True
    homing: bool = True
    start_locked: bool = True
    work_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    report: Literal["mpos", "wpos"] = "mpos"
    substrate: str | None = None
    surface_z: float | None = None
    droplet_height: float = Field(default=0.5, ge=0)
    probe_on_contact: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> GrblTwinOptions:
        for name in ("travel", "home", "max_rate"):
            unknown = set(getattr(self, name)) - {"x", "y", "z"}
            if unknown:
                raise ValueError(f"{name}: axes are x, y and z, not {sorted(unknown)}")
        for axis, (low, high) in self.travel.items():
            if not low < high:
                raise ValueError(f"travel of {axis}: low ({low}) must be below high ({high})")
        for axis, rate in self.max_rate.items():
            if rate <= 0:
                raise ValueError(f"max_rate of {axis} must be positive, got {rate}")
        if self.soft_limits and not self.homing:
            raise ValueError("soft limits need homing enabled (GRBL error 10)")
        return self

    def settings(self) -> MachineSettings:
        """The machine settings these options describe."""
        defaults = MachineSettings()
        travel = tuple(self.travel.get(axis, defaults.travel[i]) for i, axis in enumerate("xyz"))
        home = [self.home.get(axis, defaults.home[i]) for i, axis in enumerate("xyz")]
        rate = [self.max_rate.get(axis, defaults.max_rate[i]) for i, axis in enumerate("xyz")]
        return MachineSettings(
            travel=travel,
            home=(home[0], home[1], home[2]),
            max_rate=(rate[0], rate[1], rate[2]),
            homing_rate=self.homing_rate,
            soft_limits=self.soft_limits,
            hard_limits=self.hard_limits,
            homing=self.homing,
            start_locked=self.start_locked,
            work_offset=self.work_offset,
            report_machine_position=self.report == "mpos",
            probe_on_contact=self.probe_on_contact,
        )


class GrblTwin(ConfiguredTwin[GrblTwinOptions], ServedTwin):
    """A simulated GRBL v1.1 XYZ stage.

    Args:
        options: the machine and substrate (default options when ``None``).
        seed: accepted for the common twin signature; the controller has no noise.
        time_scale: simulated seconds per wall second (0 = moves finish at once).
        stage: its state in the shared world (a private one when ``None``).
        name: for thread names and the world's stage table.
    """

    kind: ClassVar[str] = "grbl"
    Options = GrblTwinOptions

    def __init__(
        self,
        options: GrblTwinOptions | None = None,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        stage: StageState | None = None,
        name: str = "grbl",
    ) -> None:
        del seed
        super().__init__(name=name)
        self.options = options or GrblTwinOptions()
        self.stage = stage or StageState(name)
        self.stage.substrate = self.options.substrate
        if self.options.surface_z is not None:
            self.stage.contact_z = self.options.surface_z + self.options.droplet_height
        self.machine = GrblMachine(
            self.options.settings(), time_scale=time_scale, stage=self.stage
        )

    def session(self) -> GrblSession:
        """A new connection to the controller (in-memory tests feed it directly)."""
        return GrblSession(self.machine)

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: GrblTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of stage ``name``, its state in ``world.stages[name]`` (when there is one)."""
        del device
        stage = None
        if world is not None:
            stage = stage_state(world, name)
            if options.substrate is not None and options.surface_z is None:
                surface = _surface_z(world.substrates.get(options.substrate))
                if surface is not None:
                    options = options.model_copy(update={"surface_z": surface})
        return cls(options, seed=seed, time_scale=time_scale, stage=stage, name=name)

    # -- what tests and other twins ask -------------------------------------------------------
    @property
    def time_scale(self) -> float:
        """Simulated seconds per wall second."""
        return self.machine.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        with self.machine.lock:
            self.machine.update()
            self.machine.time_scale = value

    @property
    def contact(self) -> bool:
        """Whether the droplet touches the substrate now."""
        return self.stage.contact

    @property
    def work_position(self) -> Axes:
        """Where the tip is, work coordinates, mm."""
        self.machine.update()
        return self.machine.work_position

    @property
    def machine_position(self) -> Axes:
        """Where the tip is, machine coordinates, mm."""
        self.machine.update()
        return self.machine.position

    @property
    def state(self) -> str:
        """The controller's machine state now."""
        self.machine.update()
        return self.machine.state

    # -- faults -------------------------------------------------------------------------------

    instrument_faults = frozenset({"alarm", "contact_loss"})

    def _instrument_fault(self, fault: str | None) -> None:
        if fault == "alarm":
            with self.machine.lock:
                self.machine.pending_alarm = 1
        elif fault == "contact_loss":
            self.stage.contact_lost = True
        else:
            with self.machine.lock:
                self.machine.pending_alarm = None
            self.stage.contact_lost = False


def _surface_z(substrate: Any) -> float | None:
    if substrate is None:
        return None
    value = (
        substrate.get("surface_z")
        if isinstance(substrate, dict)
        else getattr(substrate, "surface_z", None)
    )
    return None if value is None else float(value)
