"""The state machine of a simulated Keithley 2450-class source-measure unit speaking SCPI.

:class:`SmuInstrument` holds the instrument state (source function and level, limits, sense
function, the source list, reading buffer ``defbuffer1``, the error queue) shared by every
connection; :class:`ScpiSmuSession` is the per-connection :class:`~labctl.protocols.TwinSession`
that splits the byte stream into lines and commands.

The SCPI subset understood (short or long forms, optional ``:LEV``/``:STAT``/``:NEXT`` nodes,
channel suffix ``1``)::

    *IDN?  *RST  *CLS  *WAI  *OPC?
    SYST:ERR?                         -> <code>,"<message>" (0,"No error" when empty)
    SOUR:FUNC CURR|VOLT    SOUR:FUNC?
    SOUR:CURR <A>  SOUR:VOLT <V>  SOUR:CURR:VLIM <V>  SOUR:VOLT:ILIM <A>  (and their ? forms)
    SENS:FUNC "VOLT"|"CURR"
    SOUR:LIST:CURR <a,b,...>   SOUR:LIST:CURR:APP <...>   (same for VOLT)   SOUR:LIST:CURR:POIN?
    SOUR:SWE:CURR:LIST <start>, <delay s>[, <count>[, <failAbort>[, "defbuffer1"]]]  (or VOLT)
    OUTP ON|OFF|1|0   OUTP?
    INIT  ABOR  TRIG:STAT?            -> RUNNING;RUNNING;1 | IDLE;IDLE;1
    TRAC:CLE ["defbuffer1"]   TRAC:ACT? ["defbuffer1"]
    TRAC:DATA? <first>, <last>[, "defbuffer1"[, READ|SOUR|REL ...]]

A list sweep sources each list value for ``delay`` seconds and takes one reading at the end of
it. Readings come from a cell model (:class:`CellModel`): for a current source the reading is the
cell voltage, for a voltage source the cell current; the limit (``VLIM``/``ILIM``) clamps the
measured quantity as the instrument's compliance does. Instrument ranges are enforced: source
levels and limits beyond ±21 V or ±1.05 A are refused with ``-222,"Data out of range"``; unknown
headers give ``-113,"Undefined header"``, bad parameters ``-224,"Illegal parameter value"``,
queries with nothing to return ``-230,"Data corrupt or stale"``.

Time: at ``time_scale`` 0 a sweep finishes the moment it is initiated; at ``time_scale`` > 0 the
readings become available as wall time passes (simulated seconds per wall second), and
``TRIG:STAT?`` answers ``RUNNING`` until the last one is in.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = [
    "CURRENT_RANGE",
    "IDENTITY",
    "VOLTAGE_RANGE",
    "CellModel",
    "ScpiSmuSession",
    "SmuInstrument",
]

IDENTITY = "KEITHLEY INSTRUMENTS,MODEL 2450,LABCTL-TWIN,1.7.12b"
VOLTAGE_RANGE = 21.0
"""Largest voltage the instrument can source or measure, V."""
CURRENT_RANGE = 1.05
"""Largest current the instrument can source or measure, A."""
_MAX_LIST = 100_000
_MAX_LINE = 1_000_000

_LONG_TO_SHORT = {
    "SOURCE": "SOUR",
    "FUNCTION": "FUNC",
    "CURRENT": "CURR",
    "VOLTAGE": "VOLT",
    "SENSE": "SENS",
    "VLIMIT": "VLIM",
    "ILIMIT": "ILIM",
    "SWEEP": "SWE",
    "APPEND": "APP",
    "POINTS": "POIN",
    "TRACE": "TRAC",
    "ACTUAL": "ACT",
    "CLEAR": "CLE",
    "SYSTEM": "SYST",
    "ERROR": "ERR",
    "OUTPUT": "OUTP",
    "STATE": "STAT",
    "TRIGGER": "TRIG",
    "INITIATE": "INIT",
    "ABORT": "ABOR",
    "LEVEL": "LEV",
    "IMMEDIATE": "IMM",
    "AMPLITUDE": "AMPL",
    "NEXT": "NEXT",
}
_OPTIONAL_TAILS = {
    "SOUR:CURR:LEV": "SOUR:CURR",
    "SOUR:VOLT:LEV": "SOUR:VOLT",
    "SOUR:CURR:LEV:IMM:AMPL": "SOUR:CURR",
    "SOUR:VOLT:LEV:IMM:AMPL": "SOUR:VOLT",
    "OUTP:STAT": "OUTP",
    "SYST:ERR:NEXT": "SYST:ERR",
    "INIT:IMM": "INIT",
    "SENS:FUNC:ON": "SENS:FUNC",
}


class CellModel(Protocol):
    """What the instrument measures: the cell's reply to a sourced waveform.

    Called once per sweep with the sourced ``function`` (``"current"`` in A or ``"voltage"`` in
    V), the values (one per point), the dwell per point (s) and the noise generator; returns the
    measured quantity per point (V for a current source, A for a voltage source).
    """

    def __call__(
        self, function: str, values: np.ndarray, interval: float, rng: np.random.Generator
    ) -> np.ndarray:
        """The measured quantity per point."""
        ...


class ScpiError(Exception):
    """A command the instrument refuses: goes to the error queue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


