"""Empty, initialised stores for tests.

Creating a Tiled catalog runs Tiled's initialisation in a subprocess (≈ 2 s here); tests copy one
initialised empty store instead (milliseconds), which is the same files a first run would make.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from labctl.store.catalog import Store

__all__ = ["campaign_runs", "prepare_store"]

_template: Path | None = None
_lock = threading.Lock()


def _make_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="labctl-store-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    Store.embedded(folder / "tiled").close()
    return folder / "tiled"


def prepare_store(directory: Path) -> Path:
    """Fill ``directory`` with an empty, initialised embedded store and return it."""
    global _template
    with _lock:
        if _template is None:
            _template = _make_template()
    shutil.copytree(_template, directory, dirs_exist_ok=True)
    return directory


def campaign_runs(config: Path) -> list[dict[str, Any]]:
    """Every campaign run in ``config``'s store: its campaign, iteration and exit status.

    The exit status is ``None`` for a run without a stop document (a process killed inside it).
    """
    from labctl.config import load_config

    store = Store.for_config(load_config(config), start_server=False)
    try:
        return [
            {
                "campaign": run.metadata.get("campaign"),
                "iteration": run.metadata["iteration"],
                "status": run.exit_status,
            }
            for run in store.runs()
            if run.metadata.get("campaign")
        ]
    finally:
        store.close()
