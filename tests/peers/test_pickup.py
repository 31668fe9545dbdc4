"""Issue 5 proof, pickup groups: a user answers a colleague's ringing phone from their own
with `*8` (the call ringing a user of their pickup group) or `**EXT` (the call ringing EXT).
The colleague's phone stops ringing, caller and picker talk through the relay, and the call
record names the picker. Users of another pickup group (and the caller itself) get 480.

Phones: the caller 1001 on 127.0.0.3 (pickup group sales, so it could pick were it not its
own call), 1101 on .4 and 1102 on .5 (sales), 1201 on .6 (support). Group 1100 rings 1101 and
1201 together.
"""

import time

from calls import Phone, add_media_config, assert_tone, call_tenant_yaml, make_tone_wav, \
    wait_cdr, wait_recording_seconds
from peers import free_port

DOMAIN = "pickup.vpbx.test"
USERS = {"1001": ("secret-1001-aaaa", "sales"), "1101": ("secret-1101-bbbb", "sales"),
         "1102": ("secret-1102-cccc", "sales"), "1201": ("secret-1201-dddd", "support")}
IPS = {"1001": "127.0.0.3", "1101": "127.0.0.4", "1102": "127.0.0.5", "1201": "127.0.0.6"}
A_HZ, C_HZ, PEAK = 440, 880, -6.0
RMS = -3.0103
GROUPS = """groups:
  - {ext: "1100", name: Desk, strategy: ringall, members: ["1101", "1201"], ring_timeout: 30}
"""


class Office:
    def __init__(self, vpbx, tmp_path, reaper) -> None:
        self.v = vpbx
        self.tmp = tmp_path
        self.reaper = reaper
        lo = free_port(span=200)
        add_media_config(vpbx, f"{lo}-{lo + 199}")
        users = [{"ext": e, "name": f"User {e}", "secret": s, "pickup_group": g, "ring_timeout": 30}
                 for e, (s, g) in USERS.items()]
        vpbx.tenant_create(DOMAIN)
        vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users) + GROUPS)
        vpbx.start(DOMAIN)
        self.wav_a = make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, PEAK)
        self.wav_c = make_tone_wav(tmp_path / "c880.wav", C_HZ, 40, PEAK)

    def phone(self, ext: str, wav=None) -> Phone:
        p = Phone(self.tmp, self.reaper, f"p{ext}", ip=IPS[ext], wav=wav or self.wav_a, user=ext,
                  domain=DOMAIN, password=USERS[ext][0], proxy_port=self.v.sip_port).start()
        p.register()
        return p


def uri(ext: str) -> str:
    return f"sip:{ext}@{DOMAIN}"


def refused(p: Phone, timeout: float = 10.0) -> str:
    """The phone's call ends unanswered with 480 No Call To Pick Up."""
    reason = p.wait_closed(timeout)
    assert p.final_statuses()[-1] == 480, p.final_statuses()
    assert "No Call To Pick Up" in reason, reason
    return reason


def talk_both_ways(a: Phone, c: Phone) -> None:
    """The caller hears the picker's 880 Hz and the picker the caller's 440 Hz."""
    assert_tone(wait_recording_seconds(c, 2.5), A_HZ, PEAK + RMS, start=1.0)
    assert_tone(wait_recording_seconds(a, 2.5), C_HZ, PEAK + RMS, start=1.0)


def test_star_8_answers_a_colleagues_ringing_phone_which_stops_ringing(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    route = vpbx.cli("route", DOMAIN, "--from", "1102", "--to", "*8").stdout
    assert "call pickup (*8): answers the call that has rung longest for another user of " \
        "pickup group sales" in route, route
    assert "end: call pickup (*8) runs" in route, route
    a, b = o.phone("1001"), o.phone("1101")
    c = o.phone("1102", wav=o.wav_c)
    a.dial(uri("1101"))
    b.wait_event("CALL_INCOMING", 10)
    c.dial(uri("*8"))
    c.wait_established(10)
    a.wait_established(10)
    b.wait_closed(5)
    assert b.received("CANCEL"), "the rung phone is cancelled"
    assert not b.sent("INVITE", 200), "the rung phone never answered"
    talk_both_ways(a, c)
    a.hangup()
    c.wait_closed(5)
    rec = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert rec["disposition"] == "ANSWERED", rec
    assert rec["destination"] == "user:1102", rec


def test_star_star_ext_picks_up_the_call_ringing_that_extension(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a, b = o.phone("1001"), o.phone("1101")
    c = o.phone("1102", wav=o.wav_c)
    # Nothing rings 1101 yet: nothing to pick.
    c.dial(uri("**1101"))
    refused(c)
    a.dial(uri("1101"))
    b.wait_event("CALL_INCOMING", 10)
    c.dial(uri("**1101"))
    c.wait_established(10)
    a.wait_established(10)
    b.wait_closed(5)
    assert b.received("CANCEL")
    talk_both_ways(a, c)
    c.hangup()
    a.wait_closed(5)
    rec = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert rec["destination"] == "user:1102", rec


def test_another_pickup_group_and_the_caller_itself_get_480_and_the_phone_rings_on(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a, b = o.phone("1001"), o.phone("1101")
    c, d = o.phone("1102", wav=o.wav_c), o.phone("1201")
    a.dial(uri("1101"))
    b.wait_event("CALL_INCOMING", 10)
    d.dial(uri("*8"))
    refused(d)
    d.dial(uri("**1101"))
    refused(d)
    # The caller is in sales too, but cannot pick up its own call.
    a.dial(uri("*8"))
    refused(a)
    time.sleep(0.5)
    assert not b.received("CANCEL"), "a refused pickup leaves the rung phone alone"
    assert not b.has_event("CALL_CLOSED"), "1101 still rings"
    # 1101 answers after all; an answered call is no longer pickable.
    b.answer()
    a.wait_established(10)
    c.dial(uri("*8"))
    refused(c)
    a.hangup()
    b.wait_closed(5)
    recs = wait_cdr(vpbx, DOMAIN, 1)
    answered = [r for r in recs if r["disposition"] == "ANSWERED"]
    assert [r["destination"] for r in answered] == ["user:1101"], recs


def test_a_ring_group_call_is_pickable_by_a_ringing_members_group_mate(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a, b, d = o.phone("1001"), o.phone("1101"), o.phone("1201")
    c = o.phone("1102", wav=o.wav_c)
    a.dial(uri("1100"))
    b.wait_event("CALL_INCOMING", 10)
    d.wait_event("CALL_INCOMING", 10)
    c.dial(uri("*8"))
    c.wait_established(10)
    a.wait_established(10)
    b.wait_closed(5)
    d.wait_closed(5)
    assert b.received("CANCEL") and d.received("CANCEL"), "every member stops ringing"
    talk_both_ways(a, c)
    a.hangup()
    c.wait_closed(5)
    rec = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert rec["destination"] == "user:1102", rec
