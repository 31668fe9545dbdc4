"""Helpers for the real-peer tests: the vpbx server and CLI, baresip, sipsak, sipvicious,
pjsua2, Kamailio (as a reference registrar for harness self-tests) and a raw UDP SIP client.

Every external process runs with a timeout or is owned by a `Reaper` that kills its process
group at the end of the test. Nothing here talks to anything but loopback addresses.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import tempfile
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared"
RFC4475_DIR = SHARED / "conformance" / "rfc4475"

#: With VPBX_REQUIRE_PEERS=1 (set by .ci/run) a missing peer binary fails the test instead
#: of skipping it, so CI cannot go green by not running anything.
REQUIRE_PEERS = os.environ.get("VPBX_REQUIRE_PEERS") == "1"

#: Test domains. .ci/run (and a developer, once) maps them to 127.0.0.1 in /etc/hosts
#: because sipsak refuses names that do not resolve.
TEST_DOMAINS = ["t1.vpbx.test", "t2.vpbx.test", "t3.vpbx.test", "t4.vpbx.test",
                "t5.vpbx.test", "unknown.vpbx.test"]


def missing(what: str) -> None:
    """Fail (CI) or skip (developer machine) because a peer is not installed."""
    if REQUIRE_PEERS:
        pytest.fail(f"{what} is required (VPBX_REQUIRE_PEERS=1) but missing", pytrace=False)
    pytest.skip(f"{what} not installed")


def require_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not path:
        missing(f"peer binary `{name}`")
    return path


def require_pjsua2() -> None:
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        missing("python module pjsua2 (pip pjsua2-python)")


def require_hosts() -> None:
    for d in TEST_DOMAINS:
        try:
            addr = socket.gethostbyname(d)
        except OSError:
            addr = None
        if addr != "127.0.0.1":
            missing(f"/etc/hosts entry {d} -> 127.0.0.1 (see tests/peers/README.md)")


# --------------------------------------------------------------------------- ports

_handed_out: set[int] = set()


def _bindable(ip: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _port_range() -> tuple[int, int]:
    """12000-32000 (below the Linux ephemeral range, so clients' outgoing sockets do not steal
    them), split between pytest-xdist workers: a vpbx binds its media range only call by call,
    so two workers must never hand out overlapping ranges."""
    lo, hi = 12000, 32000
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if worker.startswith("gw") and worker[2:].isdigit() and count > 1:
        i = int(worker[2:])
        width = (hi - lo) // count
        lo, hi = lo + i * width, lo + (i + 1) * width
    return lo, hi


def free_port(span: int = 1, ip: str = "0.0.0.0") -> int:
    """A port p such that p..p+span-1 are free for UDP and TCP, from this worker's share of
    12000-32000 (see `_port_range`)."""
    rnd = random.Random()
    lo, hi = _port_range()
    for _ in range(2000):
        p = rnd.randrange(lo, hi - span)
        ports = range(p, p + span)
        if any(q in _handed_out for q in ports):
            continue
        if all(_bindable(ip, q) for q in ports):
            _handed_out.update(ports)
            return p
    raise RuntimeError("no free port found")


# --------------------------------------------------------------------------- processes

class Reaper:
    """Owns the processes a test starts; kills their process groups at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], log: Path, env: dict | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        fh = open(log, "ab")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                             env=env, cwd=cwd, start_new_session=True)
        fh.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        if p.poll() is not None:
            return p.returncode
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return p.wait(wait)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return p.wait(5)

    def close(self) -> None:
        """SIGTERM to every process group at once, then at most 5 s in all for them to
        exit before SIGKILL (one at a time, a test with five phones that hang on SIGTERM
        spent 25 s here)."""
        live = [p for p in reversed(self.procs) if p.poll() is None]
        for p in live:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        for p in live:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        self.procs.clear()


