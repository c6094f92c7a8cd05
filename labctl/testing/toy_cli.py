"""``labctl`` with the toy campaign kinds registered, for tests that run it as a process.

``python -m labctl.testing.toy_cli run CONFIG`` behaves as ``labctl run CONFIG`` with the
``toy-gaussian`` experiment and the ``toy-random`` optimizer known, so crash tests can kill a real
campaign process without needing the instrument twins.
"""

from __future__ import annotations

import labctl.testing.toy_kinds  # noqa: F401 — registers the toy kinds
from labctl.cli import main as labctl_main

__all__ = ["main"]


def main() -> None:
    """Run the ``labctl`` command line (the toy kinds are registered on import)."""
    labctl_main()


if __name__ == "__main__":
    main()