@dataclass
class _Sweep:
    times: np.ndarray
    readings: np.ndarray
    sources: np.ndarray
    wall_start: float
    wall_duration: float


@dataclass
class _Buffer:
    readings: list[float] = field(default_factory=list)
    sources: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


class SmuInstrument:
    """The simulated instrument: state, command execution and the error queue.

    Args:
        cell: what is connected to the terminals.
        seed: noise seed.
        time_scale: simulated seconds per wall second (0 = sweeps finish at once).
    """

    def __init__(self, cell: CellModel, *, seed: int = 0, time_scale: float = 0.0) -> None:
        self.cell = cell
        self.rng = np.random.default_rng(seed)
        self.time_scale = time_scale
        self.lock = threading.RLock()
        self.pending_error: tuple[int, str] | None = None
        self.commands: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self.source_function = "VOLT"
        self.sense_function = "CURR"
        self.levels = {"CURR": 0.0, "VOLT": 0.0}
        self.limits = {"CURR": 21.0, "VOLT": 0.105}  # VLIM of a current source, ILIM of voltage
        self.lists: dict[str, list[float]] = {"CURR": [], "VOLT": []}
        self.output = False
        self.errors: deque[tuple[int, str]] = deque(maxlen=21)
        self.buffer = _Buffer()
        self.sweep: _Sweep | None = None
        self.sweep_plan: tuple[str, int, float, int] | None = None
        self.clock = 0.0

    # -- faults -----------------------------------------------------------------------------
    def inject_error(self, code: int = -300, message: str = "Device-specific error") -> None:
        """Fault: the next configuration command fails with this instrument error."""
        with self.lock:
            self.pending_error = (code, message)

    def clear_error(self) -> None:
        """End an :meth:`inject_error` fault that no command has met yet."""
        with self.lock:
            self.pending_error = None

    # -- command execution ------------------------------------------------------------------
    def execute(self, command: str) -> str | None:
        """Run one command; return the reply line (without terminator) for a query."""
        with self.lock:
            self.commands.append(command)
            try:
                return self._execute(command)
            except ScpiError as error:
                self.errors.append((error.code, error.message))
                return None

    def _execute(self, command: str) -> str | None:
        header, _, argument = command.strip().partition(" ")
        argument = argument.strip()
        query = header.endswith("?")
        name = _canonical(header.rstrip("?"))
        if name is None:
            raise ScpiError(-113, "Undefined header")
        if self.pending_error is not None and not query and name not in ("*CLS", "ABOR"):
            code, message = self.pending_error
            self.pending_error = None
            raise ScpiError(code, message)
        handler = _HANDLERS.get((name, query))
        if handler is None:
            raise ScpiError(-113, "Undefined header")
        return handler(self, argument)

    def _settle(self) -> None:
        """Move finished readings of a running sweep into the buffer."""
        sweep = self.sweep
        if sweep is None:
            return
        if self.time_scale == 0 or sweep.wall_duration == 0:
            done = len(sweep.times)
        else:
            elapsed = (time.monotonic() - sweep.wall_start) / sweep.wall_duration
            done = min(len(sweep.times), int(elapsed * len(sweep.times) + 1e-9))
        already = len(self.buffer.readings) - self._sweep_offset
        if done > already:
            self.buffer.readings.extend(sweep.readings[already:done].tolist())
            self.buffer.sources.extend(sweep.sources[already:done].tolist())
            self.buffer.times.extend(sweep.times[already:done].tolist())
        if done >= len(sweep.times):
            self.sweep = None

    _sweep_offset = 0

    def start_sweep(self) -> None:
        """``INIT``: run the configured list sweep."""
        self._settle()
        if self.sweep is not None:
            raise ScpiError(-213, "Init ignored")
        if self.sweep_plan is None:
            raise ScpiError(-221, "Settings conflict; no sweep is configured")
        function, start, delay, count = self.sweep_plan
        values = np.asarray(self.lists[function][start - 1 :] * count, dtype=float)
        if len(values) == 0:
            raise ScpiError(-221, "Settings conflict; the source list is empty")
        self.output = True
        kind = "current" if function == "CURR" else "voltage"
        measured = np.asarray(self.cell(kind, values, delay, self.rng), dtype=float)
        limit = self.limits[function]
        sourced = values.copy()
        # Compliance: the measured quantity cannot exceed the limit (VLIM of a current source,
        # ILIM of a voltage source); the buffer keeps the programmed source value, as the 2450's.
        measured = np.clip(measured, -limit, limit)
        times = self.clock + delay * np.arange(1, len(values) + 1)
        self.clock = float(times[-1])
        self._sweep_offset = len(self.buffer.readings)
        wall = 0.0 if self.time_scale == 0 else delay * len(values) / self.time_scale
        self.sweep = _Sweep(times, measured, sourced, time.monotonic(), wall)
        self._settle()

    def abort(self) -> None:
        """``ABOR``: keep the readings taken so far, stop the sweep."""
        self._settle()
        if self.sweep is not None:
            self.clock = self.buffer.times[-1] if self.buffer.times else self.clock
        self.sweep = None


