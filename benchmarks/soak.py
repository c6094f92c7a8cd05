"""Soak: a long campaign under chaos mode, with the process's resources sampled along the way.

Usage: ``python benchmarks/soak.py --experiments 1000 [--optimizer sobol] [--mean-interval 5]``
or, on a real campaign, ``python benchmarks/soak.py --campaign electrolyte --experiments 500``.

The simulated lab of ``configs/sim-lab.yaml`` runs at time scale 0 with chaos mode on (every
twin misbehaves at random: OPC UA controllers freeze, restart, the glovebox has excursions that
the safety suspenders ride out). The campaign's experiment moves a simulated motor and reads the
detector and both environment sensors, so every fault reaches the loop: a read that times out
fails the experiment, which the failure policy retries. Every ``--every`` experiments the script
samples the process's resident memory (RSS), open file descriptors, threads, and the store's size
on disk. At the end it prints the samples, the faults injected by kind, and the campaign's
completed / failed / repeated counts (a completed iteration must appear exactly once).

With ``--campaign electrolyte`` (or ``pulsed-charging``) the campaign is the shipped real one
under chaos, as :mod:`labctl.testing.chaos_campaigns` runs it (every instrument twin, curves
written to HDF5 per run, the invariants checked at the end): where a leak of file handles or
memory per run would show.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

import labctl.testing.toy_kinds  # noqa: F401 — registers the toy experiment kinds
from labctl.campaign_runner import run_campaign
from labctl.config import load_config
from labctl.lab import Lab
from labctl.testing.configs import sim_lab_document, write_config


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--optimizer", default="sobol")
    parser.add_argument("--mean-interval", type=float, default=5.0, help="s between faults")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--campaign", choices=["electrolyte", "pulsed-charging"])
    parser.add_argument("--json", type=Path, help="also write the result here")
    options = parser.parse_args()
    result = _soak_campaign(options) if options.campaign else _soak_toy(options)
    result["command"] = " ".join(["python", *sys.argv])
    print(result["title"])
    print(_table(result["samples"]))
    print(f"faults injected: {result['faults_by_kind']}")
    print(
        f"completed {result['completed']}, repeated {result['repeated']}, failed attempts "
        f"{result['failed_attempts']}, skipped {result['skipped']}, stop: {result['stop_reason']}"
    )
    print("invariants:", "all hold" if not result["violations"] else result["violations"])
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 1 if result["violations"] else 0


def _soak_toy(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        document: dict[str, Any] = copy.deepcopy(sim_lab_document())
        document["simulation"]["chaos"] = {
            "mean_interval": f"{options.mean_interval} s",
            "duration": "1 s",
        }
        document["safety"] = {"period": "0.2 s", "settle": "0.5 s"}
        document["campaign"] = {
            "name": "soak",
            "experiment": "toy-sensing",
            "space": {"position": {"low": -1, "high": 1}},
            "objectives": {"signal": {"direction": "maximize"}},
            "optimizer": {"kind": options.optimizer, "seed": 1},
            "budget": {"experiments": options.experiments},
            "failure_policy": {"retry": "once", "max_consecutive": 20},
        }
        config = load_config(write_config(directory, document))
        sampler = _Sampler(directory / "data", options.every, options.experiments)
        with Lab.from_config(config) as lab:
            result = run_campaign(config, lab=lab, on_record=sampler.on_attempt)
            faults = lab.chaos.counts() if lab.chaos is not None else {}
    state = result.state
    completed = Counter(r.iteration for r in state.records if r.status == "completed")
    failed = Counter(r.iteration for r in state.records if r.status == "failed")
    return {
        "title": (
            f"toy-sensing: {options.experiments} experiments ({options.optimizer}), chaos every "
            f"{options.mean_interval:g} s per twin on average, {sampler.rows[-1][1]:.0f} s"
        ),
        "campaign": "toy-sensing",
        "experiments": options.experiments,
        "samples": sampler.rows,
        "faults_by_kind": faults,
        "completed": len(completed),
        "repeated": sum(c - 1 for c in completed.values()),
        "failed_attempts": sum(failed.values()),
        "skipped": sum(1 for i, n in failed.items() if n >= 2 and i not in completed),
        "stop_reason": state.stop_reason,
        "wall_time": sampler.rows[-1][1],
        "violations": [
            f"iteration {i} completed {n} times" for i, n in completed.items() if n > 1
        ],
    }


class _Sampler:
    """Samples this process and a data directory every ``every`` completed experiments."""

    def __init__(self, data: Path, every: int, budget: int) -> None:
        self.data = data
        self.every = every
        self.budget = budget
        self.process = psutil.Process()
        self.started = time.monotonic()
        self.rows: list[tuple[int, float, float, int, int, float]] = []

    def sample(self, done: int) -> None:
        self.rows.append(
            (
                done,
                time.monotonic() - self.started,
                self.process.memory_info().rss / 2**20,
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


def _table(samples: list[tuple[int, float, float, int, int, float]]) -> str:
    lines = [
        "| experiments | wall s | RSS MiB | open fds | threads | store MiB |",
        "|---|---|---|---|---|---|",
    ]
    for done, wall, rss, fds, threads, store in samples:
        lines.append(f"| {done} | {wall:.0f} | {rss:.0f} | {fds} | {threads} | {store:.1f} |")
    return "\n".join(lines)


def _soak_campaign(options: argparse.Namespace) -> dict[str, Any]:
    from labctl.testing.chaos_campaigns import chaos_document, run_chaos_campaign

    document = chaos_document(
        options.campaign,
        experiments=options.experiments,
        mean_interval=options.mean_interval,
        duration=1.0,
        seed=1,
    )
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        sampler = _Sampler(directory / "data", options.every, options.experiments)
        report = run_chaos_campaign(
            directory, document, options.campaign, on_attempt=sampler.on_attempt
        )
    return {
        "title": (
            f"{options.campaign}: {options.experiments} experiments (Sobol), chaos every "
            f"{options.mean_interval:g} s per twin on average, {report.wall_time:.0f} s"
        ),
        "campaign": options.campaign,
        "experiments": options.experiments,
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


if __name__ == "__main__":
    sys.exit(main())
