//! The tenant YAML file: parsing, every validation message, diff, export round trip.
#![allow(clippy::unwrap_used)]

use pbx_core::tenant::{GroupStrategy, NatMode, SECRETS_OMITTED_NOTE, VoicemailFormat};
use pbx_core::{Destination, DigestAlgorithm, TenantConfig, UserIndex};

const OFFICE: &str = include_str!("data/office.yaml");

fn parse(text: &str) -> TenantConfig {
    TenantConfig::from_yaml_str(text).unwrap()
}

/// The one-line error for `text`.
fn err(text: &str) -> String {
    TenantConfig::from_yaml_str(text).unwrap_err().to_string()
}

/// A tenant with one extra user line appended to a valid base.
fn with_user(user: &str) -> String {
    format!(
        "domain: office.example\nusers:\n  - {{ext: \"1101\", name: A, secret: \"secret-1101\"}}\n  - {user}\n"
    )
}

#[test]
fn the_design_example_tenant_file_parses() {
    let t = parse(OFFICE);
    assert_eq!(t.domain, "office.example");
    assert_eq!(t.language, "ru");
    assert_eq!(t.country.as_deref(), Some("RU"));
    assert!(t.options.analytics && !t.options.recording && !t.options.disa);
    assert_eq!(t.options.digest_algorithms, [DigestAlgorithm::Md5]);
    assert_eq!(t.users.len(), 3);

    let sales = &t.users[0];
    assert_eq!(sales.ext.as_str(), "1101");
    assert_eq!(sales.auth_user(), "1101");
    assert_eq!(sales.secret.as_deref(), Some("s3cret-1101"));
    assert_eq!(
        sales.on_busy,
        Some(Destination::parse("group:1100").unwrap())
    );
    assert_eq!(
        (sales.ring_timeout, sales.busy_level, sales.call_limit),
        (20, 1, 4)
    );
    assert_eq!(sales.nat, NatMode::Auto);

    let director = &t.users[1];
    assert_eq!(director.email.as_deref(), Some("dir@office.example"));
    assert!(director.voicemail.enabled && director.voicemail.delete_after_email);
    assert_eq!(director.voicemail.format, VoicemailFormat::Wav49);
    assert_eq!(
        director.on_unavailable.as_ref().unwrap().to_string(),
        "voicemail:2001"
    );

    let group = &t.groups[0];
    assert_eq!(group.strategy, GroupStrategy::Ringall);
    assert_eq!(
        group
            .members
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["2222", "1101"]
    );
    assert_eq!(group.on_timeout.as_ref().unwrap().to_string(), "user:2222");

    let ivr = &t.ivrs[0];
    assert_eq!(ivr.name, "main-ru");
    assert_eq!(ivr.prompts, ["ru-greet", "advert", "ru-route"]);
    assert_eq!(
        (ivr.digit_timeout, ivr.repeat, ivr.direct_dial),
        (10, 1, true)
    );
    assert_eq!(ivr.options["9"].to_string(), "ivr:main-it");
    assert_eq!(ivr.options.len(), 3);

    assert_eq!(t.numbers[0].number, "+74952216005");
    assert_eq!(t.numbers[0].route.to_string(), "ivr:main-ru");
    let out = t.outbound.as_ref().unwrap();
    assert_eq!(out.prefix.as_deref(), Some("99"));
    assert_eq!(out.number.as_deref(), Some("+74952216005"));
}

#[test]
fn a_minimal_tenant_gets_the_documented_defaults() {
    let t = parse("domain: small.example\n");
    assert_eq!(t, TenantConfig::new("small.example"));
    assert_eq!(t.language, "en");
    assert_eq!(t.country, None);
    assert!(t.users.is_empty());
    assert_eq!(t.limits.storage_mb, 1024);
    assert_eq!((t.limits.recording_days, t.limits.voicemail_days), (30, 30));
}

#[test]
fn unsolicited_mwi_is_on_by_default_and_a_user_may_override_the_tenant() {
    let t = parse(
        "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"12345678\"}\n  - {ext: \"11\", name: B, secret: \"12345678\", voicemail: {unsolicited_mwi: false}}\n",
    );
    assert!(t.options.unsolicited_mwi);
    assert!(
        t.users[0]
            .voicemail
            .unsolicited_mwi_or(t.options.unsolicited_mwi)
    );
    assert!(
        !t.users[1]
            .voicemail
            .unsolicited_mwi_or(t.options.unsolicited_mwi)
    );
    let t = parse(
        "domain: a.example\noptions: {unsolicited_mwi: false}\nusers:\n  - {ext: \"10\", name: A, secret: \"12345678\"}\n  - {ext: \"11\", name: B, secret: \"12345678\", voicemail: {unsolicited_mwi: true}}\n",
    );
    assert!(
        !t.users[0]
            .voicemail
            .unsolicited_mwi_or(t.options.unsolicited_mwi)
    );
    assert!(
        t.users[1]
            .voicemail
            .unsolicited_mwi_or(t.options.unsolicited_mwi)
    );
    assert!(
        err("domain: a.example\noptions: {unsolicited_mwi: maybe}\n").contains("unsolicited_mwi")
    );
}