_Handler = Callable[["SmuInstrument", str], "str | None"]


def _canonical(header: str) -> str | None:
    text = header.strip().upper().lstrip(":")
    if not text:
        return None
    if text.startswith("*"):
        return text if re.fullmatch(r"\*[A-Z]{3}", text) else None
    nodes = []
    for node in text.split(":"):
        node = re.sub(r"(?<=[A-Z])1$", "", node)
        if not re.fullmatch(r"[A-Z]+", node):
            return None
        nodes.append(_LONG_TO_SHORT.get(node, node))
    name = ":".join(nodes)
    return _OPTIONAL_TAILS.get(name, name)


def _number(argument: str, low: float, high: float) -> float:
    try:
        value = float(argument)
    except ValueError:
        raise ScpiError(-104, "Data type error") from None
    if not np.isfinite(value):
        raise ScpiError(-104, "Data type error")
    if not low <= value <= high:
        raise ScpiError(-222, "Data out of range")
    return value


def _numbers(argument: str, low: float, high: float) -> list[float]:
    fields = argument.split(",")
    if not argument or len(fields) > _MAX_LIST:
        raise ScpiError(-109, "Missing parameter")
    return [_number(field.strip(), low, high) for field in fields]


def _unquote(argument: str) -> str:
    return argument.strip().strip('"').strip("'").upper()


def _range(function: str) -> float:
    return CURRENT_RANGE if function == "CURR" else VOLTAGE_RANGE


def _idn(_smu: SmuInstrument, _argument: str) -> str:
    return IDENTITY


def _rst(smu: SmuInstrument, _argument: str) -> None:
    smu._reset()


def _cls(smu: SmuInstrument, _argument: str) -> None:
    smu.errors.clear()


def _nothing(smu: SmuInstrument, _argument: str) -> None:
    smu._settle()


def _opc(_smu: SmuInstrument, _argument: str) -> str:
    return "1"


def _error(smu: SmuInstrument, _argument: str) -> str:
    if not smu.errors:
        return '0,"No error"'
    code, message = smu.errors.popleft()
    return f'{code},"{message}"'


def _source_function(smu: SmuInstrument, argument: str) -> None:
    value = _unquote(argument)
    value = {"CURRENT": "CURR", "VOLTAGE": "VOLT"}.get(value, value)
    if value not in ("CURR", "VOLT"):
        raise ScpiError(-224, "Illegal parameter value")
    if smu.sweep is not None:
        raise ScpiError(-221, "Settings conflict; a sweep is running")
    smu.source_function = value


def _source_function_query(smu: SmuInstrument, _argument: str) -> str:
    return smu.source_function


