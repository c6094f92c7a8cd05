"""One droplet-cell site as one bluesky run: move, flush, land, pulse train, strip, lift."""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from labctl.errors import LabctlError
from labctl.plans.pulsed_charging.options import (
    METADATA_KEY,
    OUTCOME_UNITS,
    PLAN_NAME,
    PulsedChargingOptions,
    PulseProtocol,
)
from labctl.plans.techniques import measure
from labctl.protocols import DropletCellLike, PotentiostatLike
from labctl.units import encode_quantity, to_magnitude, ureg

__all__ = ["NoLab", "PulsedChargingPlan", "pulsed_charging_experiment"]

MsgGenerator = Generator[Msg, Any, Any]

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


def pulsed_charging_experiment(
    droplet: DropletCellLike,
    potentiostat: PotentiostatLike,
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


class NoLab:
    """The plan of a factory called without a lab (reports, resume bookkeeping)."""

    def __call__(self, inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
        """Refuse: there are no instruments to run on."""
        del inputs, metadata
        raise LabctlError("the pulsed-charging experiment needs a lab with a droplet cell")


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
