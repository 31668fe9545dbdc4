//! Whole-message parsing rules, typed getters, responses and serialization.
#![allow(clippy::unwrap_used)]

use sip_msg::{
    HeaderName, Limits, Message, Method, ParseErrorKind, Request, StatusCode, error_response,
    parse_datagram,
};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2;received=192.0.2.2\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-Custom-Thing:   keep  this   exactly \r\n\
Expires: 99999999999\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn req(text: &str) -> Request {
    match parse_datagram(text.as_bytes(), &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

fn kind(text: &str) -> ParseErrorKind {
    parse_datagram(text.as_bytes(), &Limits::default())
        .unwrap_err()
        .kind
}

#[test]
fn typed_getters_read_the_mandatory_headers() {
    let r = req(INVITE);
    let h = &r.headers;
    assert_eq!(r.method, Method::Invite);
    assert_eq!(
        h.top_via().unwrap().branch.as_deref(),
        Some("z9hG4bK776asdhds")
    );
    assert_eq!(h.vias().unwrap().len(), 3);
    assert_eq!(h.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
    assert_eq!(h.cseq().unwrap().seq, 314159);
    assert_eq!(h.from_tag(), Some("1928301774"));
    assert_eq!(h.to_tag(), None);
    assert_eq!(h.max_forwards(), Some(70));
    assert_eq!(h.expires(), Some(u32::MAX));
    assert_eq!(h.from().unwrap().display.as_deref(), Some("Alice"));
    assert_eq!(h.to().unwrap().display.as_deref(), Some("Bob"));
    let to = h.to_uri().unwrap();
    assert!(to.sip);
    assert_eq!(to.user, Some("bob"));
    assert_eq!(
        to.host,
        Some(sip_msg::HostRef::Domain("biloxi.example.com"))
    );
    assert_eq!(h.from_uri().unwrap().user, Some("alice"));
}

#[test]
fn unknown_headers_serialize_with_their_spelling_and_value_in_order() {
    let r = req(INVITE);
    let out = String::from_utf8(r.to_bytes()).unwrap();
    assert!(out.contains("\r\nX-Custom-Thing: keep  this   exactly\r\nExpires: 99999999999\r\n"));
    assert!(out.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"));
    assert!(out.ends_with("Content-Length: 4\r\n\r\nv=0\n"));
}

#[test]
fn folded_and_compact_headers_parse_like_their_plain_forms() {
    let folded = "REGISTER sip:example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1\r\n ;branch=z9hG4bK9\r\n\
f: <sip:a@example.com>\r\n\t;tag=7\r\n\
t: <sip:a@example.com>\r\n\
i: reg1\r\n\
CSeq: 2\r\n   REGISTER\r\n\
m: <sip:a@192.0.2.1>\r\n\
l: 0\r\n\r\n";
    let r = req(folded);
    assert_eq!(
        r.headers.top_via().unwrap().branch.as_deref(),
        Some("z9hG4bK9")
    );
    assert_eq!(r.headers.from_tag(), Some("7"));
    assert_eq!(
        r.headers.get(&HeaderName::From),
        Some("<sip:a@example.com> ;tag=7")
    );
    assert_eq!(r.headers.cseq().unwrap().method, Method::Register);
    assert_eq!(r.headers.contacts().unwrap().len(), 1);
    assert_eq!(r.headers.call_id(), Some("reg1"));
}

#[test]
fn make_response_copies_vias_from_to_call_id_and_cseq() {
    let r = req(INVITE);
    let mut resp = r.make_response(StatusCode::RINGING);
    assert_eq!(resp.reason, "Ringing");
    let names: Vec<&str> = resp.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Via", "Via", "From", "To", "Call-ID", "CSeq"]);
    resp.set_to_tag("abc");
    assert_eq!(resp.headers.to_tag(), Some("abc"));
    resp.set_to_tag("def");
    assert_eq!(resp.headers.to_tag(), Some("def"));
    assert_eq!(
        resp.headers.get(&HeaderName::To),
        Some("Bob <sip:bob@biloxi.example.com>;tag=def")
    );
    let bytes = resp.to_bytes();
    let Message::Response(back) = parse_datagram(&bytes, &Limits::default()).unwrap() else {
        panic!("a response")
    };
    assert_eq!(back.status, StatusCode::RINGING);
    assert_eq!(back.headers.vias().unwrap().len(), 3);
    assert!(bytes.ends_with(b"Content-Length: 0\r\n\r\n"));
}

#[test]
fn missing_mandatory_headers_are_named() {
    let without = |name: &str| {
        INVITE
            .lines()
            .filter(|l| !l.starts_with(name))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    assert_eq!(
        kind(&without("Via:")),
        ParseErrorKind::MissingHeader { name: "Via" }
    );
    assert_eq!(
        kind(&without("From:")),
        ParseErrorKind::MissingHeader { name: "From" }
    );
    assert_eq!(
        kind(&without("To:")),
        ParseErrorKind::MissingHeader { name: "To" }
    );
    assert_eq!(
        kind(&without("Call-ID:")),
        ParseErrorKind::MissingHeader { name: "Call-ID" }
    );
    assert_eq!(
        kind(&without("CSeq:")),
        ParseErrorKind::MissingHeader { name: "CSeq" }
    );
}

#[test]
fn single_valued_headers_may_not_repeat() {
    for (name, line) in [
        ("From", "From: <sip:x@y>;tag=2\r\n"),
        ("To", "To: <sip:x@y>\r\n"),
        ("Call-ID", "i: other\r\n"),
        ("CSeq", "CSeq: 1 INVITE\r\n"),
        ("Max-Forwards", "Max-Forwards: 1\r\n"),
        ("Content-Type", "c: text/plain\r\n"),
        ("Content-Length", "l: 4\r\n"),
    ] {
        let text = INVITE.replacen("Contact:", &format!("{line}Contact:"), 1);
        assert_eq!(
            kind(&text),
            ParseErrorKind::DuplicateHeader { name },
            "{name}"
        );
    }
}

#[test]
fn cseq_limits_and_mismatches_are_rejected() {
    assert_eq!(
        kind(&INVITE.replace("314159 INVITE", "2147483648 INVITE")),
        ParseErrorKind::BadHeader { name: "CSeq" }
    );
    assert!(
        parse_datagram(
            INVITE
                .replace("314159 INVITE", "2147483647 INVITE")
                .as_bytes(),
            &Limits::default()
        )
        .is_ok()
    );
    assert_eq!(
        kind(&INVITE.replace("314159 INVITE", "314159 BYE")),
        ParseErrorKind::CSeqMethodMismatch
    );
    let ext = INVITE.replacen("INVITE sip:", "FOO sip:", 1);
    let e = parse_datagram(ext.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::ExtensionMethodCSeqMismatch);
    assert_eq!(e.response_status(), Some(StatusCode::NOT_IMPLEMENTED));
}

#[test]
fn request_line_problems_get_400_or_505() {
    let e = parse_datagram(
        INVITE.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1).as_bytes(),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.response_status(), Some(StatusCode::VERSION_NOT_SUPPORTED));
    assert!(
        error_response(
            INVITE.replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1).as_bytes(),
            &e
        )
        .unwrap()
        .starts_with(b"SIP/2.0 505 ")
    );
    assert_eq!(
        kind(&INVITE.replacen("INVITE sip:", "INVITE  sip:", 1)),
        ParseErrorKind::BadRequestUri
    );
    assert_eq!(
        kind(&INVITE.replacen("INVITE sip:", "INV@TE sip:", 1)),
        ParseErrorKind::BadStartLine
    );
}

#[test]
fn bad_responses_are_dropped_without_an_answer() {
    let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert!(parse_datagram(resp.as_bytes(), &Limits::default()).is_ok());
    for bad in [
        resp.replace(" 200 ", " 700 "),
        resp.replace(" 200 ", " 20 "),
        resp.replace("CSeq: 1", "CSeq: x"),
    ] {
        let e = parse_datagram(bad.as_bytes(), &Limits::default()).unwrap_err();
        assert!(!e.is_request);
        assert_eq!(e.response_status(), None);
        assert_eq!(error_response(bad.as_bytes(), &e), None);
    }
}

#[test]
fn too_many_headers_or_too_long_a_value_is_a_400() {
    let many = INVITE.replacen(
        "Contact:",
        &format!("{}Contact:", "X-A: 1\r\n".repeat(200)),
        1,
    );
    let e = parse_datagram(many.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooLarge { what: "headers" });
    assert_eq!(e.response_status(), Some(StatusCode::BAD_REQUEST));
    let long = INVITE.replacen("exactly", &"y".repeat(9000), 1);
    assert_eq!(
        kind(&long),
        ParseErrorKind::TooLarge {
            what: "header value"
        }
    );
}

#[test]
fn a_request_built_by_hand_serializes_with_content_length() {
    let mut r = req(INVITE);
    r.headers.remove(&HeaderName::ContentLength);
    r.body = bytes::Bytes::from_static(b"hello");
    r.headers.set(
        HeaderName::parse("Subject").unwrap(),
        "line\r\nInjected: yes",
    );
    let out = String::from_utf8(r.to_bytes()).unwrap();
    assert!(out.ends_with("Content-Length: 5\r\n\r\nhello"));
    assert!(out.contains("Subject: line  Injected: yes\r\n"));
}

#[test]
fn a_response_written_straight_matches_the_built_one_or_is_left_to_it() {
    let base = "REGISTER sip:t1.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n\
Via: SIP/2.0/TCP p.example;branch=z9hG4bK2\r\n\
From: <sip:1000@t1.example>;tag=f\r\n\
TO_LINE\
Call-ID: c1\r\nCSeq: 2 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let cases = [
        ("To: <sip:1000@t1.example>\r\n", true),
        ("To: \"A, B\" <sip:1000@t1.example>;x=1\r\n", true),
        ("To: sip:1000@t1.example\r\n", true),
        ("To: <sip:1000@t1.example>;tag\r\n", false),
    ];
    let top = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5060;received=10.0.0.1";
    let extra = [
        (HeaderName::Server, "vpbx"),
        (HeaderName::Contact, "<sip:1000@10.0.0.1:5060>;expires=60"),
    ];
    for (to, straight) in cases {
        let r = req(&base.replace("TO_LINE", to));
        let mut out = Vec::new();
        assert_eq!(
            r.write_response_to(StatusCode::OK, top, Some("t9"), &extra, &mut out),
            straight,
            "{to}"
        );
        if !straight {
            assert!(out.is_empty());
            continue;
        }
        let mut built = r.make_response(StatusCode::OK);
        built.headers.remove_first_value(&HeaderName::Via);
        built.headers.push_front(HeaderName::Via, top);
        built.set_to_tag("t9");
        for (n, v) in &extra {
            built.headers.push(n.clone(), *v);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(built.to_bytes()).unwrap()
        );
    }
    // Several values on the first Via line: left to the general path.
    let r = req(&base
        .replace("TO_LINE", "To: <sip:1000@t1.example>\r\n")
        .replace(
            "branch=z9hG4bK1;rport\r\n",
            "branch=z9hG4bK1;rport, SIP/2.0/UDP q.example;branch=z9hG4bK0\r\n",
        ));
    let mut out = Vec::new();
    assert!(!r.write_response_to(StatusCode::OK, top, None, &extra, &mut out));
    assert!(out.is_empty());
}