def _sense_function(smu: SmuInstrument, argument: str) -> None:
    value = _unquote(argument)
    value = {"CURRENT": "CURR", "VOLTAGE": "VOLT", "CURR:DC": "CURR", "VOLT:DC": "VOLT"}.get(
        value, value
    )
    if value not in ("CURR", "VOLT"):
        raise ScpiError(-224, "Illegal parameter value")
    smu.sense_function = value


def _level(function: str) -> tuple[_Handler, _Handler]:
    def set_level(smu: SmuInstrument, argument: str) -> None:
        bound = _range(function)
        smu.levels[function] = _number(argument, -bound, bound)

    def get_level(smu: SmuInstrument, _argument: str) -> str:
        return f"{smu.levels[function]:.6E}"

    return set_level, get_level


def _limit(function: str) -> tuple[_Handler, _Handler]:
    # The limit of a current source is a voltage and vice versa.
    bound = VOLTAGE_RANGE if function == "CURR" else CURRENT_RANGE
    low = 0.02 if function == "CURR" else 1e-9

    def set_limit(smu: SmuInstrument, argument: str) -> None:
        smu.limits[function] = _number(argument, low, bound)

    def get_limit(smu: SmuInstrument, _argument: str) -> str:
        return f"{smu.limits[function]:.6E}"

    return set_limit, get_limit


def _list(function: str, append: bool) -> _Handler:
    def set_list(smu: SmuInstrument, argument: str) -> None:
        bound = _range(function)
        values = _numbers(argument, -bound, bound)
        existing = smu.lists[function] if append else []
        if len(existing) + len(values) > _MAX_LIST:
            raise ScpiError(-225, "Out of memory")
        smu.lists[function] = existing + values

    return set_list


def _list_points(function: str) -> _Handler:
    def points(smu: SmuInstrument, _argument: str) -> str:
        return str(len(smu.lists[function]))

    return points


def _sweep(function: str) -> _Handler:
    def configure(smu: SmuInstrument, argument: str) -> None:
        fields = [field.strip() for field in argument.split(",")]
        if len(fields) < 2 or len(fields) > 5:
            raise ScpiError(-109, "Missing parameter")
        start = int(_number(fields[0], 1, _MAX_LIST))
        delay = _number(fields[1], 0.0, 10_000.0)
        count = int(_number(fields[2], 1, 1_000_000)) if len(fields) > 2 else 1
        if len(fields) > 4 and _unquote(fields[4]) != "DEFBUFFER1":
            raise ScpiError(-224, "Illegal parameter value")
        if start > len(smu.lists[function]):
            raise ScpiError(-222, "Data out of range")
        if smu.source_function != function:
            raise ScpiError(-221, "Settings conflict")
        if (len(smu.lists[function]) - start + 1) * count > _MAX_LIST:
            raise ScpiError(-225, "Out of memory")
        smu.sweep_plan = (function, start, delay, count)

    return configure


def _output(smu: SmuInstrument, argument: str) -> None:
    value = _unquote(argument)
    if value in ("ON", "1"):
        smu.output = True
    elif value in ("OFF", "0"):
        smu.abort()
        smu.output = False
    else:
        raise ScpiError(-224, "Illegal parameter value")


def _output_query(smu: SmuInstrument, _argument: str) -> str:
    return "1" if smu.output else "0"


def _init(smu: SmuInstrument, _argument: str) -> None:
    smu.start_sweep()


def _abort(smu: SmuInstrument, _argument: str) -> None:
    smu.abort()


def _trigger_state(smu: SmuInstrument, _argument: str) -> str:
    smu._settle()
    state = "RUNNING" if smu.sweep is not None else "IDLE"
    return f"{state};{state};1"  # <overall state>;<state>;<trigger-model block>


def _buffer_name(argument: str) -> None:
    if argument and _unquote(argument) != "DEFBUFFER1":
        raise ScpiError(-224, "Illegal parameter value")


def _trace_clear(smu: SmuInstrument, argument: str) -> None:
    _buffer_name(argument)
    smu._settle()
    if smu.sweep is not None:
        raise ScpiError(-221, "Settings conflict; a sweep is running")
    smu.buffer = _Buffer()
    smu.clock = 0.0


