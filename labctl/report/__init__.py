"""Campaign reports: the table of experiments, figures, surrogate sensitivity, HTML and exports.

Modules by role: :mod:`.table` (records → a DataFrame with units), :mod:`.sensitivity` (Sobol
indices of the fitted surrogate beside its length scales), :mod:`.figures` (Pareto front,
hypervolume progress, parameter-vs-objective grid, the live Pareto PNG of ``labctl run``),
:mod:`.html` (the self-contained HTML report), :mod:`.exports` (CSV, Parquet, JSON-LD) and
:mod:`.command` (``labctl report``: everything from a config and a campaign id).

Importing this package is light; matplotlib, torch and BoTorch are imported where used.
"""
