"""Importing this registers the toy campaign kinds (see :mod:`labctl.testing.toy_registry`).

For processes that tests start (a ``labctl`` command, the queue server's worker via
``$LABCTL_PLUGINS``), where a fixture cannot patch the registry.
"""

from __future__ import annotations

from labctl.testing.toy_registry import register

register()
