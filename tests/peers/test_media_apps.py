"""Issue 4 proofs with real phones on loopback: a voice menu answered by vpbx plays its prompt
(checked by energy and duration against the prompt file), a digit sent as RFC 4733 lands on the
destination the menu names, music on hold reaches a held party, and a voicemail left by a
caller arrives by e-mail at a real SMTP server (aiosmtpd) with a WAV of the right length.
"""

import email
import json
import subprocess
import sys
import time
from pathlib import Path

from calls import (add_media_config, analyze, assert_tone, make_tone_wav, read_wav, rms_dbfs,
                   wait_recording_seconds)
from peers import free_port, wait_until
from test_calls_vpbx import A_HZ, A_PEAK, B_HZ, B_PEAK, C_HZ, C_PEAK, DOMAIN, RMS, SECRETS, Pbx, uri

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPT = "demo-congrats"          # 30.3 s of speech: long enough to hear, cut short by a digit


def prompt_seconds(name: str) -> float:
    samples, rate = read_wav(SOUNDS / f"{name}.wav")
    return len(samples) / rate


def active_seconds(path: Path, start: float = 0.0) -> float:
    """Seconds of 20 ms frames louder than -45 dBFS in a recording."""
    samples, rate = read_wav(path)
    frame = rate // 50
    samples = samples[int(start * rate):]
    return sum(1 for i in range(0, len(samples) - frame + 1, frame)
               if rms_dbfs(samples[i:i + frame]) > -45.0) / 50


def tenant_with(pbx_users: list[dict], extra_yaml: str) -> str:
    out = [f"domain: {json.dumps(DOMAIN)}", 'language: "en"', 'country: "US"', "users:"]
    for u in pbx_users:
        out.append(f"  - ext: {json.dumps(u['ext'])}")
        for k, v in u.items():
            if k != "ext":
                out.append(f"    {k}: {json.dumps(v)}")
    return "\n".join(out) + "\n" + extra_yaml


def users(**extra) -> list[dict]:
    out = []
    for ext, secret in SECRETS.items():
        u = {"ext": ext, "name": f"User {ext}", "secret": secret}
        u.update(extra.get(ext, {}))
        out.append(u)
    return out


def apply_live(vpbx, tmp_path: Path, yaml: str) -> None:
    """`vpbx tenant apply` on the running server, then a poll interval for it to take effect."""
    f = tmp_path / f"tenant-{len(list(tmp_path.glob('tenant-*.yaml')))}.yaml"
    f.write_text(yaml)
    vpbx.cli("tenant", "apply", str(f))
    time.sleep(1.0)  # the server polls the configuration


def menu_yaml(options: dict[str, str], on_invalid: str | None = None) -> str:
    """The tenant with menu `main` on 5000: the 30 s prompt, 10 s for a digit, then hang up."""
    lines = ["ivrs:", "  - name: main", '    ext: "5000"', f"    prompts: [{PROMPT}]",
             "    digit_timeout: 10", f"    options: {json.dumps(options)}"]
    if on_invalid:
        lines.append(f"    on_invalid: {json.dumps(on_invalid)}")
    lines.append("    on_timeout: hangup")
    return tenant_with(users(), "\n".join(lines) + "\n")


def test_a_voice_menu_plays_its_prompt_and_a_digit_reaches_the_user_it_names(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    apply_live(vpbx, tmp_path, menu_yaml({"1": "user:1002"}))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("5000"))
    a.wait_established(10)
    rec = wait_recording_seconds(a, 6.0, timeout=15)
    # The prompt's speech arrives: most of the first 6 s is sound, and its level is speech-like.
    assert active_seconds(rec) >= 4.0, f"only {active_seconds(rec):.1f} s of sound from the menu"
    _, level = analyze(rec, start=0.5, end=6.0)
    assert -40.0 < level < -5.0, f"prompt level {level:.1f} dBFS"
    a.send_dtmf("1")
    b.wait_established(15)
    rec_a = wait_recording_seconds(a, 12.0, timeout=20)
    a.hangup()
    a.wait_closed(5)
    b.wait_closed(5)
    # After the digit: the user's 1 kHz, not the rest of the 30 s prompt.
    assert_tone(rec_a, B_HZ, B_PEAK + RMS, start=-2.5)
    assert prompt_seconds(PROMPT) > 20


