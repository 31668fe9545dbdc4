#![allow(clippy::unwrap_used)]

use super::*;
use crate::platform::PlatformConfig;

/// Issue 5's platform example.
fn seed_platform() -> Platform {
    let text = crate::platform::tests::ISSUE_EXAMPLE;
    Platform::new(PlatformConfig::from_yaml_str(text).unwrap()).unwrap()
}

const MOSCOW: &str = "+74952216005";

fn office() -> TenantOutbound<'static> {
    TenantOutbound {
        domain: "office.example",
        country: Some("RU"),
        number: Some(MOSCOW),
    }
}

fn anyone() -> CallerOutbound<'static> {
    CallerOutbound::default()
}

fn allowed(d: Decision) -> Routed {
    match d {
        Decision::Allowed(r) => r,
        Decision::Denied(reason) => panic!("denied: {reason}"),
    }
}

fn denied(d: Decision) -> DenyReason {
    match d {
        Decision::Denied(reason) => reason,
        Decision::Allowed(r) => panic!("allowed: {r:?}"),
    }
}

#[test]
fn seed_003_regional_example_strips_plus_and_one_digit_and_adds_8() {
    let r = allowed(decide(
        &seed_platform(),
        &office(),
        &anyone(),
        "+79257410726",
    ));
    assert_eq!(r.class, Class::Regional);
    assert_eq!(r.number, "+79257410726");
    assert_eq!(r.caller_id, MOSCOW);
    assert_eq!(
        r.routes,
        vec![Route {
            trunk: "newoperator".to_owned(),
            digits: "89257410726".to_owned()
        }]
    );
}

#[test]
fn seed_003_other_example_sends_five_digits_after_stripping_three() {
    let r = allowed(decide(&seed_platform(), &office(), &anyone(), "08255123"));
    assert_eq!(r.class, Class::Other);
    assert_eq!(r.routes[0].digits, "55123");
    assert_eq!(
        decide(&seed_platform(), &office(), &anyone(), "08255123").to_string(),
        "trunk=newoperator digits=55123 callerid=+74952216005"
    );
}

#[test]
fn national_formats_give_the_same_digits_as_e164() {
    for dialed in [
        "89257410726",
        "79257410726",
        "9257410726",
        "+7 925 741-07-26",
    ] {
        let dialed = dialed.replace(' ', "");
        let r = allowed(decide(&seed_platform(), &office(), &anyone(), &dialed));
        assert_eq!(r.routes[0].digits, "89257410726", "{dialed}");
    }
}

#[test]
fn italy_only_international_allows_plus_39_and_denies_plus_33() {
    let r = allowed(decide(
        &seed_platform(),
        &office(),
        &anyone(),
        "81039061234567",
    ));
    assert_eq!(r.class, Class::International);
    assert_eq!(r.routes[0].digits, "81039061234567");
    let r = allowed(decide(
        &seed_platform(),
        &office(),
        &anyone(),
        "+390612345678",
    ));
    assert_eq!(r.routes[0].digits, "810390612345678");
    let reason = denied(decide(
        &seed_platform(),
        &office(),
        &anyone(),
        "+33123456789",
    ));
    assert_eq!(
        reason.to_string(),
        "international calls to FR (+33) are not allowed for +74952216005"
    );
}

#[test]
fn sierra_leone_is_denied() {
    let d = decide(&seed_platform(), &office(), &anyone(), "+23276123456");
    assert_eq!(
        d.to_string(),
        "denied: international calls to SL (+232) are not allowed for +74952216005"
    );
    let d = decide(&seed_platform(), &office(), &anyone(), "81023276123456");
    assert!(matches!(
        denied(d),
        DenyReason::NotAllowed {
            class: Class::International,
            ..
        }
    ));
}

#[test]
fn kazakhstan_plus_7_7xx_is_international_for_a_russian_tenant() {
    let d = decide(&seed_platform(), &office(), &anyone(), "87012345678");
    assert_eq!(
        d.to_string(),
        "denied: international calls to KZ (+77) are not allowed for +74952216005"
    );
}