#[test]
fn auth_settings_parse_per_tenant_and_per_user() {
    let t = parse(
        "domain: a.example\noptions: {digest_algorithms: [sha256, md5], register_networks: [192.0.2.0/24, 2001:db8::1]}\n\
         limits: {max_calls: 8, max_contacts_per_aor: 3}\n\
         users:\n  - {ext: \"10\", name: A, secret: \"12345678\", auth_user: alice, digest_algorithms: [sha256], nat: force, pin: \"1234\"}\n  - {ext: \"11\", name: B, secret: \"12345678\"}\n",
    );
    assert_eq!(
        t.options.digest_algorithms,
        [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    );
    let nets = t.options.register_networks.as_ref().unwrap();
    assert!(nets.contains("192.0.2.99".parse().unwrap()));
    assert!(nets.contains("2001:db8::1".parse().unwrap()));
    assert!(!nets.contains("198.51.100.1".parse().unwrap()));
    assert_eq!(t.limits.max_calls, Some(8));
    assert_eq!(t.limits.max_contacts_per_aor, Some(3));
    assert_eq!(t.users[0].auth_user(), "alice");
    assert_eq!(
        t.users[0].digest_algorithms(&t.options),
        [DigestAlgorithm::Sha256]
    );
    assert_eq!(
        t.users[1].digest_algorithms(&t.options),
        [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    );
    assert_eq!(t.users[0].nat, NatMode::Force);
}

#[test]
fn the_user_index_finds_users_by_auth_username_and_extension() {
    let t = parse(&with_user(
        "{ext: \"1102\", name: B, secret: \"secret-1102\", auth_user: bob}",
    ));
    let idx = UserIndex::new(&t);
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.by_auth_user("1101").unwrap().name, "A");
    assert_eq!(idx.by_auth_user("bob").unwrap().ext.as_str(), "1102");
    assert!(
        idx.by_auth_user("1102").is_none(),
        "a user with auth_user is not found by extension as username"
    );
    assert!(
        idx.by_auth_user("BOB").is_none(),
        "digest usernames are case-sensitive"
    );
    assert_eq!(idx.by_ext("1102").unwrap().name, "B");
    assert!(idx.by_ext("1103").is_none());
}

// ---- unknown keys ----

#[test]
fn an_unknown_top_level_key_is_named_with_the_allowed_keys() {
    assert_eq!(
        err("domain: a.example\nqueus: []\n"),
        "top level: unknown key \"queus\" (expected one of: domain, language, country, options, limits, users, groups, queues, ivrs, schedules, announces, numbers, phonebook, outbound, moh, service_codes)"
    );
}

#[test]
fn an_unknown_user_key_is_named_with_its_path() {
    assert_eq!(
        err("domain: a.example\nusers:\n  - {ext: \"1101\", name: A, secert: \"secret-1101\"}\n"),
        "users[0]: unknown key \"secert\" (expected one of: ext, name, secret, email, auth_user, digest_algorithms, nat, ring_timeout, busy_level, call_limit, on_busy, on_no_answer, on_unavailable, voicemail, pin, recording, outbound, outbound_number, max_external_calls, external_calls_per_hour, pickup_group)"
    );
}

#[test]
fn unknown_keys_in_nested_sections_are_refused_too() {
    assert_eq!(
        err("domain: a.example\noptions: {recordings: true}\n"),
        "options: unknown key \"recordings\" (expected one of: recording, recording_download, analytics, disa, digest_algorithms, register_networks, unsolicited_mwi)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"12\", name: B, secret: \"secret-1102\", voicemail: {enable: true}}"
        )),
        "users[1].voicemail: unknown key \"enable\" (expected one of: enabled, delete_after_email, format, max_message_s, busy_greeting, unavailable_greeting, unsolicited_mwi)"
    );
    assert_eq!(
        err("domain: a.example\nlimits: {max_call: 3}\n"),
        "limits: unknown key \"max_call\" (expected one of: max_calls, storage_mb, recording_days, voicemail_days, max_contacts_per_aor, max_external_calls, external_calls_per_hour)"
    );
    assert_eq!(
        err("domain: a.example\ngroups:\n  - {ext: \"10\", name: G, member: []}\n"),
        "groups[0]: unknown key \"member\" (expected one of: ext, name, strategy, members, ring_timeout, on_timeout)"
    );
    assert_eq!(
        err("domain: a.example\noutbound: {prefx: \"9\"}\n"),
        "outbound: unknown key \"prefx\" (expected one of: prefix, number)"
    );
}

