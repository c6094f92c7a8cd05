"""Is the lab fit to start a campaign? Checked before a queued or scheduled campaign starts.

A campaign started at 3 a.m. into a glovebox at 20 ppm H2O, or with a stock bottle nearly empty,
wastes the night and the chemicals. :func:`campaign_preconditions` lists every reason not to start
(empty when all is well): each environment sensor's channels inside their configured limits and
readable, every device that keeps an inventory (``low_stock()``) above its warning level, and
every scanning droplet cell with a fresh site left on its substrate.
"""

from __future__ import annotations

from typing import Any

from labctl.errors import LabctlError
from labctl.protocols import LabLike

__all__ = ["PreconditionsNotMet", "campaign_preconditions", "require_preconditions"]


class PreconditionsNotMet(LabctlError):
    """The lab is not fit to start: the message lists every reason."""


def campaign_preconditions(lab: LabLike) -> list[str]:
    """Every reason ``lab`` should not start a campaign now (empty: go)."""
    from labctl.devices.droplet.sites import SubstrateMap
    from labctl.devices.environment import EnvironmentSensor

    reasons: list[str] = []
    for name, device in lab.devices.items():
        if isinstance(device, EnvironmentSensor):
            try:
                values = device.channel_values()
            except LabctlError as error:
                reasons.append(f"{name} cannot be read: {error}")
                continue
            for channel, value in values.items():
                unit = getattr(device, channel).record_units
                violation = getattr(device, channel).alarm.violation(value)
                if violation is not None:
                    reasons.append(f"{name}.{channel} is {value:.4g} {unit}, {violation} {unit}")
        low_stock = getattr(device, "low_stock", None)
        if callable(low_stock):
            reasons.extend(f"{name}: {message}" for message in low_stock())
        sites = getattr(device, "sites", None)
        if isinstance(sites, SubstrateMap):
            reasons.extend(f"{name}: {message}" for message in _substrate_left(sites))
    return reasons


def _substrate_left(sites: Any) -> list[str]:
    """Why a droplet cell's substrate cannot take another experiment (empty: a site is fresh)."""
    try:
        counts = sites.counts()
    except LabctlError as error:
        return [f"its substrate map cannot be read: {error}"]
    if counts["fresh"] > 0:
        return []
    return [
        f"no fresh site left on substrate {sites.name} ({counts['used']} used, "
        f"{counts['failed']} failed of {sites.rows * sites.columns}); mount a new one"
    ]


def require_preconditions(lab: LabLike) -> None:
    """Raise :class:`PreconditionsNotMet` naming every reason, unless the lab is fit to start."""
    reasons = campaign_preconditions(lab)
    if reasons:
        raise PreconditionsNotMet("not started: " + "; ".join(reasons))
