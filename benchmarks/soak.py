"""Soak: a long campaign under chaos mode, with the process's resources sampled along the way.

Usage: ``python benchmarks/soak.py --experiments 1000 [--optimizer sobol] [--mean-interval 5]``
or, on a real campaign, ``python benchmarks/soak.py --campaign pulsed-charging``.
The work is :func:`labctl.testing.reliability.soak.soak`; this writes its result (``--json``) and a
table.

The simulated lab of ``configs/sim-lab.yaml`` runs at time scale 0 with chaos mode on (every
twin misbehaves at random: OPC UA controllers freeze, restart, the glovebox has excursions that
the safety suspenders ride out). The campaign's experiment moves a simulated motor and reads the
detector and both environment sensors, so every fault reaches the loop: a read that times out
fails the experiment, which the failure policy retries. Every ``--every`` experiments the script
samples the process's resident memory (RSS), open file descriptors, threads, and the store's size
on disk. At the end it prints the samples, the faults injected by kind, and the campaign's
completed / failed / repeated counts (a completed iteration must appear exactly once).

With ``--campaign electrolyte`` (or ``pulsed-charging``) the campaign is the shipped real one
under chaos, as :mod:`labctl.testing.reliability.chaos_campaigns` runs it (every instrument twin,
curves written to HDF5 per run, the invariants checked at the end): where a leak of file handles or
memory per run would show.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labctl.testing.reliability.soak import soak, soak_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--optimizer", default="sobol")
    parser.add_argument("--mean-interval", type=float, default=5.0, help="s between faults")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--campaign", choices=["electrolyte", "pulsed-charging"])
    parser.add_argument("--json", type=Path, help="also write the result here")
    options = parser.parse_args()
    result = soak(
        options.campaign or "toy-sensing",
        experiments=options.experiments,
        every=options.every,
        mean_interval=options.mean_interval,
        optimizer=options.optimizer,
    )
    result["command"] = " ".join(["python", *sys.argv])
    print(result["title"])
    print(soak_table(result["samples"]))
    print(f"faults injected: {result['faults_by_kind']}")
    print(
        f"completed {result['completed']}, repeated {result['repeated']}, failed attempts "
        f"{result['failed_attempts']}, skipped {result['skipped']}, stop: {result['stop_reason']}"
    )
    print("invariants:", "all hold" if not result["violations"] else result["violations"])
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
