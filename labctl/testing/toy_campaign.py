"""A toy closed loop for tests of the campaign machinery: no instrument, real bluesky runs.

The "experiment" moves ophyd's simulated motor to the proposed position and reads a Gaussian
detector centred at 0.3; the recommender proposes uniform random positions.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from ophyd.sim import SynAxis, SynGauss, SynSignal

from labctl.plans.rundata import RunData
from labctl.protocols import LabLike

__all__ = [
    "RandomRecommender",
    "curve_maximum",
    "detector",
    "motor",
    "move_and_count",
    "peak_height",
    "spectrum",
]

motor = SynAxis(name="motor")
detector = SynGauss("detector", motor, "motor", center=0.3, Imax=1.0, sigma=0.5)

_SPECTRUM_AXIS = np.linspace(-2.0, 2.0, 2000)


def _spectrum() -> np.ndarray:
    """A 2000-point Gaussian curve (peak 1 at the motor's position, width 0.5) on [-2, 2]."""
    centre = float(motor.readback.get())
    return np.asarray(np.exp(-(((_SPECTRUM_AXIS - centre) / 0.5) ** 2) / 2.0))


spectrum = SynSignal(func=_spectrum, name="spectrum", labels={"detectors"})
"""An array-valued reading (a curve per event), so toy runs exercise the store's HDF5 path."""


class RandomRecommender:
    """Proposes uniform random positions in [-1, 1]; records what it was asked and told.

    Args:
        seed: seed of the proposals.
        think: seconds each ``ask`` takes (to test overlap with the hardware).
    """

    def __init__(self, seed: int = 0, think: float = 0.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.think = think
        self.asked_pending: list[list[dict[str, Any]]] = []
        self.told: list[tuple[dict[str, Any], Mapping[str, float] | None]] = []
        self.lock = threading.Lock()

    def ask(self, n: int, pending: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Propose ``n`` positions."""
        time.sleep(self.think)
        with self.lock:
            self.asked_pending.append([dict(point) for point in pending])
            return [{"position": float(self.rng.uniform(-1, 1))} for _ in range(n)]

    def tell(
        self, inputs: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, float] | None]
    ) -> None:
        """Remember what happened."""
        with self.lock:
            self.told.extend(zip((dict(x) for x in inputs), outcomes, strict=True))


def move_and_count(
    inputs: Mapping[str, Any], metadata: Mapping[str, Any], dwell: float = 0.0
) -> Any:
    """One run: move the motor to ``inputs["position"]``, wait ``dwell`` s, read the detector."""

    @bpp.run_decorator(md=dict(metadata))  # type: ignore[untyped-decorator]
    def inner() -> Any:
        position = inputs["position"]
        yield from bps.mv(motor, float(getattr(position, "magnitude", position)))
        if dwell > 0:
            yield from bps.sleep(dwell)
        yield from bps.trigger_and_read([motor, detector])

    return (yield from inner())


def peak_height(run: RunData) -> dict[str, float]:
    """The detector's reading as the objective ``signal``."""
    (signal,) = run.stream()["detector"]
    return {"signal": float(signal)}


class ToyOptimizer(RandomRecommender):
    """The random recommender as a registered optimizer kind (``toy-random``) for tests."""

    @classmethod
    def from_campaign(cls, section: Any) -> ToyOptimizer:
        """Build it from a campaign config section (uses only the seed)."""
        return cls(seed=section.optimizer.seed)


def toy_experiment(lab: LabLike | None, section: Any) -> tuple[Any, Any]:
    """The toy experiment as a registered experiment kind (``toy-gaussian``) for tests.

    ``experiment_options: {dwell: seconds}`` makes each run last that long (crash tests).
    """
    del lab
    dwell = float(section.experiment_options.get("dwell", 0.0))
    return functools.partial(move_and_count, dwell=dwell), peak_height


toy_experiment.outcomes = frozenset({"signal"})  # type: ignore[attr-defined]


def toy_sensing_experiment(lab: LabLike | None, section: Any) -> tuple[Any, Any]:
    """The toy experiment that also reads the lab's glovebox (``toy-sensing``; soak tests).

    Each run moves the toy motor, then reads the motor, the detector and every environment
    sensor of the lab — so chaos faults on the sensors' twins reach the campaign.
    """
    sensors = (
        [device for name, device in lab.devices.items() if name in ("glovebox", "room")]
        if lab is not None
        else []
    )

    def plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))  # type: ignore[untyped-decorator]
        def inner() -> Any:
            position = inputs["position"]
            yield from bps.mv(motor, float(getattr(position, "magnitude", position)))
            yield from bps.trigger_and_read([motor, detector, *sensors])

        return (yield from inner())

    del section
    return plan, peak_height


toy_sensing_experiment.outcomes = frozenset({"signal"})  # type: ignore[attr-defined]


def curve_maximum(run: RunData) -> dict[str, float]:
    """The last reading of the Gaussian detector times the last spectrum's peak (1 when whole).

    Reading the spectrum back exercises the stored curve: a torn curve file fails this reducer.
    """
    frame = run.stream()
    signal = float(frame["detector"].iloc[-1])
    curve = np.asarray(frame["spectrum"].iloc[-1])
    if curve.shape != _SPECTRUM_AXIS.shape:
        raise ValueError(f"spectrum has shape {curve.shape}, expected {_SPECTRUM_AXIS.shape}")
    return {"signal": signal * float(np.max(curve))}


def toy_curve_experiment(lab: LabLike | None, section: Any) -> tuple[Any, Any]:
    """The toy experiment with a curve (``toy-curve``): each event also holds a 2000-point array.

    Like ``toy-gaussian`` (``experiment_options: {dwell: seconds, events: n}``), but every run
    reads ``n`` events (default 3) of the motor, the detector and :data:`spectrum`, whose arrays
    the embedded store writes to HDF5 files — the path crash tests kill inside.
    """
    del lab
    dwell = float(section.experiment_options.get("dwell", 0.0))
    events = int(section.experiment_options.get("events", 3))

    def plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
        @bpp.run_decorator(md=dict(metadata))  # type: ignore[untyped-decorator]
        def inner() -> Any:
            position = inputs["position"]
            yield from bps.mv(motor, float(getattr(position, "magnitude", position)))
            for _ in range(events):
                if dwell > 0:
                    yield from bps.sleep(dwell / events)
                yield from bps.trigger_and_read([motor, detector, spectrum])

        return (yield from inner())

    return plan, curve_maximum


toy_curve_experiment.outcomes = frozenset({"signal"})  # type: ignore[attr-defined]
