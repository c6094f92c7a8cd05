"""Run ``labctl`` (toy kinds registered) so that it stops dead at a chosen point, for kill tests.

A crash test wants its kill to land *inside* one particular operation — a store write — rather than
at a random moment. This wrapper replaces one function of a library the store uses with a version
that, on its ``n``-th call, writes a marker file and then blocks; the test waits for the marker and
kills the process while it sits there, in the middle of that operation (or deletes the marker to
let it go on). Production code is not changed: the wrapping happens only in the process this
module starts.

Run as ``python -P -m labctl.testing.reliability.kill_points POINT N MARKER --
labctl-arguments...``; with ``N`` = 0 the point is only counted (the count is written to ``MARKER``
at exit), which is how tests choose a range of ``N`` that lands inside a campaign.

Kill points (:data:`POINTS`), in the order a run's data reach the disk:

* ``hdf5-flush`` — a curve's row written into its HDF5 file but not yet flushed
  (``h5py.File.flush``, called once per event by :mod:`labctl.store.arrays`): the file on disk is
  torn.
* ``table-commit`` — a stream's scalar rows inserted into the SQLite table store but not
  committed (``adbc_driver_manager.dbapi.Connection.commit``).
* ``catalog-commit`` — a catalog change (a run, a stream, a data source, the stop document) made
  in the SQLite catalog but not committed (``aiosqlite.Connection.commit``).
* ``run-stop`` — the stop document reached the store's writer, whose writes of the run's cached
  rows and of the stop document are about to begin (bluesky's ``_RunWriter.stop``).

one point outside the store, for crashes of a campaign while its optimizer computes:

* ``optimizer-fit`` — a BoTorch surrogate's hyperparameters about to be fitted
  (``botorch.fit.fit_gpytorch_mll`` as :mod:`labctl.optimizers.surrogate` calls it, once per
  objective and proposal; the fit runs on the campaign's proposal thread while an experiment
  runs);

and one read, to pause a command while the store's server is killed under it:

* ``store-read`` — a run listing about to be read (``labctl.store.catalog.Store._runs``), after the
store
  was opened (through its local server, when one runs).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["POINTS", "arm", "main"]

POINTS: dict[str, tuple[str, str, str]] = {
    "hdf5-flush": ("h5py", "File", "flush"),
    "table-commit": ("adbc_driver_manager.dbapi", "Connection", "commit"),
    "catalog-commit": ("aiosqlite", "Connection", "commit"),
    "run-stop": ("bluesky.callbacks.tiled_writer", "_RunWriter", "stop"),
    "optimizer-fit": ("labctl.optimizers.surrogate", "", "fit_gpytorch_mll"),
    "store-read": ("labctl.store.catalog", "Store", "_runs"),
}
"""Kill point → (module, class, method) whose ``n``-th call stops the process.

An empty class names a function of the module itself (looked up there at each call).
"""


def arm(point: str, nth: int, marker: Path) -> None:
    """Make the ``nth`` call of ``point`` write ``marker`` and wait (``nth`` = 0: only count).

    The call waits until the test kills the process or deletes ``marker`` (then it goes on: a
    pause at a precise point, e.g. to kill another process meanwhile).

    Raises:
        KeyError: an unknown point.
    """
    module_name, class_name, method_name = POINTS[point]
    module = importlib.import_module(module_name)
    owner = getattr(module, class_name) if class_name else module
    original: Callable[..., Any] = getattr(owner, method_name)
    calls = [0]
    lock = threading.Lock()

    def reached() -> None:
        with lock:
            calls[0] += 1
            hit = calls[0] == nth
        if hit:
            marker.write_text(f"{point} call {nth} in pid {os.getpid()}\n", encoding="utf-8")
            while marker.exists():  # the test kills the process here, or deletes the marker
                time.sleep(0.05)

    if _is_coroutine(original):

        @functools.wraps(original)
        async def stopping_async(*args: Any, **kwargs: Any) -> Any:
            reached()
            return await original(*args, **kwargs)

        setattr(owner, method_name, stopping_async)
    else:

        @functools.wraps(original)
        def stopping(*args: Any, **kwargs: Any) -> Any:
            reached()
            return original(*args, **kwargs)

        setattr(owner, method_name, stopping)
    if nth == 0:
        atexit.register(lambda: marker.write_text(f"{calls[0]}\n", encoding="utf-8"))


def _is_coroutine(function: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def main(argv: list[str] | None = None) -> None:
    """``POINT N MARKER -- labctl-arguments...``: arm the point, then run ``labctl``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) < 4 or arguments[3] != "--":
        raise SystemExit(
            "usage: python -m labctl.testing.reliability.kill_points POINT N MARKER -- ARGS..."
        )
    point, nth, marker = arguments[0], int(arguments[1]), Path(arguments[2])
    arm(point, nth, marker)
    import labctl.testing.toy_kinds  # noqa: F401 — registers the toy kinds
    from labctl.cli import main as labctl_main

    sys.argv = ["labctl", *arguments[4:]]
    labctl_main()


if __name__ == "__main__":
    main()
