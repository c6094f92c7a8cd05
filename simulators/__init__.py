"""labctl.simulators: physics models and the twins that speak the instruments' wire protocols.

Physics lives in pure models (:mod:`.electrochem`, :mod:`.electrolyte`, the droplet and stage
worlds), with their references in the docstrings; each twin serves one real protocol over them
(OPC UA, SCPI, MethodSCRIPT, G-code, Cavro, MT-SICS) on loopback, acting on one shared
:class:`World`. Runtime code never imports this package: a lab reaches it through
:mod:`labctl.lab.registry` when its config names a twin. Names are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lazy import lazy_attributes

if TYPE_CHECKING:
    from labctl.simulators.cavro.twin import CavroTwin
    from labctl.simulators.chaos import ChaosMonkey, ChaosOptions
    from labctl.simulators.droplet.twin import DropletCellTwin
    from labctl.simulators.environment.twin import EnvironmentTwin
    from labctl.simulators.grbl.twin import GrblTwin
    from labctl.simulators.methodscript.twin import MethodScriptTwin
    from labctl.simulators.mtsics.twin import MtSicsTwin
    from labctl.simulators.scpi_smu.twin import ScpiSmuTwin
    from labctl.simulators.twin import Twin
    from labctl.simulators.world import World

__all__ = [
    "CavroTwin",
    "ChaosMonkey",
    "ChaosOptions",
    "DropletCellTwin",
    "EnvironmentTwin",
    "GrblTwin",
    "MethodScriptTwin",
    "MtSicsTwin",
    "ScpiSmuTwin",
    "Twin",
    "World",
]

_WHERE = {
    "CavroTwin": "cavro.twin",
    "ChaosMonkey": "chaos",
    "ChaosOptions": "chaos",
    "DropletCellTwin": "droplet.twin",
    "EnvironmentTwin": "environment.twin",
    "GrblTwin": "grbl.twin",
    "MethodScriptTwin": "methodscript.twin",
    "MtSicsTwin": "mtsics.twin",
    "ScpiSmuTwin": "scpi_smu.twin",
    "Twin": "twin",
    "World": "world",
}


__getattr__ = lazy_attributes("labctl.simulators", _WHERE)
