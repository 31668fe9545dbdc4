"""Issue 5 proof, outside calls: a real phone company (Kamailio, kamailio-carrier.cfg) with an
outside baresip phone registered at it; vpbx's tenant calls out through a trunk with the
operator's platform file. The outside phone gets exactly the digits the rules produce and the
configured caller ID; denied directions, block-listed ranges and calls over a fraud cap never
reach the carrier; a dead trunk hands the call to the next one after `failover_timeout`.

Phones: the office's 1001 and 1002 on 127.0.0.3/.4 (registered at vpbx); the outside phone on
127.0.0.5 (registered at the carrier as 89257410726, the digits the trunk sends for +7 925
741-07-26)."""

import time

from calls import Phone, add_media_config, assert_tone, call_tenant_yaml, make_tone_wav, \
    read_wav, rms_dbfs, wait_cdr, wait_recording_seconds
from peers import KamailioCarrier, free_port

OFFICE = "office.vpbx.test"
SECRETS = {"1001": "secret-1001-aaaa", "1002": "secret-1002-bbbb"}
TRUNK_USER, TRUNK_SECRET = "74952345678", "trunk-secret-1"
OUTSIDE, OUTSIDE_SECRET = "89257410726", "outside-secret-1"
A_HZ, A_PEAK = 440, -6.0
B_HZ, B_PEAK = 1000, -12.0
RMS = -3.0103


def platform_yaml(carrier_port: int, dead_port: int | None = None, host: str = "127.0.0.1",
                  transport: str = "udp") -> str:
    trunks = ""
    directions = ""
    if dead_port is not None:
        # A trunk nobody answers on, tried first.
        trunks += f"""  - {{name: dead, tenant: {OFFICE}, host: 127.0.0.1, port: {dead_port}, username: "{TRUNK_USER}",
     secret: "{TRUNK_SECRET}", from_user: "{TRUNK_USER}", from_domain: carrier.test, register: false,
     qualify: false, priority: 1, failover_timeout: 2, prefixes: {{regional: "8", international: "810"}},
     strip_regional: 1}}
"""
        directions += '  - {number: "+74952216005", trunk: dead, class: regional}\n'
    trunks += f"""  - {{name: carrier, tenant: {OFFICE}, host: {host}, port: {carrier_port}, transport: {transport},
     username: "{TRUNK_USER}",
     secret: "{TRUNK_SECRET}", from_user: "{TRUNK_USER}", from_domain: carrier.test, register: false,
     qualify: false, priority: 2, failover_timeout: 5, prefixes: {{regional: "8", international: "810"}},
     strip_regional: 1}}
"""
    directions += """  - {number: "+74952216005", trunk: carrier, class: regional}
  - {number: "+74952216005", trunk: carrier, class: international, pattern: "_39."}
"""
    return f"""trunks:
{trunks}numbers:
  - {{number: "+74952216005", tenant: {OFFICE}, trunk: carrier}}
directions:
{directions}"""


class Office:
    def __init__(self, vpbx, tmp_path, reaper, limits: str = "", dead_trunk: bool = False,
                 host: str = "127.0.0.1", transport: str = "udp") -> None:
        self.v, self.tmp, self.reaper = vpbx, tmp_path, reaper
        self.carrier = KamailioCarrier(tmp_path, reaper, {TRUNK_USER: TRUNK_SECRET,
                                                          OUTSIDE: OUTSIDE_SECRET}).start()
        lo = free_port(span=200)
        add_media_config(vpbx, f"{lo}-{lo + 199}")
        vpbx.tenant_create(OFFICE)
        p = tmp_path / "platform.yaml"
        p.write_text(platform_yaml(self.carrier.port, free_port() if dead_trunk else None, host,
                                   transport))
        vpbx.cli("platform", "apply", str(p))
        users = [{"ext": e, "name": f"User {e}", "secret": s} for e, s in SECRETS.items()]
        vpbx.tenant_apply(call_tenant_yaml(OFFICE, users).replace('country: "US"', 'country: "RU"')
                          + 'outbound: {prefix: "99", number: "+74952216005"}\n' + limits)
        vpbx.start(OFFICE)
        self.wav_a = make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, A_PEAK)
        self.wav_b = make_tone_wav(tmp_path / "b1k.wav", B_HZ, 40, B_PEAK)

    def phone(self, ext: str, ip: str) -> Phone:
        p = Phone(self.tmp, self.reaper, f"p{ext}", ip=ip, wav=self.wav_a, user=ext, domain=OFFICE,
                  password=SECRETS[ext], proxy_port=self.v.sip_port).start()
        p.register()
        return p

    def outside(self) -> Phone:
        p = Phone(self.tmp, self.reaper, "outside", ip="127.0.0.5", wav=self.wav_b, user=OUTSIDE,
                  domain="carrier.test", password=OUTSIDE_SECRET, proxy_port=self.carrier.port).start()
        p.register()
        return p


def dial(p: Phone, digits: str) -> None:
    p.dial(f"sip:{digits}@{OFFICE}")


