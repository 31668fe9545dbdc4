"""The `vpbx` command's tenant contract: apply validates the whole file and is all-or-nothing,
prints a diff, `export --secrets` round-trips with `apply`, errors are one line with a
non-zero exit; and `/metrics` counts registrations per tenant."""
import re

from peers import sipsak_register, tenant_yaml, user, wait_until

DOMAIN = "t3.vpbx.test"


def test_export_with_secrets_round_trips_with_apply(vpbx, tmp_path):
    vpbx.tenant(DOMAIN, [user("1001", "first-secret-1"), user("1002", "second-secret-2")])
    exported = vpbx.cli("tenant", "export", DOMAIN, "--secrets").stdout
    assert "first-secret-1" in exported and "second-secret-2" in exported
    f = tmp_path / "exported.yaml"
    f.write_text(exported)
    again = vpbx.cli("tenant", "apply", str(f)).stdout
    assert "no changes" in again, again
    # Without --secrets no secret is printed, and applying that file keeps the stored secrets.
    plain = vpbx.cli("tenant", "export", DOMAIN).stdout
    assert "first-secret-1" not in plain and "secret:" not in plain, plain
    f.write_text(plain)
    assert "no changes" in vpbx.cli("tenant", "apply", str(f)).stdout
    assert "first-secret-1" in vpbx.cli("tenant", "export", DOMAIN, "--secrets").stdout


def test_apply_prints_a_diff_and_dry_run_changes_nothing(vpbx, tmp_path):
    vpbx.tenant(DOMAIN, [user("1001", "first-secret-1")])
    f = tmp_path / "t.yaml"
    f.write_text(tenant_yaml(DOMAIN, [user("1001", "first-secret-1"), user("1003", "third-secret-3")]))
    out = vpbx.cli("tenant", "apply", str(f), "--dry-run").stdout
    assert "+ user 1003" in out and "dry run" in out, out
    assert "1003" not in vpbx.cli("tenant", "export", DOMAIN).stdout
    out = vpbx.cli("tenant", "apply", str(f)).stdout
    assert "+ user 1003" in out and "third-secret-3" not in out, out   # diffs never print secrets
    assert "1003" in vpbx.cli("tenant", "export", DOMAIN).stdout


def test_an_invalid_file_is_one_clear_line_and_nothing_is_applied(vpbx, tmp_path):
    vpbx.tenant(DOMAIN, [user("1001", "first-secret-1")])
    before = vpbx.cli("tenant", "export", DOMAIN, "--secrets").stdout
    f = tmp_path / "bad.yaml"
    # A valid new user next to a typo: the whole file is refused.
    f.write_text(tenant_yaml(DOMAIN, [user("1001", "first-secret-1"), user("1004", "fourth-secret-4")])
                 .replace("    name: \"User 1004\"", "    nmae: \"User 1004\""))
    r = vpbx.cli("tenant", "apply", str(f), check=False)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "nmae" in lines[0], r.stderr
    assert vpbx.cli("tenant", "export", DOMAIN, "--secrets").stdout == before
    # An unknown tenant for export and a bad domain for create are clear errors too.
    r = vpbx.cli("tenant", "export", "nope.vpbx.test", check=False)
    assert r.returncode != 0 and "no tenant" in r.stderr
    r = vpbx.cli("tenant", "create", "not a domain", check=False)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


def test_delete_removes_the_tenant_and_its_registrations(vpbx):
    vpbx.tenant(DOMAIN, [user("1001", "first-secret-1")])
    vpbx.start(DOMAIN)
    r = sipsak_register(DOMAIN, vpbx.sip_port, "1001", "first-secret-1", contact="sip:1001@127.0.0.1:5999")
    assert r.returncode == 0, r.stdout + r.stderr
    # Per-tenant metrics see the registration.
    assert wait_until(lambda: re.search(rf'vpbx_registered_contacts{{tenant="{re.escape(DOMAIN)}"}} 1\b',
                                        vpbx.metrics() or ""), 5), vpbx.metrics()
    vpbx.cli("tenant", "delete", DOMAIN, "--yes")
    assert DOMAIN not in vpbx.cli("tenant", "list").stdout
    # The running server drops the tenant within the reload interval: its domain is unknown now.
    from peers import options_status
    assert wait_until(lambda: options_status(vpbx.sip_port, DOMAIN, timeout=0.5) is None, 5)
