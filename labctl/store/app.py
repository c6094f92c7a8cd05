"""The embedded store's Tiled app: a SQLite catalog, a SQLite table store and array folders.

Opening an existing store skips Tiled's catalog initialisation subprocess, which is what made a
plain :class:`tiled.server.SimpleTiledServer` take seconds to start (see ``benchmarks/README.md``).
Tables are kept in SQLite rather than DuckDB because a DuckDB file admits one process at a time,
and a scientist reads runs while a campaign writes them. The same app is served in-process by
:class:`~labctl.store.catalog.Store` and over loopback HTTP by :mod:`labctl.store.server`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from labctl.errors import StoreError

__all__ = ["CURVES_FOLDER", "build_embedded_app", "quiet_tiled_logging"]

_log = logging.getLogger(__name__)

_CATALOG_FILE = "catalog.db"
_TABLES_FILE = "storage.sqlite"
_ARRAYS_FOLDER = "data"
CURVES_FOLDER = "curves"
"""Folder (inside the store's) of the curve files the store writes itself, one per run."""
_READY_MARKER = ".labctl-store-ready"
_init_lock = threading.Lock()


def build_embedded_app(folder: Path) -> tuple[Any, str]:
    """The Tiled app serving the embedded store in ``folder`` (created if needed), and its key.

    Raises:
        StoreError: the folder cannot be created or the catalog cannot be opened.
    """
    try:
        with warnings.catch_warnings():
            # starlette warns that its TestClient (Tiled's in-process transport) wants httpx2.
            warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
            from tiled.catalog import from_uri as catalog_from_uri
            from tiled.config import Authentication, StreamingCacheConfig
            from tiled.server.app import build_app
    except ImportError as error:  # pragma: no cover — a broken installation
        raise StoreError(f"Tiled is not installed correctly: {error}") from error
    quiet_tiled_logging()
    try:
        (folder / _ARRAYS_FOLDER).mkdir(parents=True, exist_ok=True)
        (folder / CURVES_FOLDER).mkdir(parents=True, exist_ok=True)
        with _init_lock:
            needs_init = not (folder / _READY_MARKER).exists()
            if not needs_init:
                _follow_move(folder)
            catalog = catalog_from_uri(
                f"sqlite:///{folder / _CATALOG_FILE}",
                writable_storage=[folder / _ARRAYS_FOLDER, f"sqlite:///{folder / _TABLES_FILE}"],
                readable_storage=[folder / CURVES_FOLDER],
                init_if_not_exists=needs_init,
                cache_config=StreamingCacheConfig(uri="memory").model_dump(),
            )
            if needs_init:
                (folder / _READY_MARKER).write_text("tiled catalog initialised\n")
        api_key = os.urandom(16).hex()
        app = build_app(catalog, authentication=Authentication(single_user_api_key=api_key))
    except Exception as error:
        raise StoreError(f"cannot open the store in {folder}: {error}") from error
    return app, api_key


def _follow_move(folder: Path) -> None:
    """Point the catalog's file references at ``folder`` if the store was moved or copied there.

    Tiled's catalog records absolute locations for the table store and every curve file; a data
    directory moved to an archive disk or copied to a laptop would otherwise answer "No such
    field sqlite://…/old/storage.sqlite". Where the table store's recorded location is not
    ``folder``, every recorded location under the old folder is rewritten, in one transaction.
    """
    import sqlite3

    catalog = folder / _CATALOG_FILE
    if not catalog.exists():
        return
    try:
        with (
            contextlib.closing(sqlite3.connect(catalog, timeout=30.0)) as connection,
            connection,
        ):
            rows = connection.execute("SELECT id, data_uri FROM assets").fetchall()
            old = _recorded_folder([str(uri) for _, uri in rows])
            if old is None or old == str(folder):
                return
            moved = [
                (_relocated(str(uri), old, str(folder)), asset)
                for asset, uri in rows
                if _relocated(str(uri), old, str(folder)) != uri
            ]
            connection.executemany("UPDATE assets SET data_uri = ? WHERE id = ?", moved)
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the store in {folder}: its catalog: {error}") from error
    _log.warning("the store was moved from %s to %s; its catalog now points here", old, folder)


def _relocated(uri: str, old: str, new: str) -> str:
    """``uri`` with folder ``old`` replaced by ``new`` (as written, or percent-encoded)."""
    from urllib.parse import quote

    for before, after in ((old, new), (quote(old), quote(new))):
        if before + "/" in uri:
            return uri.replace(before + "/", after + "/", 1)
    return uri


def _recorded_folder(uris: list[str]) -> str | None:
    """The folder the catalog's table store was recorded in (``None``: no table yet)."""
    from urllib.parse import unquote

    for uri in uris:
        if uri.startswith("sqlite:") and uri.endswith("/" + _TABLES_FILE):
            path = unquote(uri[: -len(_TABLES_FILE) - 1])
            return "/" + path.split("//", 2)[-1].lstrip("/")  # sqlite://localhost//a/b -> /a/b
    return None


def quiet_tiled_logging() -> None:
    """Tiled logs its version and every request at INFO; labctl reports what matters itself."""
    # Tiled logs its version and every request at INFO; labctl reports what matters itself.
    for name in ("tiled", "tiled.server.app", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.WARNING)
