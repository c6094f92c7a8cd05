"""The electrolyte experiment as one bluesky run: recover, prepare, fill, rest, EIS, LSV, rinse."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from labctl.devices.potentiostat.techniques import OCV
from labctl.errors import LabctlError
from labctl.ontology import ontology_term
from labctl.plans.dispensing import prepare_in_run
from labctl.plans.electrolyte.options import ElectrolyteOptions
from labctl.plans.techniques import measure
from labctl.protocols import DispensingRobotLike, MovableDevice, PotentiostatLike, ReadableDevice
from labctl.units import Quantity, parse_quantity, to_magnitude, ureg

__all__ = ["electrolyte_experiment", "experiment_metadata", "recipe_for", "rinse"]

MsgGenerator = Generator[Msg, Any, Any]


def electrolyte_experiment(
    inputs: Mapping[str, Any],
    metadata: Mapping[str, Any],
    *,
    robot: DispensingRobotLike,
    transfer_pump: MovableDevice,
    potentiostat: PotentiostatLike,
    temperature_sensor: ReadableDevice | None,
    options: ElectrolyteOptions,
) -> MsgGenerator:
    """One electrolyte experiment as one bluesky run (steps in :mod:`labctl.plans.electrolyte`).

    Args:
        inputs: the proposal: ``options.molality_input`` (mol/kg), each of ``options.solvents``
            (mass fractions), optionally ``options.temperature_input``.
        metadata: the start document's metadata from the campaign loop.
        robot: the dispensing robot.
        transfer_pump: the syringe pump between the mixing vial, the cell, rinse and waste.
        potentiostat: the potentiostat on the conductivity cell.
        temperature_sensor: the environment sensor read for the cell's temperature (or None).
        options: the experiment's options.

    Returns:
        The run's uid.

    Raises:
        RecipeError: the proposal cannot be made from the stocks (before the run opens).
    """
    recipe = recipe_for(inputs, options)
    robot.plan(recipe)  # refuse an infeasible proposal before the run opens
    md = {**metadata, **experiment_metadata(options)}
    vial = options.vial

    def body() -> MsgGenerator:
        if robot.vial_states().get(vial) != "fresh":
            # An interrupted experiment left liquid behind: clean up before preparing.
            yield from rinse(robot, transfer_pump, options)
        yield from prepare_in_run(robot, recipe, vial)
        yield from _transfer(transfer_pump, options.transfer.fill_volume, "vial", "cell", options)
        rest = to_magnitude(options.equilibration, "s")
        yield from measure(
            potentiostat,
            OCV(
                duration=options.equilibration,
                interval=ureg.Quantity(max(rest / 60.0, 0.1), "s"),
            ),
            stream="equilibration",
        )
        if temperature_sensor is not None:
            yield from bps.trigger_and_read([temperature_sensor], name="temperature")
        yield from measure(potentiostat, {"kind": "eis", **options.eis}, stream="eis")
        yield from measure(potentiostat, {"kind": "lsv", **options.lsv}, stream="lsv")

    @bpp.run_decorator(md=md)  # type: ignore[untyped-decorator]
    def run() -> MsgGenerator:
        return (
            yield from bpp.finalize_wrapper(  # type: ignore[no-untyped-call]
                body(), rinse(robot, transfer_pump, options)
            )
        )

    uid = yield from run()
    return uid


def rinse(
    robot: DispensingRobotLike, transfer_pump: MovableDevice, options: ElectrolyteOptions
) -> MsgGenerator:
    """Empty and rinse the cell, empty and rinse the mixing vial, return the vial to service."""
    transfer = options.transfer
    yield from _transfer(transfer_pump, transfer.empty_volume, "cell", "waste", options)
    for _ in range(transfer.rinse_cycles):
        yield from _transfer(transfer_pump, transfer.rinse_volume, "rinse", "cell", options)
        yield from _transfer(transfer_pump, transfer.empty_volume, "cell", "waste", options)
    yield from _transfer(transfer_pump, transfer.empty_volume, "vial", "waste", options)
    yield from _transfer(transfer_pump, transfer.rinse_volume, "rinse", "vial", options)
    yield from _transfer(transfer_pump, transfer.empty_volume, "vial", "waste", options)
    yield from bps.abs_set(robot, {"rinsed": options.vial}, wait=True)


def _transfer(
    pump: MovableDevice,
    volume: Quantity,
    source: str,
    destination: str,
    options: ElectrolyteOptions,
) -> MsgGenerator:
    ports = {
        "vial": options.transfer.vial_port,
        "cell": options.transfer.cell_port,
        "rinse": options.transfer.rinse_port,
        "waste": options.transfer.waste_port,
    }
    yield from bps.abs_set(
        pump,
        {"transfer": volume, "source": ports[source], "destination": ports[destination]},
        wait=True,
    )


def recipe_for(inputs: Mapping[str, Any], options: ElectrolyteOptions) -> dict[str, Any]:
    """The robot's recipe for a proposal.

    Raises:
        LabctlError: the proposal lacks the molality or a solvent fraction.
    """
    missing = [name for name in (options.molality_input, *options.solvents) if name not in inputs]
    if missing:
        raise LabctlError(
            f"electrolyte experiment: the proposal {dict(inputs)} lacks {', '.join(missing)}"
        )
    molality = parse_quantity(inputs[options.molality_input], "mol/kg")
    fractions = {name: _fraction(inputs[name]) for name in options.solvents}
    return {
        "molality": molality,
        "solvents": {name: value for name, value in fractions.items() if value > 0},
        "amount": options.amount,
        "salt": options.salt,
    }


def _fraction(value: Any) -> float:
    magnitude = getattr(value, "magnitude", value)
    units = getattr(value, "units", None)
    if units is not None:
        magnitude = ureg.Quantity(magnitude, units).to("dimensionless").magnitude
    return float(magnitude)


def experiment_metadata(options: ElectrolyteOptions) -> dict[str, Any]:
    """Start-document metadata: the settings the reducer depends on, and the ontology terms."""
    names: dict[str, tuple[str, str, str | None]] = {
        # quantity → (units, what it is, mixture basis)
        "conductivity": ("mS/cm", "ionic conductivity fitted from the EIS", None),
        "stability_limit": ("V", "oxidative stability limit from the LSV", None),
        "cost": ("", "material cost per kg of electrolyte", None),
        options.molality_input: ("mol/kg", "salt molality, achieved", None),
        **{
            name: ("", f"{name} mass fraction of the solvent blend", "mass")
            for name in options.solvents
        },
        "temperature": ("K", "cell temperature, measured", None),
        "frequency": ("Hz", "EIS frequency", None),
        "current": ("A", "LSV and EIS current", None),
    }
    terms: dict[str, dict[str, str]] = {}
    for name, (units, description, basis) in names.items():
        term = ontology_term(name, units, basis=basis)
        if term is not None:
            terms[name] = {"label": term[0], "iri": term[1], "description": description}
    return {
        "experiment": "electrolyte",
        "ontology": terms,
        "cell_constant": {"value": to_magnitude(options.cell_constant, "1/cm"), "units": "1/cm"},
        "electrode_area": {
            "value": to_magnitude(options.electrode_area, "cm**2"),
            "units": "cm**2",
        },
        "stability_threshold": {
            "value": to_magnitude(options.stability_threshold, "mA/cm**2"),
            "units": "mA/cm**2",
        },
    }
