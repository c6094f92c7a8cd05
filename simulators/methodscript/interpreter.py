"""Running a compiled MethodSCRIPT: what an EmStat4 does with the subset labctl's driver sends.

:class:`ScriptRun` executes a :class:`~labctl.simulators.methodscript.script.Program` and yields
the lines the instrument sends (``e``, ``M0007``/``L``, data packages ``P…``, ``*``/``+``, an
error ``!XXXX: Line N``, and the empty line that ends every script). Each measurement loop is
answered in one call of the shared electrochemistry model (``respond(technique, state, rng)``):

* ``meas_loop_ocp p <dt> <t>`` → ``{"kind": "ocv", "interval", "duration"}``;
* ``meas_loop_ca p c <E> <dt> <t>`` → ``ca``; ``meas_loop_cp p c <I> <dt> <t>`` → ``cp``;
* ``meas_loop_lsv p c <E0> <E1> <step> <rate>`` → ``lsv``; ``meas_loop_cv`` → ``cv`` (with
  ``nscans(n)`` → ``cycles``); a sweep's first reading is at the begin potential, as in the LSV
  PalmSens recorded with its C example (``Results/LSV_on_10kOhm.csv``: 21 points from -0.5 V to
  0.5 V in 50 mV steps), then one per step as the model samples it;
* ``meas_loop_eis f zr zi <amplitude> <f0> <f1> <n> <Edc>`` → ``eis`` at ``n`` log-spaced
  frequencies (each point takes ``max(2/f, 10 ms)`` of instrument time).

The loop body then runs once per point with the loop's variables set (so ``timer_get``,
``pck_add``, ``if … breakloop`` work as on the instrument); a ``breakloop`` ends the loop after the
current point (the model was asked for the whole loop: its state has moved on as if the loop had
run to the end — for the strip-to-cut-off of plate/strip, which breaks only once the deposit is
gone, the difference is nil).

The instrument's own limits are checked as each command runs (``!000F`` potential, ``!0010``
current, ``!0011`` frequency, ``!0012`` amplitude, ``!0013`` timing); measured currents beyond the
top of the current range are clipped there and flagged overloaded, as an autoranging potentiostat
reports them. Packet values are encoded as the manual describes (seven hex digits of value +
0x8000000, the finest SI prefix that fits, ``,1X`` status and ``,2XX`` current-range metadata).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labctl.simulators.methodscript.script import Program, ScriptError, nscans, parse_number

__all__ = ["InstrumentLimits", "Respond", "ScriptRun", "encode_value"]

Respond = Callable[[Mapping[str, Any], Any, np.random.Generator], Mapping[str, Any]]
"""The shared model's entry point: (technique mapping, cell state, rng) → arrays by name."""

