"""The pulsed-charging experiment: plate a fresh substrate site with a pulse train, strip it back.

One experiment is one bluesky run (``md`` = the campaign's metadata plus the protocol, the
electrode area and ontology terms) on a scanning droplet cell
(:class:`~labctl.devices.droplet.device.ScanningDropletCell`):

1. move to the next fresh site (claimed at once: a site is never used twice), flush electrolyte
   through the head, land;
2. ``pulse_train`` — ``cycles`` galvanostatic pulses of ``pulse_current_density`` × electrode area
   for ``on_time``, then ``off_time`` at rest or at ``reverse_current_density`` (anodic), whole
   cycles filling about ``plating_time``; sampled every min(on_time, off_time);
3. ``rest`` — open circuit for ``rest_time``, if any (the deposit's equilibrium potential; its
   corrosion counts against the efficiency);
4. ``strip`` — a constant anodic current (``strip_current_density``) long enough to strip
   ``strip_excess`` × the charge the protocol should have left; the reducer finds where the
   potential leaves the metal's plateau (the cut-off) — the charge stripped to there measures
   the Coulombic efficiency. On an instrument that stops at a cut-off, keep ``strip_excess``
   small: the time past the transition oxidises the substrate;
5. lift; stream ``site``: the site (row, column, x, y), its state (``used``) and the contact
   height. (Few streams: the store's cost per stream at the run's end dominates a simulated
   experiment.)

Any failure inside the run stops the droplet cell (technique and pump stopped, cell lifted, site
marked ``failed``) before the error ends the run.

:func:`reduce_pulsed_charging` turns the stored run into the objectives — from the run alone
(start document and streams), never from a twin — so resume and reports work without a lab:

* ``plating_rate`` — average net plating current density over the pulse train,
  (Q_cathodic − Q_anodic)/(A·t_train), **mA/cm²** (metal-neutral; 1 mA/cm² = 1.71 µm/h of Zn,
  4.85 µm/h of Li for a compact deposit, REFERENCES 2.3);
* ``coulombic_efficiency`` — all anodic charge (reverse pulses + the strip to its transition)
  over all cathodic charge, **dimensionless fraction** (0…1); after a short the strip never
  leaves the plateau and is credited nothing;
* ``dendrite_proxy`` — the LABELLED proxy of :func:`labctl.analysis.overpotential_drift`: how
  far the plating overpotential fell from early to late pulses as the deposit roughened, **mV**
  (a short makes it the whole plating voltage);
* also ``plated_charge`` (cathodic charge density, mC/cm²), ``short_circuit`` (1 when the pulse
  train's voltage collapsed) and ``stripping_plateau`` (V): recorded, not optimized.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Annotated, Any, TypeAlias

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import Msg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.analysis import (
    AnalysisError,
    StrippingTransition,
    detect_short_circuit,
    held_charges,
    overpotential_drift,
    stripping_transition,
)
from labctl.config import (
    QUANTITY_SERIALIZER,
    Duration,
    LoadedConfig,
    issues_from_validation_error,
    quantity_validator,
)
from labctl.errors import ConfigError, ConfigIssue, LabctlError
from labctl.plans.rundata import RunData
from labctl.plans.techniques import measure
from labctl.units import encode_quantity, parse_quantity, to_magnitude, ureg

__all__ = [
    "OUTCOME_UNITS",
    "PulseProtocol",
    "PulsedChargingOptions",
    "PulsedChargingPlan",
    "pulsed_charging",
    "pulsed_charging_experiment",
    "reduce_pulsed_charging",
]

MsgGenerator = Generator[Msg, Any, Any]

PLAN_NAME = "pulsed_charging_experiment"
METADATA_KEY = "pulsed_charging"
"""Start-document key of everything the reducer needs besides the streams."""

OUTCOME_UNITS: dict[str, str] = {
    "plating_rate": "mA/cm**2",
    "coulombic_efficiency": "",
    "dendrite_proxy": "mV",
    "plated_charge": "mC/cm**2",
    "short_circuit": "",
    "stripping_plateau": "V",
}
"""The reducer's outcomes and the units it reports them in (objectives must use these)."""

# Quantity → key of labctl.ontology.ONTOLOGY_TERMS (None: the ontology has no term; a
# plating rate is recorded as the current density it is).
_ONTOLOGY_QUANTITIES = {
    "pulse_current_density": "current_density",
    "reverse_current_density": "current_density",
    "on_time": "duration",
    "off_time": "duration",
    "plating_rate": "current_density",
    "coulombic_efficiency": "coulombic_efficiency",
    "plated_charge": None,
    "dendrite_proxy": None,
}

