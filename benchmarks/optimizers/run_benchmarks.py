"""Optimizer benchmarks: hypervolume vs experiments, and suggestion latency.

Run from the repository root (all parts in one run; ``--help`` for options)::

    nice -n 10 .venv/bin/python benchmarks/optimizers/run_benchmarks.py --seeds 5 --workers 2

Parts:

1. **Campaigns.** BraninCurrin (d = 2) and DTLZ2 (d = 6, 2 objectives) from
   ``botorch.test_functions``, and the mixture-constrained electrolyte model (below), each run by
   qLogNEHVI with q = 1 and q = 4, Sobol, and scikit-optimize (GP, random Chebyshev
   scalarization), plus qLogNEHVI q = 1 with plain equality-constrained acquisition
   optimization on the mixture problem; budget ``2 (e + 1) + 30`` experiments (``e`` the search
   dimension), every method on the same seeds. Reported: hypervolume vs experiments, final
   log10 hypervolume difference to the known maximum, wins against Sobol, experiments to 90 % of
   the best known hypervolume, and seconds per suggestion.
2. **Latency.** Fit + acquisition time of ``botorch-mo`` (default options) for
   d ∈ {4, 6, 8}, n ∈ {20, 50, 100, 200}, q ∈ {1, 4}, median of 3 data sets (DTLZ2 outcomes).
3. **Mixture latency.** d = 4, n = 20: a plain box against a 3-member mixture + 1 parameter,
   optimized through the stick-breaking reparametrization and with an equality constraint.

PyTorch runs on one thread in every worker (``OMP_NUM_THREADS=1`` and
``torch.set_num_threads(1)``), deliberately: see the README.

The mixture problem is the formulation campaign's own landscape: labctl's electrolyte property
model (``labctl.simulators.electrolyte``: Landesfeind–Gasteiger fits with the labelled SURROGATE
mixing rule, and the stability-limit surrogate) for LiPF6 in EC/EMC/DMC, EC ≤ 0.6, salt 0.2–2
mol/kg, temperature 263–323 K; conductivity and oxidative stability limit both maximized; a
blend below its liquidus conducts nothing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
METHODS = ["qlognehvi-q1", "qlognehvi-q4", "sobol", "skopt"]
MIXTURE_EXTRA = ["qlognehvi-q1-equality"]


def _quiet() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    warnings.filterwarnings("ignore", module="botorch")
    warnings.filterwarnings("ignore", module="linear_operator")
    warnings.filterwarnings("ignore", module="sklearn")
    import torch

    torch.set_num_threads(1)


@dataclass(frozen=True)
class Problem:
    """A benchmark problem in labctl's terms."""

    name: str
    space: dict[str, Any]
    objectives: dict[str, Any]
    evaluate: Callable[[list[dict[str, Any]]], list[dict[str, float]]]
    reference: list[float]  # maximization space
    max_hv: float | None


def _botorch_problem(name: str) -> Problem:
    import torch
    from botorch.test_functions.multi_objective import DTLZ2, BraninCurrin

    function = BraninCurrin() if name == "branin-currin" else DTLZ2(dim=6, num_objectives=2)
    d = function.dim
    names = ["f1", "f2"]
    reference = [float(value) for value in function.ref_point]

    def evaluate(settings: list[dict[str, Any]]) -> list[dict[str, float]]:
        X = torch.tensor([[s[f"x{i}"].magnitude for i in range(d)] for s in settings])
        Y = function(X).tolist()
        return [dict(zip(names, row, strict=True)) for row in Y]

    return Problem(
        name,
        {f"x{i}": {"low": 0.0, "high": 1.0} for i in range(d)},
        {
            n: {"direction": "minimize", "reference": r}
            for n, r in zip(names, reference, strict=True)
        },
        evaluate,
        [-r for r in reference],
        float(function.max_hv),
    )


