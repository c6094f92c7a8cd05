"""Pause, resume and abort a RunEngine from another thread (the status server's methods).

bluesky lets any thread *request a pause* (:meth:`~bluesky.RunEngine.request_pause`) and abort
a *running* plan. Resuming — or aborting a *paused* plan, which runs its cleanup — re-enters the
RunEngine's loop in the calling thread and installs a SIGINT handler, which only the main thread
may do; so those two are done by the thread that owns the plan: :meth:`RunEngineControl.run`
runs a plan like ``RE(plan)`` and, when the plan is paused, waits for a Resume or Abort command
(from the status server, or Ctrl-C, which aborts), and carries it out itself.

A plan started elsewhere (``RE(plan)`` at the bench console) can be paused from the server; it is
resumed or aborted where it was started (``RE.resume()``), and the server says so.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import Any, Literal

from labctl.errors import LabctlError

__all__ = ["ControlRefused", "RunEngineControl"]

Command = Literal["resume", "abort"]


class ControlRefused(LabctlError):
    """The RunEngine cannot do what was asked in its present state (the message says why)."""


class RunEngineControl:
    """Thread-safe pause/resume/abort of one RunEngine.

    Args:
        run_engine: the lab's RunEngine.
    """

    def __init__(self, run_engine: Any) -> None:
        self.RE = run_engine
        self._commands: queue.Queue[tuple[Command, str]] = queue.Queue()
        self._owner_waiting = threading.Event()

    @property
    def state(self) -> str:
        """The RunEngine's state (``idle``, ``running``, ``paused``, ...)."""
        return str(self.RE.state)

    def run(self, plan: Generator[Any, Any, Any]) -> Any:
        """Run ``plan`` in this thread, obeying Resume and Abort while it is paused.

        Returns what the RunEngine returns for the plan, or ``None`` when it was aborted while
        running. Ctrl-C while paused aborts the plan and raises :class:`KeyboardInterrupt`.
        """
        from bluesky.utils import RunEngineInterrupted

        try:
            return self.RE(plan)
        except RunEngineInterrupted:
            pass
        while self.state == "paused":
            try:
                command, reason = self._next_command()
            except KeyboardInterrupt:
                self.RE.abort("interrupted (Ctrl-C) while paused")
                raise
            try:
                if command == "resume":
                    return self.RE.resume()
                return self.RE.abort(reason)
            except RunEngineInterrupted:
                continue  # paused again: wait for the next command
        return None

    def _next_command(self) -> tuple[Command, str]:
        # Drop commands a previous pause left unanswered: they were refused already.
        while True:
            try:
                self._commands.get_nowait()
            except queue.Empty:
                break
        self._owner_waiting.set()
        try:
            while True:
                try:
                    # A short timeout keeps Ctrl-C responsive in the waiting thread.
                    return self._commands.get(timeout=0.2)
                except queue.Empty:
                    continue
        finally:
            self._owner_waiting.clear()

    def pause(self, *, defer: bool) -> str:
        """Ask the running plan to pause (``defer``: at its next checkpoint, like one Ctrl-C).

        Raises:
            ControlRefused: nothing is running.
        """
        from bluesky._vendor.super_state_machine.errors import TransitionError

        if self.state != "running":
            raise ControlRefused(f"nothing to pause: the RunEngine is {self.state}")
        try:
            self.RE.request_pause(defer=defer)
        except (TransitionError, RuntimeError) as error:
            raise ControlRefused(f"the RunEngine refused to pause: {error}") from None
        return "pausing at the next checkpoint" if defer else "pausing now"

    def resume(self) -> str:
        """Resume a paused plan (its owner thread does it).

        Raises:
            ControlRefused: nothing is paused, or the plan's owner is not a labctl runner.
        """
        if self.state != "paused":
            raise ControlRefused(f"nothing to resume: the RunEngine is {self.state}")
        if not self._owner_waiting.is_set():
            raise ControlRefused(
                "the plan was started outside labctl's runner; resume it where it was started "
                "(RE.resume())"
            )
        self._commands.put(("resume", ""))
        return "resuming"

    def abort(self, reason: str = "aborted by an operator") -> str:
        """Abort the running or paused plan (a paused one is aborted by its owner thread).

        Raises:
            ControlRefused: nothing runs, or a paused plan's owner is not a labctl runner.
        """
        from bluesky._vendor.super_state_machine.errors import TransitionError

        state = self.state
        if state == "running":
            try:
                self.RE.abort(reason)
            except (TransitionError, RuntimeError) as error:
                raise ControlRefused(f"the RunEngine refused to abort: {error}") from None
            return "aborted"
        if state == "paused":
            if not self._owner_waiting.is_set():
                raise ControlRefused(
                    "the plan was started outside labctl's runner; abort it where it was "
                    "started (RE.abort())"
                )
            self._commands.put(("abort", reason))
            return "aborting"
        raise ControlRefused(f"nothing to abort: the RunEngine is {state}")
