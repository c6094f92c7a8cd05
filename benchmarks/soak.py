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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--optimizer", default="sobol")
    parser.add_argument("--mean-interval", type=float, default=5.0, help="s between faults")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--campaign", choices=["electrolyte", "pulsed-charging"])
    options = parser.parse_args()
    if options.campaign is not None:
        _soak_campaign(options)
        return
    process = psutil.Process()
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
        samples: list[tuple[int, float, float, int, int, float]] = []
        started = time.monotonic()

        def sample(done: int) -> None:
            samples.append(
                (
                    done,
                    time.monotonic() - started,
                    process.memory_info().rss / 2**20,
                    len(list(Path("/proc/self/fd").iterdir())),
                    threading.active_count(),
                    _size(directory / "data") / 2**20,
                )
            )

        def on_record(record: Any, state: Any) -> None:
            done = state.proposals_done
            if record.status == "completed" and done % options.every == 0:
                sample(done)

        with Lab.from_config(config) as lab:
            sample(0)
            result = run_campaign(config, lab=lab, on_record=on_record)
            faults = lab.chaos.counts() if lab.chaos is not None else {}
    state = result.state
    completed = Counter(r.iteration for r in state.records if r.status == "completed")
    print(
        f"{options.experiments} experiments ({options.optimizer}), chaos every "
        f"{options.mean_interval:g} s per twin on average, {time.monotonic() - started:.0f} s"
    )
    print("| experiments | wall s | RSS MiB | open fds | threads | store MiB |")
    print("|---|---|---|---|---|---|")
    for done, wall, rss, fds, threads, store in samples:
        print(f"| {done} | {wall:.0f} | {rss:.0f} | {fds} | {threads} | {store:.1f} |")
    print(f"faults injected: {faults}")
    print(
        f"completed iterations {len(completed)}, repeated {sum(c - 1 for c in completed.values())}"
        f", failed attempts {sum(1 for r in state.records if r.status == 'failed')}, "
        f"stop: {state.stop_reason}"
    )


class _Sampler:
    """Samples this process and a data directory every ``every`` completed experiments."""

    def __init__(self, data: Path, every: int) -> None:
        self.data = data
        self.every = every
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
        if first or (record.status == "completed" and done % self.every == 0):
            self.sample(done)

    def table(self) -> str:
        lines = [
            "| experiments | wall s | RSS MiB | open fds | threads | store MiB |",
            "|---|---|---|---|---|---|",
        ]
        for done, wall, rss, fds, threads, store in self.rows:
            lines.append(f"| {done} | {wall:.0f} | {rss:.0f} | {fds} | {threads} | {store:.1f} |")
        return "\n".join(lines)


def _soak_campaign(options: argparse.Namespace) -> None:
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
        sampler = _Sampler(directory / "data", options.every)
        report = run_chaos_campaign(
            directory, document, options.campaign, on_attempt=sampler.on_attempt
        )
    print(
        f"{options.campaign}: {options.experiments} experiments (Sobol), chaos every "
        f"{options.mean_interval:g} s per twin on average, {report.wall_time:.0f} s"
    )
    print(sampler.table())
    print(f"faults injected: {report.faults_by_kind()}")
    print(
        f"completed {report.completed}, failed attempts {report.failed_attempts} "
        f"{report.failures}, skipped {report.skipped}, slowest attempt "
        f"{report.longest_attempt:.1f} s, stop: {report.stop_reason}"
    )
    print("invariants:", "all hold" if not report.violations else report.violations)


if __name__ == "__main__":
    main()
