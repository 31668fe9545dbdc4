"""Issue 5 proof, call queues: real baresip phones as agents and callers.

Callers reaching a queue are answered and hear music; free agents ring in the strategy's
order (ringinuse=no, autofill); the first to answer talks to the caller; wrap-up keeps an
agent free of queue calls for a while; a caller who hangs up is logged as abandoned with
their position; `max_wait`, `max_len` and `join_empty` send callers on. Dynamic agents log
in, pause and resume with service codes, and a restart keeps them. Everything is in the queue
log (`vpbx queue log`) and the statistics (`vpbx queue stats`).

Agents 1101 (.4), 1102 (.5), 1103 (.7) play 440 Hz; callers play 880 Hz; the secretary 2222
on .6.
"""

import json
import time

from calls import Phone, add_media_config, analyze, assert_tone, call_tenant_yaml, \
    make_tone_wav, wait_cdr, wait_recording_seconds
from peers import free_port, wait_until

DOMAIN = "queues.vpbx.test"
SECRETS = {"1101": "secret-1101-bbbb", "1102": "secret-1102-cccc", "1103": "secret-1103-dddd",
           "2222": "secret-2222-eeee", "1104": "secret-1104-ffff"}
CALLERS = [f"200{i}" for i in range(1, 6)]
SECRETS.update({c: f"secret-{c}-caller" for c in CALLERS})
AGENT_HZ, CALLER_HZ, PEAK = 440, 880, -6.0
RMS = -3.0103
QUEUES = """queues:
  - {ext: "1500", name: Sales, strategy: ringall, members: ["1101"], agents: ["1102", "1103"],
     member_timeout: 4, retry: 1, wrapup: 2, announce_frequency: 3}
  - {ext: "1600", name: Support, strategy: hunt, members: ["1101", "1102", "1103"],
     member_timeout: 20, retry: 1, wrapup: 4, announce_frequency: 5}
  - {ext: "1700", name: Night, members: ["1104"], max_wait: 3, on_timeout: "user:2222",
     max_len: 1, retry: 1}
  - {ext: "1800", name: Empty, agents: ["1102"], join_empty: false}
"""
IPS = {"1101": "127.0.0.4", "1102": "127.0.0.5", "1103": "127.0.0.7", "2222": "127.0.0.6",
       "1104": "127.0.0.8"}
IPS.update({c: f"127.0.0.{20 + i}" for i, c in enumerate(CALLERS)})


class Office:
    def __init__(self, vpbx, tmp_path, reaper) -> None:
        self.v = vpbx
        self.tmp = tmp_path
        self.reaper = reaper
        lo = free_port(span=200)
        add_media_config(vpbx, f"{lo}-{lo + 199}")
        users = [{"ext": e, "name": f"User {e}", "secret": s} for e, s in SECRETS.items()]
        vpbx.tenant_create(DOMAIN)
        vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users) + QUEUES)
        vpbx.start(DOMAIN)
        self.agent_wav = make_tone_wav(tmp_path / "a440.wav", AGENT_HZ, 60, PEAK)
        self.caller_wav = make_tone_wav(tmp_path / "a880.wav", CALLER_HZ, 60, PEAK)

    def phone(self, ext: str) -> Phone:
        wav = self.caller_wav if ext in CALLERS else self.agent_wav
        p = Phone(self.tmp, self.reaper, f"p{ext}", ip=IPS[ext], wav=wav, user=ext, domain=DOMAIN,
                  password=SECRETS[ext], proxy_port=self.v.sip_port).start()
        p.register()
        return p

    def show(self) -> dict:
        out = self.v.cli("queue", "show", DOMAIN, "--json").stdout
        return {q["ext"]: q for q in json.loads(out)}

    def agent(self, queue: str, ext: str) -> dict:
        return next(a for a in self.show()[queue]["agents"] if a["ext"] == ext)

    def log(self, queue: str) -> list[dict]:
        out = self.v.cli("queue", "log", DOMAIN, "--queue", queue, "--json").stdout
        return json.loads(out)

    def wait_log(self, queue: str, pred, timeout: float = 5.0) -> list[dict]:
        got = wait_until(lambda: (lambda l: l if pred(l) else None)(self.log(queue)), timeout, 0.3)
        assert got, f"queue {queue} log never matched: {self.log(queue)}"
        return got

    def stats(self, queue: str) -> dict:
        out = self.v.cli("queue", "stats", DOMAIN, "--queue", queue, "--json").stdout
        return json.loads(out)[0]

    def code(self, p: Phone, digits: str) -> None:
        """Dial a service code: answered with a spoken confirmation, then hung up by vpbx."""
        p.dial(uri(digits))
        p.wait_established(10)
        p.wait_closed(15)


