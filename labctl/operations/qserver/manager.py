"""Run a lab unattended: Redis and bluesky-queueserver's RE Manager on loopback, by PID.

A :class:`QueueServer` keeps its files in one directory (``<data_directory>/qserver`` by
default): the permissions file, the plans-and-devices file the manager keeps up to date, Redis's
append-only log (so the queue survives restarts), logs, and ``manager.json`` with the PIDs and
addresses. Everything listens on 127.0.0.1. :meth:`submit_campaign` queues a campaign item with
its id fixed at submission, so an item interrupted by a restart resumes the same campaign.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labctl.config import LoadedConfig
from labctl.errors import LabctlError
from labctl.processes import process_alive, wait_gone

__all__ = ["QueueServer", "QueueServerError", "free_port"]

_SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"

PERMISSIONS = """\
# Written by labctl: who may queue what. Everything the lab's startup module defines is allowed
# for the 'primary' group; names starting with '_' are not.
user_groups:
  root:
    allowed_plans: [null]
    forbidden_plans: [":^_"]
    allowed_devices: [null]
    forbidden_devices: [":^_:?.*"]
    allowed_functions: [null]
    forbidden_functions: [":^_"]
  primary:
    allowed_plans: [":.*"]
    forbidden_plans: [null]
    allowed_devices: [":?.*"]
    forbidden_devices: [null]
    allowed_functions: [":^lab_preconditions$"]
    forbidden_functions: [null]
"""


_SPAWN = 'exec "$@" </dev/null >>"$LABCTL_LOG" 2>&1 & echo $!'


class QueueServerError(LabctlError):
    """The queue server or its Redis did not start, answer or stop as expected."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ManagerState:
    """What ``manager.json`` records about a running queue server."""

    manager_pid: int
    process_group: int
    redis_port: int
    control_address: str
    info_address: str
    config: str


