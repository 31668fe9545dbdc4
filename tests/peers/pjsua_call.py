#!/usr/bin/env python3
"""A scriptable pjsua2 phone for the call tests (calls.PjPhone drives it; PEERS.md §2).

Commands arrive as JSON lines on stdin; events leave as JSON lines on stdout:
  READY, REG {code,reason}, INCOMING {call,from}, STATE {call,state,code,reason},
  MEDIA {call,dir}, DTMF {call,digit,method}, XFER {call,code,final}, CLOSED {call,code,reason},
  ERROR {cmd,error}, EXIT.
Commands: call {uri,call}, answer {code,call}, hangup {call}, hold {call}, resume {call},
  xfer {uri,call}, xfer_replaces {call,dest}, dtmf {digits,info,call}, quit.
`call` names a call: outgoing ones get the name given to `call`; incoming ones are in1, in2...;
ones made by following a REFER are xfer1...; ones replacing another (Replaces) are repl1...
Without a name a command acts on the newest call still alive.
Every SIP message is written to --siplog (pjsip message logging). No sound card (setNullDev);
the conference bridge runs at 8 kHz so the recorder writes 8 kHz WAVs.
"""
import argparse
import json
import os
import select
import sys
import time

import pjsua2 as pj

a = argparse.ArgumentParser()
a.add_argument("--ip", default="127.0.0.1")
a.add_argument("--port", type=int, required=True)
a.add_argument("--rtp-port", type=int, required=True)
a.add_argument("--user", required=True)
a.add_argument("--domain")
a.add_argument("--registrar-port", type=int)
a.add_argument("--password", default="")
a.add_argument("--codecs", default="PCMU")
a.add_argument("--prack", choices=["no", "optional", "mandatory"], default="no")
a.add_argument("--timer", choices=["no", "optional", "required", "always"], default="no")
a.add_argument("--session-expires", type=int, default=1800)
a.add_argument("--min-se", type=int, default=90)
a.add_argument("--play")
a.add_argument("--rec", help="recording path; each call records to <stem>-<call>.wav")
a.add_argument("--siplog", required=True)
a.add_argument("--auto-answer", action="store_true")
o = a.parse_args()


def emit(ev, **kw):
    sys.stdout.write(json.dumps({"ev": ev, "t": time.time(), **kw}) + "\n")
    sys.stdout.flush()


class Writer(pj.LogWriter):
    def __init__(self, path):
        super().__init__()
        self.f = open(path, "a")

    def write(self, entry):
        self.f.write(entry.msg if entry.msg.endswith("\n") else entry.msg + "\n")
        self.f.flush()


calls: dict = {}          # name -> Call
counters = {"in": 0, "xfer": 0, "repl": 0}


def new_name(kind):
    counters[kind] += 1
    return f"{kind}{counters[kind]}"


class Call(pj.Call):
    def __init__(self, acc, name, cid=pj.PJSUA_INVALID_ID):
        super().__init__(acc, cid)
        self.name = name
        self.acc = acc
        self.player = None
        self.rec = None
        self.alive = True
        calls[name] = self

    def onCallState(self, prm):
        ci = self.getInfo()
        emit("STATE", call=self.name, state=ci.stateText, code=ci.lastStatusCode, reason=ci.lastReason)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.alive = False
            emit("CLOSED", call=self.name, code=ci.lastStatusCode, reason=ci.lastReason)

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            emit("MEDIA", call=self.name, status=int(mi.status), dir=int(mi.dir))
            if mi.status not in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                continue
            am = self.getAudioMedia(i)
            if o.play:
                if not self.player:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(o.play, pj.PJMEDIA_FILE_NO_LOOP)
                self.player.startTransmit(am)
            if o.rec:
                if not self.rec:
                    self.rec = pj.AudioMediaRecorder()
                    self.rec.createRecorder(o.rec.replace(".wav", f"-{self.name}.wav"))
                am.startTransmit(self.rec)

    def onDtmfDigit(self, prm):
        emit("DTMF", call=self.name, digit=prm.digit, method=int(prm.method))

    def onCallTransferRequest(self, prm):
        name = new_name("xfer")
        prm.newCall = Call(self.acc, name)
        emit("REFER", call=self.name, to=prm.dstUri, new=name)

    def onCallTransferStatus(self, prm):
        emit("XFER", call=self.name, code=prm.statusCode, final=bool(prm.finalNotify))
        if prm.finalNotify and 200 <= prm.statusCode < 300 and self.alive:
            self.hangup(pj.CallOpParam())         # as a phone does once its transfer succeeded

    def onCallReplaced(self, prm):
        name = new_name("repl")
        prm.newCall = Call(self.acc, name, prm.newCallId)
        emit("REPLACED", call=self.name, new=name)


