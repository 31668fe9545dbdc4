//! Property tests: the parser and negotiation never panic on any input, a
//! parsed description prints back to the same model, and every answer we
//! produce is one we would accept.
#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use pbx_sdp::*;

// --- structured round trip ----------------------------------------------------

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.+/_-]{1,10}"
}

fn name_token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,10}"
}

/// Free text: no control characters, not ending in a space (the parser trims
/// trailing blanks).
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,16}".prop_filter("no trailing blank", |s| !s.ends_with([' ', '\t']))
}

fn connection() -> impl Strategy<Value = Connection> {
    (token(), token(), token()).prop_map(|(net_type, addr_type, address)| Connection {
        net_type,
        addr_type,
        address,
    })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    ("[A-Za-z0-9-]{1,6}", any::<u64>())
        .prop_map(|(bwtype, bandwidth)| Bandwidth { bwtype, bandwidth })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (name_token(), option::of(text())).prop_map(|(name, value)| Attribute { name, value })
}

fn timing() -> impl Strategy<Value = Timing> {
    (any::<u64>(), any::<u64>(), vec(text(), 0..3)).prop_map(|(start, stop, repeats)| Timing {
        start,
        stop,
        repeats,
    })
}

fn media() -> impl Strategy<Value = Media> {
    (
        token(),
        any::<u16>(),
        option::of(any::<u16>()),
        token(),
        vec(token(), 0..6),
        option::of(text()),
        vec(connection(), 0..3),
        vec(bandwidth(), 0..2),
        option::of(text()),
        vec(attribute(), 0..6),
    )
        .prop_map(
            |(
                media,
                port,
                num_ports,
                proto,
                formats,
                info,
                connections,
                bandwidths,
                key,
                attributes,
            )| Media {
                media,
                port,
                num_ports,
                proto,
                formats,
                info,
                connections,
                bandwidths,
                key,
                attributes,
            },
        )
}

fn origin_line() -> impl Strategy<Value = OriginLine> {
    (token(), token(), token(), token(), token(), token()).prop_map(
        |(username, session_id, session_version, net_type, addr_type, address)| OriginLine {
            username,
            session_id,
            session_version,
            net_type,
            addr_type,
            address,
        },
    )
}

fn session() -> impl Strategy<Value = Session> {
    let head = (
        any::<u32>(),
        origin_line(),
        text(),
        option::of(text()),
        option::of(text()),
        vec(text(), 0..2),
        vec(text(), 0..2),
    );
    let tail = (
        option::of(connection()),
        vec(bandwidth(), 0..2),
        vec(timing(), 0..3),
        option::of(text()),
        option::of(text()),
        vec(attribute(), 0..5),
        vec(media(), 0..4),
    );
    (head, tail).prop_map(
        |(
            (version, origin, name, info, uri, emails, phones),
            (connection, bandwidths, times, zone, key, attributes, media),
        )| Session {
            version,
            origin,
            name,
            info,
            uri,
            emails,
            phones,
            connection,
            bandwidths,
            times,
            zone,
            key,
            attributes,
            media,
        },
    )
}

// --- SDP-shaped text --------------------------------------------------------------

fn c_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("c=IN IP4 192.0.2.1".to_owned()),
        1 => Just("c=IN IP4 0.0.0.0".to_owned()),
        1 => Just("c=IN IP6 2001:db8::1".to_owned()),
        1 => Just("c=IN IP4 pbx.example.com".to_owned()),
    ]
}

fn m_line() -> impl Strategy<Value = String> {
    (
        0u16..5,
        prop_oneof![4 => Just("audio"), 1 => Just("video")],
        prop_oneof![4 => Just("RTP/AVP"), 1 => Just("RTP/AVPF"), 1 => Just("RTP/SAVP")],
        vec(prop_oneof![3 => Just(0u8), 3 => Just(8u8), 2 => Just(96u8), 2 => Just(101u8), 2 => Just(111u8), 1 => 0u8..130], 0..6),
    )
        .prop_map(|(port, kind, proto, pts)| {
            let pts: String = pts.iter().map(|p| format!(" {p}")).collect();
            format!("m={kind} {} {proto}{pts}", port * 2000)
        })
}

