"""Chaos mode: every twin misbehaves at seeded random moments, as real labs do.

A lab running for days meets dropped connections, instruments that stop answering, line noise,
controllers that reboot, and glovebox excursions — rarely, and never when a test expects them.
:class:`ChaosMonkey` makes them happen on purpose: for each twin that offers faults
(:class:`ChaosTarget`), faults start at exponentially distributed intervals (a Poisson process
with the configured mean interval, in wall-clock seconds) and last a configured time; the kind of
each fault is drawn from those the twin offers (optionally restricted by config, and weighted
per kind so that a twin's rarer failure modes can be made as frequent as its wire faults). Every
fault is logged with when it started, what it hit, and how long it lasted, so a reliability
report can say exactly what was injected. Draws come from one seeded generator per twin, so a
chaos run is reproducible up to thread timing.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["ChaosMonkey", "ChaosOptions", "ChaosTarget", "InjectedFault"]

log = logging.getLogger(__name__)


@runtime_checkable
class ChaosTarget(Protocol):
    """A twin that can misbehave on request."""

    def chaos_faults(self) -> frozenset[str]:
        """The fault kinds this twin offers (``drop``, ``silence``, ``garbage``, …)."""

    def begin_fault(self, kind: str, rng: np.random.Generator) -> Callable[[], None]:
        """Start a fault of ``kind`` now; return the function that ends it."""


@dataclass(frozen=True)
class ChaosOptions:
    """How often and how long.

    Args:
        mean_interval: mean wall seconds between faults on one twin.
        duration: wall seconds each fault lasts.
        kinds: allowed kinds (empty: every kind a twin offers).
        weights: relative frequency of a kind among those its twin offers (default 1 each;
            0 never injects it). A twin with wire faults and one instrument fault draws the
            instrument fault a quarter of the time; weight 3 makes it half.
    """

    mean_interval: float = 30.0
    duration: float = 2.0
    kinds: frozenset[str] = frozenset()
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {kind: w for kind, w in self.weights.items() if not (w >= 0 and w < float("inf"))}
        if bad:
            raise ValueError(f"chaos weights must be finite and >= 0, got {bad}")


@dataclass(frozen=True)
class InjectedFault:
    """One fault that was injected."""

    started: float
    twin: str
    kind: str
    duration: float


class ChaosMonkey:
    """Injects faults into ``twins`` until stopped.

    Args:
        twins: name → twin; twins that are not :class:`ChaosTarget` are left alone.
        options: rates and durations.
        seed: base seed; each twin draws from its own stream.
    """

    def __init__(self, twins: Mapping[str, object], options: ChaosOptions, seed: int = 0) -> None:
        self.options = options
        self.targets: dict[str, ChaosTarget] = {
            name: twin for name, twin in twins.items() if isinstance(twin, ChaosTarget)
        }
        self._rngs = {
            name: np.random.default_rng([seed, index])
            for index, name in enumerate(sorted(self.targets))
        }
        self.log: list[InjectedFault] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _kinds(self, name: str) -> list[str]:
        offered = self.targets[name].chaos_faults()
        allowed = offered & self.options.kinds if self.options.kinds else offered
        return sorted(kind for kind in allowed if self._weight(kind) > 0)

    def _weight(self, kind: str) -> float:
        return float(self.options.weights.get(kind, 1.0))

    def _draw_kind(self, name: str, kinds: list[str]) -> str:
        weights = np.array([self._weight(kind) for kind in kinds])
        return str(self._rngs[name].choice(kinds, p=weights / weights.sum()))

    def start(self) -> None:
        """Start injecting on a daemon thread."""
        if self._thread is not None or not self.targets:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)
        self._thread.start()

    def _next_time(self, name: str, now: float) -> float:
        return now + float(self._rngs[name].exponential(self.options.mean_interval))

    def _run(self) -> None:
        now = time.monotonic()
        schedule = [(self._next_time(name, now), name) for name in self.targets]
        heapq.heapify(schedule)
        ending: list[tuple[float, str, Callable[[], None]]] = []
        try:
            while not self._stop.is_set():
                wake = min([schedule[0][0]] + [end for end, _, _ in ending])
                if self._stop.wait(max(0.0, wake - time.monotonic())):
                    break
                now = time.monotonic()
                for entry in [e for e in ending if e[0] <= now]:
                    ending.remove(entry)
                    self._end(entry[1], entry[2])
                while schedule and schedule[0][0] <= now:
                    _, name = heapq.heappop(schedule)
                    busy = any(target == name for _, target, _ in ending)
                    kinds = self._kinds(name)
                    if kinds and not busy:
                        kind = self._draw_kind(name, kinds)
                        end = self._begin(name, kind)
                        if end is not None:
                            ending.append((now + self.options.duration, name, end))
                    heapq.heappush(schedule, (self._next_time(name, now), name))
        finally:
            for _, name, end in ending:
                self._end(name, end)

    def _begin(self, name: str, kind: str) -> Callable[[], None] | None:
        try:
            end = self.targets[name].begin_fault(kind, self._rngs[name])
        except Exception:  # a twin that fails to misbehave must not stop the others
            log.exception("chaos: %s could not start a %s fault", name, kind)
            return None
        with self._lock:
            self.log.append(InjectedFault(time.time(), name, kind, self.options.duration))
        log.info("chaos: %s fault on %s for %.1f s", kind, name, self.options.duration)
        return end

    @staticmethod
    def _end(name: str, end: Callable[[], None]) -> None:
        try:
            end()
        except Exception:
            log.exception("chaos: ending a fault on %s failed", name)

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._lock:
            kinds = [fault.kind for fault in self.log]
        return {kind: kinds.count(kind) for kind in sorted(set(kinds))}

    def stop(self) -> None:
        """Stop injecting and end any fault in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.duration + 30.0)
            self._thread = None
