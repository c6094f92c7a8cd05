"""Start-up costs a scientist feels: ``import labctl``, opening the store, ``labctl runs``.

Usage: ``.venv/bin/python benchmarks/store_startup.py [--runs 100] [--repeat 5]``

Prints a Markdown table (median and min of ``--repeat`` timings, wall seconds) for:

* ``python -c "import labctl"`` in a new process;
* opening an existing embedded store: labctl's in-process Tiled app vs a plain
  ``tiled.server.SimpleTiledServer`` on a directory of the same layout;
* ``labctl runs CONFIG`` in a new process on a store holding ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path


def _timed(action: Callable[[], object], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return timings


def _process(*command: str) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(command, check=True, capture_output=True, timeout=300)

    return run


def _fill_store(directory: Path, count: int) -> None:
    import bluesky.plans as bp
    from bluesky import RunEngine
    from ophyd.sim import det1

    from labctl.store.catalog import Store

    with Store.embedded(directory) as store:
        engine = RunEngine({})
        engine.subscribe(store.writer())
        for _ in range(count - len(store)):
            engine(bp.count([det1], num=3))


def _open_embedded(directory: Path) -> None:
    from labctl.store.catalog import Store

    Store.embedded(directory).close()


def _open_simple_server(directory: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tiled.server import SimpleTiledServer

        SimpleTiledServer(directory).close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    python = sys.executable
    rows: list[tuple[str, list[float]]] = []
    rows.append(
        (
            "python -c 'import labctl'",
            _timed(_process(python, "-P", "-c", "import labctl"), options.repeat),
        )
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = folder / "data" / "tiled"
        _fill_store(store, options.runs)
        rows.append(
            (
                "open embedded store (in-process Tiled app)",
                _timed(lambda: _open_embedded(store), options.repeat),
            )
        )
        simple = folder / "simple"
        _open_simple_server(simple)  # first start initialises the catalog; time the restarts
        rows.append(
            (
                "SimpleTiledServer on an existing directory",
                _timed(lambda: _open_simple_server(simple), options.repeat),
            )
        )
        config = folder / "lab.yaml"
        config.write_text("lab: {name: bench, data_directory: data}\nstore: {keep_server: 0 s}\n")
        labctl = str(Path(python).with_name("labctl"))
        rows.append(
            (
                f"labctl runs, no store server (store of {options.runs} runs)",
                _timed(_process(labctl, "runs", str(config)), options.repeat),
            )
        )
        subprocess.run([labctl, "store", "serve", str(config)], check=True, capture_output=True)
        try:
            rows.append(
                (
                    f"labctl runs via the shared store server (store of {options.runs} runs)",
                    _timed(_process(labctl, "runs", str(config)), options.repeat),
                )
            )
        finally:
            subprocess.run([labctl, "store", "stop", str(config)], check=True)
    print(
        f"| what | median s | min s | n |  ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
    )
    print("|---|---|---|---|")
    for label, timings in rows:
        print(
            f"| {label} | {statistics.median(timings):.2f} | {min(timings):.2f} | {len(timings)} |"
        )


if __name__ == "__main__":
    main()
