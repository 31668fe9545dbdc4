"""Issue 3 proof: calls through vpbx between real phones on loopback (baresip 1.0.0 and
pjsua2), with audio checked by frequency and level, media ports checked in the SDP, and the
call records checked with `vpbx cdr DOMAIN --json`.

The same scenarios run without vpbx in test_calls_harness.py, which proves the harness.

Assumed server config (see `setup`): `[media] ip = "127.0.0.1"`, `ports = "<lo>-<hi>"`,
`rtp_timeout_s` (short here); user keys `ring_timeout` in the tenant YAML. If the server
names them differently, change MEDIA_KEYS / the user dicts below, not the tests.

Phones: callers on 127.0.0.3, callees on 127.0.0.4 / .5 / .7, transfer targets on 127.0.0.6.
Note for the relay: baresip binds its RTP socket to 0.0.0.0, so its RTP arrives from
127.0.0.1 while its SDP says 127.0.0.3/.4 — latching must accept that (learning window).
"""

import time

import pytest

from calls import (PjPhone, Phone, add_media_config, assert_tone, call_tenant_yaml,
                   cdrs, make_tone_wav, read_wav, wait_cdr, wait_recording_seconds)
from peers import free_port, sipsak_register, wait_until


DOMAIN = "t1.vpbx.test"
SECRETS = {"1001": "secret-1001-aaaa", "1002": "secret-1002-bbbb", "1003": "secret-1003-cccc"}
A_HZ, A_PEAK = 440, -6.0
B_HZ, B_PEAK = 1000, -12.0
C_HZ, C_PEAK = 2000, -9.0
RMS = -3.0103
RTP_TIMEOUT_S = 3
MEDIA_SPAN = 200


class Pbx:
    """A started vpbx with one tenant (users 1001-1003) and its media port range."""

    def __init__(self, vpbx, tmp_path, reaper, user_extra: dict | None = None, **media) -> None:
        self.v = vpbx
        self.tmp = tmp_path
        self.reaper = reaper
        self.media_lo = free_port(span=MEDIA_SPAN)
        self.media_hi = self.media_lo + MEDIA_SPAN - 1
        add_media_config(vpbx, f"{self.media_lo}-{self.media_hi}", **media)
        users = []
        for ext, secret in SECRETS.items():
            u = {"ext": ext, "name": f"User {ext}", "secret": secret, "email": f"u{ext}@example.test"}
            u.update((user_extra or {}).get(ext, {}))
            users.append(u)
        vpbx.tenant_create(DOMAIN)
        vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users))
        vpbx.start(DOMAIN)
        self.wavs = {
            "a": make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, A_PEAK),
            "b": make_tone_wav(tmp_path / "b1k.wav", B_HZ, 40, B_PEAK),
            "c": make_tone_wav(tmp_path / "c2k.wav", C_HZ, 40, C_PEAK),
        }

    def phone(self, name: str, ext: str, ip: str, tone: str, **kw) -> Phone:
        p = Phone(self.tmp, self.reaper, name, ip=ip, wav=self.wavs[tone], user=ext, domain=DOMAIN,
                  password=SECRETS[ext], proxy_port=self.v.sip_port, **kw).start()
        p.register()
        return p

    def pjphone(self, name: str, ext: str, ip: str, tone: str, **kw) -> PjPhone:
        p = PjPhone(self.tmp, self.reaper, name, ip=ip, wav=self.wavs[tone], user=ext, domain=DOMAIN,
                    password=SECRETS[ext], registrar_port=self.v.sip_port, **kw).start()
        p.register()
        return p

    def assert_media_is_ours(self, phone, other_phones=()) -> None:
        """Every SDP the phone received points at vpbx's media address and port range, never
        at another phone's own RTP port."""
        media = phone.remote_media()
        assert media, f"{phone.name} received no SDP"
        for ip, port in media:
            assert ip == "127.0.0.1" and self.media_lo <= port <= self.media_hi, \
                f"{phone.name} was told to send RTP to {ip}:{port}, not vpbx {self.media_lo}-{self.media_hi}"
        for o in other_phones:
            assert not ({p for _, p in media} & o.local_sdp_ports()), f"{phone.name} got {o.name}'s port"

    def cdr(self, count: int = 1) -> dict:
        got = wait_cdr(self.v, DOMAIN, count)
        assert len(got) == count, got
        return got[0] if count == 1 else got


