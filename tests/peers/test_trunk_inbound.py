"""Issue 5 proof, inbound calls: an outside baresip phone calls a number at a real phone
company (Kamailio, kamailio-carrier.cfg), which hands the call to vpbx over a trunk; vpbx
recognises the trunk by its address, reads the dialled number, and the tenant that owns the
number routes it. A shared carrier trunk carries numbers of two tenants: each call lands in
its own tenant, on the phone of that tenant's 1001 (both tenants have a 1001). The tenant's
phonebook names the outside caller on the phone.

Phones: office 1001 on 127.0.0.3, other.vpbx.test 1001 on 127.0.0.4, the outside phone on
127.0.0.5 (registered at the carrier as 89257410726)."""

from calls import Phone, add_media_config, assert_tone, call_tenant_yaml, make_tone_wav, \
    wait_cdr, wait_recording_seconds
from peers import KamailioCarrier, free_port

OFFICE, OTHER = "office.vpbx.test", "other.vpbx.test"
OFFICE_NUMBER, OTHER_NUMBER = "+74952216005", "+74952216006"
OUTSIDE, OUTSIDE_SECRET = "89257410726", "outside-secret-1"
A_HZ, A_PEAK = 440, -6.0
B_HZ, B_PEAK = 1000, -12.0
RMS = -3.0103


def setup(vpbx, tmp_path, reaper, shared: bool, host: str = "127.0.0.1"):
    dids = {OFFICE_NUMBER[1:]: f"sip:127.0.0.1:{vpbx.sip_port}"}
    if shared:
        dids[OTHER_NUMBER[1:]] = f"sip:127.0.0.1:{vpbx.sip_port}"
    carrier = KamailioCarrier(tmp_path, reaper, {OUTSIDE: OUTSIDE_SECRET}, dids=dids).start()
    lo = free_port(span=200)
    add_media_config(vpbx, f"{lo}-{lo + 199}")
    tenants = [OFFICE, OTHER] if shared else [OFFICE]
    for t in tenants:
        vpbx.tenant_create(t)
    if shared:
        trunk = (f"  - {{name: carrier, sources: [\"127.0.0.1/32\"], host: 127.0.0.1, port: {carrier.port},"
                 " did_from: ruri, register: false, qualify: false}\n")
        numbers = (f'  - {{number: "{OFFICE_NUMBER}", tenant: {OFFICE}, trunk: carrier}}\n'
                   f'  - {{number: "{OTHER_NUMBER}", tenant: {OTHER}, trunk: carrier}}\n')
    else:
        trunk = (f"  - {{name: carrier, tenant: {OFFICE}, host: {host}, port: {carrier.port},"
                 " did_from: ruri, register: false, qualify: false}\n")
        numbers = f'  - {{number: "{OFFICE_NUMBER}", tenant: {OFFICE}, trunk: carrier}}\n'
    p = tmp_path / "platform.yaml"
    p.write_text(f"trunks:\n{trunk}numbers:\n{numbers}")
    vpbx.cli("platform", "apply", str(p))
    for t, number in zip(tenants, [OFFICE_NUMBER, OTHER_NUMBER]):
        users = [{"ext": "1001", "name": f"Desk of {t}", "secret": "secret-1001-aaaa"}]
        vpbx.tenant_apply(call_tenant_yaml(t, users).replace('country: "US"', 'country: "RU"')
                          + f'numbers:\n  - {{number: "{number}", route: "user:1001"}}\n'
                          + f'phonebook:\n  - {{number: "+{OUTSIDE}", name: "Ivan Petrov"}}\n')
    vpbx.start(OFFICE)
    wav_a = make_tone_wav(tmp_path / "a440.wav", A_HZ, 40, A_PEAK)
    wav_b = make_tone_wav(tmp_path / "b1k.wav", B_HZ, 40, B_PEAK)

    def desk(domain: str, ip: str) -> Phone:
        ph = Phone(tmp_path, reaper, f"desk-{domain.split('.')[0]}", ip=ip, wav=wav_a, user="1001",
                   domain=domain, password="secret-1001-aaaa", proxy_port=vpbx.sip_port).start()
        ph.register()
        return ph

    outside = Phone(tmp_path, reaper, "outside", ip="127.0.0.5", wav=wav_b, user=OUTSIDE,
                    domain="carrier.test", password=OUTSIDE_SECRET, proxy_port=carrier.port).start()
    outside.register()
    return carrier, desk, outside


def test_a_call_to_the_tenants_number_over_its_trunk_rings_the_numbers_destination(vpbx, reaper, tmp_path):
    carrier, desk, outside = setup(vpbx, tmp_path, reaper, shared=False)
    d = desk(OFFICE, "127.0.0.3")
    outside.dial(f"sip:{OFFICE_NUMBER[1:]}@carrier.test")
    d.wait_event("CALL_INCOMING", 10)
    # The tenant's phonebook names the outside caller on the desk phone.
    assert '"Ivan Petrov"' in (d.received("INVITE")[-1].header("From") or ""), d.received("INVITE")[-1].header("From")
    d.answer()
    outside.wait_established(10)
    assert_tone(wait_recording_seconds(d, 2.5), B_HZ, B_PEAK + RMS, start=0.5)
    assert_tone(wait_recording_seconds(outside, 2.5), A_HZ, A_PEAK + RMS, start=0.5)
    outside.hangup()
    d.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["disposition"] == "ANSWERED" and c["caller"] == OUTSIDE, c
    assert c["dialed"] == OFFICE_NUMBER and c["destination"] == "user:1001", c
    assert c["trunk"] == "carrier", c


def test_a_shared_carrier_trunk_lands_each_number_in_its_own_tenant(vpbx, reaper, tmp_path):
    carrier, desk, outside = setup(vpbx, tmp_path, reaper, shared=True)
    office, other = desk(OFFICE, "127.0.0.3"), desk(OTHER, "127.0.0.4")
    for number, rings, quiet, domain in ((OFFICE_NUMBER, office, other, OFFICE),
                                         (OTHER_NUMBER, other, office, OTHER)):
        before = len(quiet.events("CALL_INCOMING"))
        outside.dial(f"sip:{number[1:]}@carrier.test")
        rings.wait_event("CALL_INCOMING", 10)
        rings.answer()
        outside.wait_established(10)
        outside.hangup()
        rings.wait_closed(5)
        outside.wait_closed(5)
        assert len(quiet.events("CALL_INCOMING")) == before, f"{number} rang the other tenant"
        c = wait_cdr(vpbx, domain, 1)[0]
        assert c["dialed"] == number and c["disposition"] == "ANSWERED", c


def test_a_dedicated_trunk_named_by_its_host_name_is_recognised_by_the_resolved_address(
        vpbx, reaper, tmp_path):
    carrier, desk, outside = setup(vpbx, tmp_path, reaper, shared=False, host="localhost")
    d = desk(OFFICE, "127.0.0.3")
    outside.dial(f"sip:{OFFICE_NUMBER[1:]}@carrier.test")
    d.wait_event("CALL_INCOMING", 10)
    d.answer()
    outside.wait_established(10)
    outside.hangup()
    d.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 1)[0]
    assert c["dialed"] == OFFICE_NUMBER and c["trunk"] == "carrier", c
