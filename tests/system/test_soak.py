"""Soak: a campaign under chaos mode must not leak files, threads or memory as it runs.

The default suite runs a short soak of the toy campaign (every environment fault reaches the
loop); ``-m slow`` runs the full one of ``benchmarks/reliability.md``: 1000 experiments of the
shipped pulsed-charging campaign under chaos (every instrument twin, an HDF5 curve file per
run), about an hour here. Bounds are on growth once warm (after the first sample), where a
per-run leak of a file handle, a connection's thread or a run's documents would show.
"""

from __future__ import annotations

from typing import Any

import pytest

from labctl.testing.reliability.soak import SAMPLE_COLUMNS, soak


def _growth(result: dict[str, Any], name: str) -> float:
    column = SAMPLE_COLUMNS.index(name)
    samples = result["samples"]
    assert len(samples) >= 3, samples
    warm = samples[1]  # after the first `every` experiments: imports, caches, connections made
    return float(max(row[column] for row in samples[1:]) - warm[column])


def _check(result: dict[str, Any], *, fds: int, threads: int, rss_mib: float) -> None:
    assert result["violations"] == [], result["violations"]
    assert result["repeated"] == 0
    assert result["lost"] in (0, None)
    assert result["completed"] + result["skipped"] == result["experiments"]
    assert _growth(result, "open_fds") <= fds, result["samples"]
    assert _growth(result, "threads") <= threads, result["samples"]
    assert _growth(result, "rss_mib") <= rss_mib, result["samples"]


@pytest.mark.timeout(600)
def test_a_short_soak_under_chaos_holds_files_and_threads_steady() -> None:
    result = soak("toy-sensing", experiments=24, every=6, mean_interval=3.0)
    assert sum(result["faults_by_kind"].values()) > 0, "no fault was injected"
    _check(result, fds=4, threads=3, rss_mib=64)


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600)
def test_a_thousand_experiment_soak_of_the_real_campaign() -> None:
    result = soak("pulsed-charging", experiments=1000, every=100, mean_interval=10.0)
    assert min(result["faults_by_kind"].values()) >= 20, result["faults_by_kind"]
    _check(result, fds=4, threads=3, rss_mib=150)
