"""Issue 2 proof: sipsak REGISTER and OPTIONS against the server; an unknown domain gets no answer."""

from peers import UdpSip, build_request, sipsak_options, sipsak_register, user, wait_until

DOMAIN = "t1.vpbx.test"
UNKNOWN = "unknown.vpbx.test"


def test_sipsak_register_with_digest_gets_200_and_the_contact_is_listed(vpbx, hosts):
    vpbx.tenant(DOMAIN, [user("1001", "sipsak-secret-1001")])
    vpbx.start(DOMAIN)
    r = sipsak_register(DOMAIN, vpbx.sip_port, "1001", "sipsak-secret-1001",
                        contact="sip:1001@127.0.0.1:5999", expires=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    regs = wait_until(lambda: [x for x in vpbx.registrations(DOMAIN) if "127.0.0.1:5999" in x["contact"]], 5, 0.3)
    assert regs, vpbx.registrations(DOMAIN)
    assert 0 < int(regs[0]["expires_in"]) <= 600


def test_sipsak_register_with_a_wrong_password_fails_authorization(vpbx, hosts):
    vpbx.tenant(DOMAIN, [user("1001", "sipsak-secret-1001")])
    vpbx.start(DOMAIN)
    r = sipsak_register(DOMAIN, vpbx.sip_port, "1001", "wrong-password", contact="sip:1001@127.0.0.1:5999")
    assert r.returncode == 2, r.stdout[-3000:] + r.stderr
    assert "authorization failed" in (r.stdout + r.stderr)
    assert vpbx.registrations(DOMAIN) == []


def test_sipsak_options_to_a_known_domain_gets_200(vpbx, hosts):
    vpbx.tenant_create(DOMAIN)
    vpbx.start(DOMAIN)
    r = sipsak_options(f"sip:{DOMAIN}:{vpbx.sip_port}")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "SIP/2.0 200" in r.stdout


def test_a_request_for_an_unknown_domain_gets_no_answer(vpbx, hosts):
    vpbx.tenant_create(DOMAIN)
    vpbx.start(DOMAIN)
    # sipsak: no reply at all, so it gives up after 64*T1 with rc 3.
    r = sipsak_options(f"sip:nobody@{UNKNOWN}:{vpbx.sip_port}")
    assert r.returncode == 3, r.stdout[-2000:] + r.stderr
    assert "SIP/2.0" not in r.stdout
    # Raw UDP: neither OPTIONS nor REGISTER for the unknown domain gets a single datagram back.
    with UdpSip("127.0.0.1") as c:
        c.send(build_request("OPTIONS", UNKNOWN, c.local_ip, c.local_port, user="nobody"), vpbx.sip)
        c.send(build_request("REGISTER", UNKNOWN, c.local_ip, c.local_port, user="1001"), vpbx.sip)
        assert c.collect(2.0) == []
        # Control: the same socket gets 200 for the known domain, so silence above is a decision.
        r = c.options(vpbx.sip, DOMAIN)
        assert r is not None and r.status == 200