// ---- every validation message ----

#[test]
fn yaml_syntax_errors_are_one_line() {
    let e = err("domain: a.example\nusers: [\n");
    assert!(e.starts_with("YAML syntax error: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn the_domain_is_required_and_must_be_a_lower_case_name() {
    assert_eq!(
        err("language: en\n"),
        "top level: missing required key \"domain\""
    );
    assert_eq!(
        err("domain: Office.Example\n"),
        "domain: \"Office.Example\" is not a valid lower-case domain name"
    );
    assert_eq!(
        err("domain: office_1.example\n"),
        "domain: \"office_1.example\" is not a valid lower-case domain name"
    );
    assert_eq!(
        err("domain: 5\n"),
        "domain: expected a string, found a number"
    );
    assert_eq!(
        parse("domain: 192.0.2.10\n").domain,
        "192.0.2.10",
        "IP literals are accepted for labs"
    );
}

#[test]
fn the_top_level_must_be_a_mapping() {
    assert_eq!(err("- a\n"), "top level: expected a mapping, found a list");
}

#[test]
fn language_and_country_are_checked_against_their_code_lists() {
    assert_eq!(
        err("domain: a.example\nlanguage: russian\n"),
        "language: \"russian\" is not a two-letter language code (en, ru, it, …)"
    );
    assert_eq!(
        err("domain: a.example\ncountry: UK\n"),
        "country: \"UK\" is not an ISO 3166-1 alpha-2 country code (e.g. RU, IT, US)"
    );
    assert_eq!(
        err("domain: a.example\ncountry: RUS\n"),
        "country: \"RUS\" is not an ISO 3166-1 alpha-2 country code (e.g. RU, IT, US)"
    );
    assert_eq!(
        parse("domain: a.example\ncountry: it\n").country.as_deref(),
        Some("IT")
    );
}

#[test]
fn options_are_type_checked() {
    assert_eq!(
        err("domain: a.example\noptions: {recording: yes please}\n"),
        "options.recording: expected true or false, found a string"
    );
    assert_eq!(
        err("domain: a.example\noptions: {digest_algorithms: [md4]}\n"),
        "options.digest_algorithms[0]: \"md4\" is not a digest algorithm (expected md5 or sha256)"
    );
    assert_eq!(
        err("domain: a.example\noptions: {digest_algorithms: [md5, md5]}\n"),
        "options.digest_algorithms[1]: md5 is listed twice"
    );
    assert_eq!(
        err("domain: a.example\noptions: {digest_algorithms: []}\n"),
        "options.digest_algorithms: must name at least one algorithm (md5 or sha256)"
    );
    assert_eq!(
        err("domain: a.example\noptions: {register_networks: [10.0.0.0/8, 10.0.0.0/40]}\n"),
        "options.register_networks[1]: \"10.0.0.0/40\" is not a CIDR or IP address"
    );
    assert_eq!(
        err("domain: a.example\noptions: [recording]\n"),
        "options: expected a mapping, found a list"
    );
}

#[test]
fn limits_are_range_checked() {
    assert_eq!(
        err("domain: a.example\nlimits: {storage_mb: -1}\n"),
        "limits.storage_mb: -1 is out of range (allowed 0..=4294967295)"
    );
    assert_eq!(
        err("domain: a.example\nlimits: {max_contacts_per_aor: 0}\n"),
        "limits.max_contacts_per_aor: 0 is out of range (allowed 1..=1000)"
    );
    assert_eq!(
        err("domain: a.example\nlimits: {recording_days: \"30\"}\n"),
        "limits.recording_days: expected a whole number, found a string"
    );
}

#[test]
fn extensions_are_quoted_strings_of_two_to_eight_digits() {
    assert_eq!(
        err(&with_user(
            "{ext: \"11a\", name: B, secret: \"secret-1102\"}"
        )),
        "users[1].ext: \"11a\" is not a valid extension (digits, 2–8 long)"
    );
    assert_eq!(
        err(&with_user("{ext: \"1\", name: B, secret: \"secret-1102\"}")),
        "users[1].ext: \"1\" is not a valid extension (digits, 2–8 long)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"123456789\", name: B, secret: \"secret-1102\"}"
        )),
        "users[1].ext: \"123456789\" is not a valid extension (digits, 2–8 long)"
    );
    assert_eq!(
        err(&with_user("{ext: 1102, name: B, secret: \"secret-1102\"}")),
        "users[1].ext: extensions must be quoted strings (write \"1102\"), so leading zeros are kept"
    );
    assert_eq!(
        err(&with_user("{name: B, secret: \"secret-1102\"}")),
        "users[1]: missing required key \"ext\""
    );
}

