"""Environment sensors: glovebox and room conditions (O2, H2O, temperature, pressure) over OPC UA.

:class:`EnvironmentSensor` is an ophyd Device with one read-only signal per configured channel.
Each read asks the controller for the channel's node value (through
:class:`~labctl.transports.opcua.OpcUaTransport`, with the configured timeout), converts it from
the unit the controller reports to the SI unit it is recorded in, and carries the channel's alarm
limits in ``describe()``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from ophyd import Component, Device
from ophyd.signal import SignalRO
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labctl.config import DeviceConfig
from labctl.devices.alarms import AlarmLimits
from labctl.errors import ConfigIssue, ProtocolError, UnitError
from labctl.transports.opcua import OpcUaTransport
from labctl.units import record_unit, to_magnitude, ureg

__all__ = ["ChannelOptions", "EnvironmentSensor", "EnvironmentSensorOptions"]


class ChannelOptions(BaseModel):
    """One channel of an environment controller.

    Args:
        node: the OPC UA node id string (``ns=2;s=glovebox.o2``).
        units: the unit the controller reports the value in (``ppm``, ``degC``, ``hPa``).
        precision: decimals worth showing.
        description: what the channel measures, for people.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str = Field(min_length=1)
    units: str
    precision: int = Field(default=3, ge=0, le=12)
    description: str = ""

    @field_validator("units")
    @classmethod
    def _is_unit(cls, value: str) -> str:
        record_unit(value)  # raises UnitError (a ValueError) for a non-unit
        return value


class EnvironmentSensorOptions(BaseModel):
    """``options`` of an ``environment-sensor`` device.

    Args:
        channels: channel name → where and in which unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, ChannelOptions] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, channels: dict[str, ChannelOptions]) -> dict[str, ChannelOptions]:
        for name in channels:
            if not name.isidentifier():
                raise ValueError(f"channel name {name!r} must be a Python identifier")
        return channels


class OpcUaChannel(SignalRO):  # type: ignore[misc]
    """A read-only signal whose value is read from one OPC UA node on every ``get()``.

    The parent device assigns the channel's options and transport after construction.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel: ChannelOptions | None = None
        self.transport: OpcUaTransport | None = None
        self.alarm = AlarmLimits()

    @property
    def record_units(self) -> str:
        """The unit values are recorded in."""
        assert self.channel is not None
        return record_unit(self.channel.units)

    def get(self, **kwargs: Any) -> float:  # noqa: ARG002 — ophyd passes options readers ignore
        """Read the node now and return the value in :attr:`record_units`."""
        assert self.channel is not None
        assert self.transport is not None
        (raw,) = self.transport.read_values([self.channel.node])
        value = _in_record_units(raw, self.channel, self.transport)
        self._readback = value
        self._metadata["timestamp"] = time.time()
        return value

    def describe(self) -> dict[str, dict[str, Any]]:
        """Data keys with units, precision and alarm limits."""
        assert self.channel is not None
        assert self.transport is not None
        description = {
            "source": f"opcua:{self.transport.address}/{self.channel.node}",
            "dtype": "number",
            "shape": [],
            "units": self.record_units,
            "precision": self.channel.precision,
        }
        if self.alarm.bounded:
            description["limits"] = self.alarm.data_key_limits()
        return {self.name: description}


