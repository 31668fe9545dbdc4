"""The call harness proven on direct calls between real phones (no vpbx): if these pass, a
failing test_calls_vpbx.py points at vpbx, not at calls.py."""

import time

import pytest

from calls import Phone, analyze, assert_tone, make_tone_wav, wait_recording_seconds

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


def test_direct_call_hold_and_resume_stop_and_restart_the_audio(tmp_path, reaper, tones):
    a, b = pair(tmp_path, reaper, tones)
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    wait_recording_seconds(b, 2)
    a.hold()
    time.sleep(1.5)
    offers = [s.direction for s in b.remote_sdps()]
    assert offers[-1] == "sendonly", offers
    held_len = analyze_len(b)
    time.sleep(2)
    grown_on_hold = analyze_len(b) - held_len
    a.resume()
    time.sleep(0.5)
    assert [s.direction for s in b.remote_sdps()][-1] == "sendrecv"
    resumed_at = analyze_len(b)
    time.sleep(2.5)
    assert not a.has_event("CALL_CLOSED") and not b.has_event("CALL_CLOSED")
    rec_b = b.last_recording()
    assert grown_on_hold < 0.5, f"B kept receiving audio on hold ({grown_on_hold:.1f}s)"
    assert analyze_len(b) - resumed_at > 1.5, "audio did not come back after resume"
    assert_tone(rec_b, A_HZ, A_PEAK + RMS, start=-1.5)
    a.hangup()
    b.wait_closed(5)


def analyze_len(phone) -> float:
    from calls import wav_seconds
    return wav_seconds(phone.last_recording())


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
