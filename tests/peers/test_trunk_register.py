"""Issue 5: vpbx registers a dedicated trunk's account at the provider (Kamailio on its own
loopback port, digest auth), shows it in `vpbx trunks`, unregisters it when the platform file
drops it and on shutdown, and qualifies the trunk with OPTIONS (up while Kamailio answers, down
once it is stopped). The platform file has no per-trunk qualify interval: trunks are probed
every `[sip] qualify_interval_s`, set to 1 s here."""

import json

from peers import KamailioProvider, user, wait_until

OFFICE = "office.vpbx.test"
ACCOUNT = "74952345678"
SECRET = "trunk-secret-4795"


def platform(kam: KamailioProvider, secret: str = SECRET, register: bool = True,
             transport: str = "udp") -> str:
    return f"""trunks:
  - name: provider
    tenant: {OFFICE}
    host: 127.0.0.1
    port: {kam.port}
    transport: {transport}
    username: "{ACCOUNT}"
    secret: "{secret}"
    from_domain: {kam.alias}
    register: {"true" if register else "false"}
    qualify: true
"""


def apply(vpbx, text: str) -> None:
    f = vpbx.tmp / "platform.yaml"
    f.write_text(text)
    vpbx.cli("platform", "apply", str(f))


def trunks(vpbx) -> dict:
    rows = json.loads(vpbx.cli("trunks", "--json").stdout)
    assert isinstance(rows, list), rows
    return {r["name"]: r for r in rows}


def state(vpbx, key: str, want: str):
    def check():
        t = trunks(vpbx).get("provider")
        return t if t and t[key] == want else None
    return check


def fast(vpbx) -> None:
    text = vpbx.config.read_text()
    text = text.replace("[sip]\n", "[sip]\nqualify_interval_s = 1\n", 1)
    vpbx.config.write_text(text + "[store]\nflush_interval_ms = 100\n")


def start(vpbx) -> None:
    """Start and wait for HTTP: `Vpbx.start` without a probe domain does not wait."""
    vpbx.start()
    assert wait_until(lambda: vpbx.metrics() is not None, 15, 0.1), "vpbx HTTP not up"


def test_trunk_registers_unregisters_and_is_qualified(vpbx, reaper, tmp_path):
    kam = KamailioProvider(tmp_path, reaper, {ACCOUNT: SECRET})
    kam.start()
    fast(vpbx)
    vpbx.tenant(OFFICE, [user("1001", "office-secret-1001")])
    start(vpbx)

    # A wrong secret: Kamailio challenges the answer again, the trunk says why, no binding.
    apply(vpbx, platform(kam, secret="not-the-secret"))
    t = wait_until(state(vpbx, "registration_state", "failed"), 8, 0.2)
    assert t, trunks(vpbx)
    assert "401" in t["registration"] and "retry in" in t["registration"], t
    assert t["registration_failures"] >= 1, t
    contact = t["contact_user"]
    assert contact and contact.startswith("tr-"), t
    assert ACCOUNT not in kam.location() and contact not in kam.location()

    # The right secret: registered at once (new credentials retry without waiting for the backoff).
    apply(vpbx, platform(kam))
    t = wait_until(state(vpbx, "registration_state", "registered"), 8, 0.2)
    assert t, trunks(vpbx)
    assert "registered, expires in" in t["registration"], t
    loc = wait_until(lambda: (d := kam.location()) and contact in d and d, 5, 0.2)
    assert loc and ACCOUNT in loc and f"sip:{contact}@127.0.0.1:{vpbx.sip_port}" in loc, loc
    t = wait_until(state(vpbx, "qualify", "up"), 6, 0.2)
    assert t and t["qualify_rtt_ms"] is not None and t["qualify_rtt_ms"] < 1000, trunks(vpbx)
    table = vpbx.cli("trunks").stdout
    line = next(ln for ln in table.splitlines() if ln.startswith("provider "))
    assert OFFICE in line and f"127.0.0.1:{kam.port}/udp" in line, table
    assert "registered, expires in" in line and " up " in line + " ", table
    metrics = vpbx.metrics() or ""
    assert 'vpbx_trunk_registered{trunk="provider"} 1' in metrics, metrics
    assert 'vpbx_trunk_up{trunk="provider"} 1' in metrics, metrics

    # The platform file drops the trunk: vpbx unregisters it.
    apply(vpbx, "trunks: []\n")
    assert wait_until(lambda: contact not in kam.location(), 5, 0.2), kam.location()
    assert "provider" not in trunks(vpbx)

    # Back, registering: registered again; a clean shutdown unregisters it.
    apply(vpbx, platform(kam))
    assert wait_until(lambda: contact in kam.location(), 8, 0.2), trunks(vpbx)
    assert vpbx.stop() == 0
    assert contact not in kam.location(), kam.location()

    # A restart registers the stored platform's trunk again.
    start(vpbx)
    assert wait_until(lambda: contact in kam.location(), 8, 0.2), trunks(vpbx)

    # Registration turned off: unregistered, still qualified; Kamailio stopped -> down within a
    # few intervals.
    apply(vpbx, platform(kam, register=False))
    assert wait_until(lambda: contact not in kam.location(), 5, 0.2), kam.location()
    t = wait_until(state(vpbx, "qualify", "up"), 6, 0.2)
    assert t and t["registration"] == "not registering", trunks(vpbx)
    kam.stop()
    t = wait_until(state(vpbx, "qualify", "down"), 8, 0.2)
    assert t and t["qualify_down_since_ms"], trunks(vpbx)
    line = next(ln for ln in vpbx.cli("trunks").stdout.splitlines() if ln.startswith("provider "))
    assert "not registering" in line and "down since" in line, line
    assert 'vpbx_trunk_up{trunk="provider"} 0' in (vpbx.metrics() or "")


def test_a_tcp_trunk_registers_and_is_qualified_over_a_connection_vpbx_opens(vpbx, reaper, tmp_path):
    kam = KamailioProvider(tmp_path, reaper, {ACCOUNT: SECRET})
    kam.start()
    fast(vpbx)
    vpbx.tenant(OFFICE, [user("1001", "office-secret-1001")])
    start(vpbx)
    apply(vpbx, platform(kam, transport="tcp"))
    t = wait_until(state(vpbx, "registration_state", "registered"), 8, 0.2)
    assert t, trunks(vpbx)
    contact = t["contact_user"]
    # Kamailio saved a TCP contact (the Contact says transport=tcp) for the account.
    loc = wait_until(lambda: (d := kam.location()) and contact in d and d, 5, 0.2)
    assert loc and "transport=tcp" in loc, loc
    t = wait_until(state(vpbx, "qualify", "up"), 6, 0.2)
    assert t, trunks(vpbx)
    line = next(ln for ln in vpbx.cli("trunks").stdout.splitlines() if ln.startswith("provider "))
    assert f"127.0.0.1:{kam.port}/tcp" in line, line
    opened = [ln for ln in vpbx.log.read_text(errors="replace").splitlines()
              if "trunk TCP connection open" in ln]
    assert len(opened) == 1, opened
    assert vpbx.stop() == 0
    assert contact not in kam.location(), kam.location()