def test_an_outside_call_leaves_with_the_rules_digits_and_caller_id_and_both_hear_each_other(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a, out = o.phone("1001", "127.0.0.3"), o.outside()
    dial(a, "9989257410726")                     # a Moscow office dials 8 925 741-07-26
    out.wait_event("CALL_INCOMING", 10)
    # The carrier authenticated the trunk account (407 answered) and saw the rules' digits,
    # the account as From and the tenant's number as the caller ID.
    calls = o.carrier.calls()
    assert calls == [f"{OUTSIDE} from {TRUNK_USER} pai <sip:+74952216005@carrier.test>"], calls
    inv = out.received("INVITE")[-1]
    assert "74952345678@carrier.test" in (inv.header("From") or ""), inv.header("From")
    out.answer()
    a.wait_established(10)
    assert_tone(wait_recording_seconds(out, 2.5), A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(wait_recording_seconds(a, 2.5), B_HZ, B_PEAK + RMS, start=0.5)
    a.hangup()
    out.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["disposition"] == "ANSWERED" and c["destination"] == "external:+79257410726", c
    assert c["trunk"] == "carrier", c


def test_denied_directions_and_block_listed_ranges_never_reach_the_carrier(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    for digits in ("9981023276123456",         # Sierra Leone: no international direction but Italy
                   "9981018765551234",         # Jamaica, +1 876: Caribbean, not domestic, not Italy
                   "9981039899123456",         # Italy allowed, but +39 89x is premium (block-list)
                   "99810330112345678"):       # France: international narrowed to _39.
        dial(a, digits)
        a.wait_closed(15)
        assert a.final_statuses()[-1] == 403, (digits, a.final_statuses())
    assert o.carrier.requests("INVITE") == [], o.carrier.requests("INVITE")
    m = vpbx.metrics()
    assert "vpbx_outbound_denied_total 4" in m, [ln for ln in m.splitlines() if "outbound" in ln]


def test_over_the_fraud_cap_the_next_outside_call_is_refused(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, limits="limits: {max_external_calls: 1}\n")
    a, b, out = o.phone("1001", "127.0.0.3"), o.phone("1002", "127.0.0.4"), o.outside()
    dial(a, "9989257410726")
    out.wait_event("CALL_INCOMING", 10)
    out.answer()
    a.wait_established(10)
    # Calls in progress per tenant and per trunk (seed 003's `inuse`).
    calls = vpbx.cli("calls", OFFICE).stdout
    assert "through trunks: carrier 1" in calls, calls
    trunks = vpbx.cli("trunks", "--json").stdout
    assert '"calls": 1' in trunks.replace('"calls":1', '"calls": 1'), trunks
    dial(b, "9989257410726")
    b.wait_closed(10)
    assert b.final_statuses()[-1] == 403, b.final_statuses()
    assert len(o.carrier.requests("INVITE")) == 2, "only the first call (and its authenticated retry)"
    assert "vpbx_outbound_capped_total 1" in vpbx.metrics()
    a.hangup()
    out.wait_closed(5)


def test_a_dead_trunk_hands_the_call_to_the_next_after_failover_timeout(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, dead_trunk=True)
    a, out = o.phone("1001", "127.0.0.3"), o.outside()
    t0 = time.monotonic()
    dial(a, "9989257410726")
    out.wait_event("CALL_INCOMING", 15)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 8, f"failover_timeout 2 s, the second trunk was reached after {took:.1f}s"
    out.answer()
    a.wait_established(10)
    a.hangup()
    out.wait_closed(5)


def sound_seconds(path) -> float:
    """Seconds of 20 ms frames louder than -45 dBFS in a recording."""
    samples, rate = read_wav(path)
    frame = rate // 50
    return sum(1 for i in range(0, len(samples) - frame + 1, frame)
               if rms_dbfs(samples[i:i + frame]) > -45.0) / 50


def test_a_denied_outside_call_hears_an_announcement_in_early_media_then_gets_403(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    t0 = time.monotonic()
    dial(a, "9981023276123456")                  # Sierra Leone: not allowed
    a.wait_closed(15)
    took = time.monotonic() - t0
    # 183 with an SDP answer first, then the refusal with its reason; never a 200.
    rx = [m for m in a.received("INVITE") if m.status]
    progress = [m for m in rx if m.status == 183]
    assert progress and progress[0].sdp() is not None, [m.first_line for m in rx]
    finals = [m for m in rx if m.status >= 200]
    assert finals[-1].first_line.strip() == "SIP/2.0 403 Outbound Call Not Allowed", finals[-1].first_line
    assert 200 not in a.final_statuses(), a.final_statuses()
    assert rx.index(progress[0]) < rx.index(finals[-1])
    # The announcement ("cannot be completed as dialed", 2.6 s) arrived as RTP during the 183.
    assert 2.0 <= took <= 8.0, f"403 after {took:.1f}s"
    rec = a.last_recording()
    assert sound_seconds(rec) >= 1.5, f"only {sound_seconds(rec):.2f}s of sound in the early media"
    assert o.carrier.requests("INVITE") == [], o.carrier.requests("INVITE")
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["disposition"] == "FAILED" and c["sip_cause"] == 403, c


def test_over_the_fraud_cap_the_refused_caller_hears_why_then_gets_403(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, limits="limits: {max_external_calls: 0}\n")
    a = o.phone("1001", "127.0.0.3")
    dial(a, "9989257410726")
    a.wait_closed(15)
    rx = [m for m in a.received("INVITE") if m.status]
    assert any(m.status == 183 for m in rx), [m.first_line for m in rx]
    assert rx[-1].first_line.strip() == "SIP/2.0 403 Outbound Call Limit Reached", rx[-1].first_line
    assert sound_seconds(a.last_recording()) >= 1.5
    assert o.carrier.requests("INVITE") == []


GROUP = ('groups:\n  - {ext: "600", name: Sales, strategy: ringall, ring_timeout: 30,\n'
         '     members: ["1001", "external:+79257410726", "external:+23276123456"]}\n')


def test_a_ring_group_rings_an_outside_member_through_the_trunk_and_it_can_answer(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, limits=GROUP)
    member, caller, out = o.phone("1001", "127.0.0.3"), o.phone("1002", "127.0.0.4"), o.outside()
    dial(caller, "600")
    # ringall: the user member and the outside member ring together; Sierra Leone is denied.
    member.wait_event("CALL_INCOMING", 10)
    out.wait_event("CALL_INCOMING", 10)
    calls = o.carrier.calls()
    assert calls == [f"{OUTSIDE} from {TRUNK_USER} pai <sip:+74952216005@carrier.test>"], calls
    assert all("23276123456" not in r for r in o.carrier.requests("INVITE")), \
        o.carrier.requests("INVITE")
    assert "vpbx_outbound_denied_total 1" in vpbx.metrics()
    out.answer()
    caller.wait_established(10)
    member.wait_closed(5)                        # the user member's ringing is cancelled
    assert_tone(wait_recording_seconds(out, 2.5), A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(wait_recording_seconds(caller, 2.5), B_HZ, B_PEAK + RMS, start=0.5)
    trunks = vpbx.cli("trunks", "--json").stdout
    assert '"calls": 1' in trunks.replace('"calls":1', '"calls": 1'), trunks
    caller.hangup()
    out.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["disposition"] == "ANSWERED" and c["destination"] == "external:+79257410726", c
    assert c["trunk"] == "carrier" and c["dialed"] == "600", c
    time.sleep(0.5)
    trunks = vpbx.cli("trunks", "--json").stdout
    assert '"calls": 0' in trunks.replace('"calls":0', '"calls": 0'), trunks


def test_a_trunk_host_given_as_a_name_is_resolved_for_outside_calls(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, host="localhost")   # /etc/hosts: 127.0.0.1
    a, out = o.phone("1001", "127.0.0.3"), o.outside()
    dial(a, "9989257410726")
    out.wait_event("CALL_INCOMING", 10)
    assert o.carrier.calls() == [f"{OUTSIDE} from {TRUNK_USER} pai <sip:+74952216005@carrier.test>"]
    out.answer()
    a.wait_established(10)
    a.hangup()
    out.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["disposition"] == "ANSWERED" and c["trunk"] == "carrier", c


def test_an_outside_call_through_a_tcp_trunk_goes_over_one_tcp_connection(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, transport="tcp")
    a, out = o.phone("1001", "127.0.0.3"), o.outside()
    for _ in range(2):
        dial(a, "9989257410726")
        out.wait_event("CALL_INCOMING", 10)
        out.answer()
        a.wait_established(10)
        assert_tone(wait_recording_seconds(out, 2.0), A_HZ, A_PEAK + RMS, start=0.5)
        out.hangup()                              # the outside phone's BYE comes back over TCP
        a.wait_closed(5)
    # Both INVITEs, and their re-sends with the trunk's credentials, came over TCP.
    protos = o.carrier.protos("INVITE")
    assert protos == ["tcp"] * 4, protos
    assert o.carrier.calls() == [f"{OUTSIDE} from {TRUNK_USER} pai <sip:+74952216005@carrier.test>"] * 2
    c = wait_cdr(vpbx, OFFICE, 2)
    assert all(x["disposition"] == "ANSWERED" and x["trunk"] == "carrier" for x in c), c
    # One connection, opened by vpbx, carried both calls.
    opened = [ln for ln in vpbx.log.read_text(errors="replace").splitlines()
              if "trunk TCP connection open" in ln]
    assert len(opened) == 1, opened


def test_a_tenant_at_its_call_limit_still_gets_the_refusals_403_at_once(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper, limits="limits: {max_calls: 0}\n")
    a = o.phone("1001", "127.0.0.3")
    dial(a, "9981023276123456")
    a.wait_closed(10)
    rx = [m for m in a.received("INVITE") if m.status]
    assert not any(m.status == 183 for m in rx), [m.first_line for m in rx]
    assert rx[-1].first_line.strip() == "SIP/2.0 403 Outbound Call Not Allowed", rx[-1].first_line
    assert o.carrier.requests("INVITE") == []
