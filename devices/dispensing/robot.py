"""The dispensing robot: syringe pumps bound to stock bottles and a balance, as one device.

A ``dispensing-robot`` device (driver ``composite``) has no address of its own: its options name
the lab's other devices it uses, and :meth:`DispensingRobot.bind` (called by
:class:`~labctl.lab.session.Lab` after every device is built, before connecting) finds them.

Each pump's ``port_names`` must name the stock's port by the stock's name and each vial's port
by the vial's name: the robot transfers ``stock → vial`` by name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ophyd import Component, Device, DeviceStatus, Signal
from pydantic import BaseModel, ConfigDict, Field

from labctl.config import DeviceConfig
from labctl.devices.dispensing.balance import Balance
from labctl.devices.dispensing.inventory import Inventory
from labctl.devices.dispensing.pump import SyringePump
from labctl.devices.dispensing.recipe import Recipe, RecipeError, Stock, achieved_composition
from labctl.devices.dispensing.recipe_solver import Plan, solve
from labctl.devices.readings import Reading
from labctl.errors import ConfigError, ConfigIssue, InterlockError, LabctlError
from labctl.units import to_magnitude, ureg

__all__ = ["DispenseError", "DispensingRobot", "DispensingRobotOptions", "VialError"]

VIAL_STATES = ("fresh", "used", "bad")
_log = logging.getLogger(__name__)


class DispenseError(InterlockError):
    """A gravimetric check failed: the balance saw another mass than the pump should deliver.

    The interlock ``gravimetric_mismatch``: no further addition starts, the vial is marked bad.
    """

    interlock = "gravimetric_mismatch"

    def __init__(self, robot: str, vial: str, stock: str, expected: float, measured: float):
        self.vial, self.stock, self.expected, self.measured = vial, stock, expected, measured
        super().__init__(
            f"{robot}: dispensing {stock} into {vial}: expected {expected:.4f} g, the balance "
            f"measured {measured:.4f} g ({(measured - expected) / expected:+.1%}); "
            f"vial {vial} marked bad"
        )


class VialError(LabctlError):
    """The vial is unknown or not fresh."""


class DispensingRobotOptions(BaseModel):
    """``options`` of a ``dispensing-robot`` device.

    Args:
        pumps: stock name → syringe-pump device name.
        balance: the balance device's name.
        stocks: the stock bottles (fields of :class:`~labctl.devices.dispensing.recipe.Stock`).
        inventory: the inventory file (vial states are kept next to it, ``<name>.vials.json``).
        vials: the destination vials' names (each a port name on every pump).
        tolerance: largest relative gravimetric error of one addition.
        absolute_tolerance: g, added to the relative tolerance (balance readability, noise).
        composition_tolerance: largest composition error (mol/kg, or mass fraction) accepted
            when an addition too small for its pump (under half a plunger increment, which
            rounds to nothing) is left out of a plan; beyond it the recipe is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    pumps: dict[str, str] = Field(min_length=1)
    balance: str
    stocks: list[Stock] = Field(min_length=1)
    inventory: str
    vials: list[str] = Field(min_length=1)
    tolerance: float = Field(default=0.05, gt=0, lt=1)
    absolute_tolerance: float = Field(default=0.002, ge=0)
    composition_tolerance: float = Field(default=1e-3, ge=0)


