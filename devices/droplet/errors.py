"""Errors of the scanning droplet cell: each names the site and leaves the cell safe."""

from __future__ import annotations

from labctl.devices.droplet.sites import Site
from labctl.errors import LabctlError

__all__ = ["ContactLost", "DropletError"]


class DropletError(LabctlError):
    """A droplet-cell action failed; the cell was made safe (see the module docstring).

    Args:
        message: what happened, where, and the state the cell was left in.
        site: the site the cell was working on (``None``: none).
    """

    def __init__(self, message: str, site: Site | None = None) -> None:
        super().__init__(message)
        self.site = site


class ContactLost(DropletError):
    """The droplet lost contact with the substrate (or the stage alarmed) while landed."""
