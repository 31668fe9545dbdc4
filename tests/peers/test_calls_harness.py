"""The call harness proven on direct calls between real phones (no vpbx): if these pass, a
failing test_calls_vpbx.py points at vpbx, not at calls.py."""

import time

import pytest

from calls import PjPhone, Phone, analyze, assert_tone, make_tone_wav, wait_recording_seconds
from peers import wait_until

# pjmedia_dir values in pjsua2 MEDIA events
PJ_DIR_ENCODING, PJ_DIR_DECODING, PJ_DIR_BOTH = 1, 2, 3

# Two tones 6 dB apart in level so that a swapped recording cannot pass the level check either.
A_HZ, A_PEAK = 440, -6.0
B_HZ, B_PEAK = 1000, -12.0
RMS = -3.0103          # RMS of a sine relative to its peak, in dB
import os
IP_A = os.environ.get("IPA", "127.0.0.3")
IP_B = os.environ.get("IPB", "127.0.0.4")


@pytest.fixture
def tones(tmp_path):
    return (make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, A_PEAK),
            make_tone_wav(tmp_path / "b1k.wav", B_HZ, 40, B_PEAK))


def pair(tmp_path, reaper, tones, codecs_a="PCMU", codecs_b="PCMU", auto=True):
    a = Phone(tmp_path, reaper, "a", ip=IP_A, wav=tones[0], codecs=codecs_a).start()
    b = Phone(tmp_path, reaper, "b", ip=IP_B, wav=tones[1], codecs=codecs_b,
              auto_answer=auto).start()
    return a, b


def test_the_analysis_finds_a_tone_and_its_level_and_reports_silence(tmp_path):
    for hz, peak in ((440, -6.0), (1000, -20.0), (2600, -3.0)):
        f, lvl = analyze(make_tone_wav(tmp_path / f"t{hz}.wav", hz, 1.5, peak))
        assert abs(f - hz) < 2, (hz, f)
        assert abs(lvl - (peak + RMS)) < 0.3, (peak, lvl)
    f, lvl = analyze(make_tone_wav(tmp_path / "quiet.wav", 440, 1, -90))
    assert (f, lvl) == (0.0, -120.0)


def test_direct_call_carries_each_tone_to_the_other_side_and_both_see_the_hangup(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones)
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    b.wait_event("CALL_ESTABLISHED", 10)
    rec_a = wait_recording_seconds(a, 3)
    rec_b = wait_recording_seconds(b, 3)
    a.hangup()
    assert "reset by user" in a.wait_closed(5)
    b.wait_closed(5)
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=0.5)
    # The SDP each phone saw is the other's media address (with vpbx it must be vpbx's).
    assert a.remote_media() == {("127.0.0.4", p) for p in b.local_sdp_ports()}
    assert b.remote_media() == {("127.0.0.3", p) for p in a.local_sdp_ports()}
    assert a.final_statuses() == [200]


def test_direct_call_pcma_only_on_both_sides_carries_audio_in_pcma(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones, codecs_a="PCMA", codecs_b="PCMA")
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    rec_b = wait_recording_seconds(b, 3)
    rec_a = wait_recording_seconds(a, 3)
    a.hangup()
    b.wait_closed(5)
    assert [s.codecs[0] for s in b.remote_sdps()] == ["PCMA"]
    assert [s.codecs[0] for s in a.remote_sdps()] == ["PCMA"]
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=0.5)
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=0.5)


def test_direct_call_pcma_only_to_pcmu_only_fails_so_the_restriction_is_real(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones, codecs_a="PCMA", codecs_b="PCMU")
    a.dial(b.uri)
    reason = a.wait_closed(10)
    assert a.final_statuses() == [488], (reason, a.final_statuses())
    assert not a.has_event("CALL_ESTABLISHED")


def test_direct_call_rejected_by_the_callee_gives_the_caller_486(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones, auto=False)
    a.dial(b.uri)
    b.wait_event("CALL_INCOMING", 10)
    a.wait_event("CALL_RINGING", 5)
    b.reject()
    assert "486" in a.wait_closed(5)
    assert a.final_statuses() == [486]


def test_direct_call_cancelled_before_answer_gives_the_caller_487_and_closes_the_callee(
        tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones, auto=False)
    a.dial(b.uri)
    b.wait_event("CALL_INCOMING", 10)
    a.wait_event("CALL_RINGING", 5)
    a.hangup()
    b.wait_closed(5)
    a.wait_closed(5)
    assert b.received("CANCEL"), "the callee got a CANCEL"
    assert time.sleep(0.5) or a.final_statuses() == [487]
    assert not b.recordings() or analyze(b.last_recording())[1] == -120.0


def test_direct_call_hold_and_resume_with_baresip_keeps_the_call_and_the_rtp(tmp_path, reaper, tones):
    """baresip 1.0.0 holds with a=sendonly and resumes with a=sendrecv. Its sndfile recorder
    drops out of the receive pipeline at the first re-INVITE (a baresip bug), so audio content
    across hold is checked with pjsua2 (next test); here RTP arrival is read from audio_debug."""
    a, b = pair(tmp_path, reaper, tones)
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    wait_recording_seconds(b, 1)
    a.hold()
    wait_until(lambda: len(b.remote_sdps()) >= 2 and len(a.remote_sdps()) >= 2, 5)
    assert b.remote_sdps()[-1].direction == "sendonly"
    assert a.remote_sdps()[-1].direction == "recvonly"
    time.sleep(1)
    a.resume()
    wait_until(lambda: len(b.remote_sdps()) >= 3 and len(a.remote_sdps()) >= 3, 5)
    assert b.remote_sdps()[-1].direction == "sendrecv"
    s1 = b.rx_seq()
    time.sleep(1.5)
    s2 = b.rx_seq()
    assert s1 is not None and s2 is not None and s2 - s1 >= 50, (s1, s2)   # 50 packets/s
    assert not a.has_event("CALL_CLOSED") and not b.has_event("CALL_CLOSED")
    a.hangup()
    b.wait_closed(5)


