"""labctl.devices: the lab's instruments as ophyd devices, each owning a driver for its protocol.

* :mod:`.potentiostat` — :class:`Potentiostat` (MethodSCRIPT on a PalmSens, SCPI on a
  Keithley 2450-class SMU) and its techniques;
* :mod:`.dispensing` — :class:`SyringePump` (Cavro), :class:`Balance` (MT-SICS),
  :class:`DispensingRobot` (pumps + balance + recipes + the stock inventory);
* :mod:`.stage` — :class:`Stage` (GRBL G-code);
* :mod:`.droplet` — :class:`ScanningDropletCell` (stage + pump + potentiostat);
* :mod:`.environment` — :class:`EnvironmentSensor` (OPC UA);
* :mod:`.alarms` — :class:`AlarmLimits`, the one alarm-range check.

A lab builds them from its config through :mod:`labctl.lab.registry`. Names are imported
lazily: ``import labctl.devices`` does not import ophyd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl.lazy import lazy_attributes

if TYPE_CHECKING:
    from labctl.devices.alarms import AlarmLimits
    from labctl.devices.dispensing.balance import Balance
    from labctl.devices.dispensing.pump import SyringePump
    from labctl.devices.dispensing.robot import DispensingRobot
    from labctl.devices.droplet.device import ScanningDropletCell
    from labctl.devices.environment import EnvironmentSensor
    from labctl.devices.potentiostat.device import Potentiostat
    from labctl.devices.stage.device import Stage

__all__ = [
    "AlarmLimits",
    "Balance",
    "DispensingRobot",
    "EnvironmentSensor",
    "Potentiostat",
    "ScanningDropletCell",
    "Stage",
    "SyringePump",
]

_WHERE = {
    "AlarmLimits": "alarms",
    "Balance": "dispensing.balance",
    "DispensingRobot": "dispensing.robot",
    "EnvironmentSensor": "environment",
    "Potentiostat": "potentiostat.device",
    "ScanningDropletCell": "droplet.device",
    "Stage": "stage.device",
    "SyringePump": "dispensing.pump",
}


__getattr__ = lazy_attributes("labctl.devices", _WHERE)
