//! The tenant file's media settings: IVR numbers and timeouts, one extension space,
//! service codes, prompts and their resolution, announcements, voicemail, recording,
//! music on hold; their diff and the export round trip.
#![allow(clippy::unwrap_used)]

use pbx_core::tenant::{PromptCatalog, RecordingPolicy, Voicemail};
use pbx_core::{Destination, TenantConfig};

fn parse(text: &str) -> TenantConfig {
    TenantConfig::from_yaml_str(text).unwrap()
}

fn err(text: &str) -> String {
    TenantConfig::from_yaml_str(text).unwrap_err().to_string()
}

const BASE: &str = "domain: office.example\nlanguage: ru\nusers:\n  - {ext: \"1101\", name: A, secret: \"secret-1101\"}\ngroups:\n  - {ext: \"1100\", name: G, members: [\"1101\"]}\n";

fn with(rest: &str) -> String {
    format!("{BASE}{rest}")
}

// ---- IVRs ----

#[test]
fn an_ivr_gets_an_internal_number_and_an_inter_digit_timeout_of_three_seconds() {
    let t = parse(&with(
        "ivrs:\n  - {name: main, ext: \"5000\", options: {1: group:1100}}\n  - {name: other, inter_digit_timeout: 5}\n",
    ));
    assert_eq!(t.ivrs[0].ext.as_ref().unwrap().as_str(), "5000");
    assert_eq!(t.ivrs[0].inter_digit_timeout, 3);
    assert_eq!(t.ivrs[1].inter_digit_timeout, 5);
    assert_eq!(t.ivrs[1].ext, None);
    assert_eq!(
        t.ivrs[0].options["1"],
        Destination::Group("1100".parse_ext())
    );
    assert_eq!(t.ivr("main").unwrap().name, "main");
    assert_eq!(
        t.internal_number("5000"),
        Some(Destination::Ivr("main".into()))
    );
    assert_eq!(
        t.internal_number("1100"),
        Some(Destination::Group("1100".parse_ext()))
    );
    assert_eq!(
        t.internal_number("1101"),
        Some(Destination::User("1101".parse_ext()))
    );
    assert_eq!(t.internal_number("5001"), None);
    assert_eq!(
        err(&with("ivrs:\n  - {name: m, inter_digit_timeout: 0}\n")),
        "ivrs[0].inter_digit_timeout: 0 is out of range (allowed 1..=30)"
    );
    assert_eq!(
        err(&with("ivrs:\n  - {name: m, ext: 5000}\n")),
        "ivrs[0].ext: extensions must be quoted strings (write \"5000\"), so leading zeros are kept"
    );
}

trait ParseExt {
    fn parse_ext(&self) -> pbx_core::Ext;
}
impl ParseExt for str {
    fn parse_ext(&self) -> pbx_core::Ext {
        pbx_core::Ext::parse(self).unwrap()
    }
}

#[test]
fn menu_keys_are_single_dtmf_keys() {
    let t = parse(&with(
        "ivrs:\n  - {name: m, options: {\"*\": hangup, \"#\": hangup, 0: user:1101, \"9\": hangup}}\n",
    ));
    assert_eq!(
        t.ivrs[0].options.keys().collect::<Vec<_>>(),
        ["#", "*", "0", "9"]
    );
    for bad in ["A", "10", "**", "x"] {
        assert_eq!(
            err(&with(&format!(
                "ivrs:\n  - {{name: m, options: {{\"{bad}\": hangup}}}}\n"
            ))),
            format!(
                "ivrs[0].options: \"{bad}\" is not a menu key (one of 0–9, *, #; quote * and # in YAML)"
            )
        );
    }
    assert_eq!(
        err(&with(
            "ivrs:\n  - {name: m, options: {1: hangup}, on_invalid: \"user:77\"}\n"
        )),
        "ivrs[0].on_invalid: user:77 does not exist in this tenant"
    );
}

