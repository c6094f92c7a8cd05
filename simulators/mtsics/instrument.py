r"""A simulated analytical balance speaking MT-SICS (levels 0/1), weighing a vial of the world.

:class:`SimulatedBalance` holds the balance's state (zero point, tare, what sits on the pan, its
clock) and answers one command line at a time; :class:`MtSicsSession` is the per-connection
:class:`~labctl.protocols.TwinSession` that splits the byte stream into CR LF lines. Reply forms
are those :mod:`labctl.devices.dispensing.balance_protocol` documents.

The load is the gross mass of the world's vial on the pan (:attr:`SimulatedBalance.vial`,
``None`` = empty pan), read afresh at every command, so what a pump twin just dispensed is what
the balance weighs. Measurement model (every number a twin option):

* readability ``d`` (values rounded to it) and white noise ``σ`` per reading;
* settling: after the load changes the reading approaches the new load as
  ``1 − exp(−5 t / t_settle)`` and is *dynamic* until ``t_settle`` has passed; ``S``, ``Z`` and
  ``T`` wait for stability — at ``time_scale`` 0 the balance's clock jumps ahead (instant), at
  ``time_scale`` > 0 the answer comes after the (scaled) settling time. ``SI`` answers at once
  (``S D`` while settling) and, at time scale 0, advances the clock by ``sample_period``;
* drift: the zero point moves by ``drift`` g per hour of the balance's clock (``Z`` resets it);
* limits: a net load above ``capacity`` answers ``+``; an underload (fault: pan removed) ``-``.

Faults (instrument level): ``unstable`` (draught or vibration: never stable — ``S``/``Z``/``T``
answer ``I`` after the balance's ``stability_timeout``), ``overload`` and ``underload``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from labctl.simulators.world import World

__all__ = ["MtSicsSession", "SimulatedBalance"]

_MAX_LINE = 1000


@dataclass
class SimulatedBalance:
    """One simulated balance.

    Args:
        world: the shared world whose vial it weighs.
        vial: the vial on the pan (``None`` = empty pan).
        capacity: largest net load, g.
        readability: display step, g.
        noise: standard deviation of a reading, g.
        settling_time: time to a stable reading after the load changes, s.
        drift: zero-point drift, g per hour.
        stability_timeout: the balance's own limit for ``S``/``Z``/``T``, s of its clock.
        sample_period: clock advance per ``SI`` at time scale 0, s.
        time_scale: simulated seconds per wall second (0 = instant).
        rng: noise generator (seeded).
        serial_number: what ``I4`` answers.
        model: type and capacity ``I2`` answers.
    """

    world: World
    vial: str | None = None
    capacity: float = 220.0
    readability: float = 1e-4
    noise: float = 5e-5
    settling_time: float = 2.0
    drift: float = 0.0
    stability_timeout: float = 10.0
    sample_period: float = 0.1
    time_scale: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    serial_number: str = "B000000001"
    model: str = "XPR205 labctl twin"

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.zero_point = 0.0
        self.tare_value = 0.0
        self.unstable = False
        self.overload = False
        self.underload = False
        self._clock = 0.0
        self._wall_start = time.monotonic()
        self._load = self._current_load()
        self._previous = self._load
        self._changed_at = -math.inf
        self.commands: list[str] = []

    # -- physics --------------------------------------------------------------------------------
    def now(self) -> float:
        """The balance's clock, s."""
        if self.time_scale > 0:
            return (time.monotonic() - self._wall_start) * self.time_scale
        return self._clock

    def _current_load(self) -> float:
        if self.vial is None:
            return 0.0
        with self.world.lock:
            return float(self.world.vial(self.vial).gross_mass)

    def _track(self) -> None:
        load = self._current_load()
        if load != self._load:
            now = self.now()
            self._previous = self._shown_load(now)
            self._load = load
            self._changed_at = now

    def _shown_load(self, now: float) -> float:
        elapsed = now - self._changed_at
        if elapsed >= self.settling_time or self.settling_time <= 0:
            return self._load
        weight = math.exp(-5.0 * elapsed / self.settling_time)
        return self._load + (self._previous - self._load) * weight

    def settled(self) -> bool:
        """Whether the reading is stable now."""
        return not self.unstable and self.now() - self._changed_at >= self.settling_time

    def settle_wait(self) -> float:
        """Seconds of the balance's clock until the reading is stable (inf when unstable)."""
        if self.unstable:
            return math.inf
        return max(0.0, self._changed_at + self.settling_time - self.now())

    def advance(self, seconds: float) -> None:
        """Advance the clock at time scale 0 (ignored otherwise: wall time drives it)."""
        if self.time_scale == 0:
            self._clock += seconds

    def gross(self) -> float:
        """The gross reading, g, before zero point and tare (noise and drift included)."""
        now = self.now()
        value = self._shown_load(now) + self.drift * now / 3600.0
        if self.unstable:
            value += float(self.rng.normal(0.0, 50 * max(self.noise, self.readability)))
        if self.noise > 0:
            value += float(self.rng.normal(0.0, self.noise))
        return value

    def _rounded(self, value: float) -> float:
        step = self.readability
        return round(round(value / step) * step, 10) if step > 0 else value

    def _weight_text(self, value: float) -> str:
        decimals = max(0, -math.floor(math.log10(self.readability))) if self.readability else 4
        return f"{self._rounded(value):>10.{decimals}f} g"

    def _limit(self, command: str, net: float) -> str | None:
        if self.underload:
            return f"{command} -"
        if self.overload or net > self.capacity:
            return f"{command} +"
        return None

    # -- commands -------------------------------------------------------------------------------
    def answer(self, line: str) -> str:
        """The reply to one command line (waiting for stability already done by the caller)."""
        with self.lock:
            self.commands.append(line)
            self._track()
            name, _, parameters = line.partition(" ")
            handler = {
                "S": self._stable_weight,
                "SI": self._immediate_weight,
                "Z": self._zero,
                "T": self._tare,
                "@": self._reset,
                "I4": self._serial,
                "I1": self._level,
                "I2": self._type,
            }.get(name)
            if handler is None:
                return "ES"
            if parameters.strip():
                return "EL"
            return handler()

    def _stable_weight(self) -> str:
        if not self.settled():
            return "S I"
        net = self.gross() - self.zero_point - self.tare_value
        return self._limit("S", net) or f"S S {self._weight_text(net)}"

    def _immediate_weight(self) -> str:
        stable = self.settled()
        net = self.gross() - self.zero_point - self.tare_value
        self.advance(self.sample_period)
        limit = self._limit("S", net)
        if limit is not None:
            return limit
        return f"S {'S' if stable else 'D'} {self._weight_text(net)}"

    def _zero(self) -> str:
        if not self.settled():
            return "Z I"
        gross = self.gross()
        limit = self._limit("Z", gross - self.zero_point)
        if limit is not None:
            return limit
        self.zero_point = gross
        self.tare_value = 0.0
        return "Z A"

    def _tare(self) -> str:
        if not self.settled():
            return "T I"
        net = self.gross() - self.zero_point
        limit = self._limit("T", net)
        if limit is not None:
            return limit
        self.tare_value = net
        return f"T S {self._weight_text(net)}"

    def _reset(self) -> str:
        self.tare_value = 0.0
        return self._serial()

    def _serial(self) -> str:
        return f'I4 A "{self.serial_number}"'

    def _level(self) -> str:
        return 'I1 A "01" "2.20" "2.20" "" ""'

    def _type(self) -> str:
        return f'I2 A "{self.model} {self.capacity:.4f} g"'

    # -- waiting --------------------------------------------------------------------------------
    def wait_for_stability(self) -> Iterator[bytes]:
        """Before ``S``/``Z``/``T``: let the reading settle, up to ``stability_timeout``.

        At time scale 0 the clock jumps; otherwise the generator sleeps (scaled wall time).
        """
        with self.lock:
            self._track()
            wait = min(self.settle_wait(), self.stability_timeout)
        if self.time_scale == 0:
            with self.lock:
                self.advance(wait)
            return
        deadline = time.monotonic() + wait / self.time_scale
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.05))
            with self.lock:
                self._track()
                if self.settled():
                    return
            yield b""


class MtSicsSession:
    """One connection to the balance: CR LF lines in, reply lines out.

    Args:
        balance: the balance.
    """

    def __init__(self, balance: SimulatedBalance) -> None:
        self.balance = balance
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterable[bytes]:
        """Consume bytes; answer each complete line (``S``/``Z``/``T`` wait for stability)."""
        self._buffer.extend(data)
        return self._answers()

    def _answers(self) -> Iterator[bytes]:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > _MAX_LINE:
                    self._buffer.clear()
                    yield b"ET\r\n"
                return
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                yield b"ET\r\n"
                continue
            if any(ord(char) < 0x20 for char in line):
                yield b"ET\r\n"
                continue
            if line.partition(" ")[0] in ("S", "Z", "T"):
                yield from self.balance.wait_for_stability()
            yield self.balance.answer(line).encode("ascii") + b"\r\n"
