"""Issue 2 proof: the RFC 4475 torture corpus sent over UDP to the running server.

Each of the 49 files is sent byte-exact from its own socket; the outcome (the final status of
the response, or `none`) must match rfc4475_expected.tsv, whose reason column says why. After
the whole corpus the server must still be running and still answer OPTIONS.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peers import RFC4475_DIR, Reaper, UdpSip, Vpbx, parse_response, tail

EXPECTED_TSV = Path(__file__).with_name("rfc4475_expected.tsv")
TENANTS = ["example.com", "example.net", "example.org", "company.com",
           "chair-dnrc.example.com", "registrar.example.com"]
SOURCE_IP = "127.0.0.5"
SILENCE_S = 2.0


def load_expected() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in EXPECTED_TSV.read_text().splitlines():
        if not line or line.startswith("#") or line.startswith("file\t"):
            continue
        f, exp, reason = line.split("\t")
        rows[f] = (exp, reason)
    return rows


EXPECTED = load_expected()


def test_the_expected_table_covers_exactly_the_corpus():
    files = sorted(p.name for p in RFC4475_DIR.glob("*.dat"))
    assert len(files) == 49, f"corpus not found or incomplete at {RFC4475_DIR}"
    assert sorted(EXPECTED) == files
    for f, (exp, reason) in EXPECTED.items():
        assert exp == "none" or (exp.isdigit() and 200 <= int(exp) < 700), f
        assert len(reason) > 20, f"{f}: give the reason"


def status_of(datagram: bytes) -> int:
    r = parse_response(datagram)
    return r.status if r else -1       # -1: something that is not a SIP response


def send_one(vpbx: Vpbx, data: bytes) -> list[int]:
    """Status codes of every datagram answering one file (retransmissions included)."""
    with UdpSip(SOURCE_IP) as c:
        c.send(data, vpbx.sip)
        codes: list[int] = []
        end = time.monotonic() + SILENCE_S
        while time.monotonic() < end:
            codes += [status_of(d) for d in c.collect(min(0.1, end - time.monotonic()))]
            if any(x >= 200 or x == -1 for x in codes):
                codes += [status_of(d) for d in c.collect(0.3)]   # catch a second, different answer
                break
        return codes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("rfc4475")
    reaper = Reaper()
    failed_before = request.session.testsfailed
    try:
        vpbx = Vpbx(tmp, reaper)
        for d in TENANTS:
            vpbx.tenant_create(d)
        vpbx.start("example.com")
        outcomes = {}
        for f in sorted(EXPECTED):
            outcomes[f] = send_one(vpbx, (RFC4475_DIR / f).read_bytes())
        yield vpbx, outcomes
        if request.session.testsfailed > failed_before:
            print(f"----- {vpbx.log} (tail) -----\n{tail(vpbx.log, 150)}")
    finally:
        reaper.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_its_expected_outcome(corpus, name):
    _, outcomes = corpus
    codes = outcomes[name]
    expected, reason = EXPECTED[name]
    finals = sorted({c for c in codes if c >= 200 or c == -1})
    provisional = [c for c in codes if 100 <= c < 200]
    if expected == "none":
        assert codes == [], f"{name}: expected no answer ({reason}); got {codes}"
    else:
        assert finals == [int(expected)], f"{name}: expected {expected} ({reason}); got {codes}"
        if provisional:
            assert (RFC4475_DIR / name).read_bytes().startswith(b"INVITE"), \
                f"{name}: provisional response to a non-INVITE: {codes}"


def test_the_server_still_runs_and_answers_options_after_the_corpus(corpus):
    vpbx, outcomes = corpus
    assert len(outcomes) == 49
    assert vpbx.running(), f"vpbx died during the corpus\n{tail(vpbx.log)}"
    for src in ("127.0.0.1", SOURCE_IP):
        with UdpSip(src) as c:
            r = c.options(vpbx.sip, "example.com")
            assert r is not None and r.status == 200, f"no 200 to OPTIONS from {src}"
