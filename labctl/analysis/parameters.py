"""A fitted parameter: value, standard uncertainty and unit."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FittedParameter"]


@dataclass(frozen=True)
class FittedParameter:
    """One parameter of a fitted model."""

    value: float
    """Best-fit value, in ``unit``."""
    uncertainty: float
    """Standard (1σ) uncertainty, in ``unit``: from the Jacobian covariance scaled by the
    residual variance; ``inf`` when the data do not determine the parameter, ``0`` when fixed."""
    unit: str
    """Unit of ``value`` and ``uncertainty``, SI as text (``"ohm"``, ``"F"``, ``"ohm s^-1/2"``)."""
    fixed: bool = False
    """True when the parameter was held at ``value`` rather than fitted."""

    @property
    def relative_uncertainty(self) -> float:
        """``uncertainty/|value|`` (dimensionless); ``inf`` for a zero value with uncertainty."""
        if self.value == 0.0:
            return 0.0 if self.uncertainty == 0.0 else math.inf
        return self.uncertainty / abs(self.value)

    def __str__(self) -> str:
        if self.fixed:
            return f"{self.value:.6g} {self.unit} (fixed)"
        return f"{self.value:.6g} ± {self.uncertainty:.2g} {self.unit}"
