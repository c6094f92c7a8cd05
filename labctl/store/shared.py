"""The shared lab data service: a Tiled server whose catalog and tables live in PostgreSQL.

One workstation of the lab (or a small server) runs it; every lab PC writes its runs to it with
``store: {kind: tiled, uri: http://HOST:PORT/api/v1, api_key_env: TILED_API_KEY}`` and anyone
with the key reads them. :class:`SharedDataService` keeps everything in one directory:

* ``postgres/`` — a private PostgreSQL started by the project's ``scripts/postgres`` (loopback,
  password in ``postgres/postgres.password``, stopped by PID);
* ``tiled.yml`` — the Tiled server's config: the catalog in database ``tiled_catalog``, tables
  (the events of every stream, curves as PostgreSQL array columns) in database ``tiled_tables``,
  other arrays as files in ``arrays/``. It holds no secret: it reads ``${TILED_API_KEY}`` and
  ``${LABCTL_POSTGRES_PASSWORD}`` from the environment, so it can be copied to a real deployment;
* ``tiled.json`` — the running server's PID, address and port; ``tiled.log`` (both mode 600:
  Tiled logs the catalog's database address with its password).

``labctl shared start DIR`` / ``stop DIR`` / ``status DIR`` drive it from the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labctl.errors import StoreError
from labctl.processes import process_alive, wait_gone

__all__ = ["SharedDataService", "SharedServerRecord"]

_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
_SPAWN = 'exec "$@" </dev/null >>"$LABCTL_LOG" 2>&1 & echo $!'
CATALOG_DATABASE = "tiled_catalog"
TABLES_DATABASE = "tiled_tables"
RECORD_FILE = "tiled.json"
CONFIG_FILE = "tiled.yml"
LOG_FILE = "tiled.log"
KEY_FILE = "api-key"

TILED_CONFIG = """\
# Written by labctl (labctl/store/shared.py): a Tiled server for a shared lab, its catalog and
# tables in PostgreSQL, other arrays as files. No secrets here: Tiled expands the environment
# variables TILED_API_KEY and LABCTL_POSTGRES_PASSWORD when it reads this file.
authentication:
  single_user_api_key: ${{TILED_API_KEY}}
trees:
  - path: /
    tree: catalog
    args:
      uri: "postgresql+asyncpg://labctl:${{LABCTL_POSTGRES_PASSWORD}}@127.0.0.1:{pg_port}/{catalog}"
      writable_storage:
        - "{arrays}"
        - "postgresql://labctl:${{LABCTL_POSTGRES_PASSWORD}}@127.0.0.1:{pg_port}/{tables}"
      init_if_not_exists: true
