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
    """Every campaign run in ``config``'s store, from its start and stop documents.

    Each: ``campaign``, ``iteration``, ``attempt``, ``status`` (``None``: no stop document, a
    process killed inside the run), ``uid``, ``metadata`` (the start document's).
    """
    from labctl.config import load_config

    with Store.for_config(load_config(config), in_process=True) as store:
        return [
            {
                "campaign": run.metadata.get("campaign"),
                "iteration": int(run.metadata["iteration"]),
                "attempt": int(run.metadata.get("attempt", 1)),
                "status": run.exit_status,
                "uid": run.uid,
                "metadata": dict(run.metadata),
            }
            for run in store.runs()
            if run.metadata.get("campaign")
        ]
