"""Store commands: recent runs, the shared local server, the shared data service, the 0MQ proxy."""

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
    app,
    out,
    proxy_app,
    reports_errors,
    shared_app,
    store_app,
)


@app.command()
@reports_errors
def runs(
    config: ConfigArgument,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    plan: Annotated[str | None, typer.Option(help="Only runs of this plan.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only runs of this campaign.")] = None,
) -> None:
    """List recent runs in the lab's store."""
    from labctl.config import load_config
    from labctl.store.catalog import Store

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


@store_app.command("serve")
@reports_errors
def store_serve(
    config: ConfigArgument,
    idle_timeout: Annotated[
        float | None,
        typer.Option(min=0.0, help="Seconds idle before it stops (default: store.keep_server)."),
    ] = None,
) -> None:
    """Start the store's local server in the background (if none runs) and print its address."""
    from labctl.config import load_config
    from labctl.store.server import running_server, spawn_server, wait_for_server

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
@reports_errors
def store_status(config: ConfigArgument) -> None:
    """Say whether the store's local server is running."""
    from labctl.config import load_config
    from labctl.store.server import running_server

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
@reports_errors
def store_stop(config: ConfigArgument) -> None:
    """Stop the store's local server (by the PID it recorded)."""
    from labctl.config import load_config
    from labctl.store.server import stop_server

    loaded = load_config(config)
    pid = stop_server(loaded.store_directory)
    out.print(f"stopped store server pid {pid}" if pid else "no store server was running")


SharedDirectory = Annotated[
    Path, typer.Argument(help="The service's folder (PostgreSQL, arrays, Tiled's config).")
]


def _shared_service(directory: Path) -> Any:
    """The shared data service kept in ``directory`` (refused when that is not a folder)."""
    from labctl.store.shared import SharedDataService

    if directory.exists() and not directory.is_dir():
        raise BadInput(
            f"{directory} is not a folder: the shared data service keeps its files in one"
        )
    return SharedDataService(directory)


@shared_app.command("start")
@reports_errors
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

    from labctl.store.shared import KEY_FILE

    record = _shared_service(directory).start(port=port or None, host=host)
    key = "$TILED_API_KEY" if os.environ.get("TILED_API_KEY") else f"{record.directory}/{KEY_FILE}"
    out.print(
        f"Tiled (PID {record.pid}) at {record.uri} on PostgreSQL (PID {record.postgres_pid}, "
        f"127.0.0.1:{record.postgres_port}); files in {record.directory}; API key: {key}\n"
        f"lab config: store: {{kind: tiled, uri: {record.uri}, api_key_env: TILED_API_KEY}}",
        highlight=False,
    )


@shared_app.command("status")
@reports_errors
def shared_status(directory: SharedDirectory) -> None:
    """Say whether the service in DIRECTORY answers."""
    record = _shared_service(directory).status()
    if record is None:
        out.print(f"no shared data service answers for {directory}", highlight=False)
        raise typer.Exit(1)
    out.print(f"Tiled (PID {record.pid}) at {record.uri}", highlight=False)


@shared_app.command("stop")
@reports_errors
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
@reports_errors
def proxy_serve(
    in_address: Annotated[
        str, typer.Option("--in", help="Where labs publish (config publish.proxy).")
    ] = "127.0.0.1:5577",
    out_address: Annotated[
        str, typer.Option("--out", help="Where consumers (RemoteDispatcher) subscribe.")
    ] = "127.0.0.1:5578",
) -> None:
    """Run bluesky's 0MQ proxy in the foreground until Ctrl-C (use 0.0.0.0:PORT for a network)."""
    from labctl.lab.publish import serve_proxy

    for option, address in (("--in", in_address), ("--out", out_address)):
        _check_host_port(option, address)

    def ready(bound_in: str, bound_out: str) -> None:
        out.print(f"0MQ proxy: labs publish to {bound_in}, consumers subscribe to {bound_out}")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve_proxy(in_address, out_address, on_ready=ready)
