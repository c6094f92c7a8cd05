"""Errors of the optimizer layer (all :class:`~labctl.errors.LabctlError`)."""

from __future__ import annotations

from labctl.errors import LabctlError

__all__ = ["InputError", "OptimizerError", "SpaceExhaustedError"]


class OptimizerError(LabctlError):
    """An optimizer cannot do what was asked (bad data, an unusable option, a failed fit)."""


class InputError(OptimizerError, ValueError):
    """A told or pending experiment does not fit the search space (missing or unknown values)."""


class SpaceExhaustedError(OptimizerError):
    """No new feasible setting could be found.

    A small discrete space is used up, or the constraints leave too little room to sample.
    """
