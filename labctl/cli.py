"""The ``labctl`` command.

Exit codes: 0 success; 2 bad input (a config, an argument), printed as one paragraph with no
traceback; 1 a runtime failure (an instrument, the store), printed with its cause; 130 when
interrupted. Heavy imports (bluesky, ophyd, Tiled) happen inside the commands that need them, so
``labctl --help`` and ``labctl validate`` answer quickly.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labctl import __version__
from labctl.errors import ConfigError, LabConnectError, LabctlError

__all__ = ["app", "main"]

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


class BadInput(LabctlError):
    """A command-line argument that cannot be used (exit code 2)."""


def _reports_errors(command: F) -> F:
    """Turn labctl's errors into exit codes and one clear message, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        # escape(): a message's own brackets ("a volume ([length] ** 3)", "solvents[0]") are
        # text, not rich markup that would be swallowed.
        except (ConfigError, BadInput) as error:
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


@app.command()
@_reports_errors
def validate(
    config: ConfigArgument,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also start twins and connect every device.")
    ] = False,
) -> None:
    """Check a lab config; print a summary (exit 0) or every problem with its key path (exit 2)."""
    from labctl.config import load_config
    from labctl.registry import validate_lab_config

    loaded = load_config(config)
    validate_lab_config(loaded)
    if connect:
        from labctl.lab import Lab

        try:
            Lab.from_config(loaded, with_store=False).close()
        except LabConnectError as error:
            from labctl.errors import ConfigIssue

            issues = [
                ConfigIssue(("devices", name, "address"), f"cannot connect: {failure}")
                for name, failure in error.failures.items()
            ]
            raise ConfigError(loaded.source, issues) from None
    model = loaded.model
    table = Table(title=f"{model.lab.name} — {loaded.source}", title_justify="left")
    for column in ("device", "kind", "driver", "address", "timeout", "limits"):
        table.add_column(column)
    for name, device in model.devices.items():
        address = f"twin: {device.twin.kind}" if device.twin else device.address
        limits = ", ".join(f"{key} {limit.describe()}" for key, limit in device.limits.items())
        table.add_row(
            name,
            device.kind,
            device.driver,
            str(address),
            f"{device.timeout.read:~P}",
            limits or "—",
        )
    out.print(table)
    store = (
        f"embedded Tiled in {loaded.store_directory}"
        if model.store.kind == "embedded"
        else f"Tiled server {model.store.uri}"
    )
    out.print(f"store: {store}")
    if model.publish is not None:
        out.print(f"publish: documents live to the 0MQ proxy at {model.publish.proxy}")
    out.print(f"config hash: {loaded.hash[:16]}  [green]valid[/]")


