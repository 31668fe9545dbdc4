"""Issue 2 proof: SHA-256 digest (RFC 8760) where the tenant or the user enables it, shown with
pjsua2-python, the one peer here that speaks it (baresip 1.0.0 fails on any SHA-256 challenge)."""

import re

from peers import Baresip, free_port, pjsua_register, tenant_yaml, user

DOMAIN = "t2.vpbx.test"


def algorithms(lines: list[str], prefix: str) -> set[str]:
    out = set()
    for ln in lines:
        if ln.startswith(prefix):
            m = re.search(r"algorithm=\"?([A-Za-z0-9-]+)", ln)
            out.add(m.group(1).upper() if m else "MD5")   # no algorithm parameter means MD5
    return out


def test_pjsua2_registers_with_sha256_on_a_sha256_only_tenant(vpbx, hosts):
    vpbx.tenant_create(DOMAIN)
    vpbx.tenant_apply(tenant_yaml(DOMAIN, [user("1001", "sha-secret-1001")], digest_algorithms=["sha256"]))
    vpbx.start(DOMAIN)
    r = pjsua_register(DOMAIN, vpbx.sip_port, "1001", "sha-secret-1001", free_port())
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and "REG 200 OK" in lines, r.stdout[-3000:] + r.stderr[-2000:]
    assert algorithms(lines, "CHAL") == {"SHA-256"}, "only SHA-256 challenges may be offered"
    assert algorithms(lines, "AUTH") == {"SHA-256"}


def test_pjsua2_with_a_wrong_password_is_refused_on_a_sha256_only_tenant(vpbx, hosts):
    vpbx.tenant_create(DOMAIN)
    vpbx.tenant_apply(tenant_yaml(DOMAIN, [user("1001", "sha-secret-1001")], digest_algorithms=["sha256"]))
    vpbx.start(DOMAIN)
    r = pjsua_register(DOMAIN, vpbx.sip_port, "1001", "wrong-secret", free_port())
    assert r.returncode == 1, r.stdout[-3000:]
    assert "REG 401 Unauthorized" in r.stdout or re.search(r"^REG 40[13]", r.stdout, re.M), r.stdout[-3000:]


def test_pjsua2_registers_with_sha256_when_only_the_user_enables_it(vpbx, hosts):
    vpbx.tenant_create(DOMAIN)
    users = [user("1001", "md5-secret-1001"),
             dict(user("1002", "sha-secret-1002"), digest_algorithms=["sha256"])]
    vpbx.tenant_apply(tenant_yaml(DOMAIN, users))
    vpbx.start(DOMAIN)
    r = pjsua_register(DOMAIN, vpbx.sip_port, "1002", "sha-secret-1002", free_port())
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout[-3000:]
    assert algorithms(lines, "AUTH") == {"SHA-256"}


def test_baresip_cannot_register_to_a_sha256_only_tenant(vpbx, reaper, tmp_path):
    """baresip 1.0.0 has no SHA-256: if it registers, the tenant silently offered MD5."""
    vpbx.tenant_create(DOMAIN)
    vpbx.tenant_apply(tenant_yaml(DOMAIN, [user("1001", "sha-secret-1001")], digest_algorithms=["sha256"]))
    vpbx.start(DOMAIN)
    phone = Baresip(tmp_path, reaper, "md5only", "1001", DOMAIN, "sha-secret-1001", vpbx.sip_port,
                    ip="127.0.0.3")
    phone.start()
    assert phone.wait_reg(10) == "failed", phone.reginfo()
    assert vpbx.registrations(DOMAIN) == []
