"""The substrate's site map: rows × columns of spots, each used by at most one experiment.

A scanning droplet cell consumes one spot of the substrate per experiment (REFERENCES 4: each
spot is used once; pitch ≥ two droplet diameters). :class:`SubstrateMap` knows where each site is
(``origin`` + pitch × (column, row), stage work coordinates in mm) and what state it is in:

* ``fresh`` — never touched; the only state :meth:`SubstrateMap.claim` hands out;
* ``used`` — handed out to an experiment (set *when handed out*, so a crash mid-experiment never
  lets the spot be used again);
* ``failed`` — the experiment on it failed (fault, lost contact, refused move).

The states live in a JSON file written atomically (a temporary file in the same directory,
flushed and fsync'ed, then renamed over the old one), read back by any later process, and every
read-modify-write holds an exclusive lock on ``<file>.lock`` (POSIX ``flock``) so two processes
sharing a substrate never get the same site. The file also records the geometry; opening it with
another geometry is refused (it describes another substrate).

File format (version 1)::

    {"version": 1, "substrate": "zn-01", "rows": 4, "columns": 6, "pitch_mm": 2.5,
     "origin_mm": [10.0, 10.0], "sites": {"0,0": "used", "0,1": "failed"}}

(sites not listed are fresh).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from labctl.errors import LabctlError

try:  # POSIX only; elsewhere the in-process lock is all there is
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

_FLOCK: Any = _fcntl

__all__ = ["SITE_STATES", "Site", "SiteError", "SiteState", "SubstrateMap"]

SiteState = Literal["fresh", "used", "failed"]
SITE_STATES: tuple[SiteState, ...] = ("fresh", "used", "failed")
_VERSION = 1


class SiteError(LabctlError):
    """A site that does not exist, is not fresh, or a site file that does not fit the map."""


@dataclass(frozen=True, order=True)
class Site:
    """One spot of the substrate.

    Args:
        row: 0-based row (the Y direction).
        column: 0-based column (the X direction).
    """

    row: int
    column: int

    @property
    def key(self) -> str:
        """``"row,column"``: how the site file names it."""
        return f"{self.row},{self.column}"

    @classmethod
    def parse(cls, value: Site | tuple[int, int] | list[int] | str) -> Site:
        """A site from ``Site``, ``(row, column)`` or ``"row,column"``.

        Raises:
            SiteError: anything else.
        """
        if isinstance(value, Site):
            return value
        try:
            if isinstance(value, str):
                row_text, column_text = value.split(",")
                return cls(int(row_text), int(column_text))
            row, column = value
            if isinstance(row, bool) or isinstance(column, bool):
                raise TypeError
            return cls(int(row), int(column))
        except (TypeError, ValueError):
            raise SiteError(f"a site is (row, column) or 'row,column', not {value!r}") from None

    def __str__(self) -> str:
        return f"({self.row}, {self.column})"


class SubstrateMap:
    """Sites of one substrate, their stage coordinates and their persisted states.

    Args:
        path: the site file (created on first write; its directory too).
        rows: number of rows (≥ 1).
        columns: number of columns (≥ 1).
        pitch: distance between neighbouring sites, mm (> 0).
        origin: stage work coordinates (x, y) of site (0, 0), mm.
        name: the substrate's name (recorded in the file).

    Raises:
        SiteError: the file exists but describes another geometry, or cannot be read.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rows: int,
        columns: int,
        pitch: float,
        origin: tuple[float, float] = (0.0, 0.0),
        name: str = "substrate",
    ) -> None:
        if rows < 1 or columns < 1 or not pitch > 0:
            raise ValueError("a substrate map needs rows ≥ 1, columns ≥ 1 and a pitch > 0 mm")
        self.path = Path(path)
        self.rows = rows
        self.columns = columns
        self.pitch = float(pitch)
        self.origin = (float(origin[0]), float(origin[1]))
        self.name = name
        self._lock = threading.RLock()
        self._read()  # refuse a file of another substrate now, not at the first claim

    # -- geometry ---------------------------------------------------------------------------------
    def sites(self) -> Iterator[Site]:
        """Every site, row by row (the order :meth:`claim` hands them out)."""
        for row in range(self.rows):
            for column in range(self.columns):
                yield Site(row, column)

    def check(self, site: Site | tuple[int, int] | str) -> Site:
        """``site`` parsed and checked to lie on the map.

        Raises:
            SiteError: not on the map.
        """
        parsed = Site.parse(site)
        if not (0 <= parsed.row < self.rows and 0 <= parsed.column < self.columns):
            raise SiteError(
                f"{self.name}: site {parsed} is not on the map ({self.rows} rows × "
                f"{self.columns} columns, 0-based)"
            )
        return parsed

    def position(self, site: Site | tuple[int, int] | str) -> tuple[float, float]:
        """Stage work coordinates (x, y) of ``site``, mm."""
        parsed = self.check(site)
        return (
            self.origin[0] + parsed.column * self.pitch,
            self.origin[1] + parsed.row * self.pitch,
        )

    # -- states -----------------------------------------------------------------------------------
    def states(self) -> dict[Site, SiteState]:
        """Every site's state, as the file says now."""
        with self._locked():
            stored = self._read()
        return {site: stored.get(site.key, "fresh") for site in self.sites()}

    def state(self, site: Site | tuple[int, int] | str) -> SiteState:
        """One site's state."""
        parsed = self.check(site)
        with self._locked():
            return self._read().get(parsed.key, "fresh")

    def counts(self) -> dict[str, int]:
        """How many sites are in each state."""
        counted: dict[str, int] = dict.fromkeys(SITE_STATES, 0)
        for state in self.states().values():
            counted[state] += 1
        return counted

    def claim(self, site: Site | tuple[int, int] | str | None = None) -> Site:
        """Hand out ``site`` (default: the first fresh one) and mark it ``used`` at once.

        Raises:
            SiteError: the site is not fresh, or no site is left.
        """
        chosen = None if site is None else self.check(site)
        with self._locked():
            stored = self._read()
            if chosen is None:
                chosen = next((s for s in self.sites() if s.key not in stored), None)
                if chosen is None:
                    raise SiteError(
                        f"{self.name}: no fresh site left ({self.rows * self.columns} sites, "
                        "all used or failed); mount a new substrate"
                    )
            elif chosen.key in stored:
                raise SiteError(
                    f"{self.name}: site {chosen} is {stored[chosen.key]}, not fresh; a site is "
                    "used by one experiment only"
                )
            stored[chosen.key] = "used"
            self._write(stored)
        return chosen

    def mark(self, site: Site | tuple[int, int] | str, state: SiteState) -> None:
        """Set a site's state (``failed`` after a fault; ``fresh`` only to correct a record)."""
        if state not in SITE_STATES:
            raise SiteError(f"a site's state is one of {SITE_STATES}, not {state!r}")
        parsed = self.check(site)
        with self._locked():
            stored = self._read()
            if state == "fresh":
                stored.pop(parsed.key, None)
            else:
                stored[parsed.key] = state
            self._write(stored)

    # -- the file ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if _FLOCK is None:
                yield
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            with lock_path.open("a+b") as handle:
                _FLOCK.flock(handle.fileno(), _FLOCK.LOCK_EX)
                try:
                    yield
                finally:
                    _FLOCK.flock(handle.fileno(), _FLOCK.LOCK_UN)

    def _geometry(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "pitch_mm": self.pitch,
            "origin_mm": list(self.origin),
        }

    def _read(self) -> dict[str, SiteState]:
        if not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SiteError(f"{self.path}: cannot read the site file: {error}") from None
        if not isinstance(document, dict) or document.get("version") != _VERSION:
            raise SiteError(f"{self.path}: not a version-{_VERSION} site file")
        geometry = {key: document.get(key) for key in self._geometry()}
        if geometry != self._geometry():
            raise SiteError(
                f"{self.path}: the file describes another substrate layout ({geometry}); this "
                f"map is {self._geometry()} — use a new state file for a new substrate"
            )
        sites = document.get("sites", {})
        if not isinstance(sites, dict):
            raise SiteError(
                f"{self.path}: 'sites' must map 'row,column' to a state, not {sites!r}"
            )
        out: dict[str, SiteState] = {}
        for key, state in sites.items():
            if state not in ("used", "failed"):
                raise SiteError(f"{self.path}: site {key} has an unknown state {state!r}")
            try:
                site = self.check(key)
            except SiteError as error:
                raise SiteError(f"{self.path}: {error}") from None
            out[site.key] = state
        return out

    def _write(self, stored: dict[str, SiteState]) -> None:
        document = {
            "version": _VERSION,
            "substrate": self.name,
            **self._geometry(),
            "sites": dict(sorted(stored.items(), key=lambda item: Site.parse(item[0]))),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=1)
                stream.flush()
                os.fsync(stream.fileno())
            Path(temporary).replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def __repr__(self) -> str:
        return (
            f"<SubstrateMap {self.name!r} {self.rows}×{self.columns} pitch {self.pitch:g} mm "
            f"at {self.path}>"
        )