_PACKET_PREFIXES = (
    ("a", 1e-18),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    (" ", 1.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
)
_OFFSET = 0x8000000
_LARGEST = 0x7FFFFFF
_CURRENT_RANGES: tuple[tuple[int, float], ...] = (
    (3, 1e-9),
    (6, 1e-8),
    (9, 1e-7),
    (12, 1e-6),
    (15, 1e-5),
    (18, 1e-4),
    (21, 1e-3),
    (24, 1e-2),
    (27, 1e-1),
)
"""EmStat4 current-range indices (as PalmSens' example parser lists them) → range, A."""
_LOOP_CODES = {  # measurement-loop start markers (technique numbers)
    "meas_loop_lsv": "M0000",
    "meas_loop_cv": "M0005",
    "meas_loop_ca": "M0007",
    "meas_loop_cp": "M0008",
    "meas_loop_ocp": "M000B",
    "meas_loop_eis": "M000D",
}


@dataclass(frozen=True)
class InstrumentLimits:
    """What the simulated instrument can apply and measure (EmStat4 HR defaults).

    Attributes:
        potential: largest |potential| applied or measured, V.
        current: largest |current| applied or measured (top current range), A.
        min_frequency: lowest EIS frequency, Hz.
        max_frequency: highest EIS frequency, Hz.
        max_amplitude: largest EIS amplitude, V rms.
    """

    potential: float = 6.0
    current: float = 0.1
    min_frequency: float = 1e-5
    max_frequency: float = 200e3
    max_amplitude: float = 0.9


def encode_value(value: float) -> str:
    """A value as seven hex digits and an SI prefix (``     nan`` when not a number)."""
    if not math.isfinite(value):
        return "     nan"
    if value == 0:
        return f"{_OFFSET:07X} "
    for symbol, factor in _PACKET_PREFIXES:
        mantissa = round(value / factor)
        if abs(mantissa) <= _LARGEST:
            return f"{mantissa + _OFFSET:07X}{symbol}"
    raise ValueError(f"{value} is too large for a data package")


def _range_index(current: float) -> int:
    for index, top in _CURRENT_RANGES:
        if abs(current) <= top:
            return index
    return _CURRENT_RANGES[-1][0]


class _Break(Exception):
    """``breakloop``."""


class _Abort(Exception):
    """``Z`` arrived: finish the current measurement loop and run ``on_finished:``."""


class ScriptRun:
    """One execution of a compiled script.

    Args:
        program: the compiled script.
        respond: the electrochemistry model.
        state: returns the cell state to pass to ``respond`` (asked once per measurement loop).
        rng: noise generator.
        limits: the instrument's limits.
        abort: set by the session when ``Z`` arrives.
        pace: called with the instrument time (s) before each data package is sent; it may
            sleep (real-time pacing) and returns early once ``abort`` is set.
        instrument_error: make the first measurement loop fail with ``!0001`` (injected fault).
        cell_switch: told ``True``/``False`` whenever the cell is switched on or off.
    """

    def __init__(
        self,
        program: Program,
        *,
        respond: Respond,
        state: Callable[[], Any],
        rng: np.random.Generator,
        limits: InstrumentLimits,
        abort: threading.Event,
        pace: Callable[[float], None],
        instrument_error: bool = False,
        cell_switch: Callable[[bool], None] | None = None,
    ) -> None:
        self.program = program
        self.respond = respond
        self.state = state
        self.rng = rng
        self.limits = limits
        self.abort = abort
        self.pace = pace
        self.instrument_error = instrument_error
        self.cell_switch = cell_switch
        self.variables: dict[str, tuple[float, str]] = {}
        self.clock = 0.0
        self.timer_origin = 0.0
        self.cell_on = False
        self.mode = 0
        self.current_top = limits.current
        self.packet: list[str] | None = None
        self.applied: list[tuple[str, float]] = []

    # -- running ------------------------------------------------------------------------------
    def lines(self) -> Iterator[bytes]:
        """The instrument's output: ``e``, the script's output, the closing empty line."""
        yield b"e\n"
        try:
            yield from self._block(0, self.program.body_end)
        except ScriptError as error:
            self._cell(False)
            yield error.reply().encode("ascii") + b"\n\n"
            return
        except (_Abort, _Break):
            pass
        with contextlib.suppress(ScriptError, _Abort, _Break):
            yield from self._block(self.program.finished_start, len(self.program.commands))
        self._cell(False)
        yield b"\n"

    def _value(self, token: str, line: int) -> float:
        number = parse_number(token)
        if number is not None:
            return number
        if token not in self.variables:
            raise ScriptError(0x4002, line)
        return self.variables[token][0]

    def _compare(self, args: list[str], line: int) -> bool:
        left, operator, right = self._value(args[0], line), args[1], self._value(args[2], line)
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
            "==": left == right,
            "!=": left != right,
        }[operator]

    def _block(self, start: int, end: int) -> Iterator[bytes]:
        index = start
        commands = self.program.commands
        while index < end:
            command = commands[index]
            name, args, line = command.name, command.args, command.line
            if name == "loop":
                yield b"L\n"
                guard = 0
                while self._compare(args, line):
                    if self.abort.is_set():
                        raise _Abort
                    guard += 1
                    if guard > 10_000_000:
                        raise ScriptError(0x0013, line)
                    try:
                        yield from self._block(index + 1, command.end)
                    except _Break:
                        break
                yield b"+\n"
                index = command.end + 1
                continue
            if name == "if":
                if self._compare(args, line):
                    yield from self._block(index + 1, command.end)
                index = command.end + 1
                continue
            if name.startswith("meas_loop_"):
                yield from self._measure(index)
                index = command.end + 1
                continue
            if name == "breakloop":
                raise _Break
            self._simple(name, args, line)
            if name == "pck_end":
                yield self._packet_line()
            index += 1

    # -- plain commands -----------------------------------------------------------------------
    def _set(self, name: str, value: float, vartype: str) -> None:
        self.variables[name] = (value, vartype)

    def _simple(self, name: str, args: list[str], line: int) -> None:
        limits = self.limits
        if name == "var":
            self._set(args[0], 0.0, "aa")
        elif name == "store_var":
            self._set(args[0], self._value(args[1], line), args[2])
        elif name == "add_var":
            value, vartype = self.variables[args[0]]
            self._set(args[0], value + self._value(args[1], line), vartype)
        elif name == "copy_var":
            self.variables[args[1]] = self.variables[args[0]]
        elif name == "set_pgstat_mode":
            mode = int(self._value(args[0], line))
            if mode not in (0, 2, 3, 4, 6):
                raise ScriptError(0x0023, line)
            self.mode = mode
        elif name in ("set_e", "set_range_minmax") and (args[0] == "da" or name == "set_e"):
            for token in args[1:] if name == "set_range_minmax" else args:
                self._check(abs(self._value(token, line)), limits.potential, 0x000F, line)
        elif name in ("set_i",):
            self._check(abs(self._value(args[0], line)), limits.current, 0x0010, line)
        elif name in ("set_range", "set_autoranging") and args[0] in ("ba", "db"):
            top = abs(self._value(args[-1], line))
            self._check(top, limits.current, 0x0010, line)
            if args[0] == "ba":
                self.current_top = top
        elif name == "cell_on":
            self._cell(True)
        elif name == "cell_off":
            self._cell(False)
        elif name == "wait":
            self.clock += max(0.0, self._value(args[0], line))
            self.pace(self.clock)
        elif name == "timer_start":
            self.timer_origin = self.clock
        elif name == "timer_get":
            self._set(args[0], self.clock - self.timer_origin, "eb")
        elif name == "pck_start":
            self.packet = []
        elif name == "pck_add":
            if self.packet is None:
                raise ScriptError(0x4001, line)
            self.packet.append(args[0])

    def _cell(self, on: bool) -> None:
        self.cell_on = on
        if self.cell_switch is not None:
            self.cell_switch(on)

    @staticmethod
    def _check(value: float, limit: float, code: int, line: int) -> None:
        if not value <= limit * (1 + 1e-9):
            raise ScriptError(code, line)

    def _packet_line(self) -> bytes:
        names, self.packet = self.packet or [], None
        fields = []
        for name in names:
            value, vartype = self.variables[name]
            text = f"{vartype}{encode_value(value)}"
            if vartype == "ba":
                overload = 2 if abs(value) >= self.current_top * (1 - 1e-12) else 0
                text += f",1{overload:X},2{_range_index(value):02X}"
            fields.append(text)
        return ("P" + ";".join(fields) + "\n").encode("ascii")

    # -- measurement loops --------------------------------------------------------------------
    def _technique(self, index: int) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        """The model's technique mapping and (variable, result key, type) of the loop outputs."""
        command = self.program.commands[index]
        name, args, line = command.name, command.args, command.line
        value = [
            self._value(token, line)
            for token in args[_OUTPUT_COUNT[name] :]
            if not token.startswith("nscans(")
        ]
        limits = self.limits
        if self.instrument_error:
            self.instrument_error = False
            raise ScriptError(0x0001, line)
        if name == "meas_loop_eis":
            if self.mode != 3:
                raise ScriptError(0x0023, line)
        elif name == "meas_loop_cp":
            if self.mode != 6:
                raise ScriptError(0x0023, line)
        elif self.mode not in (2, 3, 4):
            raise ScriptError(0x0023, line)
        if name == "meas_loop_ocp":
            if self.cell_on:
                raise ScriptError(0x0014, line)
        elif not self.cell_on:
            raise ScriptError(0x4027, line)
        out = args[: _OUTPUT_COUNT[name]]
        if name in ("meas_loop_ocp", "meas_loop_ca", "meas_loop_cp"):
            level, (interval, duration) = (
                (None, value[0:2])
                if name == "meas_loop_ocp"
                else (
                    value[0],
                    value[1:3],
                )
            )
            if not (interval > 0 and duration >= interval):
                raise ScriptError(0x0013, line)
            spec: dict[str, Any] = {"interval": interval, "duration": duration}
            if name == "meas_loop_ocp":
                spec["kind"] = "ocv"
                return spec, [(out[0], "potential", "ab")]
            if name == "meas_loop_ca":
                self._check(abs(float(level or 0)), limits.potential, 0x000F, line)
                spec.update(kind="ca", potential=level)
                return spec, [(out[0], "potential", "da"), (out[1], "current", "ba")]
            self._check(abs(float(level or 0)), limits.current, 0x0010, line)
            spec.update(kind="cp", current=level)
            return spec, [(out[0], "potential", "ab"), (out[1], "current", "ba")]
        if name in ("meas_loop_lsv", "meas_loop_cv"):
            potentials = value[:2] if name == "meas_loop_lsv" else value[:3]
            step, rate = value[len(potentials) : len(potentials) + 2]
            for potential in potentials:
                self._check(abs(potential), limits.potential, 0x000F, line)
            if not (step > 0 and rate > 0):
                raise ScriptError(0x0013, line)
            if name == "meas_loop_lsv":
                spec = {"kind": "lsv", "start": value[0], "end": value[1]}
            else:
                cycles = nscans(args[7]) if len(args) > 7 else 1
                spec = {"kind": "cv", "start": value[0], "vertex1": value[1]}
                spec.update(vertex2=value[2], cycles=cycles)
            spec.update(step=step, scan_rate=rate)
            return spec, [(out[0], "potential", "da"), (out[1], "current", "ba")]
        amplitude, first, last, count, dc = value[:5]
        for frequency in (first, last):
            if not limits.min_frequency <= frequency <= limits.max_frequency:
                raise ScriptError(0x0011, line)
        if not 0 < amplitude <= limits.max_amplitude:
            raise ScriptError(0x0012, line)
        self._check(abs(dc), limits.potential, 0x000F, line)
        if not 1 <= count <= 10_000 or count != int(count):
            raise ScriptError(0x0013, line)
        frequencies = np.geomspace(first, last, int(count)).tolist()
        spec = {"kind": "eis", "frequencies": frequencies, "amplitude": amplitude}
        spec["dc_potential"] = dc
        return spec, [
            (out[0], "frequency", "dc"),
            (out[1], "z_real", "cc"),
            (out[2], "z_imag", "cd"),
        ]

    def _measure(self, index: int) -> Iterator[bytes]:
        command = self.program.commands[index]
        spec, outputs = self._technique(index)
        yield _LOOP_CODES[command.name].encode("ascii") + b"\n"
        try:
            answer = self.respond(spec, self.state(), self.rng)
        except ValueError:  # the model refuses the parameters: an invalid-parameter error
            raise ScriptError(0x0013, command.line) from None
        columns = {key: np.asarray(answer[key], dtype=float).ravel() for _, key, _ in outputs}
        count = min(len(column) for column in columns.values())
        if spec["kind"] == "eis":
            frequencies = columns["frequency"]
            steps = np.maximum(2.0 / np.abs(frequencies[:count]), 0.01)
            times = np.cumsum(steps)
        elif "time" in answer:
            times = np.asarray(answer["time"], dtype=float).ravel()[:count]
        else:
            interval = float(spec.get("interval") or spec["step"] / spec["scan_rate"])
            times = interval * np.arange(1, count + 1)
        if spec["kind"] in ("lsv", "cv") and count:
            # The instrument reads once at the begin potential before its first step (PalmSens'
            # recorded LSV on 10 kΩ starts at E_begin); the model samples after each step: the
            # first reading repeats the model's first current, as the SCPI twin's staircase does.
            interval = float(spec["step"]) / float(spec["scan_rate"])
            columns["potential"] = np.concatenate([[spec["start"]], columns["potential"][:count]])
            columns["current"] = np.concatenate(
                [columns["current"][:1], columns["current"][:count]]
            )
            times = np.concatenate([[interval], np.asarray(times[:count]) + interval])
            count += 1
        start = self.clock
        if spec["kind"] in ("ca", "lsv", "cv") and "current" in columns:
            top = self.current_top
            columns["current"] = np.clip(columns["current"], -top, top)
        if "potential" in columns and spec["kind"] in ("cp", "ocv"):
            bound = self.limits.potential
            columns["potential"] = np.clip(columns["potential"], -bound, bound)
        aborted = False
        try:
            for point in range(count):
                if self.abort.is_set():
                    aborted = True
                    break
                self.clock = start + float(times[point])
                for variable, key, vartype in outputs:
                    self._set(variable, float(columns[key][point]), vartype)
                self.pace(self.clock)
                try:
                    yield from self._block(index + 1, command.end)
                except _Break:
                    break
        finally:
            self.applied.append((spec["kind"], self.clock - start))
        yield b"*\n"
        if aborted:
            raise _Abort


_OUTPUT_COUNT = {
    "meas_loop_ocp": 1,
    "meas_loop_ca": 2,
    "meas_loop_cp": 2,
    "meas_loop_lsv": 2,
    "meas_loop_cv": 2,
    "meas_loop_eis": 3,
}
