"""Issue 3 item 6 proof: registered contacts are qualified with OPTIONS; the status is stored
with the binding and shown by `vpbx registrations`. A real phone (baresip) answers and is
reachable with a round-trip time; a contact nobody answers at becomes unreachable after Timer F
(T1 is shortened here so that takes 3.2 s, not 32 s)."""

from calls import Phone
from peers import sipsak_register, user, wait_until

DOMAIN = "t1.vpbx.test"


def fast_qualify(vpbx) -> None:
    text = vpbx.config.read_text()
    vpbx.config.write_text(text.replace("[sip]\n", "[sip]\nt1_ms = 50\nqualify_interval_s = 2\n", 1))


def test_a_phone_that_answers_options_is_reachable_and_a_silent_contact_unreachable(vpbx, reaper, tmp_path, hosts):
    fast_qualify(vpbx)
    vpbx.tenant(DOMAIN, [user("1001", "qualify-secret-1001"), user("1002", "qualify-secret-1002")])
    vpbx.start(DOMAIN)
    phone = Phone(tmp_path, reaper, "q", ip="127.0.0.3", user="1001", domain=DOMAIN,
                  password="qualify-secret-1001", proxy_port=vpbx.sip_port).start()
    phone.register()
    r = sipsak_register(DOMAIN, vpbx.sip_port, "1002", "qualify-secret-1002",
                        contact="sip:1002@127.0.0.1:5999", expires=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr

    def status(aor: str) -> dict | None:
        regs = [x for x in vpbx.registrations(DOMAIN) if x["aor"].startswith(aor)]
        return regs[0] if regs else None

    ok = wait_until(lambda: (s := status("1001")) and s["qualify"] == "reachable" and s, 8, 0.3)
    assert ok, status("1001")
    assert ok["qualify_rtt_ms"] is not None and 0 <= ok["qualify_rtt_ms"] < 1000, ok
    bad = wait_until(lambda: (s := status("1002")) and s["qualify"] == "unreachable" and s, 10, 0.3)
    assert bad, status("1002")
    # The phone stays reachable on later rounds (qualify_interval_s = 2).
    assert status("1001")["qualify"] == "reachable"
    assert phone.received(method="OPTIONS"), "baresip saw the OPTIONS"
