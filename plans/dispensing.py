"""Plan stubs for the dispensing robot."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from bluesky import plan_stubs as bps
from bluesky import plans as bp
from bluesky.utils import Msg

from labctl.devices.dispensing.recipe import Recipe
from labctl.protocols import DispensingRobotLike

__all__ = ["prepare", "prepare_in_run"]


def prepare(
    robot: DispensingRobotLike, recipe: Recipe | Mapping[str, Any], vial: str
) -> Generator[Msg, Any, str]:
    """Prepare ``recipe`` in ``vial`` with ``robot``, then record the achieved composition.

    The recipe is checked and solved before the first message (a bad recipe raises before the
    run starts); the robot's ``set`` status is awaited, then one ``count`` reads the robot.

    Returns:
        the run's uid.
    """
    robot.plan(recipe)  # refuse a bad or infeasible recipe before anything moves

    yield from bps.abs_set(robot, {"recipe": recipe, "vial": vial}, wait=True)
    uid: str = yield from bp.count([robot], md={"vial": vial, "recipe": _record(recipe)})
    return uid


def prepare_in_run(
    robot: DispensingRobotLike,
    recipe: Recipe | Mapping[str, Any],
    vial: str,
    *,
    stream: str = "preparation",
) -> Generator[Msg, Any, dict[str, Any]]:
    """Prepare ``recipe`` in ``vial`` inside an experiment's open run; read the robot.

    The same steps as :func:`prepare` without a run of its own: an experiment plan that
    prepares, then measures, makes one run. The achieved composition (molality, solvent
    fractions, total mass) goes to the event stream ``stream``.

    Returns:
        The robot's reading (data key → {"value", "timestamp"}).
    """
    robot.plan(recipe)  # refuse a bad or infeasible recipe before anything moves

    yield from bps.abs_set(robot, {"recipe": recipe, "vial": vial}, wait=True)
    reading: Mapping[str, Any] = yield from bps.trigger_and_read([robot], name=stream)
    return dict(reading)


def _record(recipe: Recipe | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(recipe, Recipe):
        return recipe.model_dump(mode="json")
    return dict(recipe)