#[test]
fn users_groups_and_ivrs_share_one_extension_space() {
    assert_eq!(
        err(&with("ivrs:\n  - {name: m, ext: \"1101\"}\n")),
        "ivrs[0].ext: \"1101\" is already used by users[0]"
    );
    assert_eq!(
        err(&with("ivrs:\n  - {name: m, ext: \"1100\"}\n")),
        "ivrs[0].ext: \"1100\" is already used by groups[0]"
    );
    assert_eq!(
        err(&with(
            "ivrs:\n  - {name: m, ext: \"5000\"}\n  - {name: n, ext: \"5000\"}\n"
        )),
        "ivrs[1].ext: \"5000\" is already used by ivrs[0]"
    );
}

// ---- service codes ----

#[test]
fn the_voicemail_service_code_defaults_to_star_97_and_may_not_collide_with_numbers() {
    assert_eq!(parse(BASE).service_codes.voicemail, "*97");
    assert_eq!(
        parse(&with("service_codes: {voicemail: \"*98\"}\n"))
            .service_codes
            .voicemail,
        "*98"
    );
    assert_eq!(
        err(&with("service_codes: {voicemail: \"*9a\"}\n")),
        "service_codes.voicemail: \"*9a\" is not a service code (2–8 of 0-9 * #, e.g. *97)"
    );
    assert_eq!(
        err(&with("service_codes: {voicemail: \"*\"}\n")),
        "service_codes.voicemail: \"*\" is not a service code (2–8 of 0-9 * #, e.g. *97)"
    );
    assert_eq!(
        err(&with("service_codes: {voicemail: \"110\"}\n")),
        "service_codes.voicemail: \"110\" collides with users[0].ext \"1101\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with("service_codes: {voicemail: \"11001\"}\n")),
        "service_codes.voicemail: \"11001\" collides with groups[0].ext \"1100\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with(
            "outbound: {prefix: \"99\"}\nservice_codes: {voicemail: \"990\"}\n"
        )),
        "service_codes.voicemail: \"990\" collides with outbound.prefix \"99\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with("service_codes: {voicemal: \"*97\"}\n")),
        "service_codes: unknown key \"voicemal\" (expected one of: voicemail, pickup, directed_pickup, agent_login, agent_logout, agent_pause, agent_unpause)"
    );
    assert!(
        TenantConfig::from_yaml_str(&with("service_codes: {voicemail: \"77\"}\n")).is_ok(),
        "a digit code that no extension starts with is fine"
    );
}

#[test]
fn the_pickup_codes_default_to_star_8_and_star_star_and_may_not_collide() {
    use pbx_core::PickupCode;
    let c = parse(BASE).service_codes;
    assert_eq!(
        (c.pickup.as_str(), c.directed_pickup.as_str()),
        ("*8", "**")
    );
    assert_eq!(c.pickup_of("*8"), Some(PickupCode::Group));
    assert_eq!(
        c.pickup_of("**1101"),
        Some(PickupCode::Directed("1101".into()))
    );
    assert_eq!(c.pickup_of("**"), None);
    assert_eq!(c.pickup_of("**11a"), None);
    assert_eq!(c.pickup_of("*97"), None);
    let c = parse(&with(
        "service_codes: {pickup: \"#8\", directed_pickup: \"#9\"}\n",
    ))
    .service_codes;
    assert_eq!(c.pickup_of("#8"), Some(PickupCode::Group));
    assert_eq!(
        c.pickup_of("#91101"),
        Some(PickupCode::Directed("1101".into()))
    );
    assert_eq!(
        err(&with("service_codes: {pickup: \"*9\"}\n")),
        "service_codes.pickup: \"*9\" collides with service_codes.voicemail \"*97\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with("service_codes: {pickup: \"**\"}\n")),
        "service_codes.directed_pickup: \"**\" collides with service_codes.pickup \"**\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with("service_codes: {directed_pickup: \"11\"}\n")),
        "service_codes.directed_pickup: \"11\" collides with users[0].ext \"1101\" (one is the start of the other, so dialing is ambiguous)"
    );
    assert_eq!(
        err(&with("service_codes: {pickup: \"8\"}\n")),
        "service_codes.pickup: \"8\" is not a service code (2–8 of 0-9 * #, e.g. *8)"
    );
}

