"""Call harness for the real-peer tests: tone fixtures, audio analysis and a scriptable phone.

- `make_tone_wav(path, hz, seconds, level_db)`: an 8 kHz mono s16 sine made with sox.
- `analyze(path, start=None, end=None) -> (dominant_hz, rms_dbfs)`: our own analysis (a
  radix-2 FFT with a Hann window, averaged over blocks, in pure Python; no numpy here).
- `Phone`: one baresip 1.0.0 process (PEERS.md §1) with a WAV as its microphone (aufile) and
  the sndfile filter recording what it receives, driven over ctrl_tcp on ONE persistent
  connection (ctrl_tcp serves one client at a time) whose events a reader thread collects.
  It runs with `-s`, so its log holds every SIP message; `sip_messages()` parses them, which is
  how a test sees the statuses it received and the SDP (c=/m=) the other side offered.
- `PjPhone`: a pjsua2-python UA in its own process (`pjsua_call.py`), for what baresip 1.0.0
  lacks: 100rel/PRACK, session timers, attended transfer (REFER with Replaces), INFO DTMF.

Nothing here talks to anything but loopback addresses; every process belongs to a `Reaper`.
"""

from __future__ import annotations

import cmath
import json
import math
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from peers import HERE, Reaper, free_port, require_binary, require_pjsua2, run, tail, wait_until

# --------------------------------------------------------------------------- audio fixtures


def make_tone_wav(path: Path, hz: float, seconds: float, level_db: float = -6.0,
                  rate: int = 8000) -> Path:
    """Write a mono 16-bit sine of `hz` at `level_db` dBFS peak (sox), 8 kHz unless `rate` says
    otherwise (baresip 1.0.0's aufile does not resample: a G.722 phone needs 16 kHz)."""
    require_binary("sox")
    path = Path(path)
    amp = 10 ** (level_db / 20)
    r = run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(path),
             "synth", f"{seconds}", "sine", f"{hz}", "vol", f"{amp:.6f}"], timeout=30)
    if r.returncode != 0 or not path.exists():
        raise RuntimeError(f"sox failed ({r.returncode}): {r.stderr}")
    return path