def uri(ext: str) -> str:
    return f"sip:{ext}@{DOMAIN}"


def ringing_calls(vpbx) -> str:
    return vpbx.cli("calls", DOMAIN, check=False).stdout


# --------------------------------------------------------------------------- answered call, audio

def test_two_phones_talk_both_ways_through_vpbx_media(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    b.wait_established(10)
    assert "1002" in pbx.v.cli("calls", DOMAIN).stdout, "the call is listed while in progress"
    rec_a = wait_recording_seconds(a, 3)
    rec_b = wait_recording_seconds(b, 3)
    a.hangup()
    a.wait_closed(5)
    b.wait_closed(5)
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=0.5)
    pbx.assert_media_is_ours(a, [b])
    pbx.assert_media_is_ours(b, [a])
    statuses = a.final_statuses()
    assert statuses[-1] == 200 and 407 in statuses, f"the INVITE is challenged, then answered: {statuses}"
    c = pbx.cdr()
    assert c["disposition"] == "ANSWERED", c
    assert "1001" in c["caller"] and c["dialed"] == "1002", c
    assert "1002" in (c["destination"] or ""), c
    assert c["hangup_by"] == "caller", c
    assert c["billsec_s"] >= 2 and c["duration_s"] >= c["billsec_s"], c
    assert c["call_id"] == a.sent("INVITE")[0].header("call-id"), c


def test_pcma_only_caller_and_pcmu_only_callee_still_hear_each_other(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a", codecs="PCMA")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", codecs="PCMU", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    rec_a = wait_recording_seconds(a, 3)
    rec_b = wait_recording_seconds(b, 3)
    a.hangup()
    b.wait_closed(5)
    assert a.remote_sdps()[-1].codecs[0] == "PCMA"
    assert b.local_sdps()[-1].codecs[0] == "PCMU"
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=0.5)
    assert pbx.cdr()["disposition"] == "ANSWERED"


# --------------------------------------------------------------------------- unanswered outcomes

def test_a_g722_phone_and_a_g711_only_phone_hear_each_other_through_the_transcoding_relay(
        vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, codecs=["G722", "PCMA", "PCMU"])
    pbx.wavs["a16"] = make_tone_wav(tmp_path / "a440-16k.wav", A_HZ, 40, A_PEAK, rate=16000)
    a = pbx.phone("a", "1001", "127.0.0.3", "a16", codecs="G722/16000/1")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", codecs="PCMU", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    rec_a = wait_recording_seconds(a, 2.5)
    rec_b = wait_recording_seconds(b, 2.5)
    a.hangup()
    b.wait_closed(5)
    assert a.remote_sdps()[-1].codecs[0] == "G722", "vpbx answered the G.722 phone in G.722"
    assert b.remote_sdps()[0].codecs[:3] == ["G722", "PCMA", "PCMU"], "the callee is offered G.722 first"
    assert b.local_sdps()[-1].codecs[0] == "PCMU"
    assert read_wav(rec_a)[1] == 16000, "the G.722 phone decoded 16 kHz audio"
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=0.5, db_tol=1.0)
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=0.5, db_tol=1.0)
    assert pbx.cdr()["disposition"] == "ANSWERED"