def run(args: list[str], timeout: float, env: dict | None = None, cwd: Path | None = None,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion under a hard timeout (the whole process group is killed)."""
    p = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = p.communicate(input, timeout=timeout)
        return subprocess.CompletedProcess(args, p.returncode, out, err)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return subprocess.CompletedProcess(args, 124, out, err + "\n[killed: timeout]")


def tail(path: Path, n: int = 80) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    return "\n".join(lines[-n:])


def wait_until(pred, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(step)


# --------------------------------------------------------------------------- raw SIP over UDP

@dataclass
class SipResponse:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        v = self.headers.get(name.lower())
        return v[0] if v else None


_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
            "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding"}


def parse_response(data: bytes) -> SipResponse | None:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/") or not parts[1].isdigit():
        return None
    hdrs: dict[str, list[str]] = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            k = k.strip().lower()
            hdrs.setdefault(_COMPACT.get(k, k), []).append(v.strip())
    return SipResponse(int(parts[1]), parts[2] if len(parts) > 2 else "", hdrs, data)


class UdpSip:
    """A UDP socket bound to a chosen loopback address, for hand-made SIP requests."""

    def __init__(self, local_ip: str = "127.0.0.1", local_port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, local_port))
        self.local_ip, self.local_port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "UdpSip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        self.sock.sendto(data, dest)

    def collect(self, timeout: float) -> list[bytes]:
        """Every datagram that arrives within `timeout` seconds."""
        out = []
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                break
            out.append(data)
        return out

    def final_response(self, timeout: float) -> SipResponse | None:
        """Wait for the first final (>= 200) response, ignoring provisional ones."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            r = parse_response(data)
            if r and r.status >= 200:
                return r
        return None

    def options(self, dest: tuple[str, int], domain: str, user: str | None = None,
                user_agent: str = "vpbx-peer-tests", timeout: float = 2.0) -> SipResponse | None:
        self.send(build_request("OPTIONS", domain, self.local_ip, self.local_port, user=user,
                                user_agent=user_agent), dest)
        return self.final_response(timeout)


def build_request(method: str, domain: str, local_ip: str, local_port: int, user: str | None = None,
                  user_agent: str = "vpbx-peer-tests", extra: list[str] | None = None,
                  call_id: str | None = None, cseq: int = 1) -> bytes:
    ruri = f"sip:{user}@{domain}" if user else f"sip:{domain}"
    aor = f"sip:{user or 'probe'}@{domain}"
    tag = secrets.token_hex(4)
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_ip}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        f"From: <{aor}>;tag={tag}",
        f"To: <{aor}>",
        f"Call-ID: {call_id or secrets.token_hex(10)}@{local_ip}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{user or 'probe'}@{local_ip}:{local_port}>",
        f"User-Agent: {user_agent}",
        *(extra or []),
        "Content-Length: 0",
        "", "",
    ]
    return "\r\n".join(lines).encode()


def options_status(port: int, domain: str, local_ip: str = "127.0.0.1", timeout: float = 2.0) -> int | None:
    with UdpSip(local_ip) as c:
        r = c.options(("127.0.0.1", port), domain, timeout=timeout)
        return r.status if r else None


# --------------------------------------------------------------------------- digest (for hand-made REGISTERs)

def digest_response(method: str, uri: str, user: str, password: str, chal: str,
                    cnonce: str, nc: str = "00000001") -> str:
    """Authorization header value for a WWW-Authenticate challenge (MD5 or SHA-256, qop=auth)."""
    params = parse_auth_params(chal)
    algo = params.get("algorithm", "MD5").upper()
    h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if algo.startswith("SHA-256") \
        else (lambda s: hashlib.md5(s.encode()).hexdigest())
    realm, nonce = params["realm"], params["nonce"]
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    if "qop" in params:
        resp = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        q = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = h(f"{ha1}:{nonce}:{ha2}")
        q = ""
    op = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm={params.get("algorithm", "MD5")}{q}{op}')


