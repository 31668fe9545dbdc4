#![allow(clippy::unwrap_used)]

use super::*;

/// The example of issue 5, verbatim.
pub(crate) const ISSUE_EXAMPLE: &str = r#"
trunks:
  - name: newoperator
    tenant: office.example             # omit for a shared carrier trunk (then: sources: ["192.0.2.0/24"])
    host: 127.0.0.1
    port: 5060
    transport: udp
    username: "74952345678"
    secret: "sdfsddf^$#$"
    from_user: "74952345678"
    from_domain: "127.0.0.1"
    codecs: [alaw, ulaw]
    call_limit: 1000
    qualify: true
    register: true
    did_from: fixed
    extension: "74952345678"
    priority: 1
    failover_timeout: 5
    prefixes: {regional: "8", international: "810", emergency: ""}
    strip_regional: 1
numbers:
  - {number: "+74952216005", tenant: office.example, trunk: newoperator}
directions:
  - {number: "+74952216005", trunk: newoperator, class: regional}
  - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
  - {number: "+74952216005", trunk: newoperator, class: other, pattern: "_082XXXXX", strip: 3}
"#;

fn err(text: &str) -> String {
    PlatformConfig::from_yaml_str(text).unwrap_err().to_string()
}

const SHARED: &str =
    "trunks:\n  - {name: carrier, host: sip.carrier.example, sources: [\"192.0.2.0/24\"]}\n";

#[test]
fn the_issue_example_parses_with_every_field() {
    let cfg = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let t = &cfg.trunks[0];
    assert_eq!(t.name, "newoperator");
    assert_eq!(t.tenant.as_deref(), Some("office.example"));
    assert_eq!(t.host, "127.0.0.1");
    assert_eq!(t.port, 5060);
    assert_eq!(t.transport, TrunkTransport::Udp);
    assert_eq!(t.username.as_deref(), Some("74952345678"));
    assert_eq!(t.secret.as_deref(), Some("sdfsddf^$#$"));
    assert_eq!(t.from_user.as_deref(), Some("74952345678"));
    assert_eq!(t.from_domain.as_deref(), Some("127.0.0.1"));
    assert_eq!(t.codecs, vec![Codec::Pcma, Codec::Pcmu]);
    assert_eq!(t.call_limit, 1000);
    assert!(t.qualify);
    assert!(t.register);
    assert_eq!(t.did_from, DidFrom::Fixed);
    assert_eq!(t.extension.as_deref(), Some("74952345678"));
    assert_eq!(t.priority, 1);
    assert_eq!(t.failover_timeout, 5);
    assert_eq!(t.prefixes.regional, "8");
    assert_eq!(t.prefixes.international, "810");
    assert_eq!(t.prefixes.emergency, "");
    assert_eq!(t.strip_regional, 1);
    assert_eq!(cfg.numbers.len(), 1);
    assert_eq!(cfg.directions.len(), 3);
    assert_eq!(cfg.directions[1].pattern.as_ref().unwrap().as_str(), "_39.");
    assert_eq!(cfg.directions[2].strip, Some(3));
    assert!(Platform::new(cfg).is_ok());
}

#[test]
fn omitted_trunk_fields_take_their_defaults() {
    let cfg = PlatformConfig::from_yaml_str(SHARED).unwrap();
    let t = &cfg.trunks[0];
    assert_eq!(t.port, 5060);
    assert_eq!(t.transport, TrunkTransport::Udp);
    assert_eq!(t.codecs, vec![Codec::Pcma, Codec::Pcmu]);
    assert_eq!(t.call_limit, 1000);
    assert!(t.qualify);
    assert!(!t.register);
    assert_eq!(t.did_from, DidFrom::Ruri);
    assert_eq!(t.priority, 1);
    assert_eq!(t.failover_timeout, 5);
    assert_eq!(t.prefixes, Prefixes::default());
    assert_eq!(t.strip_regional, 0);
    assert_eq!(t.reg_expires, 3600);
    assert!(t.registration().is_none());
}

