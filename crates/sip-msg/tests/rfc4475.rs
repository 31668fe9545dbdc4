//! RFC 4475 torture messages: every file of the corpus has a committed
//! expected parse outcome, with the reason.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use sip_msg::{
    ContactValue, HeaderName, Limits, Message, ParseErrorKind, Transport, error_response,
    parse_datagram,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Parses, and parse → serialize → parse gives an equal message.
    Ok,
    /// Rejected; answer with this status.
    Reject(u16),
    /// Rejected; a response, so dropped without an answer.
    Drop,
}

use Expect::{Drop, Ok as Valid, Reject};

/// File → expected outcome → reason (RFC 4475 section in brackets).
const TABLE: &[(&str, Expect, &str)] = &[
    (
        "wsinv.dat",
        Valid,
        "§3.1.1.1 folding, odd LWS, compact forms, unknown headers: well formed",
    ),
    (
        "intmeth.dat",
        Valid,
        "§3.1.1.2 every token char in method/URI/params, escaped NUL in quoted string",
    ),
    ("esc01.dat", Valid, "§3.1.1.3 %HH escapes in URIs are legal"),
    (
        "escnull.dat",
        Valid,
        "§3.1.1.4 %00 in user parts is legal; two distinct contacts",
    ),
    (
        "esc02.dat",
        Valid,
        "§3.1.1.5 % in method token, quoted string and branch is not an escape",
    ),
    (
        "lwsdisp.dat",
        Valid,
        "§3.1.1.6 no LWS between display name and < accepted (grammar bug)",
    ),
    (
        "longreq.dat",
        Valid,
        "§3.1.1.7 long values fit the default limits",
    ),
    (
        "dblreq.dat",
        Valid,
        "§3.1.1.8 octets after Content-Length in a datagram are ignored",
    ),
    (
        "semiuri.dat",
        Valid,
        "§3.1.1.9 ';' is legal in the user part",
    ),
    (
        "transports.dat",
        Valid,
        "§3.1.1.10 unknown transports are kept as Other",
    ),
    (
        "mpart01.dat",
        Valid,
        "§3.1.1.11 binary body framed by Content-Length",
    ),
    ("unreason.dat", Valid, "§3.1.1.12 UTF-8 reason phrase"),
    ("noreason.dat", Valid, "§3.1.1.13 empty reason phrase"),
    (
        "badinv01.dat",
        Reject(400),
        "§3.1.2.1 empty Via/Contact parameters and values",
    ),
    (
        "clerr.dat",
        Reject(400),
        "§3.1.2.2 Content-Length larger than the datagram (UDP: 400)",
    ),
    ("ncl.dat", Reject(400), "§3.1.2.3 negative Content-Length"),
    ("scalar02.dat", Reject(400), "§3.1.2.4 CSeq >= 2**31"),
    (
        "scalarlg.dat",
        Drop,
        "§3.1.2.5 response with CSeq overflow: dropped",
    ),
    (
        "quotbal.dat",
        Reject(400),
        "§3.1.2.6 unterminated quoted string: strict, no inference",
    ),
    (
        "ltgtruri.dat",
        Reject(400),
        "§3.1.2.7 <> around Request-URI: strict",
    ),
    (
        "lwsruri.dat",
        Reject(400),
        "§3.1.2.8 LWS inside the Request-URI: strict",
    ),
    (
        "lwsstart.dat",
        Reject(400),
        "§3.1.2.9 several SP in the request line: strict",
    ),
    (
        "trws.dat",
        Reject(400),
        "§3.1.2.10 trailing SP after SIP-Version: strict",
    ),
    (
        "escruri.dat",
        Reject(400),
        "§3.1.2.11 headers in the Request-URI are rejected, not stripped",
    ),
    (
        "baddate.dat",
        Valid,
        "§3.1.2.12 Date is not interpreted here, so the message is accepted",
    ),
    (
        "regbadct.dat",
        Reject(400),
        "§3.1.2.13 addr-spec with '?' must be in <>: strict",
    ),
    (
        "badaspec.dat",
        Reject(400),
        "§3.1.2.14 spaces inside <>: strict",
    ),
    (
        "baddn.dat",
        Reject(400),
        "§3.1.2.15 unquoted ',' in display name (end of datagram ends the headers)",
    ),
    ("badvers.dat", Reject(505), "§3.1.2.16 SIP/7.0"),
    (
        "mismatch01.dat",
        Reject(400),
        "§3.1.2.17 CSeq method differs from a known request method",
    ),
    (
        "mismatch02.dat",
        Reject(501),
        "§3.1.2.18 unknown method with CSeq mismatch: 501 preferred",
    ),
    (
        "bigcode.dat",
        Drop,
        "§3.1.2.19 response code > 699: dropped",
    ),
    (
        "badbranch.dat",
        Valid,
        "§3.2.1 bare z9hG4bK branch parses; the transaction layer decides",
    ),
    (
        "insuf.dat",
        Reject(400),
        "§3.3.1 no Call-ID/From/To; 400 built from Via and CSeq",
    ),
    (
        "unkscm.dat",
        Valid,
        "§3.3.2 unknown Request-URI scheme parses (416 is the core's job)",
    ),
    (
        "novelsc.dat",
        Valid,
        "§3.3.3 soap.beep scheme parses as Other",
    ),
    (
        "unksm2.dat",
        Valid,
        "§3.3.4 unknown schemes in To/From/Contact parse",
    ),
    (
        "bext01.dat",
        Valid,
        "§3.3.5 Require/Proxy-Require are the core's job (420)",
    ),
    (
        "invut.dat",
        Valid,
        "§3.3.6 unknown Content-Type parses (415 is the core's job)",
    ),
    (
        "regaut01.dat",
        Valid,
        "§3.3.7 unknown Authorization scheme passes through",
    ),
    (
        "multi01.dat",
        Reject(400),
        "§3.3.8 duplicated single-valued headers",
    ),
    (
        "mcl01.dat",
        Reject(400),
        "§3.3.9 two Content-Length headers",
    ),
    (
        "bcast.dat",
        Valid,
        "§3.3.10 broadcast Via parses (dropping it is the core's job)",
    ),
    ("zeromf.dat", Valid, "§3.3.11 Max-Forwards 0 is legal"),
    (
        "cparam01.dat",
        Valid,
        "§3.3.12 contact-param in addr-spec form",
    ),
    ("cparam02.dat", Valid, "§3.3.13 url-parameter inside <>"),
    (
        "regescrt.dat",
        Valid,
        "§3.3.14 escaped Route header inside <> in Contact",
    ),
    (
        "sdp01.dat",
        Valid,
        "§3.3.15 Accept without sdp is the core's job (406)",
    ),
    (
        "inv2543.dat",
        Valid,
        "§3.4.1 RFC 2543 syntax: no branch, tag, Content-Length or Max-Forwards",
    ),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/rfc4475")
}

