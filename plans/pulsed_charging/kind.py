"""The ``pulsed-charging`` experiment kind: its plan on a lab, its reducer, its config check."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from labctl.config import (
    LoadedConfig,
    issues_from_validation_error,
)
from labctl.errors import ConfigError, ConfigIssue
from labctl.plans.pulsed_charging.options import OUTCOME_UNITS, PulsedChargingOptions
from labctl.plans.pulsed_charging.plan import NoLab, PulsedChargingPlan
from labctl.plans.pulsed_charging.reduce import reduce_pulsed_charging
from labctl.protocols import LabLike
from labctl.units import ureg

__all__ = ["pulsed_charging"]


def pulsed_charging(lab: LabLike | None, section: Any) -> tuple[Any, Any]:
    """The ``pulsed-charging`` experiment kind: its plan on ``lab`` and its reducer.

    With ``lab`` = ``None`` (reports, resume) the plan refuses to run; the reducer needs only
    the stored run.

    Raises:
        ConfigError: invalid ``experiment_options``, a missing droplet cell, or a potentiostat
            without ``options.electrode_area``.
    """
    try:
        options = PulsedChargingOptions.model_validate(section.experiment_options)
    except ValidationError as error:
        raise ConfigError(
            "campaign.experiment_options",
            issues_from_validation_error(error, ("campaign", "experiment_options")),
        ) from None
    if lab is None:
        return NoLab(), reduce_pulsed_charging
    droplet = lab.devices.get(options.droplet)
    where = ("campaign", "experiment_options", "droplet")
    if droplet is None or not hasattr(droplet, "next_site"):
        raise ConfigError(
            "campaign.experiment_options",
            [ConfigIssue(where, "must name the lab's droplet-cell device", options.droplet)],
        )
    potentiostat = droplet.potentiostat
    area = getattr(getattr(potentiostat, "limits", None), "electrode_area", None)
    if area is None or not area > 0:
        raise ConfigError(
            "campaign.experiment_options",
            [
                ConfigIssue(
                    ("devices", getattr(potentiostat, "name", "?"), "options", "electrode_area"),
                    "the pulsed-charging experiment converts current densities with the "
                    "potentiostat's electrode area: set it",
                )
            ],
        )
    return PulsedChargingPlan(droplet, potentiostat, options, float(area)), reduce_pulsed_charging


def _check_config(config: LoadedConfig) -> list[ConfigIssue]:
    """Problems of a ``pulsed-charging`` campaign the generic schema cannot see."""
    campaign = config.model.campaign
    assert campaign is not None
    issues: list[ConfigIssue] = []
    try:
        options = PulsedChargingOptions.model_validate(campaign.experiment_options)
    except ValidationError as error:
        return issues_from_validation_error(error, ("campaign", "experiment_options"))
    device = config.model.devices.get(options.droplet)
    if device is None or device.kind != "droplet-cell":
        issues.append(
            ConfigIssue(
                ("campaign", "experiment_options", "droplet"),
                "must name a droplet-cell device of this lab",
                options.droplet,
            )
        )
    else:
        pstat_name = device.options.get("potentiostat")
        pstat = config.model.devices.get(str(pstat_name))
        if pstat is not None and pstat.options.get("electrode_area") is None:
            issues.append(
                ConfigIssue(
                    ("devices", str(pstat_name), "options", "electrode_area"),
                    "the pulsed-charging experiment needs the electrode area",
                )
            )
    for name in ("pulse_current_density", "on_time", "off_time"):
        if name not in campaign.space:
            issues.append(
                ConfigIssue(("campaign", "space", name), "the pulsed-charging experiment needs it")
            )
    for name, objective in campaign.objectives.items():
        if name == "constraints" or name not in OUTCOME_UNITS or not isinstance(objective, dict):
            continue
        given = str(objective.get("units", ""))
        expected = OUTCOME_UNITS[name]
        if not _same_units(given, expected):
            issues.append(
                ConfigIssue(
                    ("campaign", "objectives", name, "units"),
                    f"the reducer reports {name} in {expected or 'no units (a fraction)'}",
                    given,
                )
            )
    return issues


def _same_units(given: str, expected: str) -> bool:
    try:
        ratio = ureg.Quantity(1.0, given or "dimensionless").to(expected or "dimensionless")
    except Exception:
        return False
    return bool(abs(float(ratio.magnitude) - 1.0) < 1e-12)


pulsed_charging.outcomes = frozenset(OUTCOME_UNITS)  # type: ignore[attr-defined]
pulsed_charging.check_config = _check_config  # type: ignore[attr-defined]
