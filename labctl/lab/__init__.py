"""A lab session built from its config: devices through the registry, one RunEngine, its store.

* :mod:`~labctl.lab.session` — :class:`Lab`: builds, connects and closes everything;
* :mod:`~labctl.lab.registry` — kind + driver → device class, twin kind → twin class, optimizers;
* :mod:`~labctl.lab.claims` — one process per instrument address;
* :mod:`~labctl.lab.safety` — environment suspenders and alarm limits;
* :mod:`~labctl.lab.rewind` — what a RunEngine may rewind safely;
* :mod:`~labctl.lab.publish` — documents to a 0MQ proxy;
* :mod:`~labctl.lab.survey` — a survey of the lab's sensors, summarised against their limits.

``Lab`` is loaded on first use, so ``import labctl.lab.registry`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.lab.session import Lab

__all__ = ["Lab"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from labctl.lab.session import Lab

        return Lab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
