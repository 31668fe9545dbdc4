#!/usr/bin/env python3
"""Register one account with pjsua2 (PEERS.md §2) and print what happened.

Prints `REG <code> <reason>` for every registration state change and, because pjsip logs
every SIP message at level >= 4, `AUTH <header>` for each Authorization header it sent, so a
test can see which digest algorithm the client used. Exit code 0 iff a 200 was received.
No sound card: setNullDev.
"""
import argparse
import re
import sys
import time

import pjsua2 as pj

a = argparse.ArgumentParser()
a.add_argument("--domain", required=True)
a.add_argument("--port", type=int, required=True, help="registrar port on 127.0.0.1")
a.add_argument("--user", required=True)
a.add_argument("--pw", required=True)
a.add_argument("--local-port", type=int, required=True)
a.add_argument("--secs", type=float, default=8.0)
o = a.parse_args()


def log(*x):
    print(*x, flush=True)


class Writer(pj.LogWriter):
    def write(self, entry):
        for m in re.finditer(r"^(Authorization|WWW-Authenticate):[^\r\n]*", entry.msg, re.M | re.I):
            log("AUTH" if m.group(1).lower() == "authorization" else "CHAL", m.group(0))


class Acc(pj.Account):
    def __init__(self):
        super().__init__()
        self.codes = []

    def onRegState(self, prm):
        self.codes.append(prm.code)
        log("REG", prm.code, prm.reason)


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
writer = Writer()
cfg.logConfig.writer = writer
cfg.logConfig.level = 5
cfg.logConfig.consoleLevel = 5
cfg.logConfig.msgLogging = True
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = o.local_port
tc.boundAddress = "127.0.0.1"
tc.publicAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()

ac = pj.AccountConfig()
ac.idUri = f"sip:{o.user}@{o.domain}"
ac.regConfig.registrarUri = f"sip:{o.domain}:{o.port}"   # the domain resolves via /etc/hosts
ac.regConfig.timeoutSec = 300
ac.regConfig.retryIntervalSec = 0          # no automatic retry: one attempt, one verdict
ac.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", o.user, 0, o.pw))
acc = Acc()
acc.create(ac)

end = time.time() + o.secs
while time.time() < end and not any(c >= 200 for c in acc.codes):
    ep.libHandleEvents(20)
ok = 200 in acc.codes
log("RESULT", "ok" if ok else "fail", acc.codes)
try:
    acc.shutdown()
    t = time.time() + 1.0
    while time.time() < t:
        ep.libHandleEvents(20)
    ep.libDestroy()
except Exception as e:  # shutdown noise must not hide the verdict
    log("SHUTDOWN", e)
sys.exit(0 if ok else 1)