#[test]
fn a_users_pickup_group_is_a_plain_name() {
    let cfg = parse(
        "domain: office.example\nusers:\n  - {ext: \"1101\", name: A, secret: \"secret-1101\", pickup_group: sales}\n  - {ext: \"1102\", name: B, secret: \"secret-1102\"}\n",
    );
    assert_eq!(cfg.users[0].pickup_group.as_deref(), Some("sales"));
    assert_eq!(cfg.users[1].pickup_group, None);
    for bad in ["\"\"", "\"sa les\"", "\"-x\"", "[a]"] {
        let e = err(&format!(
            "domain: office.example\nusers:\n  - {{ext: \"1101\", name: A, secret: \"secret-1101\", pickup_group: {bad}}}\n"
        ));
        assert!(e.starts_with("users[0].pickup_group: "), "{bad}: {e}");
    }
}

// ---- prompts ----

/// A catalog holding tenant prompts, system prompts per language, and MOH classes.
struct Catalog {
    tenant: &'static [&'static str],
    system: &'static [(&'static str, &'static str)],
    moh: &'static [&'static str],
}

impl PromptCatalog for Catalog {
    fn has_tenant_prompt(&self, name: &str) -> bool {
        self.tenant.contains(&name)
    }
    fn has_system_prompt(&self, language: &str, name: &str) -> bool {
        self.system.contains(&(language, name))
    }
    fn has_moh_class(&self, class: &str) -> bool {
        self.moh.contains(&class)
    }
}

const FILES: Catalog = Catalog {
    tenant: &["ru-greet", "ru-route", "busy-2001"],
    system: &[
        ("ru", "vm-intro"),
        ("en", "vm-goodbye"),
        ("en", "digits/1"),
        ("it", "benvenuto"),
    ],
    moh: &["default", "jazz"],
};

const MENU: &str = "ivrs:\n  - {name: main-ru, prompts: [ru-greet, vm-intro, advert, ru-route]}\n";

#[test]
fn every_prompt_the_tenant_names_must_exist_in_its_library_its_language_or_english() {
    let ok = parse(&with(
        "ivrs:\n  - {name: main-ru, prompts: [ru-greet, vm-intro, vm-goodbye, digits/1], options: {1: announce:ru-route}}\n",
    ));
    ok.check_prompts(&FILES).unwrap();
    assert_eq!(
        parse(&with(MENU))
            .check_prompts(&FILES)
            .unwrap_err()
            .to_string(),
        "ivrs[0].prompts[2]: prompt \"advert\" not found (tenant office.example, language ru)"
    );
    let italian = parse(&with(MENU).replace("language: ru", "language: it"));
    assert_eq!(
        italian.check_prompts(&FILES).unwrap_err().to_string(),
        "ivrs[0].prompts[1]: prompt \"vm-intro\" not found (tenant office.example, language it)",
        "a Russian system prompt is not found for an Italian tenant"
    );
}

#[test]
fn announce_destinations_greetings_and_music_on_hold_are_checked_too() {
    let check = |rest: &str| {
        parse(&with(rest))
            .check_prompts(&FILES)
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        check("numbers:\n  - {number: \"+74952216005\", route: announce:closed}\n").unwrap_err(),
        "numbers[0].route: prompt \"closed\" not found (tenant office.example, language ru)"
    );
    assert_eq!(
        check("ivrs:\n  - {name: m, on_timeout: announce:nobody}\n").unwrap_err(),
        "ivrs[0].on_timeout: prompt \"nobody\" not found (tenant office.example, language ru)"
    );
    assert_eq!(
        check(
            "announces:\n  - {name: closed, prompts: [vm-goodbye, gone]}\nnumbers:\n  - {number: \"+74952216005\", route: announce:closed}\n"
        )
        .unwrap_err(),
        "announces[0].prompts[1]: prompt \"gone\" not found (tenant office.example, language ru)",
        "announce:NAME of an announcement object checks the object's prompts, not a prompt NAME"
    );
    check(
        "announces:\n  - {name: closed, prompts: [vm-goodbye]}\nnumbers:\n  - {number: \"+74952216005\", route: announce:closed}\n",
    )
    .unwrap();
    let greeting = BASE.replace(
        "secret: \"secret-1101\"}",
        "secret: \"secret-1101\", voicemail: {enabled: true, busy_greeting: busy-2001, unavailable_greeting: away}}",
    );
    assert_eq!(
        parse(&greeting)
            .check_prompts(&FILES)
            .unwrap_err()
            .to_string(),
        "users[0].voicemail.unavailable_greeting: prompt \"away\" not found (tenant office.example, language ru)"
    );
    check("moh: jazz\n").unwrap();
    assert_eq!(
        check("moh: polka\n").unwrap_err(),
        "moh: music-on-hold class \"polka\" not found (tenant office.example)"
    );
}

