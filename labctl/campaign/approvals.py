"""The operator's approval gate: proposals outside a configured envelope wait for a person.

An optimizer exploring a formulation space will sooner or later propose something a chemist wants
to look at first — 2 mol/kg of salt, 60 °C, a pulse current near the instrument's limit. A
campaign's ``approval.envelope`` names, per parameter, the range that runs unattended; a proposal
outside it is written to the lab's approval book (``<data_directory>/approvals/<campaign>/``,
one JSON file per iteration) and the campaign waits — the hardware idles safely, nothing is
dispensed — until someone runs ``labctl approve`` (or ``--reject``). A rejected proposal is
recorded as a failed experiment with the operator's name, and the optimizer never proposes it
again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pint

from labctl.config.envelope import Envelope
from labctl.errors import UsageError

__all__ = ["ApprovalBook", "ApprovalError", "EnvelopeApproval", "PendingApproval"]

Decision = Literal["approved", "rejected"]


class ApprovalError(UsageError):
    """No such pending approval, or it was already decided."""


@dataclass(frozen=True)
class PendingApproval:
    """One proposal waiting for (or decided by) an operator."""

    campaign: str
    iteration: int
    inputs: dict[str, Any]
    reason: str
    requested: float
    decision: Decision | None = None
    by: str | None = None
    decided: float | None = None


class ApprovalBook:
    """The approval files of one lab (``<data_directory>/approvals``).

    Args:
        directory: where the files live.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, campaign: str, iteration: int) -> Path:
        # The campaign id names a folder: refuse one that would leave the approvals folder.
        if campaign in ("", ".", "..") or any(c in campaign for c in "/\\\x00"):
            raise ApprovalError(
                f"{campaign!r} is not a campaign id (it would name another folder)"
            )
        return self.directory / campaign / f"{iteration}.json"

    def _read(self, path: Path) -> PendingApproval:
        """An approval file, refused with its path unless every field has its type."""
        try:
            item = PendingApproval(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise ApprovalError(f"{path}: not a labctl approval file ({error})") from None
        number = (int, float)
        valid = (
            isinstance(item.campaign, str)
            and isinstance(item.iteration, int)
            and not isinstance(item.iteration, bool)
            and isinstance(item.inputs, dict)
            and isinstance(item.reason, str)
            and isinstance(item.requested, number)
            and item.decision in (None, "approved", "rejected")
            and (item.by is None or isinstance(item.by, str))
            and (item.decided is None or isinstance(item.decided, number))
        )
        if not valid:
            raise ApprovalError(f"{path}: not a labctl approval file (a field of the wrong type)")
        return item

    def _write(self, item: PendingApproval) -> None:
        path = self._path(item.campaign, item.iteration)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(item.__dict__, default=str, indent=1), encoding="utf-8")
        scratch.replace(path)

    def request(
        self, campaign: str, iteration: int, inputs: Mapping[str, Any], reason: str
    ) -> None:
        """Ask for approval of a proposal (idempotent: a decided request is kept as it is)."""
        if self.get(campaign, iteration) is not None:
            return
        shown = {
            name: f"{value:~g}" if isinstance(value, pint.Quantity) else value
            for name, value in inputs.items()
        }
        self._write(PendingApproval(campaign, iteration, shown, reason, time.time()))

    def get(self, campaign: str, iteration: int) -> PendingApproval | None:
        """The request for ``iteration`` of ``campaign`` (``None``: none was made)."""
        path = self._path(campaign, iteration)
        if not path.exists():
            return None
        return self._read(path)

    def decision(self, campaign: str, iteration: int) -> Decision | None:
        """The operator's decision so far (``None``: still waiting)."""
        item = self.get(campaign, iteration)
        return None if item is None else item.decision

    def decide(
        self, campaign: str, iteration: int, decision: Decision, by: str
    ) -> PendingApproval:
        """Record an operator's decision.

        Raises:
            ApprovalError: nothing is pending for that campaign and iteration, or it is decided.
        """
        item = self.get(campaign, iteration)
        if item is None:
            pending = ", ".join(f"{p.campaign} #{p.iteration}" for p in self.pending()) or "none"
            raise ApprovalError(
                f"no approval request for {campaign} #{iteration}; pending: {pending}"
            )
        if item.decision is not None:
            raise ApprovalError(
                f"{campaign} #{iteration} was already {item.decision} by {item.by}"
            )
        decided = PendingApproval(
            item.campaign,
            item.iteration,
            item.inputs,
            item.reason,
            item.requested,
            decision,
            by,
            time.time(),
        )
        self._write(decided)
        return decided

    def pending(self) -> list[PendingApproval]:
        """Every request still waiting, oldest first."""
        if not self.directory.exists():
            return []
        items = [self._read(path) for path in sorted(self.directory.glob("*/*.json"))]
        return sorted((i for i in items if i.decision is None), key=lambda i: i.requested)


@dataclass(frozen=True)
class EnvelopeApproval:
    """The gate a campaign consults: an envelope, the lab's approval book, how often to look.

    Args:
        envelope: what runs unattended.
        book: where requests and decisions are kept.
        poll: seconds between looks at the book while waiting.
    """

    envelope: Envelope
    book: ApprovalBook
    poll: float = 5.0

    def needs(self, inputs: Mapping[str, Any]) -> str | None:
        """Why ``inputs`` need approval (``None``: they do not)."""
        return self.envelope.outside(inputs)

    def request(
        self, campaign: str, iteration: int, inputs: Mapping[str, Any], reason: str
    ) -> None:
        """File the request."""
        self.book.request(campaign, iteration, inputs, reason)

    def decision(self, campaign: str, iteration: int) -> Decision | None:
        """The operator's decision so far."""
        return self.book.decision(campaign, iteration)
