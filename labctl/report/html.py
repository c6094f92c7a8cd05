"""The self-contained HTML report of a campaign (figures embedded as base64 PNG, no network).

Sections: the campaign and its status counts and stop reason; the Pareto front; hypervolume vs
experiment with the reference point (configured or inferred); inputs vs outcomes; what drives
each objective (Sobol indices of the surrogate with intervals, GP length scales, a paragraph in
plain language); the table of experiments; the configuration (YAML and its SHA-256); software
versions; when it was generated.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import platform
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labctl.config import CampaignSection
from labctl.plans.records import ExperimentRecord
from labctl.report.figures import (
    campaign_space,
    hypervolume_png,
    hypervolume_trace,
    outcome_array,
    pareto_png,
    scatter_grid_png,
)
from labctl.report.sensitivity import (
    ObjectiveSensitivity,
    SensitivityError,
    explain,
    surrogate_sensitivity,
)
from labctl.report.table import experiments_table

__all__ = ["SOFTWARE", "ReportContent", "build_report", "render_html", "software_versions"]

SOFTWARE = ("labctl", "bluesky", "ophyd", "tiled", "botorch", "torch", "numpy")
"""Distributions whose versions the report states (beside Python's)."""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Campaign {{ campaign }} — labctl report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
th { background: #f4f4f4; } td.text { text-align: left; }
img { max-width: 100%; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.note { color: #8a5a00; } .small { font-size: 0.85em; color: #555; }
</style></head><body>
<h1>Campaign <code>{{ campaign }}</code></h1>
<section id="summary"><h2>Summary</h2>
<p>Experiment kind <b>{{ experiment }}</b>, optimizer <b>{{ optimizer }}</b>,
budget {{ budget }} experiments. {{ attempts }} attempts:
{% for status, count in status_counts.items() %}
{{ count }} {{ status }}{{ ", " if not loop.last }}
{% endfor %}.</p>
<p>Stop reason: {{ stop_reason or "not recorded in the store" }}.</p>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
</section>
<section id="objectives"><h2>Inputs and objectives</h2>
<table><tr><th>input</th><th>kind</th><th>units</th><th>range / choices</th></tr>
{% for row in inputs %}
<tr><td class="text">{{ row.name }}</td><td class="text">{{ row.kind }}</td>
<td class="text">{{ row.units }}</td><td class="text">{{ row.range }}</td></tr>
{% endfor %}
</table>
<table><tr><th>outcome</th><th>direction</th><th>units</th><th>reference</th><th>best</th></tr>
{% for row in outcomes %}
<tr><td class="text">{{ row.name }}</td><td class="text">{{ row.direction }}</td>
<td class="text">{{ row.units }}</td><td>{{ row.reference }}</td><td>{{ row.best }}</td></tr>
{% endfor %}
</table>
{% if constraints %}<p>Outcome constraints: {{ constraints | join("; ") }}.</p>{% endif %}
</section>
<section id="pareto"><h2>Pareto front</h2>
<img alt="Pareto front" src="data:image/png;base64,{{ images.pareto }}"></section>
<section id="hypervolume"><h2>Hypervolume vs experiment</h2>
<p>Reference point: {{ reference }}
{% if reference_inferred %}(inferred from the data: the worst value on the front less 10 % of
the range, so it may move as the front grows){% else %}(configured){% endif %}.
Final hypervolume: {{ final_hypervolume }}.</p>
<img alt="Hypervolume progress" src="data:image/png;base64,{{ images.hypervolume }}"></section>
<section id="parameters"><h2>Inputs vs outcomes</h2>
<img alt="Inputs vs outcomes" src="data:image/png;base64,{{ images.scatter }}"></section>
<section id="sensitivity"><h2>What drives each objective</h2>
{% if sensitivity %}
<p class="small">Sobol indices of the Gaussian-process surrogate's posterior mean over the search
space ({{ sobol_samples }} Saltelli base samples, {{ confidence }} % bootstrap intervals);
S1: share of the variation an input explains alone, ST: share it is involved in, with
interactions. A mixture counts as one input (its composition). Length scales are those of the
GP kernel on inputs scaled to [0, 1]: short means the outcome changes quickly along that input.</p>
{% for item in sensitivity %}<h3>{{ item.outcome }}</h3>
<table><tr><th>input</th><th>S1</th><th>S1 interval</th><th>ST</th><th>ST interval</th>
<th>length scale</th></tr>
{% for row in item.rows %}
<tr><td class="text">{{ row.name }}</td><td>{{ row.first }}</td>
<td>{{ row.first_interval }}</td><td>{{ row.total }}</td><td>{{ row.total_interval }}</td>
<td class="text">{{ row.length_scale }}</td></tr>
{% endfor %}
</table>
<p>{{ item.explanation }}</p>{% endfor %}
{% else %}<p class="note">{{ sensitivity_note }}</p>{% endif %}
</section>
<section id="experiments"><h2>Experiments</h2>
{{ table_html }}
</section>
<section id="configuration"><h2>Configuration</h2>
<p>Source: <code>{{ config_source }}</code>; SHA-256 <code>{{ config_sha256 }}</code>.</p>
<pre>{{ config_text }}</pre></section>
<section id="software"><h2>Software</h2>
<table>
{% for name, version in software.items() %}
<tr><td class="text">{{ name }}</td><td class="text">{{ version }}</td></tr>
{% endfor %}
</table>
</section>
<p class="small">Generated {{ generated }} by labctl.</p>
</body></html>
"""


def software_versions() -> dict[str, str]:
    """Versions of the software a report depends on (``not installed`` where absent)."""
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class ReportContent:
    """Everything a report shows, ready for the template and the exports.

    Args:
        context: the template's variables.
        images: figure name → PNG bytes (``pareto``, ``hypervolume``, ``scatter``).
        table: the experiments table.
        sensitivity: per-outcome sensitivity (empty when it could not be computed).
        notes: warnings shown in the summary.
    """

    context: dict[str, Any]
    images: dict[str, bytes]
    table: Any
    sensitivity: list[ObjectiveSensitivity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3g}"


def _interval(bounds: np.ndarray) -> str:
    return f"{bounds[0]:.2f} … {bounds[1]:.2f}"


def _input_rows(section: CampaignSection) -> list[dict[str, str]]:
    space, _ = campaign_space(section)
    rows = []
    for name, spec in space.specs.items():
        kind = spec.type
        if kind == "mixture":
            members = ", ".join(f"{m} {b.low:g}–{b.high:g}" for m, b in spec.mixture.items())
            rows.append(
                {
                    "name": name,
                    "kind": f"mixture ({spec.basis} fractions)",
                    "units": "1",
                    "range": members,
                }
            )
        elif kind == "categorical":
            rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "units": "",
                    "range": ", ".join(map(str, spec.choices)),
                }
            )
        elif kind == "integer":
            rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "units": spec.units,
                    "range": f"{spec.low}–{spec.high}",
                }
            )
        elif kind == "continuous":
            low, high, units = spec.bounds()
            scale = ", log scale" if spec.log else ""
            rows.append(
                {"name": name, "kind": kind, "units": units, "range": f"{low:g}–{high:g}{scale}"}
            )
        else:
            rows.append({"name": name, "kind": kind, "units": "", "range": str(spec.value)})
    return rows


def build_report(
    records: Sequence[ExperimentRecord],
    section: CampaignSection,
    campaign: str,
    *,
    config_text: str,
    config_source: str = "",
    stop_reason: str | None = None,
    notes: Sequence[str] = (),
    seed: int = 0,
    sobol_samples: int = 512,
    bootstrap: int = 200,
) -> ReportContent:
    """Compute the table, figures and sensitivity of a campaign.

    Args:
        records: every attempt (completed ones with outcomes).
        section: the campaign's config section (space, objectives, budget).
        campaign: the campaign id.
        config_text: the configuration file's text (shown, and hashed).
        config_source: where the configuration came from.
        stop_reason: why the campaign stopped, if known.
        notes: warnings for the reader.
        seed: seeds the sensitivity analysis.
        sobol_samples: Saltelli base samples.
        bootstrap: bootstrap resamples of the Sobol intervals.
    """
    space, objectives = campaign_space(section)
    notes = list(notes)
    table = experiments_table(records, space, objectives, campaign)
    Y = outcome_array(records, objectives)
    completed = [r for r in records if r.status == "completed" and r.outcome]
    images = {
        "pareto": pareto_png(Y, objectives, f"{campaign}: Pareto front"),
        "scatter": scatter_grid_png(records, space, objectives),
    }
    trace = hypervolume_trace(Y, objectives)
    images["hypervolume"] = hypervolume_png(trace, objectives)
    sensitivity: list[ObjectiveSensitivity] = []
    sensitivity_note = ""
    if len(completed) < 3:
        sensitivity_note = (
            f"Sensitivity needs a surrogate fitted on at least 3 completed experiments with "
            f"outcomes; there are {len(completed)}."
        )
    else:
        try:
            X = space.encode_many([r.inputs for r in completed])
            sensitivity = surrogate_sensitivity(
                X,
                outcome_array(completed, objectives),
                space,
                objectives,
                samples=sobol_samples,
                bootstrap=bootstrap,
                seed=seed,
            )
        except SensitivityError as error:
            sensitivity_note = str(error)
        except Exception as error:  # the rest of the report is still worth having
            sensitivity_note = f"the sensitivity analysis failed: {type(error).__name__}: {error}"
    if space.constraints and sensitivity:
        notes.append(
            "The space has linear constraints across parameters; the Sobol analysis swaps "
            "inputs independently and may evaluate the surrogate just outside them."
        )
    counts = Counter(r.status for r in records)
    best: dict[str, float] = {}
    feasible = objectives.feasible(Y) if len(Y) else np.zeros(0, dtype=bool)
    for j, name in enumerate(objectives.names):
        values = Y[feasible, j] if feasible.any() else Y[:, j]
        values = values[~np.isnan(values)]
        direction = objectives.specs[name].direction
        best[name] = (
            float("nan")
            if not len(values)
            else float(values.min() if direction == "minimize" else values.max())
        )
    outcomes = [
        {
            "name": name,
            "direction": objectives.specs[name].direction,
            "units": objectives.specs[name].units,
            "reference": _fmt(trace.reference[name]) if name in trace.reference else "—",
            "best": _fmt(best[name]),
        }
        for name in objectives.names
    ]
    units_of = {n: objectives.specs[n].units for n in objectives.names}
    reference = ", ".join(
        f"{n} = {v:.4g} {units_of[n]}".strip() for n, v in trace.reference.items()
    )
    sensitivity_items = []
    for item in sensitivity:
        rows = []
        idx = item.indices
        for i, name in enumerate(idx.names):
            scales = item.length_scales.get(name, [])
            factor_columns = [f for f in space.specs if f == name]
            del factor_columns
            rows.append(
                {
                    "name": name,
                    "first": f"{idx.first[i]:.2f}",
                    "first_interval": _interval(idx.first_interval[i]),
                    "total": f"{idx.total[i]:.2f}",
                    "total_interval": _interval(idx.total_interval[i]),
                    "length_scale": ", ".join(_fmt(s) for s in scales),
                }
            )
        sensitivity_items.append(
            {"outcome": item.outcome, "rows": rows, "explanation": explain(item)}
        )
    shown = table.drop(columns=["campaign"])
    context: dict[str, Any] = {
        "campaign": campaign,
        "experiment": section.experiment,
        "optimizer": section.optimizer.kind,
        "budget": section.budget.experiments,
        "attempts": len(records),
        "status_counts": {s: counts.get(s, 0) for s in ("completed", "failed", "interrupted")},
        "stop_reason": stop_reason,
        "notes": notes,
        "inputs": _input_rows(section),
        "outcomes": outcomes,
        "constraints": objectives.constraint_texts,
        "reference": reference or "—",
        "reference_inferred": trace.inferred,
        "final_hypervolume": _fmt(float(trace.values[-1])) if len(trace.values) else "—",
        "sensitivity": sensitivity_items,
        "sensitivity_note": sensitivity_note,
        "sobol_samples": sobol_samples,
        "confidence": 95,
        "table_html": shown.to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4g}"),
        "config_source": config_source,
        "config_text": config_text,
        "config_sha256": hashlib.sha256(config_text.encode("utf-8")).hexdigest(),
        "software": software_versions(),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    return ReportContent(context, images, table, sensitivity, notes)


def render_html(content: ReportContent) -> str:
    """The report as one HTML document (figures inline)."""
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(_TEMPLATE)
    images = {
        name: base64.b64encode(data).decode("ascii") for name, data in content.images.items()
    }
    context = dict(content.context)
    context["table_html"] = _markup(context["table_html"])
    return template.render(images=images, **context)


def _markup(text: str) -> Any:
    import markupsafe

    return markupsafe.Markup(text)  # pandas escapes the cells of its HTML table