def parse_auth_params(chal: str) -> dict[str, str]:
    s = chal.split(" ", 1)[1] if chal.lower().startswith("digest") else chal
    out, i = {}, 0
    while i < len(s):
        while i < len(s) and s[i] in " ,":
            i += 1
        j = s.find("=", i)
        if j < 0:
            break
        k = s[i:j].strip().lower()
        i = j + 1
        if i < len(s) and s[i] == '"':
            e = s.find('"', i + 1)
            out[k] = s[i + 1:e]
            i = e + 1
        else:
            e = s.find(",", i)
            e = len(s) if e < 0 else e
            out[k] = s[i:e].strip()
            i = e
    return out


# --------------------------------------------------------------------------- tenant YAML

def q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def tenant_yaml(domain: str, users: list[dict], digest_algorithms: list[str] | None = None,
                language: str = "en", country: str = "US") -> str:
    out = [f"domain: {q(domain)}", f"language: {q(language)}", f"country: {q(country)}"]
    if digest_algorithms is not None:
        out += ["options:", f"  digest_algorithms: [{', '.join(digest_algorithms)}]"]
    out.append("users:")
    for u in users:
        out.append(f"  - ext: {q(u['ext'])}")
        for k in ("name", "secret", "email"):
            if k in u:
                out.append(f"    {k}: {q(u[k])}")
        if "digest_algorithms" in u:
            out.append(f"    digest_algorithms: [{', '.join(u['digest_algorithms'])}]")
    return "\n".join(out) + "\n"


def user(ext: str, secret: str) -> dict:
    return {"ext": ext, "name": f"User {ext}", "secret": secret, "email": f"u{ext}@example.test"}


# --------------------------------------------------------------------------- vpbx

def vpbx_binary() -> Path:
    return Path(os.environ.get("VPBX_BIN", REPO / "target" / "debug" / "vpbx"))