fn a_line() -> impl Strategy<Value = String> {
    let pt = || {
        prop_oneof![
            Just(0u8),
            Just(8u8),
            Just(96u8),
            Just(101u8),
            Just(111u8),
            0u8..130
        ]
    };
    prop_oneof![
        4 => (pt(), prop_oneof![Just("PCMA/8000"), Just("pcmu/8000"), Just("telephone-event/8000"), Just("telephone-event/48000"), Just("opus/48000/2"), Just("G722/8000"), Just("x"), Just("/"), Just("a/b/c/d")])
            .prop_map(|(pt, enc)| format!("a=rtpmap:{pt} {enc}")),
        1 => pt().prop_map(|pt| format!("a=fmtp:{pt} 0-16")),
        2 => prop_oneof![Just("a=sendrecv"), Just("a=sendonly"), Just("a=recvonly"), Just("a=inactive"), Just("a=rtcp-mux")].prop_map(str::to_owned),
        1 => (any::<u16>()).prop_map(|p| format!("a=rtcp:{p}")),
        1 => (any::<u16>()).prop_map(|p| format!("a=rtcp:{p} IN IP4 192.0.2.7")),
        1 => "a=ptime:[0-9.]{0,6}",
        1 => "a=[a-z-]{1,8}(:[ -~]{0,12})?",
    ]
}

/// Junk that may or may not parse.
fn junk_line() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]=[ -~]{0,12}", "[ -~]{0,12}", c_line()]
}

fn sdp_text() -> impl Strategy<Value = String> {
    let section = (
        m_line(),
        option::weighted(0.4, c_line()),
        vec(a_line(), 0..8),
    );
    (
        option::weighted(0.7, c_line()),
        vec(a_line(), 0..2),
        vec(section, 0..4),
        option::weighted(0.2, (junk_line(), any::<prop::sample::Index>())),
        any::<bool>(),
    )
        .prop_map(|(session_c, session_a, sections, junk, crlf)| {
            let mut lines = vec![
                "v=0".to_owned(),
                "o=- 1 1 IN IP4 192.0.2.1".to_owned(),
                "s=-".to_owned(),
            ];
            lines.extend(session_c);
            lines.push("t=0 0".to_owned());
            lines.extend(session_a);
            for (m, c, attrs) in sections {
                lines.push(m);
                lines.extend(c);
                lines.extend(attrs);
            }
            if let Some((j, at)) = junk {
                lines.insert(at.index(lines.len() + 1), j);
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            lines.iter().map(|l| format!("{l}{eol}")).collect()
        })
}

fn local() -> LocalMedia {
    LocalMedia {
        addr: "203.0.113.5".parse().unwrap(),
        port: 30000,
        rtcp_mux: true,
        codecs: vec![
            Codec::pcma(),
            Codec::pcmu(),
            Codec {
                channels: 2,
                ..Codec::new(111, "opus", 48000)
            },
        ],
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
        ptime: Some(20),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_strings(s in any::<String>()) {
        if let Ok(session) = parse(s.as_bytes()) {
            prop_assert_eq!(parse(&session.to_bytes()).unwrap(), session);
        }
    }

    #[test]
    fn structured_sessions_print_and_parse_back_unchanged(s in session()) {
        let text = s.to_bytes();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&s), "{}", String::from_utf8_lossy(&text));
        // Printing is a fixed point.
        prop_assert_eq!(back.unwrap().to_bytes(), text);
    }

    #[test]
    fn sdp_shaped_text_round_trips_and_negotiates_without_panicking(text in sdp_text()) {
        let Ok(offer) = parse(text.as_bytes()) else { return Ok(()) };
        prop_assert_eq!(parse(&offer.to_bytes()).unwrap(), offer.clone());
        let _ = audio(&offer);
        for index in 0..offer.media.len() {
            let _ = AudioStream::from_media(&offer, index);
        }
        // Whatever is offered, accept_answer never panics on it either.
        let ours = build_offer(&Origin::new(1, "203.0.113.5".parse().unwrap()), &local());
        let _ = accept_answer(&ours, &offer);
        let _ = accept_answer(&offer, &offer);

        match answer(&offer, &Origin::new(2, "203.0.113.5".parse().unwrap()), &local()) {
            Ok((ans, negotiated)) => {
                prop_assert_eq!(ans.media.len(), offer.media.len());
                // The answer is valid SDP that parses back to itself.
                prop_assert_eq!(parse(&ans.to_bytes()).unwrap(), ans.clone());
                // The offerer, checking our answer, agrees on the codec and numbers.
                let seen = accept_answer(&offer, &ans).unwrap();
                prop_assert!(seen.codec.same_format(&negotiated.codec));
                prop_assert_eq!(seen.codec.pt, negotiated.codec.pt);
                prop_assert_eq!(seen.telephone_event.map(|e| e.pt), negotiated.telephone_event.map(|e| e.pt));
                prop_assert_eq!(seen.direction, negotiated.direction.reversed());
                prop_assert_eq!(seen.rtcp_mux, negotiated.rtcp_mux);
            }
            Err(e) => prop_assert!(matches!(e.status(), 400 | 488)),
        }
    }
}
