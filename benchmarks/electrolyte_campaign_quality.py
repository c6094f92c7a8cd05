"""Campaign quality on the electrolyte twin: BoTorch against Sobol, judged on the twin's truth.

Usage::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/electrolyte_campaign_quality.py \
        [--budget 40] [--seeds 1 2 3 4 5] [--parallel 2]
    .venv/bin/python benchmarks/electrolyte_campaign_quality.py --dense-only

1. **The true front.** The campaign of ``configs/electrolyte-sim.yaml`` (salt molality, an
   EC/EMC/DMC mass-fraction blend within the config's bounds, 25 °C; maximize conductivity in
   mS/cm and stability limit in V, minimize cost in USD/kg) is evaluated on dense lattices of the
   space with the very functions the twins draw their measurements from
   (:mod:`labctl.simulators.electrolyte.truth`, checked point by point against
   ``electrolyte_properties``). The hypervolume above the config's reference point (4 mS/cm,
   5.0 V, 7 USD/kg) is reported on two lattices, the second with 8× the points (blend step and
   molality step halved), as a convergence check; the finer one is "the true hypervolume".
2. **The campaigns.** The README's main path — ``run_campaign`` on ``Lab.from_config`` of a copy
   of the config in a temporary directory with its own data directory — with ``botorch-mo``
   (``initial_experiments`` as configured) and with ``sobol``, for every seed: optimizer seed =
   seed, simulation seed = the config's + seed. Each campaign runs in its own process, two at a
   time.
3. **Quality.** After every completed experiment k: the hypervolume of the TRUE objectives at the
   formulations the robot recorded as dispensed (stream ``preparation``) and the hypervolume of
   the MEASURED (fitted) objectives the campaign saw. The measure is the first k at which the true
   hypervolume reaches 90 % of the dense one; BoTorch wins a seed when it gets there in fewer
   experiments than Sobol with the same seed (never reaching it is not a win). Every run also
   records what was in the conductivity cell during its EIS (the twin's own contents) to check the
   dispensed composition against it.

Results go to ``benchmarks/results/electrolyte_campaign_quality.json`` and a markdown table is
printed. Not a test: run by hand (it takes most of an hour).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import copy
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "electrolyte-sim.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "electrolyte_campaign_quality.json"
TARGET = 0.9
"""Fraction of the true (dense) hypervolume a campaign must reach."""
LATTICES = ((0.01, 141), (0.005, 281))
"""(blend step, molality points) over the whole space: the second has 2× the points per axis."""
FACE_LATTICES = ((0.00125, 1121), (0.000625, 2241))
"""The same on the face where the whole front lies (EMC at its lower bound), 2× per axis again."""


# -- the problem, from the config -----------------------------------------------------------------


def load_problem() -> dict[str, Any]:
    """Bounds, temperature, prices, objectives and reference point of the config's campaign."""
    from labctl.config import load_config
    from labctl.optimizers.objectives import Objectives

    config = load_config(CONFIG)
    section = config.model.campaign
    assert section is not None
    raw = config.raw["campaign"]
    space = raw["space"]
    options = raw["experiment_options"]
    objectives = Objectives(section.objectives)
    reference = objectives.fixed_reference()
    assert reference is not None
    from labctl.units import parse_quantity

    molality = space[options["molality_input"]]
    return {
        "molality_range": (
            float(parse_quantity(molality["low"], "mol/kg").to("mol/kg").magnitude),
            float(parse_quantity(molality["high"], "mol/kg").to("mol/kg").magnitude),
        ),
        "bounds": {
            name: (float(limits["low"]), float(limits["high"]))
            for name, limits in space["solvent"]["mixture"].items()
        },
        "solvents": list(options["solvents"]),
        "temperature": float(parse_quantity(space["temperature"]["value"], "K").to("K").magnitude),
        "prices": dict(options["prices"]),
        "salt": options["salt"],
        "objectives": objectives,
        "reference": reference,
        "budget": section.budget.experiments,
        "initial_experiments": (section.optimizer.options or {}).get("initial_experiments"),
        "simulation_seed": int(config.raw["simulation"]["seed"]),
    }