#[test]
fn prompt_names_are_checked_when_the_file_is_parsed() {
    assert_eq!(
        err(&with(
            "numbers:\n  - {number: \"+74952216005\", route: \"announce:../etc/x\"}\n"
        )),
        "numbers[0].route: \"announce:../etc/x\": \"../etc/x\" is not a valid prompt or announcement name (letters, digits, _ - . and one / as in digits/1, 1–64 long)"
    );
    assert_eq!(
        err(&with("ivrs:\n  - {name: m, prompts: [\"/etc/passwd\"]}\n")),
        "ivrs[0].prompts[0]: \"/etc/passwd\" is not a valid prompt name (letters, digits, _ - . and one / as in digits/1, 1–64 long)"
    );
    assert_eq!(
        parse(&with(
            "numbers:\n  - {number: \"+74952216005\", route: announce:digits/1}\n"
        ))
        .numbers[0]
            .route,
        Destination::Announce("digits/1".into())
    );
}

// ---- announcements ----

#[test]
fn an_announcement_object_plays_its_prompts_then_goes_on() {
    let t = parse(&with(
        "announces:\n  - {name: welcome, prompts: [ru-greet, vm-intro], then: group:1100}\n  - {name: bye, prompts: [vm-goodbye]}\n",
    ));
    let a = t.announce("welcome").unwrap();
    assert_eq!(a.prompts, ["ru-greet", "vm-intro"]);
    assert_eq!(a.then, Destination::Group("1100".parse_ext()));
    assert_eq!(
        t.announce("bye").unwrap().then,
        Destination::Hangup,
        "then defaults to hangup"
    );
    assert!(
        t.announce("ru-greet").is_none(),
        "announce:ru-greet plays the prompt"
    );
    assert_eq!(
        err(&with("announces:\n  - {name: a, prompts: []}\n")),
        "announces[0].prompts: must name at least one prompt"
    );
    assert_eq!(
        err(&with(
            "announces:\n  - {name: a, prompts: [x], then: user:1199}\n"
        )),
        "announces[0].then: user:1199 does not exist in this tenant"
    );
    assert_eq!(
        err(&with(
            "announces:\n  - {name: a, prompts: [x]}\n  - {name: a, prompts: [y]}\n"
        )),
        "announces[1].name: \"a\" is already used by announces[0]"
    );
    assert_eq!(
        err(&with("announces:\n  - {name: a, prompt: [x]}\n")),
        "announces[0]: unknown key \"prompt\" (expected one of: name, prompts, then)"
    );
}

// ---- voicemail, PIN, recording, music on hold ----

#[test]
fn voicemail_has_a_three_minute_limit_by_default_and_optional_greetings() {
    let t = parse(
        "domain: a.example\nusers:\n  - {ext: \"1101\", name: A, secret: \"secret-1101\"}\n\
         \x20 - {ext: \"1102\", name: B, secret: \"secret-1102\", voicemail: {enabled: true, max_message_s: 60, busy_greeting: busy-2001}}\n",
    );
    assert_eq!(
        t.users[0].voicemail.max_message_s,
        Voicemail::DEFAULT_MAX_MESSAGE_S
    );
    assert_eq!(Voicemail::DEFAULT_MAX_MESSAGE_S, 180);
    let vm = &t.users[1].voicemail;
    assert_eq!(vm.max_message_s, 60);
    assert_eq!(vm.busy_greeting.as_deref(), Some("busy-2001"));
    assert_eq!(vm.unavailable_greeting, None);
    let user = |vm: &str| {
        err(&format!(
            "domain: a.example\nusers:\n  - {{ext: \"10\", name: A, secret: \"secret-10\", voicemail: {vm}}}\n"
        ))
    };
    assert_eq!(
        user("{max_message_s: 4}"),
        "users[0].voicemail.max_message_s: 4 is out of range (allowed 5..=3600)"
    );
    assert_eq!(
        user("{busy_greeting: \"my greeting\"}"),
        "users[0].voicemail.busy_greeting: \"my greeting\" is not a valid prompt name (letters, digits, _ - . and one / as in digits/1, 1–64 long)"
    );
}

