"""Issue 4 proof of call recording with real phones on loopback: two baresip phones sending
440 Hz and 1 kHz talk through vpbx with recording on; the stereo WAV linked from the call record
carries each phone on its own channel; `recording_download` gates the HTTP download; a tenant
with no storage left gets no recording and no voicemail, and its calls go on.
"""

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from calls import assert_tone, make_tone_wav, wait_cdr
from peers import wait_until
from test_calls_vpbx import A_HZ, A_PEAK, B_HZ, B_PEAK, DOMAIN, RMS, Pbx, uri
from test_media_apps import apply_live, tenant_with, users

TALK_S = 4.0


def talk(pbx, seconds: float = TALK_S, a_tone: str = "a", a_codecs: str = "PCMU") -> None:
    a = pbx.phone("a", "1001", "127.0.0.3", a_tone, codecs=a_codecs)
    b = pbx.phone("b", "1002", "127.0.0.4", "b", auto_answer=True)
    a.dial(uri("1002"))
    a.wait_established(10)
    b.wait_established(10)
    time.sleep(seconds)
    a.hangup()
    a.wait_closed(5)
    b.wait_closed(5)
    a.stop()
    b.stop()


def channel(wav: Path, n: int) -> Path:
    out = wav.with_name(f"{wav.stem}-ch{n}.wav")
    subprocess.run(["sox", str(wav), str(out), "remix", str(n)], check=True, capture_output=True)
    return out


def download(vpbx, rel: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{vpbx.http_port}/api/v1/recordings/{DOMAIN}/{rel}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric(vpbx, name: str) -> int:
    for line in (vpbx.metrics() or "").splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return -1


def test_a_recorded_call_has_each_phone_on_its_own_channel_and_its_record_links_it(vpbx, reaper, tmp_path):
    # The callee records calls (users[].recording: true); the tenant option stays off.
    pbx = Pbx(vpbx, tmp_path, reaper, user_extra={"1002": {"recording": True}})
    talk(pbx)
    cdr = wait_cdr(vpbx, DOMAIN)[0]
    rel = cdr["recording"]
    assert rel and rel.startswith("recordings/") and rel.endswith(".wav"), cdr
    wav = vpbx.data / "tenants" / DOMAIN / rel
    assert wait_until(wav.exists, 5), f"{wav} not published"
    info = subprocess.run(["soxi", str(wav)], capture_output=True, text=True, check=True).stdout
    assert "Channels       : 2" in info and "Sample Rate    : 8000" in info, info
    seconds = float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True).stdout)
    assert abs(seconds - TALK_S) < 1.5, f"{seconds:.2f} s recorded of a {TALK_S} s call"
    # Left: the caller's 440 Hz only; right: the callee's 1 kHz only.
    assert_tone(channel(wav, 1), A_HZ, A_PEAK + RMS, start=0.5, end=-0.5)
    assert_tone(channel(wav, 2), B_HZ, B_PEAK + RMS, start=0.5, end=-0.5)

    # recording_download is off by default: the tenant cannot take the file away.
    status, body = download(vpbx, rel)
    assert status == 403 and b"recording_download" in body, (status, body)
    apply_live(vpbx, tmp_path, tenant_with(users(**{"1002": {"recording": True}}),
                                           "options: {recording_download: true}\n"))
    status, body = download(vpbx, rel)
    assert status == 200 and body == wav.read_bytes(), (status, len(body))
    assert download(vpbx, "recordings/../vpbx.db")[0] in (400, 404)


def test_a_g722_caller_is_recorded_at_8khz_on_its_channel_beside_a_pcmu_callee(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, codecs=["G722", "PCMA", "PCMU"],
              user_extra={"1002": {"recording": True}})
    pbx.wavs["a16"] = make_tone_wav(tmp_path / "a440-16k.wav", A_HZ, 40, A_PEAK, rate=16000)
    talk(pbx, seconds=3.0, a_tone="a16", a_codecs="G722/16000/1")
    rel = wait_cdr(vpbx, DOMAIN)[0]["recording"]
    wav = vpbx.data / "tenants" / DOMAIN / rel
    assert wait_until(wav.exists, 5), f"{wav} not published"
    info = subprocess.run(["soxi", str(wav)], capture_output=True, text=True, check=True).stdout
    assert "Channels       : 2" in info and "Sample Rate    : 8000" in info, info
    # Left: the G.722 caller's 440 Hz, decoded to 8 kHz at its level; right: the callee's 1 kHz.
    assert_tone(channel(wav, 1), A_HZ, A_PEAK + RMS, start=0.5, end=-0.5, db_tol=1.0)
    assert_tone(channel(wav, 2), B_HZ, B_PEAK + RMS, start=0.5, end=-0.5, db_tol=1.0)


def test_a_tenant_without_storage_left_records_nothing_and_its_calls_go_on(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper)
    vm = {"1003": {"pin": "4321", "voicemail": {"enabled": True}, "on_unavailable": "voicemail:1003"}}
    apply_live(vpbx, tmp_path, tenant_with(users(**vm), "options: {recording: true}\nlimits: {storage_mb: 0}\n"))
    talk(pbx, seconds=1.5)
    cdr = wait_cdr(vpbx, DOMAIN)[0]
    assert cdr["disposition"] == "ANSWERED" and cdr["billsec_s"] >= 1, cdr
    assert cdr["recording"] is None, cdr
    assert metric(vpbx, "vpbx_recordings_refused_total") == 1
    tenant_dir = vpbx.data / "tenants" / DOMAIN
    assert not list(tenant_dir.glob("recordings/**/*.wav*"))
    # Voicemail to 1003 (no phone): "the mailbox is full, goodbye", then vpbx hangs up.
    a = pbx.phone("a2", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))
    a.wait_established(10)
    a.wait_closed(15)
    assert not list(tenant_dir.glob("voicemail/1003/INBOX/*")), "nothing was recorded"
