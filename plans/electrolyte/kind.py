"""The ``electrolyte`` experiment kind: its plan on a lab, its reducer, its config check."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from bluesky.utils import Msg
from pydantic import (
    ValidationError,
)

from labctl.config import (
    CampaignSection,
    LoadedConfig,
    issues_from_validation_error,
)
from labctl.errors import ConfigError, ConfigIssue, LabctlError
from labctl.plans.electrolyte.options import OUTCOMES, ElectrolyteOptions
from labctl.plans.electrolyte.plan import electrolyte_experiment
from labctl.plans.electrolyte.reduce import reduce_run
from labctl.plans.rundata import RunData
from labctl.protocols import LabLike

__all__ = ["check_config", "electrolyte"]

MsgGenerator = Generator[Msg, Any, Any]


def _options(section: CampaignSection) -> ElectrolyteOptions:
    return ElectrolyteOptions.model_validate(section.experiment_options)


def _objective_units(section: CampaignSection) -> dict[str, str]:
    units: dict[str, str] = {}
    for name, spec in section.objectives.items():
        if isinstance(spec, Mapping) and name in ("conductivity", "stability_limit"):
            units[name] = str(spec.get("units") or "")
    return units


def electrolyte(lab: LabLike | None, section: CampaignSection) -> tuple[Any, Any]:
    """The ``electrolyte`` experiment kind: its plan on ``lab`` and its reducer.

    With ``lab=None`` (resume, reports) only the reducer is usable.

    Raises:
        ConfigError: invalid ``experiment_options``, each issue named by its key path.
    """
    try:
        options = _options(section)
    except ValidationError as error:
        raise ConfigError(
            "campaign.experiment_options",
            issues_from_validation_error(error, ("campaign", "experiment_options")),
        ) from None
    units = _objective_units(section)

    def reducer(run: RunData) -> dict[str, float]:
        return reduce_run(run, options, units)

    if lab is None:

        def no_plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
            del inputs, metadata
            raise LabctlError("the electrolyte experiment needs a lab to run on")

        return no_plan, reducer
    devices = lab.devices

    def plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
        return electrolyte_experiment(
            inputs,
            metadata,
            robot=devices[options.robot],
            transfer_pump=devices[options.transfer.pump],
            potentiostat=devices[options.potentiostat],
            temperature_sensor=(
                None
                if options.temperature_sensor is None
                else devices[options.temperature_sensor.device]
            ),
            options=options,
        )

    return plan, reducer


def check_config(config: LoadedConfig) -> list[ConfigIssue]:
    """Every problem with the campaign's ``experiment_options``, with key paths."""
    section = config.model.campaign
    assert section is not None
    where = ("campaign", "experiment_options")
    try:
        options = _options(section)
    except ValidationError as error:
        return issues_from_validation_error(error, where)
    devices = config.model.devices
    wanted = {
        ("robot",): (options.robot, "dispensing-robot"),
        ("transfer", "pump"): (options.transfer.pump, "syringe-pump"),
        ("potentiostat",): (options.potentiostat, "potentiostat"),
    }
    if options.temperature_sensor is not None:
        wanted[("temperature_sensor", "device")] = (
            options.temperature_sensor.device,
            "environment-sensor",
        )
    issues = []
    for path, (name, kind) in wanted.items():
        device = devices.get(name)
        if device is None or device.kind != kind:
            issues.append(
                ConfigIssue((*where, *path), f"must name a {kind} device of the lab", name)
            )
    robot = devices.get(options.robot)
    if robot is not None and options.vial not in (robot.options.get("vials") or []):
        issues.append(ConfigIssue((*where, "vial"), "not one of the robot's vials", options.vial))
    names = set(_space_names(section.space))
    inputs: list[tuple[tuple[str | int, ...], str]] = [
        (("molality_input",), options.molality_input),
        *((("solvents", index), name) for index, name in enumerate(options.solvents)),
    ]
    if options.temperature_input:
        inputs.append((("temperature_input",), options.temperature_input))
    for key_path, name in inputs:
        if name not in names:
            issues.append(
                ConfigIssue((*where, *key_path), "not a parameter of campaign.space", name)
            )
    return issues


def _space_names(space: Mapping[str, Any]) -> list[str]:
    names = []
    for name, spec in space.items():
        if name == "constraints":
            continue
        names.append(name)
        if isinstance(spec, Mapping) and "mixture" in spec:
            members = spec["mixture"]
            names.extend(members if isinstance(members, list) else list(members))
    return names


electrolyte.outcomes = OUTCOMES  # type: ignore[attr-defined]
electrolyte.check_config = check_config  # type: ignore[attr-defined]
