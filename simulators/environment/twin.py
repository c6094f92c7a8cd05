"""OPC UA twin of a glovebox/room environment controller.

A real asyncua :class:`~asyncua.Server` on loopback serving one Double variable per channel, with
the node ids the device is configured to read. Values are computed when a client reads them, from
:class:`~labctl.simulators.environment.model.EnvironmentModel`: at ``time_scale`` 0 each read of a
channel advances the model by ``sample_period`` simulated seconds (instant and deterministic); at
``time_scale`` > 0 the model follows wall time scaled by ``time_scale``.

The server runs on its own thread and event loop, so stopping it really closes the socket — the
fault a driver must survive — and it can be started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from asyncua import Server, ua
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.simulators.environment.model import (
    ChannelModel,
    EnvironmentModel,
    default_channel_model,
)
from labctl.simulators.twin import ConfiguredTwin
from labctl.simulators.world import World
from labctl.transports.background_loop import BackgroundLoop

__all__ = ["DEFAULT_CHANNELS", "EnvironmentTwin", "TwinChannel"]

NAMESPACE_URI = "urn:labctl:twin:environment"

DEFAULT_CHANNELS: dict[str, tuple[str, str]] = {
    "o2": ("ns=2;s=glovebox.o2", "ppm"),
    "h2o": ("ns=2;s=glovebox.h2o", "ppm"),
    "temperature": ("ns=2;s=glovebox.temperature", "degC"),
    "pressure": ("ns=2;s=glovebox.pressure", "hPa"),
}
"""Channel → (node id, unit) of the standalone twin: an argon glovebox's controller."""

_LONGEST_FREEZE = 30.0
"""Seconds a frozen twin holds a read before answering anyway."""


class TwinChannel(BaseModel):
    """Model parameters of one channel, in the unit the instrument reports.

    Args:
        mean: set point.
        sd: standard deviation of the fluctuations.
        tau: relaxation time, s.
        drift: set-point change per hour.
    """

    model_config = ConfigDict(extra="forbid")

    mean: float
    sd: float = Field(ge=0)
    tau: float = Field(default=300.0, gt=0)
    drift: float = 0.0


class EnvironmentTwinOptions(BaseModel):
    """``twin.options`` of an ``opcua-environment`` twin.

    Args:
        sample_period: simulated seconds per read at time scale 0.
        channels: per-channel model parameters; channels not listed get defaults by name.
    """

    model_config = ConfigDict(extra="forbid")

    sample_period: float = Field(default=1.0, gt=0)
    channels: dict[str, TwinChannel] = Field(default_factory=dict)


