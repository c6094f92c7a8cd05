r"""Potentiostat driver for PalmSens EmStat-family instruments speaking MethodSCRIPT over serial.

The address is any pyserial port or URL (``/dev/ttyACM0``, ``COM3``,
``socket://127.0.0.1:PORT`` for a twin). Every technique becomes one script
(:mod:`labctl.devices.potentiostat.methodscript_scripts`), sent with the ``e`` command (execute:
the script's lines, each ended by ``\n``, and an empty line that ends the script). The instrument
answers ``e`` when it starts, streams data packages while it measures and ends with an empty line;
the packages are parsed as they arrive
(:mod:`labctl.devices.potentiostat.methodscript_packets`).

Commands used, from the online communication protocol of the EmStat4/EmStat Pico as PalmSens'
example code uses it (``palmsens/instrument.py`` of ``PalmSens/MethodSCRIPT_Examples``):

* ``t`` firmware version (``t<version>`` ... a line ending in ``*``), ``i`` serial number
  (``i<serial>``): :meth:`MethodScriptDriver.identify`;
* ``Z`` abort: the instrument answers ``Z``, finishes the running measurement loop, runs the
  script's ``on_finished:`` (``cell_off``) and ends with an empty line; ``Z!0006`` when nothing
  was running. :meth:`MethodScriptDriver.open` starts with ``\n`` + ``Z`` to get the instrument
  into a known state (a script left running by a lost connection is aborted and drained);
* after a refused command (an ``!`` reply) the instrument wants ≥ 50 ms of quiet: honoured.

Errors: a refused script (``e!XXXX``) or an error while it runs (``!XXXX``) raises
:class:`~labctl.errors.ProtocolError` naming the device, the address, the script sent and the
error line; after an error during the run the driver runs ``cell_off`` so the cell is left at
open circuit (after a refused script it re-synchronises before the next command). No line within
``timeout`` plus the longest expected gap between packages raises
:class:`~labctl.errors.DeviceTimeout`, a dropped link
:class:`~labctl.errors.DeviceConnectionError`, bytes that are not MethodSCRIPT replies
:class:`~labctl.errors.ProtocolError`. After any of these wire failures the link is closed; the
next call reopens it and re-synchronises, so the driver recovers as soon as the instrument answers
again. When the ``stop`` event is set the driver sends ``Z`` and returns the data measured so far.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from labctl.devices.potentiostat.errors import TechniqueNotSupportedError
from labctl.devices.potentiostat.methodscript_packets import (
    MethodScriptContext,
    Reply,
    Variable,
    parse_firmware,
    parse_reply,
    reply_text,
)
from labctl.devices.potentiostat.methodscript_scripts import ScriptPlan, build_script
from labctl.errors import CommunicationError, DeviceTimeout, ProtocolError
from labctl.transports.line import BufferedLineTransport
from labctl.transports.link import LineInstrumentLink

__all__ = ["CURRENT_RANGE", "POTENTIAL_WINDOW", "MethodScriptDriver", "TechniqueNotSupportedError"]

CURRENT_RANGE = 0.1
"""Largest current range of an EmStat4 HR, A (range index 27 = 100 mA in PalmSens' tables)."""
POTENTIAL_WINDOW = 6.0
"""Largest |potential| an EmStat4 HR applies or measures, V (the driver's default window)."""

_DEVICE_TYPES = (
    ("espico", "EmStat Pico"),
    ("es4_hr", "EmStat4 HR"),
    ("es4_lr", "EmStat4 LR"),
    ("mes4hr", "MultiEmStat4 HR"),
    ("mes4lr", "MultiEmStat4 LR"),
    ("nexus", "Nexus"),
)
"""Firmware-version prefix → instrument (PalmSens' ``instrument.py`` maps them the same way)."""
_ERROR_QUIET = 0.1
_POLL = 0.05
_MAX_STRAY_LINES = 10_000


class _InstrumentError(ProtocolError):
    """The instrument reported an error (``!XXXX``); the link itself is in order."""

    def __init__(self, *args: Any, started: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = started


class MethodScriptDriver(LineInstrumentLink):
    """A PalmSens MethodSCRIPT instrument (EmStat4, EmStat Pico) as a potentiostat driver.

    Args:
        address: a pyserial port or URL.
        device: the device's name, for messages.
        timeout: seconds to wait for any one reply line (beyond the technique's own sampling
            interval while it measures).
        baudrate: for real serial ports (ignored by ``socket://``).
        transport: the line transport to use instead of a :class:`SerialTransport` (tests pass a
            :class:`~labctl.transports.memory.MemoryTransport`).
        current_range: the largest current to apply or measure, A.
        potential_window: the largest |potential| of galvanostatic segments, V.
    """

    supports: frozenset[str] = frozenset(
        {"ocv", "ca", "cp", "lsv", "cv", "eis", "pulse_train", "plate_strip"}
    )

    def __init__(
        self,
        address: str,
        *,
        device: str,
        timeout: float,
        baudrate: int = 230400,
        transport: BufferedLineTransport | None = None,
        current_range: float = CURRENT_RANGE,
        potential_window: float = POTENTIAL_WINDOW,
    ) -> None:
        super().__init__(
            address, device=device, timeout=timeout, baudrate=baudrate, transport=transport
        )
        self.current_range = current_range
        self.potential_window = potential_window
        self._last_error = 0.0

    # -- connection ---------------------------------------------------------------------------
    def identify(self) -> str:
        """Instrument, firmware version and serial number (from ``t`` and ``i``)."""
        with self._lock:
            self._ensure_open()
            try:
                firmware = self._firmware()
                serial = self._query_one("i")
            except CommunicationError:
                self._drop()
                raise
        model = next((name for prefix, name in _DEVICE_TYPES if firmware.startswith(prefix)), "")
        return f"{model or 'MethodSCRIPT instrument'}, firmware {firmware}, serial {serial}"

    def abort(self) -> None:
        """Abort a running script (its ``on_finished:`` turns the cell off); idle: nothing."""
        with self._lock:
            self._ensure_open()
            try:
                self._abort_and_drain()
            except CommunicationError:
                self._drop()
                raise

    def _synchronise(self) -> None:
        """Abort a script left running by a lost connection and drain its output."""
        try:
            self._transport.discard_input()
            self._write(b"\n")
            self._abort_and_drain()
        except CommunicationError:
            self._drop()
            raise

    def _context(self, sent: str) -> MethodScriptContext:
        return MethodScriptContext(self.device, self.address, sent)

    def _write(self, data: bytes) -> None:
        quiet = self._last_error + _ERROR_QUIET - time.monotonic()
        if quiet > 0:
            time.sleep(quiet)
        self._transport.write(data)

    def _read(self, sent: str, expected: str, timeout: float | None = None) -> str:
        line = self._transport.read_line(timeout)
        return reply_text(line, self._context(sent), expected)

    def _read_answer(self, sent: str, expected: str) -> str:
        """The reply to a query, skipping a late ``Z``/``Z!0006`` of an abort that met the end."""
        for _ in range(4):
            text = self._read(sent, expected)
            if not text.startswith("Z"):
                return text
        return text

    def _abort_and_drain(self) -> None:
        """Send ``Z``; when a script was running, read until it ends (its empty line)."""
        self._write(b"Z\n")
        for _ in range(_MAX_STRAY_LINES):
            text = self._read("Z", "Z or Z!0006")
            if text.startswith("Z"):
                break
        else:
            raise self._context("Z").error("no answer to the abort", "Z or Z!0006", text)
        if text != "Z":
            self._last_error = time.monotonic()
            return
        for _ in range(10 * _MAX_STRAY_LINES):
            if self._read("Z", "the script's remaining output", self.timeout) == "":
                return

    def _firmware(self) -> str:
        self._transport.discard_input()
        self._write(b"t\n")
        lines: list[bytes | str] = [self._read_answer("t", "t<firmware version>")]
        while not str(lines[-1]).endswith("*") and len(lines) < 4:
            lines.append(self._read("t", "the rest of the firmware version, ending in *"))
        return parse_firmware(lines, self._context("t"))

    def _query_one(self, command: str) -> str:
        self._transport.discard_input()
        self._write(command.encode("ascii") + b"\n")
        text = self._read_answer(command, f"{command}<value>")
        if not text.startswith(command) or "!" in text[:2]:
            raise self._context(command).error("unexpected reply", f"{command}<value>", text)
        return text[len(command) :].strip()

    # -- techniques ---------------------------------------------------------------------------
    def script(self, technique: Any) -> ScriptPlan:
        """The script :meth:`run` would send for ``technique`` (nothing is sent)."""
        spec = _spec(technique)
        kind = str(spec.get("kind", ""))
        if kind not in self.supports:
            raise TechniqueNotSupportedError(
                f"{self.device}: technique {kind!r} is not one of {sorted(self.supports)}"
            )
        return build_script(
            spec, current_range=self.current_range, potential_window=self.potential_window
        )

    def run(self, technique: Any, *, stop: threading.Event) -> dict[str, np.ndarray]:
        """Run ``technique``; return its curve as arrays in SI units.

        ``technique`` is a technique model (anything with ``as_si()``) or its SI mapping. The
        result holds ``time`` (s), ``potential`` (V) and ``current`` (A), or for EIS
        ``frequency`` (Hz), ``z_real`` and ``z_imag`` (Ω). When ``stop`` is set the script is
        aborted (the cell goes to open circuit) and the data measured so far are returned.
        """
        plan = self.script(technique)
        with self._lock:
            self._ensure_open()
            try:
                packets = self._execute(plan, stop)
            except _InstrumentError as error:
                if error.started:
                    self._cell_off_quietly()
                else:
                    # Lines after the refused one may still draw replies: re-synchronise.
                    self._synced = False
                raise
            except CommunicationError:
                self._drop()
                raise
        return _columns(packets, plan, self._context(plan.lines[0]))

    def _execute(self, plan: ScriptPlan, stop: threading.Event) -> list[tuple[Variable, ...]]:
        sent = f"e + {plan.kind} script: " + "; ".join(plan.lines[:12]) + " ..."
        context = self._context(sent)
        wait = self.timeout + plan.packet_gap
        self._transport.discard_input()
        self._write(plan.text.encode("ascii"))
        packets: list[tuple[Variable, ...]] = []
        accepted = aborted = False
        deadline = time.monotonic() + wait
        while True:
            if stop.is_set() and not aborted:
                self._write(b"Z\n")
                aborted = True
                deadline = time.monotonic() + wait
            reply = self._next_reply(context, deadline, wait, stop, accepted)
            if reply is None:
                continue
            deadline = time.monotonic() + wait
            if reply.kind == "packet":
                if not accepted:
                    raise context.error("data arrived before the script started", "e", reply.text)
                packets.append(reply.variables)
            elif reply.kind == "accepted":
                accepted = True
            elif reply.kind == "end" and accepted:
                return packets
            elif reply.kind == "error":
                self._last_error = time.monotonic()
                if accepted:
                    self._drain_after_error()
                raise _InstrumentError(
                    self.device,
                    self.address,
                    f"the instrument {'stopped the script' if accepted else 'refused the script'}"
                    f" with error 0x{reply.code:04X}",
                    sent=sent,
                    expected="e, data packages and an empty line",
                    received=reply.text,
                    started=accepted,
                )

    def _next_reply(
        self,
        context: MethodScriptContext,
        deadline: float,
        wait: float,
        stop: threading.Event,
        accepted: bool,
    ) -> Reply | None:
        """The next line, or ``None`` after a short poll with nothing complete (stop check)."""
        started = time.monotonic()
        remaining = deadline - started
        if remaining <= 0:
            raise DeviceTimeout(
                self.device,
                self.address,
                f"no reply within {wait:g} s "
                f"{'while the script ran' if accepted else 'to the script'} "
                "(instrument silent or connection lost)",
                sent=context.sent,
                expected="a data package or the empty line that ends the script",
            )
        try:
            line = self._transport.read_line(min(_POLL, remaining))
        except DeviceTimeout:
            if time.monotonic() - started < _POLL / 2:
                stop.wait(min(_POLL, remaining))  # nothing can arrive on an in-memory line
            return None
        return parse_reply(line, context)

    def _drain_after_error(self) -> None:
        """After a run-time error: read up to the empty line that ends the output (best effort)."""
        with contextlib.suppress(CommunicationError):
            for _ in range(_MAX_STRAY_LINES):
                if self._read("", "the end of the script", self.timeout) == "":
                    return

    def _cell_off_quietly(self) -> None:
        """After an error: run a one-line ``cell_off`` script so the cell is at open circuit."""
        if not self._synced:
            return
        with contextlib.suppress(CommunicationError):
            self._transport.discard_input()
            self._write(b"e\ncell_off\n\n")
            for _ in range(100):
                text = self._read("e cell_off", "e and an empty line", self.timeout)
                if text == "" or "!" in text:
                    return


def _spec(technique: Any) -> dict[str, Any]:
    source: Mapping[str, Any] = technique.as_si() if hasattr(technique, "as_si") else technique
    return dict(source)


_POTENTIALS = ("ab", "da")
_CURRENTS = ("ba", "db")


def _pick(variables: tuple[Variable, ...], types: tuple[str, ...]) -> float | None:
    for wanted in types:
        for variable in variables:
            if variable.type == wanted:
                return variable.value
    return None


def _columns(
    packets: list[tuple[Variable, ...]], plan: ScriptPlan, context: MethodScriptContext
) -> dict[str, np.ndarray]:
    """Data packages → the technique contract's arrays."""
    wanted: tuple[tuple[str, ...], ...]
    if plan.columns == "eis":
        names, wanted = ("frequency", "z_real", "z_imag"), (("dc",), ("cc",), ("cd",))
    else:
        names, wanted = ("time", "potential", "current"), (("eb",), _POTENTIALS, _CURRENTS)
    rows = np.zeros((len(packets), 3))
    for index, variables in enumerate(packets):
        for column, types in enumerate(wanted):
            value = _pick(variables, types)
            if value is None:
                if names[column] == "current" and plan.kind == "ocv":
                    value = 0.0
                else:
                    raise context.error(
                        f"a data package lacks {names[column]} ({'/'.join(types)})",
                        f"variables {', '.join('/'.join(t) for t in wanted)}",
                        ";".join(f"{v.type}={v.value:g}" for v in variables),
                    )
            rows[index, column] = value
    return {name: rows[:, column].copy() for column, name in enumerate(names)}