#[test]
fn registration_fields_default_from_the_account_fields() {
    let cfg = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let reg = cfg.trunks[0].registration().unwrap();
    assert_eq!(
        reg,
        Registration {
            user: "74952345678",
            domain: "127.0.0.1",
            auth_user: "74952345678",
            secret: "sdfsddf^$#$",
            host: "127.0.0.1",
            port: 5060,
            expires: 3600,
        }
    );
    let text = "trunks:\n  - {name: t, tenant: a.example, host: sip.op.example, username: u, secret: s3cret, register: true,\n     reg_user: ru, reg_domain: reg.op.example, reg_auth_user: au, reg_secret: rs, reg_host: 192.0.2.9, reg_port: 5070, reg_expires: 600}\n";
    let cfg = PlatformConfig::from_yaml_str(text).unwrap();
    let reg = cfg.trunks[0].registration().unwrap();
    assert_eq!(
        (
            reg.user,
            reg.domain,
            reg.auth_user,
            reg.secret,
            reg.host,
            reg.port,
            reg.expires
        ),
        ("ru", "reg.op.example", "au", "rs", "192.0.2.9", 5070, 600)
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = ISSUE_EXAMPLE.replace("emergency: \"\"}", "emergency: \"\", foo: \"1\"}");
    assert_eq!(
        err(&text),
        "trunks[0].prefixes: unknown key \"foo\" (expected one of: regional, international, emergency)"
    );
    assert!(err("trunkz: []\n").starts_with("top level: unknown key \"trunkz\""));
    assert!(
        err(&format!("{SHARED}numbers:\n  - {{number: \"+1\", tenant: a.example, trunk: carrier, route: x}}\n"))
            .starts_with("numbers[0]: unknown key \"route\"")
    );
}

#[test]
fn field_errors_are_one_line_with_their_path() {
    let cases: &[(&str, &str)] = &[
        (
            "trunks:\n  - {name: \"bad name\", host: h.example, sources: [\"10.0.0.1\"]}\n",
            "trunks[0].name: \"bad name\" is not a valid name (letters, digits, _ . -, 1–64 long)",
        ),
        (
            "trunks:\n  - {name: t, sources: [\"10.0.0.1\"]}\n",
            "trunks[0]: missing required key \"host\"",
        ),
        (
            "trunks:\n  - {name: t, host: \"bad host!\", sources: [\"10.0.0.1\"]}\n",
            "trunks[0].host: \"bad host!\" is not a host name or IP address",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.0/33\"]}\n",
            "trunks[0].sources[0]: \"10.0.0.0/33\" is not a network (CIDR) or address",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], transport: tls}\n",
            "trunks[0].transport: \"tls\" is not a transport (expected udp or tcp)",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], port: 70000}\n",
            "trunks[0].port: 70000 is out of range (allowed 1..=65535)",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], codecs: [alaw, opus]}\n",
            "trunks[0].codecs[1]: \"opus\" is not a codec (expected alaw, ulaw or g722)",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], username: 74952345678}\n",
            "trunks[0].username: write it as a quoted string (\"74952345678\"), so leading zeros are kept",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], did_from: from}\n",
            "trunks[0].did_from: \"from\" is not one of ruri, to, fixed",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], prefixes: {regional: \"8a\"}}\n",
            "trunks[0].prefixes.regional: \"8a\" is not a dial prefix (up to 8 digits, or \"+\")",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], qualify: yes}\n",
            "trunks[0].qualify: expected true or false, found a string",
        ),
        (
            "trunks:\n  - {name: t, host: h.example, sources: [\"10.0.0.1\"], prefixes: {international: \"8+10\"}}\n",
            "trunks[0].prefixes.international: \"8+10\" is not a dial prefix (up to 8 digits, or \"+\")",
        ),
        (
            "blocked_prefixes: [\"232\"]\n",
            "blocked_prefixes[0]: \"232\" is not an E.164 prefix (+ and 1–15 digits)",
        ),
        (
            "allow_blocked: [\"+870\", \"+870\"]\n",
            "allow_blocked[1]: +870 is listed twice",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want, "{text}");
    }
}

#[test]
fn a_shared_trunk_needs_sources_and_may_not_register() {
    assert_eq!(
        err("trunks:\n  - {name: carrier, host: h.example}\n"),
        "trunks[0]: shared trunk carrier (no tenant) needs \"sources\": the networks its calls come from"
    );
    assert_eq!(
        err(
            "trunks:\n  - {name: carrier, host: h.example, sources: [\"10.0.0.1\"], username: u, secret: s, register: true}\n"
        ),
        "trunks[0].register: only a dedicated trunk (with a tenant) may register"
    );
}

#[test]
fn registering_needs_a_user_and_a_secret() {
    assert_eq!(
        err("trunks:\n  - {name: t, tenant: a.example, host: h.example, register: true}\n"),
        "trunks[0].register: registering needs \"reg_user\" or \"username\""
    );
    // A secret may be missing in the file (exported without secrets) but not when compiled.
    let cfg = PlatformConfig::from_yaml_str(
        "trunks:\n  - {name: t, tenant: a.example, host: h.example, username: u, register: true}\n",
    )
    .unwrap();
    assert_eq!(
        Platform::new(cfg).unwrap_err().to_string(),
        "trunks[0]: trunk t registers and needs a \"secret\" or \"reg_secret\""
    );
}

