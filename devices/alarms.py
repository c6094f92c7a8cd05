"""A channel's alarm range, and whether a reading lies outside it.

The one place an alarm limit is checked: the environment sensors describe their limits with it,
and the safety suspenders, a campaign's preconditions, the OPC UA status server and the survey
all ask it, so they agree on what "out of range" means and say it in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["AlarmLimits"]


class AlarmLimits(NamedTuple):
    """An alarm range in a channel's recorded unit; either end may be open (``None``).

    A reading equal to a limit is inside the range. A reading that is not a number (NaN) is
    outside it: a sensor that answers nonsense is not a lab in range.
    """

    low: float | None = None
    high: float | None = None

    @classmethod
    def from_data_key(cls, data_key: Mapping[str, Any]) -> AlarmLimits:
        """The limits a bluesky data key carries (``limits.alarm.low/high``), or none."""
        alarm = (data_key.get("limits") or {}).get("alarm") or {}
        return cls(alarm.get("low"), alarm.get("high"))

    @property
    def bounded(self) -> bool:
        """Whether either end is set."""
        return self.low is not None or self.high is not None

    def data_key_limits(self) -> dict[str, Any]:
        """The ``limits`` entry of a data key (empty when unbounded)."""
        return {"alarm": {"low": self.low, "high": self.high}} if self.bounded else {}

    def violation(self, value: float) -> str | None:
        """How ``value`` leaves the range (``"above its ceiling 10"``), or ``None`` inside it."""
        if math.isnan(value):
            return "not a number"
        if self.high is not None and value > self.high:
            return f"above its ceiling {self.high:g}"
        if self.low is not None and value < self.low:
            return f"below its floor {self.low:g}"
        return None
