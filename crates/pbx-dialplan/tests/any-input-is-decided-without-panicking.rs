//! Whatever a phone dials (it reaches `decide` from the network, in a Request-URI),
//! the answer is a decision, never a panic, and an allowed call never goes to a
//! blocked range or through a trunk that is not the number's.

use pbx_dialplan::{
    CallerOutbound, Class, Decision, Pattern, Platform, TenantOutbound, decide, normalise,
};
use proptest::prelude::*;

const PLATFORM: &str = r#"
trunks:
  - {name: main, tenant: office.example, host: 127.0.0.1, username: "74952345678", secret: "sdfsddf^$#$",
     register: true, prefixes: {regional: "8", international: "810", emergency: ""}, strip_regional: 1}
  - {name: carrier, host: sip.carrier.example, sources: ["192.0.2.0/24"], priority: 2}
numbers:
  - {number: "+74952216005", tenant: office.example, trunk: main}
directions:
  - {number: "+74952216005", trunk: main, class: regional}
  - {number: "+74952216005", trunk: carrier, class: regional}
  - {number: "+74952216005", trunk: main, class: international}
  - {number: "+74952216005", trunk: main, class: other, pattern: "_082XXXXX", strip: 3}
  - {number: "+74952216005", trunk: carrier, class: other, pattern: "_*X!", strip: 9}
"#;

fn dialed() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,20}",
        "\\+[0-9]{0,18}",
        "[0-9+*#().\\- ]{0,20}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_dialed_string_gets_a_decision(dialed in dialed()) {
        let platform = Platform::from_yaml_str(PLATFORM).expect("the test platform is valid");
        let tenant = TenantOutbound { domain: "office.example", country: Some("RU"), number: Some("+74952216005") };
        for classes in [None, Some(&[][..]), Some(&[Class::Regional][..])] {
            let caller = CallerOutbound { classes, number: None };
            let decision = decide(&platform, &tenant, &caller, &dialed);
            let line = decision.to_string();
            prop_assert!(!line.contains('\n'));
            if let Decision::Allowed(r) = decision {
                prop_assert!(!r.routes.is_empty());
                for route in &r.routes {
                    prop_assert!(route.trunk == "main" || route.trunk == "carrier");
                    prop_assert!(!route.digits.is_empty());
                }
                if matches!(r.class, Class::Regional | Class::International) {
                    prop_assert!(platform.blocklist().blocked_by(&r.number).is_none());
                }
                if r.class != Class::Emergency
                    && let Some(allowed) = classes
                {
                    prop_assert!(allowed.contains(&r.class));
                }
            }
        }
    }

    #[test]
    fn normalised_numbers_are_e164(country in "(RU|IT|US|CA|GB|DE|JP|AU|HU|ES|SL|KZ|ZZ)", dialed in dialed()) {
        if let Ok(n) = normalise(&country, &dialed) {
            let digits = n.strip_prefix('+').expect("E.164 starts with +");
            prop_assert!((7..=15).contains(&digits.len()));
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(pbx_dialplan::country_of(&n).is_some());
        }
    }

    #[test]
    fn any_pattern_text_parses_or_fails_cleanly_and_matching_never_panics(
        text in "_?[0-9XZNxzn.!\\[\\]\\-*#+a]{0,12}",
        number in any::<String>(),
    ) {
        if let Ok(p) = Pattern::parse(&text) {
            let _ = p.matches(&number);
            prop_assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn platform_files_of_any_text_fail_with_one_line(text in any::<String>()) {
        if let Err(e) = Platform::from_yaml_str(&text) {
            prop_assert!(!e.to_string().contains('\n'));
        }
    }
}
