"""Where bluesky documents go, and how they come back as pandas DataFrames.

Every document goes to Tiled through bluesky's
:class:`~bluesky.callbacks.tiled_writer.TiledWriter`.

* **Embedded** (default): a Tiled catalog in the lab's data directory — a SQLite catalog, a SQLite
  table store and a folder for arrays — served by an in-process Tiled app (no network server, no
  port; :mod:`labctl.store.app`). Runs survive the process and any other labctl process can read
  them.
* **External**: any Tiled server by URI (e.g. PostgreSQL-backed for a shared lab), with the API key
  taken from an environment variable.

Read-back: :meth:`Store.runs` lists runs (searchable by start-document metadata, e.g. all runs of
one campaign), :meth:`Store.run` gives one run whose streams are DataFrames with their units in
``DataFrame.attrs["units"]``.

Crashes (see ``benchmarks/reliability.md``):

* A store reached through its local server (:mod:`labctl.store.server`) checks before every
  request that the server's process still lives; when it was killed, the store reopens itself in
  this process and the read is done again — at once, instead of after Tiled's client has retried a
  dead address for tens of seconds. A lab (a writer) never goes through the server
  (``in_process``): a campaign must not depend on another process staying alive.
* A run a crash interrupted has no stop document, and may have no stored readings or a curve file
  cut short; reading it raises a :class:`~labctl.errors.StoreError` naming the run, the stream and
  the cause. Every other run's data stays readable: each run has its own curve files, and the
  SQLite catalog and table store roll back any transaction the crash left open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from labctl.config import LoadedConfig
from labctl.errors import StoreError
from labctl.processes import process_alive
from labctl.store.app import CURVES_FOLDER, build_embedded_app, quiet_tiled_logging

if TYPE_CHECKING:
    from labctl.store.server import ServerRecord

__all__ = ["Run", "RunSummary", "Store"]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _ServerGone(StoreError):
    """The process of the local store server this store was reading through has ended."""


@dataclass(frozen=True)
class RunSummary:
    """One line of a run listing.

    Args:
        uid: the run's unique id.
        scan_id: the RunEngine's counter.
        plan_name: the plan that made it.
        time: start time, seconds since the epoch.
        exit_status: ``success``, ``fail``, ``abort`` — or ``None`` when the run has no stop
            document (it was interrupted, or is still running).
        num_events: events per stream.
        metadata: the whole start document.
    """

    uid: str
    scan_id: int | None
    plan_name: str | None
    time: float
    exit_status: str | None
    num_events: Mapping[str, int]
    metadata: Mapping[str, Any]


class Run:
    """One bluesky run read back from the store.

    Args:
        node: the Tiled client node of the run.
        store: the store it came from (to look the run up again if the store had to reopen).
    """

    def __init__(self, node: Any, store: Store | None = None) -> None:
        self._node = node
        self._store = store
        self._stream_nodes: dict[str, Any] | None = None
        self.start: dict[str, Any] = dict(node.metadata.get("start") or {})
        self.stop: dict[str, Any] = dict(node.metadata.get("stop") or {})

    @property
    def uid(self) -> str:
        """The run's unique id."""
        return str(self.start["uid"])

    @property
    def streams(self) -> list[str]:
        """Names of the run's event streams (``primary``, ...)."""
        return list(self._streams())

    def _streams(self, refresh: bool = False) -> dict[str, Any]:
        """The run's stream nodes by name, listed in one request and kept."""
        if self._stream_nodes is None or refresh:
            # The plain container's listing builds each stream's client from the search
            # results; the BlueskyRun client's own would look every stream up again.
            self._stream_nodes = dict(getattr(self._node, "base", self._node).items())
        return self._stream_nodes

    def stream(self, name: str = "primary") -> pd.DataFrame:
        """The events of one stream as a DataFrame, one row per event.

        Columns are the data keys plus ``time`` (seconds since the epoch); a curve (an
        array-valued reading, e.g. a potentiostat's currents) is a column holding one numpy array
        per row. ``frame.attrs["units"]`` maps each column to its unit from the descriptor.

        Raises:
            StoreError: the run has no such stream, or its readings cannot be read (a run a crash
                interrupted may have none stored, or a curve file cut short).
        """
        try:
            return self._read_stream(name)
        except _ServerGone:
            if self._store is None:
                raise
            self._node = self._store.node(self.uid)  # the store reopened in this process
            self._stream_nodes = None
            return self._read_stream(name)

    def _read_stream(self, name: str) -> pd.DataFrame:
        streams = self._streams()
        if name not in streams:
            streams = self._streams(refresh=True)  # a run still being written gains streams
        if name not in streams:
            raise StoreError(f"run {self.uid} has no stream {name!r}; it has {list(streams)}")
        try:
            return self._stream_frame(streams[name])
        except StoreError:
            raise
        except Exception as error:
            raise StoreError(self._unreadable(name, error)) from error

    def _unreadable(self, name: str, error: Exception) -> str:
        """Why stream ``name`` cannot be read, for a message."""
        cause = f"{type(error).__name__}: {error}"
        if not self.stop:
            return (
                f"run {self.uid} was interrupted (it has no stop document): its readings of "
                f"stream {name!r} were not all stored ({cause})"
            )
        return (
            f"run {self.uid}: stream {name!r} cannot be read — its stored data are damaged "
            f"(e.g. a curve file cut short by a crash); other runs are not affected ({cause})"
        )

    def _stream_frame(self, stream: Any) -> pd.DataFrame:
        # One listing of the stream's children (its table of scalars and one array per curve
        # key), then one read per child: Tiled's composite client would list the stream again
        # for every key it is asked about (≈ 5 requests per stream instead of ≈ 25).
        data_keys = stream.metadata.get("data_keys") or {}
        columns: dict[str, Any] = {}
        curves: dict[str, Any] = {}
        inline: list[str] = []
        for part, child in getattr(stream, "base", stream).items():
            family = child.item["attributes"]["structure_family"]
            if family == "table":
                table = child.read()
                for column in table.columns:
                    if column != "time" and column not in data_keys:
                        continue  # the writer's bookkeeping (seq_num, ts_<key>), not readings
                    if data_keys.get(column, {}).get("shape"):
                        # A curve kept inline (an external server's array column): the table
                        # read gives it as text; the server's array view gives the numbers.
                        inline.append(column)
                        continue
                    values = table[column]
                    if isinstance(values.dtype, pd.StringDtype):
                        values = values.astype(object)
                    columns[column] = values.to_numpy()
            elif family == "array" and data_keys.get(part, {}).get("shape"):
                curves[part] = child.read()  # a curve per event: one row per event
            elif family == "array":
                columns[part] = child.read()
        for key in inline:
            curves[key] = stream[key].read()
        frame = pd.DataFrame(columns)
        for key, values in curves.items():
            # A curve per event (a potentiostat's currents): one 1-D array per row.
            frame[key] = list(values)
        units: dict[str, str] = {"time": "s"}
        for key, data_key in data_keys.items():
            if data_key.get("units") is not None:
                units[key] = str(data_key["units"])
        frame.attrs["units"] = units
        return frame

    def __repr__(self) -> str:
        return f"<Run {self.uid[:8]} plan={self.start.get('plan_name')!r}>"