#[test]
fn pins_are_four_to_ten_digits_and_never_echoed() {
    let user = |pin: &str| {
        TenantConfig::from_yaml_str(&format!(
            "domain: a.example\nusers:\n  - {{ext: \"10\", name: A, secret: \"secret-10\", pin: \"{pin}\"}}\n"
        ))
        .map_err(|e| e.to_string())
    };
    assert!(user("1234").is_ok());
    assert!(user("0123456789").is_ok());
    for bad in ["123", "01234567890", "12a4", "12 34", ""] {
        let e = user(bad).unwrap_err();
        assert_eq!(e, "users[0].pin: must be 4–10 digits");
    }
}

#[test]
fn recording_is_inherited_from_the_tenant_unless_the_user_says_true_or_false() {
    let text = |tenant: bool| {
        format!(
            "domain: a.example\noptions: {{recording: {tenant}}}\nusers:\n\
             - {{ext: \"10\", name: A, secret: \"secret-10\"}}\n\
             - {{ext: \"11\", name: B, secret: \"secret-11\", recording: true}}\n\
             - {{ext: \"12\", name: C, secret: \"secret-12\", recording: false}}\n\
             - {{ext: \"13\", name: D, secret: \"secret-13\", recording: inherit}}\n"
        )
    };
    for tenant in [false, true] {
        let t = parse(&text(tenant));
        let o = &t.options;
        assert_eq!(t.users[0].recording, RecordingPolicy::Inherit);
        assert_eq!(t.users[1].recording, RecordingPolicy::Always);
        assert_eq!(
            t.users
                .iter()
                .map(|u| u.records_calls(o))
                .collect::<Vec<_>>(),
            [tenant, true, false, tenant]
        );
    }
    // A call is recorded when one of its users records calls.
    let t = parse(&text(false));
    assert!(!t.records_call(Some("10"), "user:13"));
    assert!(t.records_call(Some("10"), "user:11"));
    assert!(t.records_call(Some("11"), "user:12"));
    assert!(!t.records_call(Some("12"), "ivr:main"));
    assert!(!t.records_call(None, "user:10"));
    assert!(t.records_call(None, "user:11"));
    let t = parse(&text(true));
    assert!(
        t.records_call(Some("12"), "user:10"),
        "10 inherits the tenant's true"
    );
    assert!(!t.records_call(Some("12"), "user:12"));
    assert!(
        t.records_call(None, "voicemail:10"),
        "no user answered: the tenant decides"
    );
    let user = |rec: &str| {
        err(&format!(
            "domain: a.example\nusers:\n  - {{ext: \"10\", name: A, secret: \"secret-10\", recording: {rec}}}\n"
        ))
    };
    assert_eq!(
        user("sometimes"),
        "users[0].recording: \"sometimes\" is not one of: true, false, inherit"
    );
    assert_eq!(
        user("1"),
        "users[0].recording: expected true, false or inherit, found a number"
    );
}

#[test]
fn music_on_hold_is_the_default_class_unless_named() {
    assert_eq!(parse(BASE).moh, "default");
    assert_eq!(parse(&with("moh: jazz\n")).moh, "jazz");
    assert_eq!(
        err(&with("moh: \"my music\"\n")),
        "moh: \"my music\" is not a valid music-on-hold class name (letters, digits, _ . -, 1–64 long)"
    );
}

// ---- diff and export ----