class DispensingRobot(Device):  # type: ignore[misc]
    """Prepare electrolytes by recipe, weighing every addition; reads the achieved composition."""

    Options: ClassVar[type[BaseModel]] = DispensingRobotOptions

    molality = Component(Reading, value=0.0, units="mol/kg", precision=5, kind="hinted")
    solvents = Component(Signal, value="{}", kind="normal")
    additive_fraction = Component(Reading, value=0.0, units="", precision=6, kind="normal")
    total_mass = Component(Reading, value=0.0, units="kg", precision=7, kind="hinted")
    vial = Component(Signal, value="", kind="normal")
    ok = Component(Signal, value=False, kind="normal")

    def __init__(self, *, options: DispensingRobotOptions, **kwargs: Any) -> None:
        kwargs.setdefault("labels", {"dispensers"})
        super().__init__(**kwargs)
        self.options = options
        self.pumps: dict[str, SyringePump] = {}
        self.balance_device: Balance | None = None
        self._inventory: Inventory | None = None
        self._vials_path = Path(options.inventory).with_suffix(".vials.json")
        self._stop_event = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def check_config(
        cls, name: str, config: DeviceConfig, options: DispensingRobotOptions | None
    ) -> list[ConfigIssue]:
        """Every problem with the options, with key paths."""
        del config
        if options is None:
            return []
        names = {stock.name for stock in options.stocks}
        return [
            ConfigIssue(("devices", name, "options", "pumps", stock), "no such stock", stock)
            for stock in options.pumps
            if stock not in names
        ]

    @classmethod
    def from_config(
        cls, name: str, config: DeviceConfig, address: str, options: DispensingRobotOptions
    ) -> DispensingRobot:
        """Build the robot (not bound to its pumps and balance yet); ``address`` is unused."""
        del config, address
        return cls(options=options, name=name)

    @property
    def inventory(self) -> Inventory:
        """The stock inventory (opened by :meth:`bind`)."""
        if self._inventory is None:
            raise LabctlError(f"{self.name}: not bound yet (call bind(devices))")
        return self._inventory

    def bind(self, devices: Mapping[str, Any], *, data_directory: Path | None = None) -> None:
        """Find the pumps and the balance among the lab's devices; open the inventory.

        Args:
            devices: the lab's devices by name.
            data_directory: relative inventory paths are relative to it (default: as written).

        Raises:
            ConfigError: a named device is missing or of the wrong kind (with the key path).
        """
        issues: list[ConfigIssue] = []
        keys = ("devices", self.name, "options")
        for stock, device_name in self.options.pumps.items():
            device = devices.get(device_name)
            if not isinstance(device, SyringePump):
                issues.append(ConfigIssue((*keys, "pumps", stock), _wrong(device), device_name))
            else:
                self.pumps[stock] = device
        balance = devices.get(self.options.balance)
        if not isinstance(balance, Balance):
            issues.append(ConfigIssue((*keys, "balance"), _wrong(balance), self.options.balance))
        else:
            self.balance_device = balance
        if issues:
            raise ConfigError(f"devices.{self.name}", issues)
        path = Path(self.options.inventory)
        if data_directory is not None and not path.is_absolute():
            path = Path(data_directory) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._inventory = Inventory(path, self.options.stocks)
        self._vials_path = path.with_suffix(".vials.json")

    def connect(self) -> None:
        """Nothing to open: the pumps and the balance connect themselves."""

    def close(self) -> None:
        """Stop any preparation."""
        self.stop()

    # -- vials ----------------------------------------------------------------------------------

    def vial_states(self) -> dict[str, str]:
        """Vial name → ``fresh``/``used``/``bad`` (persisted next to the inventory)."""
        states = dict.fromkeys(self.options.vials, "fresh")
        if self._vials_path.exists():
            states.update(json.loads(self._vials_path.read_text()))
        return states

    def _mark(self, vial: str, state: str) -> None:
        """Persist ``vial``'s state; a crash mid-write leaves the old states or the new, whole.

        The states go to a temporary file in the same folder, flushed to disk, then renamed over
        the old one (as the inventory does): the file is read by every later process — a resumed
        campaign first of all — and a truncated file would make every later preparation fail.
        """
        states = self.vial_states()
        states[vial] = state
        path = self._vials_path
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(json.dumps(states, indent=1, sort_keys=True))
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise

    # -- work -----------------------------------------------------------------------------------

    def plan(self, recipe: Recipe | Mapping[str, Any]) -> Plan:
        """Solve a recipe against the inventory's stocks (nothing moves)."""
        if not isinstance(recipe, Recipe):
            recipe = Recipe.from_mapping(recipe)
        stocks = self.inventory.stocks()
        plan = self._deliverable(solve(recipe, stocks), stocks)
        self.inventory.check(plan)
        return plan

    def _deliverable(self, plan: Plan, stocks: list[Stock]) -> Plan:
        """``plan`` without additions too small for their pump, if the composition allows.

        A Cavro pump moves whole plunger increments (0.33 µL for a 1 mL syringe): an addition
        under half an increment rounds to nothing and the pump refuses it — midway through a
        preparation. Such an addition (a trace the solver asked of one stock) is left out when
        the composition without it is within ``composition_tolerance`` of the recipe.

        Raises:
            RecipeError: ``below_resolution``, leaving the additions out would miss the recipe.
        """
        small = [
            addition
            for addition in plan.additions
            if addition.stock in self.pumps
            and addition.volume < self.pumps[addition.stock].increment_volume / 2
        ]
        if not small:
            return plan
        recipe = plan.recipe
        kept = tuple(addition for addition in plan.additions if addition not in small)
        dropped = ", ".join(f"{a.volume.to('uL'):.3g~P} of {a.stock}" for a in small)
        if not kept:
            raise RecipeError("below_resolution", f"{self.name}: every addition is too small")
        predicted = achieved_composition(
            [(addition.stock, addition.mass) for addition in kept],
            stocks,
            salt=recipe.salt,
            additive=recipe.additive,
        )
        error = predicted.error(recipe)
        if error > self.options.composition_tolerance:
            raise RecipeError(
                "below_resolution",
                f"{self.name}: {dropped} is less than its pump can deliver, and the mixture "
                f"without it misses the recipe by {error:.3g} (composition_tolerance "
                f"{self.options.composition_tolerance:g})",
            )
        _log.info("%s: left out %s (below the pump's resolution)", self.name, dropped)
        return Plan(recipe=recipe, additions=kept, predicted=predicted, composition_error=error)

    def prepare(self, recipe: Recipe | Mapping[str, Any], vial: str) -> DeviceStatus:
        """Make ``recipe`` in ``vial``; refuses a bad recipe or vial before anything moves.

        Raises:
            RecipeError: the recipe is bad or infeasible (``InsufficientStock``: too little left).
            VialError: an unknown, used or bad vial.
        """
        state = self.vial_states().get(vial)
        if state != "fresh":
            raise VialError(f"{self.name}: vial {vial!r} is {state or 'unknown'}, not fresh")
        if self.balance_device is None or not self.pumps:
            raise LabctlError(f"{self.name}: not bound to its pumps and balance")
        plan = self.plan(recipe)
        missing = [a.stock for a in plan.additions if a.stock not in self.pumps]
        if missing:
            raise LabctlError(f"{self.name}: no pump draws from {', '.join(missing)}")
        reservation = self.inventory.reserve(plan)
        status = DeviceStatus(self)
        self._stop_event = stop = threading.Event()
        balance = self.balance_device

        def run() -> None:
            try:
                with reservation:
                    self._mark(vial, "used")
                    measured = self._dispense(plan, vial, balance, reservation, stop)
                achieved = achieved_composition(
                    measured,
                    self.inventory.stocks(),
                    salt=plan.recipe.salt,
                    additive=plan.recipe.additive,
                )
                self.molality.put(achieved.molality)
                self.solvents.put(json.dumps(achieved.solvents, sort_keys=True))
                self.additive_fraction.put(achieved.additive_fraction)
                self.total_mass.put(achieved.total_mass / 1000)
                self.vial.put(vial)
                self.ok.put(True)
                self.achieved = achieved
            except Exception as error:
                # Liquid may have moved: a vial whose preparation did not finish is not used again.
                self._mark(vial, "bad")
                self.ok.put(False)
                self.vial.put(vial)
                status.set_exception(error)
                return
            status.set_finished()

        with self._lock:
            self._worker = threading.Thread(target=run, name=f"labctl-{self.name}", daemon=True)
            self._worker.start()
        return status

    def set(self, value: Mapping[str, Any]) -> DeviceStatus:
        """``{"recipe": ..., "vial": ...}``: :meth:`prepare` (for ``bps.abs_set``/``bps.mv``).

        ``{"rinsed": vial}``: :meth:`mark_rinsed` (a plan that rinsed a reusable vessel).
        """
        if "rinsed" in value:
            self.mark_rinsed(value["rinsed"])
            status = DeviceStatus(self)
            status.set_finished()
            return status
        return self.prepare(value["recipe"], value["vial"])

    def mark_rinsed(self, vial: str) -> None:
        """Return a reusable vessel (a rinsed mixing vial) to service: its state becomes fresh.

        For a Clio-style deck — one mixing vessel plumbed to every pump, emptied and rinsed after
        each experiment — the caller has emptied and rinsed it; the robot cannot see that.

        Raises:
            VialError: ``vial`` is not one of the robot's vials.
        """
        if vial not in self.options.vials:
            raise VialError(f"{self.name}: no vial {vial!r}; vials: {self.options.vials}")
        self._mark(vial, "fresh")

    def _dispense(
        self, plan: Plan, vial: str, balance: Balance, reservation: Any, stop: threading.Event
    ) -> list[tuple[str, Any]]:
        measured: list[tuple[str, Any]] = []
        before = to_magnitude(balance.weigh(), "g")
        for addition in plan.additions:
            if stop.is_set():
                raise LabctlError(f"{self.name}: stopped while preparing {vial}")
            # Booked before the pump moves: a failed transfer (the pump may have drawn any
            # part of it) or a process killed mid-transfer books it as discarded, so the
            # inventory never claims more than the bottle holds.
            with self.inventory.drawing(
                addition.stock, addition.volume, reservation=reservation
            ) as messages:
                self.pumps[addition.stock].transfer(addition.volume, addition.stock, vial).wait()
            for message in messages:
                _log.warning("%s: %s", self.name, message)  # low stock: refill soon
            after = to_magnitude(balance.weigh(), "g")
            delta, expected = after - before, to_magnitude(addition.mass, "g")
            measured.append((addition.stock, ureg.Quantity(delta, "g")))
            limit = self.options.tolerance * expected + self.options.absolute_tolerance
            if abs(delta - expected) > limit:
                self._mark(vial, "bad")
                raise DispenseError(self.name, vial, addition.stock, expected, delta)
            before = after
        return measured

    def stop(self, *, success: bool = False) -> None:
        """Halt: no further addition starts, and the pumps stop."""
        self._stop_event.set()
        for pump in self.pumps.values():
            pump.stop(success=success)


def _wrong(device: object) -> str:
    if device is None:
        return "no such device in the lab"
    return f"must name a device of the right kind, not a {type(device).__name__}"
