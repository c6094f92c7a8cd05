"""Lab configuration: YAML files validated into pydantic models.

A lab config names the lab, where its data live, and its devices. Each device entry names its
``kind`` (what it is: ``environment-sensor``), its ``driver`` (which wire protocol: ``opcua``), its
``address`` (where: ``opc.tcp://10.0.0.5:4840``), its timeouts, its safety ``limits`` and the
options its device class defines. A device may name a ``twin`` instead of (or besides) an address:
the lab then starts that simulated instrument on a free loopback port and talks to it through the
same driver — simulation is a choice of address, never a branch in driver code.

Every physical value carries units (``"2 s"``, ``"10 ppm"``, ``"25 degC"``); unknown keys are
errors; every error names the file, the key path, the bad value and what was expected.

This module validates the generic structure. Options that belong to one device class are validated
by that class's own model, reached through :mod:`labctl.registry` (see
:func:`labctl.registry.validate_lab_config`), so this module stays on the ground floor.

Example::

    lab:
      name: sim-lab
      operator: A. Volta
      data_directory: ../data/sim-lab
    devices:
      glovebox:
        kind: environment-sensor
        driver: opcua
        twin: {kind: opcua-environment, seed: 1}
        timeout: 2 s
        options:
          channels:
            o2: {node: "ns=2;s=glovebox.o2", units: ppm}
        limits:
          o2: {high: 10 ppm}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from labctl.errors import ConfigError, ConfigIssue
from labctl.units import Quantity, parse_quantity, ureg

__all__ = [
    "QUANTITY_SERIALIZER",
    "BudgetSection",
    "CampaignSection",
    "DeviceConfig",
    "Duration",
    "FailurePolicySection",
    "LabConfig",
    "LabSection",
    "LimitRange",
    "LoadedConfig",
    "OptimizerSection",
    "PublishSection",
    "QuantityField",
    "SimulationSection",
    "StatusServerSection",
    "StoreSection",
    "TwinConfig",
    "config_hash",
    "issues_from_validation_error",
    "load_config",
    "parse_config",
    "quantity_validator",
]


def quantity_validator(dimension: str | None) -> PlainValidator:
    """A pydantic validator parsing text into a pint quantity of ``dimension``.

    Use it to declare a config field of a given dimension::

        Current = Annotated[Quantity, quantity_validator("[current]"), QUANTITY_SERIALIZER]

    Args:
        dimension: a dimensionality (``"[time]"``) or a unit of the wanted dimension
            (``"mA/cm**2"``); ``None`` accepts any quantity that has units.
    """
    return PlainValidator(
        partial(parse_quantity, dimension=dimension),
        json_schema_input_type=str,
    )


QUANTITY_SERIALIZER = PlainSerializer(lambda quantity: f"{quantity:~P}", return_type=str)
"""Writes a quantity back as text (``"2 s"``) when a model is dumped."""

QuantityField: TypeAlias = Annotated[Quantity, quantity_validator(None), QUANTITY_SERIALIZER]
"""Any quantity with units."""

Duration: TypeAlias = Annotated[Quantity, quantity_validator("[time]"), QUANTITY_SERIALIZER]
"""A time span with units (``"2 s"``, ``"500 ms"``)."""


class _Strict(BaseModel):
    """Base of every config model: unknown keys are errors, quantities are pint objects."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


