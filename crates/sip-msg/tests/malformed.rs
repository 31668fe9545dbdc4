//! Malformed input never panics and gets the right kind of error.
//!
//! Fuzzing (`fuzz/`, see its README) has found no crash so far; inputs that
//! crash in the future are added here as regression tests, next to these
//! hand-written ones.
#![allow(clippy::unwrap_used)]

use sip_msg::{Limits, ParseErrorKind, StreamFramer, error_response, parse_datagram};

const GOOD: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: \"A\" <sip:a@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: x@y\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:a@192.0.2.1>\r\n\
Content-Length: 3\r\n\r\nabc";

fn corpus() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/rfc4475");
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dat"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    all.push(GOOD.to_vec());
    all
}

/// The borrowed To/From URI exists exactly when the owned one parses, with the same parts.
fn same_uri(borrowed: Option<sip_msg::AddrUri<'_>>, owned: Option<sip_msg::NameAddr>) -> bool {
    match (borrowed, owned) {
        (None, None) => true,
        (Some(b), Some(o)) => {
            b.sip == matches!(o.uri.scheme, sip_msg::Scheme::Sip | sip_msg::Scheme::Sips)
                && b.user == o.uri.user.as_deref()
                && b.host.map(sip_msg::HostRef::to_host) == o.uri.host
        }
        _ => false,
    }
}

/// Exercises everything a caller may do with an input.
fn poke(data: &[u8]) {
    match parse_datagram(data, &Limits::default()) {
        Ok(m) => {
            let h = m.headers();
            let _ = (
                h.top_via(),
                h.vias(),
                h.cseq(),
                h.from(),
                h.to(),
                h.contacts(),
            );
            let _ = (h.from_tag(), h.to_tag(), h.max_forwards(), h.expires());
            assert!(same_uri(h.to_uri(), h.to()), "To of {data:?}");
            assert!(same_uri(h.from_uri(), h.from()), "From of {data:?}");
            let _ = m.to_bytes();
        }
        Err(e) => {
            let _ = error_response(data, &e);
        }
    }
    let mut f = StreamFramer::new(Limits::default());
    f.push(data);
    while let Ok(Some(_)) = f.next_item() {}
}

#[test]
fn every_prefix_of_every_corpus_message_is_handled_without_panic() {
    for msg in corpus() {
        for end in 0..=msg.len() {
            poke(&msg[..end]);
        }
    }
}

#[test]
fn every_single_byte_corruption_of_a_good_message_is_handled_without_panic() {
    for i in 0..GOOD.len() {
        for b in [
            0u8, b'\r', b'\n', b' ', b'"', b'<', b'>', b';', b',', b':', b'%', b'[', 0xff,
        ] {
            let mut d = GOOD.to_vec();
            d[i] = b;
            poke(&d);
        }
    }
}

#[test]
fn empty_and_whitespace_only_datagrams_are_incomplete_and_unanswerable() {
    for d in [&b""[..], b"\r\n", b"\r\n\r\n", b"   ", b"\0"] {
        let e = parse_datagram(d, &Limits::default()).unwrap_err();
        assert_eq!(error_response(d, &e), None, "{d:?}");
    }
}

#[test]
fn a_huge_content_length_is_too_large_not_an_allocation() {
    let d = String::from_utf8(GOOD.to_vec()).unwrap().replace(
        "Content-Length: 3",
        "Content-Length: 99999999999999999999999999",
    );
    let e = parse_datagram(d.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooLarge { what: "body" });
}

#[test]
fn bare_cr_and_invalid_utf8_in_headers_are_bad_header_lines() {
    let d = String::from_utf8(GOOD.to_vec())
        .unwrap()
        .replace("Call-ID: x@y", "Call-ID: x\ry");
    assert_eq!(
        parse_datagram(d.as_bytes(), &Limits::default())
            .unwrap_err()
            .kind,
        ParseErrorKind::BadHeaderLine
    );
    let mut d = GOOD.to_vec();
    let at = d.windows(3).position(|w| w == b"x@y").unwrap();
    d[at] = 0xff;
    assert_eq!(
        parse_datagram(&d, &Limits::default()).unwrap_err().kind,
        ParseErrorKind::BadHeaderLine
    );
}

#[test]
fn a_continuation_line_before_any_header_is_rejected() {
    let d = b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\n\r\n";
    assert_eq!(
        parse_datagram(d, &Limits::default()).unwrap_err().kind,
        ParseErrorKind::BadHeaderLine
    );
}

#[test]
fn non_utf8_reason_phrases_drop_the_response() {
    let d = b"SIP/2.0 200 \xff\xfe\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    let e = parse_datagram(d, &Limits::default()).unwrap_err();
    assert_eq!(e.response_status(), None);
}
