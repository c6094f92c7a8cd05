"""The ``labctl`` command: one module per command group, the console shell, the progress bar.

* :mod:`~labctl.cli.app` — the typer app, its groups, the consoles and exit codes;
* :mod:`~labctl.cli.lab` — ``validate``, ``shell``, ``twin serve``, ``stock``;
* :mod:`~labctl.cli.campaign` — ``run``, ``resume``, ``campaigns``, ``report``, ``approvals``,
  ``approve``;
* :mod:`~labctl.cli.store` — ``runs``, ``store``, ``shared``, ``proxy``;
* :mod:`~labctl.cli.operations` — ``qserver``, ``schedule``, ``opcua``.
"""

from labctl.cli import campaign, lab, operations, store
from labctl.cli.app import app, err

__all__ = ["app", "campaign", "lab", "main", "operations", "store"]


def main() -> None:
    """Entry point of the ``labctl`` console script.

    A Ctrl-C that arrives while an earlier one is being handled (the lab closing, the report
    being written) still ends the command with exit code 130 and one line, not a traceback.
    """
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
