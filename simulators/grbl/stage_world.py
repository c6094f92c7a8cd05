"""The stage's place in the shared simulated world, and droplet contact.

Every GRBL twin of a lab keeps one :class:`StageState` in ``world.stages[name]`` (attached to the
:class:`~labctl.simulators.world.World` by :func:`stages`, so ``world.py`` needs no change). Other
twins read it: the potentiostat twin of a scanning droplet cell asks :func:`contact` whether the
droplet touches the substrate (so it can measure a cell, or an open circuit when it does not),
and where the stage stands over the substrate (:attr:`StageState.work_position`).

Contact model: the droplet hangs ``droplet_height`` mm below the cell's tip; it touches the
substrate when the tip's work Z is at or below ``surface_z + droplet_height`` (``contact_z``).
The ``contact_loss`` fault of the twin makes :attr:`StageState.contact` false whatever Z is (a
droplet that broke off or dried out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from labctl.simulators.world import World

__all__ = ["StageState", "contact", "stage_state", "stages"]

Vector = tuple[float, float, float]


@dataclass
class StageState:
    """Where one stage is, as the twin last computed it.

    Args:
        name: the stage's device name.
        machine_position: MPos, mm.
        work_position: WPos, mm (what moves target).
        state: the controller's machine state (``Idle``, ``Run``, ``Alarm``, ...).
        substrate: the name of the substrate under the stage (a key of ``world.substrates``).
        contact_z: work Z, mm, at or below which the droplet touches the substrate
            (``None``: no substrate, never contact).
        contact_lost: fault: the droplet reports no contact whatever Z is.
        tracker: brings the positions up to date (the twin computes motion lazily).
    """

    name: str
    machine_position: Vector = (0.0, 0.0, 0.0)
    work_position: Vector = (0.0, 0.0, 0.0)
    state: str = "Idle"
    substrate: str | None = None
    contact_z: float | None = None
    contact_lost: bool = False
    tracker: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def refresh(self) -> None:
        """Bring the positions up to date with the motion in progress."""
        if self.tracker is not None:
            self.tracker()

    @property
    def contact(self) -> bool:
        """Whether the droplet touches the substrate now."""
        self.refresh()
        return self.touching()

    def touching(self) -> bool:
        """Contact from the positions as they are (no refresh)."""
        if self.contact_z is None or self.contact_lost:
            return False
        return self.work_position[2] <= self.contact_z + 1e-9


def stages(world: World) -> dict[str, StageState]:
    """``world.stages``: stage name → its state (created empty on first use)."""
    with world.lock:
        table: dict[str, StageState] | None = getattr(world, "stages", None)
        if table is None:
            table = {}
            world.stages = table  # type: ignore[attr-defined]
        return table


def stage_state(world: World, name: str) -> StageState:
    """The state of stage ``name`` in ``world``, created on first use."""
    with world.lock:
        return stages(world).setdefault(name, StageState(name))


def contact(world: World, name: str) -> bool:
    """Whether stage ``name``'s droplet touches its substrate now (``False`` for no stage)."""
    with world.lock:
        state = stages(world).get(name)
    return state is not None and state.contact