#[test]
fn trunk_names_and_numbers_are_unique() {
    assert_eq!(
        err(&format!(
            "{SHARED}  - {{name: carrier, host: h2.example, sources: [\"10.0.0.1\"]}}\n"
        )),
        "trunks[1]: trunk name carrier is already used by trunks[0]"
    );
    assert_eq!(
        err(&format!(
            "{SHARED}numbers:\n  - {{number: \"+390612345678\", tenant: a.example, trunk: carrier}}\n  - {{number: \"+390612345678\", tenant: b.example, trunk: carrier}}\n"
        )),
        "numbers[1]: +390612345678 is already bound by numbers[0]"
    );
}

#[test]
fn numbers_are_e164_bound_to_existing_trunks_of_their_tenant() {
    assert_eq!(
        err(&format!(
            "{SHARED}numbers:\n  - {{number: \"84952216005\", tenant: a.example, trunk: carrier}}\n"
        )),
        "numbers[0].number: \"84952216005\" is not an E.164 number (+ and 1–15 digits)"
    );
    assert_eq!(
        err(&format!(
            "{SHARED}numbers:\n  - {{number: \"+74952216005\", tenant: a.example, trunk: nope}}\n"
        )),
        "numbers[0].trunk: no trunk is named nope"
    );
    let text = ISSUE_EXAMPLE.replace(
        "{number: \"+74952216005\", tenant: office.example, trunk: newoperator}",
        "{number: \"+74952216005\", tenant: other.example, trunk: newoperator}",
    );
    assert_eq!(
        err(&text),
        "numbers[0].tenant: trunk newoperator is dedicated to office.example, not other.example"
    );
}

#[test]
fn a_fixed_did_trunk_needs_exactly_one_number() {
    let text = format!(
        "{ISSUE_EXAMPLE}  \n"
    )
    .replace(
        "numbers:\n  - {number: \"+74952216005\", tenant: office.example, trunk: newoperator}\n",
        "numbers:\n  - {number: \"+74952216005\", tenant: office.example, trunk: newoperator}\n  - {number: \"+74952216006\", tenant: office.example, trunk: newoperator}\n",
    );
    assert_eq!(
        err(&text),
        "trunks[0].did_from: fixed needs exactly one number bound to trunk newoperator, found 2"
    );
}

#[test]
fn directions_reference_numbers_and_trunks_and_follow_class_rules() {
    let base = format!(
        "{SHARED}  - {{name: mine, tenant: b.example, host: h.example}}\nnumbers:\n  - {{number: \"+390612345678\", tenant: a.example, trunk: carrier}}\ndirections:\n"
    );
    let cases: &[(&str, &str)] = &[
        (
            "  - {number: \"+390600000000\", trunk: carrier, class: regional}\n",
            "directions[0].number: +390600000000 is not in numbers",
        ),
        (
            "  - {number: \"+390612345678\", trunk: nope, class: regional}\n",
            "directions[0].trunk: no trunk is named nope",
        ),
        (
            "  - {number: \"+390612345678\", trunk: mine, class: regional}\n",
            "directions[0].trunk: trunk mine is dedicated to b.example; +390612345678 belongs to a.example",
        ),
        (
            "  - {number: \"+390612345678\", trunk: carrier, class: local}\n",
            "directions[0].class: \"local\" is not a class (expected regional, international, emergency or other)",
        ),
        (
            "  - {number: \"+390612345678\", trunk: carrier, class: other}\n",
            "directions[0]: class other needs a \"pattern\" (such as _082XXXXX)",
        ),
        (
            "  - {number: \"+390612345678\", trunk: carrier, class: international, strip: 2}\n",
            "directions[0].strip: \"strip\" is only for class other",
        ),
        (
            "  - {number: \"+390612345678\", trunk: carrier, class: international, pattern: \"_39[\"}\n",
            "directions[0].pattern: \"_39[\" is not a pattern: the set opened at position 3 is not closed with ]",
        ),
        (
            "  - {number: \"+390612345678\", trunk: carrier, class: regional}\n  - {number: \"+390612345678\", trunk: carrier, class: regional}\n",
            "directions[1]: the same direction as directions[0]",
        ),
    ];
    for (rows, want) in cases {
        assert_eq!(err(&format!("{base}{rows}")), *want, "{rows}");
    }
}

