"""A long-lived local Tiled server for a lab's embedded store, reused by every labctl process.

Opening the embedded store in a process costs ≈ 2 s of imports (Tiled's catalog and server stack);
a short command such as ``labctl runs`` would spend most of its time there. Instead, one server
process per data directory serves the store on a loopback port; other processes connect to it with
Tiled's light HTTP client. It writes ``server.json`` (pid, address, API key) into the store's
folder, stops itself after a configurable idle time, and is stopped by PID with
``labctl store stop``. Without a server, every process still opens the store itself.

Run as ``python -m labctl.store.server DIRECTORY [--idle-timeout SECONDS]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labctl.errors import StoreError
from labctl.processes import process_alive, wait_gone

__all__ = [
    "ServerRecord",
    "running_server",
    "serve",
    "spawn_server",
    "spawn_server_once",
    "stop_server",
    "wait_for_server",
]

RECORD_FILE = "server.json"
LOG_FILE = "server.log"


@dataclass(frozen=True)
class ServerRecord:
    """Where a store server is and how to reach it.

    Args:
        pid: the server's process id.
        uri: the Tiled API address, ``http://127.0.0.1:PORT/api/v1``.
        api_key: the key the server accepts (readable only by the data directory's owner).
        directory: the store it serves.
        started: when it started, seconds since the epoch.
        idle_timeout: seconds without a request after which it stops itself.
    """

    pid: int
    uri: str
    api_key: str
    directory: str
    started: float
    idle_timeout: float


def _record_path(directory: Path) -> Path:
    return Path(directory) / RECORD_FILE


def running_server(directory: str | Path, probe_timeout: float = 1.0) -> ServerRecord | None:
    """The live server of the store in ``directory``, or ``None`` (a stale record is removed)."""
    path = _record_path(Path(directory))
    try:
        record = ServerRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if not process_alive(record.pid):
        path.unlink(missing_ok=True)
        return None
    import httpx

    base = record.uri.split("/api/", 1)[0]
    try:
        answer = httpx.get(f"{base}/healthz", timeout=probe_timeout, trust_env=False)
    except httpx.HTTPError:
        return None
    return record if answer.status_code == 200 else None


def spawn_server(directory: str | Path, idle_timeout: float) -> None:
    """Start a detached server process for ``directory`` and return at once.

    The server is started through a shell that exits immediately, so it is nobody's child: it
    outlives the command that started it and writes ``server.json`` when ready.
    """
    folder = Path(directory).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-P",
        "-m",
        "labctl.store.server",
        str(folder),
        "--idle-timeout",
        str(idle_timeout),
    ]
    subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" </dev/null >>"$LABCTL_LOG" 2>&1 &', "sh", *command],
        env={**os.environ, "LABCTL_LOG": str(folder / LOG_FILE)},
        start_new_session=True,
        check=True,
        timeout=30,
    )


def spawn_server_once(directory: str | Path, idle_timeout: float) -> bool:
    """Spawn a server for ``directory`` unless one was spawned in the last minute; say if so."""
    folder = Path(directory)
    marker = folder / "server.starting"
    with contextlib.suppress(OSError):
        if time.time() - marker.stat().st_mtime < 60:
            return False
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(time.time()), encoding="utf-8")
    spawn_server(folder, idle_timeout)
    return True


def wait_for_server(directory: str | Path, timeout: float = 60.0) -> ServerRecord:
    """Wait until the server of ``directory`` answers.

    Raises:
        StoreError: it did not come up in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = running_server(directory, probe_timeout=0.5)
        if record is not None:
            return record
        time.sleep(0.1)
    raise StoreError(
        f"the store server for {directory} did not come up within {timeout:g} s; "
        f"see {Path(directory) / LOG_FILE}"
    )


def stop_server(directory: str | Path, timeout: float = 10.0) -> int | None:
    """Stop the server of ``directory`` by its PID; return the PID, or ``None`` if none ran."""
    path = _record_path(Path(directory))
    try:
        record = ServerRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if process_alive(record.pid):
        os.kill(record.pid, signal.SIGTERM)
        if not wait_gone(record.pid, timeout):
            os.kill(record.pid, signal.SIGKILL)
            wait_gone(record.pid, 5.0)
    path.unlink(missing_ok=True)
    return record.pid


def serve(directory: Path, idle_timeout: float) -> None:
    """Serve the store in ``directory`` on a free loopback port until idle or terminated."""
    import uvicorn

    from labctl.store.app import build_embedded_app

    folder = directory.resolve()
    app, api_key = build_embedded_app(folder)
    last_request = [time.monotonic()]

    async def touch(scope: Any, receive: Any, send: Any) -> None:
        last_request[0] = time.monotonic()
        await app(scope, receive, send)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(touch, log_level="warning", lifespan="on"))
    record = ServerRecord(
        pid=os.getpid(),
        uri=f"http://127.0.0.1:{port}/api/v1",
        api_key=api_key,
        directory=str(folder),
        started=time.time(),
        idle_timeout=idle_timeout,
    )
    path = _record_path(folder)

    async def announce_then_watch() -> None:
        while not server.started:  # noqa: ASYNC110 — uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(record)), encoding="utf-8")
        temporary.chmod(0o600)
        temporary.replace(path)
        while not server.should_exit:
            if idle_timeout > 0 and time.monotonic() - last_request[0] > idle_timeout:
                server.should_exit = True
            await asyncio.sleep(0.5)

    async def main() -> None:
        watcher = asyncio.create_task(announce_then_watch())
        try:
            await server.serve(sockets=[listener])
        finally:
            watcher.cancel()

    try:
        asyncio.run(main())
    finally:
        with contextlib.suppress(OSError, ValueError, TypeError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve a labctl embedded store over HTTP.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--idle-timeout", type=float, default=900.0)
    options = parser.parse_args()
    serve(options.directory, options.idle_timeout)


if __name__ == "__main__":
    _main()
