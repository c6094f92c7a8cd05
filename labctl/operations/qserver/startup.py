"""Startup module of the RE Manager's worker: the lab of ``$LABCTL_CONFIG`` and its plans.

The worker's namespace gets the lab's RunEngine (``RE``), every device by name, and the plans a
queue item may name (:mod:`labctl.operations.qserver.plans`).

``$LABCTL_PLUGINS`` (comma-separated module names) is imported first, so a lab's own experiment
and optimizer kinds are registered before the lab and its campaigns are built.
"""

import importlib
import os

from labctl.config import load_config
from labctl.errors import LabctlError
from labctl.lab.session import Lab
from labctl.operations.qserver.plans import campaign, lab_preconditions, survey, use_lab

for _plugin in filter(None, os.environ.get("LABCTL_PLUGINS", "").split(",")):
    importlib.import_module(_plugin.strip())

if "LABCTL_CONFIG" not in os.environ:
    raise LabctlError("the queue server's worker needs $LABCTL_CONFIG: the lab config to build")

lab = Lab.from_config(load_config(os.environ["LABCTL_CONFIG"]))
use_lab(lab)
RE = lab.RE
globals().update(lab.devices)

__all__ = ["RE", "campaign", "lab", "lab_preconditions", "survey", *lab.devices]
