//! `vpbx route`'s simulator on seed 000's office (DESIGN.md's tenant example) and a
//! platform file from issue 5.
#![allow(clippy::unwrap_used)]

use pbx_core::TenantConfig;
use pbx_dialplan::walk::{Dial, EndReason, MAX_USER_HOPS, MAX_WALK_HOPS, walk};
use pbx_dialplan::{Decision, Platform};

const OFFICE: &str = r#"
domain: office.example
language: ru
country: RU
users:
  - {ext: "1001", name: "Reception", secret: "s3cret-1001"}
  - {ext: "1101", name: "Sales 1", secret: "s3cret-1101", on_busy: group:1100, on_no_answer: group:1100, on_unavailable: group:1100}
  - {ext: "1102", name: "Sales 2", secret: "s3cret-1102", ring_timeout: 15}
  - {ext: "2001", name: "Director", secret: "s3cret-2001", email: dir@office.example,
     voicemail: {enabled: true, delete_after_email: true, format: wav49},
     on_busy: voicemail:2001, on_no_answer: voicemail:2001, on_unavailable: voicemail:2001}
  - {ext: "2222", name: "Secretary", secret: "s3cret-2222", on_no_answer: group:1100}
groups:
  - {ext: "1100", name: Sales, strategy: ringall, members: ["2222", "1101"],
     ring_timeout: 20, on_timeout: user:2222}
  - {ext: "1200", name: Support, strategy: hunt, members: ["1101", "1102", "2001"], ring_timeout: 10}
ivrs:
  - name: main-ru
    ext: "5000"
    prompts: [ru-greet, advert, ru-route]
    digit_timeout: 10
    repeat: 1
    direct_dial: true
    options: {"1": group:1100, "9": ivr:main-it, "0": ivr:main-en}
    on_timeout: user:2222
    on_invalid: ivr:main-ru
  - {name: main-it, prompts: [it-greet], on_timeout: ivr:main-it}
  - {name: main-en, ext: "5001", prompts: [en-greet], repeat: 0}
schedules:
  - {name: office-hours, timezone: Europe/Moscow, weekly: {mon-fri: 09:00-18:00},
     in_hours: ivr:main-ru, after_hours: voicemail:2001}
announces:
  - {name: moved, prompts: [we-moved], then: ivr:main-ru}
numbers:
  - {number: "+74952216005", route: schedule:office-hours}
outbound:
  prefix: "99"
  number: "+74952216005"
"#;

const PLATFORM: &str = r#"
trunks:
  - {name: newoperator, tenant: office.example, host: 127.0.0.1, username: "74952345678",
     secret: "sdfsddf^$#$", register: true,
     prefixes: {regional: "8", international: "810", emergency: ""}, strip_regional: 1}
numbers:
  - {number: "+74952216005", tenant: office.example, trunk: newoperator}
directions:
  - {number: "+74952216005", trunk: newoperator, class: regional}
  - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
"#;

/// Thursday 2026-11-26 10:00 in Moscow (07:00 UTC): the office is open.
const THURSDAY_10_MSK: i64 = 1_795_676_400_000;
/// Thursday 2026-11-26 20:00 in Moscow: closed.
const THURSDAY_20_MSK: i64 = THURSDAY_10_MSK + 10 * 3_600_000;

fn office() -> TenantConfig {
    TenantConfig::from_yaml_str(OFFICE).unwrap()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn print_everything() {
    let t = office();
    let p = Platform::from_yaml_str(PLATFORM).unwrap();
    for (from, to) in [
        ("1001", "1101"),
        ("1001", "1100"),
        ("1001", "2001"),
        ("1001", "2222"),
        ("1001", "5000"),
        ("1001", "9989257410726"),
        ("1001", "99+23276123456"),
        ("1001", "4444"),
        ("+79257410726", "+74952216005"),
        ("1001", "1200"),
        ("1001", "*97"),
        ("1001", "112"),
    ] {
        println!(
            "{}",
            walk(&t, Some(&p), &Dial::new(from, to, THURSDAY_10_MSK)).unwrap()
        );
    }
    let _ = (THURSDAY_20_MSK, MAX_USER_HOPS, MAX_WALK_HOPS, lines(""));
    let _ = EndReason::Hangup;
    let _: Option<Decision> = None;
}
