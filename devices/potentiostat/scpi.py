"""Potentiostat driver for a SCPI source-measure unit (Keithley 2450 class) over VISA.

An SMU is a two-quadrant-plus galvanostat/potentiostat without a reference-electrode input: it
sources a current and measures the cell voltage (OCV, CP, pulse trains, plate/strip) or sources a
voltage and measures the current (CA, LSV, CV). It cannot do impedance spectroscopy: ``eis`` is
not in :attr:`ScpiSmuDriver.supports` and asking for it raises
:class:`TechniqueNotSupportedError`.

How a technique becomes SCPI
----------------------------
Every technique is a *source list* played by the instrument's list sweep: the driver writes the
list (``SOUR:LIST:CURR``/``SOUR:LIST:VOLT``, appended in chunks with ``:APP``), configures the
sweep with a per-point source delay (``SOUR:SWE:CURR:LIST 1, <delay>, 1, OFF, "defbuffer1"``),
turns the output on, ``INIT``s, polls ``TRIG:STAT?`` until ``IDLE`` (or the ``stop`` event, which
aborts), and reads the new readings back with
``TRAC:DATA? <first>, <last>, "defbuffer1", READ, SOUR, REL``. One reading is taken at the end of
each point's delay, so the delay is the sampling interval:

* OCV: 0 A for ``duration``, one point per ``interval`` (voltage limit = compliance).
* CP: ``current`` for ``duration``, one point per ``interval``.
* CA: ``potential`` for ``duration``, one point per ``interval`` (current limit).
* LSV/CV: voltage staircase with ``step`` volts per point, delay ``step / scan_rate``.
* Pulse train: each point lasts ``interval``; ``on_time`` becomes ``round(on_time / interval)``
  points at ``on_current`` and ``off_time`` ``round(off_time / interval)`` points at
  ``off_current`` (at least one point each), repeated ``cycles`` times. On/off times are thus
  quantised to the interval; choose an interval that divides both.
* Plate/strip: plate at ``plate_current`` for ``plate_charge / |plate_current|``; rest at 0 A for
  ``rest_time``; strip at ``strip_current`` in chunks of :attr:`ScpiSmuDriver.chunk` points until
  the measured potential crosses ``cutoff_potential`` (data are cut at the first crossing) or the
  stripped charge reaches ``1.5 × plate_charge``.

Every configuration command is followed by ``SYST:ERR?`` on the same line
(``<command>;:SYST:ERR?`` — one write per step, which also avoids a TCP delayed-ACK stall of
~40 ms per step over VISA sockets); a non-zero entry raises
:class:`~labctl.errors.ProtocolError` naming the device, address, the command and the error text.
Any wire failure (timeout, dropped connection, unreadable reply) closes the VISA session; the
next call opens a fresh one, so the driver recovers once the instrument answers again.

Why not PyMeasure's ``Keithley2450``: it has no source lists, list sweeps or buffer read-back
(``TRAC:DATA?`` with element lists), does not check the error queue after each setting, and
ships no type information (``mypy --strict``). Its command strings were compared with the
2450 reference manual; this driver talks to the instrument through PyVISA directly.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyvisa
from pyvisa import constants
from pyvisa.errors import VisaIOError

from labctl.devices.potentiostat.errors import TechniqueNotSupportedError
from labctl.devices.potentiostat.scpi_replies import (
    ScpiContext,
    parse_error_entry,
    parse_identity,
    parse_int,
    parse_numbers,
    parse_token,
)
from labctl.errors import (
    CommunicationError,
    DeviceConnectionError,
    DeviceTimeout,
    ProtocolError,
)
from labctl.transports.link import InstrumentLink

__all__ = ["ScpiSmuDriver", "TechniqueNotSupportedError"]

VOLTAGE_RANGE = 21.0
"""Largest voltage a 2450 sources or measures, V."""
CURRENT_RANGE = 1.05
"""Largest current a 2450 sources or measures, A."""
_LIST_CHUNK = 100
_READ_CHUNK = 1000
_MAX_ERRORS = 32
_TRIGGER_DONE = frozenset({"IDLE", "EMPTY", "ABORTED"})
_TRIGGER_STATES = _TRIGGER_DONE | {
    "RUNNING",
    "WAITING",
    "BUILDING",
    "ABORTING",
    "PAUSED",
    "FAILED",
}
"""``TRIG:STAT?`` answers (first field of ``<state>;<state>;<block>``): done, busy or failed."""


_Segment = tuple[str, np.ndarray, float]
"""(source function ``CURR``/``VOLT``, values, delay per point in s)."""


class ScpiSmuDriver(InstrumentLink):
    """A Keithley 2450-class SMU as a potentiostat driver.

    Args:
        address: any VISA resource (``TCPIP::127.0.0.1::5025::SOCKET``, ``USB0::...::INSTR``).
        device: the device's name, for messages.
        timeout: seconds to wait for any one reply.
        backend: the PyVISA backend (``"@py"`` = pyvisa-py).
        voltage_limit: voltage compliance of current-sourcing techniques, V (a technique's own
            ``compliance_voltage`` wins).
        current_limit: current limit of voltage-sourcing techniques, A (a technique's own
            ``current_limit`` wins).
        chunk: points per strip segment of plate/strip (the cut-off is checked between chunks).
        poll_interval: seconds between ``TRIG:STAT?`` polls while a sweep runs.
    """

    supports: frozenset[str] = frozenset(
        {"ocv", "ca", "cp", "lsv", "cv", "pulse_train", "plate_strip"}
    )

    def __init__(
        self,
        address: str,
        *,
        device: str,
        timeout: float,
        backend: str = "@py",
        voltage_limit: float = VOLTAGE_RANGE,
        current_limit: float = CURRENT_RANGE,
        chunk: int = 200,
        poll_interval: float = 0.02,
    ) -> None:
        super().__init__(address, device=device, timeout=timeout)
        self.backend = backend
        self.voltage_limit = voltage_limit
        self.current_limit = current_limit
        self.chunk = chunk
        self.poll_interval = poll_interval
        self._manager: pyvisa.ResourceManager | None = None
        self._resource: Any = None
        self._read_so_far = 0

    # -- connection -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the VISA session and the resource manager (idempotent)."""
        with self._lock:
            super().close()
            if self._manager is not None:
                with contextlib.suppress(Exception):
                    self._manager.close()
                self._manager = None

    def identify(self) -> str:
        """The instrument's ``*IDN?`` reply."""
        identity: str = self._parsed("*IDN?", parse_identity)
        return identity

    def abort(self) -> None:
        """Stop any sweep and turn the output off (the cell is left at open circuit)."""
        with self._lock:
            self._configure("ABOR;:OUTP OFF")

    def _ensure_open(self) -> Any:
        if self._resource is not None:
            return self._resource
        try:
            if self._manager is None:
                self._manager = pyvisa.ResourceManager(self.backend)
            resource = self._manager.open_resource(
                self.address,
                read_termination="\n",
                write_termination="\n",
                timeout=max(1, int(self.timeout * 1000)),
                open_timeout=max(1, int(self.timeout * 1000)),
            )
        except VisaIOError as error:
            raise DeviceConnectionError(
                self.device, self.address, f"cannot open the VISA session ({error.description})"
            ) from error
        except (OSError, ValueError) as error:
            raise DeviceConnectionError(
                self.device, self.address, f"cannot open the VISA session ({error})"
            ) from error
        self._resource = resource
        return resource

    def _drop(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            with contextlib.suppress(Exception):
                resource.close()

    def _context(self, sent: str) -> ScpiContext:
        return ScpiContext(self.device, self.address, sent)

    def _write(self, command: str) -> None:
        with self._lock:
            resource = self._ensure_open()
            try:
                resource.write(command)
            except VisaIOError as error:
                self._drop()
                raise self._wire_error(error, command) from error
            except (OSError, ValueError) as error:
                self._drop()
                raise DeviceConnectionError(
                    self.device, self.address, f"the connection failed ({error})", sent=command
                ) from error

    def _query(self, command: str) -> bytes:
        with self._lock:
            self._write(command)
            resource = self._resource
            try:
                reply: bytes = resource.read_raw()
            except VisaIOError as error:
                self._drop()
                raise self._wire_error(error, command) from error
            except (OSError, ValueError) as error:
                self._drop()
                raise DeviceConnectionError(
                    self.device, self.address, f"the connection failed ({error})", sent=command
                ) from error
            return reply

    def _parsed(self, command: str, parse: Any, *args: Any, **kwargs: Any) -> Any:
        """Query and parse; a reply that does not parse also resets the session."""
        reply = self._query(command)
        try:
            return parse(reply, self._context(command), *args, **kwargs)
        except ProtocolError:
            self._drop()
            raise

    def _wire_error(self, error: VisaIOError, command: str) -> CommunicationError:
        if error.error_code == constants.StatusCode.error_timeout:
            return DeviceTimeout(
                self.device,
                self.address,
                f"no reply within {self.timeout:g} s (instrument silent or connection lost)",
                sent=command,
                expected="a reply line",
            )
        return DeviceConnectionError(
            self.device, self.address, f"the connection failed ({error.description})", sent=command
        )

    def _configure(self, command: str) -> None:
        """Send one configuration command and check the error queue.

        The command and ``SYST:ERR?`` travel on one line (``<command>;:SYST:ERR?``): one write
        per step, so no TCP delayed-ACK stall between a command and its check.
        """
        with self._lock:
            line = f"{command};:SYST:ERR?"
            reply = self._query(line)
            try:
                code, message = parse_error_entry(reply, self._context(line))
            except ProtocolError:
                self._drop()
                raise
            if code == 0:
                return
            entries = [f"{code},{message!r}"]
            for _ in range(_MAX_ERRORS):
                more, text = self._parsed("SYST:ERR?", parse_error_entry)
                if more == 0:
                    break
                entries.append(f"{more},{text!r}")
            raise ProtocolError(
                self.device,
                self.address,
                "the instrument refused the command: " + "; ".join(entries),
                sent=command,
                expected='0,"No error"',
                received=f'{code},"{message}"',
            )

    # -- techniques -------------------------------------------------------------------------
    def run(self, technique: Any, *, stop: threading.Event) -> dict[str, np.ndarray]:
        """Run ``technique``; return ``time`` (s), ``potential`` (V) and ``current`` (A) arrays.

        ``technique`` is a technique model (anything with ``as_si()``) or its SI mapping.

        When ``stop`` is set the sweep is aborted, the output turned off and the data taken so
        far returned.
        """
        source: Mapping[str, Any] = technique.as_si() if hasattr(technique, "as_si") else technique
        spec = dict(source)
        kind = str(spec.get("kind", ""))
        if kind == "eis":
            raise TechniqueNotSupportedError(
                f"{self.device}: a source-measure unit cannot do impedance spectroscopy (EIS); "
                "use a potentiostat with a frequency-response analyser (the MethodSCRIPT driver)"
            )
        if kind not in self.supports:
            raise TechniqueNotSupportedError(
                f"{self.device}: technique {kind!r} is not one of {sorted(self.supports)}"
            )
        with self._lock:
            self._configure("ABOR")
            self._configure('TRAC:CLE "defbuffer1"')
            self._read_so_far = 0
            columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            try:
                if kind == "plate_strip":
                    self._plate_strip(spec, stop, columns)
                else:
                    for segment in _segments(spec):
                        if stop.is_set():
                            break
                        columns.append(self._sweep(segment, spec, stop))
            except BaseException:
                self._output_off_quietly()
                raise
            self.abort()
        return _joined(columns)

    def _output_off_quietly(self) -> None:
        """After a failure: try to leave the cell at open circuit, never raise."""
        if self._resource is None:
            return
        with contextlib.suppress(CommunicationError):
            self.abort()

    def _limit_command(self, function: str, spec: Mapping[str, Any]) -> str:
        if function == "CURR":
            limit = float(spec.get("compliance_voltage") or self.voltage_limit)
            return f"SOUR:CURR:VLIM {min(limit, VOLTAGE_RANGE):.6g}"
        limit = float(spec.get("current_limit") or self.current_limit)
        return f"SOUR:VOLT:ILIM {min(limit, CURRENT_RANGE):.6g}"

    def _sweep(
        self, segment: _Segment, spec: Mapping[str, Any], stop: threading.Event
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Play one source list; return (time, potential, current) of its readings."""
        function, values, delay = segment
        sense = "VOLT" if function == "CURR" else "CURR"
        self._configure(f"SOUR:FUNC {function}")
        self._configure(self._limit_command(function, spec))
        self._configure(f'SENS:FUNC "{sense}"')
        for start in range(0, len(values), _LIST_CHUNK):
            part = ",".join(f"{value:.7g}" for value in values[start : start + _LIST_CHUNK])
            verb = "SOUR:LIST:" + function + (":APP" if start else "")
            self._configure(f"{verb} {part}")
        self._configure(f'SOUR:SWE:{function}:LIST 1, {delay:.7g}, 1, OFF, "defbuffer1"')
        self._configure("OUTP ON")
        self._configure("INIT")
        deadline = time.monotonic() + delay * len(values) + self.timeout
        while True:
            state = self._parsed("TRIG:STAT?", parse_token, _TRIGGER_STATES)
            if state == "FAILED":
                raise ProtocolError(
                    self.device,
                    self.address,
                    "the instrument's trigger model failed during the sweep",
                    sent="TRIG:STAT?",
                    expected="RUNNING or IDLE",
                    received=state,
                )
            if state in _TRIGGER_DONE:
                break
            if stop.wait(self.poll_interval):
                self._configure("ABOR")
                break
            if time.monotonic() > deadline:
                self._write("ABOR")
                raise DeviceTimeout(
                    self.device,
                    self.address,
                    f"the sweep of {len(values)} points did not finish in time",
                    sent="TRIG:STAT?",
                    expected="IDLE",
                )
        reading, source, elapsed = self._read_new()
        if function == "CURR":
            return elapsed, reading, source
        return elapsed, source, reading

    def _read_new(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total = self._parsed('TRAC:ACT? "defbuffer1"', parse_int)
        out: list[float] = []
        first = self._read_so_far + 1
        while first <= total:
            last = min(total, first + _READ_CHUNK - 1)
            command = f'TRAC:DATA? {first}, {last}, "defbuffer1", READ, SOUR, REL'
            out.extend(self._parsed(command, parse_numbers, count=3 * (last - first + 1)))
            first = last + 1
        self._read_so_far = max(self._read_so_far, total)
        data = np.asarray(out, dtype=float).reshape(-1, 3)
        return data[:, 0], data[:, 1], data[:, 2]

    def _plate_strip(
        self,
        spec: Mapping[str, Any],
        stop: threading.Event,
        columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ) -> None:
        interval = float(spec["interval"])
        plate_current = float(spec["plate_current"])
        plate_charge = abs(float(spec["plate_charge"]))
        strip_current = float(spec["strip_current"])
        cutoff = float(spec["cutoff_potential"])
        plate_points = _points(plate_charge / abs(plate_current), interval)
        columns.append(
            self._sweep(("CURR", np.full(plate_points, plate_current), interval), spec, stop)
        )
        rest = float(spec.get("rest_time") or 0.0)
        if rest > 0 and not stop.is_set():
            columns.append(
                self._sweep(("CURR", np.zeros(_points(rest, interval)), interval), spec, stop)
            )
        max_points = _points(1.5 * plate_charge / abs(strip_current), interval)
        rising = strip_current > 0
        done = 0
        while done < max_points and not stop.is_set():
            count = min(self.chunk, max_points - done)
            elapsed, potential, current = self._sweep(
                ("CURR", np.full(count, strip_current), interval), spec, stop
            )
            done += count
            crossed = np.flatnonzero(potential >= cutoff if rising else potential <= cutoff)
            if len(crossed):
                end = int(crossed[0]) + 1
                columns.append((elapsed[:end], potential[:end], current[:end]))
                return
            columns.append((elapsed, potential, current))


def _points(duration: float, interval: float) -> int:
    if not (math.isfinite(duration) and math.isfinite(interval)) or interval <= 0:
        raise ValueError(f"cannot sample {duration} s at an interval of {interval} s")
    return max(1, round(duration / interval))


def _staircase(start: float, end: float, step: float) -> np.ndarray:
    count = max(1, round(abs(end - start) / abs(step)))
    return np.linspace(start, end, count + 1)


def _segments(spec: Mapping[str, Any]) -> list[_Segment]:
    """The source lists of every technique but plate/strip."""
    kind = spec["kind"]
    if kind == "ocv":
        interval = float(spec["interval"])
        return [("CURR", np.zeros(_points(float(spec["duration"]), interval)), interval)]
    if kind == "cp":
        interval = float(spec["interval"])
        count = _points(float(spec["duration"]), interval)
        return [("CURR", np.full(count, float(spec["current"])), interval)]
    if kind == "ca":
        interval = float(spec["interval"])
        count = _points(float(spec["duration"]), interval)
        return [("VOLT", np.full(count, float(spec["potential"])), interval)]
    if kind == "lsv":
        step = abs(float(spec["step"]))
        values = _staircase(float(spec["start"]), float(spec["end"]), step)
        return [("VOLT", values, step / float(spec["scan_rate"]))]
    if kind == "cv":
        step = abs(float(spec["step"]))
        start, vertex1, vertex2 = (float(spec[key]) for key in ("start", "vertex1", "vertex2"))
        legs = [
            _staircase(start, vertex1, step),
            _staircase(vertex1, vertex2, step)[1:],
            _staircase(vertex2, start, step)[1:],
        ]
        cycle = np.concatenate(legs)
        cycles = int(spec.get("cycles") or 1)
        values = np.concatenate([cycle] + [cycle[1:]] * (cycles - 1))
        return [("VOLT", values, step / float(spec["scan_rate"]))]
    if kind == "pulse_train":
        on_time, off_time = float(spec["on_time"]), float(spec["off_time"])
        interval = float(spec.get("interval") or min(on_time, off_time))
        on = np.full(_points(on_time, interval), float(spec["on_current"]))
        off = np.full(_points(off_time, interval), float(spec["off_current"]))
        cycle = np.concatenate([on, off])
        return [("CURR", np.tile(cycle, int(spec["cycles"])), interval)]
    raise TechniqueNotSupportedError(f"technique {kind!r} has no SCPI source list")


def _joined(
    columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    if not columns:
        empty = np.zeros(0)
        return {"time": empty, "potential": empty.copy(), "current": empty.copy()}
    return {
        "time": np.concatenate([c[0] for c in columns]),
        "potential": np.concatenate([c[1] for c in columns]),
        "current": np.concatenate([c[2] for c in columns]),
    }
