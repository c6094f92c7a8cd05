"""The status server's node tree: what exists, where, with which data type.

The layout follows the OPC UA LADS companion specification for laboratory devices (OPC 30500-1):
a ``DeviceSet`` of devices, each with a ``FunctionalUnitSet`` whose functional units hold a
``FunctionSet`` of functions; sensors publish a ``SensorValue``, other functions a
``CurrentValue``; the RunEngine is the lab's own functional unit, with a
``FunctionalUnitState`` and a ``ProgramManager/ActiveProgram`` (the running campaign). The LADS
nodeset (``Opc.Ua.LADS.NodeSet2.xml``) is not shipped with asyncua nor installed here, so the tree
is made of plain objects, folders and variables with LADS names, not of the LADS object types.

Every node of the tree lives in the namespace :data:`NAMESPACE_URI`, and its node id is its path
from ``Objects`` as a string: ``ns=<idx>;s=Lab/DeviceSet/glovebox/FunctionalUnitSet/glovebox/
FunctionSet/o2/SensorValue``. Values are read-only for every client.

::

    Objects/Lab
      Identification/      Name, Operator, ConfigPath, ConfigHash, LabctlVersion
      DeviceSet/<device>/  Kind, Driver, Address, DeviceState (Online | Fault), LastError
        FunctionalUnitSet/<device>/FunctionSet/<signal>/
                           SensorValue (sensors: the device's read() keys) or CurrentValue
                           (other devices: cached state/technique/summary scalars), Units
      RunEngine/           FunctionalUnitState/CurrentState (idle | running | paused | ...),
                           CurrentPlan, CurrentRunUid, ScanId, RunsStarted, LastExitStatus,
                           LastReason; methods Pause, PauseNow, Resume, Abort (writable only)
        ProgramManager/ActiveProgram/
                           CampaignId, Status (none | running | paused | ended), ExperimentsDone,
                           ExperimentBudget, CurrentIteration, CurrentAttempt, FailedAttempts
          LastResult/      Iteration, Attempt, Status, Reason, Inputs (JSON), <objective>
          BestSoFar/       <objective> (best value so far, per the objective's direction)
      Alarms/              ActiveCount, Summary
        <device>_<channel>/  Active, Value, Low, High, Message   (a limited sensor channel)
        <device>_unreadable/ Active, Value, Low, High, Message   (a sensor that cannot be read)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ALARMS",
    "CAMPAIGN",
    "DEVICES",
    "FOLDERS",
    "IDENTIFICATION",
    "NAMESPACE_URI",
    "ROOT",
    "RUN_ENGINE",
    "MethodSpec",
    "ValueKind",
    "VariableSpec",
    "alarm_path",
    "coerce",
    "device_path",
    "function_path",
    "kind_of",
]

NAMESPACE_URI = "urn:labctl:status"
"""The namespace of every node of the status tree."""

ROOT = "Lab"
IDENTIFICATION = f"{ROOT}/Identification"
DEVICES = f"{ROOT}/DeviceSet"
RUN_ENGINE = f"{ROOT}/RunEngine"
CAMPAIGN = f"{RUN_ENGINE}/ProgramManager/ActiveProgram"
ALARMS = f"{ROOT}/Alarms"

FOLDERS = frozenset({"DeviceSet", "FunctionalUnitSet", "FunctionSet", "Alarms", "BestSoFar"})
"""Path segments made as folders (collections) rather than objects."""

ValueKind = Literal["Double", "Int64", "Boolean", "String"]
"""The OPC UA built-in data type of a variable."""


@dataclass(frozen=True)
class VariableSpec:
    """One variable of the tree.

    Args:
        path: ``/``-separated browse names from ``Objects`` (also the string node id).
        kind: its data type.
        description: what it is, for people (with its unit when it has one).
        initial: its value before the lab reports one.
    """

    path: str
    kind: ValueKind
    description: str = ""
    initial: Any = None

    @property
    def parent(self) -> str:
        """The path of the object holding it."""
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        """Its browse name."""
        return self.path.rsplit("/", 1)[1]


@dataclass(frozen=True)
class MethodSpec:
    """One method of the tree (only on a writable server).

    Args:
        path: ``/``-separated browse names, the method's last.
        description: what calling it does.
    """

    path: str
    description: str

    @property
    def parent(self) -> str:
        """The path of the object holding it."""
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        """Its browse name."""
        return self.path.rsplit("/", 1)[1]


def device_path(device: str) -> str:
    """The path of a device's node."""
    return f"{DEVICES}/{device}"


def function_path(device: str, function: str) -> str:
    """The path of one function (signal) of a device's single functional unit."""
    return f"{DEVICES}/{device}/FunctionalUnitSet/{device}/FunctionSet/{function}"


def alarm_path(name: str) -> str:
    """The path of one alarm's object."""
    return f"{ALARMS}/{name}"


def kind_of(value: Any) -> ValueKind | None:
    """The data type a Python value is published as (``None``: not a scalar, not published)."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Double"
    if isinstance(value, str):
        return "String"
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # numpy scalar
        return kind_of(item())
    return None


def coerce(kind: ValueKind, value: Any) -> Any:
    """``value`` as the Python value of a variable of ``kind`` (``None`` → NaN, 0, False, "")."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        value = item()
    if kind == "Double":
        if value is None:
            return math.nan
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan
    if kind == "Int64":
        try:
            return int(value) if value is not None else 0
        except (TypeError, ValueError, OverflowError):
            return 0
    if kind == "Boolean":
        return bool(value)
    return "" if value is None else str(value)
