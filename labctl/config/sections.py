"""The sections of a lab config: the lab, its devices and twins, store, simulation, campaign.

A lab config names the lab, where its data live, and its devices. Each device entry names its
``kind`` (what it is: ``environment-sensor``), its ``driver`` (which wire protocol: ``opcua``), its
``address`` (where: ``opc.tcp://10.0.0.5:4840``), its timeouts, its safety ``limits`` and the
options its device class defines. A device may name a ``twin`` instead of (or besides) an address:
the lab then starts that simulated instrument on a free loopback port and talks to it through the
same driver — simulation is a choice of address, never a branch in driver code.

These models validate the generic structure. Options that belong to one device class are validated
by that class's own model, reached through :mod:`labctl.lab.registry` (see
:func:`labctl.lab.registry.validate_lab_config`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from labctl.config.envelope import Envelope
from labctl.config.fields import (
    Duration,
    LimitRange,
    StrictModel,
)
from labctl.errors import ConfigError
from labctl.units import Quantity, parse_quantity, ureg


class Timeouts(StrictModel):
    """How long to wait for an instrument.

    Args:
        connect: to open the connection and check the instrument answers.
        read: for one reply to one request.
    """

    connect: Duration = Field(default_factory=lambda: parse_quantity("5 s"))
    read: Duration = Field(default_factory=lambda: parse_quantity("2 s"))

    @field_validator("connect", "read")
    @classmethod
    def _positive(cls, value: Quantity) -> Quantity:
        if value.to("s").magnitude <= 0:
            raise ValueError(f"a timeout must be positive, got {value:~P}")
        if value.to("s").magnitude > 3600:
            raise ValueError(f"a timeout over one hour ({value:~P}) would hide a hang")
        return value


def _timeouts_from_shorthand(value: object) -> object:
    """Accept ``timeout: 2 s`` as shorthand for the same read and connect timeout."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"connect": value, "read": value}
    return value


