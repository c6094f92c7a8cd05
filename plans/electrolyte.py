"""The electrolyte-formulation experiment: prepare, fill the conductivity cell, EIS, LSV, rinse.

One experiment is one bluesky run (``md`` from the campaign loop: campaign id, iteration, the
proposed inputs with units, plus the ontology terms of what is measured). The deck is Clio-style
(Dave et al., Nat. Commun. 13, 5454 (2022)): one mixing vial plumbed to every dosing pump's valve
and to a transfer pump, emptied and rinsed after each experiment and reused. Valve-plumbed pumps
reach a handful of ports, not a rack of 30+ vials, so a reusable mixing vessel is what such a lab
builds; its cost is rinse solvent (a bottle on the transfer pump), which lasts hundreds of
experiments. Steps:

1. **Recover** — if the mixing vial is not fresh (an interrupted experiment left liquid), empty
   and rinse the cell and the vial first.
2. **Prepare** — the dispensing robot makes the formulation in the mixing vial from its stocks,
   weighing every addition (:func:`labctl.plans.dispensing.prepare_in_run`); the achieved
   composition goes to the stream ``preparation``.
3. **Fill** — the transfer pump moves ``fill_volume`` from the vial's port to the flow-through
   conductivity cell's port.
4. **Equilibrate** — an open-circuit rest of ``equilibration`` on the potentiostat (the
   instrument's own clock: a real wait on hardware, scaled by a twin's time scale), then the
   temperature sensor's reading (stream ``temperature``). The cell has no thermostat: it sits at
   the glovebox's temperature, so temperature is a fixed input of the campaign and the measured
   value is recorded and checked against it.
5. **EIS** (stream ``eis``) and **LSV** (stream ``lsv``) on the cell.
6. **Rinse** (always, also after a failure): empty the cell to waste, rinse it ``rinse_cycles``
   times with rinse solvent, empty the vial, rinse it once, return it to service.

The reducer (:func:`reduce_run`) works from the stored run alone (resume, reports): κ from the
bulk resistance *fitted* to the EIS (Randles fit) and the configured, calibrated cell constant;
the oxidative stability limit from the LSV at a current-density cut-off; the material cost from
the *recorded* achieved composition and the configured price table. Never from a twin's truth.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Mapping
from typing import Annotated, Any, TypeAlias

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import Msg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labctl.analysis import conductivity_from_resistance, fit_randles, stability_limit
from labctl.config import (
    QUANTITY_SERIALIZER,
    CampaignSection,
    Duration,
    LoadedConfig,
    issues_from_validation_error,
    quantity_validator,
)
from labctl.devices.dispensing.recipe import salt_molar_mass
from labctl.devices.potentiostat.techniques import EIS, LSV, OCV
from labctl.errors import ConfigError, ConfigIssue, LabctlError
from labctl.ontology import ontology_term
from labctl.plans.dispensing import prepare_in_run
from labctl.plans.rundata import RunData
from labctl.plans.techniques import measure
from labctl.units import Quantity, parse_quantity, to_magnitude, ureg

__all__ = [
    "OUTCOMES",
    "ElectrolyteOptions",
    "electrolyte",
    "electrolyte_experiment",
    "reduce_run",
]

OUTCOMES = frozenset({"conductivity", "stability_limit", "cost"})
"""What the reducer produces: κ (objective units, default mS/cm), the oxidative stability limit
(default V vs the cell's reference), the material cost (currency per kg of electrolyte)."""

MsgGenerator = Generator[Msg, Any, Any]

Volume: TypeAlias = Annotated[Quantity, quantity_validator("[volume]"), QUANTITY_SERIALIZER]
Amount: TypeAlias = Annotated[Quantity, quantity_validator(None), QUANTITY_SERIALIZER]
CellConstant: TypeAlias = Annotated[Quantity, quantity_validator("1/cm"), QUANTITY_SERIALIZER]
Area: TypeAlias = Annotated[Quantity, quantity_validator("[area]"), QUANTITY_SERIALIZER]
CurrentDensity: TypeAlias = Annotated[Quantity, quantity_validator("A/m**2"), QUANTITY_SERIALIZER]
Potential: TypeAlias = Annotated[Quantity, quantity_validator("V"), QUANTITY_SERIALIZER]
TemperatureDifference: TypeAlias = Annotated[
    Quantity, quantity_validator("[temperature]"), QUANTITY_SERIALIZER
]


def _positive(name: str, quantity: Quantity) -> Quantity:
    if not quantity.magnitude > 0:
        raise ValueError(f"{name} must be positive, got {quantity:~P}")
    return quantity


class TransferOptions(BaseModel):
    """The transfer pump and the ports of its valve (numbers or the pump's port names).

    Args:
        pump: the syringe-pump device.
        vial_port: the port plumbed to the mixing vial.
        cell_port: the port plumbed to the flow-through conductivity cell.
        rinse_port: the port plumbed to the rinse-solvent bottle.
        waste_port: the port plumbed to waste.
        fill_volume: what fills the cell (covers the electrodes).
        empty_volume: drawn from the cell or the vial to empty it: more than either holds
            (the surplus is air).
        rinse_volume: rinse solvent per rinse.
        rinse_cycles: rinses of the cell after each experiment (the vial gets one).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    pump: str
    vial_port: int | str
    cell_port: int | str
    rinse_port: int | str
    waste_port: int | str
    fill_volume: Volume
    empty_volume: Volume
    rinse_volume: Volume
    rinse_cycles: int = Field(default=2, ge=0, le=10)

    @field_validator("fill_volume", "empty_volume", "rinse_volume")
    @classmethod
    def _positive_volume(cls, value: Quantity, info: ValidationInfo) -> Quantity:
        return _positive(str(info.field_name), value)


class TemperatureSensor(BaseModel):
    """Where the cell's temperature is read.

    Args:
        device: an environment-sensor device.
        channel: its channel (data key ``<device>_<channel>``, recorded in K).
        tolerance: largest |measured − proposed| temperature accepted; beyond it the run is not
            reduced (the cell was not at the proposed temperature).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    device: str
    channel: str = "temperature"
    tolerance: TemperatureDifference = Field(default_factory=lambda: ureg.Quantity(2.0, "K"))

    @field_validator("tolerance")
    @classmethod
    def _a_difference(cls, value: Quantity) -> Quantity:
        if value.units not in (ureg.kelvin, ureg.delta_degC):
            raise ValueError(f"tolerance is a difference in K or delta_degC, got {value:~P}")
        return _positive("tolerance", value)


class ElectrolyteOptions(BaseModel):
    """``campaign.experiment_options`` of the ``electrolyte`` experiment.

    Args:
        robot: the dispensing-robot device.
        vial: the mixing vial (one of the robot's vials, reused after each rinse).
        amount: what the robot prepares per experiment (a volume or a mass).
        salt: the salt of every recipe.
        molality_input: the campaign input that is the salt molality.
        solvents: the campaign inputs that are solvent mass fractions (named as the robot's
            stock components, e.g. EC, EMC, DMC; a mixture in the space).
        temperature_input: the campaign input that is the cell temperature (optional).
        transfer: the transfer pump and its ports.
        potentiostat: the potentiostat on the conductivity cell.
        cell_constant: K_cell of the conductivity cell, calibrated with a standard (1/cm).
        electrode_area: the working electrode's area (for the LSV current density).
        temperature_sensor: where the cell's temperature is read (optional).
        equilibration: the open-circuit rest before the EIS.
        eis: the EIS technique (fields of :class:`~labctl.devices.potentiostat.techniques.EIS`).
        lsv: the LSV technique (fields of :class:`~labctl.devices.potentiostat.techniques.LSV`).
        stability_threshold: the current density j_cut defining the stability limit.
        baseline_window: ``[low, high]`` potentials where only charging current flows.
        prices: component → price per kg of the component, in the cost objective's currency
            (salt and every solvent).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    robot: str = "robot"
    vial: str
    amount: Amount
    salt: str = "LiPF6"
    molality_input: str = "salt_molality"
    solvents: list[str] = Field(min_length=1)
    temperature_input: str | None = None
    transfer: TransferOptions
    potentiostat: str = "potentiostat"
    cell_constant: CellConstant
    electrode_area: Area
    temperature_sensor: TemperatureSensor | None = None
    equilibration: Duration = Field(default_factory=lambda: ureg.Quantity(60.0, "s"))
    eis: dict[str, Any]
    lsv: dict[str, Any]
    stability_threshold: CurrentDensity
    baseline_window: tuple[Potential, Potential] | None = None
    prices: dict[str, float]

    @field_validator("amount", "cell_constant", "electrode_area", "stability_threshold")
    @classmethod
    def _positive_quantity(cls, value: Quantity, info: ValidationInfo) -> Quantity:
        if info.field_name == "amount" and not (
            value.is_compatible_with("mL") or value.is_compatible_with("g")
        ):
            raise ValueError(f"amount must be a volume or a mass, got {value:~P}")
        return _positive(str(info.field_name), value)

    @model_validator(mode="after")
    def _consistent(self) -> ElectrolyteOptions:
        EIS.model_validate({"kind": "eis", **self.eis})
        lsv = LSV.model_validate({"kind": "lsv", **self.lsv})
        if self.baseline_window is not None:
            low, high = (to_magnitude(value, "V") for value in self.baseline_window)
            start, end = sorted((to_magnitude(lsv.start, "V"), to_magnitude(lsv.end, "V")))
            if not start <= low < high <= end:
                raise ValueError("baseline_window must lie inside the LSV sweep, low < high")
        missing = [name for name in (self.salt, *self.solvents) if name not in self.prices]
        if missing:
            raise ValueError(f"prices lacks {', '.join(missing)} (price per kg of each)")
        for name, price in self.prices.items():
            if not (math.isfinite(price) and price >= 0):
                raise ValueError(f"price of {name} must be a number ≥ 0, got {price}")
        return self

    @property
    def cell_constant_per_m(self) -> float:
        """K_cell, 1/m."""
        return to_magnitude(self.cell_constant, "1/m")


# -- the plan -------------------------------------------------------------------------------------


def electrolyte_experiment(
    inputs: Mapping[str, Any],
    metadata: Mapping[str, Any],
    *,
    robot: Any,
    transfer_pump: Any,
    potentiostat: Any,
    temperature_sensor: Any | None,
    options: ElectrolyteOptions,
) -> MsgGenerator:
    """One electrolyte experiment as one bluesky run (steps in the module docstring).

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


def rinse(robot: Any, transfer_pump: Any, options: ElectrolyteOptions) -> MsgGenerator:
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
    pump: Any, volume: Quantity, source: str, destination: str, options: ElectrolyteOptions
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


# -- the reducer ----------------------------------------------------------------------------------


def reduce_run(
    run: RunData,
    options: ElectrolyteOptions,
    units: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Conductivity, stability limit and cost of one stored or live run.

    Args:
        run: the finished run.
        options: the experiment's options (cell constant, electrode area, threshold, prices).
        units: outcome → unit to report it in (default mS/cm and V; cost is per kg in the
            prices' currency).

    Raises:
        LabctlError: a stream is missing, a fit fails (``AnalysisError``), or the measured
            temperature is not the proposed one.
    """
    units = dict(units or {})
    potentiostat = options.potentiostat
    eis = run.stream("eis")
    fit = fit_randles(
        _curve(eis, f"{potentiostat}_frequency"),
        _curve(eis, f"{potentiostat}_z_real"),
        _curve(eis, f"{potentiostat}_z_imag"),
    )
    kappa = conductivity_from_resistance(fit.solution_resistance, options.cell_constant_per_m)
    lsv = run.stream("lsv")
    window = (
        None
        if options.baseline_window is None
        else (
            to_magnitude(options.baseline_window[0], "V"),
            to_magnitude(options.baseline_window[1], "V"),
        )
    )
    limit = stability_limit(
        _curve(lsv, f"{potentiostat}_potential"),
        _curve(lsv, f"{potentiostat}_current"),
        electrode_area=to_magnitude(options.electrode_area, "m**2"),
        current_density_threshold=to_magnitude(options.stability_threshold, "A/m**2"),
        baseline_window=window,
    )
    _check_temperature(run, options)
    return {
        "conductivity": _in(kappa.value, "S/m", units.get("conductivity") or "mS/cm"),
        "stability_limit": _in(limit.potential, "V", units.get("stability_limit") or "V"),
        "cost": material_cost(run, options),
    }


def material_cost(run: RunData, options: ElectrolyteOptions) -> float:
    """Cost per kg of the electrolyte the robot recorded as made (prices per kg).

    Per kg of solvent the electrolyte holds m·M kg of salt and wⱼ kg of solvent j, so per kg of
    electrolyte: (m·M·p_salt + Σ wⱼ pⱼ) / (1 + m·M).
    """
    preparation = run.stream("preparation").iloc[-1]
    robot = options.robot
    molality = float(preparation[f"{robot}_molality"])
    solvents: dict[str, float] = json.loads(str(preparation[f"{robot}_solvents"]))
    salt_per_kg_solvent = molality * to_magnitude(salt_molar_mass(options.salt), "kg/mol")
    unpriced = [name for name in solvents if name not in options.prices]
    if unpriced:
        raise LabctlError(f"electrolyte cost: no price for {', '.join(unpriced)}")
    cost = salt_per_kg_solvent * options.prices[options.salt] + math.fsum(
        fraction * options.prices[name] for name, fraction in solvents.items()
    )
    return cost / (1.0 + salt_per_kg_solvent)


def _check_temperature(run: RunData, options: ElectrolyteOptions) -> None:
    sensor = options.temperature_sensor
    proposed = (run.start.get("inputs") or {}).get(options.temperature_input or "")
    if sensor is None or not isinstance(proposed, Mapping):
        return
    measured = float(run.stream("temperature").iloc[-1][f"{sensor.device}_{sensor.channel}"])
    wanted = to_magnitude(ureg.Quantity(proposed["value"], proposed["units"]), "K")
    tolerance = float(sensor.tolerance.magnitude)  # K and Δ°C are the same size
    if abs(measured - wanted) > tolerance:
        raise LabctlError(
            f"the cell was at {measured - 273.15:.2f} °C ({sensor.device}.{sensor.channel}), "
            f"not the proposed {wanted - 273.15:.2f} °C (tolerance ± {tolerance:g} K)"
        )


def _curve(frame: Any, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if column not in frame.columns:
        raise LabctlError(f"the run's stream lacks {column!r}; it has {list(frame.columns)}")
    return np.asarray(frame[column].iloc[-1], dtype=float)


def _in(value: float, unit: str, wanted: str) -> float:
    return float(ureg.Quantity(value, unit).to(wanted).magnitude)


# -- the experiment kind --------------------------------------------------------------------------


def _options(section: CampaignSection) -> ElectrolyteOptions:
    return ElectrolyteOptions.model_validate(section.experiment_options)


def _objective_units(section: CampaignSection) -> dict[str, str]:
    units: dict[str, str] = {}
    for name, spec in section.objectives.items():
        if isinstance(spec, Mapping) and name in ("conductivity", "stability_limit"):
            units[name] = str(spec.get("units") or "")
    return units


def electrolyte(lab: Any, section: CampaignSection) -> tuple[Any, Any]:
    """The ``electrolyte`` experiment kind: its plan on ``lab`` and its reducer.

    With ``lab=None`` (resume, reports) only the reducer is usable.

    Raises:
        ConfigError: invalid ``experiment_options``, each issue named by its key path.
    """
    try:
        options = _options(section)
    except ValidationError as error:
        raise ConfigError(
            "campaign.experiment_options",
            issues_from_validation_error(error, ("campaign", "experiment_options")),
        ) from None
    units = _objective_units(section)

    def reducer(run: RunData) -> dict[str, float]:
        return reduce_run(run, options, units)

    if lab is None:

        def no_plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
            del inputs, metadata
            raise LabctlError("the electrolyte experiment needs a lab to run on")

        return no_plan, reducer
    devices = lab.devices

    def plan(inputs: Mapping[str, Any], metadata: Mapping[str, Any]) -> MsgGenerator:
        return electrolyte_experiment(
            inputs,
            metadata,
            robot=devices[options.robot],
            transfer_pump=devices[options.transfer.pump],
            potentiostat=devices[options.potentiostat],
            temperature_sensor=(
                None
                if options.temperature_sensor is None
                else devices[options.temperature_sensor.device]
            ),
            options=options,
        )

    return plan, reducer


def check_config(config: LoadedConfig) -> list[ConfigIssue]:
    """Every problem with the campaign's ``experiment_options``, with key paths."""
    section = config.model.campaign
    assert section is not None
    where = ("campaign", "experiment_options")
    try:
        options = _options(section)
    except ValidationError as error:
        return issues_from_validation_error(error, where)
    devices = config.model.devices
    wanted = {
        ("robot",): (options.robot, "dispensing-robot"),
        ("transfer", "pump"): (options.transfer.pump, "syringe-pump"),
        ("potentiostat",): (options.potentiostat, "potentiostat"),
    }
    if options.temperature_sensor is not None:
        wanted[("temperature_sensor", "device")] = (
            options.temperature_sensor.device,
            "environment-sensor",
        )
    issues = []
    for path, (name, kind) in wanted.items():
        device = devices.get(name)
        if device is None or device.kind != kind:
            issues.append(
                ConfigIssue((*where, *path), f"must name a {kind} device of the lab", name)
            )
    robot = devices.get(options.robot)
    if robot is not None and options.vial not in (robot.options.get("vials") or []):
        issues.append(ConfigIssue((*where, "vial"), "not one of the robot's vials", options.vial))
    names = set(_space_names(section.space))
    inputs: list[tuple[tuple[str | int, ...], str]] = [
        (("molality_input",), options.molality_input),
        *((("solvents", index), name) for index, name in enumerate(options.solvents)),
    ]
    if options.temperature_input:
        inputs.append((("temperature_input",), options.temperature_input))
    for key_path, name in inputs:
        if name not in names:
            issues.append(
                ConfigIssue((*where, *key_path), "not a parameter of campaign.space", name)
            )
    return issues


def _space_names(space: Mapping[str, Any]) -> list[str]:
    names = []
    for name, spec in space.items():
        if name == "constraints":
            continue
        names.append(name)
        if isinstance(spec, Mapping) and "mixture" in spec:
            members = spec["mixture"]
            names.extend(members if isinstance(members, list) else list(members))
    return names


electrolyte.outcomes = OUTCOMES  # type: ignore[attr-defined]
electrolyte.check_config = check_config  # type: ignore[attr-defined]