fn us_platform() -> Platform {
    Platform::from_yaml_str(
        "trunks:
  - {name: carrier, host: sip.carrier.example, sources: [\"192.0.2.0/24\"], prefixes: {regional: \"1\", international: \"011\"}, strip_regional: 1}
numbers:
  - {number: \"+12125550100\", tenant: us.example, trunk: carrier}
directions:
  - {number: \"+12125550100\", trunk: carrier, class: regional}
",
    )
    .unwrap()
}

fn us_tenant() -> TenantOutbound<'static> {
    TenantOutbound {
        domain: "us.example",
        country: Some("US"),
        number: Some("+12125550100"),
    }
}

#[test]
fn jamaica_plus_1_876_is_international_not_regional_for_a_us_tenant() {
    let d = decide(&us_platform(), &us_tenant(), &anyone(), "18765551234");
    assert_eq!(
        d.to_string(),
        "denied: international calls to JM (+1876) are not allowed for +12125550100"
    );
    let r = allowed(decide(
        &us_platform(),
        &us_tenant(),
        &anyone(),
        "3125551234",
    ));
    assert_eq!(r.routes[0].digits, "13125551234");
    // Puerto Rico is domestic for the US.
    let r = allowed(decide(
        &us_platform(),
        &us_tenant(),
        &anyone(),
        "7875551234",
    ));
    assert_eq!(r.class, Class::Regional);
}

#[test]
fn the_country_defaults_to_the_calling_numbers_country() {
    let tenant = TenantOutbound {
        country: None,
        ..us_tenant()
    };
    let r = allowed(decide(&us_platform(), &tenant, &anyone(), "3125551234"));
    assert_eq!(r.number, "+13125551234");
    assert!(allowed(decide(&us_platform(), &tenant, &anyone(), "911")).class == Class::Emergency);
}

fn allow_all_international() -> Platform {
    let text = crate::platform::tests::ISSUE_EXAMPLE.replace(
        "class: international, pattern: \"_39.\"}",
        "class: international}",
    );
    Platform::from_yaml_str(&text).unwrap()
}

#[test]
fn a_premium_range_is_denied_even_with_international_allowed() {
    let p = allow_all_international();
    assert!(matches!(
        decide(&p, &office(), &anyone(), "+23276123456"),
        Decision::Allowed(_)
    ));
    let d = decide(&p, &office(), &anyone(), "+881612345678");
    assert_eq!(
        d.to_string(),
        "denied: +881612345678 is in the blocked high-cost range +881"
    );
    // A national premium number is blocked though regional calls are allowed.
    let d = decide(&p, &office(), &anyone(), "88091234567");
    assert_eq!(
        d.to_string(),
        "denied: +78091234567 is in the blocked high-cost range +7809"
    );
}

#[test]
fn the_file_block_list_and_allow_list_apply() {
    let text = crate::platform::tests::ISSUE_EXAMPLE.replace(
        "class: international, pattern: \"_39.\"}",
        "class: international}",
    ) + "blocked_prefixes: [\"+232\"]\nallow_blocked: [\"+8816\"]\n";
    let p = Platform::from_yaml_str(&text).unwrap();
    assert!(matches!(
        denied(decide(&p, &office(), &anyone(), "+23276123456")),
        DenyReason::Blocked { .. }
    ));
    assert!(matches!(
        decide(&p, &office(), &anyone(), "+881612345678"),
        Decision::Allowed(_)
    ));
}

#[test]
fn an_other_pattern_cannot_reach_a_blocked_range() {
    let text = crate::platform::tests::ISSUE_EXAMPLE.replace(
        "pattern: \"_082XXXXX\", strip: 3",
        "pattern: \"_8809.\", strip: 0",
    );
    let p = Platform::from_yaml_str(&text).unwrap();
    assert!(matches!(
        denied(decide(&p, &office(), &anyone(), "88091234567")),
        DenyReason::Blocked { .. }
    ));
}

#[test]
fn emergency_112_from_russia_is_allowed_without_rows_and_with_no_user_classes() {
    let p = Platform::from_yaml_str(
        "trunks:
  - {name: carrier, host: sip.carrier.example, sources: [\"192.0.2.0/24\"], prefixes: {emergency: \"0\"}}
numbers:
  - {number: \"+74952216005\", tenant: office.example, trunk: carrier}
",
    )
    .unwrap();
    let nobody = CallerOutbound {
        classes: Some(&[]),
        number: None,
    };
    let r = allowed(decide(&p, &office(), &nobody, "112"));
    assert_eq!(r.class, Class::Emergency);
    assert_eq!(r.routes[0].trunk, "carrier");
    assert_eq!(r.routes[0].digits, "0112");
    assert_eq!(r.caller_id, MOSCOW);
    // Even with no outbound number set: the tenant's first number is used.
    let bare = TenantOutbound {
        number: None,
        ..office()
    };
    let r = allowed(decide(&p, &bare, &nobody, "103"));
    assert_eq!(r.caller_id, MOSCOW);
    // Other digits are not allowed without rows.
    assert!(matches!(
        decide(&p, &office(), &anyone(), "+79257410726"),
        Decision::Denied(_)
    ));
}

#[test]
fn an_explicit_emergency_row_picks_the_trunk() {
    let p = Platform::from_yaml_str(
        "trunks:
  - {name: inbound, host: a.example, sources: [\"10.0.0.1\"]}
  - {name: emergency, host: b.example, sources: [\"10.0.0.2\"], prefixes: {emergency: \"9\"}}
numbers:
  - {number: \"+74952216005\", tenant: office.example, trunk: inbound}
directions:
  - {number: \"+74952216005\", trunk: emergency, class: emergency}
",
    )
    .unwrap();
    let r = allowed(decide(&p, &office(), &anyone(), "112"));
    assert_eq!(r.routes.len(), 1);
    assert_eq!(r.routes[0].trunk, "emergency");
    assert_eq!(r.routes[0].digits, "9112");
}

#[test]
fn emergency_wins_over_an_other_pattern_that_also_matches() {
    let text = crate::platform::tests::ISSUE_EXAMPLE.replace(
        "pattern: \"_082XXXXX\", strip: 3",
        "pattern: \"_1XX\", strip: 1",
    );
    let p = Platform::from_yaml_str(&text).unwrap();
    let only_regional = CallerOutbound {
        classes: Some(&[Class::Regional]),
        number: None,
    };
    let r = allowed(decide(&p, &office(), &only_regional, "112"));
    assert_eq!(r.class, Class::Emergency);
    assert_eq!(r.routes[0].digits, "112");
    // 123 is no emergency number: it is an "other" call, which this user may not make.
    assert_eq!(
        denied(decide(&p, &office(), &only_regional, "123")),
        DenyReason::UserClass {
            class: Class::Other
        }
    );
}

#[test]
fn a_tenant_without_numbers_cannot_call_emergency() {
    let other = TenantOutbound {
        domain: "nobody.example",
        country: Some("RU"),
        number: None,
    };
    assert_eq!(
        decide(&seed_platform(), &other, &anyone(), "112").to_string(),
        "denied: nobody.example has no number, so no trunk for emergency calls"
    );
}

#[test]
fn a_user_whose_classes_exclude_international_is_denied() {
    let regional_only = CallerOutbound {
        classes: Some(&[Class::Regional]),
        number: None,
    };
    let d = decide(&seed_platform(), &office(), &regional_only, "+390612345678");
    assert_eq!(
        d.to_string(),
        "denied: this user may not make international calls"
    );
    assert!(matches!(
        decide(&seed_platform(), &office(), &regional_only, "+79257410726"),
        Decision::Allowed(_)
    ));
}

#[test]
fn the_calling_number_must_be_set_and_bound_to_the_tenant() {
    let none = TenantOutbound {
        number: None,
        ..office()
    };
    assert_eq!(
        denied(decide(&seed_platform(), &none, &anyone(), "+79257410726")),
        DenyReason::NoOutboundNumber
    );
    let foreign = CallerOutbound {
        classes: None,
        number: Some("+74950000000"),
    };
    assert_eq!(
        decide(&seed_platform(), &office(), &foreign, "+79257410726").to_string(),
        "denied: +74950000000 is not a number of office.example in the platform file"
    );
    let thief = TenantOutbound {
        domain: "thief.example",
        ..office()
    };
    assert!(matches!(
        denied(decide(&seed_platform(), &thief, &anyone(), "+79257410726")),
        DenyReason::NumberNotBound { .. }
    ));
}

#[test]
fn the_users_outbound_number_chooses_caller_id_and_directions() {
    let p = Platform::from_yaml_str(
        "trunks:
  - {name: moscow, host: a.example, sources: [\"10.0.0.1\"], prefixes: {international: \"810\"}}
  - {name: milan, host: b.example, sources: [\"10.0.0.2\"], prefixes: {international: \"00\"}}
numbers:
  - {number: \"+74952216005\", tenant: office.example, trunk: moscow}
  - {number: \"+390212345678\", tenant: office.example, trunk: milan}
directions:
  - {number: \"+74952216005\", trunk: moscow, class: regional}
  - {number: \"+390212345678\", trunk: milan, class: international}
",
    )
    .unwrap();
    let italian = CallerOutbound {
        classes: None,
        number: Some("+390212345678"),
    };
    let r = allowed(decide(&p, &office(), &italian, "+33123456789"));
    assert_eq!(r.caller_id, "+390212345678");
    assert_eq!(r.routes[0].trunk, "milan");
    assert_eq!(r.routes[0].digits, "0033123456789");
    // The tenant's own number has no international direction.
    assert!(matches!(
        denied(decide(&p, &office(), &anyone(), "+33123456789")),
        DenyReason::NotAllowed { .. }
    ));
}

#[test]
fn several_trunks_come_in_failover_order_with_their_own_digits() {
    let p = Platform::from_yaml_str(
        "trunks:
  - {name: backup, host: a.example, sources: [\"10.0.0.1\"], priority: 2, prefixes: {regional: \"+\"}}
  - {name: main, host: b.example, sources: [\"10.0.0.2\"], priority: 1, prefixes: {regional: \"8\"}, strip_regional: 1}
numbers:
  - {number: \"+74952216005\", tenant: office.example, trunk: main}
directions:
  - {number: \"+74952216005\", trunk: backup, class: regional}
  - {number: \"+74952216005\", trunk: main, class: regional}
",
    )
    .unwrap();
    let r = allowed(decide(&p, &office(), &anyone(), "89257410726"));
    assert_eq!(
        r.routes,
        vec![
            Route {
                trunk: "main".to_owned(),
                digits: "89257410726".to_owned()
            },
            Route {
                trunk: "backup".to_owned(),
                digits: "+79257410726".to_owned()
            },
        ]
    );
}

#[test]
fn an_italian_tenant_dials_national_numbers_with_their_zero() {
    let p = Platform::from_yaml_str(
        "trunks:
  - {name: it, host: a.example, sources: [\"10.0.0.1\"], prefixes: {regional: \"0\", international: \"00\"}, strip_regional: 3}
numbers:
  - {number: \"+390212345678\", tenant: it.example, trunk: it}
directions:
  - {number: \"+390212345678\", trunk: it, class: regional}
",
    )
    .unwrap();
    let tenant = TenantOutbound {
        domain: "it.example",
        country: Some("IT"),
        number: Some("+390212345678"),
    };
    // +39 06… : strip "390" then the regional prefix "0" back: 06….
    let r = allowed(decide(&p, &tenant, &anyone(), "0612345678"));
    assert_eq!(r.number, "+390612345678");
    assert_eq!(r.routes[0].digits, "0612345678");
    assert_eq!(
        allowed(decide(&p, &tenant, &anyone(), "113")).class,
        Class::Emergency
    );
    // 101 is Russian, not Italian: no emergency number in Italy, and no number.
    assert!(matches!(
        denied(decide(&p, &tenant, &anyone(), "101")),
        DenyReason::NotANumber { .. }
    ));
}

#[test]
fn garbage_digits_are_denied_not_a_panic() {
    for dialed in ["", "   ", "abc", "+", "8", "++7", "9é", "*97", "8(925)"] {
        assert!(
            matches!(
                decide(&seed_platform(), &office(), &anyone(), dialed),
                Decision::Denied(_)
            ),
            "{dialed:?}"
        );
    }
    assert_eq!(
        decide(&seed_platform(), &office(), &anyone(), "abc").to_string(),
        "denied: cannot dial \"abc\": \"abc\" is not a phone number (digits, optionally a leading +)"
    );
}

#[test]
fn a_pattern_narrows_a_regional_row_on_the_e164_digits() {
    let text = crate::platform::tests::ISSUE_EXAMPLE
        .replace("class: regional}", "class: regional, pattern: \"_7495.\"}");
    let p = Platform::from_yaml_str(&text).unwrap();
    let r = allowed(decide(&p, &office(), &anyone(), "84951234567"));
    assert_eq!(r.routes[0].digits, "84951234567");
    assert_eq!(
        decide(&p, &office(), &anyone(), "88121234567").to_string(),
        "denied: regional calls to RU (+7) are not allowed for +74952216005"
    );
}