"""


@dataclass(frozen=True)
class SharedServerRecord:
    """Where the running service is (``tiled.json``).

    Args:
        pid: the Tiled server's process id.
        uri: its API address, ``http://HOST:PORT/api/v1`` (what ``store.uri`` names).
        host: the address it listens on.
        port: its port.
        postgres_pid: the PostgreSQL server's process id.
        postgres_port: PostgreSQL's loopback port.
        directory: the service's directory.
        started: when it started, seconds since the epoch.
    """

    pid: int
    uri: str
    host: str
    port: int
    postgres_pid: int
    postgres_port: int
    directory: str
    started: float


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host if host != "0.0.0.0" else "127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SharedDataService:
    """PostgreSQL and a Tiled server on it, kept in ``directory``, started and stopped by PID.

    Args:
        directory: where its files live (created on start).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()

    @property
    def postgres_directory(self) -> Path:
        """``scripts/postgres``'s folder (cluster, PID, port, password)."""
        return self.directory / "postgres"

    @property
    def record_file(self) -> Path:
        """``tiled.json``: the running server's PID and address."""
        return self.directory / RECORD_FILE

    def record(self) -> SharedServerRecord | None:
        """What ``tiled.json`` says (``None`` when the service was not started here)."""
        try:
            return SharedServerRecord(**json.loads(self.record_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def status(self) -> SharedServerRecord | None:
        """The record of the service if its Tiled server answers now, else ``None``."""
        record = self.record()
        if record is None or not process_alive(record.pid):
            return None
        return record if _healthy(record.uri, 1.0) else None

    def _postgres(self, *arguments: str, timeout: float = 600.0) -> str:
        result = subprocess.run(
            [
                str(_SCRIPTS / "postgres"),
                arguments[0],
                str(self.postgres_directory),
                *arguments[1:],
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StoreError(
                f"scripts/postgres {arguments[0]} failed for {self.postgres_directory}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout.strip()

    def start(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        postgres_port: int | None = None,
        timeout: float = 120.0,
    ) -> SharedServerRecord:
        """Start PostgreSQL (unless ours runs) and the Tiled server; wait until it answers.

        Args:
            port: the Tiled server's port (default: a free one).
            host: where it listens: ``127.0.0.1`` (this computer only) or ``0.0.0.0`` (the
                lab's network).
            api_key: the key writers and readers present (default: ``$TILED_API_KEY``, else
                the key kept in ``DIR/api-key``, else a new random one written there).
            postgres_port: PostgreSQL's loopback port (default: the one it had, else free).
            timeout: seconds to wait for the Tiled server to answer.

        Raises:
            StoreError: PostgreSQL or the Tiled server did not start; the message points at
                their logs.
        """
        if api_key is not None and not api_key.isalnum():
            raise StoreError("a Tiled API key holds letters and digits only (e.g. 32 hex digits)")
        running = self.status()
        if running is not None:
            return running
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "arrays").mkdir(exist_ok=True)
        pid_file = Path(self._postgres("start", *([str(postgres_port)] if postgres_port else [])))
        for database in (CATALOG_DATABASE, TABLES_DATABASE):
            self._postgres("createdb", database)
        pg_port = int((self.postgres_directory / "postgres.port").read_text().strip())
        password = (self.postgres_directory / "postgres.password").read_text().strip()
        config = self.directory / CONFIG_FILE
        config.write_text(
            TILED_CONFIG.format(
                pg_port=pg_port,
                catalog=CATALOG_DATABASE,
                tables=TABLES_DATABASE,
                arrays=(self.directory / "arrays").as_uri(),
            ),
            encoding="utf-8",
        )
        key = api_key or os.environ.get("TILED_API_KEY") or self._kept_key()
        if not key.isalnum():
            raise StoreError(
                "$TILED_API_KEY must hold letters and digits only (e.g. 32 hex digits)"
            )
        port = port or _free_port(host)
        command = [
            sys.executable,
            "-P",
            "-m",
            "tiled",
            "serve",
            "config",
            str(config),
            "--host",
            host,
            "--port",
            str(port),
        ]
        # Tiled logs the catalog's database URI, password included: the log is the owner's only.
        log = self.directory / LOG_FILE
        log.touch(mode=0o600, exist_ok=True)
        log.chmod(0o600)
        environment = {
            **os.environ,
            "TILED_API_KEY": key,
            "LABCTL_POSTGRES_PASSWORD": password,
            "LABCTL_LOG": str(log),
        }
        spawned = subprocess.run(
            ["/bin/sh", "-c", _SPAWN, "sh", *command],
            env=environment,
            capture_output=True,
            text=True,
            start_new_session=True,
            check=True,
            timeout=30,
        )
        pid = int(spawned.stdout.strip())
        reach = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        record = SharedServerRecord(
            pid=pid,
            uri=f"http://{reach}:{port}/api/v1",
            host=host,
            port=port,
            postgres_pid=int(pid_file.read_text().strip()),
            postgres_port=pg_port,
            directory=str(self.directory),
            started=time.time(),
        )
        temporary = self.record_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(record)), encoding="utf-8")
        temporary.chmod(0o600)
        temporary.replace(self.record_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _healthy(record.uri, 0.5):
                return record
            if not process_alive(pid):
                break
            time.sleep(0.1)
        self.stop()
        raise StoreError(
            f"the Tiled server on {host}:{port} did not come up within {timeout:g} s: "
            f"{_tail(self.directory / LOG_FILE)}"
        )

    def _kept_key(self) -> str:
        path = self.directory / KEY_FILE
        with contextlib.suppress(OSError):
            kept = path.read_text(encoding="utf-8").strip()
            if kept:
                return kept
        key = secrets.token_hex(16)
        path.write_text(key + "\n", encoding="utf-8")
        path.chmod(0o600)
        return key

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the Tiled server, then PostgreSQL, by PID (the data are kept)."""
        record = self.record()
        if record is not None and process_alive(record.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
            if not wait_gone(record.pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGKILL)
                wait_gone(record.pid, 5.0)
        self.record_file.unlink(missing_ok=True)
        if self.postgres_directory.exists():
            self._postgres("stop", timeout=timeout + 30)

    def remove(self) -> None:
        """Stop the service and delete its data (PostgreSQL's cluster and the arrays)."""
        self.stop()
        if self.postgres_directory.exists():
            self._postgres("remove")
        import shutil

        shutil.rmtree(self.directory / "arrays", ignore_errors=True)


def _healthy(uri: str, timeout: float) -> bool:
    import httpx

    base = uri.split("/api/", 1)[0]
    try:
        return httpx.get(f"{base}/healthz", timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"no log at {path}"
    return f"see {path}; it ends:\n" + "\n".join(text.splitlines()[-lines:])