def uri(ext: str) -> str:
    return f"sip:{ext}@{DOMAIN}"


def incoming(p: Phone) -> int:
    return len(p.events("CALL_INCOMING"))


def events(log: list[dict]) -> list[str]:
    return [e["event"] for e in log]


def test_a_caller_waits_with_music_until_the_agent_answers_and_the_log_has_it_all(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    caller, agent = o.phone("2001"), o.phone("1101")
    caller.dial(uri("1500"))
    # Answered by the queue at once: the caller hears music while 1101 rings.
    caller.wait_established(10)
    agent.wait_event("CALL_INCOMING", 10)
    music = wait_recording_seconds(caller, 2.5)
    _, level = analyze(music, start=0.5)
    assert level > -40.0, f"the waiting caller hears music, got {level:.1f} dBFS"
    waiting = o.show()["1500"]["waiting"]
    assert [w["caller"] for w in waiting] == ["2001"] and waiting[0]["ringing"] == ["1101"], waiting
    assert f'vpbx_queue_callers_waiting{{tenant="{DOMAIN}",queue="1500"}} 1' in (vpbx.metrics() or "")
    time.sleep(1.0)
    agent.answer()
    agent.wait_established(10)
    time.sleep(2.5)
    # Both ways: the agent hears the caller, the caller hears the agent (after the music).
    assert_tone(wait_recording_seconds(agent, 2.0), CALLER_HZ, PEAK + RMS, start=0.5)
    assert_tone(caller.last_recording(), AGENT_HZ, PEAK + RMS, start=-1.5)
    assert o.agent("1500", "1101")["state"] == "talking"
    m = vpbx.metrics() or ""
    assert f'vpbx_queue_agents_talking{{tenant="{DOMAIN}",queue="1500"}} 1' in m, m[-2000:]
    assert f'vpbx_queue_callers_waiting{{tenant="{DOMAIN}",queue="1500"}} 0' in m
    assert 'vpbx_queue_events_total{event="CONNECT"} 1' in m
    caller.hangup()
    agent.wait_closed(5)
    log = o.wait_log("1500", lambda l: "COMPLETE" in events(l))
    assert events(log) == ["ENTER", "CONNECT", "COMPLETE"], log
    connect = log[1]
    assert connect["agent"] == "1101" and connect["caller"] == "2001"
    assert 0 <= connect["wait_s"] <= 6, connect
    assert log[2]["talk_s"] >= 2, log[2]
    c = wait_cdr(vpbx, DOMAIN, 1)[0]
    assert c["disposition"] == "ANSWERED" and c["destination"] == "user:1101", c
    # Wrap-up (2 s) after the call, then free again.
    assert o.agent("1500", "1101")["state"] == "wrapup"
    assert wait_until(lambda: o.agent("1500", "1101")["state"] == "free", 5, 0.3)
    s = o.stats("1500")
    assert (s["offered"], s["answered"], s["abandoned"]) == (1, 1, 0), s


def test_dynamic_agents_log_in_pause_resume_and_a_restart_keeps_them(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    a1, a2, a4 = o.phone("1101"), o.phone("1102"), o.phone("1104")
    assert o.agent("1500", "1102")["state"] == "logged_out"
    o.code(a2, "*45")                       # into every queue listing 1102 as an agent
    assert o.agent("1500", "1102")["logged_in"] is True
    assert o.agent("1800", "1102")["logged_in"] is True
    o.code(a2, "*461800")                   # out of 1800 only
    assert o.agent("1800", "1102")["logged_in"] is False
    assert o.agent("1500", "1102")["logged_in"] is True
    o.code(a2, "*471500")                   # paused in 1500
    assert o.agent("1500", "1102")["state"] == "paused"
    o.code(a4, "*45")                       # 1104 is no dynamic agent anywhere: refused
    assert all(a["ext"] != "1104" or not a["logged_in"] or a["static"]
               for q in o.show().values() for a in q["agents"])

    vpbx.stop()
    vpbx.start(DOMAIN)
    a = o.agent("1500", "1102")
    assert a["logged_in"] is True and a["paused"] is True, f"the restart lost the agent: {a}"
    assert o.agent("1800", "1102")["logged_in"] is False
    a1.register()
    a2.register()

    caller = o.phone("2001")
    caller.dial(uri("1500"))
    caller.wait_established(10)
    a1.wait_event("CALL_INCOMING", 10)
    time.sleep(1.0)
    assert incoming(a2) == 0, "a paused agent was rung"
    a1.reject()                             # 1101 says busy: the attempt ends
    o.code(a2, "*48")                       # resumes
    # The next attempt (retry 1 s) rings both: 1101 again and 1102.
    a2.wait_event("CALL_INCOMING", 10)
    a2.answer()
    a2.wait_established(10)
    caller.hangup()
    a2.wait_closed(5)
    log = o.wait_log("1500", lambda l: "COMPLETE" in events(l))
    ev = events(log)
    for e in ["AGENTLOGIN", "PAUSE", "UNPAUSE", "ENTER", "RINGNOANSWER", "CONNECT", "COMPLETE"]:
        assert e in ev, f"{e} missing from the queue log: {ev}"
    assert [e["agent"] for e in log if e["event"] == "CONNECT"] == ["1102"]
    assert "AGENTLOGOFF" in events(o.log("1800"))


def test_five_callers_three_agents_in_turn_wrapup_and_an_abandon(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    agents = {e: o.phone(e) for e in ["1101", "1102", "1103"]}
    callers = [o.phone(c) for c in CALLERS]
    for c in callers:
        c.dial(uri("1600"))
        c.wait_established(10)
        time.sleep(0.4)
    # hunt (linear) with autofill: the first three callers ring the three agents in order.
    for e in ["1101", "1102", "1103"]:
        agents[e].wait_event("CALL_INCOMING", 10)
    waiting = o.show()["1600"]["waiting"]
    assert [w["caller"] for w in waiting] == CALLERS, waiting
    assert [w["ringing"] for w in waiting] == [["1101"], ["1102"], ["1103"], [], []], waiting
    for a in agents.values():
        a.answer()
        a.wait_established(10)
    # The fifth caller gives up at position 2.
    callers[4].hangup()
    callers[4].wait_closed(5)
    # 1101 ends its call: 4 s of wrap-up before the fourth caller rings it.
    t0 = time.monotonic()
    callers[0].hangup()
    agents["1101"].wait_closed(5)
    assert wait_until(lambda: incoming(agents["1101"]) == 2, 10, 0.1), "1101 never rang again"
    took = time.monotonic() - t0
    assert 3.5 <= took <= 7.0, f"wrap-up 4 s, the next queue call rang after {took:.1f}s"
    assert incoming(agents["1102"]) == 1 and incoming(agents["1103"]) == 1
    agents["1101"].answer()
    agents["1101"].wait_established(10)
    for c in callers[1:4]:
        c.hangup()
    log = o.wait_log("1600", lambda l: events(l).count("COMPLETE") == 4, timeout=8)
    ev = events(log)
    assert ev.count("ENTER") == 5 and ev.count("CONNECT") == 4, ev
    abandon = [e for e in log if e["event"] == "ABANDON"]
    assert len(abandon) == 1 and abandon[0]["caller"] == "2005", abandon
    assert abandon[0]["position"] == 2, f"2005 waited behind 2004 only: {abandon}"
    connects = {e["caller"]: e["agent"] for e in log if e["event"] == "CONNECT"}
    assert connects == {"2001": "1101", "2002": "1102", "2003": "1103", "2004": "1101"}, connects
    s = o.stats("1600")
    assert (s["offered"], s["answered"], s["abandoned"]) == (5, 4, 1), s
    assert s["avg_talk_s"] > 0 and s["max_wait_s"] >= 3, s
    table = o.v.cli("queue", "stats", DOMAIN).stdout
    print(table)
    row = next(ln for ln in table.splitlines() if ln.startswith("1600 "))
    assert row.split()[1:4] == ["5", "4", "1"], table


def test_max_wait_max_len_and_join_empty_send_callers_on(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    sec = o.phone("2222")
    c1, c2, c3 = o.phone("2001"), o.phone("2002"), o.phone("2003")
    # 1700: its only member (1104) has no phone; one caller at most; 3 s, then the secretary.
    t0 = time.monotonic()
    c1.dial(uri("1700"))
    c1.wait_established(10)
    c2.dial(uri("1700"))
    reason = c2.wait_closed(10)
    assert "486" in reason, f"a full queue answers busy, got {reason!r}"
    sec.wait_event("CALL_INCOMING", 10)
    took = time.monotonic() - t0
    assert 2.5 <= took <= 6.0, f"max_wait 3 s, the secretary rang after {took:.1f}s"
    sec.answer()
    sec.wait_established(10)
    time.sleep(2.0)
    assert_tone(wait_recording_seconds(sec, 1.5), CALLER_HZ, PEAK + RMS, start=0.3)
    c1.hangup()
    sec.wait_closed(5)
    log = o.wait_log("1700", lambda l: "TIMEOUT" in events(l))
    assert events(log)[:3] == ["ENTER", "FULL", "TIMEOUT"], log
    # 1800: nobody logged in and join_empty off: 480 at once.
    c3.dial(uri("1800"))
    reason = c3.wait_closed(10)
    assert "480" in reason, f"an empty queue refuses, got {reason!r}"
    assert events(o.log("1800")) == ["JOINEMPTY"]


def test_waiting_callers_hear_their_position_between_the_music(vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    # The queue's music is a 300 Hz tone, so the announcement (speech) shows in the audio.
    tone = make_tone_wav(tmp_path / "t300.wav", 300, 30, PEAK)
    vpbx.cli("moh", "add", DOMAIN, "tone", str(tone))
    users = [{"ext": e, "name": f"User {e}", "secret": s} for e, s in SECRETS.items()]
    bad = vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users) + QUEUES
                            + '  - {ext: "1900", name: Tone, members: ["1104"], moh: tonee}\n',
                            check=False)
    assert bad.returncode != 0 and 'queues[4].moh: music-on-hold class "tonee" not found' \
        in bad.stderr, bad.stderr
    vpbx.tenant_apply(call_tenant_yaml(DOMAIN, users) + QUEUES
                      + '  - {ext: "1900", name: Tone, members: ["1104"], moh: tone,'
                        ' announce_frequency: 3}\n')
    assert wait_until(lambda: "1900" in o.show(), 5, 0.2), "the server never loaded queue 1900"
    first, second = o.phone("2001"), o.phone("2002")
    first.dial(uri("1900"))
    first.wait_established(10)
    second.dial(uri("1900"))
    second.wait_established(10)
    # 0–3 s music; at 3 s the first hears "you are now first in line… thank you for your
    # patience" (7 s), the second "you are currently caller number 2… thank you…" (7 s);
    # then the music again, until the next announcement 3 s later.
    for who, phone in (("first", first), ("second", second)):
        rec = wait_recording_seconds(phone, 12.6, timeout=20)
        before, _ = analyze(rec, 0.5, 2.5)
        during, level = analyze(rec, 4.5, 8.5)
        after, _ = analyze(rec, 10.6, 12.4)
        assert abs(before - 300) < 15, f"{who}: music before the announcement: {before:.0f} Hz"
        assert abs(during - 300) > 50 and level > -40, \
            f"{who}: announcement: {during:.0f} Hz at {level:.1f} dBFS"
        assert abs(after - 300) < 15, f"{who}: music after the announcement: {after:.0f} Hz"
    first.hangup()
    second.hangup()
    log = o.wait_log("1900", lambda l: events(l).count("ABANDON") == 2)
    assert events(log) == ["ENTER", "ENTER", "ABANDON", "ABANDON"], log
    assert [e["position"] for e in log] == [1, 2, 1, 1], log
    assert all(e["wait_s"] >= 12 for e in log[2:]), log


def test_an_agent_who_transfers_the_caller_is_logged_with_a_transfer_and_wraps_up(
        vpbx, reaper, tmp_path):
    o = Office(vpbx, tmp_path, reaper)
    caller, agent, sec = o.phone("2001"), o.phone("1101"), o.phone("2222")
    caller.dial(uri("1500"))
    caller.wait_established(10)
    agent.wait_event("CALL_INCOMING", 10)
    agent.answer()
    agent.wait_established(10)
    time.sleep(1.5)
    agent.transfer(uri("2222"))                   # blind transfer (REFER)
    sec.wait_event("CALL_INCOMING", 10)
    sec.answer()
    sec.wait_established(10)
    agent.wait_closed(10)
    # The agent's part ended with the transfer: logged, and wrap-up (2 s) starts.
    log = o.wait_log("1500", lambda l: "TRANSFER" in events(l))
    assert events(log) == ["ENTER", "CONNECT", "TRANSFER"], log
    assert log[2]["agent"] == "1101" and log[2]["talk_s"] >= 1, log[2]
    assert o.agent("1500", "1101")["state"] in ("wrapup", "free")
    time.sleep(1.0)
    assert_tone(wait_recording_seconds(sec, 1.0), CALLER_HZ, PEAK + RMS, start=0.2)
    caller.hangup()
    sec.wait_closed(5)
    time.sleep(1.0)
    assert events(o.log("1500")) == ["ENTER", "CONNECT", "TRANSFER"], "nothing more after it"
