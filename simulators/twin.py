"""What every twin offers the lab that starts it.

A twin is a simulated instrument that speaks the real instrument's wire protocol on a loopback
address. The lab builds it from the device's config (so it serves the layout the driver expects),
starts it, points the driver at :attr:`Twin.address`, and stops it on close.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from labctl.config import DeviceConfig, TwinConfig
from labctl.simulators.world import World

__all__ = ["Twin", "TwinFactory"]


@runtime_checkable
class Twin(Protocol):
    """A running (or runnable) simulated instrument."""

    kind: ClassVar[str]

    @property
    def address(self) -> str:
        """Where the driver reaches it (valid after :meth:`start`)."""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on ``host:port`` (0 = a free port) and return the address."""

    def stop(self) -> None:
        """Stop serving (idempotent)."""


class TwinFactory(Protocol):
    """Builds a twin for one device of a lab config."""

    def __call__(
        self,
        name: str,
        device: DeviceConfig,
        twin: TwinConfig,
        *,
        seed: int,
        time_scale: float,
        world: World,
    ) -> Any:
        """Return an unstarted twin that acts on ``world`` (the lab's shared simulated world)."""