def price_table(prices: Mapping[str, float]) -> Any:
    """The config's prices (USD per kg) as a PriceTable."""
    from labctl.simulators.electrolyte.cost import PriceEntry, PriceTable

    return PriceTable(
        PriceEntry(name, float(price), "USD", "configs/electrolyte-sim.yaml", "2025", "bulk")
        for name, price in prices.items()
    )


def true_values(
    molality: float, fractions: Mapping[str, float], problem: Mapping[str, Any]
) -> Any:
    """(κ mS/cm, stability limit V, cost USD/kg) of one formulation from the scalar model."""
    from labctl.simulators.electrolyte.composition import Composition
    from labctl.simulators.electrolyte.model import electrolyte_properties

    properties = electrolyte_properties(
        Composition(molality, dict(fractions), problem["salt"]),
        problem["temperature"],
        prices=price_table(problem["prices"]),
    )
    assert properties.cost is not None
    return [properties.conductivity * 10.0, properties.stability_limit, properties.cost]


# -- 1. dense sampling ----------------------------------------------------------------------------


def front_and_hypervolume_3d(Y: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float]:
    """The non-dominated rows of ``Y`` and their exact hypervolume (3 objectives, maximization).

    One sweep in O(n log n) for millions of points, where box decompositions and pairwise
    dominance tests are out of reach: rows beyond the reference are visited in order of the third
    objective, descending (ties: first and second descending too, so a later row never dominates
    an earlier one); a row is on the front exactly when the 2-D staircase (first two objectives)
    of the rows before it does not weakly dominate it. The staircase's area grows by what each
    front row adds, and the hypervolume is Σ area × the drop in the third objective to the next
    row. Cross-checked against BoTorch's DominatedPartitioning in :func:`dense_front`.

    Returns:
        (indices of the front's rows into ``Y``, hypervolume); duplicates count once.
    """
    from bisect import bisect_left

    beyond = np.flatnonzero((reference < Y).all(axis=1))
    shifted = Y[beyond] - reference
    order = np.lexsort((-shifted[:, 1], -shifted[:, 0], -shifted[:, 2]))
    xs: list[float] = []  # the staircase: x ascending, y strictly descending
    ys: list[float] = []
    area = 0.0
    volume = 0.0
    front: list[int] = []
    zs = shifted[order, 2]
    for position, row in enumerate(order):
        x, y = float(shifted[row, 0]), float(shifted[row, 1])
        i = bisect_left(xs, x)
        if i == len(xs) or ys[i] < y:  # not weakly dominated: on the front
            height = ys[i] if i < len(xs) else 0.0
            right, k = x, i - 1
            while True:
                left = xs[k] if k >= 0 else 0.0
                area += (right - left) * (y - height)
                if k < 0 or ys[k] > y:
                    break
                right, height, k = left, ys[k], k - 1
            stop = i + 1 if i < len(xs) and xs[i] == x else i
            xs[k + 1 : stop] = [x]
            ys[k + 1 : stop] = [y]
            front.append(int(beyond[row]))
        below = float(zs[position + 1]) if position + 1 < len(order) else 0.0
        volume += area * (float(zs[position]) - below)
    return np.asarray(front, dtype=int), volume


