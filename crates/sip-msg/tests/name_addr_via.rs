//! name-addr / addr-spec values (From, To, Contact) and Via values.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr};

use sip_msg::{ContactValue, HeaderName, Headers, Host, NameAddr, Transport, Uri, Via};

#[test]
fn quoted_display_names_are_unescaped() {
    let a =
        NameAddr::parse(r#""Alice \"The Boss\" \\ Smith" <sip:alice@example.com>;tag=1"#).unwrap();
    assert_eq!(a.display.as_deref(), Some(r#"Alice "The Boss" \ Smith"#));
    assert_eq!(a.tag(), Some("1"));
    let again = NameAddr::parse(&a.to_string()).unwrap();
    assert_eq!(again, a);
}

#[test]
fn token_display_names_and_no_space_before_the_angle_bracket_are_accepted() {
    let a = NameAddr::parse("A. Bell <sip:a.g.bell@example.com>").unwrap();
    assert_eq!(a.display.as_deref(), Some("A. Bell"));
    let b = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
    assert_eq!(b.display.as_deref(), Some("caller"));
    let c = NameAddr::parse(r#""caller"<sip:caller@example.com>"#).unwrap();
    assert_eq!(c.display.as_deref(), Some("caller"));
}

#[test]
fn addr_spec_parameters_belong_to_the_header_not_the_uri() {
    let a = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam;expires=60").unwrap();
    assert!(a.uri.params.is_empty());
    assert_eq!(a.param("unknownparam"), Some(None));
    assert_eq!(a.param("expires"), Some(Some("60")));
    let b = NameAddr::parse("<sip:gw1.example.net;lr>;q=0.5").unwrap();
    assert_eq!(b.uri.param("lr"), Some(None));
    assert_eq!(b.param("q"), Some(Some("0.5")));
}

#[test]
fn spaces_around_semicolons_and_equals_are_allowed_in_header_params() {
    let a = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
    assert_eq!(a.tag(), Some("1918181833n"));
}

#[test]
fn quoted_param_values_keep_their_quotes() {
    let a = NameAddr::parse(r#"<sip:a@b>;+sip.instance="<urn:uuid:f81d4fae>""#).unwrap();
    assert_eq!(
        a.param("+sip.instance"),
        Some(Some(r#""<urn:uuid:f81d4fae>""#))
    );
}

#[test]
fn malformed_name_addrs_are_rejected() {
    for bad in [
        "",
        r#""unterminated <sip:a@b>"#,
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        "sip:a@b?Route=x",
        "sip:a@b, sip:c@d",
        "<sip:a@b>;;",
        "<sip:a@b>;tag=",
        "<sip:a@b> junk",
        "\"x\" sip:a@b",
    ] {
        assert!(NameAddr::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn display_always_writes_name_addr_form() {
    let a = NameAddr::parse("sip:a@b;tag=x").unwrap();
    assert_eq!(a.to_string(), "<sip:a@b>;tag=x");
    let na = NameAddr::from_uri(Uri::parse("sip:a@b").unwrap());
    assert_eq!(na.to_string(), "<sip:a@b>");
}

#[test]
fn contact_star_and_comma_separated_contacts_are_split() {
    let mut h = Headers::new();
    h.push(
        HeaderName::Contact,
        r#""A, B" <sip:a,b@c;x=1>;expires=5, sip:c@d"#,
    );
    let c = h.contacts().unwrap();
    assert_eq!(c.len(), 2);
    let ContactValue::Addr(first) = &c[0] else {
        panic!("an address")
    };
    assert_eq!(first.display.as_deref(), Some("A, B"));
    let mut star = Headers::new();
    star.push(HeaderName::Contact, "*");
    assert_eq!(star.contacts().unwrap(), vec![ContactValue::Star]);
}

#[test]
fn via_with_rport_received_and_branch_parses() {
    let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK776;received=192.0.2.9")
        .unwrap();
    assert_eq!(v.transport, Transport::Udp);
    assert_eq!(v.port, Some(5060));
    assert_eq!(v.rport, Some(None));
    assert_eq!(v.branch.as_deref(), Some("z9hG4bK776"));
    assert_eq!(v.received.as_deref(), Some("192.0.2.9"));
    assert!(v.has_rfc3261_branch());
    let v = Via::parse("SIP/2.0/TCP host;rport=5062").unwrap();
    assert_eq!(v.rport, Some(Some(5062)));
    assert!(Via::parse("SIP/2.0/TCP host;rport=abc").is_err());
}

#[test]
fn via_with_ipv6_sent_by_parses() {
    let v = Via::parse("SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx").unwrap();
    assert_eq!(
        v.host,
        Host::Ip(IpAddr::V6("2001:db8::9".parse::<Ipv6Addr>().unwrap()))
    );
    assert_eq!(v.port, Some(5061));
    assert_eq!(
        v.to_string(),
        "SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKx"
    );
}

#[test]
fn via_allows_whitespace_around_slashes_colon_and_semicolons() {
    let v =
        Via::parse("SIP  /   2.0 /UDP    spindle.example.com : 5060  ;  branch  =   z9hG4bK9ikj8")
            .unwrap();
    assert_eq!(v.transport, Transport::Udp);
    assert_eq!(v.host, Host::Domain("spindle.example.com".into()));
    assert_eq!(v.port, Some(5060));
    assert_eq!(v.branch.as_deref(), Some("z9hG4bK9ikj8"));
}

#[test]
fn bare_magic_cookie_is_not_an_rfc3261_branch() {
    let v = Via::parse("SIP/2.0/UDP host;branch=z9hG4bK").unwrap();
    assert!(!v.has_rfc3261_branch());
}

#[test]
fn changing_via_fields_changes_its_display() {
    let mut v = Via::parse("SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bKa;x=y").unwrap();
    v.received = Some("192.0.2.7".into());
    v.rport = Some(Some(40000));
    assert_eq!(
        v.to_string(),
        "SIP/2.0/UDP 10.0.0.1;rport=40000;branch=z9hG4bKa;x=y;received=192.0.2.7"
    );
    assert_eq!(Via::parse(&v.to_string()).unwrap().rport, Some(Some(40000)));
    let n = Via::new(
        Transport::Tcp,
        Host::Domain("pbx.example.com".into()),
        Some(5060),
        "z9hG4bKq",
    );
    assert_eq!(
        n.to_string(),
        "SIP/2.0/TCP pbx.example.com:5060;branch=z9hG4bKq"
    );
}

#[test]
fn malformed_vias_are_rejected() {
    for bad in [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/UDPhost",
        "SIP/2.0/UDP 192.0.2.15;;",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host:70000",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host junk",
    ] {
        assert!(Via::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn removing_the_first_via_value_keeps_the_rest_of_the_line() {
    let mut h = Headers::new();
    h.push(
        HeaderName::Via,
        "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
    );
    h.push(HeaderName::Via, "SIP/2.0/UDP c;branch=z9hG4bK3");
    assert_eq!(
        h.remove_first_value(&HeaderName::Via).as_deref(),
        Some("SIP/2.0/UDP a;branch=z9hG4bK1")
    );
    assert_eq!(h.top_via().unwrap().host, Host::Domain("b".into()));
    assert_eq!(
        h.remove_first_value(&HeaderName::Via).as_deref(),
        Some("SIP/2.0/UDP b;branch=z9hG4bK2")
    );
    assert_eq!(h.len(), 1);
    assert_eq!(h.vias().unwrap().len(), 1);
}

#[test]
fn compact_and_long_header_names_are_the_same_header() {
    for (short, long) in [
        ("v", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("o", "Event"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("r", "Refer-To"),
    ] {
        assert_eq!(HeaderName::parse(short), HeaderName::parse(long), "{short}");
        assert_eq!(HeaderName::parse(short).unwrap().as_str(), long);
    }
    assert_eq!(HeaderName::parse("cAlL-iD"), Some(HeaderName::CallId));
    assert_eq!(HeaderName::parse("X-Foo"), HeaderName::parse("x-foo"));
    assert_eq!(HeaderName::parse("X-Foo").unwrap().as_str(), "X-Foo");
    assert_eq!(HeaderName::parse("bad name"), None);
    assert_eq!(HeaderName::parse(""), None);
}

#[test]
fn the_top_via_id_borrows_branch_and_sent_by_of_the_first_value() {
    let mut h = Headers::new();
    h.push(
        HeaderName::Via,
        "SIP/2.0/UDP PC33.Example.com:5066;rport;branch=z9hG4bKnashds8, SIP/2.0/UDP b;branch=z9hG4bK2",
    );
    let id = h.top_via_id().unwrap();
    assert_eq!(id.branch, Some("z9hG4bKnashds8"));
    assert_eq!(id.host, "PC33.Example.com");
    assert_eq!(id.port, Some(5066));
    assert!(id.has_rfc3261_branch());

    let mut old = Headers::new();
    old.push(HeaderName::Via, "SIP/2.0/UDP [2001:db8::1];branch=1234");
    let id = old.top_via_id().unwrap();
    assert_eq!((id.host, id.port), ("[2001:db8::1]", None));
    assert!(!id.has_rfc3261_branch());

    let mut bad = Headers::new();
    bad.push(HeaderName::Via, "SIP/2.0/UDP ;branch=z9hG4bK1");
    assert!(bad.top_via_id().is_none());
}