#[test]
fn syntax_errors_are_one_line() {
    let e = err("trunks: [\n");
    assert!(e.starts_with("YAML syntax error: "), "{e}");
    assert!(!e.contains('\n'));
    assert_eq!(
        err("trunks: {name: x}\n"),
        "trunks: expected a list, found a mapping"
    );
}

#[test]
fn export_with_secrets_round_trips() {
    let cfg = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let text = cfg.export_yaml(true);
    assert!(text.contains("sdfsddf^$#$"));
    assert_eq!(PlatformConfig::from_yaml_str(&text).unwrap(), cfg);
    let mut full = cfg.clone();
    full.blocked_prefixes = vec!["+232".to_owned()];
    full.allow_blocked = vec!["+8816".to_owned()];
    full.trunks.push({
        let mut t = Trunk::new("carrier", "sip.carrier.example");
        t.sources = Some(NetworkList::parse(&["192.0.2.0/24"]).unwrap());
        t.transport = TrunkTransport::Tcp;
        t.codecs = vec![Codec::G722, Codec::Pcma];
        t.port = 5080;
        t.priority = 2;
        t
    });
    let text = full.export_yaml(true);
    assert_eq!(
        PlatformConfig::from_yaml_str(&text).unwrap(),
        full,
        "{text}"
    );
}

#[test]
fn export_without_secrets_omits_them_and_fill_puts_them_back() {
    let cfg = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let text = cfg.export_yaml(false);
    assert!(text.starts_with(SECRETS_OMITTED_NOTE));
    assert!(!text.contains("sdfsddf"));
    let mut back = PlatformConfig::from_yaml_str(&text).unwrap();
    assert!(back.check_secrets_present().is_err());
    back.fill_missing_secrets_from(&cfg);
    assert_eq!(back, cfg);
}

#[test]
fn an_empty_platform_exports_and_parses_back() {
    let cfg = PlatformConfig::default();
    assert_eq!(
        PlatformConfig::from_yaml_str(&cfg.export_yaml(true)).unwrap(),
        cfg
    );
    assert_eq!(PlatformConfig::from_yaml_str("").unwrap(), cfg);
}

#[test]
fn sealed_secrets_parse_back_and_unseal_to_the_originals() {
    let key = SecretsKey::from_bytes([7; 32]);
    let cfg = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let mut n = 0u8;
    let sealed = cfg.sealed(Some(&key), || {
        n += 1;
        [n; 12]
    });
    let stored = sealed.export_yaml(true);
    assert!(!stored.contains("sdfsddf"));
    assert!(stored.contains("enc:v1:"));
    let mut back = PlatformConfig::from_yaml_str(&stored).unwrap();
    back.unseal_secrets(Some(&key)).unwrap();
    assert_eq!(back, cfg);
    let mut no_key = PlatformConfig::from_yaml_str(&stored).unwrap();
    assert_eq!(
        no_key.unseal_secrets(None).unwrap_err().to_string(),
        "trunks[0].secret: the stored secret is encrypted but no [store] secrets_key is configured"
    );
    // Without a key nothing is sealed.
    assert_eq!(cfg.sealed(None, || [0; 12]), cfg);
}

#[test]
fn diff_lists_added_removed_and_changed_objects_without_secrets() {
    let old = PlatformConfig::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    let new_text = ISSUE_EXAMPLE
        .replace("secret: \"sdfsddf^$#$\"", "secret: \"n3w-secret\"")
        .replace("failover_timeout: 5", "failover_timeout: 3")
        .replace(
            "  - {number: \"+74952216005\", trunk: newoperator, class: international, pattern: \"_39.\"}\n",
            "  - {number: \"+74952216005\", trunk: newoperator, class: international}\n  - {number: \"+74952216005\", trunk: newoperator, class: emergency}\n",
        )
        + "blocked_prefixes: [\"+232\"]\n";
    let new = PlatformConfig::from_yaml_str(&new_text).unwrap();
    let lines: Vec<String> = PlatformConfig::diff(&old, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec![
            "~ trunk newoperator: secret changed, failover_timeout 5 → 3",
            "- direction +74952216005 via newoperator international _39.",
            "+ direction +74952216005 via newoperator international",
            "+ direction +74952216005 via newoperator emergency",
            "+ blocked_prefixes +232",
        ]
    );
    assert!(!lines.join("\n").contains("n3w"));
    assert!(PlatformConfig::diff(&old, &old).is_empty());
    let empty = PlatformConfig::default();
    let lines: Vec<String> = PlatformConfig::diff(&empty, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines[0],
        "+ trunk newoperator (127.0.0.1:5060 for office.example)"
    );
    assert_eq!(
        lines[1],
        "+ number +74952216005 (office.example via newoperator)"
    );
    let lines: Vec<String> = PlatformConfig::diff(&old, &empty)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines[0], "- trunk newoperator");
}