def electrolyte_outcomes(
    fractions: Sequence[float], molality: float, temperature: float
) -> tuple[float, float]:
    """(conductivity mS/cm, stability limit V vs Li/Li+) from labctl's electrolyte model.

    A frozen (below-liquidus) blend conducts nothing: its conductivity is reported as 0.
    """
    from labctl.simulators.electrolyte.composition import Composition
    from labctl.simulators.electrolyte.model import electrolyte_properties

    blend = {name: float(x) for name, x in zip(("EC", "EMC", "DMC"), fractions, strict=True)}
    props = electrolyte_properties(Composition(molality, blend), temperature)
    conductivity = props.conductivity * 10.0 if props.is_liquid else 0.0  # S/m -> mS/cm
    return conductivity, props.stability_limit


def _mixture_problem() -> Problem:
    def evaluate(settings: list[dict[str, Any]]) -> list[dict[str, float]]:
        outcomes = []
        for s in settings:
            kappa, stability = electrolyte_outcomes(
                [s[k].magnitude for k in ("ec", "emc", "dmc")],
                s["salt_molality"].to("mol/kg").magnitude,
                s["temperature"].to("K").magnitude,
            )
            outcomes.append({"conductivity": kappa, "stability_limit": stability})
        return outcomes

    return Problem(
        "electrolyte-mixture",
        {
            "solvent": {"mixture": {"ec": {"low": 0.0, "high": 0.6}, "emc": {}, "dmc": {}}},
            "salt_molality": {"low": "0.2 mol/kg", "high": "2 mol/kg"},
            "temperature": {"low": "263.15 K", "high": "323.15 K"},
        },
        {
            "conductivity": {"direction": "maximize", "units": "mS/cm", "reference": 1.0},
            "stability_limit": {"direction": "maximize", "units": "V", "reference": 5.0},
        },
        evaluate,
        [1.0, 5.0],
        None,
    )


def problem(name: str) -> Problem:
    return _mixture_problem() if name == "electrolyte-mixture" else _botorch_problem(name)


def _optimizer(method: str, prob: Problem, seed: int) -> Any:
    from labctl.optimizers.botorch_mo import BotorchMultiObjective
    from labctl.optimizers.skopt_gp import SkoptOptimizer
    from labctl.optimizers.sobol import SobolOptimizer

    if method == "sobol":
        return SobolOptimizer(prob.space, prob.objectives, seed=seed)
    if method == "skopt":
        return SkoptOptimizer(prob.space, prob.objectives, seed=seed)
    strategy = "equality" if method.endswith("equality") else "reparametrize"
    return BotorchMultiObjective(prob.space, prob.objectives, seed=seed, mixture_strategy=strategy)


def run_campaign(name: str, method: str, seed: int) -> dict[str, Any]:
    """One campaign; returns hypervolume after each experiment and seconds per suggestion."""
    _quiet()
    from labctl.optimizers.pareto import hypervolume_progress

    prob = problem(name)
    optimizer = _optimizer(method, prob, seed)
    initial = optimizer.initial_experiments
    budget = initial + 30
    q = 4 if method.endswith("q4") else 1
    told = 0
    seconds: list[float] = []
    while told < budget:
        n = min(initial - told, q) if told < initial else min(q, budget - told)
        n = max(n, 1)
        started = time.perf_counter()
        settings = optimizer.ask(n)
        elapsed = time.perf_counter() - started
        if told >= initial:
            seconds.append(elapsed)
        optimizer.tell(settings, prob.evaluate(settings))
        told += n
    _, Y = optimizer.observations
    progress = hypervolume_progress(optimizer.objectives.maximization(Y), prob.reference)
    return {
        "problem": name,
        "method": method,
        "seed": seed,
        "initial": initial,
        "budget": budget,
        "hypervolume": progress.tolist(),
        "seconds_per_suggestion": seconds,
    }


def best_known_mixture(samples: int = 3000) -> float:
    """Hypervolume of the non-dominated set of random feasible settings (a lower bound).

    The electrolyte model takes ≈ 45 ms a point, so a few thousand samples, not millions; the
    report takes the larger of this and every run's final hypervolume.
    """
    from labctl.optimizers.pareto import hypervolume, non_dominated

    rng = np.random.default_rng(12345)
    x = rng.dirichlet(np.ones(3), samples * 2)
    x = x[x[:, 0] <= 0.6][:samples]
    m = rng.uniform(0.2, 2.0, len(x))
    T = rng.uniform(263.15, 323.15, len(x))
    Y = np.array([electrolyte_outcomes(*args) for args in zip(x, m, T, strict=True)])
    front = Y[non_dominated(Y)]
    return hypervolume(front, [1.0, 5.0])