#[test]
fn extensions_and_auth_usernames_are_unique() {
    assert_eq!(
        err(&with_user(
            "{ext: \"1101\", name: B, secret: \"secret-1102\"}"
        )),
        "users[1].ext: \"1101\" is already used by users[0]"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", auth_user: \"1101\"}"
        )),
        "users[1].auth_user: authentication username \"1101\" is already used by users[0]"
    );
    assert_eq!(
        err(
            "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"secret-10\"}\ngroups:\n  - {ext: \"10\", name: G}\n"
        ),
        "groups[0].ext: \"10\" is already used by users[0]"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", auth_user: \"bo b\"}"
        )),
        "users[1].auth_user: \"bo b\" is not a valid authentication username (letters, digits, . _ + -, 1–64 long)"
    );
}

#[test]
fn secrets_are_at_least_eight_characters_and_never_echoed() {
    let e = err(&with_user("{ext: \"1102\", name: B, secret: \"abc123\"}"));
    assert_eq!(
        e,
        "users[1].secret: too short: at least 8 characters (short secrets are what scanners guess)"
    );
    assert!(!e.contains("abc123"));
    assert_eq!(
        err(&with_user("{ext: \"1102\", name: B, secret: 12345678}")),
        "users[1].secret: expected a string, found a number"
    );
}

#[test]
fn names_emails_and_pins_are_checked() {
    assert_eq!(
        err(&with_user("{ext: \"1102\", secret: \"secret-1102\"}")),
        "users[1]: missing required key \"name\""
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: \" \", secret: \"secret-1102\"}"
        )),
        "users[1].name: must be 1–100 characters without control characters"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", email: bob.example}"
        )),
        "users[1].email: \"bob.example\" is not a plausible e-mail address"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", pin: \"12\"}"
        )),
        "users[1].pin: must be 4–10 digits"
    );
}

#[test]
fn user_settings_are_checked() {
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", nat: yes}"
        )),
        "users[1].nat: \"yes\" is not one of: auto, force, never"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", ring_timeout: 0}"
        )),
        "users[1].ring_timeout: 0 is out of range (allowed 1..=600)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", busy_level: 5, call_limit: 2}"
        )),
        "users[1].busy_level: 5 is greater than call_limit (2)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", voicemail: {format: mp3}}"
        )),
        "users[1].voicemail.format: \"mp3\" is not one of: wav, wav49"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", voicemail: {enabled: true, delete_after_email: true}}"
        )),
        "users[1].voicemail.delete_after_email: needs the user's email, or messages would be deleted unread"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", digest_algorithms: [sha512]}"
        )),
        "users[1].digest_algorithms[0]: \"sha512\" is not a digest algorithm (expected md5 or sha256)"
    );
}

#[test]
fn destinations_are_parsed_and_user_targets_must_exist() {
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", on_busy: grop:1100}"
        )),
        "users[1].on_busy: \"grop:1100\" is not a destination (expected kind:id with kind one of: user, group, queue, ivr, voicemail, message, schedule, conference, announce, external, hangup)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", on_no_answer: user:1199}"
        )),
        "users[1].on_no_answer: user:1199 does not exist in this tenant"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", on_unavailable: \"external:12ab\"}"
        )),
        "users[1].on_unavailable: \"external:12ab\": \"12ab\" is not a phone number (optional + and 1–20 digits)"
    );
    assert_eq!(
        err(&with_user(
            "{ext: \"1102\", name: B, secret: \"secret-1102\", on_no_answer: schedule:office-hours}"
        )),
        "users[1].on_no_answer: schedule:office-hours does not exist in this tenant"
    );
    // Every kind that names an object must name one that exists.
    for (dest, msg) in [
        ("group:1199", "group:1199 does not exist in this tenant"),
        ("ivr:later", "ivr:later does not exist in this tenant"),
        (
            "voicemail:1199",
            "voicemail:1199: user 1199 does not exist in this tenant",
        ),
        (
            "message:1199",
            "message:1199: user 1199 does not exist in this tenant",
        ),
        ("queue:500", "queue:500 does not exist in this tenant"),
    ] {
        assert_eq!(
            err(&with_user(&format!(
                "{{ext: \"1102\", name: B, secret: \"secret-1102\", on_busy: \"{dest}\"}}"
            ))),
            format!("users[1].on_busy: {msg}")
        );
    }
    let t = parse(&with_user(
        "{ext: \"1102\", name: B, secret: \"secret-1102\", on_busy: voicemail:1101, on_no_answer: \"external:+390612345678\", on_unavailable: hangup}",
    ));
    assert_eq!(t.users[1].on_unavailable, Some(Destination::Hangup));
}