class EnvironmentSensor(Device):  # type: ignore[misc]
    """A glovebox or room controller read over OPC UA: one signal per configured channel.

    Build it with :meth:`from_config`; the channels become components named after the channels
    (``glovebox.o2``), and their data keys are ``<device>_<channel>``.

    Args:
        transport: the OPC UA connection.
        options: the channels.
        alarm_limits: channel → (low, high) in the recorded unit, for ``describe()``.
    """

    Options: ClassVar[type[BaseModel]] = EnvironmentSensorOptions

    def __init__(
        self,
        *,
        transport: OpcUaTransport,
        options: EnvironmentSensorOptions,
        alarm_limits: Mapping[str, AlarmLimits] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transport = transport
        self.options = options
        for channel_name, channel in options.channels.items():
            signal: OpcUaChannel = getattr(self, channel_name)
            signal.channel = channel
            signal.transport = transport
            signal.alarm = (alarm_limits or {}).get(channel_name, AlarmLimits())

    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: EnvironmentSensorOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with this device's options and limits, with key paths."""
        where = ("devices", name)
        issues: list[ConfigIssue] = []
        if options is None:  # the channels are unreadable: nothing to check the limits against
            return issues
        for limit_name, limit in config.limits.items():
            channel = options.channels.get(limit_name)
            if channel is None:
                issues.append(
                    ConfigIssue(
                        (*where, "limits", limit_name),
                        f"no channel of that name; channels are {sorted(options.channels)}",
                    )
                )
                continue
            for end in ("low", "high"):
                value = getattr(limit, end)
                if value is not None and not value.is_compatible_with(channel.units):
                    issues.append(
                        ConfigIssue(
                            (*where, "limits", limit_name, end),
                            f"wrong dimension: channel {limit_name!r} is in {channel.units}",
                            f"{value:~P}",
                        )
                    )
        return issues

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: EnvironmentSensorOptions
    ) -> EnvironmentSensor:
        """Build the device for ``config``, talking to ``address`` (not yet connected)."""
        transport = OpcUaTransport(
            address,
            device=name,
            connect_timeout=to_magnitude(config.timeout.connect, "s"),
            read_timeout=to_magnitude(config.timeout.read, "s"),
        )
        alarm_limits: dict[str, AlarmLimits] = {}
        for channel_name, limit in config.limits.items():
            unit = record_unit(options.channels[channel_name].units)
            low = None if limit.low is None else to_magnitude(limit.low, unit)
            high = None if limit.high is None else to_magnitude(limit.high, unit)
            alarm_limits[channel_name] = AlarmLimits(low, high)
        components = {
            channel_name: Component(OpcUaChannel, kind="hinted")
            for channel_name in options.channels
        }
        device_class = type(f"EnvironmentSensor_{name}", (cls,), components)
        return device_class(  # type: ignore[no-any-return]
            name=name,
            transport=transport,
            options=options,
            alarm_limits=alarm_limits,
            # bluesky's %ct counts what is labelled "detectors"; %wa lists labels.
            labels={"detectors", "sensors"},
        )

    def connect(self) -> None:
        """Open the OPC UA session and check every configured node can be read.

        Raises:
            CommunicationError: the server is unreachable, silent, or lacks a node.
        """
        self.transport.connect()
        self.transport.read_values([channel.node for channel in self.options.channels.values()])

    def close(self) -> None:
        """Close the OPC UA session."""
        self.transport.close()

    def channel_values(self) -> dict[str, float]:
        """Read every channel at once (one request) in the recorded units."""
        channels = self.options.channels
        raw = self.transport.read_values([channel.node for channel in channels.values()])
        return {
            channel_name: _in_record_units(value, channel, self.transport)
            for (channel_name, channel), value in zip(channels.items(), raw, strict=True)
        }


def _in_record_units(raw: Any, channel: ChannelOptions, transport: OpcUaTransport) -> float:
    """A node's value as a number in the channel's recorded unit.

    Only an integer or a float is a reading: a boolean, a text (``"1.5"``) or bytes from the
    server are refused, not converted (``float()`` would take all three).

    Raises:
        ProtocolError: the node holds something else.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ProtocolError(
            transport.device,
            transport.address,
            f"node {channel.node} holds {type(raw).__name__}, not a number",
            sent=f"Read {channel.node}",
            expected="a number",
            received=raw,
        )
    try:
        return to_magnitude(ureg.Quantity(float(raw), channel.units), record_unit(channel.units))
    except (OverflowError, ValueError, UnitError) as error:
        raise ProtocolError(
            transport.device,
            transport.address,
            f"node {channel.node} holds {raw!r}, not a number in {channel.units} ({error})",
            sent=f"Read {channel.node}",
            expected="a number",
            received=raw,
        ) from error
