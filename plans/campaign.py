"""The closed loop as a bluesky plan: ask → run → reduce → tell, thinking while the hardware works.

:func:`campaign` runs experiments one bluesky run each. While experiment *i* runs on the
instruments, the recommender already computes the proposal for *i + 1* on a worker thread, with
*i* as a pending point; when *i* finishes, the plan waits for that proposal only if the recommender
is slower than the hardware, then tells the recommender the outcome of *i* and starts *i + 1*. The
time the hardware sits idle waiting for the recommender is measured per experiment.

Every experiment's start document carries ``campaign``, ``iteration``, ``attempt`` and the
proposed ``inputs`` (values with units), so a campaign is exactly the set of runs with its id and
resuming is reading them back (:func:`labctl.campaign.history.campaign_history` turns them into
the ``history`` argument). The records, budget and failure policy are in
:mod:`labctl.plans.records`.

Failure policy: an experiment whose plan raises or whose data cannot be reduced is recorded with
its reason and retried once (configurable) or skipped; too many failures in a row stop the
campaign with :class:`CampaignStopped`. Budgets: number of experiments, wall time, and
"no improvement for N experiments" of a caller-supplied progress measure (e.g. hypervolume).

This module is plan code: it yields messages and never touches instruments itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import FailedStatus, Msg

from labctl.errors import InterlockError, LabctlError, cause_chain
from labctl.plans.records import (
    ApprovalGate,
    Budget,
    CampaignState,
    CampaignStopped,
    ExperimentPlan,
    ExperimentRecord,
    FailurePolicy,
    Inputs,
    Recommender,
    Reducer,
    inputs_metadata,
    record_of_run,
)
from labctl.plans.rundata import DocumentRun

_log = logging.getLogger(__name__)

__all__ = ["campaign"]

MsgGenerator = Generator[Msg, Any, Any]
Documents = list[tuple[str, dict[str, Any]]]


def campaign(
    recommender: Recommender,
    experiment: ExperimentPlan,
    reducer: Reducer,
    *,
    campaign_id: str,
    budget: Budget,
    history: Sequence[ExperimentRecord] = (),
    failure_policy: FailurePolicy | None = None,
    progress: Callable[[CampaignState], float] | None = None,
    on_record: Callable[[ExperimentRecord, CampaignState], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    executor: concurrent.futures.Executor | None = None,
    synchronous: bool = False,
    approval: ApprovalGate | None = None,
) -> MsgGenerator:
    """Run a closed-loop campaign; returns its :class:`CampaignState`.

    Args:
        recommender: proposes experiments and learns their outcomes.
        experiment: makes one bluesky run for one proposal.
        reducer: turns a finished run into objectives.
        campaign_id: the id every run of the campaign carries.
        budget: when to stop.
        history: records of earlier sessions (resume); completed ones are told to the
            recommender first; an interrupted one (a crash left its run without a stop
            document) is retried first if the failure policy retries, and counts against the
            budget either way.
        failure_policy: retry/skip and how many failures in a row stop the campaign.
        progress: a measure of the campaign's progress to maximise (e.g. hypervolume), used by
            ``budget.patience``.
        on_record: called after every attempt (progress bars, live plots).
        metadata: extra start-document metadata for every run.
        executor: where the recommender thinks (default: one worker thread).
        synchronous: ask for the next proposal only after the last outcome is told (the
            hardware waits for every suggestion; for comparisons, not for labs).
        approval: proposals it flags wait for an operator's decision before they run; a
            rejected one is recorded as failed (not counted as a failure in a row).

    Raises:
        CampaignStopped: too many failures in a row (the state is in ``error.state``).
    """
    policy = failure_policy or FailurePolicy()
    state = CampaignState(campaign_id, records=list(history))
    told = [record for record in history if record.status in ("completed", "failed")]
    if told:
        recommender.tell(
            [record.inputs for record in told],
            [record.outcome if record.status == "completed" else None for record in told],
        )
    own_executor = executor is None
    pool = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="labctl-ask")
    best = -math.inf
    since_best = 0
    consecutive_failures = 0
    try:
        # An experiment a crash interrupted gets the retry the failure policy allows, first.
        for interrupted in _retryable(history, policy):
            if budget.resources is not None and (exhausted := budget.resources()) is not None:
                state.stop_reason = exhausted  # e.g. no fresh substrate site left to retry on
                return state
            record = yield from _attempt(
                experiment,
                reducer,
                interrupted.inputs,
                interrupted.iteration,
                interrupted.attempt + 1,
                campaign_id,
                metadata,
            )
            state.records.append(record)
            if on_record is not None:
                on_record(record, state)
            recommender.tell([record.inputs], [record.outcome])
        if state.proposals_done >= budget.experiments:
            state.stop_reason = "budget already spent"
            return state
        if budget.resources is not None and (exhausted := budget.resources()) is not None:
            state.stop_reason = exhausted
            return state
        proposal_future = pool.submit(recommender.ask, 1, ())
        while True:
            waited_from = time.monotonic()
            yield from _wait_for_proposal(proposal_future, campaign_id)
            (proposal,) = proposal_future.result()
            idle = time.monotonic() - waited_from
            state.idle_time += idle
            iteration = state.next_iteration
            is_last = state.proposals_done + 1 >= budget.experiments
            # Think about the next proposal while this one runs on the hardware.
            proposal_future = (
                pool.submit(recommender.ask, 1, (proposal,))
                if not (is_last or synchronous)
                else _done([])
            )
            attempts = 2 if policy.retry == "once" else 1
            record = None
            rejection = None
            if approval is not None:
                rejection = yield from _await_approval(approval, campaign_id, iteration, proposal)
            if rejection is not None:
                record = ExperimentRecord(iteration, 1, dict(proposal), "failed", reason=rejection)
                record.idle = idle
                state.records.append(record)
                if on_record is not None:
                    on_record(record, state)
                attempts = 0
            for attempt in range(1, attempts + 1):
                if attempt > 1 and budget.resources is not None and budget.resources():
                    break  # nothing left to retry on; the stop reason says so below
                record = yield from _attempt(
                    experiment, reducer, proposal, iteration, attempt, campaign_id, metadata
                )
                record.idle = idle if attempt == 1 else 0.0
                state.records.append(record)
                if on_record is not None:
                    on_record(record, state)
                if record.status == "completed":
                    consecutive_failures = 0
                    break
                consecutive_failures += 1
                if consecutive_failures >= policy.max_consecutive or _halts(record, policy):
                    break
            assert record is not None
            # The recommender may still be thinking with this proposal pending: wait, then tell.
            yield from _wait_for_proposal(proposal_future, campaign_id)
            recommender.tell([proposal], [record.outcome])
            if _halts(record, policy):
                state.stop_reason = f"interlock {record.interlock} tripped"
                raise CampaignStopped(
                    f"campaign {campaign_id} stopped: {state.stop_reason} "
                    f"(failure_policy.stop_on); the hardware was left safe; {record.reason}. "
                    "Resume it with "
                    f"`labctl resume {campaign_id}` once the cause is cleared"
                )
            if consecutive_failures >= policy.max_consecutive:
                state.stop_reason = f"{consecutive_failures} failed attempts in a row"
                raise CampaignStopped(
                    f"campaign {campaign_id} stopped: {state.stop_reason}; "
                    f"last reason: {record.reason}"
                )
            if record.status == "completed" and progress is not None:
                value = progress(state)
                if value > best:
                    best, since_best = value, 0
                else:
                    since_best += 1
            stop = _stop_reason(state, budget, since_best)
            if stop is not None:
                state.stop_reason = stop
                return state
            if is_last:  # pragma: no cover — _stop_reason catches the spent budget
                state.stop_reason = "budget spent"
                return state
            if synchronous:
                proposal_future = pool.submit(recommender.ask, 1, ())
    finally:
        if own_executor:
            pool.shutdown(wait=False, cancel_futures=True)


def _await_approval(
    approval: ApprovalGate, campaign_id: str, iteration: int, proposal: Inputs
) -> MsgGenerator:
    """Wait (sleeping, checkpoint-free) for an operator if the gate flags ``proposal``.

    Returns ``None`` to go ahead, or the reason the proposal was rejected.
    """
    reason = approval.needs(proposal)
    if reason is None:
        return None
    approval.request(campaign_id, iteration, proposal, reason)
    decision = approval.decision(campaign_id, iteration)
    while decision is None:
        yield from bps.sleep(approval.poll)
        decision = approval.decision(campaign_id, iteration)
    return None if decision == "approved" else f"rejected by the operator ({reason})"


def _retryable(
    history: Sequence[ExperimentRecord], policy: FailurePolicy
) -> list[ExperimentRecord]:
    """Interrupted attempts the policy retries: the last attempt of an unfinished iteration."""
    if policy.retry != "once":
        return []
    last: dict[int, ExperimentRecord] = {}
    for record in history:
        if record.iteration not in last or record.attempt >= last[record.iteration].attempt:
            last[record.iteration] = record
    return [
        record
        for _, record in sorted(last.items())
        if record.status == "interrupted" and record.attempt < 2
    ]


def _halts(record: ExperimentRecord, policy: FailurePolicy) -> bool:
    """Whether a failed attempt's interlock stops the campaign (``stop_on``)."""
    return record.status == "failed" and record.interlock in policy.stop_on


