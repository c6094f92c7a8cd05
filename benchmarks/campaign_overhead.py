"""Software overhead of the campaign loop per experiment, on a toy experiment, with the store.

Usage: ``.venv/bin/python benchmarks/campaign_overhead.py [--experiments 50] [--think 0.0]``

The toy experiment (move ophyd's simulated motor, read a simulated detector: one bluesky run with
one event) takes no simulated hardware time, so its wall time per experiment is the loop's own
overhead: RunEngine, documents into the embedded Tiled store, reduction, ask/tell. ``--think``
makes the recommender take that many seconds per proposal, to show the overlap with the hardware.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from bluesky import RunEngine

from labctl.plans.campaign import campaign
from labctl.plans.records import Budget
from labctl.store.catalog import Store
from labctl.testing.toy_campaign import RandomRecommender, move_and_count, peak_height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = Store.embedded(Path(scratch) / "tiled")
        engine = RunEngine({})
        engine.subscribe(store.writer())
        stamps: list[float] = []
        started = time.perf_counter()
        states = []

        def keep() -> object:
            states.append(
                (
                    yield from campaign(
                        RandomRecommender(think=options.think),
                        move_and_count,
                        peak_height,
                        campaign_id="bench",
                        budget=Budget(options.experiments),
                        on_record=lambda _record, _state: stamps.append(time.perf_counter()),
                    )
                )
            )

        engine(keep())
        total = time.perf_counter() - started
        store.close()
    per_experiment = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    state = states[0]
    print("| experiments | think s | total s | median s/experiment | idle s | idle % |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {options.experiments} | {options.think:g} | {total:.1f} | "
        f"{statistics.median(per_experiment):.3f} | {state.idle_time:.2f} | "
        f"{100 * state.idle_time / total:.1f} |"
    )


if __name__ == "__main__":
    main()
