"""Campaign commands: run, resume, campaigns, report, approvals, approve."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.cli.app import (
    BadInput,
    ConfigArgument,
    app,
    err,
    out,
    reports_errors,
)


@app.command()
@reports_errors
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
    new: Annotated[
        bool,
        typer.Option("--new", help="Start a new campaign even if the last one is unfinished."),
    ] = False,
) -> None:
    """Run the config's campaign; a lab config without one: survey every sensor into the store.

    A campaign of this config that was interrupted (Ctrl-C, a crash) is resumed, not started
    again: completed experiments are never repeated. ``--new`` starts a new one.
    """
    from labctl.config import load_config
    from labctl.lab.session import Lab
    from labctl.lab.survey import survey, survey_table

    loaded = load_config(config)  # Lab.from_config checks the rest before anything starts
    if loaded.model.campaign is not None:
        from labctl.campaign.ledger import unfinished_campaign

        unfinished = (
            None if new else unfinished_campaign(loaded.data_directory, loaded.model.campaign.name)
        )
        if unfinished is not None:
            out.print(
                f"resuming campaign {unfinished.campaign} (started "
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(unfinished.started))}, not "
                "finished); --new starts a new one",
                highlight=False,
            )
        _run_campaign(
            loaded,
            time_scale,
            campaign_id=None if unfinished is None else unfinished.campaign,
            report=report,
            must_exist=False,
        )
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
@reports_errors
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

    loaded = load_config(config)  # Lab.from_config checks the rest before anything starts
    if loaded.model.campaign is None:
        from labctl.lab.registry import validate_lab_config

        validate_lab_config(loaded)  # the devices' problems first, all of them
        raise BadInput(f"{loaded.source} has no campaign section to resume with")
    _run_campaign(loaded, time_scale, campaign_id=campaign, report=report)


def _run_campaign(
    loaded: Any,
    time_scale: float | None,
    campaign_id: str | None,
    *,
    report: bool,
    must_exist: bool = True,
) -> None:
    from labctl.campaign.history import campaign_history
    from labctl.campaign.runner import run_campaign
    from labctl.cli.progress import CampaignProgress
    from labctl.lab.session import Lab
    from labctl.optimizers.objectives import Objectives

    section = loaded.model.campaign
    directions = Objectives(section.objectives).directions
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
            result = run_campaign(
                loaded,
                lab=lab,
                campaign_id=campaign_id,
                on_record=on_record,
                must_exist=must_exist,
            )
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
@reports_errors
def campaigns(config: ConfigArgument) -> None:
    """List the campaigns in the lab's store with their experiments' statuses."""
    from labctl.campaign.history import list_campaigns
    from labctl.config import load_config
    from labctl.store.catalog import Store

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


def _approval_book(config: Path) -> Any:
    from labctl.campaign.approvals import ApprovalBook
    from labctl.config import load_config

    return ApprovalBook(load_config(config).data_directory / "approvals")


@app.command()
@reports_errors
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
@reports_errors
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
@reports_errors
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
