"""The electrolyte-mixture benchmark through Ax and BayBE, for comparison with labctl's optimizers.

Both run the same problem as ``run_benchmarks.py`` (LiPF6 in EC/EMC/DMC with EC ≤ 0.6, salt
0.2–2 mol/kg, 263–323 K; conductivity and stability limit from labctl's electrolyte model, both
maximized; reference point (1 mS/cm, 5 V)) for the same budget of 40 experiments, each with its
own defaults:

* **Ax** (``ax.Client``, its default generation strategy: a Sobol start, then BoTorch). Ax has no
  equality constraints, so the mixture is two free fractions with ``ec + emc <= 1`` and DMC the
  remainder — the usual way to put a simplex into Ax.
* **BayBE** (``baybe.Campaign`` with a ``ParetoObjective``; its default recommender: random start,
  then BoTorch). The mixture is three continuous parameters with an equality constraint
  ``ec + emc + dmc = 1``.

Usage: ``python benchmarks/optimizers/third_party.py --seeds 5`` (appends to nothing: prints a
table and writes ``results/third_party.json``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_benchmarks import electrolyte_outcomes  # noqa: E402

BUDGET = 40
REFERENCE = [1.0, 5.0]
EC_MAX = 0.6


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(1)


def run_ax(seed: int) -> dict[str, Any]:
    """One Ax campaign; returns observed outcomes and seconds per suggestion."""
    _quiet()
    from ax import Client, RangeParameterConfig

    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="ec", parameter_type="float", bounds=(0.0, EC_MAX)),
            RangeParameterConfig(name="emc", parameter_type="float", bounds=(0.0, 1.0)),
            RangeParameterConfig(name="salt_molality", parameter_type="float", bounds=(0.2, 2.0)),
            RangeParameterConfig(
                name="temperature", parameter_type="float", bounds=(263.15, 323.15)
            ),
        ],
        parameter_constraints=["ec + emc <= 1"],
    )
    client.configure_optimization(
        objective="conductivity, stability_limit",
        outcome_constraints=[
            f"conductivity >= {REFERENCE[0]}",
            f"stability_limit >= {REFERENCE[1]}",
        ],
    )
    outcomes: list[list[float]] = []
    seconds: list[float] = []
    for _ in range(BUDGET):
        started = time.perf_counter()
        trials = client.get_next_trials(max_trials=1)
        seconds.append(time.perf_counter() - started)
        for index, p in trials.items():
            ec, emc = float(p["ec"]), float(p["emc"])
            fractions = [ec, emc, max(0.0, 1.0 - ec - emc)]
            kappa, limit = electrolyte_outcomes(
                fractions, float(p["salt_molality"]), float(p["temperature"])
            )
            client.complete_trial(
                trial_index=index, raw_data={"conductivity": kappa, "stability_limit": limit}
            )
            outcomes.append([kappa, limit])
    return {"method": "ax", "seed": seed, "outcomes": outcomes, "seconds": seconds}


def run_baybe(seed: int) -> dict[str, Any]:
    """One BayBE campaign; returns observed outcomes and seconds per suggestion."""
    _quiet()
    from baybe import Campaign
    from baybe.constraints import ContinuousLinearConstraint
    from baybe.objectives import ParetoObjective
    from baybe.parameters import NumericalContinuousParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    set_random_seed(seed)
    space = SearchSpace.from_product(
        parameters=[
            NumericalContinuousParameter("ec", (0.0, EC_MAX)),
            NumericalContinuousParameter("emc", (0.0, 1.0)),
            NumericalContinuousParameter("dmc", (0.0, 1.0)),
            NumericalContinuousParameter("salt_molality", (0.2, 2.0)),
            NumericalContinuousParameter("temperature", (263.15, 323.15)),
        ],
        constraints=[
            ContinuousLinearConstraint(
                parameters=["ec", "emc", "dmc"], operator="=", coefficients=[1, 1, 1], rhs=1.0
            )
        ],
    )
    objective = ParetoObjective(
        [NumericalTarget("conductivity"), NumericalTarget("stability_limit")]
    )
    campaign = Campaign(space, objective)
    outcomes: list[list[float]] = []
    seconds: list[float] = []
    for _ in range(BUDGET):
        started = time.perf_counter()
        rec = campaign.recommend(batch_size=1)
        seconds.append(time.perf_counter() - started)
        row = rec.iloc[0]
        fractions = np.clip([row["ec"], row["emc"], row["dmc"]], 0.0, None)
        fractions = fractions / fractions.sum()
        kappa, limit = electrolyte_outcomes(
            list(fractions), float(row["salt_molality"]), float(row["temperature"])
        )
        rec["conductivity"] = kappa
        rec["stability_limit"] = limit
        campaign.add_measurements(rec)
        outcomes.append([kappa, limit])
    return {"method": "baybe", "seed": seed, "outcomes": outcomes, "seconds": seconds}


def run_labctl_init5(seed: int) -> dict[str, Any]:
    """Labctl's ``botorch-mo`` with Ax's initial design size (5), for a like-for-like row."""
    _quiet()
    from run_benchmarks import problem

    from labctl.optimizers.botorch_mo import BotorchMultiObjective

    prob = problem("electrolyte-mixture")
    optimizer = BotorchMultiObjective(
        prob.space, prob.objectives, seed=seed, initial_experiments=5
    )
    outcomes: list[list[float]] = []
    seconds: list[float] = []
    for _ in range(BUDGET):
        started = time.perf_counter()
        settings = optimizer.ask(1)
        seconds.append(time.perf_counter() - started)
        (result,) = prob.evaluate(settings)
        optimizer.tell(settings, [result])
        outcomes.append([result["conductivity"], result["stability_limit"]])
    return {"method": "labctl-init5", "seed": seed, "outcomes": outcomes, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["ax", "baybe"])
    args = parser.parse_args()
    from labctl.optimizers.pareto import hypervolume_progress

    runners = {"ax": run_ax, "baybe": run_baybe, "labctl-init5": run_labctl_init5}
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [
            pool.submit(runners[method], seed)
            for method in args.methods
            for seed in range(args.seeds)
        ]
        results = [job.result() for job in jobs]
    best = json.loads((HERE / "results" / "best_known.json").read_text())["electrolyte-mixture"]
    print(f"| method | final HV (mean ± sd) | experiments to 90 % of {best:.4g} | s per ask |")
    print("|---|---|---|---|")
    for method in args.methods:
        chosen = [r for r in results if r["method"] == method]
        finals, needed, seconds = [], [], []
        for r in chosen:
            progress = hypervolume_progress(np.array(r["outcomes"]), REFERENCE)
            r["hypervolume"] = progress.tolist()
            finals.append(float(progress[-1]))
            hits = [i + 1 for i, v in enumerate(progress) if v >= 0.9 * best]
            needed.append(hits[0] if hits else None)
            seconds.extend(r["seconds"])
        reached = [n for n in needed if n is not None]
        reach = (
            f"{statistics.median(reached):g} ({len(reached)}/{len(needed)})"
            if reached
            else (f"not reached (0/{len(needed)})")
        )
        print(
            f"| {method} | {statistics.mean(finals):.3g} ± {statistics.pstdev(finals):.2g} | "
            f"{reach} | {statistics.median(seconds):.2f} |"
        )
    name = (
        "third_party.json" if args.methods == ["ax", "baybe"] else "_".join(args.methods) + ".json"
    )
    (HERE / "results" / name).write_text(json.dumps(results))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
