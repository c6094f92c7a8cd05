"""Names in configs → the classes that implement them.

A device entry's ``kind`` and ``driver`` (``environment-sensor`` + ``opcua``) choose a device
class;
a twin's ``kind`` (``opcua-environment``) chooses a simulated instrument. labctl's own classes are
listed here as import strings (nothing heavy is imported until a lab uses it); a lab adds its own
through the entry-point groups ``labctl.devices`` (name ``kind:driver``) and ``labctl.twins``.
A name claimed twice by different classes is an error, never a silent override.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationError

from labctl.config import DeviceConfig, LoadedConfig, TwinConfig, issues_from_validation_error
from labctl.errors import ConfigError, ConfigIssue, LabctlError
from labctl.optimizers import registry as optimizers
from labctl.optimizers.errors import OptimizerError
from labctl.plugins import merged_with_entry_points

__all__ = [
    "DeviceClass",
    "RegistryError",
    "build_device",
    "device_class",
    "device_issues",
    "device_kinds",
    "experiment_factory",
    "experiment_kinds",
    "optimizer_class",
    "optimizer_kinds",
    "simulated_world",
    "start_chaos",
    "twin_class",
    "twin_kinds",
    "validate_lab_config",
]

DEVICE_GROUP = "labctl.devices"
TWIN_GROUP = "labctl.twins"
EXPERIMENT_GROUP = "labctl.experiments"

_BUILTIN_DEVICES: dict[str, str] = {
    "environment-sensor:opcua": "labctl.devices.environment:EnvironmentSensor",
    "potentiostat:scpi": "labctl.devices.potentiostat.device:Potentiostat",
    "potentiostat:methodscript": "labctl.devices.potentiostat.device:Potentiostat",
    "stage:grbl": "labctl.devices.stage.device:Stage",
    "syringe-pump:cavro": "labctl.devices.dispensing.pump:SyringePump",
    "balance:mtsics": "labctl.devices.dispensing.balance:Balance",
    "dispensing-robot:composite": "labctl.devices.dispensing.robot:DispensingRobot",
    "droplet-cell:composite": "labctl.devices.droplet.device:ScanningDropletCell",
}
_BUILTIN_TWINS: dict[str, str] = {
    "opcua-environment": "labctl.simulators.environment.twin:EnvironmentTwin",
    "scpi-smu": "labctl.simulators.scpi_smu.twin:ScpiSmuTwin",
    "methodscript": "labctl.simulators.methodscript.twin:MethodScriptTwin",
    "grbl": "labctl.simulators.grbl.twin:GrblTwin",
    "cavro": "labctl.simulators.cavro.twin:CavroTwin",
    "mtsics": "labctl.simulators.mtsics.twin:MtSicsTwin",
    "droplet-cell": "labctl.simulators.droplet.twin:DropletCellTwin",
}
# The simulated lab the twins share, and chaos mode over them: reached only from here, so no
# runtime module imports labctl.simulators (an import contract says so).
_SIMULATION: dict[str, str] = {
    "world": "labctl.simulators.world:World",
    "chaos-monkey": "labctl.simulators.chaos:ChaosMonkey",
    "chaos-options": "labctl.simulators.chaos:ChaosOptions",
}
# Campaign building blocks: experiment kinds (a factory returning the plan and its reducer).
# Optimizer kinds (a class with ``from_campaign(section)``) have their one registry in
# labctl.optimizers.registry.
_BUILTIN_EXPERIMENTS: dict[str, str] = {
    "electrolyte": "labctl.plans.electrolyte:electrolyte",
    "pulsed-charging": "labctl.plans.pulsed_charging:pulsed_charging",
}


class RegistryError(LabctlError):
    """Two different classes claim one name, or a registered class cannot be imported."""


class DeviceClass(Protocol):
    """What the lab needs of a device class.

    The registry parses a device's ``options`` once, with the class's :attr:`Options` model, and
    hands the parsed model down: to :meth:`check_config` for the problems a model alone cannot
    see (limits against options, ports against the valve), then to :meth:`from_config`. Which
    drivers a kind has is the registry's to say (its ``kind:driver`` names), not the class's.
    """

    Options: ClassVar[type[BaseModel]]

    @classmethod
    def check_config(cls, name: str, config: DeviceConfig, options: Any) -> list[ConfigIssue]:
        """Every problem beyond the options model, with key paths.

        ``options`` is ``None`` when the model refused them: the class then checks what does
        not depend on them (its limits, its address).
        """

    @classmethod
    def from_config(cls, name: str, config: DeviceConfig, address: str, options: Any) -> Any:
        """Build the device from its parsed options (not yet connected)."""


@cache
def _device_table() -> dict[str, str]:
    return merged_with_entry_points(_BUILTIN_DEVICES, DEVICE_GROUP, RegistryError)


@cache
def _twin_table() -> dict[str, str]:
    return merged_with_entry_points(_BUILTIN_TWINS, TWIN_GROUP, RegistryError)


@cache
def _experiment_table() -> dict[str, str]:
    return merged_with_entry_points(_BUILTIN_EXPERIMENTS, EXPERIMENT_GROUP, RegistryError)


def experiment_kinds() -> list[str]:
    """Known experiment kinds (campaign ``experiment``)."""
    return sorted(_experiment_table())


def optimizer_kinds() -> list[str]:
    """Known optimizer kinds (campaign ``optimizer.kind``)."""
    return optimizers.kinds()


def experiment_factory(kind: str) -> Any:
    """The experiment factory registered as ``kind``.

    Raises:
        KeyError: nothing is registered under that name.
    """
    return _load(_experiment_table()[kind])


def optimizer_class(kind: str) -> Any:
    """The optimizer class registered as ``kind`` (:mod:`labctl.optimizers.registry`).

    Raises:
        KeyError: nothing is registered under that name.
        RegistryError: the registered class cannot be imported.
    """
    try:
        return optimizers.get(kind)
    except OptimizerError as error:
        raise RegistryError(str(error)) from error


def _load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise RegistryError(f"cannot import {target}: {error}") from error


def device_kinds() -> dict[str, list[str]]:
    """Known device kinds and, for each, its drivers."""
    kinds: dict[str, list[str]] = {}
    for name in _device_table():
        kind, _, driver = name.partition(":")
        kinds.setdefault(kind, []).append(driver)
    return kinds


def twin_kinds() -> list[str]:
    """Known twin kinds."""
    return sorted(_twin_table())


def device_class(kind: str, driver: str) -> Any:
    """The class registered for ``kind`` + ``driver``.

    Raises:
        KeyError: nothing is registered under that pair.
    """
    return _load(_device_table()[f"{kind}:{driver}"])


def twin_class(kind: str) -> Any:
    """The twin class registered as ``kind``.

    Raises:
        KeyError: nothing is registered under that name.
    """
    return _load(_twin_table()[kind])


def simulated_world(seed: int) -> Any:
    """A new simulated world (vials, stocks, substrates, cells) the lab's twins share."""
    return _load(_SIMULATION["world"])(seed=seed)


