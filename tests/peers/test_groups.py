"""Issue 5 proof, ring groups: real baresip phones registered at vpbx ring in the order the
group's strategy says; busy members are skipped; the member who answers talks to the caller
and owns the call record; a group nobody answers follows its `on_timeout`.

Members on 127.0.0.4 (1101), .5 (1102), .7 (1103); the caller 1001 on .3; the secretary 2222
on .6 (the ringall group's on_timeout).
"""

import time

from calls import Phone, add_media_config, assert_tone, call_tenant_yaml, make_tone_wav, \
    wait_cdr, wait_recording_seconds
from peers import free_port

DOMAIN = "groups.vpbx.test"
SECRETS = {"1001": "secret-1001-aaaa", "1101": "secret-1101-bbbb", "1102": "secret-1102-cccc",
           "1103": "secret-1103-dddd", "2222": "secret-2222-eeee"}
A_HZ, A_PEAK = 440, -6.0
RMS = -3.0103
GROUPS = """groups:
  - {ext: "1100", name: Sales, strategy: ringall, members: ["1101", "1102"], ring_timeout: 4,
     on_timeout: "user:2222"}
  - {ext: "1200", name: Support, strategy: hunt, members: ["1101", "1102", "1103"], ring_timeout: 3}
  - {ext: "1300", name: Desk, strategy: rrmemory, members: ["1101", "1102"], ring_timeout: 3}
"""


class Office:
    def __init__(self, vpbx, tmp_path, reaper) -> None:
        self.v = vpbx
        self.tmp = tmp_path
        self.reaper = reaper
        lo = free_port(span=200)
        add_media_config(vpbx, f"{lo}-{lo + 199}")
        users = [{"ext": e, "name": f"User {e}", "secret": s} for e, s in SECRETS.items()]
        vpbx.tenant_create(DOMAIN)
        vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users) + GROUPS)
        vpbx.start(DOMAIN)
        self.wav = make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, A_PEAK)

    def phone(self, ext: str, ip: str) -> Phone:
        p = Phone(self.tmp, self.reaper, f"p{ext}", ip=ip, wav=self.wav, user=ext, domain=DOMAIN,
                  password=SECRETS[ext], proxy_port=self.v.sip_port).start()
        p.register()
        return p


def uri(ext: str) -> str:
    return f"sip:{ext}@{DOMAIN}"


def incoming(p: Phone) -> int:
    return len(p.events("CALL_INCOMING"))


def test_ringall_rings_every_member_the_first_to_answer_talks_and_owns_the_record(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    m1, m2 = o.phone("1101", "127.0.0.4"), o.phone("1102", "127.0.0.5")
    a.dial(uri("1100"))
    m1.wait_event("CALL_INCOMING", 10)
    m2.wait_event("CALL_INCOMING", 10)
    m2.answer()
    a.wait_established(10)
    m1.wait_closed(5)
    assert m1.received("CANCEL"), "the other member's phone is cancelled"
    assert_tone(wait_recording_seconds(m2, 2.5), A_HZ, A_PEAK + RMS, start=0.5)
    a.hangup()
    m2.wait_closed(5)
    c = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert c["disposition"] == "ANSWERED", c
    assert c["destination"] == "user:1102", c


def test_an_unanswered_ringall_group_goes_to_its_on_timeout_and_busy_members_are_skipped(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    m1, m2 = o.phone("1101", "127.0.0.4"), o.phone("1102", "127.0.0.5")
    m3, sec = o.phone("1103", "127.0.0.7"), o.phone("2222", "127.0.0.6")
    # 1101 is in a call with 1103: the group must not ring it (ringinuse=no).
    m3.dial(uri("1101"))
    m1.wait_event("CALL_INCOMING", 10)
    m1.answer()
    m3.wait_established(10)
    t0 = time.monotonic()
    a.dial(uri("1100"))
    m2.wait_event("CALL_INCOMING", 10)
    # Nobody answers within the group's 4 s: the secretary rings.
    sec.wait_event("CALL_INCOMING", 10)
    took = time.monotonic() - t0
    assert 3.0 <= took <= 8.0, f"ring_timeout 4 s, the secretary rang after {took:.1f}s"
    m2.wait_closed(5)
    assert incoming(m1) == 1, "the busy member was rung by the group"
    sec.answer()
    a.wait_established(10)
    a.hangup()
    sec.wait_closed(5)
    m3.hangup()


def test_hunt_rings_members_one_by_one_a_reject_moves_on_at_once(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    m1, m2, m3 = o.phone("1101", "127.0.0.4"), o.phone("1102", "127.0.0.5"), o.phone("1103", "127.0.0.7")
    t0 = time.monotonic()
    a.dial(uri("1200"))
    m1.wait_event("CALL_INCOMING", 10)
    assert incoming(m2) == 0 and incoming(m3) == 0, "hunt rings one member at a time"
    # 1101 lets it ring: after 3 s the second member.
    m2.wait_event("CALL_INCOMING", 10)
    took = time.monotonic() - t0
    assert 2.5 <= took <= 7.0, f"ring_timeout 3 s per member, the second rang after {took:.1f}s"
    m1.wait_closed(5)
    assert incoming(m3) == 0
    t1 = time.monotonic()
    m2.reject()                                      # 486: the next member at once
    m3.wait_event("CALL_INCOMING", 5)
    assert time.monotonic() - t1 < 2.0, "a busy member does not cost the caller its ring time"
    m3.answer()
    a.wait_established(10)
    a.hangup()
    m3.wait_closed(5)
    c = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert c["destination"] == "user:1103", c


def test_rrmemory_starts_after_the_member_who_took_the_last_call_and_no_answer_gives_480(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a = o.phone("1001", "127.0.0.3")
    m1, m2 = o.phone("1101", "127.0.0.4"), o.phone("1102", "127.0.0.5")
    a.dial(uri("1300"))
    m1.wait_event("CALL_INCOMING", 10)
    assert incoming(m2) == 0
    m1.answer()
    a.wait_established(10)
    a.hangup()
    m1.wait_closed(5)
    a.wait_closed(5)
    # The next call starts with 1102; nobody answers: 1101 next, then the caller gets 480.
    a.dial(uri("1300"))
    m2.wait_event("CALL_INCOMING", 10)
    assert incoming(m1) == 1, "1101 took the last call: 1102 rings first"
    m1.wait_event("CALL_INCOMING", 10)
    a.wait_closed(10)
    assert a.final_statuses()[-1] == 480, a.final_statuses()
