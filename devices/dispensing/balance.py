"""Analytical balances speaking Mettler-Toledo MT-SICS: the driver and the ``Balance`` device.

:class:`MtSicsDriver` sends MT-SICS level 0/1 commands over a line transport (a serial port, or
``socket://127.0.0.1:PORT`` for a twin) and returns masses as pint quantities; every refusal
raises its named :class:`~labctl.devices.dispensing.balance_protocol.BalanceError`. Commands
that wait for a stable weight (``S``, ``Z``, ``T``) are given ``stability_timeout`` (the balance
itself answers ``I`` when its own limit runs out first); a wire failure closes the line so the
next command starts on a fresh connection.

:class:`Balance` is the ophyd device: ``trigger()`` weighs on a worker thread (``S``, a stable
weight, or ``SI`` when ``options.require_stable`` is off) and ``read()`` gives ``mass`` in kg
(SI, with ``units`` in ``describe()``) and ``stable`` (1 stable / 0 dynamic). ``zero()`` and
``tare()`` return Status objects too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from ophyd import Component, Device, Signal
from ophyd.status import DeviceStatus
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig, Duration
from labctl.devices.dispensing.balance_protocol import SicsReply, balance_error, parse_reply
from labctl.errors import CommunicationError, ConfigIssue, ProtocolError
from labctl.transports.line import BufferedLineTransport
from labctl.transports.serial import SerialTransport
from labctl.units import Quantity, parse_quantity, to_magnitude

__all__ = ["Balance", "BalanceOptions", "MtSicsDriver", "Weighing"]


class Weighing:
    """One weight reading.

    Args:
        mass: the weight value with its unit.
        stable: whether the balance reported it stable.
    """

    __slots__ = ("mass", "stable")

    def __init__(self, mass: Quantity, stable: bool) -> None:
        self.mass = mass
        self.stable = stable

    def __repr__(self) -> str:
        return f"Weighing({self.mass:~P}, {'stable' if self.stable else 'dynamic'})"


class MtSicsDriver:
    r"""An MT-SICS balance on a line transport.

    Args:
        transport: the line (terminator ``b"\\r\\n"``).
        device: the device's name (for messages).
        stability_timeout: seconds a command that waits for stability may take.
    """

    def __init__(
        self, transport: BufferedLineTransport, *, device: str, stability_timeout: float = 10.0
    ) -> None:
        self.transport = transport
        self.device = device
        self.stability_timeout = stability_timeout
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """Where the balance is."""
        return self.transport.address

    def open(self) -> None:
        """Open the line (idempotent)."""
        self.transport.open()

    def close(self) -> None:
        """Close the line (idempotent)."""
        self.transport.close()

    def command(self, text: str, *, timeout: float | None = None) -> SicsReply:
        """Send ``text`` + CR LF and return the parsed reply (raising the balance's refusals)."""
        sent = text.encode("ascii") + b"\r\n"
        with self._lock:
            try:
                self.transport.discard_input()
                self.transport.write(sent)
                line = self.transport.read_line(timeout)
                reply = parse_reply(line, device=self.device, address=self.address, sent=sent)
            except CommunicationError:
                self.transport.close()
                raise
        if reply.is_error:
            raise balance_error(reply, self.device, self.address, sent=sent)
        expected = text.split(" ", 1)[0]
        answers = {"SI": "S", "@": "I4"}.get(expected, expected)
        if reply.command != answers:
            self.transport.close()
            raise ProtocolError(
                self.device,
                self.address,
                f"the reply answers {reply.command!r}, not {expected!r}",
                sent=sent,
                expected=f"a reply starting with {answers!r}",
                received=reply.raw,
            )
        return reply

    def identify(self) -> str:
        """``I4``: the serial number."""
        return self._text(self.command("I4"))

    def reset(self) -> str:
        """``@``: cancel what runs, clear the tare; returns the serial number."""
        return self._text(self.command("@"))

    def weigh(self) -> Weighing:
        """``S``: a stable weight (waits up to ``stability_timeout``)."""
        return self._weighing(self.command("S", timeout=self.stability_timeout))

    def weigh_immediately(self) -> Weighing:
        """``SI``: the weight now, stable or dynamic."""
        return self._weighing(self.command("SI"))

    def zero(self) -> None:
        """``Z``: zero the balance once the weight is stable."""
        self.command("Z", timeout=self.stability_timeout)

    def tare(self) -> Quantity:
        """``T``: tare once the weight is stable; returns the tare weight."""
        reply = self.command("T", timeout=self.stability_timeout)
        if reply.weight is None:
            raise self._malformed(reply, "a tare weight")
        return reply.weight

    def _weighing(self, reply: SicsReply) -> Weighing:
        if reply.weight is None:
            raise self._malformed(reply, "a weight value")
        return Weighing(reply.weight, reply.stable)

    def _text(self, reply: SicsReply) -> str:
        if not reply.texts:
            raise self._malformed(reply, 'a quoted text ("…")')
        return reply.texts[0]

    def _malformed(self, reply: SicsReply, expected: str) -> ProtocolError:
        return ProtocolError(
            self.device, self.address, "incomplete reply", expected=expected, received=reply.raw
        )


class BalanceOptions(BaseModel):
    """``options`` of a ``balance`` device (driver ``mtsics``).

    Args:
        require_stable: ``trigger()`` asks for a stable weight (``S``); off: ``SI``.
        stability_timeout: longest wait for a stable weight, zero or tare.
        precision: decimals of the recorded mass in kg worth showing.
        baudrate: serial baud rate (ignored by ``socket://``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    require_stable: bool = True
    stability_timeout: Duration = Field(default_factory=lambda: parse_quantity("10 s"))
    precision: int = Field(default=8, ge=0, le=12)
    baudrate: int = Field(default=9600, gt=0)


class BalanceReading(Signal):  # type: ignore[misc]
    """The last reading, described with its units, precision and source."""

    def __init__(self, *args: Any, units: str = "", precision: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = units
        self.precision = precision

    def describe(self) -> dict[str, dict[str, Any]]:
        """The data key with units and precision."""
        description: dict[str, dict[str, Any]] = super().describe()
        key = description[self.name]
        key["units"] = self.units
        key["precision"] = self.precision
        parent = self.parent
        if parent is not None:
            key["source"] = f"mtsics:{parent.driver.address}"
        return description


class Balance(Device):  # type: ignore[misc]
    """An analytical balance: one weighing per trigger.

    Args:
        driver: the balance's driver.
        options: the balance's options.
    """

    Options: ClassVar[type[BaseModel]] = BalanceOptions

    mass = Component(BalanceReading, value=float("nan"), units="kg", kind="hinted")
    stable = Component(BalanceReading, value=0, units="", kind="normal")

    def __init__(self, *, driver: MtSicsDriver, options: BalanceOptions, **kwargs: Any) -> None:
        kwargs.setdefault("labels", {"detectors", "balances"})
        super().__init__(**kwargs)
        self.driver = driver
        self.options = options
        self.mass.precision = options.precision
        self.serial_number = ""
        self._worker: threading.Thread | None = None

    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: BalanceOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options and limits of balance ``name``, with key paths."""
        del options
        where = ("devices", name)
        return [
            ConfigIssue((*where, "limits", limit), "a balance has no safety limits to check")
            for limit in config.limits
        ]

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: BalanceOptions
    ) -> Balance:
        """Build balance ``name`` talking to ``address`` (not yet connected)."""
        transport = SerialTransport(
            address,
            device=name,
            timeout=to_magnitude(config.timeout.read, "s"),
            terminator=b"\r\n",
            baudrate=options.baudrate,
        )
        driver = MtSicsDriver(
            transport, device=name, stability_timeout=to_magnitude(options.stability_timeout, "s")
        )
        return cls(driver=driver, options=options, name=name)

    def connect(self) -> None:
        """Open the line and ask the serial number (``I4``).

        Raises:
            CommunicationError: unreachable, silent, or not an MT-SICS balance.
        """
        self.driver.open()
        self.serial_number = self.driver.identify()

    def close(self) -> None:
        """Close the line."""
        self.driver.close()

    def trigger(self) -> DeviceStatus:
        """Weigh; the status finishes when the reading is in (or fails with the error)."""

        def work() -> None:
            weighing = (
                self.driver.weigh()
                if self.options.require_stable
                else self.driver.weigh_immediately()
            )
            self.mass.put(to_magnitude(weighing.mass, "kg"))
            self.stable.put(int(weighing.stable))

        return self._start("weigh", work)

    def zero(self) -> DeviceStatus:
        """Zero the balance (``Z``, once stable)."""
        return self._start("zero", self.driver.zero)

    def tare(self) -> DeviceStatus:
        """Tare the balance (``T``, once stable)."""

        def work() -> None:
            self.driver.tare()

        return self._start("tare", work)

    def weigh(self, *, stable: bool = True) -> Quantity:
        """Weigh now, blocking (for scripts and plans' helpers outside the RunEngine loop)."""
        weighing = self.driver.weigh() if stable else self.driver.weigh_immediately()
        return weighing.mass

    def _start(self, label: str, work: Callable[[], None]) -> DeviceStatus:
        status = DeviceStatus(self)

        def run() -> None:
            try:
                work()
            except Exception as error:
                status.set_exception(error)
                return
            status.set_finished()

        self._worker = threading.Thread(
            target=run, name=f"labctl-{self.name}-{label}", daemon=True
        )
        self._worker.start()
        return status