@app.command()
@_reports_errors
def run(
    config: ConfigArgument,
    readings: Annotated[
        int, typer.Option(min=1, max=100_000, help="Readings per sensor to record.")
    ] = 5,
    time_scale: Annotated[
        float | None,
        typer.Option(min=0.0, help="Twin time scale (0 instant, 1 real time)."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option(help="Write the report when the campaign ends (HTML, CSV, Parquet, JSON-LD)"),
    ] = True,
) -> None:
    """Run the config's campaign; a lab config without one: survey every sensor into the store."""
    from labctl.config import load_config
    from labctl.lab import Lab
    from labctl.registry import validate_lab_config
    from labctl.survey import survey, survey_table

    loaded = load_config(config)
    validate_lab_config(loaded)
    if loaded.model.campaign is not None:
        _run_campaign(loaded, time_scale, campaign_id=None, report=report)
        return
    started = time.monotonic()
    with Lab.from_config(loaded, time_scale=time_scale) as lab:
        result = survey(lab, readings)
        out.print(survey_table(result))
        out.print(
            f"run {result.uid} (scan {result.scan_id}) stored in "
            f"{lab.store.location if lab.store else '—'}"
            f" — {time.monotonic() - started:.1f} s"
        )
        if result.alarms:
            err.print(f"[yellow]outside alarm limits:[/] {', '.join(result.alarms)}")


@app.command()
@_reports_errors
def resume(
    campaign: Annotated[str, typer.Argument(help="The campaign id (see 'labctl campaigns').")],
    config: Annotated[
        Path,
        typer.Option(
            "--config", envvar="LABCTL_CONFIG", help="The campaign's config (or $LABCTL_CONFIG)."
        ),
    ],
    time_scale: Annotated[float | None, typer.Option(min=0.0, help="Twin time scale.")] = None,
    report: Annotated[
        bool,
        typer.Option(help="Write the report when the campaign ends (HTML, CSV, Parquet, JSON-LD)"),
    ] = True,
) -> None:
    """Continue a campaign from its runs in the store until its budget is spent."""
    from labctl.config import load_config
    from labctl.registry import validate_lab_config

    loaded = load_config(config)
    validate_lab_config(loaded)
    if loaded.model.campaign is None:
        raise BadInput(f"{loaded.source} has no campaign section to resume with")
    _run_campaign(loaded, time_scale, campaign_id=campaign, report=report)


def _run_campaign(
    loaded: Any, time_scale: float | None, campaign_id: str | None, *, report: bool
) -> None:
    from labctl.campaign_runner import run_campaign
    from labctl.campaigns import campaign_history
    from labctl.lab import Lab
    from labctl.progress import CampaignProgress

    section = loaded.model.campaign
    directions = {
        name: str(spec.get("direction", "maximize")) if isinstance(spec, dict) else "maximize"
        for name, spec in section.objectives.items()
    }
    with Lab.from_config(loaded, time_scale=time_scale) as lab:
        done = 0
        if campaign_id is not None and lab.store is not None:
            done = len({record.iteration for record in campaign_history(lab.store, campaign_id)})
        from labctl.report.figures import write_live_pareto

        live = loaded.data_directory / "reports" / "live-pareto.png"

        def on_record(record: Any, state: Any) -> None:
            progress.on_record(record, state)
            write_live_pareto(state.records, section, live)

        with CampaignProgress(out, section.budget.experiments, done, directions) as progress:
            result = run_campaign(loaded, lab=lab, campaign_id=campaign_id, on_record=on_record)
    state = result.state
    out.print(
        f"campaign {result.campaign_id}: {len(state.completed)} completed, "
        f"{len(state.records) - len(state.completed)} failed attempts; {state.stop_reason}; "
        f"hardware idle waiting for the optimizer {state.idle_time:.1f} s of "
        f"{result.wall_time:.1f} s"
    )
    if not report:
        out.print(
            f"live Pareto front: {live}; report: labctl report {result.campaign_id} "
            f"--config {loaded.source}",
            highlight=False,
        )
        return
    from labctl.report.command import write_report

    # From the records in hand (outcomes already reduced): no second pass over the store.
    files = write_report(
        state.records,
        section,
        result.campaign_id,
        loaded.data_directory / "reports" / result.campaign_id,
        config_text=loaded.source.read_text(encoding="utf-8"),
        config_source=str(loaded.source),
        stop_reason=state.stop_reason,
        seed=section.optimizer.seed,
        extra_metadata={"schema:about": section.experiment},
    )
    out.print(
        f"report: {files.html} (with experiments.csv, .parquet, .jsonld, pareto.png); "
        f"live Pareto front: {live}",
        highlight=False,
    )


@app.command()
@_reports_errors
def runs(
    config: ConfigArgument,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    plan: Annotated[str | None, typer.Option(help="Only runs of this plan.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only runs of this campaign.")] = None,
) -> None:
    """List recent runs in the lab's store."""
    from labctl.config import load_config
    from labctl.store import Store

    loaded = load_config(config)
    query: dict[str, Any] = {}
    if plan:
        query["plan_name"] = plan
    if campaign:
        query["campaign"] = campaign
    with Store.for_config(loaded, start_server=True) as store:
        summaries = store.runs(limit=limit, **query)
        table = Table(title=f"runs in {store.location}", title_justify="left")
        for column in ("scan", "uid", "start", "plan", "events", "status"):
            table.add_column(column)
        for summary in summaries:
            events = sum(summary.num_events.values())
            status = summary.exit_status or "[yellow]no stop (interrupted?)[/]"
            table.add_row(
                str(summary.scan_id if summary.scan_id is not None else "—"),
                summary.uid[:8],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.time)),
                str(summary.plan_name),
                str(events),
                status,
            )
        out.print(table)
        if not summaries:
            out.print("no runs yet")


