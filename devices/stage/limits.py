"""Travel limits of a stage from config, checked before any command is sent.

Limit names in a stage's ``limits``: ``x``, ``y``, ``z`` (work-coordinate travel, lengths),
``z_floor`` (the lowest Z allowed, a length, ``low`` only: the substrate surface minus what the
cell may press into it) and ``feed`` (the highest feed rate, a speed, ``high`` only)::

    limits:
      x: {low: 0 mm, high: 100 mm}
      y: {low: 0 mm, high: 80 mm}
      z: {low: 0 mm, high: 40 mm}
      z_floor: {low: 1.5 mm}
      feed: {high: 1500 mm/min}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from labctl.config import LimitRange
from labctl.errors import ConfigIssue, SafetyLimitError
from labctl.units import to_magnitude

__all__ = ["LIMIT_NAMES", "StageLimits", "limit_issues"]

LIMIT_NAMES = {"x": "mm", "y": "mm", "z": "mm", "z_floor": "mm", "feed": "mm/min"}
"""Limit name → the unit it is checked in (its dimension is that unit's)."""

Target = tuple[float | None, float | None, float | None]


def limit_issues(name: str, limits: Mapping[str, LimitRange]) -> list[ConfigIssue]:
    """Unknown names, wrong dimensions and ends that make no sense, with key paths."""
    issues: list[ConfigIssue] = []
    for key, limit in limits.items():
        where = ("devices", name, "limits", key)
        unit = LIMIT_NAMES.get(key)
        if unit is None:
            issues.append(
                ConfigIssue(where, f"a stage knows the limits {sorted(LIMIT_NAMES)}", key)
            )
            continue
        for end in ("low", "high"):
            value = getattr(limit, end)
            if value is not None and not value.is_compatible_with(unit):
                issues.append(
                    ConfigIssue((*where, end), f"must be in units like {unit}", f"{value:~P}")
                )
        if key == "z_floor" and limit.low is None:
            issues.append(ConfigIssue(where, "a Z floor needs 'low' (the lowest Z allowed)"))
        if key == "feed" and limit.high is None:
            issues.append(ConfigIssue(where, "a feed limit needs 'high'"))
    return issues


@dataclass(frozen=True)
class StageLimits:
    """The limits in mm and mm/min (``None``: open end).

    Args:
        travel: (low, high) of X, Y, Z, mm.
        z_floor: lowest Z allowed, mm.
        feed: highest feed rate, mm/min.
    """

    travel: tuple[tuple[float | None, float | None], ...] = ((None, None),) * 3
    z_floor: float | None = None
    feed: float | None = None

    @classmethod
    def from_config(cls, limits: Mapping[str, LimitRange]) -> StageLimits:
        """Convert config ranges (any length/speed units) to mm and mm/min."""

        def end(key: str, side: str) -> float | None:
            limit = limits.get(key)
            value = None if limit is None else getattr(limit, side)
            return None if value is None else to_magnitude(value, LIMIT_NAMES[key])

        travel = tuple((end(axis, "low"), end(axis, "high")) for axis in "xyz")
        return cls(travel=travel, z_floor=end("z_floor", "low"), feed=end("feed", "high"))

    def check(self, device: str, target: Target, feed: float) -> None:
        """Refuse ``target`` (mm, ``None`` = axis stays) or ``feed`` (mm/min) outside limits.

        Raises:
            SafetyLimitError: naming the axis, the value and the limit; nothing was sent.
        """
        for axis, value, (low, high) in zip("xyz", target, self.travel, strict=True):
            if value is None:
                continue
            if not math.isfinite(value):
                raise SafetyLimitError(device, f"{axis} position", f"{value} mm", "a finite value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise SafetyLimitError(
                    device, f"{axis} position", f"{value:g} mm", _range(low, high, "mm")
                )
        z = target[2]
        if z is not None and self.z_floor is not None and z < self.z_floor:
            raise SafetyLimitError(
                device, "z position (below the Z floor)", f"{z:g} mm", f"≥ {self.z_floor:g} mm"
            )
        if not (math.isfinite(feed) and feed > 0):
            raise SafetyLimitError(device, "feed rate", f"{feed} mm/min", "a positive rate")
        if self.feed is not None and feed > self.feed:
            raise SafetyLimitError(
                device, "feed rate", f"{feed:g} mm/min", f"≤ {self.feed:g} mm/min"
            )


def _range(low: float | None, high: float | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"[{low:g} {unit}, {high:g} {unit}]"
    if high is not None:
        return f"≤ {high:g} {unit}"
    return f"≥ {low:g} {unit}"
