"""The survey plan: a few readings of every sensor in one run — the first job, a health check.

It proves every sensor answers and every reading reaches the store with its units; the lab's
summary of it against the alarm limits is :func:`labctl.lab.survey.survey`, and the queue server
offers it as a maintenance item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bluesky.plans as bp
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

__all__ = ["SURVEY_PURPOSE", "survey"]

SURVEY_PURPOSE = "survey"
"""The start document's ``purpose`` of a survey run."""


def survey(sensors: Sequence[Readable[Any]], readings: int = 5) -> MsgGenerator[str]:
    """Record ``readings`` readings of every sensor in one run; return its uid.

    Args:
        sensors: the devices to read (a lab's ``lab.sensors()``).
        readings: readings per sensor, at least 1.
    """
    uid: str = yield from bp.count(list(sensors), num=readings, md={"purpose": SURVEY_PURPOSE})
    return uid
