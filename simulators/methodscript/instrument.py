"""A simulated PalmSens EmStat4 HR speaking MethodSCRIPT: instrument state and per-link sessions.

:class:`MethodScriptInstrument` is the instrument (limits, identity, the cell model, noise, the
scripts it received, an injected fault) shared by every connection;
:class:`MethodScriptSession` is one link's :class:`~labctl.protocols.TwinSession`: it frames
lines and answers the online commands:

* ``t`` → ``t<firmware version>`` and ``R*`` (two lines, the last ending in ``*``);
* ``i`` → ``i<serial number>``; ``v`` → ``v<MethodSCRIPT version>``;
* ``e`` → the following lines up to an empty line are a script: refused with
  ``e!XXXX: Line L, Col C`` when it does not compile, else run
  (:class:`~labctl.simulators.methodscript.interpreter.ScriptRun`);
* ``Z`` → while a script runs: ``Z``, then the running measurement loop ends, ``on_finished:``
  runs and the closing empty line follows; idle: ``Z!0006``;
* an empty line is ignored; anything else → ``<first char>!0003`` (idle) or ``!0006`` (busy).

Two ways to run a script. In memory (no ``sender``): the whole output is returned by
:meth:`MethodScriptSession.feed` at once (``time_scale`` is not applied: nothing could read it
early). Streamed (a ``sender`` attached by the TCP server): the script runs on its own thread
``twin-<name>-script`` and sends its output as it is produced, paced at ``time_scale`` simulated
seconds per wall second (0 = as fast as possible), while ``feed`` keeps answering — so ``Z``
interrupts a running measurement as on the instrument.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from labctl.simulators.methodscript.interpreter import InstrumentLimits, Respond, ScriptRun
from labctl.simulators.methodscript.script import ScriptError, compile_script

__all__ = ["FIRMWARE", "SERIAL", "MethodScriptInstrument", "MethodScriptSession"]

log = logging.getLogger(__name__)

FIRMWARE = "es4_hr1.4.00#labctl twin"
"""First line of the ``t`` reply (the ``es4_hr`` prefix identifies an EmStat4 HR)."""
SERIAL = "ES4HR-LABCTL-TWIN"
_MAX_LINE = 100_000
_MAX_SCRIPT_LINES = 10_000
_FLUSH_BYTES = 65_536


class MethodScriptInstrument:
    """The simulated instrument.

    Args:
        respond: the electrochemistry model (``respond(technique, state, rng)``).
        state: returns the cell state the model answers for (asked once per measurement loop).
        seed: noise seed.
        time_scale: simulated seconds per wall second for streamed runs (0 = instant).
        limits: what the instrument can apply and measure.
    """

    def __init__(
        self,
        respond: Respond,
        state: Callable[[], Any],
        *,
        seed: int = 0,
        time_scale: float = 0.0,
        limits: InstrumentLimits | None = None,
    ) -> None:
        self.respond = respond
        self.state = state
        self.rng = np.random.default_rng(seed)
        self.time_scale = time_scale
        self.limits = limits or InstrumentLimits()
        self.lock = threading.RLock()
        self.scripts: list[list[str]] = []
        self.pending_error = False
        self.cell_on = False

    def inject_error(self) -> None:
        """Fault: the next script stops at its first measurement loop with ``!0001``."""
        with self.lock:
            self.pending_error = True

    def clear_error(self) -> None:
        """End an :meth:`inject_error` fault that no script has met yet."""
        with self.lock:
            self.pending_error = False

    def new_run(
        self, lines: list[str], abort: threading.Event, pace: Callable[[float], None]
    ) -> ScriptRun | str:
        """A run of ``lines``, or the refusal line when they do not compile."""
        with self.lock:
            self.scripts.append(list(lines))
            try:
                program = compile_script(lines)
            except ScriptError as error:
                return error.reply("e")
            failing, self.pending_error = self.pending_error, False
        return ScriptRun(
            program,
            respond=self.respond,
            state=self.state,
            rng=self.rng,
            limits=self.limits,
            abort=abort,
            pace=pace,
            instrument_error=failing,
            cell_switch=self._switch_cell,
        )

    def _switch_cell(self, on: bool) -> None:
        with self.lock:
            self.cell_on = on


class MethodScriptSession:
    """One link to the instrument.

    Args:
        instrument: the instrument.
        name: for the script thread's name (``twin-<name>-script``).
    """

    def __init__(self, instrument: MethodScriptInstrument, name: str = "methodscript") -> None:
        self.instrument = instrument
        self.name = name
        self._pending = b""
        self._script: list[str] | None = None
        self._sender: Callable[[bytes], None] | None = None
        self._runner: threading.Thread | None = None
        self._busy = False
        self._abort = threading.Event()
        self._buffer = bytearray()
        self._wall_start = 0.0

    # -- streaming (TCP) ----------------------------------------------------------------------
    def attach(self, sender: Callable[[bytes], None]) -> None:
        """Stream script output through ``sender`` (called from the script thread)."""
        self._sender = sender

    def close(self) -> None:
        """The link is gone: abort a running script and wait for its thread."""
        self._abort.set()
        runner = self._runner
        if runner is not None and runner is not threading.current_thread():
            runner.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether a streamed script is running (until its last line is on its way)."""
        return self._busy

    # -- input --------------------------------------------------------------------------------
    def feed(self, data: bytes) -> Iterable[bytes]:
        """Consume ``data``; return the replies it causes (all output, for an in-memory run)."""
        self._pending += data
        if len(self._pending) > _MAX_LINE and b"\n" not in self._pending:
            self._pending = b""
            return [b"!4001\n"]
        out: list[bytes] = []
        while b"\n" in self._pending:
            raw, self._pending = self._pending.split(b"\n", 1)
            text = raw.decode("ascii", errors="replace").rstrip("\r")
            out.extend(self._line(text))
        return out

    def _line(self, text: str) -> list[bytes]:
        if self._script is not None:
            if text.strip():
                self._script.append(text)
                if len(self._script) <= _MAX_SCRIPT_LINES:
                    return []
                self._script = None
                return [b"e!4001: Line 10001, Col 1\n"]
            lines, self._script = self._script, None
            return self._start(lines)
        command = text.strip()
        if self.running:
            if command == "Z":
                self._abort.set()
                return [b"Z\n"]
            return [] if not command else [b"!0006\n"]
        if not command:
            return []
        if command == "t":
            return [f"t{FIRMWARE}\n".encode(), b"R*\n"]
        if command == "i":
            return [f"i{SERIAL}\n".encode()]
        if command == "v":
            return [b"v0108\n"]
        if command == "e":
            self._script = []
            return []
        if command == "Z":
            return [b"Z!0006\n"]
        return [f"{command[0]}!0003\n".encode("ascii", errors="replace")]

    # -- running ------------------------------------------------------------------------------
    def _start(self, lines: list[str]) -> list[bytes]:
        self._abort = threading.Event()
        streamed = self._sender is not None
        run = self.instrument.new_run(lines, self._abort, self._pace if streamed else _no_pace)
        if isinstance(run, str):
            return [run.encode("ascii") + b"\n"]
        if not streamed:
            return [b"".join(run.lines())]
        self._wall_start = time.monotonic()
        self._busy = True
        self._runner = threading.Thread(
            target=self._stream, args=(run,), name=f"twin-{self.name}-script", daemon=True
        )
        self._runner.start()
        return []

    def _flush(self) -> None:
        if self._buffer and self._sender is not None:
            data, self._buffer = bytes(self._buffer), bytearray()
            self._sender(data)

    def _pace(self, instrument_time: float) -> None:
        scale = self.instrument.time_scale
        if scale <= 0:
            return
        self._flush()
        delay = self._wall_start + instrument_time / scale - time.monotonic()
        if delay > 0:
            self._abort.wait(delay)

    def _stream(self, run: ScriptRun) -> None:
        try:
            with contextlib.suppress(OSError):
                try:
                    for chunk in run.lines():
                        self._buffer.extend(chunk)
                        if len(self._buffer) >= _FLUSH_BYTES:
                            self._flush()
                except Exception:  # a twin bug must reach the driver as an instrument error
                    log.exception("%s: the script run failed", self.name)
                    self._buffer.extend(b"!0001: Line 0\n\n")
                # Idle before the closing line leaves, as the instrument is: a driver that sends
                # the next script as soon as it reads that line must not be told "busy" (!0006).
                self._busy = False
                self._flush()
        finally:
            self._busy = False


def _no_pace(instrument_time: float) -> None:
    del instrument_time
