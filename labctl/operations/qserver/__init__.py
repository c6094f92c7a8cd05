"""Unattended operation on bluesky-queueserver: the lab inside the RE Manager's worker.

:mod:`.startup` is the worker's startup module (it builds the lab from ``$LABCTL_CONFIG``),
:mod:`.plans` the plans a queue item may name, :mod:`.manager` starts and stops the RE Manager
and Redis for a lab and submits work to it.
"""
