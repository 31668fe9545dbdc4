//! SIP, SIPS, tel and other URIs (RFC 3261 §19.1, §25.1; RFC 3966).
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sip_msg::{Host, Scheme, Uri};

#[test]
fn a_full_sip_uri_splits_into_all_its_parts() {
    let u =
        Uri::parse("sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi&priority=urgent")
            .unwrap();
    assert_eq!(u.scheme, Scheme::Sip);
    assert_eq!(u.user.as_deref(), Some("alice"));
    assert_eq!(u.password.as_deref(), Some("secret"));
    assert_eq!(u.host, Some(Host::Domain("example.com".into())));
    assert_eq!(u.port, Some(5070));
    assert_eq!(u.param("TRANSPORT"), Some(Some("tcp")));
    assert_eq!(u.param("lr"), Some(None));
    assert_eq!(u.param("maddr"), None);
    assert_eq!(
        u.headers,
        vec![
            ("subject".into(), "hi".into()),
            ("priority".into(), "urgent".into())
        ]
    );
    assert_eq!(
        u.to_string(),
        "sip:alice:secret@example.com:5070;transport=tcp;lr?subject=hi&priority=urgent"
    );
}

#[test]
fn sips_scheme_is_case_insensitive_and_written_lower_case() {
    let u = Uri::parse("SIPS:bob@biloxi.example.com").unwrap();
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!(u.to_string(), "sips:bob@biloxi.example.com");
}

#[test]
fn ipv6_references_parse_with_and_without_port() {
    let u = Uri::parse("sip:alice@[2001:db8::10]:5070;maddr=[2001:db8::1]").unwrap();
    assert_eq!(
        u.host,
        Some(Host::Ip(IpAddr::V6(
            "2001:db8::10".parse::<Ipv6Addr>().unwrap()
        )))
    );
    assert_eq!(u.port, Some(5070));
    assert_eq!(u.param("maddr"), Some(Some("[2001:db8::1]")));
    assert_eq!(u.host_str().as_deref(), Some("[2001:db8::10]"));
    let u = Uri::parse("sip:[::1]").unwrap();
    assert_eq!(u.host, Some(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))));
    assert_eq!(u.port, None);
    assert_eq!(u.to_string(), "sip:[::1]");
}

#[test]
fn ipv4_hosts_become_addresses_and_bad_dotted_quads_are_rejected() {
    let u = Uri::parse("sip:192.0.2.1:5060").unwrap();
    assert_eq!(
        u.host,
        Some(Host::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))))
    );
    assert!(Uri::parse("sip:192.0.2.300").is_err());
}

#[test]
fn escapes_stay_as_written_and_unescape_on_demand() {
    let u = Uri::parse("sip:I%20have%20spaces@example.net").unwrap();
    assert_eq!(u.user.as_deref(), Some("I%20have%20spaces"));
    assert_eq!(u.user_unescaped().unwrap(), b"I have spaces");
    assert_eq!(u.to_string(), "sip:I%20have%20spaces@example.net");
    let u = Uri::parse("sip:%00@host").unwrap();
    assert_eq!(u.user_unescaped().unwrap(), vec![0]);
}

#[test]
fn a_percent_that_is_not_an_escape_is_rejected_in_a_sip_uri() {
    assert!(Uri::parse("sip:%zz@host").is_err());
    assert!(Uri::parse("sip:a%4@host").is_err());
}

#[test]
fn user_part_may_hold_semicolons_and_question_marks() {
    let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
    assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
    assert!(u.params.is_empty());
}

#[test]
fn tel_uris_keep_the_number_as_user_and_have_no_host() {
    let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
    assert_eq!(u.scheme, Scheme::Tel);
    assert_eq!(u.user.as_deref(), Some("+1-201-555-0123"));
    assert_eq!(u.host, None);
    assert_eq!(u.param("phone-context"), Some(Some("example.com")));
    assert_eq!(
        u.to_string(),
        "tel:+1-201-555-0123;phone-context=example.com"
    );
    assert!(Uri::parse("tel:").is_err());
    assert!(Uri::parse("tel:12 34").is_err());
}

#[test]
fn other_schemes_are_kept_opaque() {
    let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
    assert_eq!(u.scheme, Scheme::Other("soap.beep".into()));
    assert_eq!(u.opaque.as_deref(), Some("//192.0.2.103:3002"));
    assert_eq!(u.to_string(), "soap.beep://192.0.2.103:3002");
}

#[test]
fn malformed_uris_are_errors_not_panics() {
    for bad in [
        "",
        ":",
        "sip:",
        "sip:@host",
        "sip:host:",
        "sip:host:99999",
        "sip:host:5060x",
        "sip:[::1",
        "sip:[nonsense]",
        "sip:host;",
        "sip:host;=x",
        "sip:host;a=",
        "sip:host?x",
        "sip:host?=",
        "sip:ho st",
        "<sip:host>",
        "1sip:host",
        "sip:.host",
        "x:",
        "x:<y>",
        "sip:host>",
    ] {
        assert!(Uri::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn display_then_parse_gives_the_same_uri() {
    for s in [
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        "sip:user@example.com;%6C%72;n%61me=v%61lue%25%34%31",
        "sips:[2001:db8::1]:5061;transport=tls",
        "sip:user@example.com?Route=%3Csip:example.com%3E",
    ] {
        let u = Uri::parse(s).unwrap();
        assert_eq!(Uri::parse(&u.to_string()).unwrap(), u, "{s}");
    }
}