def _trace_actual(smu: SmuInstrument, argument: str) -> str:
    _buffer_name(argument)
    smu._settle()
    return str(len(smu.buffer.readings))


def _trace_data(smu: SmuInstrument, argument: str) -> str:
    fields = [field.strip() for field in argument.split(",")]
    if len(fields) < 2:
        raise ScpiError(-109, "Missing parameter")
    smu._settle()
    count = len(smu.buffer.readings)
    first = int(_number(fields[0], 1, max(count, 1)))
    last = int(_number(fields[1], first, max(count, 1)))
    if count == 0:
        raise ScpiError(-230, "Data corrupt or stale")
    if len(fields) > 2:
        _buffer_name(fields[2])
    elements = [_unquote(field) for field in fields[3:]] or ["READ"]
    columns = []
    for element in elements:
        if element in ("READ", "READING"):
            columns.append(smu.buffer.readings)
        elif element in ("SOUR", "SOURCE"):
            columns.append(smu.buffer.sources)
        elif element in ("REL", "RELATIVE"):
            columns.append(smu.buffer.times)
        else:
            raise ScpiError(-224, "Illegal parameter value")
    out: list[str] = []
    for index in range(first - 1, last):
        out.extend(f"{column[index]:.9E}" for column in columns)
    return ",".join(out)


_HANDLERS: dict[tuple[str, bool], _Handler] = {
    ("*IDN", True): _idn,
    ("*RST", False): _rst,
    ("*CLS", False): _cls,
    ("*WAI", False): _nothing,
    ("*OPC", True): _opc,
    ("SYST:ERR", True): _error,
    ("SOUR:FUNC", False): _source_function,
    ("SOUR:FUNC", True): _source_function_query,
    ("SENS:FUNC", False): _sense_function,
    ("OUTP", False): _output,
    ("OUTP", True): _output_query,
    ("INIT", False): _init,
    ("ABOR", False): _abort,
    ("TRIG:STAT", True): _trigger_state,
    ("TRAC:CLE", False): _trace_clear,
    ("TRAC:ACT", True): _trace_actual,
    ("TRAC:DATA", True): _trace_data,
}
for _function in ("CURR", "VOLT"):
    _set, _get = _level(_function)
    _HANDLERS[(f"SOUR:{_function}", False)] = _set
    _HANDLERS[(f"SOUR:{_function}", True)] = _get
    _lim_name = "VLIM" if _function == "CURR" else "ILIM"
    _set, _get = _limit(_function)
    _HANDLERS[(f"SOUR:{_function}:{_lim_name}", False)] = _set
    _HANDLERS[(f"SOUR:{_function}:{_lim_name}", True)] = _get
    _HANDLERS[(f"SOUR:LIST:{_function}", False)] = _list(_function, False)
    _HANDLERS[(f"SOUR:LIST:{_function}:APP", False)] = _list(_function, True)
    _HANDLERS[(f"SOUR:LIST:{_function}:POIN", True)] = _list_points(_function)
    _HANDLERS[(f"SOUR:SWE:{_function}:LIST", False)] = _sweep(_function)


class ScpiSmuSession:
    r"""One connection to the instrument: line framing over :class:`SmuInstrument`.

    Commands end with ``\\n`` (a ``\\r`` before it is ignored); several commands on one line are
    separated by ``;``. Each query's reply is one line ending in ``\\n``.
    """

    def __init__(self, instrument: SmuInstrument) -> None:
        self.instrument = instrument
        self._pending = b""

    def feed(self, data: bytes) -> Iterable[bytes]:
        """Execute the complete lines in ``data``; yield one reply line per query."""
        self._pending += data
        if len(self._pending) > _MAX_LINE and b"\n" not in self._pending:
            self._pending = b""
            with self.instrument.lock:
                self.instrument.errors.append((-363, "Input buffer overrun"))
            return
        while b"\n" in self._pending:
            line, self._pending = self._pending.split(b"\n", 1)
            try:
                text = line.decode("ascii").strip()
            except UnicodeDecodeError:
                with self.instrument.lock:
                    self.instrument.errors.append((-101, "Invalid character"))
                continue
            for command in _split_commands(text):
                reply = self.instrument.execute(command)
                if reply is not None:
                    yield reply.encode("ascii") + b"\n"


def _split_commands(text: str) -> list[str]:
    """Split on ``;`` outside quotes."""
    parts: list[str] = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]
