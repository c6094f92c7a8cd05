"""Run (or resume) the campaign a config describes, on the lab it describes, with live progress.

The config's ``campaign`` section names an experiment kind and an optimizer kind (both resolved
through :mod:`labctl.lab.registry`), the search space, objectives and budget. This module builds
the lab, the experiment plan and its reducer, the optimizer, reads an earlier session back from the
store when resuming, and runs :func:`labctl.plans.campaign.campaign` on the lab's RunEngine.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from labctl.campaign.ledger import campaign_ended, campaign_started
from labctl.config import CampaignSection, LoadedConfig
from labctl.errors import ConfigError, ConfigIssue, Interrupted, LabctlError, UsageError
from labctl.plans.campaign import MsgGenerator, campaign
from labctl.plans.records import (
    Budget,
    CampaignState,
    CampaignStopped,
    ExperimentPlan,
    ExperimentRecord,
    FailurePolicy,
    Recommender,
    Reducer,
)
from labctl.protocols import LabLike

__all__ = [
    "INTERRUPT_REASON",
    "CampaignInterrupted",
    "CampaignResult",
    "ExperimentFactory",
    "campaign_plan",
    "new_campaign_id",
    "run_campaign",
]


class ExperimentFactory(Protocol):
    """Builds an experiment kind's plan and reducer for a running lab."""

    def __call__(self, lab: LabLike, section: CampaignSection) -> tuple[ExperimentPlan, Reducer]:
        """Return the experiment plan and the reducer of its runs."""


@dataclass(frozen=True)
class CampaignResult:
    """What a campaign session did.

    Args:
        campaign_id: the id its runs carry.
        state: every attempt, the stop reason and the idle time.
        wall_time: seconds this session took.
    """

    campaign_id: str
    state: CampaignState
    wall_time: float


def new_campaign_id(section: CampaignSection) -> str:
    """A fresh campaign id: the campaign's name and the start time (UTC)."""
    return f"{section.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def _build_optimizer(section: CampaignSection) -> Recommender:
    from labctl.lab.registry import optimizer_class

    try:
        factory = optimizer_class(section.optimizer.kind)
    except KeyError:
        raise ConfigError(
            "<campaign>",
            [ConfigIssue(("campaign", "optimizer", "kind"), "unknown optimizer")],
        ) from None
    recommender: Recommender = factory.from_campaign(section)
    return recommender


def _build_experiment(lab: LabLike, section: CampaignSection) -> tuple[ExperimentPlan, Reducer]:
    from labctl.lab.registry import experiment_factory

    try:
        factory: ExperimentFactory = experiment_factory(section.experiment)
    except KeyError:
        raise ConfigError(
            "<campaign>", [ConfigIssue(("campaign", "experiment"), "unknown experiment")]
        ) from None
    return factory(lab, section)


def campaign_plan(
    config: LoadedConfig,
    *,
    lab: LabLike,
    campaign_id: str | None = None,
    on_record: Callable[[ExperimentRecord, CampaignState], None] | None = None,
    must_exist: bool = True,
) -> tuple[str, MsgGenerator]:
    """The config's campaign on ``lab`` as one bluesky plan, and the campaign's id.

    Args:
        config: a config with a campaign section.
        lab: the lab (its store holds the campaign's memory).
        campaign_id: resume this campaign (``None``: a new one with a fresh id).
        on_record: called after every attempt.
        must_exist: with ``campaign_id``, refuse an id the store has no runs of; off for queue
            items, which carry their id from the start so that re-running one resumes it.

    Raises:
        ConfigError: the config has no campaign section, or names unknown kinds.
        LabctlError: the lab has no store, or ``campaign_id`` is unknown (``must_exist``).
    """
    section = config.model.campaign
    if section is None:
        raise ConfigError(config.source, [ConfigIssue(("campaign",), "no campaign section")])
    if lab.store is None:
        raise LabctlError("a campaign keeps its experiments in the store; open the lab with one")
    experiment, reducer = _build_experiment(lab, section)
    recommender = _build_optimizer(section)
    history: list[ExperimentRecord] = []
    if campaign_id is not None:
        from labctl.campaign.history import campaign_history

        history = campaign_history(lab.store, campaign_id, reducer)
        if not history and must_exist:
            raise UsageError(
                f"no runs of campaign {campaign_id!r} in the store at {lab.store.location}"
            )
    identifier = campaign_id or new_campaign_id(section)
    progress = getattr(recommender, "progress", None)
    plan = campaign(
        recommender,
        experiment,
        reducer,
        campaign_id=identifier,
        budget=Budget(
            section.budget.experiments,
            wall_time=(
                None
                if section.budget.wall_time is None
                else float(section.budget.wall_time.to("s").magnitude)
            ),
            patience=section.budget.patience,
            resources=getattr(experiment, "resources", None),
        ),
        history=history,
        failure_policy=FailurePolicy(
            section.failure_policy.retry,
            section.failure_policy.max_consecutive,
            frozenset(section.failure_policy.stop_on),
        ),
        progress=(lambda _state: float(progress())) if callable(progress) else None,
        on_record=on_record,
        metadata={"campaign_name": section.name, "experiment_kind": section.experiment},
        approval=_approval_gate(config),
    )
    return identifier, _in_ledger(plan, config, identifier, section.name)


