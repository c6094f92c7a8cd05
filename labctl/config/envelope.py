"""The approval envelope: per-parameter ranges inside which a campaign's proposals run unattended.

A campaign's ``approval.envelope`` is part of its config, so it is parsed and checked here; the
approval book that holds proposals outside it lives in :mod:`labctl.campaign.approvals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pint

from labctl.errors import ConfigError, ConfigIssue, LabctlError
from labctl.units import Quantity, parse_quantity, ureg

__all__ = ["Envelope"]


@dataclass(frozen=True)
class Envelope:
    """Per-parameter ranges inside which proposals need no approval.

    Args:
        ranges: parameter (or mixture member) name → (low, high) quantities; either may be
            ``None`` (unbounded on that side).
    """

    ranges: Mapping[str, tuple[Quantity | None, Quantity | None]]

    @classmethod
    def from_config(cls, section: Mapping[str, Any], source: str = "<campaign>") -> Envelope:
        """Build from ``campaign.approval.envelope`` (``{name: {low: "…", high: "…"}}``).

        Raises:
            ConfigError: a bound without units where the value needs them, or low above high.
        """
        ranges: dict[str, tuple[Quantity | None, Quantity | None]] = {}
        issues: list[ConfigIssue] = []
        for name, bounds in section.items():
            where = ("campaign", "approval", "envelope", name)
            if not isinstance(bounds, Mapping) or not set(bounds) <= {"low", "high"} or not bounds:
                issues.append(ConfigIssue(where, "expected {low: …, high: …}", bounds))
                continue
            try:
                low, high = (_bound(bounds.get(end)) for end in ("low", "high"))
            except LabctlError as error:
                issues.append(ConfigIssue(where, str(error), bounds))
                continue
            if low is not None and high is not None:
                try:
                    if low > high:
                        issues.append(ConfigIssue(where, "low is above high", bounds))
                        continue
                except pint.DimensionalityError:
                    issues.append(ConfigIssue(where, "low and high have different units", bounds))
                    continue
            ranges[name] = (low, high)
        if issues:
            raise ConfigError(source, issues)
        return cls(ranges)

    def outside(self, inputs: Mapping[str, Any]) -> str | None:
        """Why ``inputs`` need approval (``None``: they are inside the envelope)."""
        reasons = []
        for name, (low, high) in self.ranges.items():
            if name not in inputs:
                continue
            value = inputs[name]
            if isinstance(value, pint.Quantity):
                quantity = value
            else:
                quantity = ureg.Quantity(float(value), "")
            for bound, side, beyond in ((low, "below", -1), (high, "above", 1)):
                if bound is None:
                    continue
                try:
                    compared = quantity.to(bound.units)
                except pint.DimensionalityError:
                    reasons.append(f"{name} = {value} cannot be compared with {bound}")
                    continue
                if (compared.magnitude - bound.magnitude) * beyond > 0:
                    reasons.append(f"{name} = {compared:~.4g} is {side} the envelope's {bound:~g}")
        return "; ".join(reasons) or None


def _bound(value: Any) -> Quantity | None:
    """A bound: a quantity with units, or a plain number for a dimensionless parameter."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ureg.Quantity(float(value), "")
    return parse_quantity(str(value))
