"""Unattended operation: the queue server, schedules and the OPC UA status server."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.cli.app import (
    BadInput,
    ConfigArgument,
    opcua_app,
    out,
    qserver_app,
    reports_errors,
    schedule_app,
)

PluginsOption = Annotated[
    list[str] | None,
    typer.Option("--plugin", help="Module the worker imports first (a lab's own kinds)."),
]


def _queue_server(config: Path, plugins: list[str] | None = None) -> Any:
    from labctl.config import load_config
    from labctl.operations.qserver.manager import QueueServer

    return QueueServer(load_config(config), plugins=tuple(plugins or ()))


@qserver_app.command("init")
@reports_errors
def qserver_init(config: ConfigArgument) -> None:
    """Write the queue server's permissions file into <data_directory>/qserver."""
    path = _queue_server(config).init()
    out.print(f"permissions: {path}", highlight=False)


@qserver_app.command("start")
@reports_errors
def qserver_start(config: ConfigArgument, plugin: PluginsOption = None) -> None:
    """Start Redis and the RE Manager on loopback with this lab in its worker."""
    server = _queue_server(config, plugin)
    state = server.start()
    out.print(
        f"RE Manager (PID {state.manager_pid}) at {state.control_address}; Redis on "
        f"127.0.0.1:{state.redis_port}; files in {server.directory}",
        highlight=False,
    )


@qserver_app.command("stop")
@reports_errors
def qserver_stop(config: ConfigArgument) -> None:
    """Stop the RE Manager and its Redis by PID (the queue is kept on disk)."""
    _queue_server(config).stop()
    out.print("queue server stopped")


@qserver_app.command("recover")
@reports_errors
def qserver_recover(config: ConfigArgument) -> None:
    """Replace a RE Worker that died; the campaign it ran is queued again and resumes."""
    steps = _queue_server(config).recover_worker()
    for step in steps:
        out.print(step, highlight=False)
    if not steps:
        out.print("the RE Worker is alive (or no environment is open): nothing to do")


@qserver_app.command("submit")
@reports_errors
def qserver_submit(
    config: ConfigArgument,
    campaign: Annotated[Path, typer.Argument(help="The campaign config to queue.")],
    campaign_id: Annotated[
        str | None, typer.Option(help="Campaign id (default: name and time).")
    ] = None,
    unattended: Annotated[bool, typer.Option(help="Turn on autostart.")] = True,
) -> None:
    """Queue a campaign (its id fixed now, so a re-run item resumes it)."""
    from labctl.campaign.runner import new_campaign_id
    from labctl.config import load_config

    loaded = load_config(campaign)
    if loaded.model.campaign is None:
        raise BadInput(f"{campaign} has no campaign section")
    identifier = campaign_id or new_campaign_id(loaded.model.campaign)
    server = _queue_server(config)
    uid = server.submit_campaign(campaign, identifier)
    if unattended:
        server.run_unattended()
    out.print(f"queued campaign {identifier} (item {uid})", highlight=False)


@qserver_app.command("status")
@reports_errors
def qserver_status(config: ConfigArgument) -> None:
    """The manager's state, the queue and the last history items."""
    server = _queue_server(config)
    with server.client() as api:
        status = api.status()
        queue = api.queue_get()["items"]
        history = api.history_get()["items"][-5:]
    out.print(
        f"manager {status['manager_state']}, worker environment "
        f"{'open' if status['worker_environment_exists'] else 'closed'}, "
        f"{status['items_in_queue']} queued, autostart {status.get('queue_autostart_enabled')}",
        highlight=False,
    )
    for item in queue:
        out.print(f"  queued   {item['name']} {item.get('kwargs', {})}", highlight=False)
    for item in history:
        result = item.get("result", {})
        out.print(
            f"  finished {item['name']} {item.get('kwargs', {})}: {result.get('exit_status')}",
            highlight=False,
        )


def _schedule(config: Path) -> Any:
    from labctl.config import load_config
    from labctl.operations.schedule import Schedule

    return Schedule(load_config(config).data_directory / "qserver" / "schedule.json")


