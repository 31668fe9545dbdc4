"""Message waiting (issue 4, item 5) and the retention purge (item 7) with real peers on loopback.

- baresip 1.0.0 with its `mwi` module SUBSCRIBEs to message-summary after registering; vpbx
  answers and NOTIFYs at once, again when a caller leaves a message, and again when the user
  listens to it by phone (*97).
- A hand-made UDP user agent (`RawUa`: REGISTER and SUBSCRIBE with digest, answers NOTIFY
  200 and INVITE 486) checks the SUBSCRIBE rules (403 for another user's mailbox, 489 for an
  unknown event, the per-user bound, `Expires: 0` ends with a final NOTIFY) and the
  unsolicited NOTIFYs a phone without a subscription gets: when a message is stored, when the
  outbox deletes it after mailing it, and when the retention purge deletes an old one.

Voicemail here skips the greeting with `#` and records at most 5 s, so each message takes
about 7 s.
"""

import json
import queue
import re
import secrets
import socket
import threading
import time
from pathlib import Path

from peers import digest_response, free_port, parse_response, wait_until
from test_calls_vpbx import DOMAIN, SECRETS, Pbx, uri
from test_media_apps import Smtp

VM = {"enabled": True, "delete_after_email": False, "format": "wav", "max_message_s": 5}


def vm_user(**voicemail) -> dict:
    return {"pin": "4321", "voicemail": {**VM, **voicemail},
            "on_busy": "voicemail:1003", "on_unavailable": "voicemail:1003"}