class Vpbx:
    """One vpbx instance: its config, data dir, CLI and (optionally) its running server."""

    def __init__(self, tmp: Path, reaper: Reaper, database: str | None = None,
                 **security) -> None:
        self.bin = vpbx_binary()
        if not self.bin.exists():
            pytest.fail(f"vpbx binary {self.bin} missing (run `cargo build -p vpbx` or set VPBX_BIN)",
                        pytrace=False)
        self.tmp = tmp
        self.reaper = reaper
        self.data = tmp / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.database = database or f"sqlite://{self.data}/vpbx.db"
        self.sip_port = free_port()
        self.http_port = free_port()
        self.config = tmp / "vpbx.toml"
        self.log = tmp / "vpbx.log"
        self.proc: subprocess.Popen | None = None
        self.security = {"trusted_networks": [], "ban_threshold": 10, "ban_window_s": 60,
                         "ban_time_s": 900, "drop_scanner_user_agents": True}
        self.security.update(security)
        self.write_config()

    # config -----------------------------------------------------------------
    def write_config(self) -> None:
        sec = []
        for k, v in self.security.items():
            sec.append(f"{k} = {json.dumps(v)}")  # JSON bools/ints/arrays/strings are TOML too
        self.config.write_text(
            f'data_dir = {json.dumps(str(self.data))}\n'
            f'database = {json.dumps(self.database)}\n'
            "[sip]\n"
            f'listen = ["udp:127.0.0.1:{self.sip_port}", "tcp:127.0.0.1:{self.sip_port}"]\n'
            "[http]\n"
            f'listen = "127.0.0.1:{self.http_port}"\n'
            "[security]\n" + "\n".join(sec) + "\n")

    @property
    def sip(self) -> tuple[str, int]:
        return ("127.0.0.1", self.sip_port)

    # CLI --------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        r = run([str(self.bin), "--config", str(self.config), *args], timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail(f"vpbx {' '.join(args)} exited {r.returncode}\nstdout:\n{r.stdout}\n"
                        f"stderr:\n{r.stderr}", pytrace=False)
        return r

    def tenant_create(self, domain: str) -> subprocess.CompletedProcess:
        return self.cli("tenant", "create", domain)

    def tenant_apply(self, yaml_text: str, check: bool = True) -> subprocess.CompletedProcess:
        f = self.tmp / f"tenant-{secrets.token_hex(3)}.yaml"
        f.write_text(yaml_text)
        return self.cli("tenant", "apply", str(f), check=check)

    def tenant(self, domain: str, users: list[dict], **kw) -> None:
        """`tenant create` + `tenant apply` with the given users."""
        self.tenant_create(domain)
        self.tenant_apply(tenant_yaml(domain, users, **kw))

    def registrations(self, domain: str) -> list[dict]:
        r = self.cli("registrations", domain, "--json")
        try:
            data = json.loads(r.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"`registrations --json` printed no JSON:\n{r.stdout}\n{r.stderr}", pytrace=False)
        assert isinstance(data, list), data
        return data

    def bans(self) -> list[dict]:
        r = self.cli("ban", "list", "--json")
        data = json.loads(r.stdout)
        assert isinstance(data, list), data
        return data

    def banned_ips(self) -> set[str]:
        return {b["ip"] for b in self.bans()}

    # server -----------------------------------------------------------------
    def start(self, probe_domain: str | None = None, timeout: float = 30) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log, "a") as f:
            f.write(f"\n===== serve started {time.strftime('%H:%M:%S')} =====\n")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = self.reaper.spawn([str(self.bin), "--config", str(self.config), "serve"],
                                      self.log, env=env)
        self.wait_ready(probe_domain, timeout)

    def wait_ready(self, probe_domain: str | None, timeout: float) -> None:
        end = time.monotonic() + timeout
        metrics_ok = options_ok = probe_domain is None
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"vpbx serve exited with {self.proc.returncode}\n{tail(self.log)}", pytrace=False)
            if not metrics_ok:
                metrics_ok = self.metrics() is not None
            if not options_ok:
                options_ok = options_status(self.sip_port, probe_domain, timeout=0.5) == 200
            if metrics_ok and options_ok:
                return
            time.sleep(0.1)
        pytest.fail(f"vpbx serve not ready after {timeout}s (metrics ok={metrics_ok}, "
                    f"OPTIONS {probe_domain} ok={options_ok})\n{tail(self.log)}", pytrace=False)

    def metrics(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=1) as r:
                return r.read().decode() if r.status == 200 else None
        except (OSError, urllib.error.URLError):
            return None

    def stop(self) -> int | None:
        """SIGTERM: a clean shutdown (flushes registrations)."""
        if self.proc is None:
            return None
        rc = Reaper.stop(self.proc, signal.SIGTERM, 15)
        self.proc = None
        return rc

    def kill9(self) -> None:
        """SIGKILL: the crash test."""
        if self.proc is not None:
            Reaper.stop(self.proc, signal.SIGKILL, 5)
            self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --------------------------------------------------------------------------- baresip