#[test]
fn the_phonebook_names_outside_callers_with_or_without_plus_and_refuses_repeats() {
    let base = "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"secret-10\"}\n";
    let t = parse(&format!(
        "{base}phonebook:\n  - {{number: \"+79257410726\", name: Ivan Petrov}}\n"
    ));
    assert_eq!(t.phonebook_name("79257410726"), Some("Ivan Petrov"));
    assert_eq!(t.phonebook_name("+79257410726"), Some("Ivan Petrov"));
    assert_eq!(t.phonebook_name("+79257410727"), None);
    assert_eq!(
        err(&format!(
            "{base}phonebook:\n  - {{number: \"+7925\", name: A}}\n  - {{number: \"+7925\", name: B}}\n"
        )),
        "phonebook[1].number: \"+7925\" is listed twice"
    );
    let exported = t.export_yaml(true);
    assert_eq!(parse(&exported).phonebook, t.phonebook);
}

#[test]
fn an_extension_overlapping_the_outbound_prefix_is_refused() {
    let base = "domain: a.example\nusers:\n  - {ext: \"9901\", name: A, secret: \"secret-10\"}\n";
    assert_eq!(
        err(&format!("{base}outbound: {{prefix: \"99\"}}\n")),
        "users[0].ext: \"9901\" collides with outbound.prefix \"99\" (one is the start of the other, so a phone dialing it could reach the outside)"
    );
    parse(&format!("{base}outbound: {{prefix: \"98\"}}\n"));
}

#[test]
fn circles_that_never_ring_are_refused_and_circles_that_ring_are_legal() {
    let base = "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"secret-10\", on_no_answer: group:20}\n";
    // Seed 000: the secretary → group → secretary circle rings every time round.
    parse(&format!(
        "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"10\"], on_timeout: user:10}}\n"
    ));
    // Two groups without members pass the call to each other for ever.
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, members: [], on_timeout: group:21}}\n  - {{ext: \"21\", name: H, members: [], on_timeout: group:20}}\n"
        )),
        "groups[1].on_timeout: group:20 → group:21 → group:20 goes round in a circle without ringing or playing anything"
    );
    // A schedule and an empty group in one circle.
    let sched = "schedules:\n  - {name: s, timezone: UTC, weekly: {mon-fri: \"09:00-18:00\"}, in_hours: group:20, after_hours: user:10}\n";
    assert_eq!(
        err(&format!(
            "{base}{sched}groups:\n  - {{ext: \"20\", name: G, members: [], on_timeout: schedule:s}}\n"
        )),
        "groups[0].on_timeout: schedule:s → group:20 → schedule:s goes round in a circle without ringing or playing anything"
    );
}