@app.command()
@_reports_errors
def campaigns(config: ConfigArgument) -> None:
    """List the campaigns in the lab's store with their experiments' statuses."""
    from labctl.campaigns import list_campaigns
    from labctl.config import load_config
    from labctl.store import Store

    loaded = load_config(config)
    with Store.for_config(loaded, start_server=True) as store:
        summaries = list_campaigns(store)
        table = Table(title=f"campaigns in {store.location}", title_justify="left")
        for column in ("campaign", "last run", "runs", "completed", "failed", "interrupted"):
            table.add_column(column)
        for summary in summaries:
            table.add_row(
                summary.campaign,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.last_time)),
                str(summary.runs),
                str(summary.completed),
                str(summary.failed),
                f"[yellow]{summary.interrupted}[/]" if summary.interrupted else "0",
            )
        out.print(table)
        if not summaries:
            out.print("no campaigns yet")


@app.command()
@_reports_errors
def shell(
    config: ConfigArgument,
    time_scale: Annotated[float | None, typer.Option(min=0.0, help="Twin time scale.")] = None,
) -> None:
    """Open IPython with RE, lab, every device by name, plans and bluesky's magics."""
    from labctl.lab import Lab
    from labctl.shell import start_shell

    with Lab.from_config(config, time_scale=time_scale) as lab:
        start_shell(lab)


@twin_app.command("serve")
@_reports_errors
def twin_serve(
    kind: Annotated[str, typer.Argument(help="Twin kind, e.g. opcua-environment.")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = free).")] = 0,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    time_scale: Annotated[float, typer.Option(min=0.0, help="Time scale.")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after this many seconds.")
    ] = None,
) -> None:
    """Serve a twin standalone until Ctrl-C (or --duration), printing its address."""
    from labctl.registry import twin_class, twin_kinds

    if kind not in twin_kinds():
        raise BadInput(f"unknown twin kind {kind!r}; known twins: {', '.join(twin_kinds())}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BadInput(f"twins serve on loopback only; {host!r} is not a loopback address")
    from labctl.config import DeviceConfig
    from labctl.simulators.world import World

    # The twin a lab would start for a device that sets no options of its own.
    device = DeviceConfig.model_validate(
        {"kind": "standalone", "driver": "twin", "twin": {"kind": kind}}
    )
    assert device.twin is not None
    twin = twin_class(kind).from_config(
        kind, device, device.twin, seed=seed, time_scale=time_scale, world=World(seed)
    )
    try:
        address = twin.start(host, port)
        out.print(f"{kind} twin serving at {address}", highlight=False)
        sys.stdout.flush()
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        twin.close()


PluginsOption = Annotated[
    list[str] | None,
    typer.Option("--plugin", help="Module the worker imports first (a lab's own kinds)."),
]


def _queue_server(config: Path, plugins: list[str] | None = None) -> Any:
    from labctl.config import load_config
    from labctl.qserver.manager import QueueServer

    return QueueServer(load_config(config), plugins=tuple(plugins or ()))


@qserver_app.command("init")
@_reports_errors
def qserver_init(config: ConfigArgument) -> None:
    """Write the queue server's permissions file into <data_directory>/qserver."""
    path = _queue_server(config).init()
    out.print(f"permissions: {path}", highlight=False)


@qserver_app.command("start")
@_reports_errors
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
@_reports_errors
def qserver_stop(config: ConfigArgument) -> None:
    """Stop the RE Manager and its Redis by PID (the queue is kept on disk)."""
    _queue_server(config).stop()
    out.print("queue server stopped")


@qserver_app.command("recover")
@_reports_errors
def qserver_recover(config: ConfigArgument) -> None:
    """Replace a RE Worker that died; the campaign it ran is queued again and resumes."""
    steps = _queue_server(config).recover_worker()
    for step in steps:
        out.print(step, highlight=False)
    if not steps:
        out.print("the RE Worker is alive (or no environment is open): nothing to do")


@qserver_app.command("submit")
@_reports_errors
def qserver_submit(
    config: ConfigArgument,
    campaign: Annotated[Path, typer.Argument(help="The campaign config to queue.")],
    campaign_id: Annotated[
        str | None, typer.Option(help="Campaign id (default: name and time).")
    ] = None,
    unattended: Annotated[bool, typer.Option(help="Turn on autostart.")] = True,
) -> None:
    """Queue a campaign (its id fixed now, so a re-run item resumes it)."""
    from labctl.campaign_runner import new_campaign_id
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
@_reports_errors
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


def _approval_book(config: Path) -> Any:
    from labctl.approvals import ApprovalBook
    from labctl.config import load_config

    return ApprovalBook(load_config(config).data_directory / "approvals")


@app.command()
@_reports_errors
def report(
    campaign: Annotated[str, typer.Argument(help="The campaign id (see 'labctl campaigns').")],
    config: Annotated[
        Path,
        typer.Option("--config", envvar="LABCTL_CONFIG", help="The campaign's config."),
    ],
    output: Annotated[
        Path | None, typer.Option(help="Folder (default: <data_directory>/reports/<campaign>).")
    ] = None,
) -> None:
    """Write a campaign's HTML report with CSV, Parquet and JSON-LD exports."""
    from labctl.report.command import report_command

    path = report_command(config, campaign, output)
    out.print(f"report: {path}", highlight=False)


@app.command()
@_reports_errors
def approvals(config: ConfigArgument) -> None:
    """Proposals waiting for an operator's approval (outside their campaign's envelope)."""
    table = Table("campaign", "iteration", "inputs", "why", "waiting since")
    for item in _approval_book(config).pending():
        table.add_row(
            item.campaign,
            str(item.iteration),
            ", ".join(f"{name} = {value}" for name, value in item.inputs.items()),
            item.reason,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.requested)),
        )
    out.print(table)


