import re
"""Issue 2 proof: baresip (Debian) against tenants made with `tenant create` + `tenant apply`."""

import time

import pytest

from peers import Baresip, user, wait_until

DOMAIN = "t1.vpbx.test"
EXT = "1001"
SECRET = "first-secret-1001"


def registered_from(vpbx, domain: str, ip: str, port: int) -> list[dict]:
    src = f"udp:{ip}:{port}"
    return [r for r in vpbx.registrations(domain) if r.get("source") == src]


def test_baresip_registers_and_is_listed_with_its_source_address(vpbx, reaper, tmp_path):
    vpbx.tenant(DOMAIN, [user(EXT, SECRET), user("1002", "other-secret-1002")])
    vpbx.start(DOMAIN)
    phone = Baresip(tmp_path, reaper, "ok", EXT, DOMAIN, SECRET, vpbx.sip_port, ip="127.0.0.3")
    phone.start()
    assert phone.wait_reg(10) == "ok", phone.reginfo()

    # The registrar may write bindings behind (flushed at least once a second).
    regs = wait_until(lambda: registered_from(vpbx, DOMAIN, "127.0.0.3", phone.sip_port), 5, 0.3)
    assert len(regs) == 1, vpbx.registrations(DOMAIN)
    reg = regs[0]
    assert f"{EXT}@{DOMAIN}" in reg["aor"]
    assert f"127.0.0.3:{phone.sip_port}" in reg["contact"]
    assert reg["transport"].lower() == "udp"
    assert 0 < int(reg["expires_in"]) <= 3600         # baresip asks for 300 (regint); a server may raise it (423)
    assert "baresip" in reg["user_agent"]
    # The table form exists too and names the contact.
    table = vpbx.cli("registrations", DOMAIN).stdout
    assert f"127.0.0.3:{phone.sip_port}" in table


def test_baresip_with_a_wrong_password_is_refused_and_not_listed(vpbx, reaper, tmp_path):
    vpbx.tenant(DOMAIN, [user(EXT, SECRET)])
    vpbx.start(DOMAIN)
    phone = Baresip(tmp_path, reaper, "bad", EXT, DOMAIN, "not-the-secret", vpbx.sip_port, ip="127.0.0.3")
    phone.start()
    # libre retries a 401 up to 16 times (sip_request_loops), so the phone either gives up
    # ("failed") or, past ban_threshold failures, is banned and left "pending". Both are refusals.
    assert phone.wait_reg(10) != "ok", phone.reginfo()
    assert phone.reg_state() in ("failed", "pending"), phone.reginfo()
    if phone.reg_state() == "pending":
        assert "127.0.0.3" in [b["ip"] for b in vpbx.bans()], "a looping wrong password is banned"
    time.sleep(1.5)                                      # past any write-behind interval
    assert vpbx.registrations(DOMAIN) == []
    # Control: the server is alive and the right secret works (from an address not banned).
    phone.stop()
    good = Baresip(tmp_path, reaper, "good", EXT, DOMAIN, SECRET, vpbx.sip_port, ip="127.0.0.5")
    good.start()
    assert good.wait_reg(10) == "ok", good.reginfo()


def test_after_tenant_apply_changes_the_secret_the_old_one_stops_working_without_a_restart(
        vpbx, reaper, tmp_path):
    from peers import tenant_yaml
    vpbx.tenant(DOMAIN, [user(EXT, SECRET)])
    vpbx.start(DOMAIN)
    pid = vpbx.proc.pid

    before = Baresip(tmp_path, reaper, "before", EXT, DOMAIN, SECRET, vpbx.sip_port, ip="127.0.0.3")
    before.start()
    assert before.wait_reg(10) == "ok", before.reginfo()
    before.stop()

    new_secret = "second-secret-1001"
    out = vpbx.tenant_apply(tenant_yaml(DOMAIN, [user(EXT, new_secret)]))
    assert out.stdout.strip(), "tenant apply should print a diff"
    time.sleep(3)                                        # the contract: picked up within 2 s

    old = Baresip(tmp_path, reaper, "old", EXT, DOMAIN, SECRET, vpbx.sip_port, ip="127.0.0.3")
    old.start()
    # Refused: libre gives up or, looping on 401, gets its address banned (see above).
    assert old.wait_reg(10) != "ok", old.reginfo()
    old.stop()
    time.sleep(1.5)
    assert vpbx.registrations(DOMAIN) == [] or all("127.0.0.3" not in r["contact"] or r["expires_in"] < 300
                                                   for r in vpbx.registrations(DOMAIN))

    new = Baresip(tmp_path, reaper, "new", EXT, DOMAIN, new_secret, vpbx.sip_port, ip="127.0.0.6")
    new.start()
    assert new.wait_reg(10) == "ok", new.reginfo()

    assert vpbx.running() and vpbx.proc.pid == pid, "the server must not have restarted"


def test_baresip_registers_over_tcp(vpbx, reaper, tmp_path):
    vpbx.tenant(DOMAIN, [user(EXT, SECRET)])
    vpbx.start(DOMAIN)
    phone = Baresip(tmp_path, reaper, "tcp", EXT, DOMAIN, SECRET, vpbx.sip_port, ip="127.0.0.3", transport="tcp")
    phone.start()
    assert phone.wait_reg(10) == "ok", phone.reginfo()
    regs = wait_until(lambda: [r for r in vpbx.registrations(DOMAIN) if r["transport"].lower() == "tcp"], 5, 0.3)
    assert len(regs) == 1, vpbx.registrations(DOMAIN)
    # Over TCP the source is the phone's connection (an ephemeral port); baresip does not bind
    # its outgoing TCP socket to its SIP address, so the kernel picks the loopback source.
    assert re.match(r"tcp:127\.0\.0\.\d+:\d+$", regs[0]["source"]), regs