def summary(body: str) -> dict[str, str]:
    out = {}
    for line in body.replace("\r\n", "\n").split("\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def mwi_printed(phone) -> list[dict[str, str]]:
    """The summaries baresip 1.0.0's mwi module printed: it does so for each NOTIFY of its
    subscription it accepted (this version raises no control-channel event for MWI)."""
    text = phone.log.read_text(errors="replace")
    out = []
    for block in text.split("----- MWI for ")[1:]:
        body = block.split("\n", 1)[-1].split("\n\n", 1)[0]
        out.append(summary(body))
    return out


def wait_mwi(phone, pred, timeout: float = 15.0) -> dict[str, str]:
    found = wait_until(lambda: [s for s in mwi_printed(phone) if pred(s)], timeout)
    assert found, f"{phone.name}: no such MWI within {timeout}s; printed: {mwi_printed(phone)}"
    return found[-1]


class RawUa:
    """A UDP user agent written by hand: REGISTER/SUBSCRIBE with digest auth; every NOTIFY it
    receives is kept and answered 200, every INVITE answered 486 Busy Here."""

    def __init__(self, ip: str, server_port: int, ext: str, notify_status: int = 200) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.ip, self.port = self.sock.getsockname()
        self.server = ("127.0.0.1", server_port)
        self.ext = ext
        self.notify_status = notify_status
        self.notifies: list[tuple[dict[str, str], str]] = []   # (headers, body)
        self.responses: "queue.Queue" = queue.Queue()
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    # wire ---------------------------------------------------------------------
    def _loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if data.startswith(b"SIP/2.0"):
                r = parse_response(data)
                if r:
                    self.responses.put(r)
                continue
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("utf-8", "replace").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            hdrs: dict[str, str] = {}
            vias = []
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    k = k.strip().lower()
                    if k in ("via", "v"):
                        vias.append(v.strip())
                    hdrs.setdefault({"f": "from", "t": "to", "i": "call-id", "o": "event",
                                     "c": "content-type"}.get(k, k), v.strip())
            if method == "ACK":
                continue
            status, reason = (self.notify_status, "Whatever") if method == "NOTIFY" else \
                (486, "Busy Here") if method == "INVITE" else (200, "OK")
            if method == "NOTIFY":
                self.notifies.append((hdrs, body.decode("utf-8", "replace")))
            to = hdrs.get("to", "")
            if "tag=" not in to:
                to += f";tag={secrets.token_hex(4)}"
            resp = [f"SIP/2.0 {status} {reason}", *[f"Via: {v}" for v in vias],
                    f"From: {hdrs.get('from', '')}", f"To: {to}", f"Call-ID: {hdrs.get('call-id', '')}",
                    f"CSeq: {hdrs.get('cseq', '')}", "Content-Length: 0", "", ""]
            self.sock.sendto("\r\n".join(resp).encode(), src)

    def _final(self, timeout: float = 5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                r = self.responses.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if r.status >= 200:
                return r
        raise AssertionError("no final response")

    def request(self, method: str, ruri: str, headers: list[str], password: str | None,
                call_id: str | None = None, from_tag: str | None = None, to_tag: str | None = None,
                cseq: int = 1):
        """Sends `method` (again with credentials after a 401) and returns the final response."""
        call_id = call_id or f"{secrets.token_hex(8)}@{self.ip}"
        from_tag = from_tag or secrets.token_hex(4)
        aor = f"sip:{self.ext}@{DOMAIN}"
        auth = None
        for attempt in range(2):
            lines = [f"{method} {ruri} SIP/2.0",
                     f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
                     "Max-Forwards: 70", f"From: <{aor}>;tag={from_tag}",
                     f"To: <{ruri if method == 'SUBSCRIBE' else aor}>" + (f";tag={to_tag}" if to_tag else ""),
                     f"Call-ID: {call_id}", f"CSeq: {cseq + attempt} {method}",
                     f"Contact: <sip:{self.ext}@{self.ip}:{self.port}>", "User-Agent: vpbx-mwi-test",
                     *headers]
            if auth:
                lines.append(f"Authorization: {auth}")
            lines += ["Content-Length: 0", "", ""]
            self.sock.sendto("\r\n".join(lines).encode(), self.server)
            r = self._final()
            if r.status != 401 or password is None or attempt == 1:
                return r
            auth = digest_response(method, ruri, self.ext, password, r.header("www-authenticate"),
                                   secrets.token_hex(4))
        return r

    def register(self, password: str) -> None:
        r = self.request("REGISTER", f"sip:{DOMAIN}", ["Expires: 300"], password)
        assert r.status == 200, (r.status, r.raw)

    def wait_notify(self, pred, timeout: float = 15.0) -> tuple[dict[str, str], str]:
        seen = 0
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for h, b in self.notifies[seen:]:
                if pred(h, summary(b)):
                    return h, b
            time.sleep(0.05)
        raise AssertionError(f"{self.ext}@{self.ip}: no matching NOTIFY in {timeout}s; got {self.notifies}")


def leave_message(pbx, caller_ip: str = "127.0.0.3"):
    """1001 calls 1003, is sent to voicemail (1003 busy or away), skips the greeting with # and
    leaves 5 s of 440 Hz (the maximum), then hangs up."""
    a = pbx.phone("a", "1001", caller_ip, "a")
    a.dial(uri("1003"))
    finish_message(pbx, a)
    return a


def finish_message(pbx, a) -> None:
    a.wait_established(10)
    time.sleep(1.0)
    a.send_dtmf("#")
    box = inbox(pbx.v)
    assert wait_until(lambda: box.exists() and any(box.iterdir()), 20), "no message stored"
    a.hangup()
    a.wait_closed(5)


def inbox(vpbx) -> Path:
    return Path(vpbx.data) / "tenants" / DOMAIN / "voicemail" / "1003" / "INBOX"


# --------------------------------------------------------------------------- subscribed phone

def test_a_subscribed_phone_is_told_when_a_message_arrives_and_when_it_is_heard(vpbx, reaper, tmp_path):
    pbx = Pbx(vpbx, tmp_path, reaper, user_extra={"1003": vm_user()})
    c = pbx.phone("c", "1003", "127.0.0.5", "c", mwi=True)
    # Right after registering, baresip subscribes; the first NOTIFY says nothing waits.
    s = wait_mwi(c, lambda s: True, 10)
    assert s["messages-waiting"] == "no" and s["voice-message"].startswith("0/0"), s
    assert s["message-account"] == f"sip:1003@{DOMAIN}", s
    sub = c.sent("SUBSCRIBE")
    assert sub and sub[0].header("event") == "message-summary", sub
    assert 200 in [m.status for m in c.received() if "SUBSCRIBE" in (m.header("cseq") or "")]

    # 1001 calls; 1003's phone rejects it (busy) and the caller leaves a message.
    a = pbx.phone("a", "1001", "127.0.0.3", "a")
    a.dial(uri("1003"))
    c.wait_event("CALL_INCOMING", 10)
    c.reject()
    c.wait_closed(5)
    finish_message(pbx, a)
    s = wait_mwi(c, lambda s: s.get("messages-waiting") == "yes")
    assert s["voice-message"].startswith("1/0"), s

    # 1003 listens by phone: the message moves to Old and the lamp goes out.
    c.dial(uri("*97"))
    c.wait_established(10)
    time.sleep(2.0)
    c.send_dtmf("4321#")
    time.sleep(4.0)
    c.send_dtmf("1")
    s = wait_mwi(c, lambda s: s.get("voice-message", "").startswith("0/1"))
    assert s["messages-waiting"] == "no", s
    c.hangup()
    c.wait_closed(5)
    notifies = c.received("NOTIFY")
    assert all((m.header("subscription-state") or "").startswith("active") for m in notifies), \
        [m.header("subscription-state") for m in notifies]


# --------------------------------------------------------------------------- SUBSCRIBE rules

def test_subscribe_rules_own_mailbox_only_known_event_bounded_and_unsubscribe(vpbx, reaper, tmp_path):
    Pbx(vpbx, tmp_path, reaper, user_extra={"1003": vm_user()})
    ua = RawUa("127.0.0.6", vpbx.sip_port, "1001")
    pw = SECRETS["1001"]
    try:
        ev = ["Event: message-summary", "Accept: application/simple-message-summary", "Expires: 600"]
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ["Event: presence", "Expires: 600"], pw)
        assert r.status == 489, r.raw
        assert "message-summary" in (r.header("allow-events") or ""), r.raw
        r = ua.request("SUBSCRIBE", f"sip:1002@{DOMAIN}", ev, pw)
        assert r.status == 403, r.raw
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev, "wrong-password")
        assert r.status == 401, r.raw
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ["Event: message-summary", "Expires: 5"], pw)
        assert r.status == 423 and r.header("min-expires") == "60", r.raw

        call_id, tag = f"{secrets.token_hex(8)}@x", secrets.token_hex(4)
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev, pw, call_id=call_id, from_tag=tag)
        assert r.status == 200 and r.header("expires") == "600", r.raw
        to_tag = r.header("to").split("tag=")[1].split(";")[0]
        h, body = ua.wait_notify(lambda h, s: h.get("call-id") == call_id, 5)
        assert h["event"] == "message-summary" and h["content-type"] == "application/simple-message-summary"
        assert h["subscription-state"].startswith("active;expires="), h
        assert summary(body)["messages-waiting"] == "no", body
        assert summary(body)["message-account"] == f"sip:1001@{DOMAIN}", body

        # A refresh in the dialog gets 200 and a NOTIFY; Expires: 0 ends it with a final one.
        n = len(ua.notifies)
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev[:2] + ["Expires: 300"], pw,
                       call_id=call_id, from_tag=tag, to_tag=to_tag, cseq=10)
        assert r.status == 200 and r.header("expires") == "300", r.raw
        wait_until(lambda: len(ua.notifies) > n, 5)
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev[:2] + ["Expires: 0"], pw,
                       call_id=call_id, from_tag=tag, to_tag=to_tag, cseq=20)
        assert r.status == 200, r.raw
        h, _ = ua.wait_notify(lambda h, s: h.get("subscription-state", "").startswith("terminated"), 5)
        assert h["call-id"] == call_id
        r = ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev[:2] + ["Expires: 300"], pw,
                       call_id=call_id, from_tag=tag, to_tag=to_tag, cseq=30)
        assert r.status == 481, r.raw

        # At most 8 subscriptions per user.
        statuses = [ua.request("SUBSCRIBE", f"sip:1001@{DOMAIN}", ev, pw).status for _ in range(9)]
        assert statuses == [200] * 8 + [403], statuses
        metrics = vpbx.metrics() or ""
        assert "vpbx_mwi_subscriptions 8" in metrics, [l for l in metrics.splitlines() if "mwi" in l]
    finally:
        ua.close()


