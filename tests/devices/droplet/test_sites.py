"""The substrate site map: geometry, states, one hand-out per site, kept across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labctl.devices.droplet.sites import Site, SiteError, SubstrateMap


def _map(path: Path, **changes: object) -> SubstrateMap:
    kwargs: dict[str, object] = {
        "rows": 2,
        "columns": 3,
        "pitch": 2.5,
        "origin": (10.0, 20.0),
        "name": "zn-01",
        **changes,
    }
    return SubstrateMap(path, **kwargs)  # type: ignore[arg-type]


def test_geometry(tmp_path: Path) -> None:
    sites = _map(tmp_path / "s.json")
    assert list(sites.sites())[:4] == [Site(0, 0), Site(0, 1), Site(0, 2), Site(1, 0)]
    assert sites.position((1, 2)) == (15.0, 22.5)
    assert sites.position("0,1") == (12.5, 20.0)
    with pytest.raises(SiteError, match="not on the map"):
        sites.position((2, 0))
    with pytest.raises(SiteError, match="row, column"):
        Site.parse("A1")


def test_sites_are_handed_out_once_and_in_order(tmp_path: Path) -> None:
    sites = _map(tmp_path / "s.json")
    assert sites.claim() == Site(0, 0)
    assert sites.claim() == Site(0, 1)
    assert sites.claim((1, 1)) == Site(1, 1)
    with pytest.raises(SiteError, match="is used, not fresh"):
        sites.claim((1, 1))
    sites.mark((0, 1), "failed")
    with pytest.raises(SiteError, match="is failed"):
        sites.claim((0, 1))
    assert [sites.claim() for _ in range(3)] == [Site(0, 2), Site(1, 0), Site(1, 2)]
    with pytest.raises(SiteError, match="no fresh site left"):
        sites.claim()
    assert sites.counts() == {"fresh": 0, "used": 5, "failed": 1}


def test_concurrent_claims_never_share_a_site(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    maps = [_map(path, rows=5, columns=8) for _ in range(4)]
    claimed: list[Site] = []
    lock = threading.Lock()

    def worker(sites: SubstrateMap) -> None:
        for _ in range(10):
            site = sites.claim()
            with lock:
                claimed.append(site)

    threads = [threading.Thread(target=worker, args=(m,)) for m in maps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == len(set(claimed)) == 40


def test_the_map_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "droplet" / "s.json"
    sites = _map(path)
    sites.claim()
    sites.mark(sites.claim(), "failed")
    script = (
        "import sys, json\n"
        "from labctl.devices.droplet.sites import SubstrateMap\n"
        f"m = SubstrateMap({str(path)!r}, rows=2, columns=3, pitch=2.5, origin=(10.0, 20.0),"
        " name='zn-01')\n"
        "site = m.claim()\n"
        "print(json.dumps({'claimed': site.key, 'states': {s.key: v for s, v in "
        "m.states().items()}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", script], capture_output=True, text=True, check=True
    )
    answer = json.loads(result.stdout)
    assert answer["claimed"] == "0,2"
    assert answer["states"]["0,0"] == "used"
    assert answer["states"]["0,1"] == "failed"
    # And back in this process the other process's claim is seen.
    assert sites.state((0, 2)) == "used"
    assert sites.claim() == Site(1, 0)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sites = _map(path)
    for _ in range(4):
        sites.claim()
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["sites"] == {"0,0": "used", "0,1": "used", "0,2": "used", "1,0": "used"}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_file_of_another_substrate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    _map(path).claim()
    with pytest.raises(SiteError, match="another substrate layout"):
        _map(path, pitch=3.0)
    path.write_text("{not json")
    with pytest.raises(SiteError, match="cannot read"):
        _map(path)
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "rows": 2,
                "columns": 3,
                "pitch_mm": 2.5,
                "origin_mm": [10.0, 20.0],
                "sites": {"0,0": "bogus"},
            }
        )
    )
    with pytest.raises(SiteError, match="unknown state"):
        _map(path)
