"""Campaigns on a timetable: at a time, or on a cron recurrence, submitted to the lab's queue.

The schedule is a JSON file beside the queue server's (``<data_directory>/qserver/schedule.json``),
written atomically, so it survives restarts of everything. The scheduler (``labctl schedule
run``) wakes every few seconds, submits each entry that has come due to the queue server as a
campaign item with preconditions on — a glovebox out of range or a stock running low makes the
item fail in the queue's history with the reasons, instead of starting — and records what it did
in the entry. A recurrence missed while the scheduler was down fires once when it is back (never a
burst of catch-ups); a one-off time in the past fires once.

Every period the scheduler also checks the queue's health before it submits anything (``labctl
schedule run`` passes :meth:`labctl.operations.qserver.manager.QueueServer.recover_worker`): a RE
Worker that died overnight would otherwise leave the manager reporting a running item forever, and
every later campaign would queue behind it. What the check did is printed; a check that fails (the
manager itself is down) is reported and tried again next period — it never stops the scheduler.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, UsageError

__all__ = [
    "Schedule",
    "ScheduleEntry",
    "ScheduleError",
    "ScheduleRequestError",
    "check_when",
    "run_scheduler",
    "scheduled_submitter",
]

_log = logging.getLogger(__name__)


class ScheduleError(LabctlError):
    """A schedule entry cannot be made or the schedule file cannot be read."""


class ScheduleRequestError(ScheduleError, UsageError):
    """A time, a cron expression, a campaign file or an entry id that does not do (bad input)."""


@dataclass
class ScheduleEntry:
    """One scheduled campaign.

    Args:
        id: short id for ``labctl schedule remove``.
        campaign_config: path of the campaign config to queue.
        at: a one-off time (ISO 8601, UTC when no offset is given).
        cron: a recurrence (5-field cron expression, UTC).
        created: when the entry was made (ISO 8601).
        last_fired: when it was last submitted (ISO 8601), or ``None``.
        log: what happened at each firing (submitted item, or why not).
    """

    id: str
    campaign_config: str
    at: str | None = None
    cron: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    last_fired: str | None = None
    log: list[str] = field(default_factory=list)

    def next_due(self) -> datetime | None:
        """When it fires next (``None``: a one-off that already fired)."""
        if self.at is not None:
            return None if self.last_fired else _parse_time(self.at)
        from croniter import croniter

        base = _parse_time(self.last_fired or self.created)
        due: datetime = croniter(str(self.cron), base).get_next(datetime)
        return due


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise ScheduleRequestError(
            f"{text!r} is not a time (ISO 8601, e.g. 2026-11-25T02:00)"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_when(at: object, cron: object) -> None:
    """Refuse anything but exactly one of a time (``at``) and a cron expression (``cron``).

    Raises:
        ScheduleError: neither or both given, a bad time or a bad cron expression.
    """
    if (at is None) == (cron is None):
        raise ScheduleRequestError("give exactly one of --at TIME or --cron EXPRESSION")
    if at is not None:
        if not isinstance(at, str):
            raise ScheduleRequestError(f"{at!r} is not a time (ISO 8601, e.g. 2026-11-25T02:00)")
        _parse_time(at)
    if cron is not None:
        from croniter import croniter

        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise ScheduleRequestError(
                f"{cron!r} is not a cron expression (5 fields: minute hour day month weekday)"
            )


def _checked(entry: ScheduleEntry) -> ScheduleEntry:
    """An entry read from the file, refused unless every field has its type and form."""
    texts = {"id": entry.id, "campaign_config": entry.campaign_config, "created": entry.created}
    for name, value in texts.items():
        if not isinstance(value, str):
            raise ScheduleError(f"entry {entry.id!r}: {name} is {value!r}, not a text")
    check_when(entry.at, entry.cron)
    _parse_time(entry.created)
    if entry.last_fired is not None:
        _parse_time(entry.last_fired)
    if not isinstance(entry.log, list) or not all(isinstance(line, str) for line in entry.log):
        raise ScheduleError(f"entry {entry.id!r}: log is {entry.log!r}, not a list of texts")
    return entry


class Schedule:
    """The schedule file of one lab.

    Args:
        path: the JSON file (created on first add).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def entries(self) -> list[ScheduleEntry]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return [_checked(ScheduleEntry(**item)) for item in raw]
        except (ValueError, TypeError, ScheduleError) as error:
            raise ScheduleError(f"{self.path} is not a labctl schedule: {error}") from error

    def _save(self, entries: list[ScheduleEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps([asdict(e) for e in entries], indent=1), encoding="utf-8")
        scratch.replace(self.path)

    def add(
        self,
        campaign_config: Path,
        *,
        at: str | None = None,
        cron: str | None = None,
        now: datetime | None = None,
    ) -> ScheduleEntry:
        """Schedule ``campaign_config`` at a time or on a recurrence (exactly one of them).

        A recurrence first fires at its first time after ``now`` (default: the present).

        Raises:
            ScheduleError: neither or both given, a bad time or cron expression, or a missing file.
        """
        check_when(at, cron)
        if not Path(campaign_config).is_file():
            raise ScheduleRequestError(f"{campaign_config} does not exist")
        if at is not None:
            at = _parse_time(at).isoformat()
        entry = ScheduleEntry(uuid.uuid4().hex[:8], str(Path(campaign_config).resolve()), at, cron)
        if now is not None:
            entry.created = now.isoformat()
        with self._lock:
            entries = self.entries()
            entries.append(entry)
            self._save(entries)
        return entry

    def remove(self, entry_id: str) -> None:
        """Remove the entry with ``entry_id``.

        Raises:
            ScheduleError: no such entry.
        """
        with self._lock:
            entries = self.entries()
            kept = [entry for entry in entries if entry.id != entry_id]
            if len(kept) == len(entries):
                known = ", ".join(entry.id for entry in entries) or "none"
                raise ScheduleRequestError(f"no schedule entry {entry_id!r}; entries: {known}")
            self._save(kept)

    def fire_due(self, submit: Callable[[ScheduleEntry], str], now: datetime | None = None) -> int:
        """Submit every entry that has come due; returns how many fired.

        ``submit`` queues the entry's campaign and returns a line for the entry's log; an error
        it raises is logged in the entry (and the entry still counts as fired: no retry storm).
        """
        now = now or datetime.now(UTC)
        fired = 0
        with self._lock:
            entries = self.entries()
            for entry in entries:
                due = entry.next_due()
                if due is None or due > now:
                    continue
                try:
                    line = submit(entry)
                except LabctlError as error:
                    line = f"not submitted: {error}"
                entry.last_fired = now.isoformat()
                entry.log.append(f"{now.isoformat()} {line}")
                fired += 1
            if fired:
                self._save(entries)
        return fired


def run_scheduler(
    schedule: Schedule,
    submit: Callable[[ScheduleEntry], str],
    *,
    period: float = 5.0,
    stop: threading.Event | None = None,
    check_health: Callable[[], list[str]] | None = None,
    report: Callable[[str], None] = _log.warning,
) -> None:
    """Fire due entries every ``period`` seconds until ``stop`` is set (or forever).

    Args:
        schedule: the entries.
        submit: queues one entry; returns what happened, for its log.
        period: seconds between checks.
        stop: set to end the loop.
        check_health: called first every period (e.g. replace a dead RE Worker); returns what
            it did, one line per step, each passed to ``report``.
        report: where the health check's lines and failures go.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        if check_health is not None:
            try:
                for line in check_health():
                    report(line)
            except LabctlError as error:
                report(f"queue health check failed (tried again in {period:g} s): {error}")
        schedule.fire_due(submit)
        stop.wait(period)


def scheduled_submitter(server: Any) -> Callable[[Any], str]:
    """How the scheduler queues an entry: only if the lab is fit now, then unattended.

    Args:
        server: the lab's :class:`~labctl.operations.qserver.manager.QueueServer`.
    """
    from labctl.campaign.runner import new_campaign_id
    from labctl.config import load_config

    def submit(entry: Any) -> str:
        section = load_config(entry.campaign_config).model.campaign
        if section is None:
            return f"not submitted: {entry.campaign_config} has no campaign section"
        reasons = server.preconditions()
        if reasons:
            return "not started: " + "; ".join(reasons)
        identifier = new_campaign_id(section)
        uid = server.submit_campaign(Path(entry.campaign_config), identifier)
        server.run_unattended()
        return f"queued campaign {identifier} (item {uid})"

    return submit
