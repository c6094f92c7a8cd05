"""Reading a MethodSCRIPT: numbers, commands, block structure, and the errors the twin reports.

A script is one command per line (``#`` starts a comment, indentation is free); numbers are whole
numbers with an optional SI prefix (``100m``, ``-5u``, ``2``) or integers with ``i`` (``5i``);
variables are declared with ``var`` before use. Blocks: ``loop <a> <op> <b>`` … ``endloop``,
``meas_loop_*`` … ``endloop``, ``if <a> <op> <b>`` … ``endif``; ``on_finished:`` starts the part
that runs at the end (also after an abort). Sources as in
:mod:`labctl.devices.potentiostat.methodscript_scripts` (MethodSCRIPT manual v1.8 and PalmSens'
example scripts).

Error codes: the twin answers with ``!XXXX`` codes of its own table (:data:`ERRORS`). ``0x0006``
(nothing to abort) is the code PalmSens' example code expects from the real instrument; the
others are this twin's choices, modelled on the categories of the manual's error table (unknown
command, syntax, value out of range, wrong cell or pgstat state) — a driver must treat any code as
an instrument error and report it, which is what the tests check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "ERRORS",
    "Command",
    "Program",
    "ScriptError",
    "compile_script",
    "parse_number",
]

ERRORS: dict[int, str] = {
    0x0001: "instrument error (injected fault)",
    0x0003: "unknown command",
    0x0006: "not possible now (no script running, or a script is running)",
    0x000F: "potential out of the instrument's range",
    0x0010: "current out of the instrument's range",
    0x0011: "frequency out of the instrument's range",
    0x0012: "amplitude out of the instrument's range",
    0x0013: "invalid timing or step parameter",
    0x0014: "the cell must be off for an open-circuit measurement",
    0x0023: "the pgstat mode does not allow this measurement",
    0x4001: "syntax error",
    0x4002: "unknown or undeclared variable",
    0x4003: "wrong number of arguments",
    0x4004: "unbalanced block (loop/if/endloop/endif)",
    0x4027: "the cell must be on for this measurement",
}

_PREFIXES = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_NUMBER = re.compile(r"([+-]?\d{1,12})([afpnumkMGTPE]?|i)")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_NSCANS = re.compile(r"nscans\((\d{1,6})\)")
_OPERATORS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_TYPE = re.compile(r"[a-z]{2}")

# command → (fewest, most) arguments
_ARITY: dict[str, tuple[int, int]] = {
    "var": (1, 1),
    "store_var": (3, 3),
    "add_var": (2, 2),
    "copy_var": (2, 2),
    "set_pgstat_chan": (1, 1),
    "set_pgstat_mode": (1, 1),
    "set_max_bandwidth": (1, 1),
    "set_range": (2, 2),
    "set_range_minmax": (3, 3),
    "set_autoranging": (3, 3),
    "set_e": (1, 1),
    "set_i": (1, 1),
    "cell_on": (0, 0),
    "cell_off": (0, 0),
    "wait": (1, 1),
    "timer_start": (0, 0),
    "timer_get": (1, 1),
    "pck_start": (0, 0),
    "pck_add": (1, 1),
    "pck_end": (0, 0),
    "loop": (3, 3),
    "endloop": (0, 0),
    "breakloop": (0, 0),
    "if": (3, 3),
    "endif": (0, 0),
    "on_finished:": (0, 0),
    "meas_loop_ocp": (3, 3),
    "meas_loop_ca": (5, 5),
    "meas_loop_cp": (5, 5),
    "meas_loop_lsv": (6, 6),
    "meas_loop_cv": (7, 8),
    "meas_loop_eis": (8, 8),
}
_OPENERS = {"loop": "endloop", "if": "endif"}
_OUTPUTS = {  # measurement loop → how many leading arguments are output variables
    "meas_loop_ocp": 1,
    "meas_loop_ca": 2,
    "meas_loop_cp": 2,
    "meas_loop_lsv": 2,
    "meas_loop_cv": 2,
    "meas_loop_eis": 3,
}


class ScriptError(Exception):
    """The script is refused (at load) or stops (while running) with an instrument error code.

    Args:
        code: the error code (:data:`ERRORS`).
        line: the script line (1 = the first line after ``e``).
        column: the column, for load-time errors.
    """

    def __init__(self, code: int, line: int, column: int | None = None) -> None:
        super().__init__(f"!{code:04X} line {line}: {ERRORS.get(code, 'error')}")
        self.code = code
        self.line = line
        self.column = column

    def reply(self, prefix: str = "") -> str:
        """The error line the instrument sends (``e!4001: Line 3, Col 1``, ``!000F: Line 9``)."""
        where = f"Line {self.line}" + ("" if self.column is None else f", Col {self.column}")
        return f"{prefix}!{self.code:04X}: {where}"


def parse_number(token: str) -> float | None:
    """A number literal → its value; ``None`` when ``token`` is not one (e.g. a variable)."""
    match = _NUMBER.fullmatch(token)
    if match is None:
        return None
    whole, prefix = match.groups()
    return float(int(whole)) * (1.0 if prefix == "i" else _PREFIXES[prefix])


@dataclass
class Command:
    """One script line: ``name`` and ``args``; ``end`` = index of a block's closing line."""

    line: int
    name: str
    args: list[str]
    end: int = -1


