"""The SCPI source-measure-unit twin: :class:`SmuInstrument` served on loopback TCP.

The driver reaches it as the VISA resource ``TCPIP::127.0.0.1::PORT::SOCKET``. One instrument
state is shared by all connections (it is one instrument); each connection gets its own line
framing. Faults: ``drop``, ``silence``, ``garbage`` (the wire, from
:class:`~labctl.simulators.serving.TcpTwinServer`) and ``instrument_error`` (the next
configuration command fails with ``-300,"Device-specific error"`` in the error queue).

The cell on the terminals is the shared electrochemistry model
(:func:`labctl.simulators.electrochem.respond`), reached through
:class:`~labctl.simulators.scpi_smu.cell.ResponseCell`: twin option ``cell`` names a measurement
cell of the lab's world (created empty if no other twin made it yet; a dry cell is an open
circuit); otherwise the twin measures its own default
:class:`~labctl.simulators.electrochem.CellState`.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict

from labctl.config import DeviceConfig
from labctl.simulators.electrochem import CellState, cell_state, respond
from labctl.simulators.scpi_smu.cell import ResponseCell
from labctl.simulators.scpi_smu.instrument import CellModel, ScpiSmuSession, SmuInstrument
from labctl.simulators.serving import InstrumentTwin
from labctl.simulators.twin import ConfiguredTwin
from labctl.simulators.world import World

__all__ = ["ScpiSmuTwin", "ScpiSmuTwinOptions"]


class ScpiSmuTwinOptions(BaseModel):
    """``twin.options`` of a ``scpi-smu`` twin.

    Args:
        cell: the world's measurement cell wired to the terminals (``None``: the twin's own
            default cell).
    """

    model_config = ConfigDict(extra="forbid")

    cell: str | None = None


class ScpiSmuTwin(ConfiguredTwin[ScpiSmuTwinOptions], InstrumentTwin[SmuInstrument]):
    """A simulated Keithley 2450-class SMU on loopback TCP.

    Args:
        cell_model: what is on the terminals (default: the shared electrochemistry model
            answering for a default :class:`~labctl.simulators.electrochem.CellState`).
        seed: noise seed.
        time_scale: simulated seconds per wall second (0 = instant).
        name: for thread names.
    """

    kind: ClassVar[str] = "scpi-smu"
    Options = ScpiSmuTwinOptions

    def __init__(
        self,
        cell_model: CellModel | None = None,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        name: str = "scpi-smu",
    ) -> None:
        super().__init__(name=name)
        if cell_model is None:
            own = CellState()
            cell_model = ResponseCell(respond, lambda: own)
        self.instrument = SmuInstrument(cell_model, seed=seed, time_scale=time_scale)

    def session(self) -> ScpiSmuSession:
        """A new connection's line framing over the one instrument (tests feed it directly)."""
        return ScpiSmuSession(self.instrument)

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: ScpiSmuTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of SMU ``name``, ``world``'s cell ``options.cell`` on its terminals."""
        del device
        cell: CellModel | None = None
        if options.cell is not None and world is not None:
            world.cell(options.cell)
            cell_name = options.cell
            cell = ResponseCell(respond, lambda: cell_state(world, cell_name))
        return cls(cell, seed=seed, time_scale=time_scale, name=name)

    def _address_for(self, host: str, port: int) -> str:
        return f"TCPIP::{host}::{port}::SOCKET"

    @property
    def output_on(self) -> bool:
        """Whether the output is on (off = the cell is at open circuit)."""
        with self.instrument.lock:
            return bool(self.instrument.output)
