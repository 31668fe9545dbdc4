"""Issue 5: the operator's platform file through the real `vpbx` command. `platform apply`
validates the whole file (numbers' tenants must exist), prints a diff, is all-or-nothing, and
`platform export --secrets` round-trips with it; tenant files may only route numbers the
platform binds to them, and no extension may equal an emergency number of the tenant's
country. `vpbx route` prints the trunk line or the refusal for outside numbers."""

from peers import tenant_yaml, user

OFFICE = "office.vpbx.test"
OTHER = "other.vpbx.test"

PLATFORM = f"""trunks:
  - name: newoperator
    tenant: {OFFICE}
    host: 127.0.0.1
    port: 5060
    username: "74952345678"
    secret: "sdfsddf^$#$"
    from_user: "74952345678"
    register: true
    did_from: fixed
    extension: "74952345678"
    prefixes: {{regional: "8", international: "810", emergency: ""}}
    strip_regional: 1
numbers:
  - {{number: "+74952216005", tenant: {OFFICE}, trunk: newoperator}}
directions:
  - {{number: "+74952216005", trunk: newoperator, class: regional}}
  - {{number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}}
  - {{number: "+74952216005", trunk: newoperator, class: other, pattern: "_082XXXXX", strip: 3}}
"""


def apply(vpbx, tmp_path, text: str, *extra: str, check: bool = True):
    f = tmp_path / "platform.yaml"
    f.write_text(text)
    return vpbx.cli("platform", "apply", str(f), *extra, check=check)


def test_platform_apply_diff_dry_run_and_export_round_trip(vpbx, tmp_path):
    vpbx.tenant(OFFICE, [user("1001", "first-secret-1")])
    out = apply(vpbx, tmp_path, PLATFORM, "--dry-run").stdout
    assert "dry run" in out and "newoperator" in out, out
    assert "newoperator" not in vpbx.cli("platform", "export").stdout
    out = apply(vpbx, tmp_path, PLATFORM).stdout
    assert "applied" in out and "sdfsddf" not in out, out      # diffs never print secrets
    plain = vpbx.cli("platform", "export").stdout
    assert "newoperator" in plain and "sdfsddf" not in plain, plain
    full = vpbx.cli("platform", "export", "--secrets").stdout
    assert "sdfsddf^$#$" in full, full
    # Both exports apply back unchanged (the plain one keeps the stored secret).
    assert "no changes" in apply(vpbx, tmp_path, full).stdout
    assert "no changes" in apply(vpbx, tmp_path, plain).stdout
    assert "sdfsddf^$#$" in vpbx.cli("platform", "export", "--secrets").stdout


def test_a_bad_platform_file_is_one_line_and_changes_nothing(vpbx, tmp_path):
    vpbx.tenant(OFFICE, [user("1001", "first-secret-1")])
    apply(vpbx, tmp_path, PLATFORM)
    before = vpbx.cli("platform", "export", "--secrets").stdout
    for bad, words in [
        (PLATFORM.replace(f"tenant: {OFFICE}, trunk", f"tenant: {OTHER}, trunk"), OTHER),
        (PLATFORM.replace("strip_regional: 1", "strip_regional: 1\n    colour: red"), "colour"),
        (PLATFORM.replace("class: regional", "class: galactic"), "galactic"),
    ]:
        r = apply(vpbx, tmp_path, bad, check=False)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode != 0 and len(lines) == 1 and words in lines[0], r.stderr
    assert vpbx.cli("platform", "export", "--secrets").stdout == before


def test_tenant_numbers_must_be_bound_and_extensions_must_not_be_emergency_numbers(vpbx, tmp_path):
    vpbx.tenant(OFFICE, [user("1001", "first-secret-1")])
    routed = tenant_yaml(OFFICE, [user("1001", "first-secret-1")], country="RU") + \
        'numbers:\n  - {number: "+74952216005", route: "user:1001"}\n'
    r = vpbx.tenant_apply(routed, check=False)
    assert r.returncode != 0 and "+74952216005 is not bound to" in r.stderr, r.stderr
    apply(vpbx, tmp_path, PLATFORM)
    vpbx.tenant_apply(routed)
    # 112 is an emergency number in Russia: no extension may take it (1120 may).
    r = vpbx.tenant_apply(tenant_yaml(OFFICE, [user("1001", "first-secret-1"), user("112", "x-secret-112")],
                                      country="RU"), check=False)
    assert r.returncode != 0 and "emergency number in RU" in r.stderr, r.stderr
    vpbx.tenant_apply(tenant_yaml(OFFICE, [user("1001", "first-secret-1"), user("1120", "x-secret-1120")],
                                  country="RU"))


def test_route_prints_the_walk_and_the_trunk_line_or_the_refusal(vpbx, tmp_path):
    vpbx.tenant(OFFICE, [user("1001", "first-secret-1")])
    apply(vpbx, tmp_path, PLATFORM)
    vpbx.tenant_apply(
        tenant_yaml(OFFICE, [user("1001", "first-secret-1"), user("1002", "second-secret-2")], country="RU")
        + 'groups:\n  - {ext: "1100", name: Sales, members: ["1002"], ring_timeout: 5, on_timeout: "user:1001"}\n'
        + 'outbound: {prefix: "99", number: "+74952216005"}\n')

    def route(to: str, *extra: str) -> str:
        return vpbx.cli("route", OFFICE, "--from", "1001", "--to", to, *extra).stdout

    # Seed 003's worked examples, dialled as a Moscow office does.
    assert "trunk=newoperator digits=89257410726 callerid=+74952216005" in route("9989257410726")
    assert "trunk=newoperator digits=55123 callerid=+74952216005" in route("9908255123")
    assert "trunk=newoperator digits=810390612345678" in route("99810390612345678")
    out = route("9981023276123456")
    assert "denied:" in out and "trunk=" not in out, out          # Sierra Leone
    out = route("99810330112345678")
    assert "denied:" in out, out                                 # France: only Italy is allowed
    # Internal walks: a group, its member busy, on to its on_timeout.
    out = route("1100", "--busy", "1002")
    assert "group:1100" in out and "user:1001" in out, out
    assert "404" in route("4242")
    r = vpbx.cli("route", OFFICE, "--from", "1001", "--to", "1100", "--at", "yesterday", check=False)
    assert r.returncode != 0 and "RFC 3339" in r.stderr, r.stderr
