"""Soak: a long campaign under chaos mode with the process's resources sampled along the way.

A lab left running for days must not leak: :func:`soak` runs a campaign at time scale 0 with
chaos mode on and samples this process's resident memory (RSS), open file descriptors, threads
and the store's size on disk every ``every`` completed experiments, so growth per experiment can
be read off once warm. ``campaign="toy-sensing"`` is the simulated lab of
``configs/sim-lab.yaml`` (a motor, a detector and both OPC UA environment sensors: every
environment fault reaches the loop, the safety suspenders ride out excursions);
``"electrolyte"`` or ``"pulsed-charging"`` is the shipped real campaign under chaos as
:mod:`labctl.testing.reliability.chaos_campaigns` runs it (every instrument twin, curves written to
HDF5 per run, its invariants checked at the end). ``benchmarks/soak.py`` is the command line;
``tests/system/test_soak.py`` the short and the full (``-m slow``) runs.
"""

from __future__ import annotations

import copy
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE_COLUMNS", "soak", "soak_table"]

SAMPLE_COLUMNS = ("experiments", "wall_s", "rss_mib", "open_fds", "threads", "store_mib")
"""What each sample holds: completed experiments, wall s since start, RSS MiB, fds, threads,
store MiB."""


def soak(
    campaign: str, *, experiments: int, every: int, mean_interval: float, optimizer: str = "sobol"
) -> dict[str, Any]:
    """Run one soak; return its samples, faults by kind, counts and broken invariants.

    Args:
        campaign: ``toy-sensing``, ``electrolyte`` or ``pulsed-charging``.
        experiments: the budget (proposals, completed or failed).
        every: sample every this many completed experiments (and at the first and last).
        mean_interval: mean wall seconds between faults on each twin.
        optimizer: the optimizer kind (toy campaign only; the real ones use Sobol).
    """
    if campaign == "toy-sensing":
        return _soak_toy(experiments, every, mean_interval, optimizer)
    return _soak_campaign(campaign, experiments, every, mean_interval)


def soak_table(samples: list[tuple[int, float, float, int, int, float]]) -> str:
    """A Markdown table of :func:`soak`'s samples."""
    lines = [
        "| experiments | wall s | RSS MiB | open fds | threads | store MiB |",
        "|---|---|---|---|---|---|",
    ]
    for done, wall, rss, fds, threads, store in samples:
        lines.append(f"| {done} | {wall:.0f} | {rss:.0f} | {fds} | {threads} | {store:.1f} |")
    return "\n".join(lines)


class _Sampler:
    """Samples this process and a data directory every ``every`` completed experiments."""

    def __init__(self, data: Path, every: int, budget: int) -> None:
        self.data = data
        self.every = every
        self.budget = budget
        self.started = time.monotonic()
        self.rows: list[tuple[int, float, float, int, int, float]] = []

    def sample(self, done: int) -> None:
        self.rows.append(
            (
                done,
                time.monotonic() - self.started,
                _rss_mib(),
                len(list(Path("/proc/self/fd").iterdir())),
                threading.active_count(),
                _size(self.data) / 2**20 if self.data.exists() else 0.0,
            )
        )

    def on_attempt(self, record: Any, state: Any) -> None:
        done = len(state.completed)
        first = not self.rows
        last = state.proposals_done >= self.budget
        if first or last or (record.status == "completed" and done % self.every == 0):
            if self.rows and self.rows[-1][0] == done:
                self.rows.pop()  # one row per count of completed experiments: the latest
            self.sample(done)


def _rss_mib() -> float:
    """This process's resident memory, MiB (Linux: ``VmRSS`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError("no VmRSS in /proc/self/status")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _soak_toy(
    experiments: int, every: int, mean_interval: float, optimizer: str
) -> dict[str, Any]:
    import labctl.testing.toy_kinds  # noqa: F401 — registers the toy experiment kinds
    from labctl.campaign.runner import run_campaign
    from labctl.config import load_config
    from labctl.lab.session import Lab
    from labctl.testing.configs import sim_lab_document, write_config

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        document: dict[str, Any] = copy.deepcopy(sim_lab_document())
        document["simulation"]["chaos"] = {
            "mean_interval": f"{mean_interval} s",
            "duration": "1 s",
        }
        document["safety"] = {"period": "0.2 s", "settle": "0.5 s"}
        document["campaign"] = {
            "name": "soak",
            "experiment": "toy-sensing",
            "space": {"position": {"low": -1, "high": 1}},
            "objectives": {"signal": {"direction": "maximize"}},
            "optimizer": {"kind": optimizer, "seed": 1},
            "budget": {"experiments": experiments},
            "failure_policy": {"retry": "once", "max_consecutive": 20},
        }
        config = load_config(write_config(directory, document))
        sampler = _Sampler(directory / "data", every, experiments)
        with Lab.from_config(config) as lab:
            result = run_campaign(config, lab=lab, on_record=sampler.on_attempt)
            faults = lab.chaos.counts() if lab.chaos is not None else {}
    state = result.state
    completed = Counter(r.iteration for r in state.records if r.status == "completed")
    failed = Counter(r.iteration for r in state.records if r.status == "failed")
    return {
        "title": (
            f"toy-sensing: {experiments} experiments ({optimizer}), chaos every "
            f"{mean_interval:g} s per twin on average, {sampler.rows[-1][1]:.0f} s"
        ),
        "campaign": "toy-sensing",
        "experiments": experiments,
        "samples": sampler.rows,
        "faults_by_kind": faults,
        "completed": len(completed),
        "repeated": sum(c - 1 for c in completed.values()),
        "lost": None,  # not checked against the store here (the kill trials do)
        "failed_attempts": sum(failed.values()),
        "skipped": sum(1 for i, n in failed.items() if n >= 2 and i not in completed),
        "stop_reason": state.stop_reason,
        "wall_time": sampler.rows[-1][1],
        "violations": [
            f"iteration {i} completed {n} times" for i, n in completed.items() if n > 1
        ],
    }


def _soak_campaign(
    campaign: str, experiments: int, every: int, mean_interval: float
) -> dict[str, Any]:
    from labctl.testing.reliability.chaos_campaigns import chaos_document, run_chaos_campaign

    document = chaos_document(
        campaign,
        experiments=experiments,
        mean_interval=mean_interval,
        duration=1.0,
        seed=1,
    )
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        sampler = _Sampler(directory / "data", every, experiments)
        report = run_chaos_campaign(directory, document, campaign, on_attempt=sampler.on_attempt)
    return {
        "title": (
            f"{campaign}: {experiments} experiments (Sobol), chaos every "
            f"{mean_interval:g} s per twin on average, {report.wall_time:.0f} s"
        ),
        "campaign": campaign,
        "experiments": experiments,
        "samples": sampler.rows,
        "faults_by_kind": report.faults_by_kind(),
        "completed": report.completed,
        "repeated": report.details["store"]["repeated"],
        "lost": report.details["store"]["lost"],
        "failed_attempts": report.failed_attempts,
        "skipped": report.skipped,
        "stop_reason": report.stop_reason,
        "wall_time": report.wall_time,
        "longest_attempt": report.longest_attempt,
        "violations": report.violations,
    }
