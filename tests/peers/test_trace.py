"""`vpbx trace CALL-ID`: every SIP message of a registration, with times and addresses —
from the running server, and from the on-disk trace (`[trace] dir`) once it is stopped."""
import json

from peers import UdpSip, build_request, user

DOMAIN = "t2.vpbx.test"


def register_once(vpbx, call_id: str) -> int:
    with UdpSip("127.0.0.9") as c:
        c.send(build_request("REGISTER", DOMAIN, c.local_ip, c.local_port, user="1001", call_id=call_id),
               vpbx.sip)
        resp = c.final_response(2.0)
        assert resp is not None and resp.status == 401
        return c.local_port


def test_trace_prints_the_request_and_our_answer_with_addresses(vpbx):
    vpbx.tenant(DOMAIN, [user("1001", "trace-secret-1")])
    vpbx.start(DOMAIN)
    port = register_once(vpbx, "trace-live")
    out = vpbx.cli("trace", "trace-live@127.0.0.9").stdout
    assert "REGISTER sip:1001@t2.vpbx.test SIP/2.0" in out, out
    assert "SIP/2.0 401 Unauthorized" in out, out
    assert f"127.0.0.9:{port}" in out, out
    entries = json.loads(vpbx.cli("trace", "trace-live@127.0.0.9", "--json").stdout)
    assert [e["direction"] for e in entries] == ["in", "out"], entries
    # An unknown Call-ID is a clear error, not an empty success.
    r = vpbx.cli("trace", "no-such-call", check=False)
    assert r.returncode != 0 and "no messages" in r.stderr, r.stderr


def test_trace_reads_the_trace_dir_when_the_server_is_stopped(vpbx):
    trace_dir = vpbx.tmp / "trace"
    vpbx.config.write_text(vpbx.config.read_text() + f'[trace]\ndir = {json.dumps(str(trace_dir))}\n')
    vpbx.tenant(DOMAIN, [user("1001", "trace-secret-1")])
    vpbx.start(DOMAIN)
    register_once(vpbx, "trace-disk")
    assert vpbx.stop() == 0
    out = vpbx.cli("trace", "trace-disk@127.0.0.9").stdout
    assert "REGISTER sip:1001@t2.vpbx.test SIP/2.0" in out and "401 Unauthorized" in out, out