@schedule_app.command("add")
@reports_errors
def schedule_add(
    config: ConfigArgument,
    campaign: Annotated[Path, typer.Argument(help="The campaign config to queue.")],
    at: Annotated[str | None, typer.Option(help="Once, at this time (ISO 8601, UTC).")] = None,
    cron: Annotated[
        str | None, typer.Option(help="On this recurrence (cron, UTC), e.g. '0 22 * * 1-5'.")
    ] = None,
) -> None:
    """Schedule a campaign; `labctl schedule run` submits it when it comes due."""
    from labctl.config import load_config
    from labctl.operations.schedule import ScheduleError, check_when

    try:
        check_when(at, cron)
    except ScheduleError as error:
        raise BadInput(str(error)) from None
    if load_config(campaign).model.campaign is None:
        raise BadInput(f"{campaign} has no campaign section")
    entry = _schedule(config).add(campaign, at=at, cron=cron)
    out.print(f"scheduled {entry.id}: next {entry.next_due()}", highlight=False)


@schedule_app.command("list")
@reports_errors
def schedule_list(config: ConfigArgument) -> None:
    """The schedule: each entry, when it fires next, and what happened before."""
    table = Table("id", "campaign", "when", "next", "last")
    for entry in _schedule(config).entries():
        table.add_row(
            entry.id,
            entry.campaign_config,
            entry.at or entry.cron or "",
            str(entry.next_due() or "—"),
            entry.log[-1] if entry.log else "—",
        )
    out.print(table)


@schedule_app.command("remove")
@reports_errors
def schedule_remove(
    config: ConfigArgument, entry: Annotated[str, typer.Argument(help="The entry's id.")]
) -> None:
    """Remove a schedule entry."""
    _schedule(config).remove(entry)
    out.print(f"removed {entry}")


@schedule_app.command("run")
@reports_errors
def schedule_run(
    config: ConfigArgument,
    period: Annotated[float, typer.Option(min=0.5, help="Seconds between checks.")] = 5.0,
) -> None:
    """Submit scheduled campaigns to the lab's queue server as they come due (Ctrl-C stops).

    Every period it first replaces a RE Worker that died (as ``labctl qserver recover`` does).
    """
    from labctl.operations.schedule import run_scheduler, scheduled_submitter

    server = _queue_server(config)
    out.print(f"scheduler watching {_schedule(config).path}", highlight=False)
    with contextlib.suppress(KeyboardInterrupt):
        run_scheduler(
            _schedule(config),
            scheduled_submitter(server),
            period=period,
            check_health=server.recover_worker,
            report=lambda line: out.print(line, highlight=False),
        )


@opcua_app.command("serve")
@reports_errors
def opcua_serve(
    config: ConfigArgument,
    duration: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this many seconds.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Override status_server.port (0 = a free port)."),
    ] = None,
    campaign: Annotated[
        bool,
        typer.Option(
            "--campaign", help="Also run the config's campaign (OPC UA's Pause/Resume/Abort act)."
        ),
    ] = False,
) -> None:
    """Build the lab and serve its status over OPC UA until Ctrl-C (or --duration)."""
    from labctl.config import StatusServerSection, load_config
    from labctl.lab.registry import validate_lab_config
    from labctl.lab.session import Lab
    from labctl.operations.status_server import StatusServer
    from labctl.operations.status_server.security import passwords_from_environment

    loaded = load_config(config)
    validate_lab_config(loaded)
    options = loaded.model.status_server or StatusServerSection()
    if port is not None:
        options = options.model_copy(update={"port": port})
    passwords_from_environment(options.users, loaded.source)  # before starting any twin
    if campaign and loaded.model.campaign is None:
        raise BadInput(f"{loaded.source} has no campaign section to run")
    with Lab.from_config(loaded, with_store=campaign) as lab:
        server = StatusServer(lab, options)
        try:
            endpoint = server.start()
            mode = "writable (Pause/Resume/Abort for users)" if options.writable else "read-only"
            out.print(
                f"OPC UA status server of {lab.name} at {endpoint} ({mode}, security "
                f"{options.security})",
                highlight=False,
            )
            sys.stdout.flush()
            deadline = None if duration is None else time.monotonic() + duration
            if campaign:
                from labctl.campaign.runner import campaign_plan

                identifier, plan = campaign_plan(loaded, lab=lab, on_record=server.on_record)
                out.print(f"campaign {identifier} running", highlight=False)
                server.control.run(plan)
                done = server.publisher.value(
                    "Lab/RunEngine/ProgramManager/ActiveProgram/ExperimentsDone"
                )
                out.print(f"campaign {identifier} ended: {done} experiments", highlight=False)
            with contextlib.suppress(KeyboardInterrupt):
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            server.stop()
