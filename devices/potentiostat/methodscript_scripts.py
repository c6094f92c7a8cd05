"""One MethodSCRIPT per technique, generated from the technique's SI mapping.

The commands and their argument order follow the MethodSCRIPT manual (v1.8, chapter "Measurement
loops") as exercised by PalmSens' published example scripts (``PalmSens/MethodSCRIPT_Examples``,
``MethodSCRIPTs/Measurement_Loops/MSLoopExample004-CV``, ``-008-CA``, ``-009-CP``, ``-012-EIS``,
and the battery-cycling template of ``PalmSens/palmsens-sdk`` for galvanostat mode, ``loop`` /
``if`` / ``breakloop``):

* ``meas_loop_ocp p <interval> <run time>`` (cell off), ``meas_loop_ca p c <E> <interval>
  <run time>``, ``meas_loop_cp p c <I> <interval> <run time>``, ``meas_loop_lsv p c <begin>
  <end> <step> <scan rate>``, ``meas_loop_cv p c <begin> <vertex 1> <vertex 2> <step> <scan
  rate> nscans(<n>)``, ``meas_loop_eis f zr zi <amplitude (V rms)> <f start> <f end> <points>
  <E dc>``; each loop body ends at ``endloop``;
* ``set_pgstat_mode 2`` = potentiostat (low speed), ``3`` = potentiostat (high speed, needed for
  EIS), ``6`` = galvanostat (EmStat4); ``set_max_bandwidth``, ``set_range``/``set_autoranging``/
  ``set_range_minmax`` (``ba`` current, ``ab``/``da`` potential, ``db`` applied current);
* numbers are whole numbers with an SI prefix (``100m``), counts end in ``i`` (``5i``);
* ``on_finished:`` runs at the end, also after an abort: every script ends with ``cell_off``.

Battery protocols become loops of galvanostatic segments: a pulse train is ``loop n < m`` around
one ``meas_loop_cp`` for the on-current and one for the off-current; plate/strip is a plating
``meas_loop_cp`` of ``plate_charge / |plate_current|``, a rest at 0 A, and a strip that
``breakloop``s after the first point beyond ``cutoff_potential`` (at most 1.5 × the plated charge).
A ``compliance_voltage`` becomes a ``breakloop`` guard in every galvanostatic loop (a galvanostat
cannot hold its current beyond it); a ``current_limit`` becomes the top of the current range.

Every time-domain loop sends ``time`` (``timer_get`` after one ``timer_start``), the potential
and the current in one data package; EIS sends frequency, Z′ and Z″.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from labctl.devices.potentiostat.errors import TechniqueNotSupportedError
from labctl.devices.potentiostat.methodscript_packets import format_number

__all__ = [
    "MODE_GALVANOSTAT",
    "MODE_HIGH_SPEED",
    "MODE_POTENTIOSTAT",
    "ScriptPlan",
    "build_script",
]

MODE_POTENTIOSTAT = 2
"""``set_pgstat_mode`` of a potentiostat in low-speed mode."""
MODE_HIGH_SPEED = 3
"""``set_pgstat_mode`` of a potentiostat in high-speed mode (EIS)."""
MODE_GALVANOSTAT = 6
"""``set_pgstat_mode`` of the EmStat4 galvanostat."""

_LOWEST_RANGE = 1e-9
_PACKET_TIME = ("timer_get t", "pck_start", "pck_add t", "pck_add p", "pck_add c", "pck_end")
_PACKET_OCP = ("timer_get t", "pck_start", "pck_add t", "pck_add p", "pck_end")
_PACKET_EIS = ("pck_start", "pck_add f", "pck_add r", "pck_add j", "pck_end")


@dataclass(frozen=True)
class ScriptPlan:
    """A script and what its data packages hold.

    Attributes:
        kind: the technique's kind.
        lines: the script lines (without the ``e`` command and the closing empty line).
        columns: ``time`` (time, potential, current) or ``eis`` (frequency, Z′, Z″).
        packet_gap: the longest expected instrument time between two data packages, s.
    """

    kind: str
    lines: tuple[str, ...]
    columns: Literal["time", "eis"]
    packet_gap: float

    @property
    def text(self) -> str:
        """The whole command: ``e``, the lines and the empty line that ends the script."""
        return "e\n" + "\n".join(self.lines) + "\n\n"


def _n(value: float) -> str:
    return format_number(float(value))


def _positive(spec: Mapping[str, Any], key: str) -> float:
    value = float(spec[key])
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{spec.get('kind')}: {key} must be positive and finite, got {value}")
    return value


def _bandwidth(interval: float) -> str:
    # PalmSens' guidance: about 5.85 Hz of bandwidth per 1 s of sampling interval.
    return _n(float(np.clip(5.85 / interval, 1.0, 200e3)))


def _potentiostat(
    mode: int, interval: float, low: float, high: float, start: float, current_range: float
) -> list[str]:
    return [
        "set_pgstat_chan 0",
        f"set_pgstat_mode {mode}",
        f"set_max_bandwidth {_bandwidth(interval)}",
        f"set_range_minmax da {_n(min(low, high))} {_n(max(low, high))}",
        f"set_range ba {_n(current_range)}",
        f"set_autoranging ba {_n(_LOWEST_RANGE)} {_n(current_range)}",
        f"set_e {_n(start)}",
        "cell_on",
    ]


def _galvanostat(interval: float, largest_current: float, window: float) -> list[str]:
    return [
        "set_pgstat_chan 0",
        f"set_pgstat_mode {MODE_GALVANOSTAT}",
        f"set_max_bandwidth {_bandwidth(interval)}",
        f"set_range_minmax ab {_n(-window)} {_n(window)}",
        f"set_range db {_n(max(largest_current, _LOWEST_RANGE))}",
        "set_i 0",
        "cell_on",
    ]


def _indent(lines: tuple[str, ...] | list[str]) -> list[str]:
    return ["  " + line for line in lines]


def _cp_loop(
    current: float, interval: float, duration: float, guards: list[str], extra: list[str]
) -> list[str]:
    return [
        f"meas_loop_cp p c {_n(current)} {_n(interval)} {_n(duration)}",
        *_indent(_PACKET_TIME),
        *_indent(guards),
        *_indent(extra),
        "endloop",
    ]


def _compliance_guards(spec: Mapping[str, Any]) -> list[str]:
    compliance = spec.get("compliance_voltage")
    if compliance is None:
        return []
    limit = abs(float(compliance))
    return [
        f"if p > {_n(limit)}",
        "  breakloop",
        "endif",
        f"if p < {_n(-limit)}",
        "  breakloop",
        "endif",
    ]


def _eis_loops(spec: Mapping[str, Any]) -> list[str]:
    frequencies = np.asarray([float(f) for f in spec["frequencies"]], dtype=float)
    if len(frequencies) == 0 or not np.all(np.isfinite(frequencies)) or np.any(frequencies <= 0):
        raise ValueError("eis: frequencies must be a non-empty list of positive numbers")
    amplitude = _positive(spec, "amplitude")
    dc = float(spec.get("dc_potential") or 0.0)
    logs = np.log(frequencies)
    log_spaced = len(frequencies) == 1 or np.allclose(
        logs, np.linspace(logs[0], logs[-1], len(logs)), rtol=0, atol=1e-6
    )
    groups = [frequencies] if log_spaced else [np.asarray([f]) for f in frequencies]
    lines: list[str] = []
    for group in groups:
        lines += [
            f"meas_loop_eis f r j {_n(amplitude)} {_n(group[0])} {_n(group[-1])} "
            f"{len(group)}i {_n(dc)}",
            *_indent(_PACKET_EIS),
            "endloop",
        ]
    return lines


def build_script(
    spec: Mapping[str, Any], *, current_range: float, potential_window: float
) -> ScriptPlan:
    """The script that runs technique ``spec`` (an SI mapping of the technique contract).

    Args:
        spec: the technique (``kind`` and its keys, floats in SI units).
        current_range: the largest current the instrument may measure or apply, A (a technique's
            ``current_limit`` below it wins).
        potential_window: the largest |potential| of galvanostatic segments, V (a technique's
            ``compliance_voltage`` is applied as a stop guard in addition).

    Raises:
        TechniqueNotSupportedError: an unknown kind.
        ValueError: a missing or nonsensical parameter.
    """
    kind = str(spec.get("kind", ""))
    try:
        return _BUILDERS[kind](spec, current_range, potential_window)
    except KeyError as error:
        if kind not in _BUILDERS:
            raise TechniqueNotSupportedError(
                f"technique {kind!r} has no MethodSCRIPT; known: {sorted(_BUILDERS)}"
            ) from None
        raise ValueError(f"{kind}: missing parameter {error.args[0]!r}") from None


def _limit(spec: Mapping[str, Any], current_range: float) -> float:
    limit = spec.get("current_limit")
    return current_range if limit is None else min(abs(float(limit)), current_range)


def _ocv(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del current_range, window
    interval, duration = _positive(spec, "interval"), _positive(spec, "duration")
    lines = [
        "var t",
        "var p",
        "set_pgstat_chan 0",
        f"set_pgstat_mode {MODE_POTENTIOSTAT}",
        f"set_max_bandwidth {_bandwidth(interval)}",
        "cell_off",
        "timer_start",
        f"meas_loop_ocp p {_n(interval)} {_n(duration)}",
        *_indent(_PACKET_OCP),
        "endloop",
    ]
    return ScriptPlan("ocv", (*lines, "on_finished:", "  cell_off"), "time", interval)


def _ca(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del window
    interval, duration = _positive(spec, "interval"), _positive(spec, "duration")
    potential = float(spec["potential"])
    limit = _limit(spec, current_range)
    lines = [
        "var t",
        "var p",
        "var c",
        *_potentiostat(MODE_POTENTIOSTAT, interval, potential, potential, potential, limit),
        "timer_start",
        f"meas_loop_ca p c {_n(potential)} {_n(interval)} {_n(duration)}",
        *_indent(_PACKET_TIME),
        "endloop",
    ]
    return ScriptPlan("ca", (*lines, "on_finished:", "  cell_off"), "time", interval)


def _cp(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del current_range
    interval, duration = _positive(spec, "interval"), _positive(spec, "duration")
    current = float(spec["current"])
    lines = [
        "var t",
        "var p",
        "var c",
        *_galvanostat(interval, abs(current), window),
        "timer_start",
        *_cp_loop(current, interval, duration, _compliance_guards(spec), []),
    ]
    return ScriptPlan("cp", (*lines, "on_finished:", "  cell_off"), "time", interval)


def _sweep(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del window
    kind = str(spec["kind"])
    step, scan_rate = _positive(spec, "step"), _positive(spec, "scan_rate")
    interval = step / scan_rate
    start = float(spec["start"])
    if kind == "lsv":
        end = float(spec["end"])
        low, high = min(start, end), max(start, end)
        loop = f"meas_loop_lsv p c {_n(start)} {_n(end)} {_n(step)} {_n(scan_rate)}"
    else:
        vertex1, vertex2 = float(spec["vertex1"]), float(spec["vertex2"])
        cycles = int(spec.get("cycles") or 1)
        if cycles < 1:
            raise ValueError(f"cv: cycles must be at least 1, got {cycles}")
        low, high = min(start, vertex1, vertex2), max(start, vertex1, vertex2)
        loop = (
            f"meas_loop_cv p c {_n(start)} {_n(vertex1)} {_n(vertex2)} {_n(step)} "
            f"{_n(scan_rate)} nscans({cycles})"
        )
    limit = _limit(spec, current_range)
    lines = [
        "var t",
        "var p",
        "var c",
        *_potentiostat(MODE_POTENTIOSTAT, interval, low, high, start, limit),
        "timer_start",
        loop,
        *_indent(_PACKET_TIME),
        "endloop",
    ]
    return ScriptPlan(kind, (*lines, "on_finished:", "  cell_off"), "time", interval)


def _eis(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del window
    frequencies = [float(f) for f in spec["frequencies"]]
    dc = float(spec.get("dc_potential") or 0.0)
    loops = _eis_loops(spec)
    lines = [
        "var f",
        "var r",
        "var j",
        "set_pgstat_chan 0",
        f"set_pgstat_mode {MODE_HIGH_SPEED}",
        f"set_max_bandwidth {_n(min(4 * max(frequencies), 1e6))}",
        f"set_range_minmax da {_n(dc)} {_n(dc)}",
        f"set_range ba {_n(current_range)}",
        f"set_autoranging ba {_n(_LOWEST_RANGE)} {_n(current_range)}",
        f"set_e {_n(dc)}",
        "cell_on",
        *loops,
    ]
    gap = 5.0 / min(frequencies) + 1.0
    return ScriptPlan("eis", (*lines, "on_finished:", "  cell_off"), "eis", gap)


def _pulse_train(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del current_range
    on_time, off_time = _positive(spec, "on_time"), _positive(spec, "off_time")
    interval = float(spec.get("interval") or min(on_time, off_time))
    cycles = int(spec["cycles"])
    if cycles < 1:
        raise ValueError(f"pulse_train: cycles must be at least 1, got {cycles}")
    on_current, off_current = float(spec["on_current"]), float(spec.get("off_current") or 0.0)
    guards = _compliance_guards(spec)
    lines = [
        "var t",
        "var p",
        "var c",
        "var n",
        "var m",
        "store_var n 0i ja",
        f"store_var m {cycles}i ja",
        *_galvanostat(interval, max(abs(on_current), abs(off_current)), window),
        "timer_start",
        "loop n < m",
        *_indent(_cp_loop(on_current, interval, on_time, guards, [])),
        *_indent(_cp_loop(off_current, interval, off_time, guards, [])),
        "  add_var n 1i",
        "endloop",
    ]
    return ScriptPlan("pulse_train", (*lines, "on_finished:", "  cell_off"), "time", interval)


def _plate_strip(spec: Mapping[str, Any], current_range: float, window: float) -> ScriptPlan:
    del current_range
    interval = _positive(spec, "interval")
    plate_current, strip_current = float(spec["plate_current"]), float(spec["strip_current"])
    if plate_current == 0 or strip_current == 0:
        raise ValueError("plate_strip: plate_current and strip_current must not be zero")
    plate_charge = _positive(spec, "plate_charge")
    rest = float(spec.get("rest_time") or 0.0)
    cutoff = float(spec["cutoff_potential"])
    guards = _compliance_guards(spec)
    comparison = ">=" if strip_current > 0 else "<="
    cut = [f"if p {comparison} {_n(cutoff)}", "  breakloop", "endif"]
    lines = [
        "var t",
        "var p",
        "var c",
        *_galvanostat(interval, max(abs(plate_current), abs(strip_current)), window),
        "timer_start",
        *_cp_loop(plate_current, interval, plate_charge / abs(plate_current), guards, []),
    ]
    if rest > 0:
        lines += _cp_loop(0.0, interval, rest, guards, [])
    strip_time = 1.5 * plate_charge / abs(strip_current)
    lines += _cp_loop(strip_current, interval, strip_time, guards, cut)
    return ScriptPlan("plate_strip", (*lines, "on_finished:", "  cell_off"), "time", interval)


_BUILDERS = {
    "ocv": _ocv,
    "ca": _ca,
    "cp": _cp,
    "lsv": _sweep,
    "cv": _sweep,
    "eis": _eis,
    "pulse_train": _pulse_train,
    "plate_strip": _plate_strip,
}
