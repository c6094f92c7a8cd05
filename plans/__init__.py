"""labctl.plans: bluesky plans, from one technique to a whole campaign.

Plans are generators of bluesky messages only (no I/O, no sleeps, no driver imports), typed by
the Protocols of :mod:`labctl.protocols`, so twins and real instruments are the same to them:

* :mod:`.techniques` — :func:`measure`: one potentiostat technique, its curve in one event;
* :mod:`.dispensing` — :func:`prepare`: a recipe made in a vial by the dispensing robot;
* :mod:`.survey` — :func:`survey`: a few readings of every sensor;
* :mod:`.electrolyte` — :func:`electrolyte_experiment`: prepare, fill, EIS + LSV, rinse;
* :mod:`.pulsed_charging` — :func:`pulsed_charging_experiment`: a droplet-cell plating site;
* :mod:`.campaign` — :func:`campaign`: ask → run → reduce → tell until the budget is spent;
* :mod:`.records` — what a campaign knows of its experiments, its budget and failure policy;
* :mod:`.rundata` — a finished run as its reducer reads it.

Names are imported lazily: ``import labctl.plans`` does not import bluesky.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lazy import lazy_attributes

if TYPE_CHECKING:
    from labctl.plans.campaign import campaign
    from labctl.plans.dispensing import prepare, prepare_in_run
    from labctl.plans.electrolyte import electrolyte_experiment
    from labctl.plans.pulsed_charging import pulsed_charging_experiment
    from labctl.plans.records import (
        Budget,
        CampaignState,
        ExperimentRecord,
        FailurePolicy,
        record_of_run,
    )
    from labctl.plans.rundata import DocumentRun, RunData
    from labctl.plans.survey import survey
    from labctl.plans.techniques import measure

__all__ = [
    "Budget",
    "CampaignState",
    "DocumentRun",
    "ExperimentRecord",
    "FailurePolicy",
    "RunData",
    "campaign",
    "electrolyte_experiment",
    "measure",
    "prepare",
    "prepare_in_run",
    "pulsed_charging_experiment",
    "record_of_run",
    "survey",
]

_WHERE = {
    "Budget": "records",
    "CampaignState": "records",
    "ExperimentRecord": "records",
    "FailurePolicy": "records",
    "campaign": "campaign",
    "record_of_run": "records",
    "prepare": "dispensing",
    "prepare_in_run": "dispensing",
    "electrolyte_experiment": "electrolyte",
    "pulsed_charging_experiment": "pulsed_charging",
    "DocumentRun": "rundata",
    "RunData": "rundata",
    "survey": "survey",
    "measure": "techniques",
}


__getattr__ = lazy_attributes("labctl.plans", _WHERE)