class QueueServer:
    """The queue server of one lab.

    Args:
        config: the lab config its worker builds the lab from.
        directory: where its files live (default ``<data_directory>/qserver``).
        plugins: modules the worker imports first (a lab's own experiment and optimizer kinds).
    """

    def __init__(
        self,
        config: LoadedConfig,
        directory: Path | None = None,
        plugins: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.directory = (directory or config.data_directory / "qserver").resolve()
        self.plugins = plugins

    @property
    def state_file(self) -> Path:
        """``manager.json``: PIDs and addresses of the running server."""
        return self.directory / "manager.json"

    def state(self) -> ManagerState | None:
        """The running server's state (``None`` when none was started here)."""
        if not self.state_file.exists():
            return None
        return ManagerState(**json.loads(self.state_file.read_text(encoding="utf-8")))

    def init(self) -> Path:
        """Write the permissions file (kept if it exists); returns its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        permissions = self.directory / "user_group_permissions.yaml"
        if not permissions.exists():
            permissions.write_text(PERMISSIONS, encoding="utf-8")
        return permissions

    # ----------------------------------------------------------------- processes

    def start(self, *, redis_port: int | None = None, timeout: float = 120.0) -> ManagerState:
        """Start Redis (unless one of ours runs) and the RE Manager, open the environment.

        Raises:
            QueueServerError: a process did not start, or the environment did not open in time
                (the message names the log file to read).
        """
        permissions = self.init()
        previous = self.state()
        port = previous.redis_port if previous else (redis_port or free_port())
        self._start_redis(port)
        control = f"tcp://127.0.0.1:{free_port()}"
        info = f"tcp://127.0.0.1:{free_port()}"
        environment = {
            **os.environ,
            "LABCTL_CONFIG": str(self.config.source.resolve()),
            "LABCTL_PLUGINS": ",".join(self.plugins),
        }
        command = [
            str(Path(sys.executable).parent / "start-re-manager"),
            "--startup-module",
            "labctl.operations.qserver.startup",
            "--redis-addr",
            f"127.0.0.1:{port}",
            "--redis-name-prefix",
            "labctl",
            "--zmq-control-addr",
            control,
            "--zmq-info-addr",
            info,
            "--zmq-publish-console",
            "ON",
            "--existing-plans-devices",
            str(self.directory / "existing_plans_and_devices.yaml"),
            "--update-existing-plans-devices",
            "ENVIRONMENT_OPEN",
            "--user-group-permissions",
            str(permissions),
            "--use-ipython-kernel",
            "OFF",
        ]
        # Through a shell that exits at once: the manager is nobody's child and outlives us; its
        # process group (the shell's session) holds it and its worker, for stopping both.
        spawned = subprocess.run(
            ["/bin/sh", "-c", _SPAWN, "sh", *command],
            env={**environment, "LABCTL_LOG": str(self.directory / "manager.log")},
            cwd=self.directory,
            start_new_session=True,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        pid = int(spawned.stdout.strip())
        state = ManagerState(pid, os.getpgid(pid), port, control, info, str(self.config.source))
        self.state_file.write_text(json.dumps(asdict(state)), encoding="utf-8")
        try:
            with self.client() as api:
                api.wait_for_idle(timeout=timeout)
                if not api.status()["worker_environment_exists"]:
                    api.environment_open()
                    api.wait_for_idle(timeout=timeout)
                if not api.status()["worker_environment_exists"]:
                    raise QueueServerError(
                        f"the worker's environment did not open; see {self.directory}/manager.log"
                    )
        except Exception as error:
            self.stop_manager()
            if isinstance(error, QueueServerError):
                raise
            raise QueueServerError(
                f"RE Manager at {control} did not become ready within {timeout:g} s: {error}; "
                f"see {self.directory / 'manager.log'}"
            ) from error
        self.requeue_interrupted()
        return state

    def requeue_interrupted(self) -> list[str]:
        """Put campaign items a crash interrupted back at the front of the queue.

        After a restart the RE Manager files the item that was running as ``unknown`` in its
        history, and it would be lost; a campaign item carries its campaign id, so running it
        again resumes the campaign from the store. Each interrupted item is re-queued once
        (remembered in ``requeued.json``). Returns the uids of the new items.
        """
        from bluesky_queueserver_api import BPlan

        done_file = self.directory / "requeued.json"
        done: set[str] = set(json.loads(done_file.read_text())) if done_file.exists() else set()
        added: list[str] = []
        with self.client() as api:
            history = api.history_get()["items"]
            interrupted = [
                item
                for item in history
                if item.get("name") == "campaign"
                and (item.get("result") or {}).get("exit_status") == "unknown"
                and item["item_uid"] not in done
            ]
            for item in reversed(interrupted):
                reply = api.item_add(BPlan("campaign", **item["kwargs"]), pos="front")
                added.append(str(reply["item"]["item_uid"]))
                done.add(item["item_uid"])
        done_file.write_text(json.dumps(sorted(done)), encoding="utf-8")
        return added

    def worker_pid(self) -> int | None:
        """The PID of the RE Worker (the lab's process), or ``None`` when none was started.

        bluesky-queueserver's watchdog (the process ``start-re-manager`` runs, whose PID
        ``manager.json`` records) starts the RE Manager first and the worker when the environment
        opens, both as its children: the worker is the younger. A worker that died and was not
        reaped yet is still listed (a zombie); :func:`labctl.processes.process_alive` says no.
        """
        state = self.state()
        if state is None:
            return None
        children = _children(state.manager_pid)
        return children[-1] if len(children) >= 2 else None

    def recover_worker(self, timeout: float = 120.0) -> list[str]:
        """Replace a dead RE Worker; the campaign item it was running is queued again at the front.

        bluesky-queueserver 0.0.25's manager does not notice a worker killed from outside: it
        keeps reporting the item as running and the queue hangs. When the manager believes its
        environment exists but the worker's process is gone, this destroys that environment (the
        manager files the running item as failed and puts a copy at the front of the queue — a
        campaign item carries its campaign id, so it resumes from the store), opens a new one
        and lets the queue go on. Returns what it did, one line per step (empty: nothing to do).

        Raises:
            QueueServerError: the manager did not answer or the new environment did not open.
        """
        done: list[str] = []
        with self.client() as api:
            status = api.status()
            if not status.get("worker_environment_exists"):
                return done
            pid = self.worker_pid()
            if pid is not None and process_alive(pid):
                return done
            running = status.get("manager_state") == "executing_queue"
            reply = api.environment_destroy()
            if not reply.get("success", False):
                raise QueueServerError(
                    f"the RE Worker (pid {pid}) is gone but the manager did not destroy its "
                    f"environment: {reply.get('msg')}; see {self.directory / 'manager.log'}"
                )
            api.wait_for_idle(timeout=timeout)
            done.append(f"the RE Worker (pid {pid}) had died: its environment was destroyed")
            api.environment_open()
            api.wait_for_idle(timeout=timeout)
            if not api.status()["worker_environment_exists"]:
                raise QueueServerError(
                    f"a new RE Worker environment did not open; see {self.directory}/manager.log"
                )
            done.append(f"a new RE Worker (pid {self.worker_pid()}) opened the lab")
            status = api.status()
            if running and status["items_in_queue"] and status["manager_state"] == "idle":
                api.queue_start()
                done.append("the queue was started again")
        return done

    def _start_redis(self, port: int) -> None:
        redis_dir = self.directory / "redis"
        pid_file = redis_dir / "redis.pid"
        if pid_file.exists() and process_alive(int(pid_file.read_text().strip() or 0)):
            return
        result = subprocess.run(
            [str(_SCRIPTS / "redis"), "start", str(redis_dir), str(port)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise QueueServerError(
                f"Redis did not start on 127.0.0.1:{port}: {result.stderr.strip()}"
            )

    def stop_manager(self, timeout: float = 30.0) -> None:
        """Stop the RE Manager (and its worker) by PID; Redis keeps the queue."""
        state = self.state()
        if state is None:
            return
        _terminate(state.manager_pid, state.process_group, timeout)

    def kill_manager(self) -> None:
        """Kill the RE Manager with SIGKILL (crash tests); Redis keeps the queue."""
        state = self.state()
        if state is not None and process_alive(state.manager_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.process_group, signal.SIGKILL)
            wait_gone(state.manager_pid, 10.0)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the RE Manager and Redis by PID and forget the state."""
        self.stop_manager(timeout)
        subprocess.run(
            [str(_SCRIPTS / "redis"), "stop", str(self.directory / "redis")],
            capture_output=True,
            timeout=60,
            check=False,
        )
        self.state_file.unlink(missing_ok=True)

    # ----------------------------------------------------------------- work

    def client(self) -> Any:
        """A ``bluesky_queueserver_api`` client of the running manager (use as a context)."""
        from bluesky_queueserver_api.zmq import REManagerAPI

        state = self.state()
        if state is None:
            raise QueueServerError(f"no queue server was started in {self.directory}")
        api = REManagerAPI(
            zmq_control_addr=state.control_address,
            zmq_info_addr=state.info_address,
            timeout_recv=10.0,
        )
        return _Closing(api)

    def submit_campaign(self, config: Path, campaign_id: str) -> str:
        """Queue the campaign of ``config`` under ``campaign_id``; returns the item's uid."""
        from bluesky_queueserver_api import BPlan

        with self.client() as api:
            reply = api.item_add(
                BPlan("campaign", config=str(Path(config).resolve()), campaign_id=campaign_id)
            )
        return str(reply["item"]["item_uid"])

    def submit_plan(self, name: str, **kwargs: Any) -> str:
        """Queue any allowed plan by name; returns the item's uid."""
        from bluesky_queueserver_api import BPlan

        with self.client() as api:
            reply = api.item_add(BPlan(name, **kwargs))
        return str(reply["item"]["item_uid"])

    def preconditions(self, timeout: float = 60.0) -> list[str]:
        """Ask the worker's lab for every reason not to start a campaign now (empty: go).

        Raises:
            QueueServerError: the worker did not answer in time or the check itself failed.
        """
        from bluesky_queueserver_api import BFunc

        with self.client() as api:
            task = api.function_execute(BFunc("lab_preconditions"), run_in_background=True)
            api.wait_for_completed_task(task["task_uid"], timeout=timeout)
            result = api.task_result(task["task_uid"])["result"]
        if not result.get("success"):
            raise QueueServerError(f"the precondition check failed: {result.get('msg')}")
        return [str(reason) for reason in result["return_value"]]

    def run_unattended(self) -> None:
        """Turn on autostart: the queue starts, and keeps draining as items are added."""
        with self.client() as api:
            api.queue_autostart(True)


class _Closing:
    """Context manager closing an API client."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def __enter__(self) -> Any:
        return self.api

    def __exit__(self, *exc_info: object) -> None:
        self.api.close()


def _children(pid: int) -> list[int]:
    """PIDs of the processes whose parent is ``pid``, oldest first (from ``/proc``)."""
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (name) state ppid ... starttime(22nd field)"; the name may hold spaces.
            fields = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(entry.name)))
    return [child for _, child in sorted(found)]


def _terminate(pid: int, group: int, timeout: float) -> None:
    """SIGTERM the manager's process group (manager and worker), SIGKILL if it lingers."""
    if not process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # an orphaned worker
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        wait_gone(pid, 10.0)
