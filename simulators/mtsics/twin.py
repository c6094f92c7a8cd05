"""The MT-SICS balance twin: a simulated analytical balance on loopback TCP (or in memory).

The driver reaches it as the pyserial URL ``socket://127.0.0.1:PORT``. One balance state is
shared by every connection; each connection gets its own
:class:`~labctl.simulators.mtsics.instrument.MtSicsSession`. The balance weighs the world vial
named by twin option ``vial`` (:meth:`MtSicsTwin.place` puts another one on the pan).

Faults: ``drop``, ``silence``, ``garbage`` (the wire, from
:class:`~labctl.simulators.serving.TcpTwinServer`) and the instrument's ``unstable`` (draught:
no stable reading, ``S``/``Z``/``T`` answer ``I``), ``overload`` and ``underload``.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.simulators.mtsics.instrument import MtSicsSession, SimulatedBalance
from labctl.simulators.serving import ServedTwin
from labctl.simulators.twin import ConfiguredTwin
from labctl.simulators.world import World

__all__ = ["MtSicsTwin", "MtSicsTwinOptions"]

_INSTRUMENT_FAULTS = frozenset({"unstable", "overload", "underload"})


class MtSicsTwinOptions(BaseModel):
    """``twin.options`` of an ``mtsics`` twin (masses in g, times in s of the balance's clock).

    Args:
        vial: the world's vial on the pan (``None``: empty pan).
        capacity: largest net load, g.
        readability: display step, g.
        noise: standard deviation of a reading, g.
        settling_time: time to a stable reading after the load changes, s.
        drift: zero-point drift, g per hour.
        stability_timeout: the balance's own limit for a stable reading, s.
        sample_period: clock advance per immediate reading at time scale 0, s.
        serial_number: what ``I4`` answers.
    """

    model_config = ConfigDict(extra="forbid")

    vial: str | None = None
    capacity: float = Field(default=220.0, gt=0)
    readability: float = Field(default=1e-4, gt=0)
    noise: float = Field(default=5e-5, ge=0)
    settling_time: float = Field(default=2.0, ge=0)
    drift: float = 0.0
    stability_timeout: float = Field(default=10.0, gt=0)
    sample_period: float = Field(default=0.1, ge=0)
    serial_number: str = Field(default="B000000001", pattern=r'^[^"\r\n]{1,40}$')


class MtSicsTwin(ConfiguredTwin[MtSicsTwinOptions], ServedTwin):
    """A simulated Mettler-Toledo balance on loopback TCP.

    Args:
        balance: the simulated balance.
        name: for thread names.
    """

    kind: ClassVar[str] = "mtsics"
    Options = MtSicsTwinOptions

    def __init__(self, balance: SimulatedBalance, *, name: str = "mtsics") -> None:
        super().__init__(name=name)
        self.balance = balance

    def session(self) -> MtSicsSession:
        """A new connection to the balance (in-memory tests feed it directly)."""
        return MtSicsSession(self.balance)

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: MtSicsTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin of balance ``name`` weighing a vial of ``world`` (a private world if none)."""
        del device
        balance = SimulatedBalance(
            world if world is not None else World(seed),
            vial=options.vial,
            capacity=options.capacity,
            readability=options.readability,
            noise=options.noise,
            settling_time=options.settling_time,
            drift=options.drift,
            stability_timeout=options.stability_timeout,
            sample_period=options.sample_period,
            time_scale=time_scale,
            rng=np.random.default_rng(seed),
            serial_number=options.serial_number,
        )
        return cls(balance, name=name)

    def place(self, vial: str | None) -> None:
        """Put vial ``vial`` of the world on the pan (``None``: take it off)."""
        with self.balance.lock:
            self.balance.vial = vial

    instrument_faults = _INSTRUMENT_FAULTS
    chaos_instrument_faults = frozenset({"unstable"})

    def _instrument_fault(self, fault: str | None) -> None:
        with self.balance.lock:
            if fault is None:
                self.balance.unstable = False
                self.balance.overload = False
                self.balance.underload = False
            else:
                setattr(self.balance, fault, True)