class Store:
    """A Tiled catalog of bluesky runs.

    Use :meth:`embedded` or :meth:`external` to open one; close it with :meth:`close` (or use it
    as a context manager).

    Args:
        client: the Tiled client container at the root of the catalog.
        location: where the store is, for messages.
        on_close: releases what the store holds (the in-process app, the HTTP context).
        curves_folder: where array-valued readings (curves) are written as HDF5 files that the
            catalog serves (embedded stores); ``None`` keeps them inline (an external server,
            e.g. PostgreSQL-backed, stores array columns itself).
    """

    def __init__(
        self,
        client: Any,
        location: str,
        on_close: Callable[[], None],
        curves_folder: Path | None = None,
        fallback: Path | None = None,
    ) -> None:
        self.client = client
        self.location = location
        self._on_close = on_close
        self.curves_folder = curves_folder
        self._fallback = fallback

    @classmethod
    def embedded(cls, directory: str | Path) -> Store:
        """Open (creating if needed) the embedded store in ``directory``, in this process.

        Raises:
            StoreError: the directory cannot be created or the catalog cannot be opened.
        """
        folder = Path(directory).resolve()
        app, api_key = build_embedded_app(folder)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
                from tiled.client import Context, from_context

                context = Context.from_app(app, api_key=api_key)
            client = from_context(context)
        except Exception as error:
            raise StoreError(f"cannot open the store in {folder}: {error}") from error
        return cls(client, str(folder), context.close, folder / CURVES_FOLDER)

    @classmethod
    def served(cls, record: ServerRecord) -> Store:
        """Connect to the running local server of an embedded store (see :mod:`store_server`).

        Raises:
            StoreError: the server stopped answering.
        """
        quiet_tiled_logging()
        from tiled.client import from_uri

        def server_alive(_request: Any) -> None:
            # Before each request: a dead server is known at once, not after Tiled's retries.
            if not process_alive(record.pid):
                raise _ServerGone(
                    f"the store server (pid {record.pid}) for {record.directory} has stopped"
                )

        try:
            client = from_uri(record.uri, api_key=record.api_key)
        except Exception as error:
            raise StoreError(
                f"the store server at {record.uri} did not answer: {error}"
            ) from error
        http = client.context.http_client
        hooks = dict(http.event_hooks)
        http.event_hooks = {**hooks, "request": [*hooks.get("request", []), server_alive]}
        return cls(
            client,
            f"{record.directory} (served by pid {record.pid})",
            client.context.close,
            Path(record.directory) / CURVES_FOLDER,
            fallback=Path(record.directory),
        )

    @classmethod
    def for_config(
        cls, config: LoadedConfig, *, start_server: bool = False, in_process: bool = False
    ) -> Store:
        """Open the store a lab config names.

        An embedded store is reached through its local server when one is running (unless
        ``in_process``: a writer such as a lab's RunEngine opens it itself, so that killing the
        server cannot interrupt it); otherwise it is opened in this process, and with
        ``start_server`` a server is started in the background (when the config's
        ``store.keep_server`` allows) so the next command is quick.
        """
        section = config.model.store
        if section.kind == "tiled":
            assert section.uri is not None  # guaranteed by StoreSection's validator
            return cls.external(section.uri, section.api_key_env)
        directory = config.store_directory
        from labctl.store.server import running_server, spawn_server_once

        record = None if in_process else running_server(directory)
        if record is not None:
            try:
                return cls.served(record)
            except StoreError as error:
                _log.warning("%s; opening the store in this process", error)
        store = cls.embedded(directory)
        idle_timeout = section.keep_server.to("s").magnitude
        if start_server and idle_timeout > 0:
            spawn_server_once(directory, idle_timeout)
        return store

    @classmethod
    def external(
        cls, uri: str, api_key_env: str = "TILED_API_KEY", connect_timeout: float = 5.0
    ) -> Store:
        """Connect to a Tiled server at ``uri`` with the API key from ``$api_key_env``.

        Raises:
            StoreError: the server is unreachable or refuses the key.
        """
        import httpx

        quiet_tiled_logging()
        api_key = os.environ.get(api_key_env)
        # Tiled's client retries a dead server for up to 45 s; one plain probe answers at once.
        base = uri.split("/api/", 1)[0].rstrip("/")
        try:
            httpx.get(f"{base}/healthz", timeout=connect_timeout, trust_env=False)
        except httpx.HTTPError as error:
            raise StoreError(
                f"cannot reach the Tiled server at {uri} within {connect_timeout:g} s: {error}"
            ) from error
        from tiled.client import Context, from_context

        context = None
        try:
            context, path_parts = Context.from_any_uri(uri, api_key=api_key)
            client = from_context(context, node_path_parts=path_parts)
        except Exception as error:
            if context is not None:
                context.close()  # a refused key must not leave the connection open
            raise StoreError(
                f"cannot reach the Tiled server at {uri} (API key from ${api_key_env}"
                f"{'' if api_key else ', which is not set'}): {error}"
            ) from error
        return cls(client, uri, client.context.close)

    def writer(self) -> Callable[[str, Mapping[str, Any]], None]:
        """A bluesky document callback that writes every run into this store."""
        from bluesky.callbacks.tiled_writer import TiledWriter

        # bluesky 1.15's TiledWriter calls append_partition(table, 0), which tiled 0.2.20 still
        # accepts but warns about on every run; the data are written correctly.
        warnings.filterwarnings(
            "ignore", message="The order of arguments has changed", category=DeprecationWarning
        )
        writer = TiledWriter(self.client)
        if self.curves_folder is None:
            return writer
        from labctl.store.arrays import ArraysToHdf5

        return ArraysToHdf5(self.curves_folder, writer)

    def _reading(self, read: Callable[[], _T]) -> _T:
        """``read()``, done again in this process if the store's server died meanwhile."""
        try:
            return read()
        except _ServerGone as error:
            if self._fallback is None:
                raise
            _log.warning("%s; reading the store in this process", error)
            self._reopen_in_process(self._fallback)
            return read()

    def _reopen_in_process(self, directory: Path) -> None:
        with contextlib.suppress(Exception):
            self._on_close()  # the HTTP client of the dead server
        reopened = Store.embedded(directory)
        self.client, self.location = reopened.client, reopened.location
        self._on_close, reopened._on_close = reopened._on_close, _nothing
        self._fallback = None

    def node(self, uid: str) -> Any:
        """The Tiled node of run ``uid`` (exact uid).

        Raises:
            StoreError: no such run.
        """

        def look_up() -> Any:
            if uid not in self.client:
                raise StoreError(f"no run {uid!r} in the store at {self.location}")
            return self.client[uid]

        return self._reading(look_up)

    def __len__(self) -> int:
        return self._reading(lambda: len(self.client))

    def runs(self, *, limit: int | None = None, **metadata: Any) -> list[RunSummary]:
        """Runs, newest first, whose start documents match ``metadata`` (``campaign="c1"``).

        Args:
            limit: at most this many.
            metadata: start-document keys and the values they must equal; nested keys with dots
                (``**{"sample.name": "A1"}``).
        """
        return self._reading(lambda: self._runs(limit, metadata))

    def _runs(self, limit: int | None, metadata: Mapping[str, Any]) -> list[RunSummary]:
        return [_summarize(uid, node.metadata) for uid, node in self._nodes(limit, metadata)]

    def _nodes(self, limit: int | None, metadata: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(uid, node) of the runs matching ``metadata``, newest first."""
        from tiled.queries import Key

        container = self.client
        for key, value in metadata.items():
            container = container.search(Key(f"start.{key}") == value)
        container = container.sort(("start.time", -1)) if hasattr(container, "sort") else container
        nodes = []
        for uid, node in container.items():
            nodes.append((str(uid), node))
            if limit is not None and len(nodes) >= limit:
                break
        return nodes

    def distinct(self, key: str) -> dict[Any, int]:
        """Distinct values of a start-document key over all runs, with their run counts."""
        answer = self._reading(lambda: self.client.distinct(f"start.{key}", counts=True))
        values = (answer.get("metadata") or {}).get(f"start.{key}") or []
        return {entry["value"]: int(entry.get("count") or 0) for entry in values}

    def run(self, uid: str) -> Run:
        """One run by uid (or a unique uid prefix of at least 6 characters).

        Raises:
            StoreError: no such run, or the prefix is ambiguous.
        """
        return Run(self._reading(lambda: self._find(uid)), store=self)

    def _find(self, uid: str) -> Any:
        if uid in self.client:
            return self.client[uid]
        if len(uid) >= 6:
            matches = [key for key in self.client if str(key).startswith(uid)]
            if len(matches) == 1:
                return self.client[matches[0]]
            if len(matches) > 1:
                raise StoreError(f"uid prefix {uid!r} matches {len(matches)} runs")
        raise StoreError(f"no run {uid!r} in the store at {self.location}")

    def iter_runs(self, **metadata: Any) -> Iterator[Run]:
        """Every run matching ``metadata``, oldest first (one search, no look-up per run)."""
        nodes = self._reading(lambda: self._nodes(None, metadata))
        for _, node in reversed(nodes):
            yield Run(node, store=self)

    def close(self) -> None:
        """Release the store (idempotent)."""
        on_close, self._on_close = self._on_close, _nothing
        on_close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.location}>"


def _nothing() -> None:
    return None


def _summarize(uid: str, metadata: Mapping[str, Any]) -> RunSummary:
    start = dict(metadata.get("start") or {})
    stop = dict(metadata.get("stop") or {})
    return RunSummary(
        uid=str(uid),
        scan_id=start.get("scan_id"),
        plan_name=start.get("plan_name"),
        time=float(start.get("time", 0.0)),
        exit_status=stop.get("exit_status"),
        num_events=dict(stop.get("num_events") or {}),
        metadata=start,
    )