class LimitRange(_Strict):
    """A safety or alarm range for one quantity; either end may be open.

    Args:
        low: lowest allowed value, with units.
        high: highest allowed value, with units.
    """

    low: QuantityField | None = None
    high: QuantityField | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LimitRange:
        if self.low is None and self.high is None:
            raise ValueError("a limit needs at least one of 'low' or 'high'")
        if self.low is not None and self.high is not None:
            if not self.low.is_compatible_with(self.high):
                raise ValueError(
                    f"'low' ({self.low:~P}) and 'high' ({self.high:~P}) have different dimensions"
                )
            if self.low >= self.high:
                raise ValueError(f"'low' ({self.low:~P}) must be below 'high' ({self.high:~P})")
        return self

    def contains(self, value: Quantity) -> bool:
        """Whether ``value`` lies inside the range (ends included)."""
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)

    def describe(self) -> str:
        """The range as text, e.g. ``"[0 ppm, 10 ppm]"`` or ``"≤ 10 ppm"``."""
        if self.low is not None and self.high is not None:
            return f"[{self.low:~P}, {self.high:~P}]"
        if self.high is not None:
            return f"≤ {self.high:~P}"
        return f"≥ {self.low:~P}"


class Timeouts(_Strict):
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


class TwinConfig(_Strict):
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


class DeviceConfig(_Strict):
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


class LabSection(_Strict):
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


class StoreSection(_Strict):
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


class PublishSection(_Strict):
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


class ChaosSection(_Strict):
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


class StatusServerSection(_Strict):
    """The lab's OPC UA status server (``labctl opcua serve``; see :mod:`labctl.status_server`).

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


class SimulationSection(_Strict):
    """Defaults for every twin of the lab.

    Args:
        time_scale: simulated seconds per wall second (0 = instant, 1 = real time).
        seed: base seed; each twin without its own seed derives one from this and its name.
        chaos: make the twins misbehave at random (off when absent).
    """

    time_scale: float = Field(default=0.0, ge=0)
    seed: int = 0
    chaos: ChaosSection | None = None


class SafetySection(_Strict):
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


class BudgetSection(_Strict):
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


class FailurePolicySection(_Strict):
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


class OptimizerSection(_Strict):
    """Which optimizer proposes experiments.

    Args:
        kind: the optimizer's registry name (``botorch-mo``, ``sobol``, ``skopt-gp``).
        seed: seed for reproducible proposals.
        options: optimizer-specific settings, validated by the optimizer.
    """

    kind: str = "botorch-mo"
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


class ApprovalSection(_Strict):
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
        from labctl.approvals import Envelope

        try:
            Envelope.from_config(envelope)
        except ConfigError as error:
            raise ValueError("; ".join(str(issue) for issue in error.issues)) from None
        return envelope


class CampaignSection(_Strict):
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


class LabConfig(_Strict):
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


class LoadedConfig:
    """A validated config with where it came from.

    Args:
        model: the validated lab config.
        source: the file it was read from.
        raw: the document as parsed from YAML (for the config hash and reports).
    """

    def __init__(self, model: LabConfig, source: Path, raw: Mapping[str, Any]) -> None:
        self.model = model
        self.source = source
        self.raw = raw

    @property
    def data_directory(self) -> Path:
        """The lab's data directory, resolved against the config file's folder."""
        directory = self.model.lab.data_directory
        if not directory.is_absolute():
            directory = self.source.parent / directory
        return directory.resolve()

    @property
    def store_directory(self) -> Path:
        """The embedded store's folder."""
        directory = self.model.store.directory
        if directory is None:
            return self.data_directory / "tiled"
        if not directory.is_absolute():
            directory = self.source.parent / directory
        return directory.resolve()

    @property
    def hash(self) -> str:
        """SHA-256 of the parsed document (stable under reformatting and comment changes)."""
        return config_hash(self.raw)


def config_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a parsed config document, independent of key order."""
    canonical = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _find_duplicate_keys(node: yaml.Node, path: tuple[str | int, ...]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    ConfigIssue(
                        (*path, str(key)),
                        f"duplicate key on line {line} (first on line {seen[key]}); "
                        "each name may appear once",
                    )
                )
            else:
                seen[key] = line
            issues.extend(_find_duplicate_keys(value_node, (*path, str(key))))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            issues.extend(_find_duplicate_keys(item, (*path, index)))
    return issues


def _parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text, turning syntax errors and duplicate keys into a :class:`ConfigError`."""
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError(source, [ConfigIssue((), f"not valid YAML: {error}")]) from None
    if root is None:
        raise ConfigError(source, [ConfigIssue((), "the file is empty")])
    duplicates = _find_duplicate_keys(root, ())
    if duplicates:
        raise ConfigError(source, duplicates)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
        raise ConfigError(source, [ConfigIssue((), f"not valid YAML: {error}")]) from None