class Baresip:
    """A headless baresip UA (PEERS.md §1) bound to one loopback address, one account."""

    def __init__(self, tmp: Path, reaper: Reaper, name: str, aor_user: str, domain: str,
                 password: str, registrar_port: int, ip: str = "127.0.0.1",
                 transport: str = "udp", outbound: bool = True) -> None:
        require_binary("baresip")
        self.dir = tmp / f"baresip-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.reaper = reaper
        self.ip = ip
        self.sip_port = free_port(span=2, ip=ip)       # baresip also binds TLS on port+1
        self.ctrl_port = free_port()
        rtp = free_port(span=20)
        self.log = self.dir / "baresip.log"
        self.proc: subprocess.Popen | None = None
        (self.dir / "config").write_text(f"""poll_method\t\tepoll
sip_listen\t\t{ip}:{self.sip_port}
call_local_timeout\t120
call_max_calls\t\t4
audio_player\t\taubridge,{name}
audio_alert\t\taubridge,{name}
audio_source\t\tausine,440
audio_level\t\tno
rtp_ports\t\t{rtp}-{rtp + 19}
rtcp_mux\t\tno
rtp_stats\t\tno
net_interface\t\t{ip}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module\t\t\tausine.so
module\t\t\taubridge.so
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}
statmode_default\toff
""")
        # The outbound proxy sends every request to vpbx's port without a DNS look-up of the
        # tenant domain (libre has its own resolver); To/From/Request-URI keep the domain.
        if outbound:
            aor = f"sip:{aor_user}@{domain};transport={transport}"
            ob = f'outbound="sip:127.0.0.1:{registrar_port};transport={transport}";'
        else:
            aor = f"sip:{aor_user}@{domain}:{registrar_port};transport={transport}"
            ob = ""
        (self.dir / "accounts").write_text(
            f'<{aor}>;auth_pass={password};{ob}answermode=manual;audio_codecs=PCMU;regint=300\n')

    def start(self) -> None:
        self.proc = self.reaper.spawn(["baresip", "-s", "-f", str(self.dir)], self.log)
        ok = wait_until(lambda: self._ctrl_ready(), 10)
        if not ok:
            pytest.fail(f"baresip did not open its control port\n{tail(self.log)}", pytrace=False)

    def _ctrl_ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"baresip exited {self.proc.returncode}\n{tail(self.log)}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def command(self, cmd: str, wait: float = 2.0) -> dict | None:
        """Send one ctrl_tcp command, return its response object (or None)."""
        name, _, params = cmd.partition(" ")
        data = json.dumps({"command": name, "params": params, "token": "1"}).encode()
        try:
            s = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=wait)
        except OSError:
            return None
        try:
            s.settimeout(wait)
            s.sendall(b"%d:%s," % (len(data), data))
            buf = b""
            end = time.monotonic() + wait
            while time.monotonic() < end:
                while b":" in buf:
                    n, rest = buf.split(b":", 1)
                    n = int(n)
                    if len(rest) < n + 1:
                        break
                    msg = json.loads(rest[:n])
                    buf = rest[n + 1:]
                    if msg.get("response"):
                        return msg
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    return None
                if not chunk:
                    return None
                buf += chunk
            return None
        finally:
            s.close()

    def reginfo(self) -> str:
        r = self.command("reginfo")
        return (r or {}).get("data", "") or ""

    def reg_state(self) -> str:
        """'ok', 'failed' or 'pending', from `reginfo`: baresip prints OK (last answer 200),
        ERR (any other final answer or a timeout) or zzz (no answer yet) per account."""
        info = re.sub(r"\x1b\[[0-9;]*m", "", self.reginfo())
        for line in info.splitlines():
            if "sip:" not in line:
                continue
            words = line.split()
            if "OK" in words:
                return "ok"
            if "ERR" in words:
                return "failed"
        return "pending"   # "zzz": no final response yet

    def wait_reg(self, timeout: float = 10) -> str:
        """Wait until registration settles; returns the final state ('pending' on timeout)."""
        end = time.monotonic() + timeout
        state = "pending"
        while time.monotonic() < end:
            state = self.reg_state()
            if state != "pending":
                return state
            time.sleep(0.2)
        return state

    def sent_register_count(self) -> int:
        return self.log.read_text(errors="replace").count("REGISTER sip:")

    def stop(self) -> None:
        if self.proc is not None:
            Reaper.stop(self.proc, signal.SIGTERM, 5)
            self.proc = None


# --------------------------------------------------------------------------- sipsak

