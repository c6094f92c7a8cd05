"""``labctl`` with the toy campaign kinds registered, for tests that run it as a process.

``python -m labctl.testing.toy_cli run CONFIG`` behaves as ``labctl run CONFIG`` with the
``toy-gaussian`` experiment and the ``toy-random`` optimizer known, so crash tests can kill a real
campaign process without needing the instrument twins.
"""

from __future__ import annotations

from labctl import registry
from labctl.cli import main as labctl_main

__all__ = ["main"]


def main() -> None:
    """Register the toy kinds, then run the ``labctl`` command line."""
    registry._BUILTIN_EXPERIMENTS["toy-gaussian"] = "labctl.testing.toy_campaign:toy_experiment"
    registry._BUILTIN_OPTIMIZERS["toy-random"] = "labctl.testing.toy_campaign:ToyOptimizer"
    registry._experiment_table.cache_clear()
    registry._optimizer_table.cache_clear()
    labctl_main()


if __name__ == "__main__":
    main()
