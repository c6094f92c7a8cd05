"""The ``labctl`` command's trunk: the typer app and its groups, consoles, exit codes.

Exit codes: 0 success; 2 bad input (a config, an argument), printed as one paragraph with no
traceback; 1 a runtime failure (an instrument, the store), printed with its cause; 130 when
interrupted. Heavy imports (bluesky, ophyd, Tiled) happen inside the commands that need them, so
``labctl --help`` and ``labctl validate`` answer quickly.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from labctl import __version__
from labctl.errors import ConfigError, Interrupted, LabctlError, UsageError

__all__ = ["BadInput", "ConfigArgument", "app", "err", "out", "reports_errors"]

app = typer.Typer(
    name="labctl",
    help="Self-driving-laboratory control for battery research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
twin_app = typer.Typer(help="Simulated instruments (twins) that speak the real wire protocols.")
app.add_typer(twin_app, name="twin")
store_app = typer.Typer(help="The lab's store: a shared local server for quick commands.")
app.add_typer(store_app, name="store")
qserver_app = typer.Typer(help="Unattended operation on bluesky-queueserver (Redis + RE Manager).")
app.add_typer(qserver_app, name="qserver")
schedule_app = typer.Typer(help="Campaigns at a time or on a cron recurrence, through the queue.")
app.add_typer(schedule_app, name="schedule")
stock_app = typer.Typer(help="The dispensing robot's stock bottles: what is left, refills.")
app.add_typer(stock_app, name="stock")
shared_app = typer.Typer(help="The shared lab data service: PostgreSQL + a Tiled server.")
app.add_typer(shared_app, name="shared")
proxy_app = typer.Typer(help="Documents streamed live to remote consumers (bluesky's 0MQ proxy).")
app.add_typer(proxy_app, name="proxy")
opcua_app = typer.Typer(help="The lab's OPC UA status server (read-only unless configured).")
app.add_typer(opcua_app, name="opcua")

# Tables are wide; when the output is a file or a pipe, do not fold them to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

F = TypeVar("F", bound=Callable[..., Any])

ConfigArgument = Annotated[
    Path, typer.Argument(help="Lab config (YAML), e.g. configs/sim-lab.yaml.", show_default=False)
]


class BadInput(UsageError):
    """A command-line argument that cannot be used (exit code 2)."""


def reports_errors(command: F) -> F:
    """Turn labctl's errors into exit codes and one clear message, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        # escape(): a message's own brackets ("a volume ([length] ** 3)", "solvents[0]") are
        # text, not rich markup that would be swallowed.
        except Interrupted as error:
            err.print(
                f"[bold yellow]interrupted:[/] {escape(str(error))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
        except (ConfigError, UsageError) as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except LabctlError as error:
            err.print(
                f"[bold red]failed:[/] {escape(str(error))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"labctl {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print it."),
    ] = False,
) -> None:
    """Self-driving-laboratory control for battery research."""