# --------------------------------------------------------------------------- unsolicited MWI

def test_a_phone_without_a_subscription_gets_unsolicited_notify_on_store_and_on_delete_after_email(
        vpbx, reaper, tmp_path):
    smtp_port = free_port()
    smtp = Smtp(tmp_path, reaper, smtp_port)
    with open(vpbx.config, "a") as f:
        f.write(f'\n[smtp]\nurl = "smtp://127.0.0.1:{smtp_port}"\nfrom = "pbx@vpbx.test"\nretry_initial_s = 1\n')
    pbx = Pbx(vpbx, tmp_path, reaper, user_extra={"1003": vm_user(delete_after_email=True)})
    ua = RawUa("127.0.0.6", vpbx.sip_port, "1003")
    try:
        ua.register(SECRETS["1003"])
        # The raw phone answers the call 486: busy → voicemail.
        leave_message(pbx)
        h, body = ua.wait_notify(lambda h, s: s.get("messages-waiting") == "yes", 15)
        assert "subscription-state" not in h, h
        assert h["event"] == "message-summary", h
        assert summary(body)["voice-message"].startswith("1/0"), body
        # The mail server comes up: the message is mailed, deleted, and the lamp goes out.
        smtp.start()
        wait_until(lambda: smtp.mails(), 30)
        h, body = ua.wait_notify(lambda h, s: s.get("messages-waiting") == "no", 15)
        assert summary(body)["voice-message"].startswith("0/0"), body
        assert not any(inbox(vpbx).iterdir())
    finally:
        ua.close()
        smtp.stop()


