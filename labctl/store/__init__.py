"""The lab's store of runs: bluesky documents in Tiled, read back as pandas DataFrames.

* :mod:`~labctl.store.catalog` — :class:`~labctl.store.catalog.Store`: write, list and read runs;
* :mod:`~labctl.store.app` — the embedded Tiled app (SQLite catalog and tables, array folders);
* :mod:`~labctl.store.arrays` — curves written once per run, beside Tiled's tables;
* :mod:`~labctl.store.server` — the store's shared local server, for quick commands;
* :mod:`~labctl.store.shared` — the shared lab data service (PostgreSQL + a Tiled server).
"""
