"""Drift-and-noise model of glovebox and room conditions (pure; no I/O).

Each channel (O2, H2O, temperature, pressure, ...) is an Ornstein–Uhlenbeck process — a value
relaxing with time constant ``tau`` towards a set point that may drift linearly, driven by white
noise with stationary standard deviation ``sd``:

    x(t + Δt) = μ(t) + (x(t) − μ(t))·exp(−Δt/τ) + sd·√(1 − exp(−2Δt/τ))·ξ,   ξ ~ N(0, 1)

(Uhlenbeck & Ornstein, Phys. Rev. 36, 823 (1930); the exact discretisation of Gillespie,
Phys. Rev. E 54, 2084 (1996)). It is the simplest model with the two features a real glovebox
sensor shows: slow correlated wander around the regeneration set point and white measurement noise.
The exact update has no time-step error, so the same seed gives the same trace at any time scale.

An *excursion* (a glove puncture, a purge) is modelled as an override that holds a channel at a
value until cleared, for tests of alarms and suspenders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ChannelModel", "EnvironmentModel", "default_channel_model"]


@dataclass(frozen=True)
class ChannelModel:
    """Parameters of one channel, in the unit the instrument reports.

    Args:
        mean: set point at t = 0.
        sd: stationary standard deviation of the fluctuations (same unit as ``mean``).
        tau: relaxation time, s.
        drift: change of the set point per second (unit/s).
        low: physical floor (e.g. 0 for concentrations); values are clipped to it.
    """

    mean: float
    sd: float
    tau: float = 300.0
    drift: float = 0.0
    low: float | None = None

    def __post_init__(self) -> None:
        if not (self.sd >= 0 and self.tau > 0 and math.isfinite(self.mean)):
            raise ValueError(f"invalid channel model {self}: need sd ≥ 0, tau > 0, finite mean")


# Typical values for an argon glovebox and its room, in the units such controllers report.
_DEFAULTS: dict[str, ChannelModel] = {
    "o2": ChannelModel(mean=0.5, sd=0.05, tau=600.0, low=0.0),
    "h2o": ChannelModel(mean=0.3, sd=0.03, tau=600.0, low=0.0),
    "temperature": ChannelModel(mean=25.0, sd=0.05, tau=900.0),
    "pressure": ChannelModel(mean=1015.0, sd=0.3, tau=120.0),
    "humidity": ChannelModel(mean=40.0, sd=0.5, tau=1800.0, low=0.0),
}


def default_channel_model(name: str) -> ChannelModel:
    """A plausible model for a channel named like ``o2``, ``h2o``, ``temperature``, ``pressure``.

    Names are matched by their last word (``room_temperature`` → ``temperature``); an unknown
    name gets a unit-free random walk around 0.
    """
    key = name.lower().rsplit("_", 1)[-1]
    return _DEFAULTS.get(key, ChannelModel(mean=0.0, sd=1.0))


class EnvironmentModel:
    """A set of independent channels advanced in simulated time.

    Args:
        channels: name → model.
        seed: seed of the noise; equal seeds give equal traces.
    """

    def __init__(self, channels: dict[str, ChannelModel], seed: int = 0) -> None:
        self.channels = dict(channels)
        self._rng = np.random.default_rng(seed)
        self._time = 0.0
        self._values = {name: model.mean for name, model in self.channels.items()}
        self._overrides: dict[str, float] = {}

    @property
    def time(self) -> float:
        """Simulated time since the start, s."""
        return self._time

    def advance(self, seconds: float) -> None:
        """Advance every channel by ``seconds`` of simulated time (exact OU update)."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        if seconds == 0:
            return
        self._time += seconds
        for name, model in self.channels.items():
            set_point = model.mean + model.drift * self._time
            decay = math.exp(-seconds / model.tau)
            spread = model.sd * math.sqrt(max(0.0, 1.0 - decay * decay))
            value = set_point + (self._values[name] - set_point) * decay
            value += spread * float(self._rng.standard_normal())
            if model.low is not None:
                value = max(model.low, value)
            self._values[name] = value

    def value(self, name: str) -> float:
        """The current value of channel ``name`` (an override wins)."""
        if name in self._overrides:
            return self._overrides[name]
        return self._values[name]

    def set_excursion(self, name: str, value: float | None) -> None:
        """Hold channel ``name`` at ``value`` (``None`` ends the excursion)."""
        if name not in self.channels:
            raise KeyError(f"no channel {name!r}; channels: {sorted(self.channels)}")
        if value is None:
            self._overrides.pop(name, None)
        else:
            self._overrides[name] = float(value)