def test_a_menu_without_an_answer_times_out_to_its_destination(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    yaml = tenant_with(users(), """ivrs:
  - name: short
    ext: "5001"
    prompts: [vm-goodbye]
    digit_timeout: 2
    repeat: 1
    options: {"1": "user:1003"}
    on_timeout: "user:1002"
""")
    apply_live(vpbx, tmp_path, yaml)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("5001"))
    a.wait_established(10)
    # Two passes of a 0.9 s prompt, each followed by 2 s of waiting, then the user.
    b.wait_established(15)
    rec = wait_recording_seconds(a, 10.0, timeout=20)
    a.hangup()
    a.wait_closed(5)
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=-2.5)


def test_a_held_party_hears_music_on_hold(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    # pjsua2 keeps recording what it receives while held (baresip stops its player).
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_confirmed(timeout=10)
    b.wait_established(10)
    time.sleep(3.0)
    b.hold()
    time.sleep(6.0)
    a.hangup()
    b.wait_closed(5)
    a.stop()
    rec = a.recording("c1")
    # Before the hold a hears b's 1 kHz; while held, music (broadband, not 1 kHz), not silence.
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=0.5, end=2.5)
    freq, level = analyze(rec, start=-4.0)
    assert level > -50.0, f"held party hears silence ({level:.1f} dBFS)"
    assert abs(freq - B_HZ) > 30, f"held party still hears the other phone's {freq:.0f} Hz"


class Smtp:
    """aiosmtpd writing each received mail into a Maildir-like directory."""

    def __init__(self, tmp: Path, reaper, port: int) -> None:
        self.dir = tmp / "mail"
        for sub in ("tmp", "new", "cur"):          # a Maildir
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = port
        self.reaper = reaper
        self.proc = None

    def start(self) -> "Smtp":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.reaper.procs.append(self.proc)
        wait_until(lambda: self._listening(), 10)
        return self

    def _listening(self) -> bool:
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)

    def mails(self) -> list[email.message.Message]:
        out = []
        for sub in ("new", "cur"):
            for f in sorted((self.dir / sub).glob("*")) if (self.dir / sub).exists() else []:
                out.append(email.message_from_bytes(f.read_bytes()))
        return out


def test_a_voicemail_arrives_by_e_mail_even_when_the_mail_server_was_down(vpbx, reaper, tmp_path):
    smtp_port = free_port()
    smtp = Smtp(tmp_path, reaper, smtp_port)   # not started yet: the server is "down"
    with open(vpbx.config, "a") as f:
        f.write(f'\n[smtp]\nurl = "smtp://127.0.0.1:{smtp_port}"\nfrom = "pbx@vpbx.test"\nretry_initial_s = 1\n')
    pbx = Pbx(vpbx, tmp_path, reaper)
    vm = {"1003": {"email": "u1003@example.test", "pin": "4321",
                   "voicemail": {"enabled": True, "delete_after_email": True, "format": "wav",
                                 "max_message_s": 6},
                   "on_unavailable": "voicemail:1003"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), ""))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))                          # 1003 has no phone registered
    a.wait_established(10)
    # The greeting, the beep, 6 s of a's 440 Hz (max_message_s), "saved, goodbye": vpbx hangs up.
    a.wait_closed(30)
    mailbox = Path(vpbx.data) / "tenants" / DOMAIN / "voicemail" / "1003" / "INBOX"
    wait_until(lambda: mailbox.exists() and any(mailbox.iterdir()), 10)
    stored = list(mailbox.iterdir())
    assert len(stored) == 1, stored
    time.sleep(2.0)
    assert not smtp.mails(), "no mail server yet"
    assert any(mailbox.iterdir()), "the message waits while the mail server is down"
    smtp.start()
    wait_until(lambda: smtp.mails(), 30)
    mails = smtp.mails()
    assert len(mails) == 1, mails
    m = mails[0]
    assert m["To"] == "u1003@example.test", m["To"]
    wavs = [p for p in m.walk() if p.get_content_type() == "audio/wav"]
    assert len(wavs) == 1, [p.get_content_type() for p in m.walk()]
    data = wavs[0].get_payload(decode=True)
    out = tmp_path / "vm.wav"
    out.write_bytes(data)
    samples, rate = read_wav(out)
    seconds = len(samples) / rate
    assert 4.0 <= seconds <= 20.0, f"message of {seconds:.1f} s"
    assert_tone(out, A_HZ, A_PEAK + RMS, start=0.5, end=-0.5, db_tol=6.0)
    # delete_after_email: the message is gone once the mail was accepted.
    wait_until(lambda: not any(mailbox.iterdir()), 10)
    smtp.stop()


