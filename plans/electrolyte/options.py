"""The electrolyte experiment's options: the deck, the transfer, the techniques, the prices.

Validated once from ``campaign.experiment_options`` (every quantity with units).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labctl.config import (
    QUANTITY_SERIALIZER,
    Duration,
    quantity_validator,
)
from labctl.devices.potentiostat.techniques import EIS, LSV
from labctl.units import Quantity, to_magnitude, ureg

__all__ = ["OUTCOMES", "ElectrolyteOptions", "TemperatureSensor", "TransferOptions"]

OUTCOMES = frozenset({"conductivity", "stability_limit", "cost"})
"""What the reducer produces: κ (objective units, default mS/cm), the oxidative stability limit
(default V vs the cell's reference), the material cost (currency per kg of electrolyte)."""


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
