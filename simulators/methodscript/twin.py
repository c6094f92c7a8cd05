"""The MethodSCRIPT potentiostat twin: a simulated EmStat4 HR on loopback TCP (or in memory).

The driver reaches it as the pyserial URL ``socket://127.0.0.1:PORT``. One instrument state is
shared by all connections; each connection gets its own
:class:`~labctl.simulators.methodscript.instrument.MethodScriptSession`, whose scripts stream
their output while the link keeps reading (so ``Z`` aborts a running measurement).

Physics: the shared electrochemistry model,
``labctl.simulators.electrochem.response.respond(technique, state, rng)``, answers every
measurement loop. Twin option ``cell`` names a measurement cell of the lab's world (its state is
``cell_state(world, cell)``, asked afresh for each loop); without a world or a cell the twin
measures a default ``CellState()`` of that module. Tests may pass ``respond``/``state`` directly.

Faults: ``drop``, ``silence``, ``garbage`` act on the wire in both directions — a dropped link
also cuts a running measurement's stream, silence also stops it, garbage replaces the next chunk
of it — and ``instrument_error`` makes the next script stop at its first measurement loop with
``!0001``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.simulators.electrochem import CellState, cell_state, respond
from labctl.simulators.methodscript.instrument import MethodScriptInstrument, MethodScriptSession
from labctl.simulators.methodscript.interpreter import InstrumentLimits, Respond
from labctl.simulators.serving import InstrumentTwin
from labctl.simulators.twin import ConfiguredTwin
from labctl.simulators.world import World

__all__ = ["MethodScriptTwin", "MethodScriptTwinOptions"]


class MethodScriptTwinOptions(BaseModel):
    """``twin.options`` of a ``methodscript`` twin.

    Args:
        cell: the world's measurement cell on the electrodes (``None``: a default cell state).
        max_potential: largest |potential| the instrument applies or measures, V.
        max_current: top current range, A.
        max_frequency: highest EIS frequency, Hz.
    """

    model_config = ConfigDict(extra="forbid")

    cell: str | None = None
    max_potential: float = Field(default=6.0, gt=0)
    max_current: float = Field(default=0.1, gt=0)
    max_frequency: float = Field(default=200e3, gt=0)


class MethodScriptTwin(
    ConfiguredTwin[MethodScriptTwinOptions], InstrumentTwin[MethodScriptInstrument]
):
    """A simulated PalmSens EmStat4 HR (MethodSCRIPT) on loopback TCP.

    Args:
        model: the electrochemistry model (default: the shared model's ``respond``).
        state: returns the cell state (default: one ``CellState()`` of the shared model).
        seed: noise seed.
        time_scale: simulated seconds per wall second (0 = instant).
        limits: the instrument's limits.
        name: for thread names.
    """

    kind: ClassVar[str] = "methodscript"
    Options = MethodScriptTwinOptions

    def __init__(
        self,
        model: Respond | None = None,
        state: Callable[[], Any] | None = None,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        limits: InstrumentLimits | None = None,
        name: str = "methodscript",
    ) -> None:
        super().__init__(name=name)
        if state is None:
            own = CellState()
            state = lambda: own  # noqa: E731
        self.instrument = MethodScriptInstrument(
            model or respond, state, seed=seed, time_scale=time_scale, limits=limits
        )

    def session(self) -> MethodScriptSession:
        """A new link to the instrument (in-memory tests feed it directly)."""
        return MethodScriptSession(self.instrument, name=self.name)

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: MethodScriptTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of potentiostat ``name``, measuring ``world``'s cell ``options.cell``."""
        del device
        limits = InstrumentLimits(
            potential=options.max_potential,
            current=options.max_current,
            max_frequency=options.max_frequency,
        )
        state: Callable[[], Any] | None = None
        if options.cell is not None and world is not None:
            world.cell(options.cell)
            cell_name = options.cell
            state = lambda: cell_state(world, cell_name)  # noqa: E731
        return cls(None, state, seed=seed, time_scale=time_scale, limits=limits, name=name)

    @property
    def output_on(self) -> bool:
        """Whether the cell is switched on (off = open circuit)."""
        with self.instrument.lock:
            return bool(self.instrument.cell_on)