def dense_front(
    problem: Mapping[str, Any],
    blend_step: float,
    points: int,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The true objectives on one lattice, their Pareto set and hypervolume."""
    from labctl.optimizers.pareto import hypervolume, non_dominated
    from labctl.simulators.electrolyte.truth import dense_objectives

    started = time.perf_counter()
    truth = dense_objectives(
        problem["molality_range"],
        bounds or problem["bounds"],
        problem["temperature"],
        price_table(problem["prices"]),
        blend_step=blend_step,
        molality_points=points,
        salt=problem["salt"],
    )
    reference = problem["reference"]
    Y = np.column_stack([truth.conductivity * 10.0, truth.stability_limit, -truth.cost])
    on_front, volume = front_and_hypervolume_3d(Y, reference)
    front = Y[on_front]
    # Check the sweep against BoTorch on a random subset small enough for its decomposition.
    rng = np.random.default_rng(0)
    subset = Y[rng.choice(len(Y), size=min(400, len(Y)), replace=False)]
    mine_front, mine = front_and_hypervolume_3d(subset, reference)
    theirs = hypervolume(subset, reference)
    beyond = (subset > reference).all(axis=1)
    expected_front = np.flatnonzero(beyond)[non_dominated(subset[beyond])]
    if not np.isclose(mine, theirs, rtol=1e-9) or set(mine_front) != set(expected_front):
        raise RuntimeError(f"sweep check failed: hypervolume {mine} vs BoTorch {theirs}")
    ranges = {
        "conductivity_mS_cm": [float(front[:, 0].min()), float(front[:, 0].max())],
        "stability_limit_V": [float(front[:, 1].min()), float(front[:, 1].max())],
        "cost_USD_kg": [float(-front[:, 2].max()), float(-front[:, 2].min())],
        "salt_molality": [
            float(truth.molality[on_front].min()),
            float(truth.molality[on_front].max()),
        ],
        **{
            name: [
                float(truth.fractions[on_front, j].min()),
                float(truth.fractions[on_front, j].max()),
            ]
            for j, name in enumerate(truth.solvents)
        },
    }
    return {
        "blend_step": blend_step,
        "molality_points": points,
        "bounds": {name: list(b) for name, b in (bounds or problem["bounds"]).items()},
        "formulations": len(truth),
        "beyond_reference": int((reference < Y).all(axis=1).sum()),
        "pareto_points": len(front),
        "hypervolume": volume,
        "seconds": time.perf_counter() - started,
        "botorch_check": [mine, theirs],
        "front_ranges": ranges,
    }


# -- 2. one campaign (run in its own process) -----------------------------------------------------


def run_one(optimizer: str, seed: int, budget: int, output: Path) -> None:
    """Run one campaign through the README's path and write what every experiment did."""
    from labctl.campaign.runner import run_campaign
    from labctl.config import load_config
    from labctl.lab.session import Lab
    from labctl.testing.configs import write_config

    problem = load_problem()
    with tempfile.TemporaryDirectory(prefix="labctl-quality-") as scratch:
        directory = Path(scratch)
        document: dict[str, Any] = copy.deepcopy(dict(load_config(CONFIG).raw))
        document["lab"] = {**document["lab"], "data_directory": "data"}
        document["simulation"] = {
            **document["simulation"],
            "seed": problem["simulation_seed"] + seed,
        }
        campaign = document["campaign"]
        campaign["budget"] = {**campaign["budget"], "experiments": budget}
        if optimizer == "botorch-mo":
            campaign["optimizer"] = {**campaign["optimizer"], "kind": optimizer, "seed": seed}
        else:
            campaign["optimizer"] = {"kind": optimizer, "seed": seed}
        config = load_config(write_config(directory, document))
        experiments: dict[str, dict[str, Any]] = {}
        started = time.monotonic()
        times: list[float] = []
        with Lab.from_config(config) as lab:
            world = lab.world
            current: list[str] = []

            def watch(name: str, doc: dict[str, Any]) -> None:
                if name == "start":
                    current[:] = [str(doc["uid"])]
                elif name == "descriptor" and doc.get("name") == "eis" and current:
                    masses = world.cells["conductivity"].contents.copy().masses
                    experiments.setdefault(current[0], {})["in_cell"] = dict(masses)

            def on_record(record: Any, _state: Any) -> None:
                times.append(time.monotonic() - started)
                print(
                    f"{times[-1]:7.1f} s  #{record.iteration} {record.status} "
                    f"idle {record.idle:.1f} s {record.outcome}",
                    flush=True,
                )

            token = lab.RE.subscribe(watch)  # type: ignore[no-untyped-call]
            try:
                result = run_campaign(config, lab=lab, on_record=on_record)
            finally:
                lab.RE.unsubscribe(token)  # type: ignore[no-untyped-call]
            assert lab.store is not None
            robot = campaign["experiment_options"]["robot"]
            records = []
            for index, record in enumerate(result.state.records):
                entry: dict[str, Any] = {
                    "iteration": record.iteration,
                    "attempt": record.attempt,
                    "status": record.status,
                    "reason": record.reason,
                    "idle": record.idle,
                    "elapsed": times[index] if index < len(times) else None,
                    "proposed": {
                        name: float(getattr(value, "magnitude", value))
                        for name, value in record.inputs.items()
                        if name in (*problem["solvents"], "salt_molality")
                    },
                    "measured": record.outcome,
                }
                if record.status == "completed" and record.uid is not None:
                    row = lab.store.run(str(record.uid)).stream("preparation").iloc[-1]
                    entry["dispensed"] = {
                        "salt_molality": float(row[f"{robot}_molality"]),
                        "solvents": json.loads(str(row[f"{robot}_solvents"])),
                    }
                    entry["in_cell"] = experiments.get(str(record.uid), {}).get("in_cell")
                records.append(entry)
    output.write_text(
        json.dumps(
            {
                "optimizer": optimizer,
                "seed": seed,
                "budget": budget,
                "wall_time": result.wall_time,
                "stop_reason": result.state.stop_reason,
                "records": records,
            },
            indent=1,
        ),
        encoding="utf-8",
    )


# -- 3. quality -----------------------------------------------------------------------------------


def assess(run: Mapping[str, Any], problem: Mapping[str, Any], dense: float) -> dict[str, Any]:
    """True and measured hypervolume after each completed experiment; experiments to 90 %."""
    from labctl.optimizers.pareto import hypervolume, non_dominated
    from labctl.simulators.electrolyte.composition import Composition

    objectives = problem["objectives"]
    reference = problem["reference"]
    signs = np.array([1.0, 1.0, -1.0])
    completed = [r for r in run["records"] if r["status"] == "completed"]
    true_Y, measured_Y, in_cell_Y = [], [], []
    for record in completed:
        dispensed = record["dispensed"]
        true_Y.append(
            true_values(dispensed["salt_molality"], dispensed["solvents"], problem) * signs
        )
        measured_Y.append(objectives.maximization(objectives.to_array([record["measured"]]))[0])
        if record.get("in_cell"):
            composition = Composition.from_masses(record["in_cell"])
            in_cell_Y.append(
                true_values(composition.molality, composition.solvent_fractions, problem) * signs
            )
    true_arr, measured_arr = np.array(true_Y), np.array(measured_Y)
    true_hv = [hypervolume(true_arr[: k + 1], reference) for k in range(len(true_arr))]
    measured_hv = [hypervolume(measured_arr[: k + 1], reference) for k in range(len(measured_arr))]
    reached = next((k + 1 for k, v in enumerate(true_hv) if v >= TARGET * dense), None)
    reached_measured = next(
        (k + 1 for k, v in enumerate(measured_hv) if v >= TARGET * dense), None
    )
    bias = measured_arr - true_arr
    deviation = (
        float(np.abs(np.array(in_cell_Y) - true_arr).max())
        if len(in_cell_Y) == len(true_arr)
        else None
    )
    return {
        "optimizer": run["optimizer"],
        "seed": run["seed"],
        "completed": len(completed),
        "failed": sum(1 for r in run["records"] if r["status"] == "failed"),
        "wall_time": run["wall_time"],
        "experiments_to_target": reached,
        "true_hv": true_hv,
        "measured_hv": measured_hv,
        "final_true_fraction": true_hv[-1] / dense if true_hv else 0.0,
        "final_measured_fraction": measured_hv[-1] / dense if measured_hv else 0.0,
        "measured_minus_true_mean": bias.mean(axis=0).tolist(),
        "measured_minus_true_max_abs": np.abs(bias).max(axis=0).tolist(),
        "dispensed_vs_in_cell_max_abs": deviation,
        "experiments_to_target_measured": reached_measured,
        # The front the campaign reports (chosen on measured values), valued at the truth.
        "true_hv_of_measured_front": hypervolume(true_arr[non_dominated(measured_arr)], reference),
    }


# -- orchestration --------------------------------------------------------------------------------


def run_campaigns(
    optimizers: Sequence[str], seeds: Sequence[int], budget: int, parallel: int, folder: Path
) -> list[dict[str, Any]]:
    """Every (optimizer, seed) campaign in its own process, ``parallel`` at a time."""
    folder.mkdir(parents=True, exist_ok=True)

    def one(job: tuple[str, int]) -> dict[str, Any]:
        optimizer, seed = job
        output = folder / f"{optimizer}-{seed}.json"
        if not output.exists():
            log = folder / f"{optimizer}-{seed}.log"
            with log.open("w") as stream:
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        optimizer,
                        str(seed),
                        str(budget),
                        str(output),
                    ],
                    check=True,
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                    timeout=3 * 3600,
                )
        result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
        print(f"  {optimizer} seed {seed}: {result['wall_time']:.0f} s", flush=True)
        return result

    jobs = [(optimizer, seed) for seed in seeds for optimizer in optimizers]
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=40, help="experiments per campaign")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--optimizers", nargs="+", default=["botorch-mo", "sobol"])
    parser.add_argument("--parallel", type=int, default=2, help="campaigns at a time")
    parser.add_argument("--runs", type=Path, default=None, help="keep per-campaign JSON here")
    parser.add_argument("--dense-only", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=4, metavar=("OPTIMIZER", "SEED", "BUDGET", "OUT"))
    options = parser.parse_args()
    if options.worker:
        optimizer, seed, budget, out = options.worker
        run_one(optimizer, int(seed), int(budget), Path(out))
        return

    problem = load_problem()
    started = time.monotonic()
    dense = [dense_front(problem, step, points) for step, points in LATTICES]
    # EMC costs more than DMC, oxidises earlier and conducts worse (more viscous, lower ε):
    # trading EMC for DMC improves every objective, so the front lies where EMC is at its lower
    # bound. The whole-space lattices confirm it; the face is then sampled far more densely.
    emc_low = problem["bounds"]["EMC"][0]
    if any(level["front_ranges"]["EMC"] != [emc_low, emc_low] for level in dense):
        raise RuntimeError("the true front leaves the EMC-at-its-bound face: sample all of it")
    face = {**problem["bounds"], "EMC": (emc_low, emc_low)}
    dense += [dense_front(problem, step, points, face) for step, points in FACE_LATTICES]
    for level in dense:
        print(
            f"dense lattice {level['bounds']}: blend step {level['blend_step']}, "
            f"{level['molality_points']} "
            f"molalities, {level['formulations']} formulations, {level['pareto_points']} on the "
            f"front, hypervolume {level['hypervolume']:.6f} ({level['seconds']:.1f} s)"
        )
    true_hv = dense[-1]["hypervolume"]
    summary: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "command": " ".join(sys.argv),
        "reference": problem["reference"].tolist(),
        "dense": dense,
        "target": TARGET,
        "budget": options.budget,
    }
    if options.dense_only:
        print(json.dumps(dense, indent=1))
        return
    folder = options.runs or Path(tempfile.mkdtemp(prefix="labctl-quality-runs-"))
    runs = run_campaigns(
        options.optimizers, options.seeds, options.budget, options.parallel, folder
    )
    assessed = [assess(run, problem, true_hv) for run in runs]
    summary["campaigns"] = assessed
    summary["wall_time"] = time.monotonic() - started
    table = [
        "| seed | "
        + " | ".join(
            f"{name}: experiments to 90 % | {name}: final true HV % | {name}: final measured HV %"
            for name in options.optimizers
        )
        + " | BoTorch wins |"
    ]
    table.append("|---" * (1 + 3 * len(options.optimizers) + 1) + "|")
    wins = 0
    for seed in options.seeds:
        row = {a["optimizer"]: a for a in assessed if a["seed"] == seed}
        cells = []
        for name in options.optimizers:
            a = row[name]
            reached = a["experiments_to_target"]
            cells += [
                str(reached) if reached is not None else f"not in {a['completed']}",
                f"{100 * a['final_true_fraction']:.1f}",
                f"{100 * a['final_measured_fraction']:.1f}",
            ]
        win = False
        if "botorch-mo" in row and "sobol" in row:
            mine, theirs = (
                row["botorch-mo"]["experiments_to_target"],
                row["sobol"]["experiments_to_target"],
            )
            win = mine is not None and (theirs is None or mine < theirs)
        wins += win
        table.append(f"| {seed} | " + " | ".join(cells) + f" | {'yes' if win else 'no'} |")
    summary["wins"] = wins
    summary["table"] = table
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"true hypervolume {true_hv:.6f} (reference {problem['reference'].tolist()})")
    print("\n".join(table))
    print(f"BoTorch wins {wins} of {len(options.seeds)}; wall time {summary['wall_time']:.0f} s")


if __name__ == "__main__":
    main()
