"""Errors of the scanning droplet cell: each names the site and leaves the cell safe."""

from __future__ import annotations

from labctl.devices.droplet.sites import Site
from labctl.errors import InterlockError, LabctlError

__all__ = ["ContactLost", "DropletError", "StageAlarmed"]


class DropletError(LabctlError):
    """A droplet-cell action failed; the cell was made safe (see the module docstring).

    Args:
        message: what happened, where, and the state the cell was left in.
        site: the site the cell was working on (``None``: none).
    """

    def __init__(self, message: str, site: Site | None = None) -> None:
        super().__init__(message)
        self.site = site


class ContactLost(DropletError, InterlockError):
    """The interlock ``contact_lost``: the droplet left the substrate while landed."""

    interlock = "contact_lost"


class StageAlarmed(DropletError, InterlockError):
    """The interlock ``stage_alarm``: the stage's controller alarmed (a limit switch, a crash)."""

    interlock = "stage_alarm"