def run_latency(d: int, n: int, repeat: int) -> dict[str, Any]:
    """Fit and acquisition seconds for one data set (DTLZ2 outcomes, d dims, n points)."""
    _quiet()
    import torch
    from botorch.test_functions.multi_objective import DTLZ2

    from labctl.optimizers.acquisition import build_acquisition
    from labctl.optimizers.botorch_mo import BotorchMultiObjective
    from labctl.optimizers.candidates import optimize_candidates
    from labctl.optimizers.surrogate import fit_surrogate

    space = {f"x{i}": {"low": 0.0, "high": 1.0} for i in range(d)}
    objectives = {"f1": {"direction": "minimize"}, "f2": {"direction": "minimize"}}
    optimizer = BotorchMultiObjective(space, objectives, seed=repeat)
    X = optimizer.space.sample(n, seed=100 + repeat)
    Y = DTLZ2(dim=d, num_objectives=2)(torch.as_tensor(X)).numpy()
    result: dict[str, Any] = {"d": d, "n": n, "repeat": repeat}
    torch.manual_seed(repeat)
    started = time.perf_counter()
    model = fit_surrogate(X, Y, optimizer.space)
    result["fit"] = time.perf_counter() - started
    reference, _ = optimizer.objectives.reference_point(Y)
    for q in (1, 4):
        started = time.perf_counter()
        acquisition = build_acquisition(
            "qlognehvi",
            model,
            torch.as_tensor(X),
            optimizer.objectives,
            torch.as_tensor(reference),
            seed=repeat,
        )
        optimize_candidates(acquisition, optimizer.space, q, known=X, seed=repeat)
        result[f"acquisition_q{q}"] = time.perf_counter() - started
    return result


def run_mixture_latency(variant: str, repeat: int) -> dict[str, Any]:
    """D = 4, n = 20 suggestion time: plain box vs mixture (reparametrized / equality)."""
    _quiet()
    from labctl.optimizers.botorch_mo import BotorchMultiObjective

    if variant == "box":
        space: dict[str, Any] = {n: {"low": 0.0, "high": 1.0} for n in ("a", "b", "c", "salt")}
    else:
        space = {"solvent": {"mixture": ["a", "b", "c"]}, "salt": {"low": 0.0, "high": 1.0}}
    objectives = {"f1": {"direction": "maximize"}, "f2": {"direction": "maximize"}}
    strategy = "equality" if variant == "mixture-equality" else "reparametrize"
    optimizer = BotorchMultiObjective(space, objectives, seed=repeat, mixture_strategy=strategy)
    # The same 20 settings and outcomes for every variant: a point of the simplex (a, b, c)
    # with salt; the box variant sees them as four free coordinates.
    rng = np.random.default_rng(repeat)
    fractions = rng.dirichlet(np.ones(3), 20)
    salt = rng.uniform(0, 1, 20)
    settings = [
        {"a": f[0], "b": f[1], "c": f[2], "salt": s} for f, s in zip(fractions, salt, strict=True)
    ]
    outcomes = [
        {
            "f1": float(np.sin(3 * f[0]) + s**2 - f[1]),
            "f2": float(np.cos(2 * f[1]) - (s - 0.3) ** 2 + f[2]),
        }
        for f, s in zip(fractions, salt, strict=True)
    ]
    optimizer.tell(settings, outcomes)
    result: dict[str, Any] = {"variant": variant, "repeat": repeat}
    for q in (1, 4):
        started = time.perf_counter()
        optimizer.ask(q)
        result[f"q{q}"] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------- reporting