/// A tenant with every setting of this issue away from its default.
const FULL: &str = r##"domain: full.example
language: it
options: {recording: true, recording_download: true}
limits: {storage_mb: 2048, recording_days: 90, voicemail_days: 14}
users:
  - {ext: "0101", name: A, secret: "secret-0101", email: a@full.example, pin: "0042", recording: false,
     voicemail: {enabled: true, delete_after_email: true, format: wav49, max_message_s: 300, busy_greeting: busy-a, unavailable_greeting: digits/1},
     on_busy: "voicemail:0101", on_no_answer: announce:later}
  - {ext: "0102", name: B, secret: "secret-0102", recording: true}
  - {ext: "0103", name: C, secret: "secret-0103", recording: inherit}
groups:
  - {ext: "0200", name: G, members: ["0101", "0102"]}
ivrs:
  - {name: day, ext: "0500", prompts: [benvenuto, digits/1], digit_timeout: 10, inter_digit_timeout: 4, repeat: 2, direct_dial: true,
     options: {"1": group:0200, "*": announce:bye, "#": schedule:hours}, on_timeout: user:0101, on_invalid: ivr:day}
  - {name: night, prompts: [chiuso]}
schedules:
  - name: hours
    timezone: Europe/Rome
    weekly:
      mon-fri: [09:00-13:00, 14:00-18:00]
      "sat,sun": 10:00-12:00
      fri: 22:00-02:00
    closed: [2026-12-31, 01-01, 2027-01-02..2027-01-06, 08-10..08-20, 12-24..01-06]
    open:
      2026-12-30: [09:00-15:00]
      12-23: 00:00-24:00
    in_hours: ivr:day
    after_hours: announce:closed-then-night
announces:
  - {name: closed-then-night, prompts: [chiuso, digits/1], then: ivr:night}
  - {name: bye, prompts: [arrivederci]}
numbers:
  - {number: "+390612345678", route: schedule:hours}
  - {number: "+390612345679", route: ivr:day, language: en}
outbound: {prefix: "9"}
moh: jazz
service_codes: {voicemail: "*98"}
"##;

#[test]
fn export_of_a_tenant_with_every_media_setting_round_trips() {
    let t = parse(FULL);
    assert_eq!(t.schedules[0].weekly.len(), 3);
    assert_eq!(t.schedules[0].closed.len(), 5);
    let yaml = t.export_yaml(true);
    assert_eq!(parse(&yaml), t, "exported:\n{yaml}");
    assert!(
        TenantConfig::diff(&t, &parse(&yaml)).is_empty(),
        "exported:\n{yaml}"
    );
    let redacted = t.export_yaml(false);
    let mut back = parse(&redacted);
    back.fill_missing_secrets_from(&t).unwrap();
    assert_eq!(back, t, "exported:\n{redacted}");
}

#[test]
fn diff_names_each_changed_media_setting() {
    let old = parse(FULL);
    let mut new = old.clone();
    new.ivrs[0].ext = None;
    new.ivrs[0].inter_digit_timeout = 3;
    new.users[0].voicemail.max_message_s = 180;
    new.users[0].voicemail.busy_greeting = None;
    new.users[0].recording = RecordingPolicy::Inherit;
    new.moh = "default".into();
    new.service_codes.voicemail = "*97".into();
    new.schedules[0].timezone = chrono_tz::Europe::Moscow;
    new.schedules[0].closed.pop();
    new.announces[1].then = Destination::Ivr("night".into());
    new.announces.remove(0);
    new.schedules[0].after_hours = Destination::Ivr("night".into());
    let lines: Vec<String> = TenantConfig::diff(&old, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "~ moh: \"jazz\" → \"default\"",
            "~ service_codes.voicemail: \"*98\" → \"*97\"",
            "~ user 0101: voicemail.max_message_s 300 → 180, voicemail.busy_greeting \"busy-a\" → none, recording false → inherit",
            "~ ivr day: ext 0500 → none, inter_digit_timeout 4 → 3",
            "~ schedule hours: timezone Europe/Rome → Europe/Moscow, closed [2026-12-31, 01-01, 2027-01-02..2027-01-06, 08-10..08-20, 12-24..01-06] → [2026-12-31, 01-01, 2027-01-02..2027-01-06, 08-10..08-20], after_hours announce:closed-then-night → ivr:night",
            "- announce closed-then-night",
            "~ announce bye: then hangup → ivr:night",
        ]
    );
    let added: Vec<String> = TenantConfig::diff(&TenantConfig::new("full.example"), &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        added.contains(
            &"+ schedule hours (Europe/Rome, ivr:day / announce:closed-then-night)".to_owned()
        ),
        "{added:?}"
    );
    assert!(
        added.contains(&"+ announce bye ([arrivederci] then hangup)".to_owned()),
        "{added:?}"
    );
}