class Acc(pj.Account):
    def onRegState(self, prm):
        emit("REG", code=prm.code, reason=prm.reason)

    def onIncomingCall(self, prm):
        name = new_name("in")
        c = Call(self, name, prm.callId)
        emit("INCOMING", call=name, src=prm.rdata.srcAddress,
             frm=c.getInfo().remoteUri)
        cp = pj.CallOpParam()
        cp.statusCode = 180
        c.answer(cp)
        if o.auto_answer:
            cp = pj.CallOpParam()
            cp.statusCode = 200
            c.answer(cp)


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
writer = Writer(o.siplog)
cfg.logConfig.writer = writer
cfg.logConfig.level = 5
cfg.logConfig.consoleLevel = 5
cfg.logConfig.msgLogging = True
cfg.medConfig.noVad = True
cfg.medConfig.clockRate = 8000
cfg.medConfig.sndClockRate = 8000
cfg.medConfig.ecTailLen = 0
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = o.port
tc.boundAddress = o.ip
tc.publicAddress = o.ip
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()
wanted = [c.strip() + "/" for c in o.codecs.split(",")]
for c in ep.codecEnum2():
    ep.codecSetPriority(c.codecId, 255 - wanted.index(p) if (p := next((w for w in wanted if c.codecId.startswith(w)), None)) else 0)

ac = pj.AccountConfig()
if o.registrar_port:
    ac.idUri = f"sip:{o.user}@{o.domain}"
    ac.regConfig.registrarUri = f"sip:{o.domain}:{o.registrar_port}"
    ac.regConfig.timeoutSec = 300
    ac.regConfig.retryIntervalSec = 0
    ac.sipConfig.proxies.append(f"sip:127.0.0.1:{o.registrar_port};lr")
    ac.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", o.user, 0, o.password))
else:
    ac.idUri = f"sip:{o.user}@{o.ip}:{o.port}"
    ac.regConfig.registerOnAdd = False
ac.callConfig.prackUse = {"no": pj.PJSUA_100REL_NOT_USED, "optional": pj.PJSUA_100REL_OPTIONAL,
                          "mandatory": pj.PJSUA_100REL_MANDATORY}[o.prack]
ac.callConfig.timerUse = {"no": pj.PJSUA_SIP_TIMER_INACTIVE, "optional": pj.PJSUA_SIP_TIMER_OPTIONAL,
                          "required": pj.PJSUA_SIP_TIMER_REQUIRED,
                          "always": pj.PJSUA_SIP_TIMER_ALWAYS}[o.timer]
ac.callConfig.timerSessExpiresSec = o.session_expires
ac.callConfig.timerMinSESec = o.min_se
ac.mediaConfig.transportConfig.boundAddress = o.ip
ac.mediaConfig.transportConfig.publicAddress = o.ip
ac.mediaConfig.transportConfig.port = o.rtp_port
ac.mediaConfig.transportConfig.portRange = 20
acc = Acc()
acc.create(ac)
emit("READY", uri=ac.idUri)


def pick(name):
    if name:
        return calls[name]
    live = [c for c in calls.values() if c.alive]
    if not live:
        raise KeyError("no live call")
    return live[-1]


def handle(cmd):
    k = cmd["cmd"]
    if k == "call":
        c = Call(acc, cmd.get("call") or "c1")
        c.makeCall(cmd["uri"], pj.CallOpParam(True))
    elif k == "answer":
        cp = pj.CallOpParam()
        cp.statusCode = int(cmd.get("code") or 200)
        pick(cmd.get("call")).answer(cp)
    elif k == "hangup":
        pick(cmd.get("call")).hangup(pj.CallOpParam())
    elif k == "hold":
        pick(cmd.get("call")).setHold(pj.CallOpParam(True))
    elif k == "resume":
        cp = pj.CallOpParam(True)
        cp.opt.flag = pj.PJSUA_CALL_UNHOLD
        pick(cmd.get("call")).reinvite(cp)
    elif k == "xfer":
        pick(cmd.get("call")).xfer(cmd["uri"], pj.CallOpParam(True))
    elif k == "xfer_replaces":
        pick(cmd.get("call")).xferReplaces(calls[cmd["dest"]], pj.CallOpParam(True))
    elif k == "dtmf":
        c = pick(cmd.get("call"))
        if cmd.get("info"):
            p = pj.CallSendDtmfParam()
            p.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            p.digits = cmd["digits"]
            c.sendDtmf(p)
        else:
            c.dialDtmf(cmd["digits"])
    elif k == "quit":
        return False
    else:
        raise ValueError(f"unknown command {k}")
    return True


running = True
buf = b""
fd = sys.stdin.fileno()
while running:
    ep.libHandleEvents(10)
    r, _, _ = select.select([fd], [], [], 0)
    if r:
        chunk = os.read(fd, 65536)          # not sys.stdin: its buffer would hide lines from select
        if not chunk:
            break
        buf += chunk
        while running and b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                running = handle(json.loads(line))
            except Exception as e:  # report, keep the phone alive
                emit("ERROR", cmd=line.decode(errors="replace"), error=repr(e))

try:
    ep.hangupAllCalls()
    end = time.time() + 1.0
    while time.time() < end:
        ep.libHandleEvents(10)
    calls.clear()
    acc.shutdown()
    ep.libDestroy()
except Exception as e:
    emit("ERROR", cmd="shutdown", error=repr(e))
emit("EXIT")