def test_direct_pjsua_hold_and_resume_keeps_the_call_and_the_audio(tmp_path, reaper, tones):
    a = PjPhone(tmp_path, reaper, "a", ip=IP_A, wav=tones[0]).start()
    b = PjPhone(tmp_path, reaper, "b", ip=IP_B, wav=tones[1], auto_answer=True).start()
    a.dial(b.uri)
    a.wait_confirmed(timeout=10)
    b.wait_event("MEDIA", 5, lambda e: e["dir"] == PJ_DIR_BOTH)          # the call's own media
    time.sleep(1.5)
    a.hold()
    b.wait_event("MEDIA", 5, lambda e: e["dir"] == PJ_DIR_DECODING)      # remote hold
    assert b.remote_sdps()[-1].direction == "sendonly"
    time.sleep(1)
    a.resume()
    b.wait_event("MEDIA", 5, lambda e: e["dir"] == PJ_DIR_BOTH)
    assert b.remote_sdps()[-1].direction == "sendrecv"
    time.sleep(2)
    a.hangup()
    a.wait_closed(timeout=5)
    b.wait_closed(timeout=5)
    a.stop()
    b.stop()
    assert_tone(b.recording("in1"), A_HZ, A_PEAK + RMS, start=-1.5)
    assert_tone(a.recording("c1"), B_HZ, B_PEAK + RMS, start=-1.5)


def test_direct_pjsua_prack_and_session_timer_are_negotiated(tmp_path, reaper, tones):
    a = PjPhone(tmp_path, reaper, "a", ip=IP_A, wav=tones[0], prack="mandatory", timer="always",
                session_expires=90).start()
    b = PjPhone(tmp_path, reaper, "b", ip=IP_B, wav=tones[1], auto_answer=True, prack="optional",
                timer="optional").start()
    a.dial(b.uri)
    a.wait_confirmed(timeout=10)
    inv = b.received("INVITE")[0]
    assert "100rel" in (inv.header("require") or ""), inv.headers
    assert inv.header("session-expires").split(";")[0] == "90"
    ringing = [m for m in a.received(status=180)]
    assert ringing and ringing[0].header("rseq"), "the 180 is reliable (RSeq)"
    assert a.sent("PRACK"), "A acknowledged it with PRACK"
    ok = a.received(status=200, method="INVITE")[0]
    assert ok.header("session-expires").startswith("90;refresher="), ok.headers
    a.hangup()
    b.wait_closed(timeout=5)


def test_direct_pjsua_attended_transfer_replaces_the_consultation_call(tmp_path, reaper, tones):
    """A talks to B; B consults C; B transfers A to C with REFER + Replaces; A and C end up
    in a call and hear each other; B's calls end."""
    c_wav = make_tone_wav(tmp_path / "c2k.wav", 2000, 40, -6)
    a = PjPhone(tmp_path, reaper, "a", ip=IP_A, wav=tones[0]).start()
    b = PjPhone(tmp_path, reaper, "b", ip=IP_B, wav=tones[1], auto_answer=True).start()
    c = PjPhone(tmp_path, reaper, "c", ip="127.0.0.6", wav=c_wav, auto_answer=True).start()
    a.dial(b.uri)
    a.wait_confirmed(timeout=10)
    b.hold("in1")
    b.dial(c.uri, call="c1")
    b.wait_confirmed("c1", 10)
    b.transfer_attended("in1", "c1")
    refer = a.wait_event("REFER", 10)
    assert "Replaces" in refer["to"] or "Replaces" in a.received("REFER")[0].header("refer-to")
    c.wait_event("REPLACED", 10)
    a.wait_event("STATE", 10, lambda e: e["call"] == refer["new"] and e["state"] == "CONFIRMED")
    b.wait_closed("in1", 10)
    b.wait_closed("c1", 10)
    time.sleep(2)
    a.hangup(refer["new"])
    c.wait_closed("repl1", 5)
    a.stop()
    c.stop()
    assert_tone(c.recording("repl1"), A_HZ, A_PEAK + RMS, start=0.3)
    assert_tone(a.recording(refer["new"]), 2000, -6 + RMS, start=0.3)


def test_direct_blind_transfer_connects_the_transferee_to_the_target(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones)
    c_wav = make_tone_wav(tmp_path / "c2k.wav", 2000, 40, -6)
    c = Phone(tmp_path, reaper, "c", ip="127.0.0.6", wav=c_wav, auto_answer=True).start()
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    b.transfer(c.uri)                  # B sends REFER to A; A calls C
    c.wait_event("CALL_ESTABLISHED", 10)
    assert b.sent("REFER"), "B sent a REFER"
    assert a.received("REFER")[0].header("refer-to").strip("<>").startswith(c.uri)
    b.wait_closed(10)                  # the transferor leaves once the transfer succeeded
    rec_c = wait_recording_seconds(c, 2.5)
    assert_tone(rec_c, A_HZ, A_PEAK + RMS, start=0.5)
    a.hangup()
    c.wait_closed(5)