def _done(result: Any) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(result)
    return future


def _stop_reason(state: CampaignState, budget: Budget, since_best: int) -> str | None:
    if state.proposals_done >= budget.experiments:
        return f"budget of {budget.experiments} experiments spent"
    if budget.wall_time is not None and time.monotonic() - state.started >= budget.wall_time:
        return f"wall time of {budget.wall_time:g} s spent"
    if budget.patience is not None and since_best >= budget.patience:
        return f"no improvement in {budget.patience} experiments"
    if budget.resources is not None:
        return budget.resources()
    return None


def _wait_for_proposal(future: concurrent.futures.Future[Any], campaign_id: str) -> MsgGenerator:
    """Wait (without blocking the RunEngine) until the recommender's ``future`` is done.

    bluesky throws a Status that fails in the background into whatever message comes next.
    Between experiments no plan waits on any device, so such a failure belongs to an experiment
    that has already ended and been recorded (a move a suspension stopped, a pump's recovery);
    the device's own recovery deals with its fault before the next experiment uses it. It is
    logged and the wait goes on — chaos on the electrolyte campaign once ended a whole campaign
    on a robot's failed preparation thrown in here.
    """
    while True:
        try:
            yield from bps.wait_for([lambda: asyncio.wrap_future(future)])
            return
        except FailedStatus as error:
            _log.warning(
                "campaign %s: a device failed between experiments: %s", campaign_id, _reason(error)
            )


