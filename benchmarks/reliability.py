"""The reliability table: run the trials, then write their results into ``reliability.md``.

Usage::

    python benchmarks/reliability.py run [TRIAL ...]   # run trials (default: all), then the table
    python benchmarks/reliability.py table              # the table from the results already there
    python benchmarks/reliability.py list               # the trials and their commands

Each trial is a command of this repository (a benchmark script or a pytest selection) that
writes its result as JSON into ``benchmarks/results/reliability/``; ``table`` reads every result
there and rewrites the part of ``benchmarks/reliability.md`` between the ``reliability-table``
markers: faults injected by kind, trials, experiments, experiments lost and repeated, hangs and
unsafe end states (all must be 0), the soak's duration and memory, and the optimizer's suggestion
time at n = 100/500/1000 — each row with the command that produced it. A trial that has not been
run is listed as such, never filled in by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "reliability"
DOCUMENT = HERE / "reliability.md"
BEGIN = "<!-- reliability-table: begin (written by benchmarks/reliability.py table) -->"
END = "<!-- reliability-table: end -->"
PYTHON = "python"  # as shown in the table; run with this interpreter
PYTEST = [PYTHON, "-P", "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q"]


@dataclass(frozen=True)
class Trial:
    """One row of the table.

    Args:
        name: the result file's stem.
        title: what the row says was done.
        command: what runs it (``python`` is this interpreter; ``{json}`` the result file).
        kind: how its result reads: ``chaos``, ``soak``, ``crash``, ``suggestion`` or ``tests``.
        faults: for ``tests`` rows, what the tests inject (they report no counts).
    """

    name: str
    title: str
    command: tuple[str, ...]
    kind: str
    faults: str = ""

    @property
    def result(self) -> Path:
        """Where its result is kept."""
        return RESULTS / f"{self.name}.json"

    def shown(self) -> str:
        """Its command as the table shows it (``F``: the result file)."""
        return " ".join(
            shlex.quote(part) if "{" not in part else part.replace("{json}", "F")
            for part in self.command
        )


TRIALS = [
    Trial(
        "chaos-electrolyte",
        "chaos on the real electrolyte campaign (11 twins)",
        (
            PYTHON,
            "benchmarks/chaos_campaigns.py",
            "electrolyte",
            "--experiments",
            "260",
            "--mean-interval",
            "5",
            "--duration",
            "0.5",
            "--weights",
            "unstable=2,instrument_error=2",
            "--json",
            "{json}",
        ),
        "chaos",
    ),
    Trial(
        "chaos-pulsed-charging",
        "chaos on the real pulsed-charging campaign (3 twins)",
        (
            PYTHON,
            "benchmarks/chaos_campaigns.py",
            "pulsed-charging",
            "--experiments",
            "400",
            "--mean-interval",
            "4",
            "--duration",
            "0.5",
            "--weights",
            "clog=3,plunger_overload=2,contact_loss=2,alarm=2,instrument_error=2",
            "--json",
            "{json}",
        ),
        "chaos",
    ),
    Trial(
        "crash-campaigns",
        "kill -9 of the real campaigns (random moment, inside store writes, inside the BoTorch "
        "fit), then `labctl resume`",
        (*PYTEST, "-m", "slow", "tests/system/test_crash_campaigns.py"),
        "crash",
    ),
    Trial(
        "soak",
        "soak: the real pulsed-charging campaign under chaos at time scale 0",
        (
            PYTHON,
            "benchmarks/soak.py",
            "--campaign",
            "pulsed-charging",
            "--experiments",
            "1000",
            "--every",
            "100",
            "--mean-interval",
            "10",
            "--json",
            "{json}",
        ),
        "soak",
    ),
    Trial(
        "suggestion-time",
        "the electrolyte campaign's optimizer, one suggestion after n experiments",
        (PYTHON, "benchmarks/suggestion_time.py", "--json", "{json}"),
        "suggestion",
    ),
    Trial(
        "tests-kill-store",
        "kill -9 of `labctl run` inside a curve write, then resume; a curve file cut short; "
        "the store's server killed mid-read (the default suite's store trials; `-m slow` adds "
        "every store write point and the queue worker)",
        (
            *PYTEST,
            "tests/system/test_crash_store.py",
            "tests/system/test_crash_store_server.py",
            "tests/system/test_crash_qserver_worker.py",
        ),
        "tests",
        "kill -9 inside an HDF5 flush; a torn HDF5 file; kill -9 of the store's server",
    ),
    Trial(
        "tests-concurrency",
        "two labs at once against one Tiled server; one instrument claimed by two labs",
        (*PYTEST, "tests/store/test_shared.py", "tests/lab/test_claims.py"),
        "tests",
        "two writers at once; a shared address",
    ),
    Trial(
        "tests-fuzz",
        "bad input at every door (hypothesis + hand-written corpus)",
        (*PYTEST, "tests/fuzz"),
        "tests",
        "nasty configs, recipes, techniques, wire replies, OPC UA writes, CLI arguments",
    ),
]


# -- running ------------------------------------------------------------------------------------


def run(trial: Trial) -> None:
    """Run one trial from the repository's root and write its result file."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = [sys.executable if part == PYTHON else part for part in trial.command]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    scratch = RESULTS / f".{trial.name}.tmp"
    scratch.unlink(missing_ok=True)
    if trial.kind == "crash":
        environment["LABCTL_CRASH_CAMPAIGNS_LOG"] = str(scratch)
    if trial.kind == "tests":
        command += ["--junitxml", str(scratch)]
    command = [part.replace("{json}", str(scratch)) for part in command]
    print(f"== {trial.name}: {trial.shown()}", flush=True)
    started = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, env=environment, check=False)
    seconds = time.monotonic() - started
    base = {
        "command": trial.shown(),
        "exit_status": finished.returncode,
        "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d"),
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    if trial.kind == "crash":
        lines = scratch.read_text().splitlines() if scratch.exists() else []
        result: dict[str, Any] = {**base, "trials": [json.loads(line) for line in lines]}
    elif trial.kind == "tests":
        result = {**base, **_junit_counts(scratch)}
    else:
        if not scratch.exists():
            raise SystemExit(f"{trial.name}: no result written (exit {finished.returncode})")
        result = {**json.loads(scratch.read_text()), **base}
    scratch.unlink(missing_ok=True)
    trial.result.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"== {trial.name}: exit {finished.returncode}, {seconds:.0f} s", flush=True)


