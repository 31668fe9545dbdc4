"""Issue 2 proof: the server on PostgreSQL (database = postgres://…) does the baresip happy path.

Uses VPBX_TEST_PG_URL (exported by .ci/run). The tenant gets a unique domain and is deleted at
the end, so runs can share one database.
"""

import secrets

from peers import Baresip, user, wait_until


def test_on_postgresql_baresip_registers_and_is_listed(vpbx_factory, reaper, tmp_path, pg_url):
    vpbx = vpbx_factory(database=pg_url)
    domain = f"pg-{secrets.token_hex(4)}.vpbx.test"
    vpbx.tenant(domain, [user("1001", "pg-secret-1001")])
    try:
        vpbx.start(domain)
        phone = Baresip(tmp_path, reaper, "pg", "1001", domain, "pg-secret-1001", vpbx.sip_port, ip="127.0.0.3")
        phone.start()
        assert phone.wait_reg(10) == "ok", phone.reginfo()
        src = f"udp:127.0.0.3:{phone.sip_port}"
        assert wait_until(lambda: [r for r in vpbx.registrations(domain) if r["source"] == src], 5, 0.3), \
            vpbx.registrations(domain)
        assert domain in vpbx.cli("tenant", "list").stdout
        phone.stop()
    finally:
        if vpbx.running():
            vpbx.stop()
        vpbx.cli("tenant", "delete", domain, "--yes", check=False)
    assert domain not in vpbx.cli("tenant", "list").stdout