def issues_from_validation_error(
    error: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[ConfigIssue]:
    """Turn pydantic's errors into config issues with key paths a person can follow."""
    issues = []
    for detail in error.errors(include_url=False):
        location = tuple(part for part in detail["loc"] if not _is_internal_location(part))
        message = _plain_message(detail)
        value = None if detail["type"] == "missing" else detail.get("input")
        if isinstance(value, dict | list):
            value = None  # a whole sub-document is noise in a one-line message
        issues.append(ConfigIssue((*prefix, *location), message, value))
    return issues


def _is_internal_location(part: object) -> bool:
    # pydantic adds validator names such as "function-before[...]" to locations.
    return isinstance(part, str) and (
        ("[" in part and "]" in part) or part.startswith("function-")
    )


def _plain_message(detail: Mapping[str, Any]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "this key is required but missing"
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; unknown keys are not allowed)"
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _resolve_extends(
    document: dict[str, Any], source: Path, seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Apply ``extends: other.yaml`` (relative to the file): the other file, then this one."""
    if "extends" not in document:
        return document
    target = document.pop("extends")
    if not isinstance(target, str) or not target:
        raise ConfigError(source, [ConfigIssue(("extends",), "must be a file name", target)])
    base_path = (source.parent / target).resolve()
    if base_path in seen or base_path == source.resolve():
        raise ConfigError(
            source, [ConfigIssue(("extends",), "configs extend each other in a loop", target)]
        )
    try:
        base_text = base_path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            source, [ConfigIssue(("extends",), f"cannot read {base_path}: {error}", target)]
        ) from None
    base = _parse_yaml(base_text, str(base_path))
    if not isinstance(base, dict):
        raise ConfigError(base_path, [ConfigIssue((), "the top level must be a mapping")])
    base = _resolve_extends(base, base_path, (*seen, source.resolve()))
    if "lab" in base and "data_directory" in base["lab"]:
        # A relative data directory belongs to the file that named it.
        directory = Path(str(base["lab"]["data_directory"]))
        if not directory.is_absolute():
            base["lab"] = {**base["lab"], "data_directory": str(base_path.parent / directory)}
    return _merge(base, document)


def parse_config(text: str, source: str | Path = "<string>") -> LoadedConfig:
    """Validate a lab config given as YAML text.

    A config may start from another with ``extends: sim-lab.yaml`` (relative to its own file):
    that file is read first and this one is laid over it, key by key.

    Raises:
        ConfigError: with every issue found, each naming its key path.
    """
    document = _parse_yaml(text, str(source))
    if not isinstance(document, dict):
        raise ConfigError(
            source,
            [ConfigIssue((), "the top level must be a mapping with 'lab' and 'devices'")],
        )
    document = _resolve_extends(document, Path(source).resolve())
    try:
        model = LabConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(source, issues_from_validation_error(error)) from None
    return LoadedConfig(model, Path(source).resolve(), document)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a lab config file.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or does not validate.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigIssue((), "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [ConfigIssue((), "this is a directory, not a file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [ConfigIssue((), f"cannot be read: {error}")]) from None
    loaded = parse_config(text, source)
    # Every command keeps files under it: a file (or a device) there would fail later, deep in
    # the store, the queue server or the approvals, with a bare OSError.
    data_directory = loaded.data_directory
    if data_directory.exists() and not data_directory.is_dir():
        raise ConfigError(
            source,
            [
                ConfigIssue(
                    ("lab", "data_directory"),
                    f"{data_directory} exists and is not a folder",
                    str(loaded.model.lab.data_directory),
                )
            ],
        )
    return loaded