@dataclass
class Program:
    """A compiled script: the body and the ``on_finished:`` part (indices into ``commands``)."""

    commands: list[Command] = field(default_factory=list)
    body_end: int = 0
    finished_start: int = 0


def _check_operand(token: str, declared: set[str], line: int, column: int) -> None:
    if parse_number(token) is None and token not in declared:
        code = 0x4002 if _NAME.fullmatch(token) else 0x4001
        raise ScriptError(code, line, column)


def _check_arguments(command: Command, declared: set[str]) -> None:
    name, args, line = command.name, command.args, command.line
    column = len(name) + 2
    if name == "var":
        if not _NAME.fullmatch(args[0]):
            raise ScriptError(0x4001, line, column)
        declared.add(args[0])
        return
    if name in ("loop", "if"):
        if args[1] not in _OPERATORS:
            raise ScriptError(0x4001, line, column)
        _check_operand(args[0], declared, line, column)
        _check_operand(args[2], declared, line, column)
        return
    if name in ("store_var", "add_var", "copy_var", "timer_get", "pck_add"):
        if args[0] not in declared:
            raise ScriptError(0x4002, line, column)
        if name == "store_var" and not _TYPE.fullmatch(args[2]):
            raise ScriptError(0x4001, line, column)
        if name == "copy_var" and args[1] not in declared:
            raise ScriptError(0x4002, line, column)
        if name in ("store_var", "add_var"):
            _check_operand(args[1], declared, line, column)
        return
    if name in ("set_range", "set_range_minmax", "set_autoranging"):
        if not _TYPE.fullmatch(args[0]):
            raise ScriptError(0x4001, line, column)
        for token in args[1:]:
            _check_operand(token, declared, line, column)
        return
    outputs = _OUTPUTS.get(name, 0)
    for index, token in enumerate(args):
        if index < outputs:
            if token not in declared:
                raise ScriptError(0x4002, line, column)
        elif name == "meas_loop_cv" and index == 7:
            if not _NSCANS.fullmatch(token):
                raise ScriptError(0x4001, line, column)
        else:
            _check_operand(token, declared, line, column)


def nscans(token: str) -> int:
    """The count of a ``nscans(n)`` argument."""
    match = _NSCANS.fullmatch(token)
    return int(match.group(1)) if match else 1


def compile_script(lines: list[str]) -> Program:
    """Check a script's syntax and block structure.

    Raises:
        ScriptError: an unknown command, a malformed argument, an undeclared variable, a wrong
            argument count or unbalanced blocks (line and column of the first problem).
    """
    program = Program()
    declared: set[str] = set()
    stack: list[int] = []
    finished = -1
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        name, *args = text.split()
        if name not in _ARITY:
            raise ScriptError(0x4001, number, 1)
        fewest, most = _ARITY[name]
        if not fewest <= len(args) <= most:
            raise ScriptError(0x4003, number, 1)
        command = Command(number, name, args)
        _check_arguments(command, declared)
        index = len(program.commands)
        program.commands.append(command)
        if name in _OPENERS or name in _OUTPUTS:
            stack.append(index)
        elif name in ("endloop", "endif"):
            if not stack:
                raise ScriptError(0x4004, number, 1)
            opener = program.commands[stack.pop()]
            wanted = _OPENERS.get(opener.name, "endloop")
            if wanted != name:
                raise ScriptError(0x4004, number, 1)
            opener.end = index
        elif name == "breakloop":
            if not any(program.commands[i].name != "if" for i in stack):
                raise ScriptError(0x4004, number, 1)
        elif name == "on_finished:":
            if stack or finished >= 0:
                raise ScriptError(0x4004, number, 1)
            finished = index
    if stack:
        raise ScriptError(0x4004, program.commands[stack[-1]].line, 1)
    program.body_end = finished if finished >= 0 else len(program.commands)
    program.finished_start = finished + 1 if finished >= 0 else len(program.commands)
    return program