def test_a_digit_sent_as_sip_info_chooses_in_the_menu(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    apply_live(vpbx, tmp_path, menu_yaml({"2": "user:1002"}))
    # pjsua2 sends SIP INFO (application/dtmf-relay); baresip 1.0.0 cannot.
    a = pbx.pjphone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("5000"))
    a.wait_confirmed(timeout=10)
    time.sleep(2.0)
    a.dtmf("2", info=True)
    b.wait_established(15)
    time.sleep(3.0)
    a.hangup()
    b.wait_closed(5)
    a.stop()
    rec = a.recording("c1")
    # First the prompt's speech, then the user's 1 kHz.
    assert active_seconds(rec) >= 3.0
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=-2.0)


def dtmf_wav(path: Path, key_hz: tuple[float, float], at: float, seconds: float,
             rate: int = 8000) -> Path:
    """A WAV that is silent except for one 150 ms DTMF key (two tones at -10 dBFS each) at `at`
    (8 kHz unless `rate` says otherwise: a G.722 baresip needs 16 kHz)."""
    import math
    import struct
    import wave
    n = int(seconds * rate)
    amp = 32767 * 10 ** (-10 / 20)
    start, stop = int(at * rate), int((at + 0.15) * rate)
    frames = bytearray()
    for i in range(n):
        v = 0.0
        if start <= i < stop:
            t = i / rate
            v = amp * (math.sin(2 * math.pi * key_hz[0] * t) + math.sin(2 * math.pi * key_hz[1] * t))
        frames += struct.pack("<h", int(v))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def test_an_inband_dtmf_tone_chooses_in_the_menu(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    apply_live(vpbx, tmp_path, menu_yaml({"1": "user:1002"}))
    # The caller's microphone is a file: silence, the key "1" (697 + 1209 Hz) at 4 s, silence.
    pbx.wavs["dtmf"] = dtmf_wav(tmp_path / "dtmf1.wav", (697.0, 1209.0), 4.0, 40.0)
    a = pbx.phone("a", "1001", "127.0.0.3", "dtmf")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("5000"))
    a.wait_established(10)
    b.wait_established(20)
    rec = wait_recording_seconds(a, 9.0, timeout=20)
    a.hangup()
    a.wait_closed(5)
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=-2.0)


def test_a_g722_caller_hears_the_menu_and_its_inband_digit_reaches_a_g711_user(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, codecs=["G722", "PCMA", "PCMU"])
    apply_live(vpbx, tmp_path, menu_yaml({"1": "user:1002"}))
    # A G.722 phone whose microphone sends the key "1" (697 + 1209 Hz) at 2.5 s, in G.722.
    pbx.wavs["dtmf16"] = dtmf_wav(tmp_path / "dtmf1-16k.wav", (697.0, 1209.0), 2.5, 40.0,
                                  rate=16000)
    a = pbx.phone("a", "1001", "127.0.0.3", "dtmf16", codecs="G722/16000/1")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", codecs="PCMU", auto_answer=True)
    a.dial(uri("5000"))
    a.wait_established(10)
    assert a.remote_sdps()[-1].codecs[0] == "G722", "the menu answered in G.722"
    b.wait_established(15)
    rec = wait_recording_seconds(a, 6.0, timeout=15)
    a.hangup()
    a.wait_closed(5)
    assert read_wav(rec)[1] == 16000
    # The menu's prompt (upsampled to 16 kHz) before the key, the G.711 user's 1 kHz after.
    _, level = analyze(rec, start=0.3, end=2.4)
    assert -40.0 < level < -5.0, f"prompt level {level:.1f} dBFS"
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=-1.5, db_tol=1.0)