def start_chaos(
    twins: Any,
    *,
    mean_interval: float,
    duration: float,
    kinds: frozenset[str],
    weights: dict[str, float],
    seed: int,
) -> Any:
    """Start chaos mode over ``twins`` (seconds between faults, per fault); return the monkey."""
    options = _load(_SIMULATION["chaos-options"])(
        mean_interval=mean_interval, duration=duration, kinds=kinds, weights=weights
    )
    monkey = _load(_SIMULATION["chaos-monkey"])(twins, options, seed=seed)
    monkey.start()
    return monkey


def _check_device(name: str, device: DeviceConfig) -> list[ConfigIssue]:
    where = ("devices", name)
    kinds = device_kinds()
    if device.kind not in kinds:
        return [
            ConfigIssue(
                (*where, "kind"),
                f"unknown device kind; known kinds: {', '.join(sorted(kinds))}",
                device.kind,
            )
        ]
    if device.driver not in kinds[device.kind]:
        return [
            ConfigIssue(
                (*where, "driver"),
                f"no {device.driver!r} driver for a {device.kind}; "
                f"known drivers: {', '.join(sorted(kinds[device.kind]))}",
                device.driver,
            )
        ]
    return []


def _parse_device(name: str, device: DeviceConfig) -> tuple[Any, list[ConfigIssue]]:
    """The device's options parsed by its class, and every problem with them (key paths)."""
    issues = _check_device(name, device)
    options = None
    if not issues:
        cls = device_class(device.kind, device.driver)
        try:
            options = cls.Options.model_validate(device.options)
        except ValidationError as error:
            issues = issues_from_validation_error(error, ("devices", name, "options"))
        # What does not depend on the options (limits, address) is checked either way, so every
        # problem is listed at once.
        issues.extend(cls.check_config(name, device, options))
    if device.twin is not None:
        issues.extend(_check_twin(name, device, device.twin))
    return options, issues