def _in_ledger(
    plan: MsgGenerator, config: LoadedConfig, identifier: str, name: str
) -> MsgGenerator:
    """``plan`` with its start and its end written to the lab's campaign ledger.

    An end is a campaign the loop itself ended (budget, patience, wall time, failure policy);
    a Ctrl-C, a kill or a device's crash leaves it unfinished, for the next ``labctl run``.
    """
    directory = config.data_directory
    campaign_started(directory, identifier, name, str(config.source))
    try:
        state = yield from plan
    except CampaignStopped as error:
        campaign_ended(directory, identifier, str(error))
        raise
    campaign_ended(directory, identifier, state.stop_reason or "ended")
    return state


def _approval_gate(config: LoadedConfig) -> Any:
    section = config.model.campaign
    if section is None or section.approval is None:
        return None
    from labctl.campaign.approvals import ApprovalBook, EnvelopeApproval
    from labctl.config import Envelope

    return EnvelopeApproval(
        Envelope.from_config(section.approval.envelope, str(config.source)),
        ApprovalBook(config.data_directory / "approvals"),
        poll=float(section.approval.poll.to("s").magnitude),
    )


def run_campaign(
    config: LoadedConfig,
    *,
    lab: LabLike,
    campaign_id: str | None = None,
    on_record: Callable[[ExperimentRecord, CampaignState], None] | None = None,
    must_exist: bool = True,
) -> CampaignResult:
    """Run the config's campaign on ``lab``; with ``campaign_id``, resume that campaign.

    ``must_exist=False`` resumes a campaign that may have no run yet (one the ledger says
    started, interrupted before its first experiment opened a run).

    Raises:
        ConfigError: the config has no campaign section, or names unknown kinds.
        LabctlError: the lab has no store (a campaign's memory is its runs in the store).
        CampaignStopped: too many failures in a row, or a ``stop_on`` interlock tripped.
    """
    identifier, plan = campaign_plan(
        config, lab=lab, campaign_id=campaign_id, on_record=on_record, must_exist=must_exist
    )
    outcome: list[CampaignState] = []

    def keep_state() -> Any:
        # The RunEngine may or may not return a plan's result; keep it whichever way.
        outcome.append((yield from plan))

    from bluesky.utils import RunEngineInterrupted

    started = time.monotonic()
    try:
        lab.RE(keep_state())
    except RunEngineInterrupted:
        # Ctrl-C: bluesky paused the plan, at its next checkpoint (once) or at once (twice).
        # Abort it: the plan's cleanup runs (rinse, lift, stop), an experiment's open run is
        # closed as aborted (recorded as interrupted, retried on resume) and the campaign ends.
        with _quiet_requested_abort():
            lab.RE.abort(reason=INTERRUPT_REASON)
        raise CampaignInterrupted(config, identifier, _completed(lab, identifier)) from None
    return CampaignResult(identifier, outcome[0], time.monotonic() - started)


INTERRUPT_REASON = "interrupted by the operator (Ctrl-C)"
"""The stop document's reason of an experiment a Ctrl-C aborted."""


class CampaignInterrupted(Interrupted):
    """The operator stopped a campaign with Ctrl-C; it stopped safely and can be resumed.

    Args:
        config: the campaign's config.
        campaign_id: the campaign.
        completed: experiments completed so far (every session of the campaign).
    """

    def __init__(self, config: LoadedConfig, campaign_id: str, completed: int) -> None:
        self.campaign_id = campaign_id
        self.completed = completed
        section = config.model.campaign
        budget = section.budget.experiments if section is not None else completed
        super().__init__(
            f"campaign {campaign_id} stopped safely after {completed} of {budget} "
            "experiments (an experiment cut short is recorded as interrupted and is run again). "
            f"To go on: labctl run {config.source} (it resumes the campaign; or labctl resume "
            f"{campaign_id} --config {config.source})"
        )


@contextlib.contextmanager
def _quiet_requested_abort() -> Iterator[None]:
    """Keep bluesky from logging the traceback of the abort labctl itself asks for."""
    from bluesky.utils import RequestAbort

    def keep(record: logging.LogRecord) -> bool:
        aborted = record.exc_info is not None and isinstance(record.exc_info[1], RequestAbort)
        return not (aborted and record.getMessage() == "Run aborted")

    logger = logging.getLogger("bluesky")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _completed(lab: LabLike, campaign_id: str) -> int:
    """Experiments of ``campaign_id`` the store holds as completed."""
    from labctl.campaign.history import campaign_history

    records = campaign_history(lab.store, campaign_id)
    return len({record.iteration for record in records if record.status == "completed"})


def best_values(state: CampaignState, directions: Mapping[str, str]) -> dict[str, float]:
    """The best value of each objective so far, per objective on its own.

    Args:
        state: the campaign's records.
        directions: outcome → ``maximize``/``minimize``/``none``
            (:attr:`~labctl.optimizers.objectives.Objectives.directions`); an outcome with no
            direction, or none given, has no "best".
    """
    best: dict[str, float] = {}
    for record in state.completed:
        for name, value in (record.outcome or {}).items():
            direction = directions.get(name, "none")
            if direction not in ("maximize", "minimize"):
                continue
            maximize = direction == "maximize"
            if name not in best or (value > best[name] if maximize else value < best[name]):
                best[name] = value
    return best
