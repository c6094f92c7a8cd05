"""Errors every potentiostat driver shares."""

from __future__ import annotations

from labctl.errors import LabctlError

__all__ = ["TechniqueNotSupportedError"]


class TechniqueNotSupportedError(LabctlError, ValueError):
    """The instrument behind a driver cannot run the requested technique (an SMU asked for EIS)."""