def device_issues(name: str, device: DeviceConfig) -> list[ConfigIssue]:
    """Every problem with one device entry: kind, driver, options, limits and twin."""
    return _parse_device(name, device)[1]


def build_device(name: str, device: DeviceConfig, address: str, options: Any = None) -> Any:
    """The device ``name`` talking to ``address`` (not yet connected).

    Args:
        name: the device's name in the lab.
        device: its config entry.
        address: where its driver reaches the instrument (a twin's loopback address or the
            configured one).
        options: its options as :func:`validate_lab_config` parsed them (parsed here if
            ``None``).

    Raises:
        ConfigError: the entry has problems (when ``options`` is not given).
    """
    if options is None:
        options, issues = _parse_device(name, device)
        if issues:
            raise ConfigError(f"devices.{name}", issues)
    cls = device_class(device.kind, device.driver)
    return cls.from_config(name, device, address, options)


def _check_twin(name: str, device: DeviceConfig, twin: TwinConfig) -> list[ConfigIssue]:
    known = twin_kinds()
    if twin.kind not in known:
        return [
            ConfigIssue(
                ("devices", name, "twin", "kind"),
                f"unknown twin kind; known twins: {', '.join(known)}",
                twin.kind,
            )
        ]
    checker = getattr(twin_class(twin.kind), "check_config", None)
    return list(checker(name, device, twin)) if checker is not None else []


def _check_campaign(config: LoadedConfig) -> list[ConfigIssue]:
    campaign = config.model.campaign
    assert campaign is not None
    issues: list[ConfigIssue] = []
    if campaign.experiment not in experiment_kinds():
        issues.append(
            ConfigIssue(
                ("campaign", "experiment"),
                "unknown experiment; known experiments: "
                f"{', '.join(experiment_kinds()) or 'none'}",
                campaign.experiment,
            )
        )
    else:
        factory = experiment_factory(campaign.experiment)
        checker = getattr(factory, "check_config", None)
        if checker is not None:
            issues.extend(checker(config))
        issues.extend(_check_outcomes(campaign.experiment, factory, campaign.objectives))
    if campaign.optimizer.kind not in optimizer_kinds():
        issues.append(
            ConfigIssue(
                ("campaign", "optimizer", "kind"),
                f"unknown optimizer; known optimizers: {', '.join(optimizer_kinds()) or 'none'}",
                campaign.optimizer.kind,
            )
        )
    else:
        checker = getattr(optimizer_class(campaign.optimizer.kind), "check_campaign", None)
        if checker is not None:
            issues.extend(checker(campaign))
    return issues


def _check_outcomes(kind: str, factory: Any, objectives: dict[str, Any]) -> list[ConfigIssue]:
    """Objectives the experiment's reducer cannot produce (when it declares ``outcomes``)."""
    produced = getattr(factory, "outcomes", None)
    if produced is None:
        return []
    return [
        ConfigIssue(
            ("campaign", "objectives", name),
            f"the {kind!r} experiment does not produce {name!r}; it produces: "
            f"{', '.join(sorted(produced))}",
            name,
        )
        for name in objectives
        if name != "constraints" and name not in produced
    ]


def validate_lab_config(config: LoadedConfig) -> dict[str, Any]:
    """Check what the generic schema cannot: kinds, drivers, and each class's own options.

    Returns:
        Device name → its options, parsed by its class (what :func:`build_device` takes).

    Raises:
        ConfigError: with every issue of every device.
    """
    issues: list[ConfigIssue] = []
    parsed: dict[str, Any] = {}
    for name, device in config.model.devices.items():
        parsed[name], device_problems = _parse_device(name, device)
        issues.extend(device_problems)
    campaign = config.model.campaign
    if campaign is not None:
        issues.extend(_check_campaign(config))
    if issues:
        raise ConfigError(config.source, issues)
    return parsed
