"""Figures (the live Pareto PNG included) and the self-contained HTML report."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from labctl.config import CampaignSection
from labctl.errors import LabctlError
from labctl.plans.records import ExperimentRecord
from labctl.report.command import write_report
from labctl.report.figures import (
    campaign_space,
    hypervolume_trace,
    outcome_array,
    write_live_pareto,
)
from labctl.report.html import build_report, render_html

from .conftest import make_records

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("completed", "failed"), [(0, 0), (0, 2), (1, 0), (1, 1), (15, 2)])
def test_live_pareto_png_for_any_number_of_experiments(
    section: CampaignSection, tmp_path: Path, completed: int, failed: int
) -> None:
    path = tmp_path / "live" / "pareto.png"
    records = make_records(completed, failures=failed)
    assert write_live_pareto(records, section, path) == path
    assert path.read_bytes().startswith(PNG)
    assert [p.name for p in path.parent.iterdir()] == ["pareto.png"]  # no temporary left


def test_live_pareto_replaces_the_previous_file(section: CampaignSection, tmp_path: Path) -> None:
    path = tmp_path / "pareto.png"
    write_live_pareto(make_records(0), section, path)
    placeholder = path.read_bytes()
    write_live_pareto(make_records(6), section, path)
    assert path.read_bytes() != placeholder


def test_live_pareto_unwritable_folder_is_a_labctl_error(
    section: CampaignSection, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LabctlError, match="cannot write the live Pareto plot"):
        write_live_pareto(make_records(3), section, blocker / "pareto.png")


def test_hypervolume_trace_is_non_decreasing_with_a_stated_reference(
    section: CampaignSection, records: list[ExperimentRecord]
) -> None:
    _, objectives = campaign_space(section)
    trace = hypervolume_trace(outcome_array(records, objectives), objectives)
    assert len(trace.values) == len(records)
    assert all(b >= a for a, b in zip(trace.values, trace.values[1:], strict=False))
    assert trace.values[-1] > 0
    assert trace.inferred
    assert set(trace.reference) == {"ionic_conductivity", "cost"}


def test_html_report_has_every_section_images_and_config_hash(
    section: CampaignSection, records: list[ExperimentRecord]
) -> None:
    config_text = "campaign:\n  name: toy-electrolyte  # <not a tag>\n"
    content = build_report(
        records,
        section,
        "toy-1",
        config_text=config_text,
        stop_reason="budget of 30 experiments spent",
        sobol_samples=128,
        bootstrap=20,
    )
    html = render_html(content)
    for section_id in [
        "summary",
        "objectives",
        "pareto",
        "hypervolume",
        "parameters",
        "sensitivity",
        "experiments",
        "configuration",
        "software",
    ]:
        assert f'<section id="{section_id}">' in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert hashlib.sha256(config_text.encode()).hexdigest() in html
    assert "# &lt;not a tag&gt;" in html
    assert "12 completed, 2 failed, 0 interrupted" in " ".join(html.split())
    assert "budget of 30 experiments spent" in html
    assert "inferred from the data" in html
    assert "ionic_conductivity is driven mostly by" in html
    assert "salt_molality [mol/kg]" in html
    for name in ["labctl", "bluesky", "ophyd", "tiled", "botorch", "torch", "numpy", "python"]:
        assert f'<td class="text">{name}</td>' in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched


def test_report_with_few_experiments_explains_the_missing_sensitivity(
    section: CampaignSection, tmp_path: Path
) -> None:
    files = write_report(make_records(1, failures=1), section, "toy-2", tmp_path, config_text="x")
    html = files.html.read_text()
    assert "at least 3 completed experiments" in html
    assert files.pareto.read_bytes().startswith(PNG)
    for path in (files.csv, files.parquet, files.jsonld):
        assert path.exists()
    assert files.unmapped == ("cost",)
    assert "No ontology term found for: cost" in html
