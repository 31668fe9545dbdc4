"""Issue 5 proof: seed 000's office as one end-to-end test with real phones.

- A salesman's extension is busy → his department's group rings → nobody answers → the
  secretary rings and answers.
- The director does not answer → his voicemail takes the call.
- A call arriving on the Italian trunk (a Kamailio carrier handing the number over) gets the
  Italian menu: the tenant's menu `main-it` plays an Italian prompt the tenant uploaded.

Phones: 1001 (a colleague calling) on 127.0.0.3, 1101 on .4, 1102 on .5, 2001 on .6, 2222 on
.7, 1103 (keeps 1101 busy) on .8, the outside phone on .9 (registered at the carrier)."""

from pathlib import Path

from calls import Phone, add_media_config, call_tenant_yaml, make_tone_wav, wait_cdr, \
    wait_recording_seconds
from peers import KamailioCarrier, free_port
from test_media_apps import active_seconds

OFFICE = "office.vpbx.test"
IT_NUMBER = "+390612345678"
IT_PROMPT = Path("/usr/share/asterisk/sounds/it_IT_m_Carlo/vm-intro.wav")
OUTSIDE, OUTSIDE_SECRET = "390698765432", "outside-secret-1"
SECRET = "secret-office-1"

USERS = [
    {"ext": "1001", "name": "Colleague"},
    {"ext": "1101", "name": "Sales 1", "on_busy": "group:1100", "on_no_answer": "group:1100",
     "on_unavailable": "group:1100"},
    {"ext": "1102", "name": "Sales 2"},
    {"ext": "1103", "name": "Sales 3"},
    {"ext": "2001", "name": "Director", "ring_timeout": 3, "voicemail": {"enabled": True},
     "on_busy": "voicemail:2001", "on_no_answer": "voicemail:2001", "on_unavailable": "voicemail:2001"},
    {"ext": "2222", "name": "Secretary", "on_no_answer": "group:1100"},
]
EXTRA = f"""groups:
  - {{ext: "1100", name: Sales, strategy: ringall, members: ["1102"], ring_timeout: 3, on_timeout: "user:2222"}}
ivrs:
  - {{name: main-it, prompts: [it-greet], digit_timeout: 10, options: {{"1": "group:1100"}}, on_timeout: "user:2222"}}
numbers:
  - {{number: "{IT_NUMBER}", route: "ivr:main-it"}}
"""


def test_seed_000_office_busy_to_group_to_secretary_director_to_voicemail_italian_trunk_to_italian_menu(
        vpbx, reaper, tmp_path):
    carrier = KamailioCarrier(tmp_path, reaper, {OUTSIDE: OUTSIDE_SECRET},
                              dids={IT_NUMBER[1:]: f"sip:127.0.0.1:{vpbx.sip_port}"}).start()
    lo = free_port(span=200)
    add_media_config(vpbx, f"{lo}-{lo + 199}")
    vpbx.tenant_create(OFFICE)
    platform = tmp_path / "platform.yaml"
    platform.write_text(f"""trunks:
  - {{name: italy, tenant: {OFFICE}, host: 127.0.0.1, port: {carrier.port}, did_from: ruri,
     register: false, qualify: false}}
numbers:
  - {{number: "{IT_NUMBER}", tenant: {OFFICE}, trunk: italy}}
""")
    vpbx.cli("platform", "apply", str(platform))
    vpbx.cli("prompt", "add", OFFICE, "it-greet", str(IT_PROMPT))
    users = [dict(u, secret=SECRET) for u in USERS]
    vpbx.tenant_apply(call_tenant_yaml(OFFICE, users).replace('country: "US"', 'country: "IT"') + EXTRA)
    vpbx.start(OFFICE)
    wav = make_tone_wav(tmp_path / "a440.wav", 440, 60, -6.0)

    def phone(ext: str, ip: str) -> Phone:
        p = Phone(tmp_path, reaper, f"p{ext}", ip=ip, wav=wav, user=ext, domain=OFFICE,
                  password=SECRET, proxy_port=vpbx.sip_port).start()
        p.register()
        return p

    colleague, sales1, sales2 = phone("1001", "127.0.0.3"), phone("1101", "127.0.0.4"), phone("1102", "127.0.0.5")
    director, secretary, sales3 = phone("2001", "127.0.0.6"), phone("2222", "127.0.0.7"), phone("1103", "127.0.0.8")

    # 1. Sales 1 is on the phone; a call for him goes to his group, then to the secretary.
    sales3.dial(f"sip:1101@{OFFICE}")
    sales1.wait_event("CALL_INCOMING", 10)
    sales1.answer()
    sales3.wait_established(10)
    colleague.dial(f"sip:1101@{OFFICE}")
    sales2.wait_event("CALL_INCOMING", 10)            # the department group rings
    secretary.wait_event("CALL_INCOMING", 10)         # nobody in the group answered in 3 s
    assert len(sales1.events("CALL_INCOMING")) == 1, "the busy salesman was rung again"
    secretary.answer()
    colleague.wait_established(10)
    colleague.hangup()
    secretary.wait_closed(5)
    colleague.wait_closed(5)
    sales3.hangup()
    sales1.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 2)
    to_sales = [r for r in c if r["dialed"] == "1101" and r["caller"] == "1001"][0]
    assert to_sales["destination"] == "user:2222" and to_sales["disposition"] == "ANSWERED", to_sales

    # 2. The director does not answer: his voicemail answers the caller.
    colleague.dial(f"sip:2001@{OFFICE}")
    director.wait_event("CALL_INCOMING", 10)
    colleague.wait_established(15)                    # answered by the voicemail after 3 s
    wait_recording_seconds(colleague, 2.0, timeout=10)
    colleague.hangup()
    colleague.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 3)
    to_director = [r for r in c if r["dialed"] == "2001"][0]
    assert to_director["destination"] == "voicemail:2001", to_director

    # 3. A call on the Italian trunk gets the Italian menu.
    outside = Phone(tmp_path, reaper, "outside", ip="127.0.0.9", wav=wav, user=OUTSIDE,
                    domain="carrier.test", password=OUTSIDE_SECRET, proxy_port=carrier.port).start()
    outside.register()
    outside.dial(f"sip:{IT_NUMBER[1:]}@carrier.test")
    outside.wait_established(10)
    rec = wait_recording_seconds(outside, 4.0, timeout=15)
    assert active_seconds(rec, start=0.3) >= 1.0, "no Italian prompt heard"
    outside.hangup()
    outside.wait_closed(5)
    c = wait_cdr(vpbx, OFFICE, 4)
    italian = [r for r in c if r["dialed"] == IT_NUMBER][0]
    assert italian["destination"] == "ivr:main-it" and italian["caller"] == OUTSIDE, italian
