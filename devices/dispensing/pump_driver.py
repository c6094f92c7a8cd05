"""The Cavro DT-protocol driver: a shared serial line (:class:`CavroBus`) and one pump on it.

:class:`CavroBus` is one serial line (a port, or ``socket://127.0.0.1:PORT`` for a twin) that up
to 15 pumps share; one request is on the line at a time. :class:`CavroPumpDriver` speaks to one
pump on it: every command's answer is checked, and after a move the driver polls ``Q`` until the
pump reports ready — it never sleeps for a guessed move time. A non-zero error code raises its
named :class:`~labctl.devices.dispensing.pump_protocol.PumpError` subclass. The wire format and
the commands are documented in :mod:`labctl.devices.dispensing.pump_protocol`.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar, Literal

from labctl.devices.dispensing.pump_protocol import (
    SPEED_CODES,
    TOP_SPEED_RANGE,
    PumpReply,
    Resolution,
    command_frame,
    full_stroke,
    parse_reply,
    pump_error,
)
from labctl.errors import CommunicationError, DeviceTimeout, LabctlError, ProtocolError
from labctl.transports.line import BufferedLineTransport
from labctl.transports.serial import SerialTransport

__all__ = ["CavroBus", "CavroPumpDriver", "PumpStopped", "ValveCommand"]

ValveCommand = Literal["I", "O", "o"]
"""How the valve is turned to port n: ``I``/``O`` (clockwise / counter-clockwise), ``o``
(shortest way)."""


class PumpStopped(LabctlError):
    """A pump move was stopped (``stop()``, RunEngine abort); the pump was told to terminate."""


class CavroBus:
    r"""One serial line shared by the Cavro pumps on it (addresses 1…15).

    Args:
        transport: the line (its terminator must be ``b"\\n"``: answers end ETX CR LF).
    """

    _shared: ClassVar[dict[str, CavroBus]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, transport: BufferedLineTransport) -> None:
        self.transport = transport
        self.lock = threading.RLock()
        self._users = 0
        self._key: str | None = None

    @property
    def address(self) -> str:
        """The port or URL of the line."""
        return self.transport.address

    @classmethod
    def shared(cls, address: str, *, device: str, timeout: float, baudrate: int) -> CavroBus:
        """The bus on ``address``, shared by every pump configured on the same port.

        Call :meth:`release` once per call when done; the last release closes the port.
        """
        with cls._shared_lock:
            bus = cls._shared.get(address)
            if bus is None:
                transport = SerialTransport(
                    address, device=device, timeout=timeout, terminator=b"\n", baudrate=baudrate
                )
                bus = cls(transport)
                bus._key = address
                cls._shared[address] = bus
            bus._users += 1
            return bus

    def release(self) -> None:
        """One user fewer; the last one closes the line (idempotent for unshared buses)."""
        with self._shared_lock:
            self._users = max(0, self._users - 1)
            if self._users:
                return
            if self._key is not None and self._shared.get(self._key) is self:
                del self._shared[self._key]
        self.close()

    def open(self) -> None:
        """Open the line (idempotent)."""
        with self.lock:
            self.transport.open()

    def close(self) -> None:
        """Close the line (idempotent)."""
        with self.lock:
            self.transport.close()

    def exchange(
        self, pump: int, commands: str, *, execute: bool, device: str, timeout: float | None = None
    ) -> PumpReply:
        """Send ``commands`` to pump ``pump`` and return its parsed answer.

        After a wire failure (timeout, dropped link, an answer that is not one) the line is
        closed, so the next exchange starts on a fresh connection with nothing stale buffered.

        Raises:
            DeviceTimeout: no answer in time.
            DeviceConnectionError: the line is down.
            ProtocolError: the answer is not a DT answer block.
        """
        frame = command_frame(pump, commands, execute=execute)
        where = f"{self.address} (pump {pump})"
        with self.lock:
            try:
                self.transport.discard_input()
                self.transport.write(frame)
                line = self.transport.read_line(timeout)
                return parse_reply(line, device=device, address=where, sent=frame)
            except CommunicationError as error:
                self.transport.close()
                if error.device != device or error.address != where:
                    raise type(error)(
                        device,
                        where,
                        error.detail,
                        sent=frame,
                        expected=error.expected,
                        received=error.received,
                    ) from error
                raise


class CavroPumpDriver:
    """One Cavro pump on a :class:`CavroBus`.

    Args:
        bus: the shared line.
        pump: the pump's bus address, 1…15.
        device: the device's name (for messages).
        resolution: ``standard`` (3000 increments per stroke) or ``fine`` (24000).
        valve_command: ``I``/``O`` (turn clockwise / counter-clockwise to port n) or ``o``
            (shortest way, newer multi-port valves).
        poll_interval: seconds between two ``Q`` polls while the pump is busy.
        move_timeout: longest wait, s, for one move to finish.
    """

    def __init__(
        self,
        bus: CavroBus,
        pump: int,
        *,
        device: str,
        resolution: Resolution = "standard",
        valve_command: ValveCommand = "I",
        poll_interval: float = 0.01,
        move_timeout: float = 120.0,
    ) -> None:
        if not 1 <= pump <= 15:
            raise ValueError(f"a Cavro pump address is 1…15, got {pump}")
        self.bus = bus
        self.pump = pump
        self.device = device
        self.resolution: Resolution = resolution
        self.valve_command: ValveCommand = valve_command
        self.poll_interval = poll_interval
        self.move_timeout = move_timeout

    @property
    def address(self) -> str:
        """The line and the pump's bus address, for messages."""
        return f"{self.bus.address} (pump {self.pump})"

    @property
    def stroke(self) -> int:
        """Increments of one full stroke at the current resolution."""
        return full_stroke(self.resolution)

    # -- one exchange ---------------------------------------------------------------------------
    def command(self, commands: str, *, execute: bool = True) -> PumpReply:
        """Send ``commands``; raise the named error if the answer carries one."""
        reply = self.bus.exchange(self.pump, commands, execute=execute, device=self.device)
        if reply.error:
            raise pump_error(
                reply.error,
                self.device,
                self.address,
                sent=command_frame(self.pump, commands, execute=execute),
                received=reply.raw,
            )
        return reply

    def status(self) -> PumpReply:
        """``Q``: the status byte (raises the named error the pump reports)."""
        return self.command("Q", execute=False)

    def wait_ready(self, *, stop: threading.Event | None = None) -> None:
        """Poll ``Q`` until the pump is ready.

        Raises:
            PumpError: the pump reports an error (e.g. a plunger overload during the move).
            DeviceTimeout: still busy after ``move_timeout``.
            PumpStopped: ``stop`` was set (the pump was told to terminate).
        """
        deadline = time.monotonic() + self.move_timeout
        while True:
            if self.status().ready:
                return
            if stop is not None and stop.is_set():
                self.terminate()
                raise PumpStopped(f"{self.device}: move stopped; the pump was told to terminate")
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    self.device,
                    self.address,
                    f"still busy after {self.move_timeout:g} s",
                    sent=command_frame(self.pump, "Q", execute=False),
                    expected="the ready bit (status bit 5)",
                )
            time.sleep(self.poll_interval)

    def run(self, commands: str, *, stop: threading.Event | None = None) -> None:
        """Execute ``commands`` and wait until the pump is ready again."""
        self.command(commands)
        self.wait_ready(stop=stop)

    # -- commands -------------------------------------------------------------------------------
    def initialize(self, *, reverse: bool = False, force: int = 0) -> None:
        """``Z`` (``Y`` if ``reverse``): initialise plunger and valve, then set the resolution."""
        if force not in (0, 1, 2):
            raise ValueError(
                f"initialisation force is 0 (full), 1 (half) or 2 (third), not {force}"
            )
        self.run(f"{'Y' if reverse else 'Z'}{force}")
        self.set_resolution(self.resolution)

    def initialize_valve(self) -> None:
        """``W``: initialise the valve only."""
        self.run("W")

    def set_resolution(self, resolution: Resolution) -> None:
        """``N0`` (standard, 3000 increments) or ``N1`` (fine positioning, 24000)."""
        self.run(f"N{1 if resolution == 'fine' else 0}")
        self.resolution = resolution

    def set_top_speed(self, half_steps_per_second: int) -> None:
        """``V``: top plunger speed, 5…6000 half-steps/s."""
        low, high = TOP_SPEED_RANGE
        if not low <= half_steps_per_second <= high:
            raise ValueError(
                f"top speed is {low}…{high} half-steps/s, got {half_steps_per_second}"
            )
        self.run(f"V{half_steps_per_second}")

    def set_speed_code(self, code: int) -> None:
        """``S``: top speed by speed code, 0 (fastest, 6000 half-steps/s) … 40 (slowest)."""
        low, high = SPEED_CODES
        if not low <= code <= high:
            raise ValueError(f"a speed code is {low}…{high}, got {code}")
        self.run(f"S{code}")

    def top_speed(self) -> int:
        """``?2``: the top speed, half-steps/s."""
        return self._integer("?2")

    def select_port(self, port: int, *, stop: threading.Event | None = None) -> None:
        """Turn the valve to ``port``."""
        self.run(f"{self.valve_command}{port}", stop=stop)

    def move_to(self, position: int, *, stop: threading.Event | None = None) -> None:
        """``A``: move the plunger to absolute ``position`` (increments)."""
        self.run(f"A{position}", stop=stop)

    def aspirate(self, port: int, increments: int, *, stop: threading.Event | None = None) -> None:
        """Valve to ``port``, then ``P``: pick up ``increments``."""
        self.run(f"{self.valve_command}{port}P{increments}", stop=stop)

    def dispense(self, port: int, increments: int, *, stop: threading.Event | None = None) -> None:
        """Valve to ``port``, then ``D``: dispense ``increments``."""
        self.run(f"{self.valve_command}{port}D{increments}", stop=stop)

    def terminate(self) -> None:
        """``T``: stop the running move (the pump stays initialised)."""
        self.command("T")

    def plunger_position(self) -> int:
        """``?``: the absolute plunger position, increments."""
        return self._integer("?")

    def valve_port(self) -> int:
        """``?6``: the port the distribution valve is on."""
        return self._integer("?6")

    def firmware(self) -> str:
        """``&``: the firmware version."""
        return self.command("&", execute=False).data

    def _integer(self, report: str) -> int:
        reply = self.command(report, execute=False)
        text = reply.data.strip()
        if not text.isdigit() or len(text) > 9:
            raise ProtocolError(
                self.device,
                self.address,
                f"report {report!r} answered {text!r}, not a whole number",
                sent=command_frame(self.pump, report, execute=False),
                expected="digits",
                received=reply.raw,
            )
        return int(text)
