"""Errors of the motion stage: controller alarms, refused commands, stopped moves."""

from __future__ import annotations

from labctl.errors import LabctlError, ProtocolError

__all__ = ["MoveStopped", "StageAlarm", "StageCommandError"]


class StageAlarm(ProtocolError):
    """The motion controller raised an alarm (``ALARM:N``) and locked out motion.

    Args:
        device: the stage's name.
        address: where the controller is.
        code: the alarm code.
        meaning: what the code means.
        sent: the last command sent.
    """

    def __init__(
        self, device: str, address: str, code: int, meaning: str, *, sent: object = None
    ) -> None:
        self.code = code
        self.meaning = meaning
        super().__init__(
            device,
            address,
            f"alarm {code}: {meaning}; motion is locked until the stage is homed or unlocked",
            sent=sent,
        )


class StageCommandError(ProtocolError):
    """The controller refused a command line (``error:N``); nothing of it was executed.

    Args:
        device: the stage's name.
        address: where the controller is.
        code: the error code.
        meaning: what the code means.
        sent: the refused line.
    """

    def __init__(
        self, device: str, address: str, code: int, meaning: str, *, sent: object = None
    ) -> None:
        self.code = code
        self.meaning = meaning
        super().__init__(device, address, f"error {code}: {meaning}", sent=sent)


class MoveStopped(LabctlError):
    """A move was stopped (feed hold, then reset) before it reached its target."""