def _mean_std(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def report(
    campaigns: list[dict[str, Any]],
    best_mixture: float,
    latency: list[dict[str, Any]],
    mixture_latency: list[dict[str, Any]],
) -> str:
    lines: list[str] = []
    names = sorted(
        {c["problem"] for c in campaigns},
        key=["branin-currin", "dtlz2-6", "electrolyte-mixture"].index,
    )
    for name in names:
        runs = [c for c in campaigns if c["problem"] == name]
        methods = [m for m in METHODS + MIXTURE_EXTRA if any(c["method"] == m for c in runs)]
        budget = runs[0]["budget"]
        initial = runs[0]["initial"]
        max_hv = problem(name).max_hv
        reference = (
            max_hv
            if max_hv is not None
            else max(best_mixture, *(max(c["hypervolume"]) for c in runs))
        )
        seeds = len({c["seed"] for c in runs})
        lines.append(f"### {name} (budget {budget} = {initial} Sobol + 30; {seeds} seeds)")
        lines.append("")
        checkpoints = sorted(
            {min(initial, budget), min(initial + 10, budget), min(initial + 20, budget), budget}
        )
        header = "| method | " + " | ".join(f"HV @ {k}" for k in checkpoints)
        header += (
            f" | log10 HV difference @ {budget} |"
            if max_hv is not None
            else " | experiments to 90 % of best |"
        )
        header += " wins vs Sobol | s per ask (median) |"
        lines.append(header)
        lines.append("|" + "---|" * (len(checkpoints) + 4))
        sobol = {c["seed"]: c["hypervolume"][-1] for c in runs if c["method"] == "sobol"}
        for method in methods:
            chosen = [c for c in runs if c["method"] == method]
            cells = [_mean_std([c["hypervolume"][k - 1] for c in chosen]) for k in checkpoints]
            if max_hv is not None:
                diffs = [math.log10(max(max_hv - c["hypervolume"][-1], 1e-12)) for c in chosen]
                quality = _mean_std(diffs)
            else:
                needed = []
                for c in chosen:
                    hits = [i + 1 for i, v in enumerate(c["hypervolume"]) if v >= 0.9 * reference]
                    needed.append(hits[0] if hits else None)
                reached = [v for v in needed if v is not None]
                share = f"{len(reached)}/{len(needed)}"
                quality = (
                    f"{statistics.median(reached):g} (median; reached in {share})"
                    if reached
                    else f"not reached (0/{len(needed)})"
                )
            wins = sum(1 for c in chosen if c["hypervolume"][-1] > sobol.get(c["seed"], math.inf))
            wins_text = "—" if method == "sobol" else f"{wins}/{len(chosen)}"
            seconds = [s for c in chosen for s in c["seconds_per_suggestion"]]
            per = f"{statistics.median(seconds):.2f}" if seconds else "—"
            lines.append(
                f"| {method} | " + " | ".join(cells) + f" | {quality} | {wins_text} | {per} |"
            )
        note = (
            f"maximum hypervolume {max_hv:.5g} (BoTorch's value)"
            if max_hv is not None
            else f"best known hypervolume {reference:.5g} (the larger of the front of 3000 "
            f"random feasible settings through the model, {best_mixture:.5g}, and every run's)"
        )
        lines.append("")
        lines.append(f"Reference point {problem(name).reference} (maximization space); {note}.")
        lines.append("")
    if latency:
        lines.append("### Latency of `botorch-mo` (default options), seconds, median of 3")
        lines.append("")
        lines.append(
            "| d | n | fit | acquisition q=1 | acquisition q=4 | fit + acq q=1 | fit + acq q=4 |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        for d in sorted({r["d"] for r in latency}):
            for n in sorted({r["n"] for r in latency}):
                rows = [r for r in latency if r["d"] == d and r["n"] == n]
                if not rows:
                    continue
                fit = statistics.median(r["fit"] for r in rows)
                a1 = statistics.median(r["acquisition_q1"] for r in rows)
                a4 = statistics.median(r["acquisition_q4"] for r in rows)
                t1 = statistics.median(r["fit"] + r["acquisition_q1"] for r in rows)
                t4 = statistics.median(r["fit"] + r["acquisition_q4"] for r in rows)
                lines.append(
                    f"| {d} | {n} | {fit:.2f} | {a1:.2f} | {a4:.2f} | {t1:.2f} | {t4:.2f} |"
                )
        lines.append("")
    if mixture_latency:
        lines.append(
            "### Mixture constraint cost, d = 4, n = 20 (fit + acquisition, seconds, median of 3)"
        )
        lines.append("")
        lines.append("| variant | q = 1 | q = 4 | ratio to box, q = 1 | ratio to box, q = 4 |")
        lines.append("|---|---|---|---|---|")
        box = [r for r in mixture_latency if r["variant"] == "box"]
        b1 = statistics.median(r["q1"] for r in box)
        b4 = statistics.median(r["q4"] for r in box)
        for variant in ("box", "mixture-reparametrized", "mixture-equality"):
            rows = [r for r in mixture_latency if r["variant"] == variant]
            t1 = statistics.median(r["q1"] for r in rows)
            t4 = statistics.median(r["q4"] for r in rows)
            lines.append(f"| {variant} | {t1:.2f} | {t4:.2f} | {t1 / b1:.2f} | {t4 / b4:.2f} |")
        lines.append("")
    return "\n".join(lines)


def plot(campaigns: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name in sorted({c["problem"] for c in campaigns}):
        figure, axes = plt.subplots(figsize=(6, 4))
        runs = [c for c in campaigns if c["problem"] == name]
        for method in METHODS + MIXTURE_EXTRA:
            chosen = np.array([c["hypervolume"] for c in runs if c["method"] == method])
            if len(chosen) == 0:
                continue
            x = np.arange(1, chosen.shape[1] + 1)
            mean = chosen.mean(axis=0)
            axes.plot(x, mean, label=method)
            axes.fill_between(x, chosen.min(axis=0), chosen.max(axis=0), alpha=0.15)
        axes.set_xlabel("experiments")
        axes.set_ylabel("hypervolume (product of objective units)")
        axes.set_title(f"{name}: mean and range over seeds")
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(out / f"hypervolume_{name}.png", dpi=110)
        plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="processes (1 torch thread each)")
    parser.add_argument(
        "--problems", nargs="*", default=["branin-currin", "dtlz2-6", "electrolyte-mixture"]
    )
    parser.add_argument("--skip-campaigns", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    _quiet()
    started = time.perf_counter()
    campaigns: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    mixture_latency: list[dict[str, Any]] = []
    best_mixture = 0.0
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = []
        if not args.skip_campaigns:
            for name in args.problems:
                methods = METHODS + (MIXTURE_EXTRA if name == "electrolyte-mixture" else [])
                for method in methods:
                    for seed in range(args.seeds):
                        jobs.append(pool.submit(run_campaign, name, method, seed))
            if "electrolyte-mixture" in args.problems:
                best_mixture = best_known_mixture()
        for done, job in enumerate(jobs, 1):
            campaigns.append(job.result())
            c = campaigns[-1]
            print(
                f"[{time.perf_counter() - started:7.1f} s] {done}/{len(jobs)} {c['problem']} "
                f"{c['method']} seed {c['seed']}: HV {c['hypervolume'][-1]:.4g}",
                flush=True,
            )
    # Latency runs one at a time so they do not compete with each other for the cores.
    if not args.skip_latency:
        with ProcessPoolExecutor(1) as pool:
            for variant in ("box", "mixture-reparametrized", "mixture-equality"):
                for repeat in range(args.latency_repeats):
                    mixture_latency.append(
                        pool.submit(run_mixture_latency, variant, repeat).result()
                    )
            print(f"[{time.perf_counter() - started:7.1f} s] mixture latency done", flush=True)
            for d in (4, 6, 8):
                for n in (20, 50, 100, 200):
                    for repeat in range(args.latency_repeats):
                        latency.append(pool.submit(run_latency, d, n, repeat).result())
                    print(
                        f"[{time.perf_counter() - started:7.1f} s] latency d={d} n={n} done",
                        flush=True,
                    )
    results = {
        "command": " ".join(sys.argv),
        "seconds": time.perf_counter() - started,
        "torch_threads": 1,
        "campaigns": campaigns,
        "best_known_mixture": best_mixture,
        "latency": latency,
        "mixture_latency": mixture_latency,
    }
    (args.output / "results.json").write_text(json.dumps(results, indent=1))
    if campaigns:
        plot(campaigns, args.output)
    text = report(campaigns, best_mixture, latency, mixture_latency)
    (args.output / "results.md").write_text(text + "\n")
    print(text)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
