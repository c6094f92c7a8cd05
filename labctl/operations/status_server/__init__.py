"""The lab's OPC UA status server: devices, RunEngine, campaign and alarms, read-only by default.

``labctl opcua serve CONFIG`` serves a running lab; in process::

    server = StatusServer(lab, lab.config.model.status_server)
    endpoint = server.start()          # opc.tcp://127.0.0.1:4840
    server.control.run(plan)           # a plan Pause/Resume/Abort over OPC UA can act on
    server.stop()

The node tree is documented in :mod:`labctl.operations.status_server.tree`; who may do what in
:mod:`labctl.operations.status_server.security`.
"""

from labctl.operations.status_server.control import ControlRefused, RunEngineControl
from labctl.operations.status_server.publisher import LabPublisher
from labctl.operations.status_server.server import (
    APPLICATION_URI,
    METHODS,
    StatusServer,
    StatusServerError,
)
from labctl.operations.status_server.tree import NAMESPACE_URI

__all__ = [
    "APPLICATION_URI",
    "METHODS",
    "NAMESPACE_URI",
    "ControlRefused",
    "LabPublisher",
    "RunEngineControl",
    "StatusServer",
    "StatusServerError",
]
