"""The scanning droplet cell: a stage, an electrolyte pump and a potentiostat as one device.

A ``droplet-cell`` device (driver ``composite``) has no address of its own: its options name the
lab's stage, syringe pump and potentiostat, and :meth:`ScanningDropletCell.bind` (called by the
:class:`~labctl.lab.session.Lab` after every device is built, before connecting) finds them. It
keeps the substrate's :class:`~labctl.devices.droplet.sites.SubstrateMap` (a JSON file in the lab's
data directory), so no spot is ever used twice, across processes too.

What it does (each returns an ophyd Status; the work runs on a worker thread):

* :meth:`~ScanningDropletCell.move_to` — claim the site (fresh only), check the travel limits of
  the lift and of the site *before anything moves*, lift to ``safe_z``, travel to the site;
* :meth:`~ScanningDropletCell.flush` — push electrolyte through the cell head (pump ``transfer``
  from ``flush_from`` to ``flush_to``);
* :meth:`~ScanningDropletCell.land` — descend to ``approach_start`` and then step down by
  ``approach_step``; after each step a tiny symmetric current probe (``contact``: ±I pulses, net
  zero charge) asks the potentiostat whether a cell is there: a dry gap drives it to its
  compliance, a landed droplet answers with a small voltage swing (the cell resistance dropped).
  No contact down to ``land_limit`` is an error;
* :meth:`~ScanningDropletCell.lift` — back to ``safe_z``.

The cell offers these moves and its safety watch, not an experiment: the sequence (move to a
fresh site, flush ``flush_volume``, land, measure, lift) is a bluesky plan, e.g.
:func:`labctl.plans.pulsed_charging.pulsed_charging_experiment`, so the RunEngine records,
pauses and aborts it.

Safety. While landed a watcher polls the stage (every ``watch_interval``): the contact sensor on
the controller's probe input (``Pn:P`` in GRBL's status) must stay triggered and the controller
out of alarm. Loss of contact or an alarm stops the running technique, stops the pump and lifts;
any failure (a stage alarm, lost contact, a refused move, no contact found, an instrument error)
ends the same way — technique stopped, pump stopped, cell lifted (a stage in alarm is reset and
unlocked first), the site marked ``failed`` — and the status fails with :class:`DropletError`
naming the site, what was being done and why. When contact goes while a plan's technique runs,
that technique fails with :class:`ContactLost` (or :class:`StageAlarmed`) — or with the
potentiostat's compliance interlock, when the dry gap reached it first — and the run with it;
:attr:`~ScanningDropletCell.fault` says what the cell did about it.

In plans: ``bps.mv(cell, site)`` moves (``"fresh"`` or ``None`` = the next fresh site),
``bps.mv(cell.flushed, 0.05)`` flushes 0.05 mL, ``bps.mv(cell.landed, 1)`` lands and
``bps.mv(cell.landed, 0)`` lifts; the potentiostat measures with
:func:`labctl.plans.techniques.measure`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ophyd import Component, Device, Signal
from ophyd.status import DeviceStatus, Status
from pydantic import BaseModel

from labctl.config import DeviceConfig
from labctl.devices.dispensing.pump import SyringePump
from labctl.devices.droplet.errors import ContactLost, DropletError, StageAlarmed
from labctl.devices.droplet.options import ContactOptions, DropletCellOptions, SubstrateOptions
from labctl.devices.droplet.sites import Site, SiteError, SubstrateMap
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.interlocks import InterlockTripped
from labctl.devices.potentiostat.techniques import PulseTrain
from labctl.devices.readings import Reading
from labctl.devices.stage.device import Stage
from labctl.devices.stage.errors import StageAlarm
from labctl.errors import ConfigError, ConfigIssue, LabctlError, cause_chain
from labctl.units import parse_quantity, to_magnitude, ureg

__all__ = [
    "ContactLost",
    "ContactOptions",
    "DropletCellOptions",
    "DropletError",
    "ScanningDropletCell",
    "StageAlarmed",
    "SubstrateOptions",
]

_log = logging.getLogger(__name__)


class _ActionSignal(Reading):
    """A reading whose ``set`` asks the cell to act (``landed``: land/lift; ``flushed``)."""

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._action = action

    def set(self, value: Any, **kwargs: Any) -> Status:
        """``bps.mv(cell.landed, 1)`` lands, ``0`` lifts; ``bps.mv(cell.flushed, mL)`` flushes."""
        del kwargs
        parent = self.parent
        assert isinstance(parent, ScanningDropletCell)
        if self._action == "land":
            return parent.land() if value else parent.lift()
        return parent.flush(ureg.Quantity(float(value), "mL") if _is_number(value) else value)


class ScanningDropletCell(Device):  # type: ignore[misc]
    """A scanning droplet cell (see the module docstring)."""

    Options: ClassVar[type[BaseModel]] = DropletCellOptions

    site_row = Component(Reading, value=-1, kind="hinted")
    site_column = Component(Reading, value=-1, kind="hinted")
    site_x = Component(Reading, value=math.nan, units="mm", precision=3, kind="normal")
    site_y = Component(Reading, value=math.nan, units="mm", precision=3, kind="normal")
    site_state = Component(Reading, value="", kind="normal")
    contact_z = Component(Reading, value=math.nan, units="mm", precision=3, kind="normal")
    landed = Component(_ActionSignal, value=0, action="land", kind="normal")
    flushed = Component(
        _ActionSignal, value=0.0, action="flush", units="m**3", precision=10, kind="normal"
    )
    phase = Component(Reading, value="idle", kind="normal")
    fault = Component(Reading, value="", kind="normal")
    substrate = Component(Signal, value="", kind="config")

    def __init__(self, *, options: DropletCellOptions, **kwargs: Any) -> None:
        kwargs.setdefault("labels", {"droplet_cells"})
        super().__init__(**kwargs)
        self.options = options
        self.stage: Stage | None = None
        self.pump: SyringePump | None = None
        self.potentiostat: Potentiostat | None = None
        self.sites: SubstrateMap | None = None
        self.current_site: Site | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._busy = False
        self._stop_event = threading.Event()
        self._lost = threading.Event()
        self._lost_reason = ""
        self._lost_alarm = False
        self._watcher: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._safe_lock = threading.Lock()
        self._is_landed = False
        self.substrate.put(options.substrate.name)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: DropletCellOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options, with key paths."""
        where = ("devices", name)
        del options
        issues: list[ConfigIssue] = []
        if config.address is not None:
            issues.append(
                ConfigIssue(
                    (*where, "address"),
                    "a droplet cell has no address: it uses the devices its options name",
                    config.address,
                )
            )
        for limit in config.limits:
            issues.append(
                ConfigIssue(
                    (*where, "limits", limit),
                    "a droplet cell has no limits of its own: set them on its stage, pump and "
                    "potentiostat",
                )
            )
        return issues

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: DropletCellOptions
    ) -> ScanningDropletCell:
        """Build the cell (not bound to its devices yet); ``address`` is unused."""
        del config, address
        return cls(options=options, name=name)

    def bind(self, devices: Mapping[str, Any], *, data_directory: Path | None = None) -> None:
        """Find the stage, pump and potentiostat among the lab's devices; open the site map.

        Args:
            devices: the lab's devices by name.
            data_directory: a relative ``state_file`` is relative to it.

        Raises:
            ConfigError: a named device is missing or of the wrong kind (with the key path).
            SiteError: the site file describes another substrate.
        """
        keys = ("devices", self.name, "options")
        issues: list[ConfigIssue] = []
        found: dict[str, Any] = {}
        for option, kind in (
            ("stage", Stage),
            ("pump", SyringePump),
            ("potentiostat", Potentiostat),
        ):
            device_name = getattr(self.options, option)
            device = devices.get(device_name)
            if not isinstance(device, kind):
                issues.append(ConfigIssue((*keys, option), _wrong(device, kind), device_name))
            found[option] = device
        if issues:
            raise ConfigError(f"devices.{self.name}", issues)
        self.stage, self.pump, self.potentiostat = (
            found["stage"],
            found["pump"],
            found["potentiostat"],
        )
        substrate = self.options.substrate
        path = Path(substrate.state_file or f"droplet/{substrate.name}.sites.json")
        if data_directory is not None and not path.is_absolute():
            path = Path(data_directory) / path
        self.sites = SubstrateMap(
            path,
            rows=substrate.rows,
            columns=substrate.columns,
            pitch=to_magnitude(substrate.pitch, "mm"),
            origin=(
                to_magnitude(substrate.origin.get("x", ureg.Quantity(0, "mm")), "mm"),
                to_magnitude(substrate.origin.get("y", ureg.Quantity(0, "mm")), "mm"),
            ),
            name=substrate.name,
        )

    def connect(self) -> None:
        """Nothing to open (the devices it uses connect themselves); checks it is bound."""
        self._parts()

    def close(self) -> None:
        """Stop any action and park: the cell up at safe Z, a stage in alarm reset and unlocked.

        A lab session closes composite devices before their parts, so the stage still answers
        here; the next session (or a person) finds the cell lifted and the stage idle, not left
        in an alarm that struck after the last experiment.
        """
        self.stop(success=False)
        if self.stage is not None:
            with self._safe_lock:
                self._lift_motion(self.stage, recover=True)

    # -- helpers ----------------------------------------------------------------------------------
    def _parts(self) -> tuple[Stage, SyringePump, Potentiostat, SubstrateMap]:
        if (
            self.stage is None
            or self.pump is None
            or self.potentiostat is None
            or self.sites is None
        ):
            raise LabctlError(f"{self.name}: not bound to its devices yet (call bind(devices))")
        return self.stage, self.pump, self.potentiostat, self.sites

    @property
    def is_landed(self) -> bool:
        """Whether the droplet is (believed) on the substrate."""
        return self._is_landed

    def next_site(self) -> Site:
        """The site :meth:`move_to` would claim next (nothing is claimed).

        Raises:
            SiteError: no fresh site left.
        """
        _, _, _, sites = self._parts()
        for site, state in sites.states().items():
            if state == "fresh":
                return site
        raise SiteError(f"{self.name}: no fresh site left on {sites.name}")

    # -- public actions ---------------------------------------------------------------------------
    def set(self, value: Any) -> DeviceStatus:
        """``bps.mv(cell, site)``: :meth:`move_to` (``"fresh"``/``None``: the next fresh site)."""
        return self.move_to(None if value in (None, "fresh") else value)

    def move_to(self, site: Site | tuple[int, int] | str | None = None) -> DeviceStatus:
        """Claim ``site`` (default: the next fresh one), lift to safe Z and travel over it.

        The site is claimed (marked ``used``) at once; the lift and the travel are checked
        against the stage's limits before anything moves. A site the cell already holds may be
        moved to again.

        Raises:
            SiteError: the site is not on the map or not fresh (nothing moves).
        """
        _, _, _, sites = self._parts()
        chosen = None if site is None else sites.check(site)
        if chosen is None or chosen != self.current_site:
            chosen = sites.claim(chosen)
            self._hold(chosen)
        target = chosen
        return self._spawn("move", lambda: self._move(target), site=target)

    def land(self) -> DeviceStatus:
        """Step down until the potentiostat sees a cell (see the module docstring)."""
        return self._spawn("land", self._land, site=self.current_site)

    def lift(self) -> DeviceStatus:
        """Back up to safe Z (stops the contact watch first)."""
        return self._spawn("lift", self._lift, site=self.current_site, safe_on_error=False)

    def flush(self, volume: Any) -> DeviceStatus:
        """Push ``volume`` of electrolyte through the head (pump ``flush_from`` → ``flush_to``)."""
        quantity = parse_quantity(volume, "[volume]")
        return self._spawn("flush", lambda: self._flush(quantity), site=self.current_site)

    def stop(self, *, success: bool = False) -> None:
        """Stop what runs. ``success=False`` (abort, failure) also makes a landed cell safe."""
        self._stop_event.set()
        worker = self._worker
        running = worker is not None and worker.is_alive()
        if running:
            for part in (self.potentiostat, self.pump):
                if part is not None:
                    with contextlib.suppress(Exception):
                        part.stop()
            if worker is not threading.current_thread():
                assert worker is not None
                worker.join(timeout=to_magnitude(self.options.move_timeout, "s") + 30)
        if not success and self._is_landed and self.stage is not None:
            self._make_safe(self.current_site, "stopped while landed")

    # -- work -------------------------------------------------------------------------------------
    def _hold(self, site: Site) -> None:
        _, _, _, sites = self._parts()
        self.current_site = site
        x, y = sites.position(site)
        self.site_row.put(site.row)
        self.site_column.put(site.column)
        self.site_x.put(x)
        self.site_y.put(y)
        self.site_state.put(sites.state(site))

    def _spawn(
        self,
        what: str,
        action: Callable[[], None],
        *,
        site: Site | None,
        safe_on_error: bool = True,
    ) -> DeviceStatus:
        status = DeviceStatus(self)
        with self._lock:
            if self._busy:
                raise LabctlError(f"{self.name}: busy; wait for the previous action to finish")
            self._busy = True
            self._stop_event = threading.Event()

            def run() -> None:
                failure: DropletError | None = None
                try:
                    action()
                    if self._lost.is_set() and self._is_landed:
                        raise ContactLost(self._lost_reason)  # lost while e.g. flushing
                except Exception as error:
                    failure = self._failure(what, site, self._as_lost(error), safe_on_error)
                else:
                    self.phase.put("idle" if not self._is_landed else "landed")
                # Free before the status completes: a plan's next step may start at once.
                with self._lock:
                    self._busy = False
                if failure is None:
                    status.set_finished()
                else:
                    status.set_exception(failure)

            self._worker = threading.Thread(
                target=run, name=f"labctl-{self.name}-{what}", daemon=True
            )
            self._worker.start()
        return status

    def _as_lost(self, error: Exception) -> Exception:
        """``error``, or a :class:`ContactLost` caused by it when the watch stopped the action.

        The watch stops the pump of a flush that runs while landed when contact goes; the flush
        then fails with the pump's "stopped", which must not hide why.
        """
        if isinstance(error, ContactLost) or not (self._lost.is_set() and self._is_landed):
            return error
        lost = ContactLost(self._lost_reason, self.current_site)
        lost.__cause__ = error
        return lost

    def _failure(self, what: str, site: Site | None, error: Exception, safe: bool) -> DropletError:
        lost = isinstance(error, ContactLost)
        cause = self._lost_reason if lost and self._lost_reason else str(error)
        state = self._make_safe(site, cause) if safe else "nothing else was changed"
        where = f" at site {site}" if site is not None else ""
        kind: type[DropletError] = DropletError
        if (lost and self._lost_alarm) or any(
            isinstance(cause, StageAlarm) for cause in cause_chain(error)
        ):
            kind = StageAlarmed
        elif lost:
            kind = ContactLost
        failure = kind(f"{self.name}: {what}{where} failed: {cause}; {state}", site)
        failure.__cause__ = error
        return failure

    def _trip(self, site: Site | None, reason: str, alarm: bool) -> None:
        """Lost contact or an alarm while a plan (not this device) drives the potentiostat.

        The running technique fails with the interlock's error (so the run and the campaign
        record say why), then the cell is made safe.
        """
        _, _, pstat, _ = self._parts()
        kind = StageAlarmed if alarm else ContactLost
        where = f" at site {site}" if site is not None else ""
        cause = kind(
            f"{self.name}: {reason}{where}; technique stopped, the cell is being made safe "
            "(pump stopped, lifted, site marked failed)",
            site,
        )
        with contextlib.suppress(Exception):
            pstat.stop(cause=cause)
        self._make_safe(site, reason)

    def _make_safe(self, site: Site | None, reason: str) -> str:
        """Stop technique and pump, lift (resetting an alarm), mark the site failed; say so."""
        with self._safe_lock:
            stage, pump, pstat, sites = self._parts()
            self._stop_watch()
            notes: list[str] = []
            with contextlib.suppress(Exception):
                pstat.stop()
            notes.append("technique stopped")
            try:
                pump.stop()
                notes.append("pump stopped")
            except Exception as error:  # pragma: no cover - a pump that cannot even stop
                notes.append(f"pump stop FAILED ({error})")
            try:
                z = self._lift_motion(stage, recover=True)
                notes.append(f"cell lifted to z = {z:g} mm")
            except Exception as error:
                notes.append(f"cell could NOT be lifted ({error})")
            if site is not None:
                try:
                    sites.mark(site, "failed")
                    self.site_state.put("failed")
                    notes.append(f"site {site} marked failed")
                except Exception as error:  # pragma: no cover - the disk failed too
                    notes.append(f"site {site} could NOT be marked failed ({error})")
            message = f"{reason}; " + ", ".join(notes)
            self.fault.put(message)
            self.phase.put("failed")
            _log.warning("%s: %s", self.name, message)
            return ", ".join(notes)

    def _move(self, site: Site) -> None:
        stage, _, _, sites = self._parts()
        x, y = sites.position(site)
        feed = self._travel_feed(stage)
        safe = to_magnitude(self.options.safe_z, "mm")
        # Check the whole path before anything moves.
        stage.limits.check(stage.name, (None, None, safe), feed)
        stage.limits.check(stage.name, (x, y, None), feed)
        self.phase.put("moving")
        self._lift_motion(stage, recover=False)
        self._wait(stage.move_to(x, y, None, feed=feed), "travel")
        self.site_state.put(sites.state(site))

    def _land(self) -> None:
        stage, _, _, _ = self._parts()
        if self.current_site is None:
            raise DropletError(f"{self.name}: no site held; move to a site before landing")
        options = self.options
        start = to_magnitude(options.approach_start, "mm")
        step = to_magnitude(options.approach_step, "mm")
        limit = to_magnitude(options.land_limit, "mm")
        feed = to_magnitude(options.approach_feed, "mm/min")
        stage.limits.check(stage.name, (None, None, limit), feed)
        self.phase.put("landing")
        z = stage.position[2]
        if not z <= start:
            self._wait(stage.move_to(None, None, start, feed=self._travel_feed(stage)), "descent")
            z = start
        while True:
            self._check_stop()
            if self._probe_contact():
                break
            below = round(z - step, 6)
            if below < limit - 1e-9:
                raise DropletError(
                    f"no electrical contact down to the landing limit z = {limit:g} mm (the "
                    "droplet may be missing or the substrate lower than expected)"
                )
            self._wait(stage.move_to(None, None, below, feed=feed), "landing step")
            z = below
        self.contact_z.put(stage.position[2])
        self._is_landed = True
        self.landed.put(1)
        self.phase.put("landed")
        self._start_watch()

    def _lift(self) -> None:
        stage, _, _, _ = self._parts()
        self._stop_watch()
        self.phase.put("lifting")
        self._lift_motion(stage, recover=False)
        if self._lost.is_set():
            # The watch made the cell safe between two of a plan's techniques (none was
            # running to fail): what the plan measured since was not of this site, so the run
            # must fail here rather than complete.
            raise ContactLost(self._lost_reason, self.current_site)

    def _flush(self, volume: Any) -> None:
        _, pump, _, _ = self._parts()
        self.phase.put("flushing")
        status = pump.transfer(volume, self.options.flush_from, self.options.flush_to)
        self._wait(status, "flush")
        self.flushed.put(to_magnitude(volume, "m**3"))

    # -- contact ----------------------------------------------------------------------------------
    def _probe_contact(self) -> bool:
        """Whether the potentiostat sees a cell: a ± current probe with a small voltage swing."""
        _, _, pstat, _ = self._parts()
        probe = self.options.contact
        technique = PulseTrain(
            on_current=probe.current,
            off_current=-probe.current,
            on_time=probe.pulse,
            off_time=probe.pulse,
            cycles=probe.cycles,
            compliance_voltage=probe.compliance,
        )
        pstat.set(technique)
        status = pstat.trigger()
        try:
            status.wait(technique.expected_duration() + self._timeout())
        except InterlockTripped:
            return False  # a dry gap drives the probe to its compliance
        potential = np.asarray(pstat.potential.get(), dtype=float)
        if potential.size == 0:
            return False
        swing = float(potential.max() - potential.min())
        return swing < to_magnitude(probe.swing, "V")

    def _start_watch(self) -> None:
        self._lost.clear()
        self._lost_reason = ""
        self._lost_alarm = False
        if not self.options.watch_contact:
            return
        stop = self._watch_stop = threading.Event()
        interval = to_magnitude(self.options.watch_interval, "s")

        def watch() -> None:
            stage, pump, pstat, _ = self._parts()
            while not stop.wait(interval):
                try:
                    report = stage.driver.status()
                except Exception as error:
                    alarm, touching = False, False
                    reason = f"the stage stopped answering while landed ({error})"
                else:
                    alarm, touching = report.state == "Alarm", "P" in report.pins
                    reason = (
                        f"stage alarm ({report.state}) while landed"
                        if alarm
                        else "the droplet lost contact with the substrate"
                    )
                if touching and not alarm:
                    continue
                if stop.is_set():
                    return
                self._lost_reason = reason
                self._lost_alarm = alarm
                self._lost.set()
                if self._busy:
                    # The cell's own action runs (a plan flushes the landed head): stop what
                    # drives the cell now; the worker then fails with ContactLost and makes the
                    # cell safe (lift, site failed) instead of flushing on to the end first.
                    for part in (pstat, pump):
                        with contextlib.suppress(Exception):
                            part.stop()
                else:
                    threading.Thread(
                        target=self._trip,
                        args=(self.current_site, reason, alarm),
                        name=f"labctl-{self.name}-safe",
                        daemon=True,
                    ).start()
                return

        self._watcher = threading.Thread(
            target=watch, name=f"labctl-{self.name}-watch", daemon=True
        )
        self._watcher.start()

    def _stop_watch(self) -> None:
        self._watch_stop.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5.0)
        self._watcher = None

    # -- motion -----------------------------------------------------------------------------------
    def _lift_motion(self, stage: Stage, *, recover: bool) -> float:
        """Go up to safe Z (never down); with ``recover``, reset and unlock an alarmed stage."""
        safe = to_magnitude(self.options.safe_z, "mm")
        feed = self._travel_feed(stage)
        if recover:
            self._recover(stage)
        z = stage.position[2]
        if not (math.isfinite(z) and z >= safe - 1e-6):
            try:
                self._wait(stage.move_to(None, None, safe, feed=feed), "lift")
            except StageAlarm:
                if not recover:
                    raise
                self._recover(stage)
                self._wait(stage.move_to(None, None, safe, feed=feed), "lift")
        self._is_landed = False
        self.landed.put(0)
        return float(stage.position[2])

    def _recover(self, stage: Stage) -> None:
        """Bring an alarmed controller back to Idle: soft reset, then unlock (``$X``)."""
        try:
            report = stage.driver.status()
        except Exception:
            report = None
        if report is None or report.state != "Alarm":
            return
        with contextlib.suppress(Exception):
            stage.driver.soft_reset()
        self._wait(stage.unlock(), "unlock")

    def _travel_feed(self, stage: Stage) -> float:
        chosen = self.options.travel_feed
        return stage.feed if chosen is None else to_magnitude(chosen, "mm/min")

    def _timeout(self) -> float:
        return to_magnitude(self.options.move_timeout, "s")

    def _wait(self, status: Status, what: str) -> None:
        try:
            status.wait(self._timeout())
        except TimeoutError:
            raise DropletError(f"{self.name}: {what} did not finish in time") from None

    def _check_stop(self) -> None:
        if self._stop_event.is_set():
            raise DropletError(f"{self.name}: stopped")


def _wrong(device: object, kind: type) -> str:
    if device is None:
        return "no such device in the lab"
    return f"must name a {kind.__name__}, not a {type(device).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