#[test]
fn the_documented_media_example_parses() {
    // The YAML of the `pbx_core::tenant` module documentation, with the users it names.
    let t = parse(
        r##"domain: office.example
language: ru
users:
  - {ext: "2001", name: Director, secret: "s3cret-2001", voicemail: {enabled: true}}
  - {ext: "2222", name: Secretary, secret: "s3cret-2222"}
groups:
  - {ext: "1100", name: Sales, members: ["2222"]}
ivrs:
  - {name: day, ext: "5000", prompts: [ru-greet, advert, ru-route], digit_timeout: 10,
     inter_digit_timeout: 3, direct_dial: true, options: {"1": group:1100, "0": announce:bye},
     on_timeout: user:2222, on_invalid: ivr:day}
  - {name: night, prompts: [closed-ru], on_timeout: voicemail:2001}
schedules:
  - {name: office-hours, timezone: Europe/Moscow, weekly: {mon-fri: 09:00-18:00},
     closed: [01-01..01-08], in_hours: ivr:day, after_hours: ivr:night}
announces:
  - {name: bye, prompts: [vm-goodbye]}                      # then: hangup
  - {name: moved, prompts: [we-moved], then: ivr:day}
numbers:
  - {number: "+74952216005", route: schedule:office-hours}
moh: default
service_codes: {voicemail: "*97"}
"##,
    );
    let s = t.schedule("office-hours").unwrap();
    let at = |rfc: &str| {
        chrono::DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    assert_eq!(
        s.destination(at("2026-11-30T07:00:00Z")),
        &Destination::Ivr("day".into())
    );
    assert_eq!(
        s.destination(at("2027-01-04T07:00:00Z")),
        &Destination::Ivr("night".into()),
        "a Monday inside the new-year holidays"
    );
    assert_eq!(
        t.internal_number("5000"),
        Some(Destination::Ivr("day".into()))
    );
}

#[test]
fn mangled_media_settings_give_one_line_errors_not_panics() {
    // The full file with each character replaced by a troublesome one, and every
    // prefix of it: parsing returns Ok or a one-line Err, never panics.
    for (i, _) in FULL.char_indices() {
        for c in [':', '-', '.', '9', 'é'] {
            let mut s = FULL.to_owned();
            let next = s[i..].chars().next().map_or(0, char::len_utf8);
            s.replace_range(i..i + next, &c.to_string());
            if let Err(e) = TenantConfig::from_yaml_str(&s) {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
    for end in (0..FULL.len()).step_by(7) {
        if let Some(prefix) = FULL.get(..end)
            && let Err(e) = TenantConfig::from_yaml_str(prefix)
        {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}

#[test]
fn a_number_may_set_the_language_its_calls_hear_and_it_must_be_a_language_code() {
    let t = parse(&with(
        "numbers:\n  - {number: \"+74952216005\", route: group:1100, language: it}\n  - {number: \"+74952216006\", route: group:1100}\n",
    ));
    assert_eq!(t.numbers[0].language.as_deref(), Some("it"));
    assert_eq!(t.numbers[1].language, None);
    assert_eq!(t.language, "ru");
    assert_eq!(
        err(&with(
            "numbers:\n  - {number: \"+74952216005\", route: group:1100, language: Italian}\n"
        )),
        "numbers[0].language: \"Italian\" is not a two-letter language code (en, ru, it, …)"
    );
    let mut new = t.clone();
    new.numbers[0].language = Some("en".into());
    let lines: Vec<String> = TenantConfig::diff(&t, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("language") && lines[0].contains("\"en\""),
        "{lines:?}"
    );
}
