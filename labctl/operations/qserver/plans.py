"""Plans a queue item may name: campaigns, single surveys, maintenance.

They run in the RE Manager's worker against the lab its startup module built (:func:`use_lab`).
A campaign item carries its campaign id from the moment it is queued, so an item re-run after a
worker or manager restart resumes its campaign from the store instead of starting another.

No ``from __future__ import annotations`` here: the queue server reads these signatures.
"""

import typing
from pathlib import Path
from typing import Any

from labctl.config import load_config
from labctl.errors import LabctlError

__all__ = ["campaign", "lab_preconditions", "survey", "use_lab"]

_LAB: Any = None


def use_lab(lab: Any) -> None:
    """Make ``lab`` the one the queue's plans act on (called by the startup module)."""
    global _LAB
    _LAB = lab


def _lab() -> Any:
    if _LAB is None:
        raise LabctlError("no lab in this worker: start it with labctl's startup module")
    return _LAB


def campaign(
    config: str, campaign_id: str, check_preconditions: bool = True
) -> typing.Generator[Any, Any, Any]:
    """Run, or resume, the campaign of ``config`` under ``campaign_id``.

    Args:
        config: path of a campaign config (it should extend the worker's lab config).
        campaign_id: the campaign's id; runs already in the store under it are its history.
        check_preconditions: refuse to start (the item fails, saying why) while the glovebox or
            room is out of its limits or a stock is low.
    """
    from labctl.campaign.preconditions import require_preconditions
    from labctl.campaign.runner import campaign_plan

    lab = _lab()
    if check_preconditions:
        require_preconditions(lab)
    loaded = load_config(Path(config))
    missing = sorted(set(loaded.model.devices) - set(lab.devices))
    if missing:
        raise LabctlError(
            f"{config} needs devices this lab does not have: {', '.join(missing)} "
            f"(the worker's lab is {lab.config.source})"
        )
    _, plan = campaign_plan(loaded, lab=lab, campaign_id=campaign_id, must_exist=False)
    return (yield from plan)


def lab_preconditions() -> list[str]:
    """Every reason not to start a campaign now (a function the scheduler calls, not a plan)."""
    from labctl.campaign.preconditions import campaign_preconditions

    return campaign_preconditions(_lab())


def survey(readings: int = 5) -> typing.Generator[Any, Any, Any]:
    """Record ``readings`` readings of every sensor (maintenance: a health check of the lab)."""
    from labctl.plans.survey import survey as survey_plan

    return (yield from survey_plan(_lab().sensors(), readings))
