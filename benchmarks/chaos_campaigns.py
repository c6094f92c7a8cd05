"""The real campaigns under chaos mode: faults by kind per twin, failures by class, invariants.

Usage::

    python benchmarks/chaos_campaigns.py electrolyte --experiments 200 --mean-interval 4
    python benchmarks/chaos_campaigns.py pulsed-charging --experiments 200 --mean-interval 1

Runs ``configs/electrolyte-sim.yaml`` or ``configs/pulsed-charging-sim.yaml`` at time scale 0
with chaos mode on (every twin misbehaves at seeded random moments: wire faults, pump clogs and
plunger overloads, an unstable balance, stage alarms and lost droplet contact, OPC UA controller
restarts, freezes and excursions), Sobol proposals, ``retry: once`` and ``max_consecutive: 1000``
(a failed attempt is retried once and then skipped; bad luck never stops the campaign, so every
fault meets the loop), enough stock or substrate sites for the budget, and a ``safety`` section
(glovebox excursions suspend the RunEngine). See :mod:`labctl.testing.reliability.chaos_campaigns`
for what changes from the shipped configs and for the invariants checked afterwards. Prints a JSON
report and a Markdown summary; exits 1 if an invariant broke.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labctl.testing.reliability.chaos_campaigns import (
    CAMPAIGNS,
    chaos_document,
    run_chaos_campaign,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("campaign", choices=sorted(CAMPAIGNS))
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--mean-interval", type=float, default=4.0, help="s between faults")
    parser.add_argument("--duration", type=float, default=1.0, help="s each fault lasts")
    parser.add_argument("--kinds", default="", help="comma-separated fault kinds (all: empty)")
    parser.add_argument(
        "--weights", default="", help="relative frequency per kind: clog=3,alarm=2 (default 1)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-consecutive", type=int, default=1000)
    parser.add_argument("--no-safety", action="store_true", help="no safety section")
    parser.add_argument(
        "--wall-time", type=float, help="s: end the campaign cleanly then (budget.wall_time)"
    )
    parser.add_argument("--hang", type=float, default=600.0, help="s without an attempt = hang")
    parser.add_argument("--json", type=Path, help="also write the report here")
    options = parser.parse_args()
    document = chaos_document(
        options.campaign,
        experiments=options.experiments,
        mean_interval=options.mean_interval,
        duration=options.duration,
        kinds=[kind for kind in options.kinds.split(",") if kind],
        weights=_weights(parser, options.weights),
        seed=options.seed,
        max_consecutive=options.max_consecutive,
        safety=not options.no_safety,
    )
    if options.wall_time is not None:
        document["campaign"]["budget"]["wall_time"] = f"{options.wall_time} s"
    started = time.monotonic()
    # A hang: no attempt ends for --hang seconds; dump every thread's stack and give up.
    faulthandler.dump_traceback_later(options.hang, exit=True)

    def progress(record: Any, state: Any) -> None:
        faulthandler.dump_traceback_later(options.hang, exit=True)
        if record.status != "completed":
            print(f"  {record.iteration}/{record.attempt} failed: {record.reason}", flush=True)
        if state.proposals_done % 10 == 0 and record.status == "completed":
            print(
                f"{state.proposals_done} proposals, {time.monotonic() - started:.0f} s",
                flush=True,
            )

    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        report = run_chaos_campaign(Path(scratch), document, options.campaign, on_attempt=progress)
    faulthandler.cancel_dump_traceback_later()
    data = asdict(report)
    data["faults_by_kind"] = report.faults_by_kind()
    data["command"] = " ".join(["python", *sys.argv])
    text = json.dumps(data, indent=1, default=str)
    print(text)
    if options.json is not None:
        options.json.write_text(text + "\n", encoding="utf-8")
    by_kind = ", ".join(f"{kind} {n}" for kind, n in report.faults_by_kind().items())
    print(
        f"\n| {options.campaign} | {sum(report.faults_by_kind().values())}: {by_kind} "
        f"| {report.proposals} proposals: {report.completed} completed, "
        f"{report.failed_attempts} failed attempts, {report.skipped} skipped "
        f"| {report.details['store']['lost']} | {report.details['store']['repeated']} | 0 "
        f"| {sum(v.startswith('(e)') for v in report.violations)} |"
    )
    print(f"wall {report.wall_time:.0f} s; violations: {report.violations or 'none'}")
    return 1 if report.violations else 0


def _weights(parser: argparse.ArgumentParser, text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in filter(None, text.split(",")):
        kind, _, value = item.partition("=")
        try:
            weights[kind.strip()] = float(value)
        except ValueError:
            parser.error(f"--weights: expected KIND=NUMBER, got {item!r}")
    return weights


if __name__ == "__main__":
    sys.exit(main())
