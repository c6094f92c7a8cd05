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

from labctl.store.catalog import Store

__all__ = ["prepare_store"]

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