def _wav_data(path: Path) -> tuple[bytes, int, int, int]:
    """(PCM bytes, rate, channels, bytes per sample) of a WAV, also while it is being written:
    libsndfile fills in the RIFF/data sizes only when it closes the file, so a data chunk whose
    declared size is 0 (or past the end) runs to the end of the file."""
    raw = Path(path).read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    i = 12
    rate = ch = width = 0
    while i + 8 <= len(raw):
        cid, size = raw[i:i + 4], int.from_bytes(raw[i + 4:i + 8], "little")
        body = i + 8
        if cid == b"fmt ":
            ch = int.from_bytes(raw[body + 2:body + 4], "little")
            rate = int.from_bytes(raw[body + 4:body + 8], "little")
            width = int.from_bytes(raw[body + 14:body + 16], "little") // 8
        elif cid == b"data":
            end = len(raw) if size == 0 or body + size > len(raw) else body + size
            if not rate:
                raise ValueError(f"{path}: data before fmt")
            frame = ch * width
            data = raw[body:end]
            return data[: len(data) // frame * frame], rate, ch, width
        i = body + size + (size & 1)
    return b"", rate or 8000, ch or 1, width or 2


def read_wav(path: Path) -> tuple[list[int], int]:
    """Samples (first channel) and sample rate of a 16-bit PCM WAV."""
    import array
    data, rate, ch, width = _wav_data(path)
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit, expected 16-bit")
    a = array.array("h")
    a.frombytes(data)
    if sys.byteorder == "big":
        a.byteswap()
    return list(a[::ch]), rate


def wav_seconds(path: Path) -> float:
    """Seconds of audio in a WAV (also one still being written)."""
    data, rate, ch, width = _wav_data(path)
    return len(data) / (rate * ch * width)


def _fft(x: list[complex]) -> list[complex]:
    """Iterative radix-2 FFT (len(x) a power of two)."""
    n = len(x)
    a = list(x)
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    size = 2
    while size <= n:
        half = size // 2
        wn = cmath.exp(-2j * math.pi / size)
        tw = [1 + 0j]
        for _ in range(half - 1):
            tw.append(tw[-1] * wn)
        for start in range(0, n, size):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * tw[k]
                a[start + k] = u + v
                a[start + k + half] = u - v
        size *= 2
    return a


SILENCE_DBFS = -60.0


def rms_dbfs(samples: list[int]) -> float:
    if not samples:
        return -120.0
    ms = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(ms / (32768.0 ** 2)) if ms > 0 else -120.0


def analyze(path: Path, start: float | None = None, end: float | None = None,
            max_seconds: float = 4.0) -> tuple[float, float]:
    """(dominant frequency in Hz, RMS level in dBFS) of a WAV, over [start, end) seconds
    (negative = from the end; None = the file's edges). The RMS is over the 20 ms frames
    louder than -60 dBFS (so leading/trailing silence and jitter-buffer gaps do not lower it);
    the frequency is the peak of a Hann-windowed FFT (4096 points, ~2 Hz bins, parabolic
    interpolation) averaged over blocks of at most `max_seconds` of those frames.
    A silent window gives (0.0, -120.0)."""
    samples, rate = read_wav(Path(path))
    n = len(samples)

    def idx(t: float | None, default: int) -> int:
        if t is None:
            return default
        i = int(t * rate)
        return max(0, min(n, n + i if i < 0 else i))

    samples = samples[idx(start, 0): idx(end, n)]
    frame = rate // 50
    active: list[int] = []
    for i in range(0, len(samples) - frame + 1, frame):
        f = samples[i:i + frame]
        if rms_dbfs(f) > SILENCE_DBFS:
            active.extend(f)
    if len(active) < frame:
        return 0.0, -120.0
    level = rms_dbfs(active)
    size = 4096
    active = active[: int(max_seconds * rate)]
    if len(active) < size:
        active = active + [0] * (size - len(active))
    window = [0.5 - 0.5 * math.cos(2 * math.pi * i / (size - 1)) for i in range(size)]
    spectrum = [0.0] * (size // 2)
    for b in range(0, len(active) - size + 1, size):
        out = _fft([complex(active[b + i] * window[i]) for i in range(size)])
        for k in range(size // 2):
            spectrum[k] += abs(out[k])
    k = max(range(1, size // 2 - 1), key=lambda i: spectrum[i])
    a, b_, c = spectrum[k - 1], spectrum[k], spectrum[k + 1]
    denom = a - 2 * b_ + c
    delta = 0.5 * (a - c) / denom if denom else 0.0
    return (k + delta) * rate / size, level


def assert_tone(path: Path, hz: float, level_db: float, start: float | None = None,
                end: float | None = None, hz_tol: float = 15.0, db_tol: float = 4.0) -> None:
    """The recording carries `hz` at about `level_db` dBFS RMS (a sine of peak P dBFS has RMS
    P - 3 dB; G.711 is within a fraction of a dB)."""
    f, lvl = analyze(path, start, end)
    assert abs(f - hz) <= hz_tol, f"{path.name}: dominant {f:.1f} Hz, expected {hz} Hz (level {lvl:.1f} dBFS)"
    assert abs(lvl - level_db) <= db_tol, f"{path.name}: level {lvl:.1f} dBFS, expected {level_db:.1f} ± {db_tol}"


# --------------------------------------------------------------------------- SIP trace parsing

@dataclass
class SipMsg:
    """One SIP message from a baresip `-s` trace."""
    direction: str            # "rx" or "tx"
    first_line: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        if not self.is_response:
            return None
        p = self.first_line.split(" ", 2)
        return int(p[1]) if len(p) > 1 and p[1].isdigit() else None

    @property
    def method(self) -> str:
        """Request method, or the CSeq method of a response."""
        if self.is_response:
            cseq = self.header("cseq") or ""
            return cseq.split()[-1] if cseq else ""
        return self.first_line.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def sdp(self) -> "Sdp | None":
        return parse_sdp(self.body) if "v=0" in self.body else None


@dataclass
class Sdp:
    conn_ip: str | None
    audio_port: int | None
    payload_types: list[str]
    codecs: list[str]          # rtpmap encoding names in m= order, e.g. ["PCMA", "telephone-event"]
    direction: str             # sendrecv / sendonly / recvonly / inactive
    raw: str


def parse_sdp(text: str) -> Sdp:
    conn = None
    port = None
    pts: list[str] = []
    rtpmap: dict[str, str] = {}
    direction = "sendrecv"
    media_conn = None
    in_audio = False
    for line in text.replace("\r", "").split("\n"):
        if line.startswith("c=") and (in_audio or conn is None):
            ip = line.split()[-1]
            if in_audio:
                media_conn = ip
            else:
                conn = ip
        elif line.startswith("m="):
            in_audio = line.startswith("m=audio")
            if in_audio:
                parts = line[2:].split()
                port = int(parts[1])
                pts = parts[3:]
        elif line.startswith("a=rtpmap:"):
            pt, _, enc = line[len("a=rtpmap:"):].partition(" ")
            rtpmap[pt] = enc.split("/")[0]
        elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line.startswith("a="):
            direction = line[2:]
    static = {"0": "PCMU", "8": "PCMA", "9": "G722", "18": "G729"}
    codecs = [rtpmap.get(p, static.get(p, p)) for p in pts]
    return Sdp(media_conn or conn, port, pts, codecs, direction, text)


_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
            "c": "content-type", "k": "supported", "s": "subject", "x": "session-expires",
            "r": "refer-to", "b": "referred-by"}
_TRACE_HEAD = re.compile(r"^(UDP|TCP|TLS|WS|WSS) (\d+\.\d+\.\d+\.\d+):(\d+) -> (\d+\.\d+\.\d+\.\d+):(\d+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_baresip_trace(text: str, own_ip: str, own_port: int) -> list[SipMsg]:
    """SIP messages from a baresip `-s` log. libre prints each one as
    `#` / `<TRANSPORT> <src> -> <dst>` / the message, in ANSI colour. A message is "tx" when
    its source is the phone's SIP address, "rx" when its destination is; over TCP (where
    baresip's outgoing connection has an ephemeral source) the top Via decides: a request
    whose top Via is ours, or a response whose top Via is not, was sent by the phone."""
    out: list[SipMsg] = []
    lines = _ANSI.sub("", text).replace("\r", "").split("\n")
    own = (own_ip, own_port)
    i = 0
    while i < len(lines):
        m = _TRACE_HEAD.match(lines[i].strip())
        if not m:
            i += 1
            continue
        src = (m.group(2), int(m.group(3)))
        dst = (m.group(4), int(m.group(5)))
        i += 1
        if i >= len(lines):
            break
        first = lines[i].strip()
        i += 1
        hdrs: dict[str, list[str]] = {}
        while i < len(lines) and lines[i].strip() != "":
            ln = lines[i]
            if ":" in ln:
                k, v = ln.split(":", 1)
                k = k.strip().lower()
                hdrs.setdefault(_COMPACT.get(k, k), []).append(v.strip())
            i += 1
        i += 1
        body_lines = []
        clen = (hdrs.get("content-length") or ["0"])[0]
        if clen.isdigit() and int(clen) > 0:
            while i < len(lines) and lines[i].strip() not in ("", "#"):
                body_lines.append(lines[i])
                i += 1
        if src == own:
            direction = "tx"
        elif dst == own:
            direction = "rx"
        else:
            via = (hdrs.get("via") or [""])[0]
            ours = f"{own_ip}:{own_port}" in via
            is_resp = first.startswith("SIP/2.0 ")
            direction = "tx" if ours != is_resp else "rx"
        out.append(SipMsg(direction, first, hdrs, "\n".join(body_lines)))
    return out


_PJ_MSG = re.compile(r"(TX|RX) \d+ bytes (?:Request|Response) msg [^\n]*? (?:to|from) \w+ [^\n]*:\n(.*?)\n--end msg--",
                     re.S)


def parse_pjsip_log(text: str) -> list[SipMsg]:
    """SIP messages from a pjsip log written with msgLogging (`TX/RX n bytes ... :` then the
    message, then `--end msg--`)."""
    out = []
    for m in _PJ_MSG.finditer(text.replace("\r", "")):
        head, _, body = m.group(2).partition("\n\n")
        lines = head.split("\n")
        hdrs: dict[str, list[str]] = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                k = k.strip().lower()
                hdrs.setdefault(_COMPACT.get(k, k), []).append(v.strip())
        out.append(SipMsg("tx" if m.group(1) == "TX" else "rx", lines[0].strip(), hdrs, body.strip()))
    return out


# --------------------------------------------------------------------------- baresip phone

class Phone:
    """One baresip 1.0.0 UA: a WAV as microphone, recordings of what it hears, one account.

    With `proxy_port` the account registers `user@domain` with `password` through vpbx at
    127.0.0.1:proxy_port (outbound proxy, as peers.Baresip does); without it the account is
    `sip:user@ip:sip_port` with no registration, for direct calls (`phone.uri`).
    `codecs`: baresip's `audio_codecs` account parameter, e.g. "PCMU", "PCMA", "PCMU,PCMA" or
    "G722/16000/1" (baresip names G.722 by its audio rate; this also loads its g722 module, and
    the phone's recordings of a G.722 call are 16 kHz).
    `mwi`: load baresip's mwi module and set `mwi=yes` on the account, so the phone SUBSCRIBEs
    to message-summary after registering (its NOTIFYs arrive as MWI_NOTIFY events).
    """

    def __init__(self, tmp: Path, reaper: Reaper, name: str, *, ip: str = "127.0.0.1",
                 wav: Path | None = None, user: str | None = None, domain: str | None = None,
                 password: str | None = None, proxy_port: int | None = None,
                 codecs: str = "PCMU", auto_answer: bool = False, transport: str = "udp",
                 regint: int = 300, mwi: bool = False) -> None:
        require_binary("baresip")
        self.name = name
        self.dir = Path(tmp) / f"phone-{name}"
        self.rec = self.dir / "rec"
        self.rec.mkdir(parents=True, exist_ok=True)
        self.reaper = reaper
        self.ip = ip
        self.user = user or name
        self.sip_port = free_port(span=2, ip=ip)       # baresip also binds TLS on port+1
        self.ctrl_port = free_port()
        self.rtp_lo = free_port(span=20, ip=ip)
        self.rtp_hi = self.rtp_lo + 19
        self.log = self.dir / "baresip.log"
        self.proc: subprocess.Popen | None = None
        self.wav = wav
        self.registered = proxy_port is not None
        source = f"aufile,{wav}" if wav else "ausine,440"
        # baresip's G.722 codec (16 kHz audio, `G722/8000` in SDP) for phones that offer it.
        g722 = "module\t\t\tg722.so\n" if "G722" in codecs.upper() else ""
        (self.dir / "config").write_text(f"""poll_method\t\tepoll
sip_listen\t\t{ip}:{self.sip_port}
call_local_timeout\t120
call_max_calls\t\t4
audio_player\t\taubridge,{name}
audio_alert\t\taubridge,{name}
audio_source\t\t{source}
audio_level\t\tno
ausrc_format\t\ts16
auplay_format\t\ts16
auenc_format\t\ts16
audec_format\t\ts16
audio_buffer\t\t20-160
rtp_ports\t\t{self.rtp_lo}-{self.rtp_hi}
rtcp_mux\t\tno
jitter_buffer_delay\t5-10
rtp_stats\t\tno
net_interface\t\t{ip}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
{g722}module\t\t\taufile.so
module\t\t\tausine.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
{"module_app" + chr(9) * 2 + "mwi.so" + chr(10) if mwi else ""}ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}
snd_path\t\t{self.rec}
statmode_default\toff
""")
        mode = "auto" if auto_answer else "manual"
        if proxy_port is not None:
            assert domain and password is not None, "a registered phone needs domain and password"
            aor = f"sip:{self.user}@{domain};transport={transport}"
            extra = (f'auth_pass={password};outbound="sip:127.0.0.1:{proxy_port};transport={transport}";'
                     f"regint={regint};mwi={'yes' if mwi else 'no'};")
        else:
            aor = f"sip:{self.user}@{ip}:{self.sip_port};transport={transport}"
            extra = "regint=0;"
        account = f"<{aor}>;{extra}answermode={mode};audio_codecs={codecs}"
        # baresip 1.0.0's mwi module subscribes every account again from a 1 ms start-up
        # timer, appending to the list it walks: when a slow start lets the registration
        # finish first, it loops forever. So an MWI phone's account is added only once the
        # control channel is up (`uanew`), after that timer has run.
        self._late_account = account if mwi else None
        (self.dir / "accounts").write_text("" if mwi else account + "\n")
        self.uri = f"sip:{self.user}@{ip}:{self.sip_port}"
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._events: list[dict] = []
        self._consumed: set[int] = set()
        self._responses: "queue.Queue[dict]" = queue.Queue()
        self._token = 0

    # process ------------------------------------------------------------------
    def start(self) -> "Phone":
        self.proc = self.reaper.spawn(["baresip", "-s", "-f", str(self.dir)], self.log)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"baresip {self.name} exited {self.proc.returncode}\n{tail(self.log)}", pytrace=False)
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"baresip {self.name} did not open its control port\n{tail(self.log)}", pytrace=False)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"ctrl-{self.name}", daemon=True)
        self._reader.start()
        if self._late_account:
            self.command(f"uanew {self._late_account}")
        return self

    def _read_loop(self) -> None:
        buf = b""
        sock = self._sock
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b":" in buf:
                n, rest = buf.split(b":", 1)
                try:
                    size = int(n)
                except ValueError:
                    return
                if len(rest) < size + 1:
                    break
                try:
                    msg = json.loads(rest[:size])
                except json.JSONDecodeError:
                    msg = {}
                buf = rest[size + 1:]
                if msg.get("response"):
                    self._responses.put(msg)
                elif msg.get("event"):
                    msg["_t"] = time.monotonic()
                    with self._lock:
                        self._events.append(msg)

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self.proc is not None:
            Reaper.stop(self.proc, signal.SIGTERM, 5)      # SIGTERM: baresip unregisters, then exits
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP the process: its RTP (and SIP) stop as if the phone froze."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def cont(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    # control ------------------------------------------------------------------
    def command(self, cmd: str, wait: float = 3.0) -> dict:
        """Send one command (`name params`), return baresip's response object."""
        if self._sock is None:
            raise RuntimeError(f"phone {self.name} not started")
        name, _, params = cmd.partition(" ")
        self._token += 1
        token = str(self._token)
        data = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._sock.sendall(b"%d:%s," % (len(data), data))
        end = time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            try:
                r = self._responses.get(timeout=left)
            except queue.Empty:
                break
            if r.get("token") == token:
                return r
        raise AssertionError(f"{self.name}: no response to {cmd!r} within {wait}s\n{tail(self.log, 40)}")

    def events(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self._events if kind is None or e.get("type") == kind]

    def wait_event(self, kind: str, timeout: float = 10.0, pred=None) -> dict:
        """The next not yet consumed event of type `kind` (and matching `pred`), waiting up to
        `timeout` s; fails the test otherwise. Events that happened before the call are
        kept, so waiting after the fact works."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                for i, e in enumerate(self._events):
                    if i not in self._consumed and e.get("type") == kind and (pred is None or pred(e)):
                        self._consumed.add(i)
                        return e
            if time.monotonic() >= end:
                seen = [(e.get("type"), e.get("param")) for e in self.events()]
                raise AssertionError(f"{self.name}: no {kind} within {timeout}s; events: {seen}\n"
                                     f"{tail(self.log, 60)}")
            time.sleep(0.05)

    def wait_established(self, timeout: float = 10.0) -> dict:
        """Wait for CALL_ESTABLISHED; fails at once (with the reason, e.g. '501 Not
        Implemented') if a call closes first without having been established."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                for i, e in enumerate(self._events):
                    if i in self._consumed:
                        continue
                    if e.get("type") == "CALL_ESTABLISHED":
                        self._consumed.add(i)
                        return e
                    if e.get("type") == "CALL_CLOSED":
                        raise AssertionError(f"{self.name}: call closed before it was established: "
                                             f"{e.get('param')!r}; statuses {self.final_statuses()}")
            if time.monotonic() >= end:
                return self.wait_event("CALL_ESTABLISHED", 0)
            time.sleep(0.05)

    def has_event(self, kind: str) -> bool:
        return bool(self.events(kind))

    # registration -------------------------------------------------------------
    def reg_state(self) -> str:
        info = re.sub(r"\x1b\[[0-9;]*m", "", (self.command("reginfo").get("data") or ""))
        for line in info.splitlines():
            if "sip:" in line:
                words = line.split()
                if "OK" in words:
                    return "ok"
                if "ERR" in words:
                    return "failed"
        return "pending"

    def register(self, timeout: float = 10.0) -> None:
        """Wait until the account's REGISTER got 200 (the phone registers when it starts)."""
        state = wait_until(lambda: (s := self.reg_state()) != "pending" and s, timeout, 0.2) or "pending"
        assert state == "ok", f"{self.name}: registration {state}\n{tail(self.log, 60)}"

    # calls --------------------------------------------------------------------
    def dial(self, uri: str) -> None:
        r = self.command(f"dial {uri}")
        assert r.get("ok"), f"{self.name}: dial failed: {r}"

    def answer(self) -> None:
        r = self.command("accept")
        assert r.get("ok"), f"{self.name}: accept failed: {r}"

    def hangup(self) -> None:
        """Hang up the current call. On a ringing incoming call baresip rejects with 486."""
        self.command("hangup")

    def reject(self) -> None:
        self.hangup()

    def hold(self) -> None:
        r = self.command("hold")
        assert r.get("ok"), f"{self.name}: hold failed: {r}"

    def resume(self) -> None:
        r = self.command("resume")
        assert r.get("ok"), f"{self.name}: resume failed: {r}"

    def transfer(self, uri: str) -> None:
        """Blind transfer of the current call: REFER with Refer-To: uri."""
        r = self.command(f"transfer {uri}")
        assert r.get("ok"), f"{self.name}: transfer failed: {r}"

    def rx_seq(self) -> int | None:
        """The last RTP sequence number the current call's jitter buffer took (from
        `audio_debug`); growing means RTP arrives. None without an active call."""
        r = self.command("audio_debug")
        m = re.findall(r"seq_put=(\d+)", r.get("data") or "")
        return int(m[-1]) if m else None

    def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """RFC 4733 digits (baresip 1.0.0 cannot send SIP INFO)."""
        for d in digits:
            self.command(f"sndcode {d}")
            time.sleep(gap)

    def wait_closed(self, timeout: float = 10.0) -> str:
        """Wait for CALL_CLOSED; returns its param (the reason, e.g. '486 Busy Here')."""
        return self.wait_event("CALL_CLOSED", timeout).get("param") or ""

    # what was said on the wire --------------------------------------------------
    def sip_messages(self) -> list[SipMsg]:
        return parse_baresip_trace(self.log.read_text(errors="replace"), self.ip, self.sip_port)

    def received(self, method: str | None = None, status: int | None = None) -> list[SipMsg]:
        out = []
        for m in self.sip_messages():
            if m.direction != "rx":
                continue
            if status is not None and m.status != status:
                continue
            if method is not None and m.method != method:
                continue
            out.append(m)
        return out

    def sent(self, method: str | None = None, status: int | None = None) -> list[SipMsg]:
        return [m for m in self.sip_messages() if m.direction == "tx"
                and (status is None or m.status == status) and (method is None or m.method == method)]

    def final_statuses(self, method: str = "INVITE") -> list[int]:
        """Final statuses this phone received for its INVITEs (retransmissions collapsed)."""
        out: list[int] = []
        seen: set[tuple] = set()
        for m in self.received(method=method):
            if m.status and m.status >= 200:
                key = (m.header("call-id"), m.header("cseq"), m.status)
                if key not in seen:
                    seen.add(key)
                    out.append(m.status)
        return out

    def remote_sdps(self) -> list[Sdp]:
        """Every SDP this phone received (INVITE offers, 18x/200 answers, re-INVITEs)."""
        return [s for m in self.received() if (s := m.sdp()) is not None]

    def local_sdps(self) -> list[Sdp]:
        return [s for m in self.sent() if (s := m.sdp()) is not None]

    def local_sdp_ports(self) -> set[int]:
        return {s.audio_port for s in self.local_sdps() if s.audio_port}

    def remote_media(self) -> set[tuple[str, int]]:
        """(c= address, m=audio port) of every SDP this phone received."""
        return {(s.conn_ip, s.audio_port) for s in self.remote_sdps() if s.audio_port}

    # recordings -----------------------------------------------------------------
    def recordings(self, kind: str = "dec") -> list[Path]:
        """sndfile's WAVs, oldest first: `dec` = what the phone received, `enc` = what it sent."""
        return sorted(self.rec.glob(f"dump-*-{kind}.wav"), key=lambda p: p.stat().st_mtime)

    def last_recording(self) -> Path:
        r = self.recordings()
        assert r, f"{self.name}: no recording in {self.rec}\n{tail(self.log, 40)}"
        return r[-1]


def wait_recording_seconds(phone: Phone, seconds: float, timeout: float = 10.0) -> Path:
    """Wait until the phone's newest recording holds at least `seconds` of audio."""
    def ok():
        r = phone.recordings()
        try:
            return r and wav_seconds(r[-1]) >= seconds and r[-1]
        except (ValueError, OSError):
            return False
    p = wait_until(ok, timeout, 0.2)
    assert p, f"{phone.name}: recording shorter than {seconds}s after {timeout}s: {phone.recordings()}"
    return p


# --------------------------------------------------------------------------- pjsua2 phone

PJSUA_CALL_SCRIPT = HERE / "pjsua_call.py"


class PjPhone:
    """A pjsua2 UA in its own process (`pjsua_call.py`), driven by JSON lines on stdin;
    every event it prints (one JSON object a line) is collected by a reader thread.
    Options: prack ("no" | "optional" | "mandatory"), timer ("no" | "optional" | "always"),
    session_expires (s), min_se (s), codecs ("PCMU" / "PCMA"), auto_answer, wav to play,
    rec to record (8 kHz)."""

    def __init__(self, tmp: Path, reaper: Reaper, name: str, *, ip: str = "127.0.0.1",
                 user: str | None = None, domain: str | None = None, password: str | None = None,
                 registrar_port: int | None = None, wav: Path | None = None, codecs: str = "PCMU",
                 auto_answer: bool = False, prack: str = "no", timer: str = "no",
                 session_expires: int = 1800, min_se: int = 90) -> None:
        require_pjsua2()
        self.name = name
        self.dir = Path(tmp) / f"pj-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.reaper = reaper
        self.ip = ip
        self.user = user or name
        self.sip_port = free_port(ip=ip)
        self.rtp_port = free_port(span=20, ip=ip)
        self.log = self.dir / "pjsua.log"
        self.events_file = self.dir / "events.jsonl"
        self.rec = self.dir / "rx.wav"          # each call records to rx-<call>.wav
        self.uri = f"sip:{self.user}@{ip}:{self.sip_port}"
        args = [sys.executable, "-u", str(PJSUA_CALL_SCRIPT), "--ip", ip, "--port", str(self.sip_port),
                "--rtp-port", str(self.rtp_port), "--user", self.user, "--codecs", codecs,
                "--prack", prack, "--timer", timer, "--session-expires", str(session_expires),
                "--min-se", str(min_se), "--rec", str(self.rec), "--siplog", str(self.log)]
        if registrar_port is not None:
            args += ["--domain", domain or "", "--registrar-port", str(registrar_port),
                     "--password", password or ""]
        if wav:
            args += ["--play", str(wav)]
        if auto_answer:
            args += ["--auto-answer"]
        self.args = args
        self.proc: subprocess.Popen | None = None
        self._events: list[dict] = []
        self._consumed: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> "PjPhone":
        err = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=err, text=True, start_new_session=True)
        err.close()
        self.reaper.procs.append(self.proc)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_event("READY", 10)
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        with open(self.events_file, "a") as f:
            for line in self.proc.stdout:
                f.write(line)
                f.flush()
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(ev, dict) and "ev" in ev:
                    with self._lock:
                        self._events.append(ev)

    def send(self, cmd: str, **kw) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()

    def events(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self._events if kind is None or e["ev"] == kind]

    def wait_event(self, kind: str, timeout: float = 10.0, pred=None) -> dict:
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                for i, e in enumerate(self._events):
                    if i not in self._consumed and e["ev"] == kind and (pred is None or pred(e)):
                        self._consumed.add(i)
                        return e
            if time.monotonic() >= end or (self.proc and self.proc.poll() is not None and kind != "EXIT"):
                raise AssertionError(f"{self.name}: no {kind} within {timeout}s; events: {self.events()}\n"
                                     f"{tail(self.dir / 'stderr.log', 30)}")
            time.sleep(0.05)

    def register(self, timeout: float = 10.0) -> None:
        e = self.wait_event("REG", timeout, lambda e: e["code"] >= 200)
        assert e["code"] == 200, f"{self.name}: registration {e}"

    def dial(self, uri: str, call: str = "c1") -> None:
        self.send("call", uri=uri, call=call)

    def answer(self, code: int = 200, call: str | None = None) -> None:
        self.send("answer", code=code, call=call)

    def hangup(self, call: str | None = None) -> None:
        self.send("hangup", call=call)

    def hold(self, call: str | None = None) -> None:
        self.send("hold", call=call)

    def resume(self, call: str | None = None) -> None:
        self.send("resume", call=call)

    def transfer(self, uri: str, call: str | None = None) -> None:
        self.send("xfer", uri=uri, call=call)

    def transfer_attended(self, call: str, to_call: str) -> None:
        """REFER on `call` with Refer-To the far end of `to_call` plus Replaces (attended)."""
        self.send("xfer_replaces", call=call, dest=to_call)

    def dtmf(self, digits: str, info: bool = False, call: str | None = None) -> None:
        self.send("dtmf", digits=digits, info=info, call=call)

    def recording(self, call: str) -> Path:
        """What call `call` received (8 kHz WAV; complete once the call closed or the phone stopped)."""
        return self.dir / f"rx-{call}.wav"

    def sip_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def sip_messages(self) -> list[SipMsg]:
        return parse_pjsip_log(self.sip_log())

    def received(self, method: str | None = None, status: int | None = None) -> list[SipMsg]:
        return [m for m in self.sip_messages() if m.direction == "rx"
                and (status is None or m.status == status) and (method is None or m.method == method)]

    def sent(self, method: str | None = None, status: int | None = None) -> list[SipMsg]:
        return [m for m in self.sip_messages() if m.direction == "tx"
                and (status is None or m.status == status) and (method is None or m.method == method)]

    def remote_sdps(self) -> list[Sdp]:
        return [s for m in self.received() if (s := m.sdp()) is not None]

    def remote_media(self) -> set[tuple[str, int]]:
        return {(s.conn_ip, s.audio_port) for s in self.remote_sdps() if s.audio_port}

    def wait_confirmed(self, call: str | None = None, timeout: float = 10.0) -> dict:
        """Wait until `call` (any call if None) is CONFIRMED; fails at once with the status if
        it closes first."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                for i, e in enumerate(self._events):
                    if i in self._consumed or (call is not None and e.get("call") != call):
                        continue
                    if e["ev"] == "STATE" and e["state"] == "CONFIRMED":
                        self._consumed.add(i)
                        return e
                    if e["ev"] == "CLOSED":
                        raise AssertionError(f"{self.name}: call {e['call']} closed before it was "
                                             f"confirmed: {e['code']} {e['reason']}")
            if time.monotonic() >= end:
                return self.wait_event("STATE", 0, lambda e: e["state"] == "CONFIRMED")
            time.sleep(0.05)

    def live_calls(self) -> list[str]:
        """Names of the calls that reached CONFIRMED and have not closed, oldest first."""
        closed = {e["call"] for e in self.events("CLOSED")}
        out: list[str] = []
        for e in self.events("STATE"):
            if e["state"] == "CONFIRMED" and e["call"] not in closed and e["call"] not in out:
                out.append(e["call"])
        return out

    def wait_closed(self, call: str | None = None, timeout: float = 10.0) -> dict:
        return self.wait_event("CLOSED", timeout, (lambda e: e["call"] == call) if call else None)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, BrokenPipeError):
                Reaper.stop(self.proc, signal.SIGTERM, 3)


# --------------------------------------------------------------------------- vpbx call setup

def add_media_config(vpbx, ports: str, ip: str = "127.0.0.1", **extra) -> None:
    """Append a `[media]` section (ports, ip and any extra keys, e.g. rtp_timeout_s=3) to a
    peers.Vpbx's config file. Call before `vpbx.start()`; the existing sections stay as written."""
    lines = ["[media]", f"ip = {json.dumps(ip)}", f"ports = {json.dumps(ports)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    text = vpbx.config.read_text()
    assert "[media]" not in text, "media section already present"
    vpbx.config.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def call_tenant_yaml(domain: str, users: list[dict]) -> str:
    """Tenant YAML like peers.tenant_yaml, but each user may carry the call keys too
    (ring_timeout, busy_level, call_limit, on_busy, on_no_answer, on_unavailable, nat)."""
    out = [f"domain: {json.dumps(domain)}", 'language: "en"', 'country: "US"', "users:"]
    for u in users:
        out.append(f"  - ext: {json.dumps(u['ext'])}")
        for k, v in u.items():
            if k != "ext":
                out.append(f"    {k}: {json.dumps(v)}")
    return "\n".join(out) + "\n"


def cdrs(vpbx, domain: str, limit: int = 50) -> list[dict]:
    """`vpbx cdr DOMAIN --json`: the tenant's call records (newest first or oldest first, as
    the CLI prints them; tests look records up by Call-ID or take the only one)."""
    r = vpbx.cli("cdr", domain, "--limit", str(limit), "--json")
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"`vpbx cdr --json` printed no JSON:\n{r.stdout}\n{r.stderr}", pytrace=False)
    assert isinstance(data, list), data
    return data


def wait_cdr(vpbx, domain: str, count: int = 1, timeout: float = 5.0) -> list[dict]:
    """Wait until the tenant has at least `count` call records (written when a call ends)."""
    def ready():
        c = cdrs(vpbx, domain)
        return c if len(c) >= count else None

    got = wait_until(ready, timeout, 0.3)
    assert got, f"fewer than {count} CDRs after {timeout}s: {cdrs(vpbx, domain)}"
    return got
