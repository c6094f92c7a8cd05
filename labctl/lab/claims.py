"""One instrument, one lab: claim each device address for the life of a lab session.

Two labs on one workstation (two configs, two RunEngines) must never talk to the same instrument:
two processes interleaving commands on one pump's serial line is how liquid ends up on the floor.
Each :class:`~labctl.lab.session.Lab` takes an exclusive ``flock`` on a claim file per device
address (``$LABCTL_CLAIMS``, default ``/tmp/labctl-claims``) before connecting; a second lab naming
the same address is refused at connect time with an error that names the lab, config, device and
process holding it. The kernel drops a lock when its process dies, so a crashed lab never leaves
a stale claim behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import IO

from labctl.errors import LabctlError

__all__ = ["AddressClaims", "AddressInUseError", "claims_directory"]


class AddressInUseError(LabctlError):
    """Another lab session holds this device address."""


def claims_directory() -> Path:
    """Where claim files live (``$LABCTL_CLAIMS`` or ``/tmp/labctl-claims``)."""
    return Path(os.environ.get("LABCTL_CLAIMS", "/tmp/labctl-claims"))


def _normalized(address: str) -> str:
    """The address as compared: case and trailing slashes do not make another instrument."""
    return address.strip().rstrip("/").lower().replace("localhost", "127.0.0.1")


class AddressClaims:
    """The claims of one lab session; release them with :meth:`release` (or on process exit).

    Args:
        lab: the lab's name, written into each claim for whoever is refused.
        config: the lab's config path, likewise.
    """

    def __init__(self, lab: str, config: str) -> None:
        self.lab = lab
        self.config = config
        self._held: dict[str, IO[str]] = {}

    def claim(self, device: str, address: str) -> None:
        """Claim ``address`` for ``device``.

        Devices of one lab may share an address (several pumps on one RS-232 bus); only another
        lab session is refused.

        Raises:
            AddressInUseError: another live lab session holds it (named in the message).
        """
        key = _normalized(address)
        if key in self._held:
            return
        directory = claims_directory()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".claim")
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            try:
                who = json.loads(holder)
                owner = (
                    f"lab {who.get('lab')!r} (config {who.get('config')}, device "
                    f"{who.get('device')!r}, process {who.get('pid')})"
                )
            except ValueError:
                owner = "another lab session"
            raise AddressInUseError(
                f"{device}: address {address} is in use by {owner}; two labs must not share an "
                "instrument — stop the other session or fix the address in the config"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "lab": self.lab,
                    "config": self.config,
                    "device": device,
                    "address": address,
                    "pid": os.getpid(),
                }
            )
        )
        handle.flush()
        self._held[key] = handle

    def release(self) -> None:
        """Release every claim (idempotent)."""
        for handle in self._held.values():
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        self._held.clear()
