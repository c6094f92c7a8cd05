"""A campaign's experiments as records, and what decides when a campaign stops.

What a campaign knows of each experiment — the proposal, what became of it (completed with its
objectives, failed with a reason, interrupted), its run's uid — and the parts it is built from,
as Protocols: the recommender (ask/tell), the experiment plan, the reducer and the approval gate.
:func:`record_of_run` is the one reading of a run into a record, for the campaign as it runs
(:mod:`labctl.plans.campaign`) and for its history read back from the store
(:mod:`labctl.campaign.history`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bluesky.utils import Msg

from labctl.errors import LabctlError
from labctl.plans.rundata import RunData
from labctl.units import encode_quantity

__all__ = [
    "ApprovalGate",
    "Budget",
    "CampaignState",
    "CampaignStopped",
    "ExperimentPlan",
    "ExperimentRecord",
    "FailurePolicy",
    "Inputs",
    "Recommender",
    "Reducer",
    "inputs_metadata",
    "record_of_run",
]

MsgGenerator = Generator[Msg, Any, Any]
Inputs = Mapping[str, Any]


class Recommender(Protocol):
    """What the loop needs of an optimizer: bluesky-adaptive's verbs."""

    def ask(self, n: int, pending: Sequence[Inputs] = ()) -> list[dict[str, Any]]:
        """Propose ``n`` experiments, knowing ``pending`` ones are running."""

    def tell(
        self, inputs: Sequence[Inputs], outcomes: Sequence[Mapping[str, float] | None]
    ) -> None:
        """Learn outcomes (``None``: the experiment failed and has no outcome)."""


class ExperimentPlan(Protocol):
    """A plan making exactly one bluesky run for one proposal; returns the run's uid."""

    def __call__(self, inputs: Inputs, metadata: Mapping[str, Any]) -> MsgGenerator:
        """Yield the messages of one experiment."""


Reducer = Callable[[RunData], Mapping[str, float]]
"""From one finished run to its objectives (named floats in the objectives' units)."""


class ApprovalGate(Protocol):
    """Proposals an operator must approve before they run (:mod:`labctl.campaign.approvals`)."""

    poll: float
    """Seconds between looks for the operator's decision."""

    def needs(self, inputs: Inputs) -> str | None:
        """Why ``inputs`` need approval (``None``: they run unattended)."""

    def request(self, campaign: str, iteration: int, inputs: Inputs, reason: str) -> None:
        """Ask the operator."""

    def decision(self, campaign: str, iteration: int) -> Literal["approved", "rejected"] | None:
        """The operator's decision so far (``None``: still waiting)."""


class CampaignStopped(LabctlError):
    """The campaign stopped early: too many failures in a row, or a ``stop_on`` interlock."""


@dataclass(frozen=True)
class Budget:
    """When a campaign ends.

    Args:
        experiments: completed or failed experiments to run in all (history included).
        wall_time: seconds of wall time for this session (``None``: no limit).
        patience: stop when ``progress`` has not improved for this many completed experiments.
        resources: what the lab has left to experiment with (substrate sites, stock), asked
            before the first proposal, before a retry and after every experiment: a reason
            (``"substrate exhausted: …"``) stops the campaign cleanly, ``None`` lets it go on.
    """

    experiments: int
    wall_time: float | None = None
    patience: int | None = None
    resources: Callable[[], str | None] | None = None

    def __post_init__(self) -> None:
        if self.experiments < 1:
            raise ValueError(f"a campaign needs at least one experiment, got {self.experiments}")
        if self.wall_time is not None and self.wall_time <= 0:
            raise ValueError(f"wall time must be positive, got {self.wall_time} s")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 experiment, got {self.patience}")


@dataclass(frozen=True)
class FailurePolicy:
    """What to do when an experiment fails.

    Args:
        retry: ``"once"`` runs a failed proposal a second time; ``"skip"`` moves on.
        max_consecutive: stop the campaign after this many failed attempts in a row.
        stop_on: interlocks (:data:`labctl.errors.INTERLOCKS`) that stop the campaign at once
            instead: the hardware is already safe, and a person must look (a clogged pump would
            only clog again, and waste stock, on a retry).
    """

    retry: Literal["once", "skip"] = "once"
    max_consecutive: int = 3
    stop_on: frozenset[str] = frozenset()