CurrentDensity: TypeAlias = Annotated[Any, quantity_validator("A/m**2"), QUANTITY_SERIALIZER]
Potential: TypeAlias = Annotated[Any, quantity_validator("V"), QUANTITY_SERIALIZER]


class PulsedChargingOptions(BaseModel):
    """``campaign.experiment_options`` of the ``pulsed-charging`` experiment.

    Args:
        droplet: the scanning droplet cell's device name.
        plating_time: nominal pulse-train length (whole cycles, at least 4).
        rest_time: open circuit between plating and stripping (default 0 s: none).
        rest_interval: sampling interval of the rest.
        strip_current_density: anodic current density of the strip.
        strip_excess: the strip lasts this many times the charge the protocol leaves (> 1).
        strip_points: samples of the strip (its interval follows).
        cutoff_potential: cell voltage that marks the end of the metal's stripping plateau.
        compliance_voltage: compliance of the pulse train and the strip.
        max_points: the most samples a pulse train may have (a protocol needing more is
            refused before the run: its pulses are too short for its length).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    droplet: str = "droplet"
    plating_time: Duration = Field(default_factory=lambda: ureg.Quantity(2.0, "s"))
    rest_time: Duration = Field(default_factory=lambda: ureg.Quantity(0.0, "s"))
    rest_interval: Duration = Field(default_factory=lambda: ureg.Quantity(10.0, "ms"))
    strip_current_density: CurrentDensity = Field(
        default_factory=lambda: ureg.Quantity(10.0, "mA/cm**2")
    )
    strip_excess: float = Field(default=1.3, gt=1.0, le=3.0)
    strip_points: int = Field(default=2000, ge=50, le=100_000)
    cutoff_potential: Potential = Field(default_factory=lambda: ureg.Quantity(0.3, "V"))
    compliance_voltage: Potential = Field(default_factory=lambda: ureg.Quantity(3.0, "V"))
    max_points: int = Field(default=20_000, ge=100, le=1_000_000)


class PulseProtocol(BaseModel):
    """One proposed protocol, in SI units (A/m², s).

    Args:
        peak_density: plating current density of the on-pulse (magnitude), A/m².
        on_time: s.
        off_time: s.
        reverse_density: anodic current density during the off-time (0: rest), A/m².
    """

    model_config = ConfigDict(frozen=True)

    peak_density: float = Field(gt=0)
    on_time: float = Field(gt=0)
    off_time: float = Field(gt=0)
    reverse_density: float = Field(default=0.0, ge=0)

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> PulseProtocol:
        """The protocol a proposal describes.

        The proposal holds ``pulse_current_density``, ``on_time``, ``off_time`` and optionally
        ``reverse_current_density`` (quantities, or text with units).

        Raises:
            LabctlError: a missing input, or one with the wrong units or sign.
        """
        missing = {"pulse_current_density", "on_time", "off_time"} - set(inputs)
        if missing:
            raise LabctlError(f"a pulsed-charging proposal needs {sorted(missing)}")
        reverse = inputs.get("reverse_current_density")
        try:
            return cls(
                peak_density=abs(_si(inputs["pulse_current_density"], "A/m**2")),
                on_time=_si(inputs["on_time"], "s"),
                off_time=_si(inputs["off_time"], "s"),
                reverse_density=0.0 if reverse is None else abs(_si(reverse, "A/m**2")),
            )
        except ValidationError as error:
            raise LabctlError(f"not a pulse protocol: {error}") from None

    @property
    def duty_cycle(self) -> float:
        """on_time/(on_time + off_time)."""
        return self.on_time / (self.on_time + self.off_time)

    @property
    def net_density(self) -> float:
        """Time-averaged net plating current density, A/m² (reverse pulses subtract)."""
        duty = self.duty_cycle
        return duty * self.peak_density - (1.0 - duty) * self.reverse_density


def _si(value: Any, unit: str) -> float:
    return to_magnitude(parse_quantity(value, unit), unit)


def _quantity(value: float, unit: str) -> Any:
    return encode_quantity(ureg.Quantity(float(value), unit))


def _ontology() -> dict[str, dict[str, str]]:
    """Quantity → ``{"label", "iri"}`` for the ones the EMMO/BattINFO ontology has."""
    from labctl.ontology import ONTOLOGY_TERMS

    terms: dict[str, dict[str, str]] = {}
    for quantity, key in _ONTOLOGY_QUANTITIES.items():
        if key is not None:
            label, iri = ONTOLOGY_TERMS[key]
            terms[quantity] = {"label": label, "iri": iri}
    return terms


def pulsed_charging_experiment(
    droplet: Any,
    potentiostat: Any,
    protocol: PulseProtocol,
    *,
    electrode_area: float,
    options: PulsedChargingOptions,
    metadata: Mapping[str, Any] | None = None,
) -> MsgGenerator:
    """One pulsed-charging experiment as one bluesky run; returns the run's uid.

    Args:
        droplet: the scanning droplet cell.
        potentiostat: its potentiostat.
        protocol: the pulse protocol.
        electrode_area: the droplet's contact area, m² (current = density × area).
        options: the experiment's settings.
        metadata: extra start-document metadata (the campaign's: id, iteration, inputs).

    Raises:
        LabctlError: the protocol plates no net charge or needs more than ``max_points``
            samples (before anything moves).
    """
    if not electrode_area > 0:
        raise LabctlError(f"the electrode area must be > 0 m², got {electrode_area}")
    period = protocol.on_time + protocol.off_time
    train = to_magnitude(options.plating_time, "s")
    cycles = max(4, round(train / period))
    interval = min(protocol.on_time, protocol.off_time)
    points = math.floor(cycles * period / interval + 1e-9)
    if points > options.max_points:
        raise LabctlError(
            f"the pulse train would need {points} samples (> max_points {options.max_points}): "
            f"{cycles} cycles sampled every {interval * 1e3:.3g} ms"
        )
    net_charge = protocol.net_density * electrode_area * cycles * period
    if not net_charge > 0:
        raise LabctlError(
            "the protocol plates no net charge: the reverse pulses strip at least what the "
            "on-pulses plate"
        )
    strip_current = to_magnitude(options.strip_current_density, "A/m**2") * electrode_area
    strip_duration = options.strip_excess * net_charge / strip_current
    compliance = to_magnitude(options.compliance_voltage, "V")
    pulse_train = {
        "kind": "pulse_train",
        "on_current": ureg.Quantity(-protocol.peak_density * electrode_area, "A"),
        "off_current": ureg.Quantity(protocol.reverse_density * electrode_area, "A"),
        "on_time": ureg.Quantity(protocol.on_time, "s"),
        "off_time": ureg.Quantity(protocol.off_time, "s"),
        "cycles": cycles,
        "interval": ureg.Quantity(interval, "s"),
        "compliance_voltage": ureg.Quantity(compliance, "V"),
    }
    strip = {
        "kind": "cp",
        "current": ureg.Quantity(strip_current, "A"),
        "duration": ureg.Quantity(strip_duration, "s"),
        "interval": ureg.Quantity(strip_duration / options.strip_points, "s"),
        "compliance_voltage": ureg.Quantity(compliance, "V"),
    }
    rest_time = to_magnitude(options.rest_time, "s")
    md = {
        **(metadata or {}),
        "plan_name": PLAN_NAME,
        METADATA_KEY: {
            "droplet": droplet.name,
            "potentiostat": potentiostat.name,
            "electrode_area": _quantity(electrode_area, "m**2"),
            "protocol": {
                "pulse_current_density": _quantity(protocol.peak_density, "A/m**2"),
                "on_time": _quantity(protocol.on_time, "s"),
                "off_time": _quantity(protocol.off_time, "s"),
                "reverse_current_density": _quantity(protocol.reverse_density, "A/m**2"),
                "cycles": cycles,
                "duty_cycle": protocol.duty_cycle,
            },
            "strip_current": _quantity(strip_current, "A"),
            "cutoff_potential": _quantity(to_magnitude(options.cutoff_potential, "V"), "V"),
            "outcome_units": dict(OUTCOME_UNITS),
        },
        "ontology": _ontology(),
    }

    def steps() -> MsgGenerator:
        yield from bps.mv(droplet, "fresh")
        flush = to_magnitude(droplet.options.flush_volume, "mL")
        if flush > 0:
            yield from bps.mv(droplet.flushed, flush)
        yield from bps.mv(droplet.landed, 1)
        yield from measure(potentiostat, pulse_train, stream="pulse_train")
        if rest_time > 0:
            rest = {
                "kind": "ocv",
                "duration": ureg.Quantity(rest_time, "s"),
                "interval": options.rest_interval,
            }
            yield from measure(potentiostat, rest, stream="rest")
        yield from measure(potentiostat, strip, stream="strip")
        yield from bps.mv(droplet.landed, 0)
        yield from bps.trigger_and_read([droplet], name="site")

    def made_safe_on_failure() -> MsgGenerator:
        try:
            yield from steps()
        except Exception:
            # Technique and pump stopped, cell lifted, site marked failed (a no-op when the
            # droplet cell already did it for its own failure).
            yield from bps.stop(droplet)
            raise

    @bpp.run_decorator(md=md)  # type: ignore[untyped-decorator]
    def run() -> MsgGenerator:
        yield from made_safe_on_failure()

    return (yield from run())


class PulsedChargingPlan:
    """The campaign's experiment plan on one lab (what :func:`pulsed_charging` returns).

    Args:
        droplet: the droplet cell.
        potentiostat: its potentiostat.
        options: the experiment's settings.
        electrode_area: m².
    """

    def __init__(
        self,
        droplet: Any,
        potentiostat: Any,
        options: PulsedChargingOptions,
        electrode_area: float,
    ) -> None:
        self.droplet = droplet
        self.potentiostat = potentiostat
        self.options = options
        self.electrode_area = electrode_area

    def __call__(self, inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
        """One experiment for the proposal ``inputs``."""
        protocol = PulseProtocol.from_inputs(inputs)
        return pulsed_charging_experiment(
            self.droplet,
            self.potentiostat,
            protocol,
            electrode_area=self.electrode_area,
            options=self.options,
            metadata=metadata,
        )

    def resources(self) -> str | None:
        """Why no further experiment can run (``None``: a fresh site is left)."""
        from labctl.devices.droplet.sites import SiteError

        try:
            self.droplet.next_site()
        except SiteError as error:
            return f"substrate exhausted: {error}"
        return None


class _NoLab:
    """The plan of a factory called without a lab (reports, resume bookkeeping)."""

    def __call__(self, inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
        """Refuse: there are no instruments to run on."""
        del inputs, metadata
        raise LabctlError("the pulsed-charging experiment needs a lab with a droplet cell")


def reduce_pulsed_charging(run: RunData) -> dict[str, float]:
    """The objectives of one stored pulsed-charging run (module docstring), from the run alone.

    Raises:
        AnalysisError: a curve is missing, cut short, or does not show what it must (no
            stripping transition).
        LabctlError: the run is not a pulsed-charging run.
    """
    info = run.start.get(METADATA_KEY)
    if not isinstance(info, Mapping):
        raise LabctlError(f"run {run.start.get('uid', '?')} is not a pulsed-charging run")
    pstat = str(info["potentiostat"])
    area = float(info["electrode_area"]["value"])
    cutoff = float(info["cutoff_potential"]["value"])
    protocol = info["protocol"]
    on_current = -float(protocol["pulse_current_density"]["value"]) * area
    off_current = float(protocol["reverse_current_density"]["value"]) * area
    t, e, i = _curve(run, "pulse_train", pstat)
    train = held_charges(t, i, initial_time=0.0)
    duration = float(t[-1])
    if train.plated_charge <= 0 or duration <= 0:
        raise AnalysisError("pulsed charging", "the pulse train plated no charge")
    drift = overpotential_drift(t, e, i, on_current=on_current, off_current=off_current)
    # Nucleation on the bare site and the double layer's first charge swing the first pulses'
    # voltage far more than a steady train's: the short detection starts after them.
    settled = int(np.searchsorted(t, 0.1 * duration))
    short = detect_short_circuit(
        t[settled:], e[settled:], i[settled:], window=max(10 * float(t[1] - t[0]), 0.05)
    )
    ts, es, is_ = _curve(run, "strip", pstat)
    try:
        transition = stripping_transition(ts, es, is_, cutoff=cutoff)
    except AnalysisError:
        if short is None:
            raise
        # Stripped through a short, the potential never leaves the plateau: no metal is
        # credited (the protocol's efficiency is what its reverse pulses returned).
        transition = StrippingTransition(float(ts[-1]), 0.0, float(np.median(es)))
    anodic = train.stripped_charge + transition.stripped_charge
    return {
        # A/m² → mA/cm²: × 0.1.
        "plating_rate": 0.1 * (train.plated_charge - train.stripped_charge) / (area * duration),
        "coulombic_efficiency": anodic / train.plated_charge,
        "dendrite_proxy": 1e3 * drift.drift,
        # C/m² → mC/cm²: × 0.1.
        "plated_charge": 0.1 * train.plated_charge / area,
        "short_circuit": 0.0 if short is None else 1.0,
        "stripping_plateau": transition.plateau_potential,
    }


def _curve(run: RunData, stream: str, pstat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = run.stream(stream)
    if frame.empty:
        raise AnalysisError("pulsed charging", f"the {stream} stream is empty")
    row = frame.iloc[-1]
    completed = row.get(f"{pstat}_completed")
    if completed is not None and not np.isnan(float(completed)) and float(completed) != 1:
        raise AnalysisError("pulsed charging", f"the {stream} technique was cut short")
    return tuple(  # type: ignore[return-value]
        np.asarray(row[f"{pstat}_{key}"], dtype=float) for key in ("time", "potential", "current")
    )


def pulsed_charging(lab: Any, section: Any) -> tuple[Any, Any]:
    """The ``pulsed-charging`` experiment kind: its plan on ``lab`` and its reducer.

    With ``lab`` = ``None`` (reports, resume) the plan refuses to run; the reducer needs only
    the stored run.

    Raises:
        ConfigError: invalid ``experiment_options``, a missing droplet cell, or a potentiostat
            without ``options.electrode_area``.
    """
    try:
        options = PulsedChargingOptions.model_validate(section.experiment_options)
    except ValidationError as error:
        raise ConfigError(
            "campaign.experiment_options",
            issues_from_validation_error(error, ("campaign", "experiment_options")),
        ) from None
    if lab is None:
        return _NoLab(), reduce_pulsed_charging
    droplet = lab.devices.get(options.droplet)
    where = ("campaign", "experiment_options", "droplet")
    if droplet is None or not hasattr(droplet, "next_site"):
        raise ConfigError(
            "campaign.experiment_options",
            [ConfigIssue(where, "must name the lab's droplet-cell device", options.droplet)],
        )
    potentiostat = droplet.potentiostat
    area = getattr(getattr(potentiostat, "limits", None), "electrode_area", None)
    if area is None or not area > 0:
        raise ConfigError(
            "campaign.experiment_options",
            [
                ConfigIssue(
                    ("devices", getattr(potentiostat, "name", "?"), "options", "electrode_area"),
                    "the pulsed-charging experiment converts current densities with the "
                    "potentiostat's electrode area: set it",
                )
            ],
        )
    return PulsedChargingPlan(droplet, potentiostat, options, float(area)), reduce_pulsed_charging


def _check_config(config: LoadedConfig) -> list[ConfigIssue]:
    """Problems of a ``pulsed-charging`` campaign the generic schema cannot see."""
    campaign = config.model.campaign
    assert campaign is not None
    issues: list[ConfigIssue] = []
    try:
        options = PulsedChargingOptions.model_validate(campaign.experiment_options)
    except ValidationError as error:
        return issues_from_validation_error(error, ("campaign", "experiment_options"))
    device = config.model.devices.get(options.droplet)
    if device is None or device.kind != "droplet-cell":
        issues.append(
            ConfigIssue(
                ("campaign", "experiment_options", "droplet"),
                "must name a droplet-cell device of this lab",
                options.droplet,
            )
        )
    else:
        pstat_name = device.options.get("potentiostat")
        pstat = config.model.devices.get(str(pstat_name))
        if pstat is not None and pstat.options.get("electrode_area") is None:
            issues.append(
                ConfigIssue(
                    ("devices", str(pstat_name), "options", "electrode_area"),
                    "the pulsed-charging experiment needs the electrode area",
                )
            )
    for name in ("pulse_current_density", "on_time", "off_time"):
        if name not in campaign.space:
            issues.append(
                ConfigIssue(("campaign", "space", name), "the pulsed-charging experiment needs it")
            )
    for name, objective in campaign.objectives.items():
        if name == "constraints" or name not in OUTCOME_UNITS or not isinstance(objective, dict):
            continue
        given = str(objective.get("units", ""))
        expected = OUTCOME_UNITS[name]
        if not _same_units(given, expected):
            issues.append(
                ConfigIssue(
                    ("campaign", "objectives", name, "units"),
                    f"the reducer reports {name} in {expected or 'no units (a fraction)'}",
                    given,
                )
            )
    return issues


def _same_units(given: str, expected: str) -> bool:
    try:
        ratio = ureg.Quantity(1.0, given or "dimensionless").to(expected or "dimensionless")
    except Exception:
        return False
    return bool(abs(float(ratio.magnitude) - 1.0) < 1e-12)


pulsed_charging.outcomes = frozenset(OUTCOME_UNITS)  # type: ignore[attr-defined]
pulsed_charging.check_config = _check_config  # type: ignore[attr-defined]