def test_the_retention_purge_deletes_old_voicemail_and_the_phone_is_told(vpbx, reaper, tmp_path):
    with open(vpbx.config, "a") as f:
        f.write("\n[storage]\npurge_delay_s = 1\npurge_interval_s = 2\n")
    pbx = Pbx(vpbx, tmp_path, reaper, user_extra={"1003": vm_user()})
    ua = RawUa("127.0.0.6", vpbx.sip_port, "1003")
    try:
        ua.register(SECRETS["1003"])
        leave_message(pbx)
        ua.wait_notify(lambda h, s: s.get("messages-waiting") == "yes", 15)
        # A fresh message survives the purge (voicemail_days defaults to 30)…
        time.sleep(3.0)
        msgs = list(inbox(vpbx).iterdir())
        assert len(msgs) == 1, msgs
        # …but not once it is 31 days old.
        meta = msgs[0] / f"{msgs[0].name}.json"
        m = json.loads(meta.read_text())
        m["received_ms"] -= 31 * 86_400_000
        meta.write_text(json.dumps(m))
        h, body = ua.wait_notify(lambda h, s: s.get("messages-waiting") == "no", 15)
        assert summary(body)["voice-message"].startswith("0/0"), body
        assert not any(inbox(vpbx).iterdir())
        log = re.sub(r"\x1b\[[0-9;]*m", "", Path(vpbx.log).read_text(errors="replace"))
        assert "retention purge" in log and "voicemail=1" in log, log[-3000:]
        metrics = vpbx.metrics() or ""
        assert "vpbx_purge_voicemail_deleted_total 1" in metrics, \
            [l for l in metrics.splitlines() if "purge" in l]
    finally:
        ua.close()
