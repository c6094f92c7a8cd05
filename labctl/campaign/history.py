"""Campaigns read back from the store: their history (for resume) and a listing.

A campaign is the set of runs whose start documents carry its id (rule 6 of DESIGN.md), so
resuming is reading them back: each run becomes an
:class:`~labctl.plans.records.ExperimentRecord` — completed (reduced again from the stored data
with the campaign's reducer), failed (with the stop document's reason) or interrupted (no stop
document, e.g. the process was killed mid-experiment). Nothing else is trusted: the store is the
campaign's only memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labctl.plans.records import ExperimentRecord, Reducer, record_of_run
from labctl.store.catalog import Run, Store
from labctl.units import decode_quantity

__all__ = ["CampaignSummary", "campaign_history", "decode_inputs", "list_campaigns"]


@dataclass(frozen=True)
class CampaignSummary:
    """One line of ``labctl campaigns``."""

    campaign: str
    runs: int
    completed: int
    failed: int
    interrupted: int
    last_time: float


def decode_inputs(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as stored in a start document → values (quantities where units were recorded)."""
    return {name: decode_quantity(value) for name, value in metadata.items()}


def _record(run: Run, reducer: Reducer | None) -> ExperimentRecord:
    start = run.start
    return record_of_run(
        int(start["iteration"]),
        int(start.get("attempt", 1)),
        decode_inputs(start.get("inputs") or {}),
        uid=run.uid,
        stop=run.stop,
        run=run,
        reducer=reducer,
    )


def campaign_history(
    store: Store, campaign: str, reducer: Reducer | None = None
) -> list[ExperimentRecord]:
    """Every attempt of ``campaign`` in the store, oldest first.

    Args:
        store: where the campaign's runs are.
        campaign: the campaign id.
        reducer: reduces completed runs again (without it, completed records have no outcome).
    """
    records = [_record(run, reducer) for run in store.iter_runs(campaign=campaign)]
    return sorted(records, key=lambda record: (record.iteration, record.attempt))


def list_campaigns(store: Store) -> list[CampaignSummary]:
    """Campaigns in the store with counts of completed, failed and interrupted experiments."""
    summaries = []
    for campaign, count in store.distinct("campaign").items():
        if campaign is None:
            continue
        runs = store.runs(campaign=campaign)
        statuses = [summary.exit_status for summary in runs]
        summaries.append(
            CampaignSummary(
                campaign=str(campaign),
                runs=count,
                completed=statuses.count("success"),
                failed=sum(1 for status in statuses if status not in (None, "success")),
                interrupted=statuses.count(None),
                last_time=max((summary.time for summary in runs), default=0.0),
            )
        )
    return sorted(summaries, key=lambda summary: summary.last_time, reverse=True)