#[test]
fn groups_ivrs_numbers_and_outbound_are_checked_lightly() {
    let base = "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"secret-10\"}\n";
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"11\"]}}\n"
        )),
        "groups[0].members[0]: \"11\" is not a user of this tenant"
    );
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"10\", \"10\"]}}\n"
        )),
        "groups[0].members[1]: \"10\" is listed twice"
    );
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, strategy: circular}}\n"
        )),
        "groups[0].strategy: \"circular\" is not one of: ringall, hunt, rrmemory, leastrecent, fewestcalls, random"
    );
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, on_timeout: user:99}}\n"
        )),
        "groups[0].on_timeout: user:99 does not exist in this tenant"
    );
    assert_eq!(
        err(&format!(
            "{base}ivrs:\n  - {{name: main, options: {{\"12\": user:10}}}}\n"
        )),
        "ivrs[0].options: \"12\" is not a menu key (one of 0–9, *, #; quote * and # in YAML)"
    );
    assert_eq!(
        err(&format!(
            "{base}ivrs:\n  - {{name: main, options: {{\"1\": user:11}}}}\n"
        )),
        "ivrs[0].options.1: user:11 does not exist in this tenant"
    );
    assert_eq!(
        err(&format!(
            "{base}ivrs:\n  - {{name: main}}\n  - {{name: main}}\n"
        )),
        "ivrs[1].name: \"main\" is already used by ivrs[0]"
    );
    assert_eq!(
        err(&format!("{base}ivrs:\n  - {{name: \"main menu\"}}\n")),
        "ivrs[0].name: \"main menu\" is not a valid name (letters, digits, _ . -, 1–64 long)"
    );
    assert_eq!(
        err(&format!(
            "{base}ivrs:\n  - {{name: m, prompts: [\"a b\"]}}\n"
        )),
        "ivrs[0].prompts[0]: \"a b\" is not a valid prompt name (letters, digits, _ - . and one / as in digits/1, 1–64 long)"
    );
    assert_eq!(
        err(&format!(
            "{base}numbers:\n  - {{number: \"74952216005\", route: user:10}}\n"
        )),
        "numbers[0].number: \"74952216005\" is not an E.164 number (+ and 1–15 digits)"
    );
    assert_eq!(
        err(&format!("{base}numbers:\n  - {{number: \"+7495\"}}\n")),
        "numbers[0]: missing required key \"route\""
    );
    assert_eq!(
        err(&format!(
            "{base}numbers:\n  - {{number: \"+7495\", route: user:10}}\n  - {{number: \"+7495\", route: user:10}}\n"
        )),
        "numbers[1].number: \"+7495\" is already used by numbers[0]"
    );
    assert_eq!(
        err(&format!("{base}outbound: {{prefix: \"99999\"}}\n")),
        "outbound.prefix: \"99999\" is not 1–4 digits"
    );
    assert_eq!(
        err(&format!("{base}outbound: {{number: \"123\"}}\n")),
        "outbound.number: \"123\" is not an E.164 number (+ and 1–15 digits)"
    );
}

#[test]
fn users_must_be_a_list_of_mappings() {
    assert_eq!(
        err("domain: a.example\nusers: {ext: \"10\"}\n"),
        "users: expected a list, found a mapping"
    );
    assert_eq!(
        err("domain: a.example\nusers: [\"10\"]\n"),
        "users[0]: expected a mapping, found a string"
    );
}

// ---- secrets on apply ----

#[test]
fn a_file_without_secrets_keeps_the_stored_ones_for_existing_users() {
    let old = parse(&with_user(
        "{ext: \"1102\", name: B, secret: \"secret-1102\", pin: \"4321\"}",
    ));
    let mut new = parse(
        "domain: office.example\nusers:\n  - {ext: \"1101\", name: A}\n  - {ext: \"1102\", name: B, secret: \"changed-1102\"}\n",
    );
    new.fill_missing_secrets_from(&old).unwrap();
    assert_eq!(new.users[0].secret.as_deref(), Some("secret-1101"));
    assert_eq!(new.users[1].secret.as_deref(), Some("changed-1102"));
    assert_eq!(
        new.users[1].pin, None,
        "a user entry with a secret is complete: no pin means no pin…"
    );
    let mut again = parse("domain: office.example\nusers:\n  - {ext: \"1102\", name: B}\n");
    again.fill_missing_secrets_from(&old).unwrap();
    assert_eq!(
        again.users[0].pin.as_deref(),
        Some("4321"),
        "…while one without a secret keeps the stored secret and pin"
    );
}

#[test]
fn a_new_user_without_a_secret_is_an_error() {
    let old = parse(&with_user(
        "{ext: \"1102\", name: B, secret: \"secret-1102\"}",
    ));
    let mut new = parse(
        "domain: office.example\nusers:\n  - {ext: \"1101\", name: A}\n  - {ext: \"1103\", name: C}\n",
    );
    assert_eq!(
        new.fill_missing_secrets_from(&old).unwrap_err().to_string(),
        "users[1]: new user 1103 needs a \"secret\""
    );
    let fresh = parse("domain: office.example\nusers:\n  - {ext: \"1101\", name: A}\n");
    assert_eq!(
        fresh.check_secrets_present().unwrap_err().to_string(),
        "users[0]: new user 1101 needs a \"secret\""
    );
}

// ---- export ----

#[test]
fn export_with_secrets_round_trips_through_the_parser() {
    let t = parse(OFFICE);
    let yaml = t.export_yaml(true);
    assert_eq!(parse(&yaml), t, "exported:\n{yaml}");
    assert!(yaml.contains("s3cret-2001"));
    assert!(!yaml.contains(SECRETS_OMITTED_NOTE));
}

