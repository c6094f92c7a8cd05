"""Plan stubs that run one potentiostat technique inside an experiment's run.

An experiment plan opens one bluesky run and measures several techniques in it (an EIS, then an
LSV); each technique's curve goes to its own event stream, named after the technique by default
(``eis``, ``lsv``), because a stream holds curves of one length (see :mod:`labctl.store.arrays`).
The technique is checked against the potentiostat's safety limits when it is set, before anything
is sent; a refused technique raises there and ends the run ``fail`` with the reason.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from bluesky import plan_stubs as bps
from bluesky.utils import Msg

from labctl.devices.potentiostat.techniques import parse_technique
from labctl.protocols import PotentiostatLike

__all__ = ["measure"]


def measure(
    potentiostat: PotentiostatLike, technique: Any, *, stream: str | None = None
) -> Generator[Msg, Any, dict[str, Any]]:
    """Set ``technique`` on ``potentiostat``, run it, record its curve in one event.

    Args:
        potentiostat: a :class:`~labctl.devices.potentiostat.device.Potentiostat`.
        technique: a technique model or its mapping (``{"kind": "ca", "potential": "0.1 V"}``).
        stream: the event stream (default: the technique's kind).

    Returns:
        The reading (data key → {"value", "timestamp"}), for a reducer that works in-plan.
    """
    chosen = parse_technique(technique, source=f"{potentiostat.name} technique")
    yield from bps.mv(potentiostat, chosen)
    reading: Mapping[str, Any] = yield from bps.trigger_and_read(
        [potentiostat], name=stream or chosen.kind
    )
    return dict(reading)