def test_a_schedule_sends_calls_to_the_day_or_the_night_destination_by_the_time_now(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    yaml = tenant_with(users(), f"""ivrs:
  - name: pick
    ext: "5000"
    prompts: [vm-goodbye]
    digit_timeout: 10
    options: {{"1": "schedule:open-now", "2": "schedule:closed-today"}}
    on_timeout: hangup
schedules:
  - name: open-now
    timezone: UTC
    weekly: {{mon-sun: "00:00-24:00"}}
    in_hours: "user:1002"
    after_hours: "user:1003"
  - name: closed-today
    timezone: UTC
    weekly: {{mon-sun: "00:00-24:00"}}
    closed: ["{today}"]
    in_hours: "user:1002"
    after_hours: "user:1003"
""")
    apply_live(vpbx, tmp_path, yaml)
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    c = pbx.phone("c", "1003", "127.0.0.5", "c", auto_answer=True)
    for key, answering, hz, peak in (("1", b, B_HZ, B_PEAK), ("2", c, 2000, -9.0)):
        a.dial(uri("5000"))
        a.wait_established(10)
        time.sleep(1.5)
        a.send_dtmf(key)
        answering.wait_established(15)
        time.sleep(3.0)
        rec = a.last_recording()
        a.hangup()
        a.wait_closed(5)
        answering.wait_closed(5)
        assert_tone(rec, hz, peak + RMS, start=-2.0)
        time.sleep(1.0)


def test_an_invalid_choice_goes_to_on_invalid(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    apply_live(vpbx, tmp_path, menu_yaml({"1": "user:1003"}, on_invalid="user:1002"))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("5000"))
    a.wait_established(10)
    time.sleep(1.5)
    a.send_dtmf("7")
    # "That is not a valid option", then the on_invalid destination.
    b.wait_established(15)
    rec = wait_recording_seconds(a, 8.0, timeout=20)
    a.hangup()
    a.wait_closed(5)
    assert_tone(rec, B_HZ, B_PEAK + RMS, start=-2.0)


def test_a_wav49_voicemail_is_mailed_as_gsm_and_kept_without_delete_after_email(vpbx, reaper, tmp_path):
    smtp_port = free_port()
    smtp = Smtp(tmp_path, reaper, smtp_port).start()
    with open(vpbx.config, "a") as f:
        f.write(f'\n[smtp]\nurl = "smtp://127.0.0.1:{smtp_port}"\nfrom = "pbx@vpbx.test"\nretry_initial_s = 1\n')
    pbx = Pbx(vpbx, tmp_path, reaper)
    vm = {"1003": {"email": "u1003@example.test",
                   "voicemail": {"enabled": True, "delete_after_email": False, "format": "wav49",
                                 "max_message_s": 6},
                   "on_unavailable": "voicemail:1003"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), ""))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))
    a.wait_established(10)
    # The greeting, the beep, 6 s of a's 440 Hz (max_message_s), "saved, goodbye": vpbx hangs up.
    a.wait_closed(30)
    wait_until(lambda: smtp.mails(), 30)
    m = smtp.mails()[0]
    assert "1001" in m["Subject"], m["Subject"]
    wavs = [p for p in m.walk() if p.get_content_type() == "audio/wav"]
    assert len(wavs) == 1
    gsm = tmp_path / "vm49.wav"
    gsm.write_bytes(wavs[0].get_payload(decode=True))
    info = subprocess.run(["sox", "--i", str(gsm)], capture_output=True, text=True).stdout
    assert "GSM" in info and "8000" in info, info
    pcm = tmp_path / "vm49-pcm.wav"
    subprocess.run(["sox", str(gsm), "-b", "16", "-e", "signed-integer", str(pcm)], check=True)
    samples, rate = read_wav(pcm)
    assert 4.0 <= len(samples) / rate <= 20.0, len(samples) / rate
    assert_tone(pcm, A_HZ, A_PEAK + RMS, start=0.5, end=-0.5, db_tol=6.0)
    # Kept in the mailbox (delete_after_email is off).
    inbox = Path(vpbx.data) / "tenants" / DOMAIN / "voicemail" / "1003" / "INBOX"
    assert len(list(inbox.iterdir())) == 1
    smtp.stop()


