"""Exceptions and warnings raised by labctl.

Every error labctl raises derives from :class:`LabctlError`, so callers (the CLI, a campaign's
failure policy, a lab's own scripts) can catch labctl's failures without catching programming
errors. Exceptions carry the data a scientist needs to act — which device, at which address,
what was sent, what came back — and their message is a sentence built from that data.

This module is part of the ground floor: it imports no other labctl module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "INTERLOCKS",
    "CommunicationError",
    "ConfigError",
    "ConfigIssue",
    "DeviceConnectionError",
    "DeviceTimeout",
    "InterlockError",
    "Interrupted",
    "InventoryError",
    "LabConnectError",
    "LabctlError",
    "LabctlWarning",
    "ProtocolError",
    "SafetyLimitError",
    "StoreError",
    "UnitError",
    "UsageError",
    "cause_chain",
]


class LabctlError(Exception):
    """Root of every error labctl raises on purpose."""


class Interrupted(LabctlError):
    """The operator interrupted the work (Ctrl-C) and it stopped safely (exit code 130).

    The message says what was left and how to go on; the command line prints it as it is.
    """


class UsageError(LabctlError):
    """What was asked for names something that is not there, or cannot be done as asked.

    An unknown campaign, schedule entry or approval; a decision already made. The command line
    reports it as bad input (exit code 2): the lab and its data are fine, the request was not.
    """


class LabctlWarning(UserWarning):
    """Root of every warning labctl emits (low stock, extrapolated model, slow store, ...)."""


class UnitError(LabctlError, ValueError):
    """A quantity could not be parsed, or has the wrong physical dimension.

    Args:
        text: the offending value as given by the user.
        expected: what was expected, in words (e.g. ``"a temperature ([temperature])"``).
        reason: why it was refused.
    """

    def __init__(self, text: object, expected: str, reason: str) -> None:
        self.text = text
        self.expected = expected
        self.reason = reason
        super().__init__(f"{text!r}: {reason}; expected {expected}")


class ConfigIssue:
    """One problem found in a configuration file.

    Args:
        path: key path inside the document, e.g. ``("devices", "glovebox", "timeout")``.
        message: what is wrong and what was expected.
        value: the offending value (``None`` when the key is missing).
    """

    def __init__(self, path: Sequence[str | int], message: str, value: object = None) -> None:
        self.path = tuple(path)
        self.message = message
        self.value = value

    @property
    def key_path(self) -> str:
        """The key path written the way a person reads YAML: ``devices.glovebox.timeout``."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += f".{part}" if text else str(part)
        return text or "(document root)"

    def __str__(self) -> str:
        shown = "" if self.value is None else f" (got {self.value!r})"
        return f"{self.key_path}: {self.message}{shown}"

    def __repr__(self) -> str:
        return f"ConfigIssue({self.key_path!r}, {self.message!r}, {self.value!r})"


class ConfigError(LabctlError):
    """A configuration file cannot be used.

    Args:
        source: the file the configuration came from (or a description such as ``"<string>"``).
        issues: every problem found, each with its key path.
    """

    def __init__(self, source: str | Path, issues: Sequence[ConfigIssue]) -> None:
        self.source = str(source)
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{self.source}: {count} configuration {noun}:\n{lines}")


class CommunicationError(LabctlError):
    """Talking to an instrument failed.

    Args:
        device: the device's name in the lab config (or the driver's name when unknown).
        address: where it was reached (``socket://127.0.0.1:5025``, ``opc.tcp://...``).
        detail: what went wrong, as a sentence.
        sent: the last command sent, if any.
        expected: what reply was expected, if known.
        received: what actually came back, if anything.
    """

    def __init__(
        self,
        device: str,
        address: str,
        detail: str,
        *,
        sent: object = None,
        expected: str | None = None,
        received: object = None,
    ) -> None:
        self.device = device
        self.address = address
        self.detail = detail
        self.sent = sent
        self.expected = expected
        self.received = received
        parts = [f"{device} at {address}: {detail}"]
        if sent is not None:
            parts.append(f"sent {sent!r}")
        if expected is not None:
            parts.append(f"expected {expected}")
        if received is not None:
            parts.append(f"received {received!r}")
        super().__init__("; ".join(parts))


class DeviceConnectionError(CommunicationError):
    """An instrument could not be reached, or the connection dropped."""


class DeviceTimeout(CommunicationError):
    """An instrument did not answer within its configured timeout."""


class ProtocolError(CommunicationError):
    """An instrument's reply does not follow its protocol, or is an error reply."""


class SafetyLimitError(LabctlError):
    """A request exceeds a configured safety limit and was refused before anything was sent.

    Args:
        device: the device whose limit applies.
        quantity: what was limited (``"potential"``, ``"current density"``, ``"volume"``).
        requested: the requested value, with units, as text.
        limit: the limit, with units, as text.
    """

    def __init__(self, device: str, quantity: str, requested: str, limit: str) -> None:
        self.device = device
        self.quantity = quantity
        self.requested = requested
        self.limit = limit
        super().__init__(
            f"{device}: {quantity} {requested} is outside the safety limit {limit}; "
            "nothing was sent to the instrument"
        )


class InterlockError(LabctlError):
    """A safety interlock ended an action, and the hardware was put in a safe state first.

    ``interlock`` names which one (``short_circuit``, ``compliance``, ``gravimetric_mismatch``,
    ``contact_lost``, ``stage_alarm``): a campaign's failure policy may stop on some of them
    (``failure_policy.stop_on``) — a clogged pump needs a person — and skip or retry the others.

    Args:
        message: what tripped, where, and the state the hardware was left in.
        interlock: the interlock's name (default: the class's).
    """

    interlock: str = "interlock"

    def __init__(self, message: str, *, interlock: str | None = None) -> None:
        super().__init__(message)
        if interlock is not None:
            self.interlock = interlock


def cause_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every error behind it, nearest first, each once.

    Follows ``__cause__`` (or ``__context__``) and, for a failed bluesky Status
    (``FailedStatus(status)``), the exception the status failed with — how a device's
    interlock reaches a plan that waited on the device.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = _status_exception(current) or current.__cause__ or current.__context__


def _status_exception(error: BaseException) -> BaseException | None:
    """The exception of the Status a ``FailedStatus`` carries (``None`` for other errors)."""
    if not error.args or isinstance(error.args[0], BaseException):
        return None
    exception = getattr(error.args[0], "exception", None)
    if not callable(exception):
        return None
    try:
        cause = exception()
    except Exception:  # a status object that cannot say: no cause to follow
        return None
    return cause if isinstance(cause, BaseException) else None


INTERLOCKS = ("short_circuit", "compliance", "gravimetric_mismatch", "contact_lost", "stage_alarm")
"""Every interlock a device of labctl can trip (names for ``failure_policy.stop_on``)."""


class InventoryError(LabctlError):
    """A stock, vial or substrate site cannot supply what a request needs."""


class StoreError(LabctlError):
    """The data store could not be opened, written or read."""


class LabConnectError(LabctlError):
    """One or more devices of a lab failed to connect.

    Args:
        failures: device name → the error it raised.
    """

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = dict(failures)
        lines = "\n".join(f"  - {name}: {error}" for name, error in self.failures.items())
        count = len(self.failures)
        noun = "device" if count == 1 else "devices"
        super().__init__(f"{count} {noun} failed to connect:\n{lines}")