class TwinConfig(StrictModel):
    """A simulated instrument the lab starts on loopback for this device.

    Args:
        kind: the twin's registry name (``opcua-environment``).
        seed: seed of the twin's noise and drift, for reproducible runs.
        time_scale: simulated seconds per wall second — 0 answers at once, 1 is real time.
            ``None`` takes the lab's ``simulation.time_scale``.
        options: twin-specific model parameters, validated by the twin's own model.
    """

    kind: str = Field(min_length=1)
    seed: int | None = None
    time_scale: float | None = Field(default=None, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


_ADDRESS_PATTERN = re.compile(r"^\S+$")


COMPOSITE_DRIVER = "composite"
"""The driver of a device made of other devices of the lab (no address, no twin of its own)."""


class DeviceConfig(StrictModel):
    """One instrument of the lab.

    Args:
        kind: what the device is, e.g. ``environment-sensor``.
        driver: which wire protocol its driver speaks, e.g. ``opcua``.
        address: where the instrument is (a pyserial URL, a VISA resource, an OPC UA endpoint).
            May be omitted when ``twin`` is given: the twin's loopback address is used.
        twin: a simulated instrument to start for this device.
        timeout: timeouts for connecting and for each reply (``timeout: 2 s`` sets both).
        limits: safety or alarm ranges by quantity name; which names a device knows is defined
            by its class.
        options: device-class options (channels, electrode area, ...), validated by the class.
    """

    kind: str = Field(min_length=1)
    driver: str = Field(min_length=1)
    address: str | None = None
    twin: TwinConfig | None = None
    timeout: Annotated[Timeouts, BeforeValidator(_timeouts_from_shorthand)] = Field(
        default_factory=Timeouts
    )
    limits: dict[str, LimitRange] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _address_shape(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS_PATTERN.match(value):
            raise ValueError("an address is one word without spaces, e.g. opc.tcp://host:4840")
        return value

    @model_validator(mode="after")
    def _reachable_somehow(self) -> DeviceConfig:
        if self.address is None and self.twin is None and self.driver != COMPOSITE_DRIVER:
            raise ValueError("a device needs an 'address', or a 'twin' to simulate it")
        return self


class LabSection(StrictModel):
    """Who and where.

    Args:
        name: the lab's name, written into every run's start document.
        operator: who runs it, written into every run's start document.
        data_directory: where the store and the lab's state files live; relative paths are
            relative to the config file.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    operator: str = "unknown"
    data_directory: Path = Path("data")


class StoreSection(StrictModel):
    """Where bluesky documents go.

    Args:
        kind: ``embedded`` keeps a Tiled catalog in the lab's data directory (default, no server
            to set up); ``tiled`` writes to an external Tiled server.
        directory: the embedded catalog's folder (default ``<data_directory>/tiled``).
        uri: the external server's URI (``tiled`` only).
        api_key_env: the environment variable holding the external server's API key.
        keep_server: how long the embedded store's shared local server stays up when idle;
            short commands (``labctl runs``) start it so the next one answers quickly.
            ``0 s`` never starts one.
    """

    kind: Literal["embedded", "tiled"] = "embedded"
    directory: Path | None = None
    uri: str | None = None
    api_key_env: str = "TILED_API_KEY"
    keep_server: Duration = Field(default_factory=lambda: parse_quantity("15 min"))

    @field_validator("keep_server")
    @classmethod
    def _not_negative(cls, value: Quantity) -> Quantity:
        if value.to("s").magnitude < 0:
            raise ValueError(f"keep_server cannot be negative, got {value:~P}")
        return value

    @model_validator(mode="after")
    def _uri_when_external(self) -> StoreSection:
        if self.kind == "tiled" and not self.uri:
            raise ValueError("store kind 'tiled' needs a 'uri' (http://host:8000/api/v1)")
        if self.kind == "embedded" and self.uri:
            raise ValueError("'uri' is only for store kind 'tiled'")
        return self


class PublishSection(StrictModel):
    """Documents streamed live to remote consumers through bluesky's 0MQ proxy.

    The lab's RunEngine publishes every document to the proxy (``labctl proxy serve``), which
    passes them on to any number of consumers (bluesky's ``RemoteDispatcher``: live plots,
    analysis, another lab's writer). Documents are pickled, bluesky's default: consumers must
    trust the proxy, so keep it on a lab network you trust.

    Args:
        proxy: the proxy's input address, ``HOST:PORT`` (what ``labctl proxy serve --in``
            binds), e.g. ``127.0.0.1:5577``.
        prefix: a tag on every message so consumers of a proxy shared by several labs can pick
            this lab's documents (letters, digits, ``_.-``; empty: no tag).
    """

    proxy: str = Field(pattern=r"^[A-Za-z0-9_.\-]+:[0-9]{1,5}$")
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.\-]*$")


class ChaosSection(StrictModel):
    """Chaos mode: every twin misbehaves at seeded random moments (reliability testing).

    Args:
        mean_interval: mean wall time between faults on one twin (a Poisson process).
        duration: how long each fault lasts.
        kinds: allowed fault kinds (empty: everything each twin offers — drop, silence,
            garbage, restart, excursion, clog, alarm, contact loss, instrument error).
        weights: relative frequency of each kind among those its twin offers (default 1; 0
            never injects it), e.g. ``{clog: 3}`` makes a pump's clog as frequent as its three
            wire faults together.
        seed: seed of the fault schedule (default: the simulation seed).
    """

    mean_interval: Duration = Field(default_factory=lambda: ureg.Quantity(30.0, "s"))
    duration: Duration = Field(default_factory=lambda: ureg.Quantity(2.0, "s"))
    kinds: list[str] = Field(default_factory=list)
    weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    seed: int | None = None


class StatusServerSection(StrictModel):
    """The lab's OPC UA status server (``labctl opcua serve``).

    See :mod:`labctl.operations.status_server`.

    Args:
        host: the address to listen on (loopback by default; ``0.0.0.0`` for the lab network).
        port: the TCP port (4840 is OPC UA's registered port; 0 picks a free one).
        writable: offer the methods Pause, PauseNow, Resume and Abort of the RunEngine, to
            authenticated ``users`` only; anonymous clients can always browse and read only.
        users: user name → the environment variable holding that user's password.
        security: ``none`` (no encryption) or ``Basic256Sha256`` (Sign & Encrypt only).
        certificate: the server's X.509 certificate (PEM or DER; ``Basic256Sha256`` only);
            relative paths are relative to the config file.
        private_key: the certificate's private key (PEM, unencrypted).
        trusted_clients: client certificates accepted on the encrypted endpoint; empty
            accepts any client certificate (the channel is still encrypted).
        period: how often sensors are read for the status tree.
    """

    host: str = Field(default="127.0.0.1", min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    port: int = Field(default=4840, ge=0, le=65535)
    writable: bool = False
    users: dict[str, str] = Field(default_factory=dict)
    security: Literal["none", "Basic256Sha256"] = "none"
    certificate: Path | None = None
    private_key: Path | None = None
    trusted_clients: list[Path] = Field(default_factory=list)
    period: Duration = Field(default_factory=lambda: ureg.Quantity(1.0, "s"))

    @field_validator("users")
    @classmethod
    def _user_names(cls, users: dict[str, str]) -> dict[str, str]:
        for name, variable in users.items():
            if not name.strip():
                raise ValueError("a user name cannot be empty")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
                raise ValueError(
                    f"user {name!r}: {variable!r} is not an environment variable name; give the "
                    "variable that holds the password, never the password itself"
                )
        return users

    @field_validator("period")
    @classmethod
    def _positive_period(cls, value: Quantity) -> Quantity:
        if value.to("s").magnitude <= 0:
            raise ValueError(f"period must be positive, got {value:~P}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StatusServerSection:
        if self.security == "Basic256Sha256" and (
            self.certificate is None or self.private_key is None
        ):
            raise ValueError("security 'Basic256Sha256' needs 'certificate' and 'private_key'")
        if self.security == "none" and (self.certificate or self.private_key):
            raise ValueError("'certificate' and 'private_key' are only for 'Basic256Sha256'")
        if self.trusted_clients and self.security == "none":
            raise ValueError("'trusted_clients' are only checked with 'Basic256Sha256'")
        if self.writable and not self.users:
            raise ValueError("'writable: true' needs at least one entry in 'users'")
        loopback = self.host in ("127.0.0.1", "localhost", "::1")
        if self.writable and not loopback and self.security == "none":
            raise ValueError(
                "'writable: true' on a non-loopback host needs 'security: Basic256Sha256' "
                "(passwords and commands must not cross the network in clear)"
            )
        return self


class SimulationSection(StrictModel):
    """Defaults for every twin of the lab.

    Args:
        time_scale: simulated seconds per wall second (0 = instant, 1 = real time).
        seed: base seed; each twin without its own seed derives one from this and its name.
        chaos: make the twins misbehave at random (off when absent).
    """

    time_scale: float = Field(default=0.0, ge=0)
    seed: int = 0
    chaos: ChaosSection | None = None


class SafetySection(StrictModel):
    """Suspenders that pause a running plan while the environment is outside its limits.

    Args:
        environment_suspenders: watch every environment sensor's limited channels (and whether it
            answers at all) and suspend the RunEngine while any is out of range.
        period: how often each sensor is read for the watch.
        settle: how long conditions must stay safe before the plan resumes.
        hysteresis: resume once a value is this fraction of its limit back inside.
        rewind: let a suspension rewind the plan to its last checkpoint and redo what followed
            (bluesky's default). Off by default: chemistry is not idempotent — replaying a
            dispense doubles the liquid, replaying a plating pulse plates twice — so a
            suspension holds the plan where it is and continues from there on recovery.
    """

    environment_suspenders: bool = True
    rewind: bool = False
    period: Duration = Field(default_factory=lambda: ureg.Quantity(1.0, "s"))
    settle: Duration = Field(default_factory=lambda: ureg.Quantity(2.0, "s"))
    hysteresis: float = Field(default=0.05, ge=0, lt=1)


class BudgetSection(StrictModel):
    """When a campaign ends.

    Args:
        experiments: experiments to run in all (a resumed campaign counts earlier ones).
        wall_time: wall time for one session, with units (``"8 h"``).
        patience: stop when the hypervolume has not improved for this many experiments.
    """

    experiments: int = Field(ge=1, le=100_000)
    wall_time: Duration | None = None
    patience: int | None = Field(default=None, ge=1)


InterlockName: TypeAlias = Literal[
    "short_circuit", "compliance", "gravimetric_mismatch", "contact_lost", "stage_alarm"
]
"""A safety interlock's name (:data:`labctl.errors.INTERLOCKS`)."""


class FailurePolicySection(StrictModel):
    """What a campaign does when an experiment fails.

    Args:
        retry: ``once`` runs a failed proposal again; ``skip`` moves on.
        max_consecutive: failed attempts in a row that stop the campaign.
        stop_on: safety interlocks that stop the campaign at once (the hardware is already
            safe) instead of a retry or skip: ``short_circuit``, ``compliance``,
            ``gravimetric_mismatch`` (a clogged pump), ``contact_lost``, ``stage_alarm``.
    """

    retry: Literal["once", "skip"] = "once"
    max_consecutive: int = Field(default=3, ge=1)
    stop_on: list[
        Literal[
            "short_circuit", "compliance", "gravimetric_mismatch", "contact_lost", "stage_alarm"
        ]
    ] = Field(default_factory=list)


class OptimizerSection(StrictModel):
    """Which optimizer proposes experiments.

    Args:
        kind: the optimizer's registry name (``botorch-mo``, ``sobol``, ``skopt-gp``).
        seed: seed for reproducible proposals.
        options: optimizer-specific settings, validated by the optimizer.
    """

    kind: str = "botorch-mo"
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


class ApprovalSection(StrictModel):
    """Proposals outside an envelope wait for an operator (``labctl approve``).

    Args:
        envelope: parameter (or mixture member) → ``{low: …, high: …}`` with units; a proposal
            outside any range waits for approval.
        poll: how often the waiting campaign looks for the decision.
    """

    envelope: dict[str, dict[str, Any]] = Field(min_length=1)
    poll: Duration = Field(default_factory=lambda: ureg.Quantity(5.0, "s"))

    @field_validator("envelope")
    @classmethod
    def _valid_envelope(cls, envelope: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        try:
            Envelope.from_config(envelope)
        except ConfigError as error:
            raise ValueError("; ".join(str(issue) for issue in error.issues)) from None
        return envelope


class CampaignSection(StrictModel):
    """A closed-loop campaign run on this lab.

    Args:
        name: a name for people; the campaign id adds a timestamp to it.
        experiment: the experiment plan's registry name (``electrolyte``, ``pulsed-charging``).
        experiment_options: settings of the experiment plan (which devices, cell, vial rack).
        space: the search space (parameters with units and bounds, mixtures, constraints),
            validated by the optimizer layer.
        objectives: objectives and outcome constraints, validated by the optimizer layer.
        optimizer: which optimizer and its settings.
        budget: when to stop.
        failure_policy: what to do with failed experiments.
        approval: an envelope outside which proposals wait for an operator.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    experiment: str = Field(min_length=1)
    experiment_options: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Any] = Field(min_length=1)
    objectives: dict[str, Any] = Field(min_length=1)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    budget: BudgetSection
    failure_policy: FailurePolicySection = Field(default_factory=FailurePolicySection)
    approval: ApprovalSection | None = None


class LabConfig(StrictModel):
    """A whole lab: who, where, what is stored, which devices — and optionally a campaign."""

    lab: LabSection
    store: StoreSection = Field(default_factory=StoreSection)
    publish: PublishSection | None = None
    simulation: SimulationSection = Field(default_factory=SimulationSection)
    safety: SafetySection = Field(default_factory=SafetySection)
    status_server: StatusServerSection | None = None
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)
    campaign: CampaignSection | None = None

    @field_validator("devices")
    @classmethod
    def _device_names(cls, devices: dict[str, DeviceConfig]) -> dict[str, DeviceConfig]:
        for name in devices:
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(
                    f"device name {name!r} must be a Python identifier (letters, digits, '_'), "
                    "so it can be used at the console"
                )
        return devices