@dataclass
class ExperimentRecord:
    """One attempt at one proposal.

    Args:
        iteration: the proposal's number in the campaign (0-based).
        attempt: 1, or 2 for a retry.
        inputs: the proposal.
        status: ``completed``, ``failed`` or ``interrupted`` (from an earlier session).
        outcome: the objectives (completed only).
        uid: the run's uid (when a run was opened).
        reason: why it failed.
        idle: seconds the hardware waited for the recommender before this experiment.
        interlock: the safety interlock that ended a failed attempt (``None``: none).
    """

    iteration: int
    attempt: int
    inputs: dict[str, Any]
    status: Literal["completed", "failed", "interrupted"]
    outcome: dict[str, float] | None = None
    uid: str | None = None
    reason: str | None = None
    idle: float = 0.0
    interlock: str | None = None


@dataclass
class CampaignState:
    """Everything the campaign did so far (this session and, via ``history``, earlier ones)."""

    campaign: str
    records: list[ExperimentRecord] = field(default_factory=list)
    stop_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    idle_time: float = 0.0

    @property
    def completed(self) -> list[ExperimentRecord]:
        """Experiments with an outcome."""
        return [record for record in self.records if record.status == "completed"]

    @property
    def proposals_done(self) -> int:
        """Proposals finished (completed, or failed for good) — what the budget counts."""
        return len({record.iteration for record in self.records})

    @property
    def next_iteration(self) -> int:
        """The number the next proposal gets."""
        return 1 + max((record.iteration for record in self.records), default=-1)


def inputs_metadata(inputs: Inputs) -> dict[str, Any]:
    """Proposed inputs for a start document: quantities as ``{"value", "units"}``, others as is."""
    metadata: dict[str, Any] = {}
    for name, value in inputs.items():
        encoded = encode_quantity(value)
        plain = isinstance(encoded, dict | float | int | str | bool) or encoded is None
        metadata[name] = encoded if plain else str(value)
    return metadata


def record_of_run(
    iteration: int,
    attempt: int,
    inputs: dict[str, Any],
    *,
    uid: str | None,
    stop: Mapping[str, Any] | None,
    run: RunData,
    reducer: Reducer | None,
) -> ExperimentRecord:
    """What one experiment's run amounts to: its stop document decides, then its reducer.

    The one reading of a run into a record, for the campaign as it runs and for its history
    read back from the store (resume, reports). No stop document, or an aborted run:
    interrupted (the process died inside the run, or the operator stopped it). A stop document
    of another failure: failed, with its reason. Otherwise the
    reducer's objectives — failed if it cannot reduce the run or gives a non-finite value.
    Without a reducer a successful run is completed with no outcome.
    """
    if not stop:
        return ExperimentRecord(
            iteration, attempt, inputs, "interrupted", uid=uid, reason="no stop document"
        )
    if stop.get("exit_status") == "abort":
        # Stopped on purpose (Ctrl-C, an operator's abort): not the experiment's failure.
        reason = stop.get("reason") or "aborted"
        return ExperimentRecord(iteration, attempt, inputs, "interrupted", uid=uid, reason=reason)
    if stop.get("exit_status") != "success":
        reason = stop.get("reason") or f"exit status {stop.get('exit_status')}"
        return ExperimentRecord(iteration, attempt, inputs, "failed", uid=uid, reason=reason)
    if reducer is None:
        return ExperimentRecord(iteration, attempt, inputs, "completed", uid=uid)
    try:
        outcome = {name: float(value) for name, value in reducer(run).items()}
    except (LabctlError, ValueError, KeyError, TypeError) as error:
        return ExperimentRecord(
            iteration, attempt, inputs, "failed", uid=uid, reason=f"reduction failed: {error}"
        )
    if not all(math.isfinite(value) for value in outcome.values()):
        return ExperimentRecord(
            iteration, attempt, inputs, "failed", uid=uid, reason=f"non-finite outcome {outcome}"
        )
    return ExperimentRecord(iteration, attempt, inputs, "completed", outcome=outcome, uid=uid)