def _attempt(
    experiment: ExperimentPlan,
    reducer: Reducer,
    proposal: Inputs,
    iteration: int,
    attempt: int,
    campaign_id: str,
    metadata: Mapping[str, Any] | None,
) -> MsgGenerator:
    """Run one attempt; return its record (never raises for an experiment's own failure)."""
    documents: Documents = []

    def collect(name: str, document: dict[str, Any]) -> None:
        documents.append((name, document))

    run_metadata = {
        **(metadata or {}),
        "campaign": campaign_id,
        "iteration": iteration,
        "attempt": attempt,
        "inputs": inputs_metadata(proposal),
    }
    inputs = dict(proposal)
    failure: LabctlError | FailedStatus | None = None
    try:
        uid = yield from bpp.subs_wrapper(  # type: ignore[no-untyped-call]
            _checkpoint_after_open_run(experiment(proposal, run_metadata)), {"all": [collect]}
        )
    except (LabctlError, FailedStatus) as error:
        failure = error
        uid = _run_uid(documents)
    # Readings of a finished or failed run must never be replayed by a later rewind.
    yield from bps.checkpoint()
    stop = next((document for name, document in documents if name == "stop"), None)
    finished = stop is not None and stop.get("exit_status") == "success"
    if failure is not None and not finished:
        return ExperimentRecord(
            iteration,
            attempt,
            inputs,
            "failed",
            uid=uid,
            reason=_reason(failure),
            interlock=_interlock(failure),
        )
    if failure is not None:
        # The run had already finished, whole and successful, when a device's failure arrived:
        # bluesky throws a Status that fails in the background (a pump's recovery, a move the
        # plan no longer waits for) into whatever message comes next. The stored run is
        # complete, so the attempt counts as the store says; the device's own recovery deals
        # with its fault before the next experiment. (Chaos found the store and the campaign
        # disagreeing on such a run.)
        _log.warning(
            "campaign %s: iteration %s attempt %s finished before a device failed: %s",
            campaign_id,
            iteration,
            attempt,
            _reason(failure),
        )
    if stop is None:
        return ExperimentRecord(
            iteration, attempt, inputs, "failed", uid=uid, reason="the run did not finish"
        )
    return record_of_run(
        iteration, attempt, inputs, uid=uid, stop=stop, run=DocumentRun(documents), reducer=reducer
    )


def _checkpoint_after_open_run(plan: MsgGenerator) -> MsgGenerator:
    """``plan`` with a checkpoint right after each ``open_run``.

    A suspender (glovebox excursion) rewinds a plan to its last checkpoint and replays what
    followed, except ``open_run``/``close_run``. Checkpoints at the start of every experiment's
    run and after it ends (:func:`_attempt`) keep a rewind inside one run: never replaying the
    readings of a finished or failed run outside it. Plans add finer checkpoints where re-doing a
    step is safe.
    """

    def after_open_run(msg: Msg) -> tuple[MsgGenerator | None, MsgGenerator | None]:
        if msg.command == "open_run":
            return None, bps.checkpoint()
        return None, None

    result = yield from bpp.plan_mutator(plan, after_open_run)  # type: ignore[no-untyped-call]
    return result


def _reason(error: BaseException) -> str:
    """A sentence for a failed experiment: a failed Status is explained by its cause."""
    if isinstance(error, FailedStatus) and error.args:
        status = error.args[0]
        cause = getattr(status, "exception", lambda: None)()
        if cause is not None:
            return f"{type(cause).__name__}: {cause}"
    return f"{type(error).__name__}: {error}"


def _interlock(error: BaseException) -> str | None:
    """The name of the interlock behind ``error`` (a failed Status's cause, or its chain)."""
    return next(
        (cause.interlock for cause in cause_chain(error) if isinstance(cause, InterlockError)),
        None,
    )


def _run_uid(documents: Documents) -> str | None:
    start = next((document for name, document in documents if name == "start"), None)
    return None if start is None else str(start["uid"])
