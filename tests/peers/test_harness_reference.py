"""Harness self-test: the peer helpers tell success from failure against a reference registrar
(Kamailio, PEERS.md §0, qop="auth"). If these pass and a vpbx test fails, the server is at fault,
not the harness. They use the same peers, addresses and word lists as the vpbx tests."""

import os

from peers import Baresip, Kamailio, free_port, pjsua_register, require_binary, run, sipsak_register

DOMAIN = "t1.vpbx.test"
USERS = {"1001": "ref-secret-1001"}


def test_baresip_helper_reports_ok_for_the_right_password_and_failed_for_a_wrong_one(reaper, tmp_path):
    k = Kamailio(tmp_path, reaper, USERS)
    k.start()
    good = Baresip(tmp_path, reaper, "good", "1001", DOMAIN, USERS["1001"], k.port, ip="127.0.0.3")
    good.start()
    assert good.wait_reg(10) == "ok", good.reginfo()
    bad = Baresip(tmp_path, reaper, "bad", "1001", DOMAIN, "wrong-password", k.port, ip="127.0.0.4")
    bad.start()
    assert bad.wait_reg(10) == "failed", bad.reginfo()
    tcp = Baresip(tmp_path, reaper, "tcp", "1001", DOMAIN, USERS["1001"], k.port, ip="127.0.0.5", transport="tcp")
    tcp.start()
    assert tcp.wait_reg(10) == "ok", tcp.reginfo()


def test_sipsak_and_pjsua2_helpers_report_success_and_failure(reaper, tmp_path, hosts):
    k = Kamailio(tmp_path, reaper, USERS, sha256=True)
    k.start()
    ok = pjsua_register(DOMAIN, k.port, "1001", USERS["1001"], free_port())
    assert ok.returncode == 0 and "algorithm=SHA-256" in ok.stdout, ok.stdout[-2000:]
    bad = pjsua_register(DOMAIN, k.port, "1001", "wrong-password", free_port())
    assert bad.returncode == 1, bad.stdout[-2000:]

    k2 = Kamailio(tmp_path / "md5", reaper, USERS)
    k2.start()
    r = sipsak_register(DOMAIN, k2.port, "1001", USERS["1001"], contact="sip:1001@127.0.0.1:5999",
                        local_ip="127.0.0.2")
    assert r.returncode == 0, r.stdout[-2000:]
    r = sipsak_register(DOMAIN, k2.port, "1001", "wrong-password", local_ip="127.0.0.2")
    assert r.returncode == 2 and "authorization failed" in (r.stdout + r.stderr), r.stdout[-2000:]


def test_svcrack_finds_the_password_with_the_security_tests_word_list_when_nothing_bans_it(reaper, tmp_path):
    k = Kamailio(tmp_path, reaper, USERS)
    k.start()
    words = tmp_path / "passwords.txt"
    words.write_text("".join(f"guess-{i:02d}\n" for i in range(20)) + USERS["1001"] + "\n")
    r = run([require_binary("svcrack"), "-x", "127.0.0.6", "-b", "127.0.0.6", "-P", str(free_port()), "-p", str(k.port),
             "--domain", DOMAIN, "-u", "1001", "-d", str(words), "127.0.0.1"],
            timeout=60, env=dict(os.environ, HOME=str(tmp_path)))
    assert USERS["1001"] in r.stdout, r.stdout + r.stderr
