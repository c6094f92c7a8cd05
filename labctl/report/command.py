"""``labctl report CAMPAIGN``: the report and exports of a campaign, from the store alone.

The campaign's attempts are read back from the store
(:func:`labctl.campaign.history.campaign_history`, no lab, no twins started); completed runs are
reduced again with the experiment kind's reducer, built by its factory with no lab (``factory(None,
section)``) — the reducer reads only the stored run. When the factory needs a lab, or the reducer
fails, the report still lists every attempt but without outcomes, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.config import CampaignSection, load_config
from labctl.errors import ConfigError, ConfigIssue, LabctlError, UsageError
from labctl.plans.records import ExperimentRecord, Reducer

__all__ = [
    "ReportFiles",
    "UnknownCampaignError",
    "report_command",
    "write_report",
]


class UnknownCampaignError(UsageError):
    """The store has no runs of the campaign asked for."""


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Args:
        html: ``report.html``.
        csv: ``experiments.csv``.
        parquet: ``experiments.parquet``.
        jsonld: ``experiments.jsonld``.
        pareto: ``pareto.png``.
        unmapped: inputs and outcomes without an ontology term.
    """

    html: Path
    csv: Path
    parquet: Path
    jsonld: Path
    pareto: Path
    unmapped: tuple[str, ...]


def write_report(
    records: list[ExperimentRecord],
    section: CampaignSection,
    campaign: str,
    directory: Path,
    *,
    config_text: str,
    config_source: str = "",
    stop_reason: str | None = None,
    notes: tuple[str, ...] = (),
    seed: int = 0,
    extra_metadata: Mapping[str, Any] | None = None,
) -> ReportFiles:
    """Write the HTML report, the CSV/Parquet tables, the JSON-LD and the Pareto PNG.

    Raises:
        LabctlError: a file cannot be written.
    """
    from labctl.report.exports import (
        experiments_jsonld,
        write_csv,
        write_jsonld,
        write_parquet,
    )
    from labctl.report.figures import campaign_space
    from labctl.report.html import build_report, render_html

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabctlError(f"cannot create the report folder {directory}: {error}") from error
    content = build_report(
        records,
        section,
        campaign,
        config_text=config_text,
        config_source=config_source,
        stop_reason=stop_reason,
        notes=notes,
        seed=seed,
    )
    space, objectives = campaign_space(section)
    document = experiments_jsonld(records, space, objectives, campaign, extra=extra_metadata)
    unmapped = tuple(document["labctl:unmapped"])
    if unmapped:
        content.context["notes"] = [
            *content.context["notes"],
            "No ontology term found for: "
            + ", ".join(unmapped)
            + " (JSON-LD leaves them untyped).",
        ]
    html = directory / "report.html"
    pareto = directory / "pareto.png"
    try:
        html.write_text(render_html(content), encoding="utf-8")
        pareto.write_bytes(content.images["pareto"])
    except OSError as error:
        raise LabctlError(f"cannot write the report in {directory}: {error}") from error
    return ReportFiles(
        html=html,
        csv=write_csv(content.table, directory / "experiments.csv"),
        parquet=write_parquet(content.table, directory / "experiments.parquet"),
        jsonld=write_jsonld(document, directory / "experiments.jsonld"),
        pareto=pareto,
        unmapped=unmapped,
    )


def _reducer(section: CampaignSection) -> tuple[Reducer | None, str | None]:
    """The experiment kind's reducer built without a lab, or why there is none."""
    from labctl.lab.registry import experiment_factory

    try:
        factory = experiment_factory(section.experiment)
    except KeyError:
        return None, f"the experiment kind {section.experiment!r} is not registered"
    try:
        _, reducer = factory(None, section)
    except Exception as error:  # the factory may need a lab; the report goes on without
        return None, (
            f"the {section.experiment!r} experiment's reducer cannot be built without a lab "
            f"({type(error).__name__}: {error})"
        )
    return reducer, None


def report_command(config_path: Path, campaign: str, output: Path | None) -> Path:
    """Write the report of ``campaign`` (its runs in the config's store); return the HTML path.

    Args:
        config_path: the lab config with the campaign section.
        campaign: the campaign id (as ``labctl campaigns`` lists it).
        output: the folder to write into (default: ``<data_directory>/reports/<campaign>``).

    Raises:
        ConfigError: the config is invalid or has no campaign section.
        UnknownCampaignError: the store has no runs of ``campaign`` (the message lists the
            campaigns it has).
        LabctlError: the store cannot be opened or a file cannot be written.
    """
    from labctl.campaign.history import campaign_history
    from labctl.store.catalog import Store

    loaded = load_config(config_path)
    section = loaded.model.campaign
    if section is None:
        raise ConfigError(loaded.source, [ConfigIssue(("campaign",), "no campaign section")])
    notes: list[str] = []
    with Store.for_config(loaded) as store:
        known = sorted(str(name) for name in store.distinct("campaign") if name is not None)
        if campaign not in known:
            raise UnknownCampaignError(
                f"no campaign {campaign!r} in the store at {store.location}; "
                f"known campaigns: {', '.join(known) or 'none'}"
            )
        reducer, why = _reducer(section)
        if why is not None:
            notes.append(f"Outcomes are not shown: {why}.")
        records = campaign_history(store, campaign, reducer)
        first = next(iter(store.runs(campaign=campaign, limit=1)), None)
        start = dict(first.metadata) if first is not None else {}
    name = start.get("campaign_name")
    if name is not None and name != section.name:
        notes.append(
            f"The campaign's runs were made under the name {name!r}; this config's campaign is "
            f"{section.name!r}: its space and objectives are used to read them."
        )
    directory = output if output is not None else loaded.data_directory / "reports" / campaign
    text = loaded.source.read_text(encoding="utf-8")
    files = write_report(
        records,
        section,
        campaign,
        Path(directory),
        config_text=text,
        config_source=str(loaded.source),
        notes=tuple(notes),
        seed=section.optimizer.seed,
        extra_metadata={"schema:about": section.experiment},
    )
    return files.html