def test_cancel_before_answer_gives_487_and_a_cancelled_record(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b")
    a.dial(uri("1002"))
    b.wait_event("CALL_INCOMING", 10)
    a.wait_event("CALL_RINGING", 5)
    a.hangup()
    b.wait_closed(5)
    a.wait_closed(5)
    assert b.received("CANCEL"), "the callee's leg was cancelled"
    assert wait_until(lambda: 487 in a.final_statuses(), 3), a.final_statuses()
    c = pbx.cdr()
    assert c["disposition"] == "CANCELLED" and c["hangup_by"] == "caller", c
    assert c["billsec_s"] == 0, c


def test_callee_rejecting_gives_486_and_a_busy_record(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b")
    a.dial(uri("1002"))
    b.wait_event("CALL_INCOMING", 10)
    b.reject()                                   # baresip rejects a ringing call with 486
    assert "486" in a.wait_closed(5)
    assert a.final_statuses()[-1] == 486
    c = pbx.cdr()
    assert c["disposition"] == "BUSY" and c["sip_cause"] == 486, c


def test_nobody_answering_within_ring_timeout_gives_480_and_a_no_answer_record(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, user_extra={"1002": {"ring_timeout": 3}})
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b")
    t0 = time.monotonic()
    a.dial(uri("1002"))
    b.wait_event("CALL_INCOMING", 10)
    reason = a.wait_closed(10)
    took = time.monotonic() - t0
    assert 2.5 <= took <= 7, f"ring_timeout 3 s, call ended after {took:.1f}s"
    assert a.final_statuses()[-1] == 480, (reason, a.final_statuses())
    b.wait_closed(5)
    assert b.received("CANCEL"), "the ringing phone is cancelled"
    c = pbx.cdr()
    assert c["disposition"] == "NO ANSWER" and c["hangup_by"] == "system", c
    assert c["hangup_reason"] == "ring_timeout", c


def test_calling_a_user_with_no_registered_phone_gives_480_and_a_failed_record(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b")
    b.stop()                                         # SIGTERM: baresip unregisters
    assert wait_until(lambda: not [r for r in vpbx.registrations(DOMAIN) if "1002@" in r["aor"]], 5)
    a.dial(uri("1002"))
    a.wait_closed(10)
    assert a.final_statuses()[-1] == 480, a.final_statuses()
    c = pbx.cdr()
    assert c["disposition"] == "FAILED" and c["hangup_reason"] == "unavailable", c
    assert c["sip_cause"] == 480, c


# --------------------------------------------------------------------------- forking

def test_a_user_on_three_phones_rings_all_a_reject_keeps_ringing_first_answer_wins(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b1 = pbx.phone("b1", "1002", "127.0.0.4", "b")
    b2 = pbx.phone("b2", "1002", "127.0.0.5", "b")
    b3 = pbx.phone("b3", "1002", "127.0.0.7", "b")
    a.dial(uri("1002"))
    for p in (b1, b2, b3):
        p.wait_event("CALL_INCOMING", 10)
    b3.reject()                                      # one 486 while others ring ...
    b3.wait_closed(5)
    time.sleep(1.5)
    assert not a.has_event("CALL_CLOSED"), "... does not end the call"
    assert not [s for s in a.final_statuses() if s >= 300 and s != 407], a.final_statuses()
    b1.answer()
    a.wait_established(10)
    b2.wait_closed(5)                                # the other ringing phone is cancelled
    assert b2.received("CANCEL")
    assert not b2.has_event("CALL_ESTABLISHED")
    rec_b1 = wait_recording_seconds(b1, 2.5)
    assert_tone(rec_b1, A_HZ, A_PEAK + RMS, start=0.5)
    a.hangup()
    b1.wait_closed(5)
    c = pbx.cdr()
    assert c["disposition"] == "ANSWERED", c


# --------------------------------------------------------------------------- hold, RTP timeout

def test_hold_longer_than_rtp_timeout_survives_and_resume_brings_the_audio_back(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, rtp_timeout_s=RTP_TIMEOUT_S)
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a")
    b = pbx.pjphone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_confirmed(timeout=10)
    b.wait_event("MEDIA", 5, lambda e: e["dir"] == 3)
    time.sleep(1)
    a.hold()
    b.wait_event("MEDIA", 5, lambda e: e["dir"] != 3)            # vpbx passed the hold on
    assert b.remote_sdps()[-1].direction in ("sendonly", "inactive")
    time.sleep(RTP_TIMEOUT_S + 2)                                 # past rtp_timeout, on hold
    assert not a.events("CLOSED") and not b.events("CLOSED"), "a held call survives rtp_timeout"
    a.resume()
    b.wait_event("MEDIA", 5, lambda e: e["dir"] == 3)
    assert b.remote_sdps()[-1].direction == "sendrecv"
    time.sleep(2.5)
    a.hangup()
    a.wait_closed(timeout=5)
    b.wait_closed(timeout=5)
    a.stop()
    b.stop()
    assert_tone(b.recording("in1"), A_HZ, A_PEAK + RMS, start=-1.5)
    assert_tone(a.recording("c1"), B_HZ, B_PEAK + RMS, start=-1.5)
    pbx.assert_media_is_ours(a)
    pbx.assert_media_is_ours(b)
    assert pbx.cdr()["disposition"] == "ANSWERED"


def test_a_leg_whose_rtp_stops_ends_the_call_after_rtp_timeout(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, rtp_timeout_s=RTP_TIMEOUT_S)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    wait_recording_seconds(a, 1)
    t0 = time.monotonic()
    b.pause()                                        # SIGSTOP: B's RTP stops
    try:
        a.wait_closed(RTP_TIMEOUT_S + 6)
        took = time.monotonic() - t0
    finally:
        b.cont()
    assert RTP_TIMEOUT_S - 0.5 <= took <= RTP_TIMEOUT_S + 5, took
    assert a.received("BYE"), "vpbx ended the caller's leg with BYE"
    c = pbx.cdr()
    assert c["disposition"] == "ANSWERED" and c["hangup_by"] == "system", c
    assert c["hangup_reason"] == "rtp_timeout", c


# --------------------------------------------------------------------------- transfer

def test_blind_transfer_connects_the_caller_to_the_target(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    c = pbx.phone("c", "1003", "127.0.0.6", "c", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    time.sleep(1)
    b.transfer(uri("1003"))                          # REFER to vpbx
    c.wait_established(10)
    b.wait_closed(10)
    assert [m.status for m in b.received(method="REFER") if m.status][-1] in (200, 202)
    rec_c = wait_recording_seconds(c, 2.5)
    assert_tone(rec_c, A_HZ, A_PEAK + RMS, start=0.5)
    # A stays in its call (vpbx anchors the media; any re-INVITE to A is vpbx's choice, and
    # baresip's recorder stops at a re-INVITE, so A's side is checked by RTP arrival).
    assert not a.has_event("CALL_CLOSED")
    s1 = a.rx_seq()
    time.sleep(1)
    s2 = a.rx_seq()
    assert s1 is not None and s2 is not None and s2 > s1, (s1, s2)
    pbx.assert_media_is_ours(c, [a])
    a.hangup()
    c.wait_closed(5)
    recs = wait_cdr(vpbx, DOMAIN, 1)
    rec = next(r for r in recs if "1001" in r["caller"])
    assert "1003" in (rec["destination"] or ""), rec
    if "transfers" in rec:
        assert rec["transfers"] and rec["transfers"][0].get("kind") == "blind", rec


def test_the_blind_transfer_feature_code_hands_the_caller_to_the_dialled_extension(vpbx, reaper, tmp_path):
    """Seed 000's habit: during a call the callee dials ## and an extension (RFC 4733 digits);
    vpbx lets the callee go and rings the extension for the caller."""
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    c = pbx.phone("c", "1003", "127.0.0.6", "c", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    time.sleep(1)
    b.send_dtmf("##1003#")
    c.wait_established(10)
    b.wait_closed(10)
    rec_c = wait_recording_seconds(c, 2.5)
    assert_tone(rec_c, A_HZ, A_PEAK + RMS, start=0.5)
    assert not a.has_event("CALL_CLOSED")
    a.hangup()
    c.wait_closed(5)
    rec = next(r for r in wait_cdr(vpbx, DOMAIN, 1) if "1001" in r["caller"])
    assert "1003" in (rec["destination"] or ""), rec
    assert rec["transfers"] and rec["transfers"][0]["kind"] == "blind", rec


def test_the_attended_feature_code_consults_then_hands_the_caller_over(vpbx, reaper, tmp_path):
    """Seed 000's *2: the callee dials *2 and an extension; the caller waits on hold while the
    callee talks to the extension; when the callee hangs up the caller and the extension talk."""
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    c = pbx.phone("c", "1003", "127.0.0.6", "c", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    time.sleep(1)
    b.send_dtmf("*21003#")
    c.wait_established(10)
    time.sleep(1.5)
    assert not a.has_event("CALL_CLOSED") and not b.has_event("CALL_CLOSED")
    b.hangup()
    b.wait_closed(5)
    time.sleep(2.5)
    assert not a.has_event("CALL_CLOSED"), "the caller stays, now with 1003"
    s1 = a.rx_seq()
    time.sleep(1)
    s2 = a.rx_seq()
    assert s1 is not None and s2 is not None and s2 > s1, (s1, s2)
    a.hangup()
    c.wait_closed(5)
    assert_tone(c.last_recording(), A_HZ, A_PEAK + RMS, start=-2.0, end=-0.3)
    rec = next(r for r in wait_cdr(vpbx, DOMAIN, 1) if "1001" in r["caller"])
    assert "1003" in (rec["destination"] or ""), rec
    assert any(t["kind"] == "attended" for t in rec["transfers"]), rec


def test_attended_transfer_joins_the_caller_and_the_consulted_phone(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a")
    b = pbx.pjphone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    c = pbx.pjphone("c", "1003", "127.0.0.6", "c", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_confirmed(timeout=10)
    b.hold("in1")
    b.dial(uri("1003"), call="c1")
    b.wait_confirmed("c1", 10)
    b.transfer_attended("in1", "c1")                 # REFER with Replaces, to vpbx
    b.wait_closed("in1", 10)
    b.wait_closed("c1", 10)
    time.sleep(3)
    # A and C are in a call with each other, whichever dialogs vpbx kept.
    live_a, live_c = a.live_calls(), c.live_calls()
    assert live_a and live_c, (a.events(), c.events())
    a.hangup(live_a[-1])
    c.wait_event("CLOSED", 5, lambda e: e["call"] == live_c[-1])
    a.stop()
    c.stop()
    assert_tone(a.recording(live_a[-1]), C_HZ, C_PEAK + RMS, start=-1.5)
    assert_tone(c.recording(live_c[-1]), A_HZ, A_PEAK + RMS, start=-1.5)
    rec = next(r for r in cdrs(vpbx, DOMAIN) if "1001" in r["caller"])
    if "transfers" in rec:
        assert any(t.get("kind") == "attended" for t in rec["transfers"]), rec


# --------------------------------------------------------------------------- PRACK, session timers, DTMF

def test_prack_and_session_timers_are_honoured_for_a_phone_that_asks(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a", prack="mandatory", timer="always", session_expires=90)
    b = pbx.pjphone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_confirmed(timeout=10)
    provisional = [m for m in a.received(method="INVITE") if m.status and 100 < m.status < 200]
    assert provisional and all(m.header("rseq") for m in provisional), \
        "a caller that requires 100rel gets reliable provisionals"
    assert a.sent("PRACK"), "and acknowledges them with PRACK"
    assert all(m.status == 200 for m in a.received(method="PRACK") if m.status)
    ok = [m for m in a.received(status=200, method="INVITE")][-1]
    se = ok.header("session-expires") or ""
    assert se and int(se.split(";")[0]) >= 90 and "refresher=" in se, ok.headers
    time.sleep(2)
    a.hangup()
    b.wait_closed(timeout=5)
    a.stop()
    b.stop()
    assert_tone(b.recording("in1"), A_HZ, A_PEAK + RMS, start=0.5)


def test_dtmf_sent_as_rfc4733_and_as_sip_info_reaches_the_other_phone(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_confirmed(timeout=10)
    time.sleep(1)
    a.dtmf("12")                                     # RFC 4733
    time.sleep(1)
    a.dtmf("3", info=True)                           # SIP INFO -> RFC 4733 towards baresip
    wait_until(lambda: len(b.events("CALL_DTMF_START")) >= 3, 5)
    assert [e["param"] for e in b.events("CALL_DTMF_START")] == ["1", "2", "3"]
    a.hangup()
    b.wait_closed(5)


def test_a_contact_registered_at_vpbx_own_address_is_not_rung_so_no_loop(vpbx, reaper, tmp_path, hosts):
    """A phone (or an attacker) registering vpbx's own SIP address as its contact would make
    every call to that user loop back into vpbx: the contact is skipped and the caller gets
    480 (unavailable) at once."""
    pbx = Pbx(vpbx, tmp_path, reaper)
    r = sipsak_register(DOMAIN, vpbx.sip_port, "1002", SECRETS["1002"],
                        contact=f"sip:1002@127.0.0.1:{vpbx.sip_port}", expires=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1002"))
    assert wait_until(lambda: 480 in a.final_statuses(), 5), a.final_statuses()
    c = pbx.cdr()
    assert c["disposition"] == "FAILED" and c["hangup_reason"] == "unavailable", c