def test_a_user_listens_to_a_voicemail_by_phone_with_the_service_code_and_pin(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    vm = {"1003": {"pin": "4321", "voicemail": {"enabled": True, "delete_after_email": False, "format": "wav",
                                             "max_message_s": 6},
                   "on_unavailable": "voicemail:1003"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), ""))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))                          # 1003 not registered yet: voicemail
    a.wait_established(10)
    # The greeting, the beep, 6 s of a's 440 Hz (max_message_s), "saved, goodbye": vpbx hangs up.
    a.wait_closed(30)
    inbox = Path(vpbx.data) / "tenants" / DOMAIN / "voicemail" / "1003" / "INBOX"
    wait_until(lambda: inbox.exists() and any(inbox.iterdir()), 10)
    # 1003's phone (2 kHz microphone) dials *97, gives the PIN, presses 1 to listen.
    c = pbx.phone("c", "1003", "127.0.0.5", "c")
    c.dial(uri("*97"))
    c.wait_established(10)
    time.sleep(2.0)
    c.send_dtmf("4321#")
    time.sleep(5.0)
    c.send_dtmf("1")
    time.sleep(6.0)
    rec = c.last_recording()
    c.hangup()
    c.wait_closed(5)
    # The message (a's 440 Hz) is heard.
    assert_tone(rec, A_HZ, A_PEAK + RMS, start=-5.0, end=-1.0, db_tol=6.0)
    # Listened to: it moved to Old.
    old = Path(vpbx.data) / "tenants" / DOMAIN / "voicemail" / "1003" / "Old"
    wait_until(lambda: old.exists() and any(old.iterdir()), 5)


def test_a_busy_users_voicemail_plays_the_busy_greeting_they_uploaded(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    # The user's own busy greeting: 3 s of 1.5 kHz (their unavailable one stays the system's).
    greeting = make_tone_wav(tmp_path / "busy-greeting.wav", 1500, 3, -10.0)
    vpbx.cli("prompt", "add", DOMAIN, "bob-busy", str(greeting))
    vm = {"1002": {"voicemail": {"enabled": True, "busy_greeting": "bob-busy", "max_message_s": 5},
                   "on_busy": "voicemail:1002", "on_unavailable": "voicemail:1002"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), ""))
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    b = pbx.phone("b", "1002", "127.0.0.4", "b")
    a.dial(uri("1002"))
    b.wait_event("CALL_INCOMING", 10)
    b.reject()                                   # 486: busy, so on_busy and the busy greeting
    a.wait_established(10)
    rec = wait_recording_seconds(a, 3.0, timeout=10)
    a.hangup()
    a.wait_closed(5)
    assert_tone(rec, 1500, -10.0 + RMS, start=0.3, end=2.7, db_tol=6.0)


def test_a_user_records_their_greeting_by_phone_and_callers_hear_it(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    vm = {"1003": {"pin": "4321", "ring_timeout": 3, "voicemail": {"enabled": True, "max_message_s": 5},
                   "on_unavailable": "voicemail:1003", "on_no_answer": "voicemail:1003"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), ""))
    # 1003's phone (its microphone: 2 kHz) opens the mailbox, 0 = options, 1 = unavailable greeting.
    c = pbx.phone("c", "1003", "127.0.0.5", "c")
    c.dial(uri("*97"))
    c.wait_established(10)
    time.sleep(2.0)
    c.send_dtmf("4321#")
    time.sleep(3.0)
    c.send_dtmf("0")
    time.sleep(1.5)
    c.send_dtmf("1")                             # "after the tone, say your unavailable message…" 5.4 s
    time.sleep(10.0)                             # then the beep and about 4 s of 2 kHz
    c.send_dtmf("#")
    greeting = vpbx.data / "tenants" / DOMAIN / "greetings" / "1003" / "unavailable.wav"
    assert wait_until(greeting.exists, 10), "the greeting was not stored"
    c.hangup()
    c.wait_closed(5)
    c.stop()
    # A caller reaching 1003's voicemail hears that greeting (2 kHz), not the system one.
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))
    a.wait_established(15)
    rec = wait_recording_seconds(a, 3.5, timeout=10)
    a.hangup()
    a.wait_closed(5)
    assert_tone(rec, C_HZ, C_PEAK + RMS, start=0.5, end=3.0, db_tol=6.0)
