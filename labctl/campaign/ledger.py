"""Which campaigns of a lab have started and which have ended, so a rerun resumes the right one.

The store holds every experiment, but not whether a campaign is over: one stopped by its budget,
its patience or its failure policy looks, run by run, like one a Ctrl-C or a kill -9 cut short.
The ledger (``<data_directory>/campaigns/<campaign>.json``, one small file per campaign, written
whole and renamed into place) records both ends. ``labctl run CONFIG`` resumes the newest
campaign of the config's name that started and never ended; ``--new`` starts another.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labctl.errors import LabctlError

__all__ = ["LedgerEntry", "campaign_ended", "campaign_started", "unfinished_campaign"]

_FOLDER = "campaigns"


@dataclass(frozen=True)
class LedgerEntry:
    """One campaign's two ends (times are Unix seconds; ``ended`` is ``None`` while unfinished)."""

    campaign: str
    name: str
    config: str
    started: float
    ended: float | None = None
    reason: str | None = None


def _path(data_directory: Path, campaign_id: str) -> Path:
    return data_directory / _FOLDER / f"{campaign_id}.json"


def _write(data_directory: Path, entry: LedgerEntry) -> None:
    path = _path(data_directory, entry.campaign)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(asdict(entry), indent=1), encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        raise LabctlError(f"cannot record campaign {entry.campaign} in {path}: {error}") from error


def _read(path: Path) -> LedgerEntry | None:
    try:
        return LedgerEntry(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # a foreign or damaged file names no campaign


def campaign_started(data_directory: Path, campaign_id: str, name: str, config: str) -> None:
    """Record that ``campaign_id`` (of campaign ``name``, from ``config``) is running.

    A resumed campaign keeps its first start time and loses any earlier end.
    """
    known = _read(_path(data_directory, campaign_id))
    started = known.started if known is not None else time.time()
    _write(data_directory, LedgerEntry(campaign_id, name, config, started))


def campaign_ended(data_directory: Path, campaign_id: str, reason: str) -> None:
    """Record that ``campaign_id`` is over (its budget spent, its patience run out, stopped)."""
    known = _read(_path(data_directory, campaign_id))
    if known is None:
        return
    _write(
        data_directory,
        LedgerEntry(known.campaign, known.name, known.config, known.started, time.time(), reason),
    )


def unfinished_campaign(data_directory: Path, name: str) -> LedgerEntry | None:
    """The newest campaign called ``name`` that started and has not ended (``None``: none)."""
    entries = [
        entry
        for path in sorted((data_directory / _FOLDER).glob("*.json"))
        if (entry := _read(path)) is not None and entry.name == name and entry.ended is None
    ]
    return max(entries, key=lambda entry: entry.started, default=None)