fn load(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn parse(name: &str) -> Message {
    parse_datagram(&load(name), &Limits::default())
        .unwrap_or_else(|e| panic!("{name} should parse: {e:?}"))
}

#[test]
fn the_table_covers_every_file_of_the_corpus_exactly_once() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    files.sort();
    let mut table: Vec<String> = TABLE.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    table.sort();
    assert_eq!(files.len(), 49);
    assert_eq!(files, table);
}

#[test]
fn every_file_gets_its_expected_outcome() {
    let mut failures = Vec::new();
    for &(name, expect, reason) in TABLE {
        let data = load(name);
        let got = parse_datagram(&data, &Limits::default());
        let ok = match (expect, &got) {
            (Expect::Ok, Ok(_)) => true,
            (Expect::Reject(code), Err(e)) => {
                e.response_status().map(|s| s.as_u16()) == Some(code)
                    && error_response(&data, e).is_some()
            }
            (Expect::Drop, Err(e)) => {
                e.response_status().is_none() && error_response(&data, e).is_none()
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{name}: expected {expect:?} ({reason}), got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_files_round_trip_to_an_equal_message_with_unknown_headers_byte_exact() {
    for &(name, expect, _) in TABLE {
        if expect != Expect::Ok {
            continue;
        }
        let first = parse(name);
        let bytes = first.to_bytes();
        let second = parse_datagram(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: reparse failed: {e:?}"));
        assert_eq!(first, second, "{name}: round trip changed the message");
        let a: Vec<_> = first.headers().iter().collect();
        let b: Vec<_> = second.headers().iter().collect();
        for (x, y) in a.iter().zip(&b) {
            if let HeaderName::Other(n) = &x.name {
                assert_eq!(x.name.as_str(), y.name.as_str(), "{name}: header spelling");
                assert_eq!(x.value, y.value, "{name}: value of {n}");
                let line = format!("{}: {}\r\n", n, x.value);
                assert!(
                    bytes.windows(line.len()).any(|w| w == line.as_bytes()),
                    "{name}: {line:?} not serialized verbatim"
                );
            }
        }
    }
}

#[test]
fn error_responses_copy_the_routing_headers_of_the_bad_request() {
    for &(name, expect, _) in TABLE {
        let Expect::Reject(code) = expect else {
            continue;
        };
        let data = load(name);
        let err = parse_datagram(&data, &Limits::default()).unwrap_err();
        let resp = error_response(&data, &err).unwrap();
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with(&format!("SIP/2.0 {code} ")),
            "{name}: {text}"
        );
        let via_line = String::from_utf8_lossy(&data)
            .lines()
            .find(|l| l.starts_with("Via:") || l.starts_with("v:"))
            .unwrap()
            .to_owned();
        assert!(text.contains(&via_line), "{name}: Via not copied verbatim");
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{name}");
    }
}

#[test]
fn wsinv_unfolds_values_and_splits_three_vias() {
    let m = parse("wsinv.dat");
    let h = m.headers();
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch.as_deref(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, Transport::Tcp);
    assert_eq!(vias[2].branch.as_deref(), Some("z9hG4bK30239"));
    assert_eq!(h.from_tag(), Some("98asjd8"));
    assert_eq!(h.to_tag(), Some("1918181833n"));
    assert_eq!(
        h.from().unwrap().display.as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.max_forwards(), Some(68));
    assert_eq!(
        h.get(&HeaderName::parse("NewFangledHeader").unwrap()),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get(&HeaderName::parse("Subject").unwrap()), Some(""));
    let Message::Request(r) = &m else {
        panic!("a request")
    };
    assert_eq!(r.body.len(), 150);
    let contacts = h.contacts().unwrap();
    let ContactValue::Addr(c) = &contacts[0] else {
        panic!("an address")
    };
    assert_eq!(c.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(c.param("newparam"), Some(Some("newvalue")));
    assert_eq!(c.param("q"), Some(Some("0.33")));
}

#[test]
fn escnull_registers_two_distinct_contacts_with_nul_users() {
    let m = parse("escnull.dat");
    let contacts = m.headers().contacts().unwrap();
    assert_eq!(contacts.len(), 2);
    let users: Vec<Vec<u8>> = contacts
        .iter()
        .map(|c| match c {
            ContactValue::Addr(a) => a.uri.user_unescaped().unwrap(),
            ContactValue::Star => panic!("not a star"),
        })
        .collect();
    assert_eq!(users, vec![vec![0u8], vec![0u8, 0u8]]);
    let to = m.headers().to().unwrap();
    assert_eq!(to.uri.user_unescaped().unwrap(), b"null-\0-null");
}

#[test]
fn esc02_has_two_contacts_and_keeps_the_escaped_header_name_as_unknown() {
    let m = parse("esc02.dat");
    assert_eq!(m.headers().contacts().unwrap().len(), 2);
    assert!(m.headers().iter().any(|h| h.name.as_str() == "C%6Fntact"));
}

#[test]
fn dblreq_ignores_the_trailing_invite() {
    let Message::Request(r) = parse("dblreq.dat") else {
        panic!("a request")
    };
    assert_eq!(r.method.as_str(), "REGISTER");
    assert!(r.body.is_empty());
}

#[test]
fn mpart01_keeps_the_binary_body_exactly() {
    let data = load("mpart01.dat");
    let Message::Request(r) = parse("mpart01.dat") else {
        panic!("a request")
    };
    let cl: usize = r
        .headers
        .get(&HeaderName::ContentLength)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r.body.len(), cl);
    assert!(r.body.contains(&0u8));
    assert!(data.ends_with(&r.body));
}

#[test]
fn semiuri_user_part_holds_the_semicolon() {
    let Message::Request(r) = parse("semiuri.dat") else {
        panic!("a request")
    };
    assert_eq!(r.uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(r.uri.host_str().as_deref(), Some("example.com"));
    assert!(r.uri.params.is_empty());
}

#[test]
fn transports_keeps_the_unknown_transport_token() {
    let vias = parse("transports.dat").headers().vias().unwrap();
    let t: Vec<_> = vias.iter().map(|v| v.transport.clone()).collect();
    assert_eq!(
        t,
        vec![
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN".into()),
            Transport::Tcp
        ]
    );
}

#[test]
fn noreason_and_unreason_keep_their_reason_phrases() {
    let Message::Response(r) = parse("noreason.dat") else {
        panic!("a response")
    };
    assert_eq!((r.status.as_u16(), r.reason.as_str()), (100, ""));
    let Message::Response(r) = parse("unreason.dat") else {
        panic!("a response")
    };
    assert!(r.reason.starts_with("= 2**3 * 5**2 "));
    assert!(!r.reason.is_ascii());
}

#[test]
fn mismatch02_is_an_extension_method_mismatch_and_mismatch01_is_not() {
    let e = parse_datagram(&load("mismatch02.dat"), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::ExtensionMethodCSeqMismatch);
    let e = parse_datagram(&load("mismatch01.dat"), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::CSeqMethodMismatch);
}

#[test]
fn unkscm_and_unksm2_keep_unknown_schemes_opaque() {
    let Message::Request(r) = parse("unkscm.dat") else {
        panic!("a request")
    };
    assert_eq!(r.uri.opaque.as_deref(), Some("totallyopaquecontent"));
    assert_eq!(
        r.uri.to_string(),
        "nobodyKnowsThisScheme:totallyopaquecontent"
    );
    let m = parse("unksm2.dat");
    assert_eq!(m.headers().to().unwrap().uri.to_string(), "isbn:2983792873");
}

#[test]
fn cparam01_unknownparam_is_a_contact_param_and_cparam02_a_uri_param() {
    let c1 = parse("cparam01.dat").headers().contacts().unwrap();
    let ContactValue::Addr(a) = &c1[0] else {
        panic!("an address")
    };
    assert!(a.uri.params.is_empty());
    assert_eq!(a.param("unknownparam"), Some(None));
    let c2 = parse("cparam02.dat").headers().contacts().unwrap();
    let ContactValue::Addr(a) = &c2[0] else {
        panic!("an address")
    };
    assert_eq!(a.uri.param("unknownparam"), Some(None));
    assert!(a.params.is_empty());
}

#[test]
fn regescrt_contact_keeps_the_escaped_route_uri_header() {
    let c = parse("regescrt.dat").headers().contacts().unwrap();
    let ContactValue::Addr(a) = &c[0] else {
        panic!("an address")
    };
    assert_eq!(
        a.uri.headers,
        vec![("Route".to_owned(), "%3Csip:sip.example.com%3E".to_owned())]
    );
}

#[test]
fn inv2543_without_content_length_takes_the_rest_of_the_datagram_as_body() {
    let data = load("inv2543.dat");
    let Message::Request(r) = parse("inv2543.dat") else {
        panic!("a request")
    };
    assert!(!r.body.is_empty());
    assert!(data.ends_with(&r.body));
    assert!(!r.headers.top_via().unwrap().has_rfc3261_branch());
}

/// The slow path `write_response_to` stands for: build the response, replace the top Via
/// value, set the To tag, push the extra headers, serialize.
fn built_response(
    req: &sip_msg::Request,
    status: sip_msg::StatusCode,
    top_via: &str,
    tag: Option<&str>,
    extra: &[(HeaderName, &str)],
) -> Vec<u8> {
    let mut r = req.make_response(status);
    if r.headers.remove_first_value(&HeaderName::Via).is_some() {
        r.headers.push_front(HeaderName::Via, top_via);
    }
    if let Some(t) = tag {
        r.set_to_tag(t);
    }
    for (n, v) in extra {
        r.headers.push(n.clone(), *v);
    }
    r.to_bytes()
}

#[test]
fn a_response_written_straight_from_a_corpus_request_is_the_response_built_and_serialized() {
    let extra = [
        (HeaderName::Server, "vpbx"),
        (
            HeaderName::WwwAuthenticate,
            "Digest realm=\"a\", nonce=\"n\"",
        ),
        (
            HeaderName::parse("Date").unwrap(),
            "Sun, 06 Nov 1994 08:49:37 GMT",
        ),
    ];
    let mut written = 0;
    for &(name, expect, _) in TABLE {
        if expect != Expect::Ok {
            continue;
        }
        let Message::Request(req) = parse(name) else {
            continue;
        };
        for tag in [None, Some("t-1")] {
            let mut out = b"kept".to_vec();
            let top = "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;received=10.0.0.1";
            let status = sip_msg::StatusCode::UNAUTHORIZED;
            if req.write_response_to(status, top, tag, &extra, &mut out) {
                written += 1;
                assert_eq!(
                    String::from_utf8_lossy(&out[4..]),
                    String::from_utf8_lossy(&built_response(&req, status, top, tag, &extra)),
                    "{name} with tag {tag:?}"
                );
            } else {
                assert_eq!(out, b"kept", "{name}: nothing appended when declining");
            }
        }
    }
    assert!(written >= 20, "only {written} written straight");
}
