"""Lab commands: validate a config, the console shell, a twin on its own, the stock bottles."""

from __future__ import annotations

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
    reports_errors,
    stock_app,
    twin_app,
)
from labctl.errors import ConfigError, LabConnectError


@app.command()
@reports_errors
def validate(
    config: ConfigArgument,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also start twins and connect every device.")
    ] = False,
) -> None:
    """Check a lab config; print a summary (exit 0) or every problem with its key path (exit 2)."""
    from labctl.config import load_config
    from labctl.lab.registry import validate_lab_config

    loaded = load_config(config)
    if not connect:
        validate_lab_config(loaded)
    else:  # Lab.from_config validates (once) before it starts a twin
        from labctl.lab.session import Lab

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
@reports_errors
def shell(
    config: ConfigArgument,
    time_scale: Annotated[float | None, typer.Option(min=0.0, help="Twin time scale.")] = None,
) -> None:
    """Open IPython with RE, lab, every device by name, plans and bluesky's magics."""
    from labctl.cli.shell import start_shell
    from labctl.lab.session import Lab

    with Lab.from_config(config, time_scale=time_scale) as lab:
        start_shell(lab)


@twin_app.command("serve")
@reports_errors
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
    from labctl.lab.registry import twin_class, twin_kinds

    if kind not in twin_kinds():
        raise BadInput(f"unknown twin kind {kind!r}; known twins: {', '.join(twin_kinds())}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BadInput(f"twins serve on loopback only; {host!r} is not a loopback address")
    from labctl.config import DeviceConfig
    from labctl.lab.registry import simulated_world

    # The twin a lab would start for a device that sets no options of its own.
    device = DeviceConfig.model_validate(
        {"kind": "standalone", "driver": "twin", "twin": {"kind": kind}}
    )
    assert device.twin is not None
    twin = twin_class(kind).from_config(
        kind, device, device.twin, seed=seed, time_scale=time_scale, world=simulated_world(seed)
    )
    try:
        try:
            address = twin.start(host, port)
        except OSError as error:  # the port is taken, or the address is not this machine's
            raise BadInput(
                f"the {kind} twin cannot listen on {host}:{port}: {error.strerror or error}"
            ) from None
        out.print(f"{kind} twin serving at {address}", highlight=False)
        sys.stdout.flush()
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        twin.close()


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
@reports_errors
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
@reports_errors
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