def sipsak(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
    require_binary("sipsak")
    return run(["sipsak", *args], timeout=timeout)


def sipsak_register(domain: str, port: int, ext: str, password: str, contact: str | None = None,
                    expires: int = 3600, local_ip: str | None = None,
                    t1_ms: int = 200) -> subprocess.CompletedProcess:
    """One REGISTER (with digest) via sipsak's usrloc mode.
    rc 0 = 200 OK; rc 2 = a final error (e.g. "authorization failed"); rc 3 = no answer
    (after 64*T1: 12.8 s with the default t1_ms)."""
    # --auth-username: by default sipsak 0.9.8.1 puts username="EXT@" in Authorization, which a
    # registrar that keys users by extension rightly treats as an unknown user.
    # -i only silences sipsak's "Deactivated Via insertion" warning; the Via line is still sent.
    args = ["-U", "-s", f"sip:{ext}@{domain}:{port}", "-a", password, f"--auth-username={ext}",
            "-i", "-x", str(expires), "-vvv", f"--timer-t1={t1_ms}"]
    if contact:
        args += ["-C", contact]
    if local_ip:
        args += ["--local-ip", local_ip]
    return sipsak(args)


def sipsak_options(uri: str, local_ip: str | None = None, t1_ms: int = 50) -> subprocess.CompletedProcess:
    """One OPTIONS; rc 0 = 2xx, rc 3 = no answer after 64*T1 (3.2 s with the default t1_ms)."""
    args = ["-vv", "-s", uri, f"--timer-t1={t1_ms}"]
    if local_ip:
        args += ["--local-ip", local_ip]
    return sipsak(args)


# --------------------------------------------------------------------------- pjsua2

PJSUA_SCRIPT = HERE / "pjsua_register.py"


def pjsua_register(domain: str, port: int, ext: str, password: str, local_port: int,
                   timeout: float = 30) -> subprocess.CompletedProcess:
    require_pjsua2()
    return run([sys.executable, str(PJSUA_SCRIPT), "--domain", domain, "--port", str(port),
                "--user", ext, "--pw", password, "--local-port", str(local_port)], timeout=timeout)


# --------------------------------------------------------------------------- Kamailio (reference registrar)

KAMAILIO_CFG = HERE / "kamailio-ref.cfg"


class Kamailio:
    """The PEERS.md §0 registrar (qop=auth), users from a dict; used to prove the harness."""

    def __init__(self, tmp: Path, reaper: Reaper, users: dict[str, str], sha256: bool = False) -> None:
        require_binary("kamailio")
        self.dir = tmp / "kamailio"
        # Kamailio's control socket lives here: a unix socket path may not exceed 104
        # bytes, which pytest-xdist's deep tmp paths do, so the run dir is short.
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run = Path(tempfile.mkdtemp(prefix="kam-"))
        self.port = free_port()
        self.reaper = reaper
        self.log = self.dir / "kamailio.log"
        cfg = KAMAILIO_CFG.read_text()
        cfg = cfg.replace("@PORT@", str(self.port)).replace("@RUN@", str(self.run))
        cfg = cfg.replace("@ALGO@", "SHA-256" if sha256 else "MD5")
        init = "\n".join(f'    $sht(users=>{u}) = "{p}";' for u, p in users.items())
        cfg = cfg.replace("@USERS@", init)
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(cfg)

    def start(self) -> None:
        self.proc = self.reaper.spawn(
            ["kamailio", "-f", str(self.cfg), "-DD", "-E", "-Y", str(self.run),
             "-P", str(self.run / "kamailio.pid"), "-m", "64", "-M", "8"], self.log)
        if not wait_until(lambda: options_status(self.port, "t1.vpbx.test", timeout=0.3) == 200, 15):
            pytest.fail(f"kamailio not ready\n{tail(self.log)}", pytrace=False)


# --------------------------------------------------------------------------- Kamailio (a carrier)

KAMAILIO_CARRIER_CFG = HERE / "kamailio-carrier.cfg"


class KamailioCarrier:
    """A phone company for trunk tests: outside phones register at it, INVITEs from a trunk
    account are challenged (407) and routed to the registered phone whose AOR is the dialled
    number. `users`: AOR or trunk account → password. Its log names every request
    (`requests(method)`), so a test can prove a call never reached it."""

    def __init__(self, tmp: Path, reaper: Reaper, users: dict[str, str], name: str = "carrier",
                 dids: dict[str, str] | None = None) -> None:
        require_binary("kamailio")
        self.dir = tmp / f"kamailio-{name}"
        # Kamailio's control socket lives here: a unix socket path may not exceed 104
        # bytes, which pytest-xdist's deep tmp paths do, so the run dir is short.
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run = Path(tempfile.mkdtemp(prefix="kam-"))
        self.port = free_port()
        self.reaper = reaper
        self.log = self.dir / "kamailio.log"
        cfg = KAMAILIO_CARRIER_CFG.read_text()
        cfg = cfg.replace("@PORT@", str(self.port)).replace("@RUN@", str(self.run))
        init = [f'    $sht(users=>{u}) = "{p}";' for u, p in users.items()]
        init += [f'    $sht(dids=>{d}) = "{to}";' for d, to in (dids or {}).items()]
        cfg = cfg.replace("@USERS@", "\n".join(init))
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(cfg)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "KamailioCarrier":
        self.proc = self.reaper.spawn(
            ["kamailio", "-f", str(self.cfg), "-DD", "-E", "-Y", str(self.run),
             "-P", str(self.run / "kamailio.pid"), "-m", "64", "-M", "8"], self.log)
        if not wait_until(lambda: options_status(self.port, "carrier.test", timeout=0.3) == 200, 15):
            pytest.fail(f"kamailio carrier not ready\n{tail(self.log)}", pytrace=False)
        return self

    def requests(self, method: str) -> list[str]:
        """The logged `REQ METHOD <R-URI user> from <From user>` lines, oldest first."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [ln.split("REQ ", 1)[1] for ln in text.splitlines() if f"REQ {method} " in ln]

    def protos(self, method: str) -> list[str]:
        """The transport (`udp`, `tcp`) each request of `method` came over, oldest first."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [ln.rsplit(" ", 1)[1] for ln in text.splitlines() if f"PROTO {method} " in ln]

    def calls(self) -> list[str]:
        """`<R-URI user> from <From user> pai <P-Asserted-Identity>` of each authenticated INVITE."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [ln.split("CALL ", 1)[1] for ln in text.splitlines() if "CALL " in ln]


# --------------------------------------------------------------------------- Kamailio as a trunk provider

KAMAILIO_PROVIDER_CFG = HERE / "kamailio-provider.cfg"


class KamailioProvider:
    """A "provider" for vpbx's trunks (kamailio-provider.cfg): registrar with digest auth for
    the trunk accounts in `users`, `alias` as its domain, and a proxy to registered contacts.
    `location()` is its location table (`kamcmd ul.dump`)."""

    def __init__(self, tmp: Path, reaper: Reaper, users: dict[str, str],
                 alias: str = "provider.vpbx.test") -> None:
        require_binary("kamailio")
        self.kamcmd = require_binary("kamcmd")
        self.dir = tmp / "provider"
        # Kamailio's control socket lives here: a unix socket path may not exceed 104
        # bytes, which pytest-xdist's deep tmp paths do, so the run dir is short.
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run = Path(tempfile.mkdtemp(prefix="kam-"))
        self.port = free_port()
        self.alias = alias
        self.reaper = reaper
        self.log = self.dir / "kamailio.log"
        self.proc: subprocess.Popen | None = None
        init = "\n".join(f'    $sht(users=>{u}) = "{p}";' for u, p in users.items())
        cfg = (KAMAILIO_PROVIDER_CFG.read_text().replace("@PORT@", str(self.port))
               .replace("@RUN@", str(self.run)).replace("@ALIAS@", alias).replace("@USERS@", init))
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(cfg)

    def start(self) -> None:
        self.proc = self.reaper.spawn(
            ["kamailio", "-f", str(self.cfg), "-DD", "-E", "-Y", str(self.run),
             "-P", str(self.run / "kamailio.pid"), "-m", "64", "-M", "8"], self.log)
        if not wait_until(lambda: options_status(self.port, self.alias, timeout=0.3) == 200, 15):
            pytest.fail(f"kamailio provider not ready\n{tail(self.log)}", pytrace=False)

    def stop(self) -> None:
        if self.proc is not None:
            Reaper.stop(self.proc, signal.SIGTERM, 10)
            self.proc = None

    def location(self) -> str:
        """The location table as `kamcmd ul.dump` prints it ("" when kamailio is not running)."""
        r = run([self.kamcmd, "-s", f"unix:{self.run}/kamailio_ctl", "ul.dump"], timeout=5)
        return r.stdout if r.returncode == 0 else ""