#[test]
fn export_of_a_tenant_using_every_setting_round_trips() {
    let text = "domain: full.example\nlanguage: it\ncountry: IT\n\
        options: {recording: true, recording_download: true, analytics: false, disa: true, digest_algorithms: [sha256, md5], register_networks: [10.0.0.0/8, \"2001:db8::/32\"]}\n\
        limits: {max_calls: 5, storage_mb: 10, recording_days: 0, voicemail_days: 7, max_contacts_per_aor: 2}\n\
        users:\n  - {ext: \"0101\", name: \"Zero: one\", secret: \"yes no on off\", email: a@full.example, auth_user: \"0101x\", digest_algorithms: [md5], nat: never,\n     ring_timeout: 30, busy_level: 2, call_limit: 3, on_busy: \"external:+390612345678\", on_no_answer: message:0101, on_unavailable: hangup,\n     voicemail: {enabled: true, delete_after_email: true, format: wav}, pin: \"0042\"}\n\
        groups:\n  - {ext: \"0200\", name: G, strategy: hunt, members: [\"0101\"], ring_timeout: 5}\n\
        ivrs:\n  - {name: m, prompts: [p1], options: {\"*\": hangup, \"#\": announce:bye, \"0\": user:0101}}\n\
        numbers:\n  - {number: \"+390612345678\", route: ivr:m}\n\
        outbound: {prefix: \"9\"}\n";
    let t = parse(text);
    let yaml = t.export_yaml(true);
    assert_eq!(parse(&yaml), t, "exported:\n{yaml}");
}

#[test]
fn export_without_secrets_omits_them_and_applies_back_unchanged() {
    let old = parse(OFFICE);
    let yaml = old.export_yaml(false);
    assert!(yaml.starts_with(SECRETS_OMITTED_NOTE));
    assert!(!yaml.contains("s3cret"), "exported:\n{yaml}");
    assert!(!yaml.contains("secret:"), "exported:\n{yaml}");
    let mut back = parse(&yaml);
    back.fill_missing_secrets_from(&old).unwrap();
    assert_eq!(back, old);
    assert!(TenantConfig::diff(&old, &back).is_empty());
}

// ---- diff ----

#[test]
fn diff_lists_added_removed_and_changed_objects_without_secrets() {
    let old = parse(
        "domain: office.example\noptions: {recording: false}\nusers:\n  - {ext: \"1101\", name: A, secret: \"secret-1101\"}\n  - {ext: \"1102\", name: B, secret: \"secret-1102\"}\n",
    );
    let new = parse(
        "domain: office.example\noptions: {recording: true}\nusers:\n  - {ext: \"1101\", name: B, secret: \"secret-new1\", ring_timeout: 30}\n  - {ext: \"1103\", name: Sales 3, secret: \"secret-1103\"}\n",
    );
    let lines: Vec<String> = TenantConfig::diff(&old, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "~ options.recording: false → true",
            "- user 1102",
            "~ user 1101: name \"A\" → \"B\", secret changed, ring_timeout 20 → 30",
            "+ user 1103 (Sales 3)",
        ]
    );
    assert!(lines.iter().all(|l| !l.contains("secret-")));
}

