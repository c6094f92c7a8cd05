"""Importing this registers the toy campaign kinds (``toy-gaussian``, ``toy-random``).

For processes that tests start (a ``labctl`` command, the queue server's worker via
``$LABCTL_PLUGINS``), where a fixture cannot patch the registry.
"""

from __future__ import annotations

from labctl import registry

registry._BUILTIN_EXPERIMENTS["toy-gaussian"] = "labctl.testing.toy_campaign:toy_experiment"
registry._BUILTIN_EXPERIMENTS["toy-sensing"] = "labctl.testing.toy_campaign:toy_sensing_experiment"
registry._BUILTIN_OPTIMIZERS["toy-random"] = "labctl.testing.toy_campaign:ToyOptimizer"
registry._experiment_table.cache_clear()
registry._optimizer_table.cache_clear()