def _junit_counts(path: Path) -> dict[str, Any]:
    """Tests, failures, errors, skips and names of failed tests in a JUnit XML report."""
    if not path.exists():
        return {"tests": 0, "failed": [], "skipped": 0}
    root = ElementTree.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    ]
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    return {"tests": len(cases), "failed": failed, "skipped": skipped}


# -- the table ----------------------------------------------------------------------------------


def _kinds(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return f"{sum(counts.values())}: " + ", ".join(f"{kind} {n}" for kind, n in ordered)


def _chaos_row(trial: Trial, data: dict[str, Any]) -> list[str]:
    store = data["details"]["store"]
    unsafe = sum(1 for v in data["violations"] if v.startswith("(e)"))
    return [
        trial.title,
        _kinds(data["faults_by_kind"]),
        f"1 campaign of {data['proposals']} proposals: {data['completed']} completed, "
        f"{data['failed_attempts']} failed attempts (retried once), {data['skipped']} skipped",
        str(store["lost"]),
        str(store["repeated"]),
        f"0 (slowest attempt {data['longest_attempt']:.0f} s)"
        if data["exit_status"] == 0
        else "?",
        f"{unsafe} (other invariants broken: {len(data['violations']) - unsafe})"
        if data["violations"]
        else "0",
    ]


def _crash_row(trial: Trial, data: dict[str, Any]) -> list[str]:
    trials = data["trials"]
    failed = [t for t in trials if "error" in t]
    passed = [t for t in trials if "error" not in t]
    lost = repeated = 0
    for t in passed:
        before = {(r[0], r[1]) for r in t["before"] if r[2] == "success"}
        after = {(r[0], r[1]) for r in t["after"] if r[2] == "success"}
        lost += len(before - after)
        per_iteration = Counter(r[0] for r in t["after"] if r[2] == "success")
        repeated += sum(n - 1 for n in per_iteration.values() if n > 1)
    points = Counter(t["point"] for t in trials)
    campaigns = Counter(t["campaign"] for t in trials)
    hangs = sum(1 for t in failed if "Timeout" in t["error"] or "timed out" in t["error"])
    return [
        trial.title,
        _kinds(dict(points))
        + " (kills; "
        + ", ".join(f"{name} {n}" for name, n in sorted(campaigns.items()))
        + ")",
        f"{len(trials)} trials ({len(passed)} passed every invariant), "
        f"{sum(len(t['after']) for t in passed)} runs after resume",
        str(lost),
        str(repeated),
        str(hangs),
        f"{len(failed)} trials failed"
        if failed
        else "0 (safe start after every kill; inventory / site map consistent)",
    ]


def _soak_row(trial: Trial, data: dict[str, Any]) -> list[str]:
    return [
        trial.title,
        _kinds(data["faults_by_kind"]),
        f"1 campaign of {data['experiments']} proposals: {data['completed']} completed, "
        f"{data['failed_attempts']} failed attempts, {data['skipped']} skipped",
        "—" if data.get("lost") is None else str(data["lost"]),
        str(data["repeated"]),
        "0" if data["exit_status"] == 0 else "?",
        str(sum(1 for v in data["violations"] if v.startswith("(e)"))),
    ]


def _tests_row(trial: Trial, data: dict[str, Any]) -> list[str]:
    failed = len(data["failed"])
    every = "0" if not failed and data["tests"] else "?"
    return [
        trial.title,
        trial.faults,
        f"{data['tests']} tests, {data['tests'] - failed - data['skipped']} passed"
        + (f", failed: {', '.join(data['failed'])}" if failed else ""),
        every,
        every,
        every,
        every,
    ]


ROWS: dict[str, Callable[[Trial, dict[str, Any]], list[str]]] = {
    "chaos": _chaos_row,
    "crash": _crash_row,
    "soak": _soak_row,
    "tests": _tests_row,
}


def table() -> str:
    """The generated part of ``reliability.md``."""
    header = [
        "trial",
        "faults injected (by kind)",
        "trials / experiments",
        "lost",
        "repeated",
        "hangs",
        "unsafe end states",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    commands, missing = [], []
    soak: dict[str, Any] | None = None
    suggestion: dict[str, Any] | None = None
    for trial in TRIALS:
        if not trial.result.exists():
            missing.append(trial)
            continue
        data = json.loads(trial.result.read_text(encoding="utf-8"))
        if trial.kind == "soak":
            soak = data
        if trial.kind == "suggestion":
            suggestion = data
        else:
            lines.append("| " + " | ".join(ROWS[trial.kind](trial, data)) + " |")
        commands.append(
            f"* {trial.title}: `{data['command']}` — exit {data['exit_status']}, "
            f"{data['seconds']:.0f} s, {data['date']}, load average {data['load_average_end']}"
        )
    lines += ["", _soak_and_suggestion(soak, suggestion), "", "Commands (from the root):", ""]
    lines += commands
    if missing:
        lines += ["", "Not run yet (no result file):", ""]
        lines += [f"* {trial.title}: `{trial.shown()}`" for trial in missing]
    return "\n".join(lines)


def _soak_and_suggestion(soak: dict[str, Any] | None, suggestion: dict[str, Any] | None) -> str:
    header = "| soak duration | RSS start → end | open fds | threads | store |"
    cells = ["not run"] * 5
    if soak is not None:
        samples = soak["samples"]
        first, warm, last = samples[0], samples[1] if len(samples) > 1 else samples[0], samples[-1]
        cells = [
            f"{soak['wall_time']:.0f} s ({soak['experiments']} proposals, "
            f"{soak['completed']} completed)",
            f"{first[2]:.0f} → {last[2]:.0f} MiB (after {warm[0]}: {warm[2]:.0f})",
            f"{first[3]} → {last[3]} (after {warm[0]}: {warm[3]})",
            f"{first[4]} → {last[4]} (after {warm[0]}: {warm[4]})",
            f"{first[5]:.1f} → {last[5]:.1f} MiB",
        ]
    sizes = ("100", "500", "1000")
    header += "".join(f" suggestion at n = {n} |" for n in sizes)
    if suggestion is not None:
        cells += [f"{suggestion['median_seconds'].get(n, float('nan')):.1f} s" for n in sizes]
    else:
        cells += ["not run"] * len(sizes)
    return "\n".join([header, "|" + "---|" * len(cells), "| " + " | ".join(cells) + " |"])


def write_table() -> None:
    """Replace the text between the markers of ``reliability.md`` with :func:`table`."""
    text = DOCUMENT.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOCUMENT}: the markers {BEGIN!r} and {END!r} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCUMENT.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["run", "table", "list"])
    parser.add_argument("trials", nargs="*", help="trial names (run; default: all)")
    options = parser.parse_args(argv)
    names = {trial.name: trial for trial in TRIALS}
    if options.action == "list":
        for trial in TRIALS:
            print(f"{trial.name}: {trial.shown()}")
        return 0
    if options.action == "run":
        unknown = [name for name in options.trials if name not in names]
        if unknown:
            parser.error(f"unknown trials {unknown}; known: {sorted(names)}")
        for name in options.trials or list(names):
            run(names[name])
    write_table()
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
