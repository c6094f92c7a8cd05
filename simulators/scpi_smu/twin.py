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

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from labctl.config import DeviceConfig, TwinConfig
from labctl.errors import ConfigIssue
from labctl.simulators.electrochem import CellState, cell_state, respond
from labctl.simulators.scpi_smu.cell import ResponseCell
from labctl.simulators.scpi_smu.instrument import CellModel, ScpiSmuSession, SmuInstrument
from labctl.simulators.serving import ServedTwin, TcpTwinServer
from labctl.simulators.twin import twin_option_issues, twin_options
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


class ScpiSmuTwin(ServedTwin):
    """A simulated Keithley 2450-class SMU on loopback TCP.

    Args:
        cell_model: what is on the terminals (default: the shared electrochemistry model
            answering for a default :class:`~labctl.simulators.electrochem.CellState`).
        seed: noise seed.
        time_scale: simulated seconds per wall second (0 = instant).
        name: for thread names.
    """

    kind: ClassVar[str] = "scpi-smu"

    def __init__(
        self,
        cell_model: CellModel | None = None,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        name: str = "scpi-smu",
    ) -> None:
        if cell_model is None:
            own = CellState()
            cell_model = ResponseCell(respond, lambda: own)
        self.instrument = SmuInstrument(cell_model, seed=seed, time_scale=time_scale)
        self.server = TcpTwinServer(lambda: ScpiSmuSession(self.instrument), name=name)
        self.name = name

    @classmethod
    def check_config(cls, name: str, device: DeviceConfig, twin: TwinConfig) -> list[ConfigIssue]:
        """Every problem with ``twin.options``, with key paths."""
        del device
        return twin_option_issues(ScpiSmuTwinOptions, name, twin)

    @classmethod
    def from_config(
        cls,
        name: str,
        device: DeviceConfig,
        twin: TwinConfig,
        *,
        seed: int,
        time_scale: float,
        world: World | None = None,
    ) -> ScpiSmuTwin:
        """Build the twin for device ``name``."""
        del device
        options = twin_options(ScpiSmuTwinOptions, name, twin)
        cell: CellModel | None = None
        if options.cell is not None and world is not None:
            world.cell(options.cell)
            cell_name = options.cell
            cell = ResponseCell(respond, lambda: cell_state(world, cell_name))
        return cls(cell, seed=seed, time_scale=time_scale, name=name)

    def _address_for(self, host: str, port: int) -> str:
        return f"TCPIP::{host}::{port}::SOCKET"

    def _instrument_fault(self, fault: str | None) -> None:
        if fault is None:
            with self.instrument.lock:
                self.instrument.pending_error = None
        else:
            self.instrument.inject_error()

    @property
    def time_scale(self) -> float:
        """Simulated seconds per wall second (0 = sweeps finish at once)."""
        return float(self.instrument.time_scale)

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.instrument.time_scale = value

    @property
    def output_on(self) -> bool:
        """Whether the output is on (off = the cell is at open circuit)."""
        with self.instrument.lock:
            return bool(self.instrument.output)