#[test]
fn diff_covers_routing_objects_and_pins() {
    let old = parse(OFFICE);
    let mut new = old.clone();
    new.users[1].pin = Some("1234".into());
    new.groups[0].members.reverse();
    new.ivrs[0].digit_timeout = 5;
    new.numbers[0].route = Destination::parse("user:2222").unwrap();
    new.outbound = None;
    new.language = "it".into();
    let lines: Vec<String> = TenantConfig::diff(&old, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "~ language: \"ru\" → \"it\"",
            "~ user 2001: pin set",
            "~ group 1100: members [2222, 1101] → [1101, 2222]",
            "~ ivr main-ru: digit_timeout 10 → 5",
            "~ number +74952216005: route ivr:main-ru → user:2222",
            "- outbound",
        ]
    );
    let lines: Vec<String> = TenantConfig::diff(&TenantConfig::new("office.example"), &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        lines.contains(&"+ group 1100 (Sales)".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"+ ivr main-ru".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"+ number +74952216005 (→ ivr:main-ru)".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"+ outbound (prefix none → \"99\", number none → \"+74952216005\")".to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"~ country: none → \"RU\"".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn truncated_or_mangled_tenant_files_give_errors_not_panics() {
    // Every prefix of the example, and the example with each byte replaced by a
    // troublesome character: parsing returns Ok or a one-line Err, never panics.
    for end in 0..OFFICE.len() {
        if let Some(prefix) = OFFICE.get(..end)
            && let Err(e) = TenantConfig::from_yaml_str(prefix)
        {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
    for (i, _) in OFFICE.char_indices() {
        for c in [':', '"', '{', '-', '\t', 'é'] {
            let mut s = OFFICE.to_owned();
            let next = s[i..].chars().next().map_or(0, char::len_utf8);
            s.replace_range(i..i + next, &c.to_string());
            if let Err(e) = TenantConfig::from_yaml_str(&s) {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}

#[test]
fn a_repeated_key_is_an_error_not_last_one_wins() {
    let e = err("domain: a.example\ndomain: b.example\n");
    assert!(e.starts_with("YAML syntax error: "), "{e}");
    assert!(e.contains("duplicate"), "{e}");
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(TenantConfig::from_yaml_str(&text).is_err());
}

#[test]
fn queues_share_the_extension_space_and_name_existing_users_and_destinations() {
    let base = "domain: q.example\nusers:\n  - {ext: \"1101\", name: A, secret: \"secret-1101\"}\n  - {ext: \"1102\", name: B, secret: \"secret-1102\"}\n";
    let q = parse(&format!(
        "{base}queues:\n  - {{ext: \"1100\", name: Sales, strategy: leastrecent, members: [\"1101\"], agents: [\"1102\"], wrapup: 10, max_wait: 60, on_timeout: \"voicemail:1101\"}}\n"
    ));
    let queue = q.queue("1100").unwrap();
    assert_eq!(queue.member_timeout, 15);
    assert_eq!(queue.retry, 5);
    assert_eq!(queue.announce_frequency, 30);
    assert!(queue.join_empty && !queue.leave_empty);
    assert_eq!(
        q.internal_number("1100"),
        Some(pbx_core::Destination::Queue(
            pbx_core::Ext::parse("1100").unwrap()
        ))
    );
    // Export round-trips.
    let again = parse(&q.export_yaml(true));
    assert_eq!(again.queues, q.queues);
    assert_eq!(
        err(&format!(
            "{base}queues:\n  - {{ext: \"1101\", name: Sales}}\n"
        )),
        "queues[0].ext: \"1101\" is already used by users[0]"
    );
    assert_eq!(
        err(&format!(
            "{base}queues:\n  - {{ext: \"1100\", name: Sales, members: [\"1199\"]}}\n"
        )),
        "queues[0].members[0]: \"1199\" is not a user of this tenant"
    );
    assert_eq!(
        err(&format!(
            "{base}queues:\n  - {{ext: \"1100\", name: Sales, members: [\"1101\"], agents: [\"1101\"]}}\n"
        )),
        "queues[0].agents[0]: \"1101\" is already a static member (members are always logged in)"
    );
    assert_eq!(
        err(&format!(
            "{base}queues:\n  - {{ext: \"1100\", name: Sales, on_full: \"ivr:nope\"}}\n"
        )),
        "queues[0].on_full: ivr:nope does not exist in this tenant"
    );
    assert_eq!(
        err(&format!(
            "{base}service_codes: {{agent_login: \"*4\", agent_logout: \"*46\"}}\n"
        )),
        "service_codes.agent_logout: \"*46\" collides with service_codes.agent_login \"*4\" (one is the start of the other, so dialing is ambiguous)"
    );
}

#[test]
fn a_group_member_may_be_an_outside_number_spelt_like_the_external_destination() {
    let base = "domain: a.example\nusers:\n  - {ext: \"10\", name: A, secret: \"secret-10\"}\n";
    let t = parse(&format!(
        "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"10\", \"external:+79161234567\", \"external:0612345\"]}}\n"
    ));
    assert_eq!(
        t.groups[0].members,
        [
            pbx_core::GroupMember::User(pbx_core::Ext::parse("10").unwrap()),
            pbx_core::GroupMember::External("+79161234567".into()),
            pbx_core::GroupMember::External("0612345".into()),
        ]
    );
    let yaml = t.export_yaml(true);
    assert!(yaml.contains("external:+79161234567"), "{yaml}");
    assert_eq!(parse(&yaml), t, "exported:\n{yaml}");
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"external:+7 916\"]}}\n"
        )),
        "groups[0].members[0]: \"external:+7 916\": not a phone number after external: (optional + and 1–20 digits)"
    );
    assert_eq!(
        err(&format!(
            "{base}groups:\n  - {{ext: \"20\", name: G, members: [\"external:+7916\", \"external:+7916\"]}}\n"
        )),
        "groups[0].members[1]: \"external:+7916\" is listed twice"
    );
}
