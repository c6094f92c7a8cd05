"""A survey of the lab's sensors: a few readings of every readable device, stored and summarised.

This is the lab's first job before any campaign: it proves every device answers, every reading
reaches the store and comes back with its units, and it flags channels outside their alarm limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.table import Table

from labctl.devices.alarms import AlarmLimits
from labctl.errors import LabctlError
from labctl.protocols import LabLike

__all__ = ["ChannelSummary", "SurveyResult", "survey", "survey_table"]


@dataclass(frozen=True)
class ChannelSummary:
    """Statistics of one data key over the survey's readings (values in ``units``)."""

    key: str
    units: str
    mean: float
    minimum: float
    maximum: float
    limits: AlarmLimits
    precision: int

    @property
    def in_limits(self) -> bool:
        """Whether every reading lay inside the alarm limits."""
        return all(self.limits.violation(value) is None for value in (self.minimum, self.maximum))


@dataclass(frozen=True)
class SurveyResult:
    """What a survey recorded: the run's uid and, per data key, its statistics."""

    uid: str
    scan_id: int | None
    readings: int
    channels: list[ChannelSummary] = field(default_factory=list)

    @property
    def alarms(self) -> list[str]:
        """Data keys with a reading outside their alarm limits."""
        return [channel.key for channel in self.channels if not channel.in_limits]


def survey(lab: LabLike, readings: int = 5) -> SurveyResult:
    """Record ``readings`` readings of every sensor as one run, read it back, summarise.

    Raises:
        LabctlError: the lab has no sensor or no store, or the run failed.
    """
    from labctl.plans.survey import survey as survey_plan

    devices = lab.sensors()
    if not devices:
        raise LabctlError(f"lab {lab.name!r} has no sensor to survey")
    if lab.store is None:
        raise LabctlError("a survey records into the store, but this lab was built without one")
    (uid,) = lab.RE(survey_plan(devices, readings))
    run = lab.store.run(uid)
    if run.stop.get("exit_status") != "success":
        raise LabctlError(f"survey run {uid} ended with {run.stop.get('exit_status')!r}")
    frame = run.stream("primary")
    data_keys = run._node["primary"].metadata.get("data_keys") or {}
    channels = []
    for key, data_key in data_keys.items():
        values = [float(value) for value in frame[key]]
        channels.append(
            ChannelSummary(
                key=key,
                units=str(data_key.get("units", "")),
                mean=math.fsum(values) / len(values),
                minimum=min(values),
                maximum=max(values),
                limits=AlarmLimits.from_data_key(data_key),
                precision=int(data_key.get("precision", 3)),
            )
        )
    return SurveyResult(uid, run.start.get("scan_id"), readings, channels)


def survey_table(result: SurveyResult) -> Table:
    """A rich table of a survey: one row per channel."""
    table = Table(title=f"survey: {result.readings} readings per channel", title_justify="left")
    for column in ("channel", "mean", "min", "max", "units", "alarm limits", "status"):
        table.add_column(column, justify="right" if column in ("mean", "min", "max") else "left")
    for channel in result.channels:
        digits = channel.precision
        limits = "—"
        if channel.limits.bounded:
            low, high = channel.limits
            floor = "−∞" if low is None else f"{low:.{digits}f}"
            ceiling = "+∞" if high is None else f"{high:.{digits}f}"
            limits = f"[{floor}, {ceiling}]"
        table.add_row(
            channel.key,
            f"{channel.mean:.{digits}f}",
            f"{channel.minimum:.{digits}f}",
            f"{channel.maximum:.{digits}f}",
            channel.units,
            limits,
            "[green]ok[/]" if channel.in_limits else "[red]ALARM[/]",
        )
    return table
