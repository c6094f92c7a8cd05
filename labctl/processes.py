"""Whether a server process (store server, queue manager) still runs, and waiting for it to end."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

__all__ = ["process_alive", "wait_gone"]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie — exited, not yet reaped — does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        # /proc/PID/stat: "pid (name) state ..."; the name may hold spaces, the state follows ")".
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def wait_gone(pid: int, timeout: float, poll: float = 0.05) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to end, reaping it if it is our child; True if gone."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not process_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
