"""Alarm limits: the one check every consumer (suspenders, preconditions, status, survey) uses."""

from __future__ import annotations

import math

from labctl.devices.alarms import AlarmLimits


def test_a_reading_on_a_limit_is_inside_and_beyond_it_is_named() -> None:
    limits = AlarmLimits(low=0.0, high=10.0)
    assert limits.violation(10.0) is None
    assert limits.violation(0.0) is None
    assert limits.violation(10.5) == "above its ceiling 10"
    assert limits.violation(-1.0) == "below its floor 0"
    assert limits.violation(math.nan) == "not a number"


def test_open_ends_and_data_keys_round_trip() -> None:
    assert AlarmLimits().violation(1e9) is None
    assert not AlarmLimits().bounded
    assert AlarmLimits().data_key_limits() == {}
    ceiling = AlarmLimits(high=1.0)
    data_key = {"units": "ppm", "limits": ceiling.data_key_limits()}
    assert AlarmLimits.from_data_key(data_key) == ceiling == (None, 1.0)
    assert AlarmLimits.from_data_key({"units": "K"}) == AlarmLimits()
