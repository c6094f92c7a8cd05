"""The electrolyte campaign's optimizer: seconds per suggestion after n = 100, 500, 1000 runs.

Usage: ``python benchmarks/suggestion_time.py [--sizes 100,500,1000] [--repeats 3] [--json F]``

Builds the optimizer of ``configs/electrolyte-sim.yaml`` exactly as a campaign does (BoTorch
qLogNEHVI over the mixture-constrained space, its options from the config, one torch thread),
and, after one untimed warm-up suggestion, tells it ``n`` Sobol formulations with the twin
model's true objectives (κ, stability limit, cost) plus 1 % measurement noise, and times one
``ask`` with one experiment pending — what the campaign's proposal thread does while the
hardware runs. The model is bounded by
``max_model_points`` (default 500, :func:`labctl.optimizers.botorch_mo.model_subset`), so a
suggestion at n = 1000 costs about what it costs at 500. The soak compares this with the time
one experiment takes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from electrolyte_campaign_quality import CONFIG, load_problem, true_values


def measure(size: int, repeat: int, problem: dict[str, Any]) -> dict[str, Any]:
    """One timed suggestion after ``size`` told experiments (seeded by ``repeat``)."""
    from labctl.config import load_config
    from labctl.optimizers.registry import get

    section = load_config(CONFIG).model.campaign
    assert section is not None
    optimizer = get(section.optimizer.kind).from_campaign(section)
    design = get("sobol").from_campaign(section)
    inputs = design.ask(size + 1)
    told, pending = inputs[:size], inputs[size:]
    rng = np.random.default_rng(repeat)
    outcomes = []
    for point in told:
        molality = float(point["salt_molality"].to("mol/kg").magnitude)
        blend = {name: float(point[name].magnitude) for name in problem["bounds"]}
        values = np.asarray(true_values(molality, blend, problem))
        noisy = values * (1.0 + 0.01 * rng.standard_normal(len(values)))
        names = optimizer.objectives.names
        outcomes.append(dict(zip(names, map(float, noisy), strict=True)))
    optimizer.tell(told, outcomes)
    started = time.perf_counter()
    optimizer.ask(1, pending=pending)
    seconds = time.perf_counter() - started
    return {"n": size, "repeat": repeat, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the result here")
    options = parser.parse_args()
    problem = load_problem()
    sizes = [int(size) for size in options.sizes.split(",")]
    measure(20, 99, problem)  # warm-up: imports and first-call costs are not a suggestion's
    rows = []
    for size in sizes:
        for repeat in range(options.repeats):
            row = measure(size, repeat, problem)
            rows.append(row)
            print(f"n = {size}, repeat {repeat}: {row['seconds']:.2f} s", flush=True)
    median = {
        size: statistics.median(r["seconds"] for r in rows if r["n"] == size) for size in sizes
    }
    load = os.getloadavg()[0]
    result = {
        "command": " ".join(["python", *sys.argv]),
        "median_seconds": {str(size): round(value, 2) for size, value in median.items()},
        "rows": rows,
        "load_average": round(load, 2),
    }
    print("| n | one suggestion s (median) |\n|---|---|")
    for size, value in median.items():
        print(f"| {size} | {value:.2f} |")
    print(f"(load average {load:.1f})")
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