#[test]
fn the_compiled_platform_finds_trunks_numbers_and_source_trunks() {
    let text = format!(
        "{SHARED}numbers:\n  - {{number: \"+390612345678\", tenant: a.example, trunk: carrier}}\n  - {{number: \"+390612345679\", tenant: b.example, trunk: carrier}}\n"
    );
    let p = Platform::from_yaml_str(&text).unwrap();
    assert_eq!(p.trunk("carrier").unwrap().host, "sip.carrier.example");
    assert!(p.trunk("nope").is_none());
    assert_eq!(p.number("+390612345679").unwrap().tenant, "b.example");
    assert_eq!(p.numbers_of("a.example").count(), 1);
    let from: Vec<&str> = p
        .trunks_from("192.0.2.77".parse().unwrap())
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(from, vec!["carrier"]);
    assert_eq!(p.trunks_from("198.51.100.1".parse().unwrap()).count(), 0);
}

#[test]
fn direction_rows_are_ordered_by_trunk_priority_then_file_order() {
    let text = "trunks:
  - {name: slow, host: a.example, sources: [\"10.0.0.1\"], priority: 5}
  - {name: fast, host: b.example, sources: [\"10.0.0.2\"], priority: 1}
  - {name: also-fast, host: c.example, sources: [\"10.0.0.3\"], priority: 1}
numbers:
  - {number: \"+390612345678\", tenant: a.example, trunk: slow}
directions:
  - {number: \"+390612345678\", trunk: slow, class: regional}
  - {number: \"+390612345678\", trunk: also-fast, class: regional}
  - {number: \"+390612345678\", trunk: fast, class: regional}
";
    let p = Platform::from_yaml_str(text).unwrap();
    let order: Vec<&str> = p
        .directions_of("+390612345678")
        .map(|d| d.trunk.as_str())
        .collect();
    assert_eq!(order, vec!["also-fast", "fast", "slow"]);
}

#[test]
fn inbound_calls_find_their_number_in_any_usual_format() {
    let text = format!(
        "{SHARED}numbers:\n  - {{number: \"+74952216005\", tenant: a.example, trunk: carrier}}\n  - {{number: \"+390612345678\", tenant: b.example, trunk: carrier}}\n"
    );
    let p = Platform::from_yaml_str(&text).unwrap();
    let tenant = |called: &str| {
        p.inbound_number("carrier", called)
            .map(|n| n.tenant.as_str())
    };
    assert_eq!(tenant("+74952216005"), Some("a.example"));
    assert_eq!(tenant("74952216005"), Some("a.example"));
    assert_eq!(tenant("84952216005"), Some("a.example"));
    assert_eq!(tenant("390612345678"), Some("b.example"));
    assert_eq!(tenant("0612345678"), Some("b.example"));
    assert_eq!(tenant("+74952216006"), None);
    assert_eq!(tenant(""), None);
    assert_eq!(tenant("+"), None);
    assert!(p.inbound_number("nope", "+74952216005").is_none());
}

#[test]
fn a_fixed_trunk_delivers_every_call_to_its_number_and_extension_names_the_only_number() {
    let p = Platform::from_yaml_str(ISSUE_EXAMPLE).unwrap();
    assert_eq!(
        p.inbound_number("newoperator", "anything").unwrap().number,
        "+74952216005"
    );
    let text = ISSUE_EXAMPLE.replace("did_from: fixed", "did_from: to");
    let p = Platform::from_yaml_str(&text).unwrap();
    assert_eq!(
        p.inbound_number("newoperator", "74952345678")
            .unwrap()
            .number,
        "+74952216005"
    );
    assert!(p.inbound_number("newoperator", "74952345679").is_none());
}

#[test]
fn the_tenants_a_file_names_can_be_checked_against_the_store() {
    let text = format!(
        "{ISSUE_EXAMPLE}  - {{number: \"+74952216005\", trunk: newoperator, class: emergency}}\n"
    );
    let cfg = PlatformConfig::from_yaml_str(&text).unwrap();
    assert_eq!(cfg.tenants(), vec!["office.example"]);
    assert!(cfg.check_tenants(|t| t == "office.example").is_ok());
    assert_eq!(
        cfg.check_tenants(|_| false).unwrap_err().to_string(),
        "trunks[0].tenant: no tenant office.example (create it first with vpbx tenant create office.example)"
    );
}