@app.command()
@_reports_errors
def approve(
    config: ConfigArgument,
    campaign: Annotated[str, typer.Argument(help="The campaign id.")],
    iteration: Annotated[int, typer.Argument(help="The proposal's iteration number.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    by: Annotated[
        str, typer.Option(envvar="USER", help="Who decides (default: $USER).")
    ] = "operator",
) -> None:
    """Approve (or --reject) a waiting proposal; the campaign goes on within seconds."""
    decided = _approval_book(config).decide(
        campaign, iteration, "rejected" if reject else "approved", by
    )
    out.print(f"{campaign} #{iteration} {decided.decision} by {decided.by}", highlight=False)


def _inventory(config: Path, robot: str | None) -> Any:
    """The inventory of the lab's dispensing robot (``robot`` names it when there are several)."""
    from labctl.config import load_config
    from labctl.devices.dispensing.inventory import Inventory
    from labctl.devices.dispensing.robot import DispensingRobotOptions

    loaded = load_config(config)
    robots = {
        name: device
        for name, device in loaded.model.devices.items()
        if device.kind == "dispensing-robot"
    }
    if robot is not None:
        robots = {name: device for name, device in robots.items() if name == robot}
    if len(robots) != 1:
        known = ", ".join(sorted(robots)) or "none"
        raise BadInput(
            f"{config}: name one dispensing robot with --robot (dispensing robots: {known})"
        )
    ((_, device),) = robots.items()
    options = DispensingRobotOptions.model_validate(device.options)
    path = Path(options.inventory)
    if not path.is_absolute():
        path = loaded.data_directory / path
    return Inventory(path, options.stocks)


RobotOption = Annotated[
    str | None, typer.Option("--robot", help="The dispensing robot, if the lab has several.")
]


@stock_app.command("list")
@_reports_errors
def stock_list(config: ConfigArgument, robot: RobotOption = None) -> None:
    """Each stock bottle: what is left, reserved, dispensed; low-stock warnings."""
    inventory = _inventory(config, robot)
    table = Table("stock", "left", "available", "dispensed", "refilled")
    for stock, account in inventory.accounts().items():
        table.add_row(
            stock,
            f"{inventory.volume(stock):.4g~P}",
            f"{inventory.available(stock):.4g~P}",
            f"{account.dispensed:.4g~P}",
            f"{account.refilled:.4g~P}",
        )
    out.print(table)
    for message in inventory.low_stock():
        out.print(f"[yellow]{message}[/yellow]")


@stock_app.command("refill")
@_reports_errors
def stock_refill(
    config: ConfigArgument,
    stock: Annotated[str, typer.Argument(help="The stock bottle refilled.")],
    volume: Annotated[str, typer.Argument(help="The volume added, e.g. '250 mL'.")],
    robot: RobotOption = None,
) -> None:
    """Record liquid poured into a stock bottle."""
    import math

    from labctl.errors import UnitError
    from labctl.units import parse_quantity, to_magnitude

    inventory = _inventory(config, robot)
    if stock not in inventory.definitions:
        raise BadInput(f"no stock {stock!r}; stocks: {', '.join(sorted(inventory.definitions))}")
    try:
        microlitres = to_magnitude(parse_quantity(volume, "mL"), "uL")
    except UnitError as error:
        raise BadInput(f"{stock}: {error}") from None
    if not (microlitres >= 0 and math.isfinite(microlitres * 1000)):  # the inventory counts nL
        raise BadInput(f"{stock}: a volume added must be ≥ 0 and finite, got {volume!r}")
    for message in inventory.refill(stock, volume):
        out.print(f"[yellow]{message}[/yellow]")
    out.print(f"{stock}: {inventory.volume(stock):.4g~P} left", highlight=False)


def _schedule(config: Path) -> Any:
    from labctl.config import load_config
    from labctl.schedule import Schedule

    return Schedule(load_config(config).data_directory / "qserver" / "schedule.json")


@schedule_app.command("add")
@_reports_errors
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
    from labctl.schedule import ScheduleError, check_when

    try:
        check_when(at, cron)
    except ScheduleError as error:
        raise BadInput(str(error)) from None
    if load_config(campaign).model.campaign is None:
        raise BadInput(f"{campaign} has no campaign section")
    entry = _schedule(config).add(campaign, at=at, cron=cron)
    out.print(f"scheduled {entry.id}: next {entry.next_due()}", highlight=False)


@schedule_app.command("list")
@_reports_errors
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
@_reports_errors
def schedule_remove(
    config: ConfigArgument, entry: Annotated[str, typer.Argument(help="The entry's id.")]
) -> None:
    """Remove a schedule entry."""
    _schedule(config).remove(entry)
    out.print(f"removed {entry}")


@schedule_app.command("run")
@_reports_errors
def schedule_run(
    config: ConfigArgument,
    period: Annotated[float, typer.Option(min=0.5, help="Seconds between checks.")] = 5.0,
) -> None:
    """Submit scheduled campaigns to the lab's queue server as they come due (Ctrl-C stops).

    Every period it first replaces a RE Worker that died (as ``labctl qserver recover`` does).
    """
    from labctl.schedule import run_scheduler

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


def scheduled_submitter(server: Any) -> Callable[[Any], str]:
    """How the scheduler queues an entry: only if the lab is fit now, then unattended."""
    from labctl.campaign_runner import new_campaign_id
    from labctl.config import load_config

    def submit(entry: Any) -> str:
        section = load_config(entry.campaign_config).model.campaign
        if section is None:
            return f"not submitted: {entry.campaign_config} has no campaign section"
        reasons = server.preconditions()
        if reasons:
            return "not started: " + "; ".join(reasons)
        identifier = new_campaign_id(section)
        uid = server.submit_campaign(Path(entry.campaign_config), identifier)
        server.run_unattended()
        return f"queued campaign {identifier} (item {uid})"

    return submit


@store_app.command("serve")
@_reports_errors
def store_serve(
    config: ConfigArgument,
    idle_timeout: Annotated[
        float | None,
        typer.Option(min=0.0, help="Seconds idle before it stops (default: store.keep_server)."),
    ] = None,
) -> None:
    """Start the store's local server in the background (if none runs) and print its address."""
    from labctl.config import load_config
    from labctl.store_server import running_server, spawn_server, wait_for_server

    loaded = load_config(config)
    if loaded.model.store.kind != "embedded":
        raise BadInput(
            f"{loaded.source}: store.kind is {loaded.model.store.kind!r}; only an "
            "embedded store has a local server"
        )
    directory = loaded.store_directory
    record = running_server(directory)
    if record is None:
        timeout = idle_timeout
        if timeout is None:
            timeout = float(loaded.model.store.keep_server.to("s").magnitude)
        spawn_server(directory, timeout)
        record = wait_for_server(directory)
    out.print(f"store server pid {record.pid} at {record.uri} for {record.directory}")


@store_app.command("status")
@_reports_errors
def store_status(config: ConfigArgument) -> None:
    """Say whether the store's local server is running."""
    from labctl.config import load_config
    from labctl.store_server import running_server

    loaded = load_config(config)
    record = running_server(loaded.store_directory)
    if record is None:
        out.print(f"no store server for {loaded.store_directory}")
    else:
        out.print(
            f"store server pid {record.pid} at {record.uri} (idle timeout "
            f"{record.idle_timeout:g} s)"
        )


@store_app.command("stop")
@_reports_errors
def store_stop(config: ConfigArgument) -> None:
    """Stop the store's local server (by the PID it recorded)."""
    from labctl.config import load_config
    from labctl.store_server import stop_server

    loaded = load_config(config)
    pid = stop_server(loaded.store_directory)
    out.print(f"stopped store server pid {pid}" if pid else "no store server was running")


SharedDirectory = Annotated[
    Path, typer.Argument(help="The service's folder (PostgreSQL, arrays, Tiled's config).")
]


def _shared_service(directory: Path) -> Any:
    """The shared data service kept in ``directory`` (refused when that is not a folder)."""
    from labctl.tiled_server import SharedDataService

    if directory.exists() and not directory.is_dir():
        raise BadInput(
            f"{directory} is not a folder: the shared data service keeps its files in one"
        )
    return SharedDataService(directory)


@shared_app.command("start")
@_reports_errors
def shared_start(
    directory: SharedDirectory,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Tiled's port (0 = free).")] = 8000,
    host: Annotated[
        str, typer.Option(help="Where Tiled listens: 127.0.0.1, or 0.0.0.0 for the lab network.")
    ] = "127.0.0.1",
) -> None:
    """Start PostgreSQL and a Tiled server on it in the background; print store.uri.

    The API key is $TILED_API_KEY, else the one kept in DIRECTORY/api-key (made if missing).
    """
    import os

    from labctl.tiled_server import KEY_FILE

    record = _shared_service(directory).start(port=port or None, host=host)
    key = "$TILED_API_KEY" if os.environ.get("TILED_API_KEY") else f"{record.directory}/{KEY_FILE}"
    out.print(
        f"Tiled (PID {record.pid}) at {record.uri} on PostgreSQL (PID {record.postgres_pid}, "
        f"127.0.0.1:{record.postgres_port}); files in {record.directory}; API key: {key}\n"
        f"lab config: store: {{kind: tiled, uri: {record.uri}, api_key_env: TILED_API_KEY}}",
        highlight=False,
    )


@shared_app.command("status")
@_reports_errors
def shared_status(directory: SharedDirectory) -> None:
    """Say whether the service in DIRECTORY answers."""
    record = _shared_service(directory).status()
    if record is None:
        out.print(f"no shared data service answers for {directory}", highlight=False)
        raise typer.Exit(1)
    out.print(f"Tiled (PID {record.pid}) at {record.uri}", highlight=False)


@shared_app.command("stop")
@_reports_errors
def shared_stop(
    directory: SharedDirectory,
    remove: Annotated[bool, typer.Option("--remove", help="Also delete all its data.")] = False,
) -> None:
    """Stop the Tiled server and PostgreSQL by PID (the data are kept unless --remove)."""
    service = _shared_service(directory)
    if remove:
        service.remove()
    else:
        service.stop()
    out.print("shared data service stopped" + (" and removed" if remove else ""))


def _check_host_port(option: str, address: str) -> None:
    """Refuse an address that is not ``HOST:PORT`` with a port 1-65535."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or host.strip() != host:
        raise BadInput(f"{option} {address!r}: expected HOST:PORT, e.g. 127.0.0.1:5577")


@proxy_app.command("serve")
@_reports_errors
def proxy_serve(
    in_address: Annotated[
        str, typer.Option("--in", help="Where labs publish (config publish.proxy).")
    ] = "127.0.0.1:5577",
    out_address: Annotated[
        str, typer.Option("--out", help="Where consumers (RemoteDispatcher) subscribe.")
    ] = "127.0.0.1:5578",
) -> None:
    """Run bluesky's 0MQ proxy in the foreground until Ctrl-C (use 0.0.0.0:PORT for a network)."""
    from labctl.publish import serve_proxy

    for option, address in (("--in", in_address), ("--out", out_address)):
        _check_host_port(option, address)

    def ready(bound_in: str, bound_out: str) -> None:
        out.print(f"0MQ proxy: labs publish to {bound_in}, consumers subscribe to {bound_out}")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve_proxy(in_address, out_address, on_ready=ready)


@opcua_app.command("serve")
@_reports_errors
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
    from labctl.lab import Lab
    from labctl.registry import validate_lab_config
    from labctl.status_server import StatusServer
    from labctl.status_server.security import passwords_from_environment

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
                from labctl.campaign_runner import campaign_plan

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


def main() -> None:
    """Entry point of the ``labctl`` console script."""
    app()
