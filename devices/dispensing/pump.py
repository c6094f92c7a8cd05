"""The ``SyringePump`` ophyd device: a Cavro XCalibur / Centris pump in volumes with units.

The driver is :class:`~labctl.devices.dispensing.pump_driver.CavroPumpDriver` (one pump on a
shared :class:`~labctl.devices.dispensing.pump_driver.CavroBus`); several pumps configured with
the same address share one line (a multi-drop RS-232/RS-485 bus, addresses 1…15).

:class:`SyringePump` is the ophyd device: volumes are pint quantities at the edge
(``pump.aspirate("0.25 mL", port=2)``), converted to plunger increments with the configured
syringe volume and resolution. Every request is checked before anything is sent — the volume
against the configured per-stroke limit (``limits.volume.high``), the syringe's capacity and
what it holds; the valve port against the valve's ports and ``options.allowed_ports`` — and a
refused request raises :class:`~labctl.errors.SafetyLimitError` at once. Accepted requests run
on a worker thread and return an ophyd Status that finishes when the pump is ready again, or
fails with the pump's error.

Readings (SI, as every document carries): ``volume`` held in the syringe (m³), ``plunger``
position (increments), ``port`` the valve is on, ``last_volume`` moved by the last aspirate or
dispense (m³, negative for a dispense).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeGuard

from ophyd import Component, Device
from ophyd.status import DeviceStatus
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labctl.config import DeviceConfig, Duration, QuantityField
from labctl.devices.dispensing.pump_driver import (
    CavroBus,
    CavroPumpDriver,
    PumpStopped,
    ValveCommand,
)
from labctl.devices.dispensing.pump_protocol import (
    TOP_SPEED_RANGE,
    PumpError,
    PumpNotInitializedError,
    Resolution,
)
from labctl.devices.readings import Reading
from labctl.errors import ConfigIssue, LabctlError, SafetyLimitError
from labctl.units import Quantity, parse_quantity, to_magnitude

__all__ = ["PumpStopped", "SyringePump", "SyringePumpOptions"]

_log = logging.getLogger(__name__)


class SyringePumpOptions(BaseModel):
    """``options`` of a ``syringe-pump`` device (driver ``cavro``).

    Args:
        syringe_volume: the syringe's volume (``"1 mL"``).
        pump_address: the pump's address on its bus, 1…15 (address switch + 1).
        ports: ports of the distribution valve.
        allowed_ports: the ports this lab may use (default: all).
        port_names: optional names → ports (``{"waste": 9}``), accepted wherever a port is.
        valve_command: ``I``/``O`` (distribution valve turned clockwise / counter-clockwise to
            port n) or ``o`` (shortest way, multi-port valves of newer pumps).
        resolution: ``standard`` (3000 increments per stroke) or ``fine`` (24000).
        top_speed: plunger top speed set on connect, half-steps/s (5…6000).
        initialize_on_connect: run ``Z``/``Y`` when the device connects.
        initialize_reverse: initialise with ``Y`` (valve towards the left) instead of ``Z``.
        recover_fatal_errors: after a fatal pump error (plunger or valve overload, failed
            initialisation, lost power) the next request initialises the pump first, and after
            any other failed or stopped request the next *transfer* does (a transfer needs an
            empty syringe, and one left holding liquid would refuse every later transfer). A
            real Cavro refuses every move after a fatal error until it is initialised again, so
            without this one transient fault fails every later experiment. The initialisation
            empties the syringe through the valve's initialisation port (``Z``: the right-hand
            port, ``Y``: the left; plumb it to waste), and a blockage that persists fails it
            with the pump's own error. ``false``: a person initialises (``pump.initialize()``).
        baudrate: serial baud rate (ignored by ``socket://``).
        poll_interval: time between two status polls while the pump moves.
        move_timeout: longest wait for one move.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    syringe_volume: QuantityField
    pump_address: int = Field(default=1, ge=1, le=15)
    ports: int = Field(default=9, ge=2, le=24)
    allowed_ports: list[int] | None = None
    port_names: dict[str, int] = Field(default_factory=dict)
    valve_command: ValveCommand = "I"
    resolution: Resolution = "standard"
    top_speed: int = Field(default=1400, ge=TOP_SPEED_RANGE[0], le=TOP_SPEED_RANGE[1])
    initialize_on_connect: bool = True
    initialize_reverse: bool = False
    recover_fatal_errors: bool = True
    baudrate: int = Field(default=9600, gt=0)
    poll_interval: Duration = Field(default_factory=lambda: parse_quantity("10 ms"))
    move_timeout: Duration = Field(default_factory=lambda: parse_quantity("120 s"))

    @field_validator("syringe_volume")
    @classmethod
    def _a_volume(cls, value: Quantity) -> Quantity:
        if not value.is_compatible_with("mL") or value.to("mL").magnitude <= 0:
            raise ValueError(f"must be a positive volume, got {value:~P}")
        return value


_LIMITS = {"volume": "mL"}
"""Limit names a syringe pump knows → a unit of their dimension."""


class SyringePump(Device):  # type: ignore[misc]
    """A Cavro syringe pump with a distribution valve, in volumes with units.

    Build it with :meth:`from_config`, or directly with a driver (tests).

    Args:
        driver: the pump's driver.
        options: the pump's options.
        volume_limit: largest volume per stroke (``None``: the syringe's volume).
    """

    Options: ClassVar[type[BaseModel]] = SyringePumpOptions

    volume = Component(Reading, value=0.0, units="m**3", precision=10, kind="hinted")
    plunger = Component(Reading, value=0, units="", kind="normal")
    port = Component(Reading, value=0, units="", kind="normal")
    last_volume = Component(Reading, value=0.0, units="m**3", precision=10, kind="normal")

    def __init__(
        self,
        *,
        driver: CavroPumpDriver,
        options: SyringePumpOptions,
        volume_limit: Quantity | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("labels", {"pumps"})
        super().__init__(**kwargs)
        self.driver = driver
        self.options = options
        self.syringe_volume = options.syringe_volume.to("mL")
        self.volume_limit = volume_limit
        self._plunger: int | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._status: DeviceStatus | None = None
        self._stop_event = threading.Event()
        self._connected = False
        self._fatal: PumpError | None = None  # the fatal error the next request recovers from
        self._failed: BaseException | None = None  # the last request's failure, if it failed

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: SyringePumpOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options and limits of pump ``name``, with key paths."""
        where = ("devices", name)
        issues: list[ConfigIssue] = []
        if options is not None:
            for port in [*(options.allowed_ports or []), *options.port_names.values()]:
                if not 1 <= port <= options.ports:
                    issues.append(
                        ConfigIssue(
                            (*where, "options"),
                            f"port {port} is not one of the valve's ports 1…{options.ports}",
                            port,
                        )
                    )
        for limit_name, limit in config.limits.items():
            unit = _LIMITS.get(limit_name)
            if unit is None:
                issues.append(
                    ConfigIssue(
                        (*where, "limits", limit_name),
                        f"a syringe pump knows the limits {sorted(_LIMITS)}",
                    )
                )
                continue
            for end in ("low", "high"):
                value = getattr(limit, end)
                if value is not None and not value.is_compatible_with(unit):
                    issues.append(
                        ConfigIssue(
                            (*where, "limits", limit_name, end),
                            f"must be a volume, like {unit}",
                            f"{value:~P}",
                        )
                    )
        return issues

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: SyringePumpOptions
    ) -> SyringePump:
        """Build pump ``name`` on the line at ``address`` (not yet connected).

        Pumps configured with the same address share one line (a multi-drop bus).
        """
        bus = CavroBus.shared(
            address,
            device=name,
            timeout=to_magnitude(config.timeout.read, "s"),
            baudrate=options.baudrate,
        )
        driver = CavroPumpDriver(
            bus,
            options.pump_address,
            device=name,
            resolution=options.resolution,
            valve_command=options.valve_command,
            poll_interval=to_magnitude(options.poll_interval, "s"),
            move_timeout=to_magnitude(options.move_timeout, "s"),
        )
        limit = config.limits.get("volume")
        return cls(
            driver=driver,
            options=options,
            volume_limit=None if limit is None else limit.high,
            name=name,
        )

    # -- connection -----------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the line, check the pump answers, initialise it (unless told not to).

        Raises:
            CommunicationError: unreachable or silent; a PumpError if it reports one.
        """
        self.driver.bus.open()
        self.driver.status()
        if self.options.initialize_on_connect:
            self.driver.initialize(reverse=self.options.initialize_reverse)
            self.driver.set_top_speed(self.options.top_speed)
        self._refresh()
        self._connected = True

    def close(self) -> None:
        """Stop a running move and release the line."""
        self.stop()
        self._connected = False
        self.driver.bus.release()

    # -- requests -------------------------------------------------------------------------------
    def initialize(self) -> DeviceStatus:
        """Initialise plunger and valve (after a fatal error: overload, initialisation)."""

        def work(stop: threading.Event) -> None:
            del stop
            self.driver.initialize(reverse=self.options.initialize_reverse)
            self.driver.set_top_speed(self.options.top_speed)
            self._fatal = self._failed = None

        return self._start("initialize", work, None)

    def aspirate(self, volume: object, port: int | str) -> DeviceStatus:
        """Draw ``volume`` into the syringe through valve ``port``.

        Raises:
            SafetyLimitError: over the per-stroke limit or the syringe's room, a volume below
                one increment, or a port the valve lacks or the lab forbids (nothing is sent).
            UnitError: ``volume`` is not a volume.
        """
        chosen = self._port(port)
        increments, requested = self._increments(volume)
        held = self._held()
        if held + increments > self.driver.stroke:
            room = self._volume_of(self.driver.stroke - held)
            raise SafetyLimitError(
                self.name, "aspirated volume", f"{requested:~P}", f"≤ {room:~P} (syringe room)"
            )
        return self._start(
            "aspirate",
            lambda stop: self.driver.aspirate(chosen, increments, stop=stop),
            increments,
        )

    def dispense(self, volume: object, port: int | str) -> DeviceStatus:
        """Push ``volume`` out of the syringe through valve ``port``.

        Raises:
            SafetyLimitError: more than the syringe holds or the per-stroke limit, a volume
                below one increment, or a forbidden port (nothing is sent).
            UnitError: ``volume`` is not a volume.
        """
        chosen = self._port(port)
        increments, requested = self._increments(volume)
        held = self._held()
        if increments > held:
            raise SafetyLimitError(
                self.name,
                "dispensed volume",
                f"{requested:~P}",
                f"≤ {self._volume_of(held):~P} (what the syringe holds)",
            )
        return self._start(
            "dispense",
            lambda stop: self.driver.dispense(chosen, increments, stop=stop),
            -increments,
        )

    def transfer(self, volume: object, source: int | str, destination: int | str) -> DeviceStatus:
        """Move ``volume`` from port ``source`` to port ``destination``, stroke by stroke.

        Strokes are as large as the per-stroke limit and the syringe allow; the syringe must
        start empty.

        Raises:
            SafetyLimitError: a forbidden port, a non-positive volume, or a syringe that is not
                empty (nothing is sent).
        """
        source_port, destination_port = self._port(source), self._port(destination)
        requested = self._volume(volume)
        if self._held() and not self._recovering("transfer"):
            raise SafetyLimitError(
                self.name, "held volume", f"{self._volume_of(self._held()):~P}", "0 mL to transfer"
            )
        stroke_volume = self.syringe_volume
        if self.volume_limit is not None:
            stroke_volume = min(stroke_volume, self.volume_limit.to("mL"))
        per_stroke = self._to_increments(stroke_volume)
        total = self._to_increments(requested)
        if total < 1:
            raise SafetyLimitError(
                self.name,
                "volume",
                f"{requested:~P}",
                f"≥ {self._volume_of(1):~P} (one increment)",
            )
        strokes: list[int] = []
        left = total
        while left > 0:
            strokes.append(min(per_stroke, left))
            left -= strokes[-1]

        def work(stop: threading.Event) -> None:
            for increments in strokes:
                self.driver.aspirate(source_port, increments, stop=stop)
                self.driver.dispense(destination_port, increments, stop=stop)

        return self._start("transfer", work, -total)

    def set(self, volume: object) -> DeviceStatus:
        """Move the plunger so the syringe holds ``volume`` (through the current port).

        A mapping ``{"transfer": volume, "source": port, "destination": port}`` runs
        :meth:`transfer` instead, so a plan moves liquid between ports with ``bps.mv``.
        """
        if isinstance(volume, Mapping):
            unknown = set(volume) - {"transfer", "source", "destination"}
            if unknown or not {"transfer", "source", "destination"} <= set(volume):
                raise LabctlError(
                    f"{self.name}: cannot set {dict(volume)!r}; give a volume, or "
                    "{'transfer': volume, 'source': port, 'destination': port}"
                )
            return self.transfer(volume["transfer"], volume["source"], volume["destination"])
        requested = self._volume(volume, allow_zero=True)
        target = self._to_increments(requested)
        if target > self.driver.stroke:
            raise SafetyLimitError(
                self.name, "held volume", f"{requested:~P}", f"≤ {self.syringe_volume:~P}"
            )
        change = target - self._held()
        if self.volume_limit is not None and self._volume_of(abs(change)) > self.volume_limit:
            raise SafetyLimitError(
                self.name,
                "volume per stroke",
                f"{self._volume_of(abs(change)):~P}",
                f"≤ {self.volume_limit:~P}",
            )
        return self._start("move", lambda stop: self.driver.move_to(target, stop=stop), change)

    def stop(self, *, success: bool = False) -> None:
        """Stop a running move (the pump is told to terminate); wait for the worker to end."""
        del success
        self._stop_event.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=self.driver.move_timeout + 5.0)

    @property
    def held_volume(self) -> Quantity:
        """What the syringe holds, as the plunger position says (mL)."""
        return self._volume_of(self._held())

    # -- checks ---------------------------------------------------------------------------------
    def _port(self, port: int | str) -> int:
        if isinstance(port, str):
            if port not in self.options.port_names:
                raise SafetyLimitError(
                    self.name,
                    "valve port",
                    repr(port),
                    f"one of {sorted(self.options.port_names)} or a number",
                )
            port = self.options.port_names[port]
        if isinstance(port, bool) or not isinstance(port, int):
            raise SafetyLimitError(self.name, "valve port", repr(port), "a whole number")
        allowed = self.options.allowed_ports or list(range(1, self.options.ports + 1))
        if port not in allowed or not 1 <= port <= self.options.ports:
            raise SafetyLimitError(self.name, "valve port", str(port), f"one of {sorted(allowed)}")
        return port

    def _volume(self, volume: object, *, allow_zero: bool = False) -> Quantity:
        quantity = parse_quantity(volume, "[volume]").to("mL")
        magnitude = float(quantity.magnitude)
        if not math.isfinite(magnitude) or magnitude < 0 or (magnitude == 0 and not allow_zero):
            raise SafetyLimitError(self.name, "volume", f"{quantity:~P}", "> 0 mL")
        return quantity

    def _increments(self, volume: object) -> tuple[int, Quantity]:
        requested = self._volume(volume)
        if self.volume_limit is not None and requested > self.volume_limit:
            raise SafetyLimitError(
                self.name, "volume per stroke", f"{requested:~P}", f"≤ {self.volume_limit:~P}"
            )
        if requested > self.syringe_volume:
            raise SafetyLimitError(
                self.name,
                "volume per stroke",
                f"{requested:~P}",
                f"≤ {self.syringe_volume:~P} (the syringe)",
            )
        increments = self._to_increments(requested)
        if increments < 1:
            raise SafetyLimitError(
                self.name,
                "volume",
                f"{requested:~P}",
                f"≥ {self._volume_of(1):~P} (one increment)",
            )
        return increments, requested

    def _to_increments(self, volume: Quantity) -> int:
        fraction = float((volume / self.syringe_volume).to("dimensionless").magnitude)
        return round(fraction * self.driver.stroke)

    @property
    def increment_volume(self) -> Quantity:
        """The volume of one plunger increment, mL: less than half of it rounds to nothing."""
        return self._volume_of(1)

    def _volume_of(self, increments: int) -> Quantity:
        """``increments`` as a volume, mL (negative increments give a negative volume)."""
        volume: Quantity = (self.syringe_volume * increments / self.driver.stroke).to("mL")
        return volume

    def _held(self) -> int:
        if self._plunger is None:
            raise LabctlError(f"{self.name}: not connected; call connect() first")
        return self._plunger

    # -- running --------------------------------------------------------------------------------
    def _start(
        self, label: str, work: Callable[[threading.Event], None], moved: int | None
    ) -> DeviceStatus:
        with self._lock:
            previous = self._worker
            if previous is not None and previous.is_alive():
                # A request whose status has finished may still be leaving its thread.
                if self._status is not None and self._status.done:
                    previous.join(timeout=1.0)
                if previous.is_alive():
                    raise LabctlError(f"{self.name}: still moving; wait for the previous request")
            status = DeviceStatus(self)
            self._status = status
            self._stop_event = stop = threading.Event()

            def run() -> None:
                try:
                    if self._recovering(label):
                        self._recover(label)
                    work(stop)
                except Exception as error:
                    self._failed = error
                    if _needs_initialisation(error):
                        self._fatal = error
                    self._refresh_quietly()
                    status.set_exception(error)
                    return
                try:
                    self._refresh()
                    if moved is not None:
                        self.last_volume.put(to_magnitude(self._volume_of(moved), "m**3"))
                except Exception as error:
                    self._failed = error
                    if _needs_initialisation(error):
                        self._fatal = error
                    status.set_exception(error)
                    return
                self._failed = None
                status.set_finished()

            self._worker = threading.Thread(
                target=run, name=f"labctl-{self.name}-{label}", daemon=True
            )
            self._worker.start()
            return status

    def _recovering(self, label: str) -> bool:
        """Whether request ``label`` initialises the pump first (see ``recover_fatal_errors``)."""
        if not self.options.recover_fatal_errors or label == "initialize":
            return False
        return self._fatal is not None or (label == "transfer" and self._failed is not None)

    def _recover(self, label: str) -> None:
        _log.warning(
            "%s: initialising before %s, after a failed request: %s",
            self.name,
            label,
            self._fatal or self._failed,
        )
        # A move the failed request started may still run: let it end first (an
        # initialisation sent to a busy pump is refused with a command overflow, error 15).
        deadline = time.monotonic() + self.driver.move_timeout
        while time.monotonic() < deadline:
            try:
                if self.driver.status().ready:
                    break
            except PumpError:
                break  # a pump that reports an error has stopped moving
            time.sleep(self.driver.poll_interval)
        self.driver.initialize(reverse=self.options.initialize_reverse)
        self.driver.set_top_speed(self.options.top_speed)
        self._fatal = self._failed = None
        self._refresh()

    def _refresh(self) -> None:
        plunger = self.driver.plunger_position()
        port = self.driver.valve_port()
        self._plunger = plunger
        self.plunger.put(plunger)
        self.port.put(port)
        self.volume.put(to_magnitude(self._volume_of(plunger), "m**3"))

    def _refresh_quietly(self) -> None:
        try:
            self._refresh()
        except LabctlError:
            return


def _needs_initialisation(error: BaseException) -> TypeGuard[PumpError]:
    """Whether the pump refuses every move after ``error`` until it is initialised again."""
    if not isinstance(error, PumpError):
        return False
    return error.fatal or isinstance(error, PumpNotInitializedError)