class EnvironmentTwin(ConfiguredTwin[EnvironmentTwinOptions]):
    """A simulated environment controller speaking OPC UA.

    Args:
        channels: channel name → (node id string, unit the values are in).
        models: channel name → model; defaults by channel name when missing.
        seed: noise seed.
        time_scale: simulated seconds per wall second (0 = one sample period per read).
        sample_period: simulated seconds per read at time scale 0.
    """

    kind: ClassVar[str] = "opcua-environment"
    Options = EnvironmentTwinOptions

    def __init__(
        self,
        channels: Mapping[str, tuple[str, str]] | None = None,
        models: Mapping[str, ChannelModel] | None = None,
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        sample_period: float = 1.0,
    ) -> None:
        self.channels = dict(channels or DEFAULT_CHANNELS)
        chosen = dict(models or {})
        for name in self.channels:
            chosen.setdefault(name, default_channel_model(name))
        self.model = EnvironmentModel(chosen, seed=seed)
        self.time_scale = time_scale
        self.sample_period = sample_period
        self._lock = threading.Lock()
        self._wall_start = time.monotonic()
        self._loop: BackgroundLoop | None = None
        self._server: Server | None = None
        self._address = ""
        self._host = "127.0.0.1"
        self._port = 0
        self._answering = threading.Event()
        self._answering.set()
        self._stopping: Server | None = None
        self.reads = 0

    @classmethod
    def build(
        cls,
        name: str,
        device: DeviceConfig,
        options: EnvironmentTwinOptions,
        *,
        seed: int,
        time_scale: float,
        world: World | None,
    ) -> Self:
        """The twin that serves the nodes ``device`` is configured to read.

        The glovebox atmosphere is not part of the shared ``world`` (nothing else acts on it).
        """
        del name, world
        raw_channels = device.options.get("channels", {})
        channels = {
            channel: (str(spec["node"]), str(spec.get("units", "")))
            for channel, spec in raw_channels.items()
            if isinstance(spec, dict) and "node" in spec
        } or dict(DEFAULT_CHANNELS)
        models = {
            channel: ChannelModel(
                mean=spec.mean,
                sd=spec.sd,
                tau=spec.tau,
                drift=spec.drift / 3600.0,
                low=default_channel_model(channel).low,
            )
            for channel, spec in options.channels.items()
        }
        return cls(
            channels,
            models,
            seed=seed,
            time_scale=time_scale,
            sample_period=options.sample_period,
        )

    @property
    def address(self) -> str:
        """The OPC UA endpoint (valid while started)."""
        return self._address

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving on ``host:port`` (port 0 = free port; a restart reuses the last one)."""
        if self._server is not None:
            return self._address
        if self._loop is None:
            self._loop = BackgroundLoop(name=f"twin-{self.kind}")
        chosen_port = port or self._port
        server, actual_port = self._loop.run(self._start_server(host, chosen_port), 30.0)
        self._server = server
        self._port = actual_port
        self._host = host
        self._address = f"opc.tcp://{host}:{actual_port}"
        return self._address

    async def _start_server(self, host: str, port: int) -> tuple[Server, int]:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{host}:{port}")
        server.set_server_name("labctl environment twin")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        namespaces_needed = max(
            ua.NodeId.from_string(node).NamespaceIndex for node, _ in self.channels.values()
        )
        index = await server.register_namespace(NAMESPACE_URI)
        while index < namespaces_needed:
            index = await server.register_namespace(f"{NAMESPACE_URI}:{index + 1}")
        folder = await server.nodes.objects.add_object(
            ua.NodeId("environment", 2), ua.QualifiedName("environment", 2)
        )
        for channel, (node, unit) in self.channels.items():
            node_id = ua.NodeId.from_string(node)
            variable = await folder.add_variable(
                node_id, ua.QualifiedName(channel, node_id.NamespaceIndex), 0.0
            )
            await variable.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(f"{channel} in {unit}"))),
            )
            server.iserver.aspace.set_attribute_value_callback(
                node_id, ua.AttributeIds.Value, self._value_callback(channel)
            )
        await server.start()
        sockets = server.bserver._server.sockets if server.bserver._server else []
        actual_port = sockets[0].getsockname()[1] if sockets else port
        return server, int(actual_port)

    def _value_callback(self, channel: str) -> Any:
        def read(node_id: ua.NodeId, attribute: ua.AttributeIds) -> ua.DataValue:  # noqa: ARG001
            value = self.sample(channel)
            return ua.DataValue(
                ua.Variant(value, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.StatusCodes.Good),
                SourceTimestamp=datetime.now(UTC),
            )

        return read

    def chaos_faults(self) -> frozenset[str]:
        """Faults chaos mode may inject: silence, a controller restart, an atmosphere excursion."""
        return frozenset({"silence", "restart", "excursion"})

    def begin_fault(self, kind: str, rng: Any) -> Callable[[], None]:
        """Start a fault now; the returned function ends it.

        ``silence`` freezes the server, ``restart`` stops it (it comes back on the same port when
        the fault ends), ``excursion`` holds a channel (H2O or O2 when there are such, otherwise
        any) at ten times its current value plus one unit — far outside any sane limit.
        """
        if kind == "silence":
            self.freeze()
            return self.thaw
        if kind == "restart":
            self.stop()

            def come_back() -> None:
                self.start(self._host, self._port)

            return come_back
        if kind == "excursion":
            preferred: list[str] = [c for c in ("h2o", "o2") if c in self.channels]
            preferred = preferred or sorted(self.channels)
            channel = str(rng.choice(preferred))
            self.model.set_excursion(channel, 10.0 * abs(self.model.value(channel)) + 1.0)
            return lambda: self.model.set_excursion(channel, None)
        raise ValueError(f"{self.kind} twin offers no {kind!r} fault")

    def freeze(self) -> None:
        """Fault: stop answering reads (the socket stays open, replies never come)."""
        self._answering.clear()

    def thaw(self) -> None:
        """End a :meth:`freeze`: pending and new reads are answered again."""
        self._answering.set()

    def sample(self, channel: str) -> float:
        """Advance the model as the time scale says and return the channel's current value."""
        # A frozen controller holds the request; the bound keeps a forgotten freeze from
        # wedging the twin's thread forever.
        self._answering.wait(timeout=_LONGEST_FREEZE)
        if self._stopping is not None:
            # Stopped while holding a request: the connection dies and the reply never leaves.
            for transport in list(self._stopping.iserver.asyncio_transports):
                transport.abort()
        with self._lock:
            self.reads += 1
            if self.time_scale == 0:
                self.model.advance(self.sample_period)
            else:
                elapsed = (time.monotonic() - self._wall_start) * self.time_scale
                self.model.advance(max(0.0, elapsed - self.model.time))
            return self.model.value(channel)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent); :meth:`start` may follow."""
        server, self._server = self._server, None
        self._stopping = server
        self.thaw()
        try:
            if server is not None and self._loop is not None:
                with contextlib.suppress(TimeoutError):
                    self._loop.run(_stop_server(server), 10.0)
        finally:
            self._stopping = None

    def close(self) -> None:
        """Stop serving and end the twin's thread."""
        self.stop()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> EnvironmentTwin:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _stop_server(server: Server) -> None:
    with contextlib.suppress(TimeoutError, OSError):
        await asyncio.wait_for(server.stop(), 5.0)
