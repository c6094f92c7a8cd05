"""How long the hardware waits for the optimizer: the asynchronous loop beside a synchronous one.

Usage: ``.venv/bin/python benchmarks/campaign_idle.py [--prior 100] [--experiments 10]
[--hardware 3.0]``

The campaign is the formulation campaign's optimizer problem at full size: ``botorch-mo``
(qLogNEHVI, q = 1, one torch thread) over a 3-solvent mixture, the salt molality and the
temperature, maximizing conductivity and stability limit, warm-started with ``--prior``
experiments. Each experiment is one bluesky run that occupies the "hardware" for ``--hardware``
seconds (``bps.sleep``) and is stored in an embedded Tiled store; its outcomes come from labctl's
electrolyte property model applied to the proposed inputs. Reported for each mode: the fraction of
wall time the hardware sat idle waiting for a proposal, and the median seconds per suggestion.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky import RunEngine

from labctl.optimizers.botorch_mo import BotorchMultiObjective
from labctl.plans.campaign import campaign
from labctl.plans.records import Budget, ExperimentRecord
from labctl.plans.rundata import RunData
from labctl.simulators.electrolyte.composition import Composition
from labctl.simulators.electrolyte.model import electrolyte_properties
from labctl.store.catalog import Store

SPACE = {
    "solvent": {"mixture": {"EC": {"low": 0.0, "high": 0.6}, "EMC": {}, "DMC": {}}},
    "salt_molality": {"low": "0.2 mol/kg", "high": "2 mol/kg"},
    "temperature": {"low": "10 degC", "high": "50 degC"},
}
OBJECTIVES = {
    "conductivity": {"direction": "maximize", "units": "mS/cm", "reference": 1.0},
    "stability_limit": {"direction": "maximize", "units": "V", "reference": 5.0},
}


def outcomes(inputs: Mapping[str, Any]) -> dict[str, float]:
    """Conductivity (mS/cm) and stability limit (V) of a proposal, from the property model."""

    def number(value: Any, unit: str) -> float:
        if isinstance(value, Mapping):  # as stored in a start document
            from labctl.units import ureg

            value = ureg.Quantity(float(value["value"]), str(value["units"]))
        if hasattr(value, "to"):
            return float(value.to(unit).magnitude)
        return float(value)

    blend = {name: number(inputs[name], "") for name in ("EC", "EMC", "DMC")}
    props = electrolyte_properties(
        Composition(number(inputs["salt_molality"], "mol/kg"), blend),
        number(inputs["temperature"], "K"),
    )
    kappa = props.conductivity * 10.0 if props.is_liquid else 0.0
    return {"conductivity": kappa, "stability_limit": props.stability_limit}


def run_mode(synchronous: bool, prior: int, experiments: int, hardware: float) -> dict[str, Any]:
    """One campaign session; returns idle fraction and suggestion times."""
    optimizer = BotorchMultiObjective(SPACE, OBJECTIVES, seed=7)
    history = [
        ExperimentRecord(i, 1, dict(setting), "completed", outcome=outcomes(setting))
        for i, setting in enumerate(optimizer.ask(prior))
    ]
    ask_seconds: list[float] = []
    plain_ask = optimizer.ask

    def timed_ask(n: int = 1, pending: Any = ()) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            return plain_ask(n, pending)
        finally:
            ask_seconds.append(time.perf_counter() - started)

    optimizer.ask = timed_ask  # type: ignore[method-assign]

    def experiment(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        del inputs  # the hardware time is the same for every proposal

        @bpp.run_decorator(md=dict(metadata))  # type: ignore[untyped-decorator]
        def inner() -> Any:
            yield from bps.sleep(hardware)
            yield from bps.null()

        return (yield from inner())

    def reduce(run: RunData) -> dict[str, float]:
        return outcomes(run.start["inputs"])

    with tempfile.TemporaryDirectory() as scratch:
        store = Store.embedded(Path(scratch) / "tiled")
        engine = RunEngine({})
        engine.subscribe(store.writer())
        states = []

        def keep() -> Any:
            states.append(
                (
                    yield from campaign(
                        optimizer,
                        experiment,
                        reduce,
                        campaign_id="idle",
                        budget=Budget(prior + experiments),
                        history=history,
                        synchronous=synchronous,
                    )
                )
            )

        started = time.perf_counter()
        engine(keep())
        wall = time.perf_counter() - started
        store.close()
    state = states[0]
    return {
        "mode": "synchronous" if synchronous else "asynchronous",
        "wall": wall,
        "idle": state.idle_time,
        "idle_fraction": state.idle_time / wall,
        "ask_median": statistics.median(ask_seconds),
        "first_idle": state.records[prior].idle,
        "completed": len(state.completed) - prior,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prior", type=int, default=100)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--hardware", type=float, default=3.0, help="seconds per experiment")
    options = parser.parse_args()
    warnings.filterwarnings("ignore")
    np.random.seed(0)
    rows = [
        run_mode(synchronous, options.prior, options.experiments, options.hardware)
        for synchronous in (False, True)
    ]
    print(
        f"{options.experiments} experiments of {options.hardware:g} s after {options.prior} "
        "prior ones (botorch-mo, q = 1, 1 torch thread)"
    )
    print(
        "| loop | wall s | hardware idle s | idle % | idle after the first proposal s | "
        "median s per suggestion |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['mode']} | {row['wall']:.1f} | {row['idle']:.2f} | "
            f"{100 * row['idle_fraction']:.1f} | {row['idle'] - row['first_idle']:.2f} | "
            f"{row['ask_median']:.2f} |"
        )


if __name__ == "__main__":
    main()
