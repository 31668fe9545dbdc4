//! Datagram and stream framing: Content-Length, keep-alives, limits.
#![allow(clippy::unwrap_used)]

use sip_msg::{Framed, Limits, Message, ParseErrorKind, StreamFramer, parse_datagram};

fn options(body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:pbx.example.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKabc\r\n\
         From: <sip:alice@example.com>;tag=1\r\n\
         To: <sip:pbx.example.com>\r\n\
         Call-ID: c1@192.0.2.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn drain(f: &mut StreamFramer) -> Vec<Framed> {
    let mut out = Vec::new();
    while let Some(item) = f.next_item().unwrap() {
        out.push(item);
    }
    out
}

#[test]
fn a_message_split_at_every_byte_boundary_frames_exactly_once() {
    let msg = options("hello");
    let expected = parse_datagram(&msg, &Limits::default()).unwrap();
    for cut in 0..=msg.len() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(&msg[..cut]);
        let mut items = drain(&mut f);
        f.push(&msg[cut..]);
        items.extend(drain(&mut f));
        assert_eq!(
            items,
            vec![Framed::Message(expected.clone())],
            "cut at {cut}"
        );
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn a_message_fed_one_byte_at_a_time_frames_once() {
    let msg = options("v=0\r\n");
    let mut f = StreamFramer::new(Limits::default());
    let mut items = Vec::new();
    for b in &msg {
        f.push(std::slice::from_ref(b));
        items.extend(drain(&mut f));
    }
    assert_eq!(items.len(), 1);
}

#[test]
fn two_messages_in_one_read_frame_as_two() {
    let mut data = options("one");
    data.extend(options("second"));
    let mut f = StreamFramer::new(Limits::default());
    f.push(&data);
    let items = drain(&mut f);
    assert_eq!(items.len(), 2);
    let Framed::Message(Message::Request(r)) = &items[1] else {
        panic!("a request")
    };
    assert_eq!(&r.body[..], b"second");
}

#[test]
fn double_crlf_is_a_ping_and_single_crlf_a_pong() {
    let mut f = StreamFramer::new(Limits::default());
    f.push(b"\r\n\r\n");
    assert_eq!(drain(&mut f), vec![Framed::KeepAlivePing]);
    let mut data = b"\r\n".to_vec();
    data.extend(options(""));
    f.push(&data);
    let items = drain(&mut f);
    assert_eq!(items[0], Framed::KeepAlivePong);
    assert!(matches!(items[1], Framed::Message(_)));
}

#[test]
fn a_ping_split_in_two_reads_is_still_one_ping() {
    let mut f = StreamFramer::new(Limits::default());
    f.push(b"\r\n");
    assert_eq!(f.next_item().unwrap(), None);
    f.push(b"\r\n");
    assert_eq!(drain(&mut f), vec![Framed::KeepAlivePing]);
    f.push(b"\r\n\r");
    assert_eq!(f.next_item().unwrap(), None);
    f.push(b"\n");
    assert_eq!(drain(&mut f), vec![Framed::KeepAlivePing]);
}

#[test]
fn a_stream_message_without_content_length_is_a_framing_error() {
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let mut f = StreamFramer::new(Limits::default());
    f.push(msg);
    let e = f.next_item().unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    assert_eq!(f.next_item().unwrap_err(), e, "errors are final");
    let resp = f.error_response(&e).unwrap();
    assert!(resp.starts_with(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"));
}

#[test]
fn an_endless_header_section_fails_without_growing_past_the_limit() {
    let limits = Limits {
        max_message: 1000,
        ..Limits::default()
    };
    let mut f = StreamFramer::new(limits);
    f.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
    let chunk = b"X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut failed = None;
    for _ in 0..1000 {
        f.push(chunk);
        assert!(f.buffered() <= limits.max_message + chunk.len());
        if let Err(e) = f.next_item() {
            failed = Some(e);
            break;
        }
    }
    let e = failed.unwrap();
    assert_eq!(e.kind, ParseErrorKind::TooLarge { what: "message" });
    assert_eq!(e.response_status().unwrap().as_u16(), 513);
}

#[test]
fn pushing_without_draining_is_bounded_and_reported() {
    let limits = Limits {
        max_message: 200,
        ..Limits::default()
    };
    let mut f = StreamFramer::new(limits);
    for _ in 0..100 {
        f.push(&[b'a'; 100]);
    }
    assert!(f.buffered() <= 300);
    assert!(f.next_item().is_err());
}

#[test]
fn a_content_length_beyond_the_limit_fails_before_the_body_arrives() {
    let limits = Limits {
        max_message: 2000,
        max_body: 100_000,
        ..Limits::default()
    };
    let msg = options("");
    let text = String::from_utf8(msg)
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 50000");
    let mut f = StreamFramer::new(limits);
    f.push(text.as_bytes());
    assert_eq!(
        f.next_item().unwrap_err().kind,
        ParseErrorKind::TooLarge { what: "message" }
    );
}

#[test]
fn datagram_body_is_cut_at_content_length_and_extra_octets_ignored() {
    let mut d = options("abc");
    d.extend_from_slice(b"garbage after the body");
    let Message::Request(r) = parse_datagram(&d, &Limits::default()).unwrap() else {
        panic!()
    };
    assert_eq!(&r.body[..], b"abc");
}

#[test]
fn datagram_shorter_than_content_length_is_rejected_with_400() {
    let text = String::from_utf8(options("abc")).unwrap();
    let d = &text.as_bytes()[..text.len() - 1];
    let e = parse_datagram(d, &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TruncatedBody);
    assert_eq!(e.response_status().unwrap().as_u16(), 400);
}

#[test]
fn datagram_leading_crlfs_are_skipped() {
    let mut d = b"\r\n\r\n".to_vec();
    d.extend(options(""));
    assert!(parse_datagram(&d, &Limits::default()).is_ok());
}

#[test]
fn oversized_datagram_body_answers_413_and_message_513() {
    let d = options(&"x".repeat(300));
    let e = parse_datagram(
        &d,
        &Limits {
            max_body: 100,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.response_status().unwrap().as_u16(), 413);
    let e = parse_datagram(
        &d,
        &Limits {
            max_message: 200,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.response_status().unwrap().as_u16(), 513);
}
