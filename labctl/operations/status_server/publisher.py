"""What the lab is doing, gathered for the status tree without ever blocking the RunEngine.

:class:`LabPublisher` keeps the current value of every variable of the tree
(:mod:`labctl.operations.status_server.tree`) behind a lock and remembers which changed; the server
drains the changes onto its nodes. Values come from four places:

- the RunEngine's documents (a subscription: a start document names the plan, the run and, for a
  campaign, its id, iteration and attempt; a stop document its exit status) — the callback only
  updates the table, so it costs the RunEngine's thread microseconds;
- a poll thread (``status-server-poll``) every ``period`` seconds: sensors' values (from the
  lab's safety watch when one reads that sensor already, else the sensor's ``channel_values()``
  or ``read()``) and every other device's cached scalar signals (never a read that would talk to
  an instrument or trigger anything); alarms are computed from the sensor values and limits;
- the campaign's ``on_record`` hook (:meth:`LabPublisher.on_record`): progress, last result and
  best value so far per objective;
- :meth:`LabPublisher.refresh_run_engine`, which the server calls often: the RunEngine's state.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

from ophyd import Signal

from labctl import __version__
from labctl.devices.alarms import AlarmLimits
from labctl.operations.status_server.tree import (
    ALARMS,
    CAMPAIGN,
    IDENTIFICATION,
    RUN_ENGINE,
    ValueKind,
    VariableSpec,
    alarm_path,
    coerce,
    device_path,
    function_path,
    kind_of,
)
from labctl.protocols import LabLike

__all__ = ["LabPublisher"]

log = logging.getLogger(__name__)


class _Channel:
    """A sensor channel the tree shows: its function name, read() key and alarm limits."""

    def __init__(self, function: str, key: str, units: str, limits: AlarmLimits) -> None:
        self.function = function
        self.key = key
        self.units = units
        self.limits = limits


class LabPublisher:
    """The lab's state as tree values, updated from documents, polls and campaign records.

    Args:
        lab: the running lab (``RE``, ``devices``, ``config``, ``sensors()``,
            ``safety_watches``).
        period: seconds between polls of the devices.
    """

    def __init__(self, lab: LabLike, period: float = 1.0) -> None:
        self.lab = lab
        self.period = period
        self._lock = threading.Lock()
        self._specs: dict[str, VariableSpec] = {}
        self._values: dict[str, Any] = {}
        self._dirty: set[str] = set()
        self._new: list[VariableSpec] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: int | None = None
        self._sensors: dict[str, list[_Channel]] = {}
        self._soft: dict[str, dict[str, Signal]] = {}
        self._campaign_iterations: set[int] = set()
        self._failed_attempts = 0
        self._runs_started = 0
        self._directions = _directions(lab)
        self._describe_lab()

    # ----- the table -------------------------------------------------------------------------

    def specs(self) -> list[VariableSpec]:
        """Every variable known so far (the server builds its tree from these)."""
        with self._lock:
            self._new.clear()
            return list(self._specs.values())

    def value(self, path: str) -> Any:
        """The current value of the variable at ``path``."""
        with self._lock:
            return self._values[path]

    def drain(self) -> tuple[list[VariableSpec], dict[str, Any]]:
        """Variables added since the last call, and the values changed since then."""
        with self._lock:
            new, self._new = self._new, []
            changed = {path: self._values[path] for path in self._dirty}
            self._dirty.clear()
        return new, changed

    def _declare(self, spec: VariableSpec) -> None:
        with self._lock:
            self._add(spec)

    def _add(self, spec: VariableSpec) -> None:
        if spec.path in self._specs:
            return
        self._specs[spec.path] = spec
        self._values[spec.path] = coerce(spec.kind, spec.initial)
        self._new.append(spec)

    def _set(self, path: str, value: Any, kind: ValueKind | None = None) -> None:
        """Set a value (declaring the variable when new); call with the lock held."""
        spec = self._specs.get(path)
        if spec is None:
            chosen = kind or kind_of(value) or "String"
            spec = VariableSpec(path, chosen, initial=value)
            self._add(spec)
        new = coerce(spec.kind, value)
        old = self._values.get(path)
        if _same(old, new):
            return
        self._values[path] = new
        self._dirty.add(path)

    def _update(self, values: Mapping[str, Any]) -> None:
        with self._lock:
            for path, value in values.items():
                self._set(path, value)

    # ----- what the lab has ------------------------------------------------------------------

    def _describe_lab(self) -> None:
        lab = self.lab
        config = lab.config
        identification = {
            "Name": (lab.name, "the lab's name"),
            "Operator": (config.model.lab.operator, "who runs it"),
            "ConfigPath": (str(config.source), "the lab config file"),
            "ConfigHash": (config.hash, "SHA-256 of the parsed config"),
            "LabctlVersion": (__version__, "labctl's version"),
        }
        for name, (value, description) in identification.items():
            self._declare(VariableSpec(f"{IDENTIFICATION}/{name}", "String", description, value))
        sensors = {id(device) for device in lab.sensors()}
        for name, device in lab.devices.items():
            self._describe_device(name, device, config.model.devices.get(name))
            if id(device) in sensors:
                self._describe_sensor(name, device)
            else:
                self._describe_soft_signals(name, device)
        self._describe_run_engine()
        self._describe_alarms()

    def _describe_device(self, name: str, device: Any, config: Any) -> None:
        base = device_path(name)
        address = getattr(getattr(device, "transport", None), "address", None)
        if address is None and config is not None:
            address = config.address or (f"twin: {config.twin.kind}" if config.twin else "")
        fields = {
            "Kind": (getattr(config, "kind", type(device).__name__), "what the device is"),
            "Driver": (getattr(config, "driver", ""), "the wire protocol its driver speaks"),
            "Address": (address or "", "where the instrument is"),
            "DeviceState": ("Online", "Online, or Fault when it cannot be read"),
            "LastError": ("", "why the last read failed (empty when it succeeded)"),
        }
        for field, (value, description) in fields.items():
            self._declare(VariableSpec(f"{base}/{field}", "String", description, value))

    def _describe_sensor(self, name: str, device: Any) -> None:
        try:
            described = device.describe()
        except Exception as error:
            log.warning("status server: cannot describe sensor %s: %s", name, error)
            return
        channels = []
        for walk in device.walk_signals():
            signal = walk.item
            key = str(getattr(signal, "name", ""))
            if key not in described:
                continue
            description = described[key]
            if description.get("shape"):
                continue  # arrays are not status values
            units = str(description.get("units", ""))
            limits = AlarmLimits.from_data_key(description)
            channel = _Channel(walk.dotted_name, key, units, limits)
            channels.append(channel)
            base = function_path(name, channel.function)
            text = str(getattr(getattr(signal, "channel", None), "description", "") or key)
            self._declare(
                VariableSpec(
                    f"{base}/SensorValue",
                    "String" if description.get("dtype") == "string" else "Double",
                    f"{text} ({units})" if units else text,
                )
            )
            self._declare(VariableSpec(f"{base}/Units", "String", "unit of SensorValue", units))
            if limits.bounded:
                self._describe_alarm(
                    f"{name}_{channel.function.replace('.', '_')}",
                    f"{key} outside its alarm limits",
                    limits,
                )
        self._sensors[name] = channels
        self._describe_alarm(f"{name}_unreadable", f"{name} cannot be read", (None, None))

    def _describe_soft_signals(self, name: str, device: Any) -> None:
        signals: dict[str, Signal] = {}
        for walk in device.walk_signals():
            signal = walk.item
            # Only signals that hold their value in memory: reading them never talks to the
            # instrument (a subclass that overrides get() may).
            if not isinstance(signal, Signal) or type(signal).get is not Signal.get:
                continue
            try:
                value = signal.get()
            except Exception:  # a signal that cannot say its value is not a status value
                continue
            kind = kind_of(value)
            if kind is None:
                continue
            units = _units(signal)
            base = function_path(name, walk.dotted_name)
            description = f"{signal.name} ({units})" if units else signal.name
            self._declare(VariableSpec(f"{base}/CurrentValue", kind, description, value))
            self._declare(VariableSpec(f"{base}/Units", "String", "unit of CurrentValue", units))
            signals[walk.dotted_name] = signal
        self._soft[name] = signals

    def _describe_run_engine(self) -> None:
        state = f"{RUN_ENGINE}/FunctionalUnitState/CurrentState"
        specs = [
            VariableSpec(state, "String", "idle, running, paused, ... (bluesky's states)", "idle"),
            VariableSpec(f"{RUN_ENGINE}/CurrentPlan", "String", "plan_name of the last run"),
            VariableSpec(f"{RUN_ENGINE}/CurrentRunUid", "String", "uid of the open run"),
            VariableSpec(f"{RUN_ENGINE}/ScanId", "Int64", "scan_id of the last run"),
            VariableSpec(f"{RUN_ENGINE}/RunsStarted", "Int64", "runs started since serving"),
            VariableSpec(f"{RUN_ENGINE}/LastExitStatus", "String", "success, fail or abort"),
            VariableSpec(f"{RUN_ENGINE}/LastReason", "String", "why the last run ended so"),
            VariableSpec(f"{CAMPAIGN}/CampaignId", "String", "the running campaign's id"),
            VariableSpec(f"{CAMPAIGN}/Status", "String", "none, running, paused or ended", "none"),
            VariableSpec(f"{CAMPAIGN}/ExperimentsDone", "Int64", "proposals finished"),
            VariableSpec(
                f"{CAMPAIGN}/ExperimentBudget",
                "Int64",
                "experiments in the budget (0: unknown)",
                _budget(self.lab),
            ),
            VariableSpec(f"{CAMPAIGN}/CurrentIteration", "Int64", "proposal running", -1),
            VariableSpec(f"{CAMPAIGN}/CurrentAttempt", "Int64", "attempt running (1 or 2)"),
            VariableSpec(f"{CAMPAIGN}/FailedAttempts", "Int64", "failed attempts so far"),
            VariableSpec(f"{CAMPAIGN}/StopReason", "String", "why the campaign ended"),
            VariableSpec(
                f"{CAMPAIGN}/LastResult/Iteration", "Int64", "last attempt's proposal", -1
            ),
            VariableSpec(f"{CAMPAIGN}/LastResult/Attempt", "Int64", "last attempt's number"),
            VariableSpec(f"{CAMPAIGN}/LastResult/Status", "String", "completed or failed"),
            VariableSpec(f"{CAMPAIGN}/LastResult/Reason", "String", "why it failed"),
            VariableSpec(f"{CAMPAIGN}/LastResult/Inputs", "String", "the proposal (JSON)"),
        ]
        for objective, direction in self._directions.items():
            specs.append(
                VariableSpec(f"{CAMPAIGN}/LastResult/{objective}", "Double", f"{objective}")
            )
            if direction == "none":  # measured and constrained, not optimized: no "best"
                continue
            specs.append(
                VariableSpec(
                    f"{CAMPAIGN}/BestSoFar/{objective}",
                    "Double",
                    f"best {objective} ({direction})",
                )
            )
        for spec in specs:
            self._declare(spec)

    def _describe_alarms(self) -> None:
        self._declare(VariableSpec(f"{ALARMS}/ActiveCount", "Int64", "alarms active now"))
        self._declare(VariableSpec(f"{ALARMS}/Summary", "String", "messages of active alarms"))

    def _describe_alarm(
        self, name: str, meaning: str, limits: tuple[float | None, float | None]
    ) -> None:
        base = alarm_path(name)
        low, high = limits
        for spec in (
            VariableSpec(f"{base}/Active", "Boolean", meaning, False),
            VariableSpec(f"{base}/Value", "Double", "the value checked"),
            VariableSpec(f"{base}/Low", "Double", "lower alarm limit (NaN: none)", low),
            VariableSpec(f"{base}/High", "Double", "upper alarm limit (NaN: none)", high),
            VariableSpec(f"{base}/Message", "String", "what is wrong (empty when inactive)"),
        ):
            self._declare(spec)

    # ----- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the RunEngine, poll once now, then poll on a thread every ``period``."""
        if self._thread is not None:
            return
        self._token = self.lab.RE.subscribe(self._on_document)
        self.refresh_run_engine()
        self.poll_once()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="status-server-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Unsubscribe and stop polling (waits for the poll thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period + 10.0)
            self._thread = None
        if self._token is not None:
            self.lab.RE.unsubscribe(self._token)
            self._token = None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.poll_once()
            except Exception:  # one bad poll must not end the status server
                log.exception("status server: polling the lab failed")

    def poll_once(self) -> None:
        """Read every sensor and every device's cached signals now; recompute the alarms."""
        alarms: list[str] = []
        for name, channels in self._sensors.items():
            alarms.extend(self._poll_sensor(name, channels))
        for name, signals in self._soft.items():
            values = {}
            for function, signal in signals.items():
                try:
                    values[f"{function_path(name, function)}/CurrentValue"] = signal.get()
                except Exception as error:  # pragma: no cover — soft signals do not fail
                    log.debug("status server: %s.%s: %s", name, function, error)
            self._update(values)
        with self._lock:
            self._set(f"{ALARMS}/ActiveCount", len(alarms))
            self._set(f"{ALARMS}/Summary", "; ".join(alarms))

    def _poll_sensor(self, name: str, channels: list[_Channel]) -> list[str]:
        """Publish one sensor's values and alarms; return the messages of its active alarms."""
        try:
            values = self._sensor_values(name, channels)
            error = ""
        except Exception as failure:  # any failure is shown, never raised into the poll loop
            values, error = {}, str(failure) or type(failure).__name__
        active: list[str] = []
        updates: dict[str, Any] = {
            f"{device_path(name)}/DeviceState": "Fault" if error else "Online",
            f"{device_path(name)}/LastError": error,
        }
        unreadable = alarm_path(f"{name}_unreadable")
        updates[f"{unreadable}/Active"] = bool(error)
        updates[f"{unreadable}/Message"] = f"{name} cannot be read: {error}" if error else ""
        if error:
            active.append(updates[f"{unreadable}/Message"])
        for channel in channels:
            value = values.get(channel.function)
            if value is None:
                continue
            updates[f"{function_path(name, channel.function)}/SensorValue"] = value
            if channel.limits == (None, None):
                continue
            message = _limit_message(channel, value)
            base = alarm_path(f"{name}_{channel.function.replace('.', '_')}")
            updates[f"{base}/Value"] = value
            updates[f"{base}/Active"] = bool(message)
            updates[f"{base}/Message"] = message
            if message:
                active.append(message)
        self._update(updates)
        return active

    def _sensor_values(self, name: str, channels: list[_Channel]) -> dict[str, Any]:
        """Function → value: from the lab's safety watch when it reads this sensor, else read."""
        device = self.lab.devices[name]
        for watch in getattr(self.lab, "safety_watches", ()):
            if watch.device is device:
                if watch.fault.get():
                    raise RuntimeError(watch.last_error or "the safety watch cannot read it")
                return {
                    channel: signal.get()
                    for channel, signal in watch.signals.items()
                    if not _is_nan(signal.get())
                }
        channel_values = getattr(device, "channel_values", None)
        if callable(channel_values):
            return dict(channel_values())
        reading = device.read()
        return {
            channel.function: reading[channel.key]["value"]
            for channel in channels
            if channel.key in reading
        }

    def refresh_run_engine(self) -> None:
        """Publish the RunEngine's state (and the campaign's, which follows it)."""
        state = str(self.lab.RE.state)
        with self._lock:
            self._set(f"{RUN_ENGINE}/FunctionalUnitState/CurrentState", state)
            if self._values.get(f"{CAMPAIGN}/CampaignId"):
                campaign = state if state in ("running", "paused") else "ended"
                self._set(f"{CAMPAIGN}/Status", campaign)

    def _on_document(self, name: str, document: Mapping[str, Any]) -> None:
        """RunEngine subscription: update the table (runs on the RunEngine's thread: be quick)."""
        try:
            if name == "start":
                self._on_start(document)
            elif name == "stop":
                self._on_stop(document)
        except Exception:  # a status display must never break a run
            log.exception("status server: cannot digest a %s document", name)

    def _on_start(self, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._runs_started += 1
            self._set(f"{RUN_ENGINE}/RunsStarted", self._runs_started)
            self._set(f"{RUN_ENGINE}/CurrentPlan", document.get("plan_name", ""))
            self._set(f"{RUN_ENGINE}/CurrentRunUid", document.get("uid", ""))
            self._set(f"{RUN_ENGINE}/ScanId", document.get("scan_id", 0))
            campaign = document.get("campaign")
            if campaign is None:
                return
            if campaign != self._values.get(f"{CAMPAIGN}/CampaignId"):
                self._campaign_iterations.clear()
                self._failed_attempts = 0
                self._set(f"{CAMPAIGN}/CampaignId", campaign)
                self._set(f"{CAMPAIGN}/StopReason", "")
            self._set(f"{CAMPAIGN}/Status", "running")
            self._set(f"{CAMPAIGN}/CurrentIteration", document.get("iteration", -1))
            self._set(f"{CAMPAIGN}/CurrentAttempt", document.get("attempt", 0))

    def _on_stop(self, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._set(f"{RUN_ENGINE}/CurrentRunUid", "")
            self._set(f"{RUN_ENGINE}/LastExitStatus", document.get("exit_status", ""))
            self._set(f"{RUN_ENGINE}/LastReason", document.get("reason", ""))
            iteration = self._values.get(f"{CAMPAIGN}/CurrentIteration", -1)
            if self._values.get(f"{CAMPAIGN}/CampaignId") and iteration >= 0:
                # Without on_record, a finished run is the best available measure of progress.
                self._campaign_iterations.add(int(iteration))
                done = max(
                    len(self._campaign_iterations), self._values[f"{CAMPAIGN}/ExperimentsDone"]
                )
                self._set(f"{CAMPAIGN}/ExperimentsDone", done)

    def on_record(self, record: Any, state: Any) -> None:
        """A campaign's ``on_record`` hook: progress, last result and best so far.

        Pass it (or a function calling it) as ``on_record`` to
        :func:`labctl.campaign.runner.run_campaign` or ``campaign_plan``.
        """
        from labctl.campaign.runner import best_values

        best = best_values(state, self._directions)
        failed = sum(1 for item in state.records if item.status != "completed")
        with self._lock:
            self._set(f"{CAMPAIGN}/CampaignId", state.campaign)
            self._set(f"{CAMPAIGN}/ExperimentsDone", state.proposals_done)
            self._set(f"{CAMPAIGN}/FailedAttempts", failed)
            self._set(f"{CAMPAIGN}/StopReason", state.stop_reason or "")
            result = f"{CAMPAIGN}/LastResult"
            self._set(f"{result}/Iteration", record.iteration, "Int64")
            self._set(f"{result}/Attempt", record.attempt, "Int64")
            self._set(f"{result}/Status", record.status)
            self._set(f"{result}/Reason", record.reason or "")
            self._set(f"{result}/Inputs", json.dumps(_plain(record.inputs), sort_keys=True))
            for objective, value in (record.outcome or {}).items():
                self._set(f"{result}/{objective}", float(value), "Double")
            if record.status != "completed":
                for objective in self._directions:
                    self._set(f"{result}/{objective}", math.nan, "Double")
            for objective, value in best.items():
                self._set(f"{CAMPAIGN}/BestSoFar/{objective}", value, "Double")


def _directions(lab: LabLike) -> dict[str, str]:
    section = lab.config.model.campaign
    if section is None:
        return {}
    from labctl.optimizers.objectives import Objectives

    return Objectives(section.objectives).directions


def _budget(lab: LabLike) -> int:
    section = lab.config.model.campaign
    return 0 if section is None else int(section.budget.experiments)


def _units(signal: Signal) -> str:
    units = getattr(signal, "units", None)
    if isinstance(units, str):
        return units
    try:
        return str(signal.describe()[signal.name].get("units", "") or "")
    except Exception:
        return ""


def _limit_message(channel: _Channel, value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    violation = channel.limits.violation(number)
    return "" if violation is None else f"{channel.key} = {number:g} {channel.units} {violation}"


def _plain(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as JSON-ready values: quantities as {"value", "units"}."""
    from labctl.plans.records import inputs_metadata

    return inputs_metadata(inputs)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _same(old: Any, new: Any) -> bool:
    if type(old) is not type(new):
        return False
    if _is_nan(old) and _is_nan(new):
        return True
    return bool(old == new)
