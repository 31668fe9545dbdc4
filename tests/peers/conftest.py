"""Fixtures for the real-peer tests (see peers.py for the helpers themselves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import peers


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(autouse=True)
def _release_ports():
    """Ports a test took (`peers.free_port`) are free again once its processes are gone:
    without this the suite's ~120 tests, each taking a 200-port media range, fragment the
    12000-32000 range until `free_port` finds no run of free ports. Set up before (so torn
    down after) the test's reaper; a port still bound elsewhere is refused by the bind check."""
    before = set(peers._handed_out)
    yield
    peers._handed_out.intersection_update(before)


@pytest.fixture
def reaper(request):
    """Owns every process the test starts; on failure prints the peers' logs."""
    r = peers.Reaper()
    yield r
    r.close()


@pytest.fixture
def hosts():
    """The test domains must resolve to 127.0.0.1 (sipsak and pjsua2 resolve them)."""
    peers.require_hosts()


@pytest.fixture
def vpbx_factory(tmp_path: Path, reaper: peers.Reaper, request):
    """Make vpbx instances (config + data dir in the test's tmp dir); stopped at the end."""
    made: list[peers.Vpbx] = []

    def make(name: str = "vpbx", **kw) -> peers.Vpbx:
        d = tmp_path / name
        d.mkdir(parents=True, exist_ok=True)
        v = peers.Vpbx(d, reaper, **kw)
        made.append(v)
        return v

    yield make
    for v in made:
        if v.running():
            rc = v.stop()
            if rc not in (0, None) and not _failed(request):
                print(f"note: vpbx serve exited {rc} on SIGTERM")
    if _failed(request):
        for v in made:
            print(f"----- {v.log} (tail) -----\n{peers.tail(v.log, 120)}")
        for log in sorted(tmp_path.rglob("baresip.log")):
            print(f"----- {log} (tail) -----\n{peers.tail(log, 60)}")


@pytest.fixture
def vpbx(vpbx_factory) -> peers.Vpbx:
    return vpbx_factory()


@pytest.fixture
def pg_url() -> str:
    """PostgreSQL URL for the server: VPBX_PEER_PG_URL (.ci/run gives the peer tests their own
    database), else VPBX_TEST_PG_URL."""
    url = os.environ.get("VPBX_PEER_PG_URL") or os.environ.get("VPBX_TEST_PG_URL")
    if not url:
        if os.environ.get("VPBX_REQUIRE_PG") == "1":
            pytest.fail("VPBX_REQUIRE_PG=1 but no VPBX_PEER_PG_URL/VPBX_TEST_PG_URL", pytrace=False)
        pytest.skip("VPBX_PEER_PG_URL/VPBX_TEST_PG_URL not set (PostgreSQL variant)")
    return url
