//! Our offers, the answers we accept, and the o= version rules of a leg.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};

use pbx_sdp::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local() -> LocalMedia {
    LocalMedia {
        addr: ip("203.0.113.5"),
        port: 30000,
        rtcp_mux: true,
        codecs: vec![Codec::pcma(), Codec::pcmu()],
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
        ptime: Some(20),
    }
}

fn sdp(text: &str) -> Session {
    parse(text.as_bytes()).unwrap()
}

/// A phone's answer with the given m= line and media attributes.
fn phone_answer(m_line: &str, attributes: &str) -> Session {
    sdp(&format!(
        "v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{m_line}\r\n{attributes}"
    ))
}

#[test]
fn offer_is_written_exactly_as_documented() {
    let offer = build_offer(&Origin::new(42, ip("203.0.113.5")), &local());
    assert_eq!(
        offer.to_string(),
        "v=0\r\no=- 42 0 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
    );
    let view = audio(&offer).unwrap();
    assert_eq!(view.codecs, vec![Codec::pcma(), Codec::pcmu()]);
    assert_eq!(view.telephone_event, Some(Codec::telephone_event(101)));
}

#[test]
fn offer_skips_telephone_event_when_its_number_is_taken_by_a_codec() {
    let clash = LocalMedia {
        telephone_event_pt: Some(8),
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &clash);
    assert_eq!(offer.media[0].formats, ["8", "0"]);
    let none = LocalMedia {
        telephone_event_pt: None,
        rtcp_mux: false,
        ptime: None,
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &none);
    assert_eq!(
        offer.media[0].attributes.len(),
        3,
        "two rtpmaps and the direction"
    );
}

#[test]
fn our_offer_answered_by_ourselves_agrees_on_both_sides() {
    let origin = Origin::new(1, ip("203.0.113.5"));
    let offer = build_offer(&origin, &local());
    let other = LocalMedia {
        addr: ip("198.51.100.1"),
        port: 40000,
        codecs: vec![Codec::pcmu()],
        ..local()
    };
    let (answer_sdp, theirs) = answer(&offer, &Origin::new(2, ip("198.51.100.1")), &other).unwrap();
    let ours = accept_answer(&offer, &answer_sdp).unwrap();
    assert_eq!(ours.codec, theirs.codec);
    assert_eq!(ours.remote, Some(sock("198.51.100.1:40000")));
    assert_eq!(theirs.remote, Some(sock("203.0.113.5:30000")));
    assert!(ours.rtcp_mux && theirs.rtcp_mux);
    assert_eq!(ours.telephone_event.as_ref().map(|e| e.pt), Some(101));
}

#[test]
fn answer_may_renumber_a_dynamic_codec_and_we_send_with_its_number() {
    let opus = Codec {
        channels: 2,
        ..Codec::new(111, "opus", 48000)
    };
    let offer = build_offer(
        &Origin::new(1, ip("203.0.113.5")),
        &LocalMedia {
            codecs: vec![opus],
            ..local()
        },
    );
    let answer = phone_answer("m=audio 4000 RTP/AVP 100", "a=rtpmap:100 opus/48000/2\r\n");
    let n = accept_answer(&offer, &answer).unwrap();
    assert_eq!((n.codec.pt, n.codec.name.as_str()), (100, "opus"));
}

#[test]
fn answer_with_a_codec_we_did_not_offer_is_no_common_codec() {
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &local());
    let answer = phone_answer("m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000\r\n");
    assert_eq!(
        accept_answer(&offer, &answer),
        Err(NegotiationError::NoCommonCodec)
    );
}

#[test]
fn answer_listing_several_codecs_uses_its_first_one_we_offered() {
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &local());
    let answer = phone_answer("m=audio 4000 RTP/AVP 18 0 8", "");
    assert_eq!(accept_answer(&offer, &answer).unwrap().codec, Codec::pcmu());
}

#[test]
fn answer_rejecting_our_audio_is_no_audio() {
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &local());
    let answer = phone_answer("m=audio 0 RTP/AVP 8", "");
    let err = accept_answer(&offer, &answer).unwrap_err();
    assert_eq!(
        (err.clone(), err.status()),
        (NegotiationError::NoAudio, 488)
    );
}

#[test]
fn answer_turning_audio_into_video_is_malformed() {
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &local());
    let answer = phone_answer("m=video 4000 RTP/AVP 96", "a=rtpmap:96 VP8/90000\r\n");
    assert!(matches!(
        accept_answer(&offer, &answer),
        Err(NegotiationError::Malformed(_))
    ));
}

#[test]
fn answer_without_any_connection_address_is_malformed() {
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &local());
    let answer =
        sdp("v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n");
    assert!(matches!(
        accept_answer(&offer, &answer),
        Err(NegotiationError::Malformed(_))
    ));
}

#[test]
fn recvonly_answer_to_our_hold_offer_leaves_us_sendonly() {
    let hold = LocalMedia {
        direction: Direction::SendOnly,
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &hold);
    assert!(offer.media[0].has_attribute("sendonly"));
    let answer = phone_answer("m=audio 4000 RTP/AVP 8", "a=recvonly\r\n");
    assert_eq!(
        accept_answer(&offer, &answer).unwrap().direction,
        Direction::SendOnly
    );
    // An answer that (wrongly) says sendrecv still cannot make us receive.
    let answer = phone_answer("m=audio 4000 RTP/AVP 8", "");
    assert_eq!(
        accept_answer(&offer, &answer).unwrap().direction,
        Direction::SendOnly
    );
}

#[test]
fn rtcp_mux_in_an_answer_counts_only_if_we_offered_it() {
    let no_mux = LocalMedia {
        rtcp_mux: false,
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &no_mux);
    let answer = phone_answer("m=audio 4000 RTP/AVP 8", "a=rtcp-mux\r\n");
    let n = accept_answer(&offer, &answer).unwrap();
    assert!(!n.rtcp_mux);
    assert_eq!(n.remote_rtcp, Some(sock("192.0.2.9:4001")));
}

#[test]
fn telephone_event_in_an_answer_counts_only_if_we_offered_it() {
    let no_te = LocalMedia {
        telephone_event_pt: None,
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &no_te);
    let answer = phone_answer(
        "m=audio 4000 RTP/AVP 8 101",
        "a=rtpmap:101 telephone-event/8000\r\n",
    );
    assert_eq!(
        accept_answer(&offer, &answer).unwrap().telephone_event,
        None
    );
    // And when answering, we do not accept it without a local number.
    let (sdp, n) = pbx_sdp::answer(&answer, &Origin::new(1, ip("203.0.113.5")), &no_te).unwrap();
    assert_eq!(
        (sdp.media[0].formats.clone(), n.telephone_event),
        (vec!["8".to_owned()], None)
    );
}

#[test]
fn local_hold_intersects_with_the_offered_direction() {
    let offer = phone_answer("m=audio 4000 RTP/AVP 8", "a=sendrecv\r\n");
    let hold = LocalMedia {
        direction: Direction::SendOnly,
        ..local()
    };
    let (_, n) = answer(&offer, &Origin::new(1, ip("203.0.113.5")), &hold).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    let offer = phone_answer("m=audio 4000 RTP/AVP 8", "a=sendonly\r\n");
    let (_, n) = answer(&offer, &Origin::new(1, ip("203.0.113.5")), &hold).unwrap();
    assert_eq!(
        n.direction,
        Direction::Inactive,
        "both sides only send: nobody listens"
    );
}

#[test]
fn answer_copies_the_offer_time_line() {
    let offer = sdp(
        "v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=3034423619 3042462419\r\nm=audio 4000 RTP/AVP 8\r\n",
    );
    let (sdp, _) = answer(&offer, &Origin::new(1, ip("203.0.113.5")), &local()).unwrap();
    assert_eq!(sdp.times, offer.times);
}

#[test]
fn answer_prefers_our_fmtp_over_the_offered_one() {
    let g729 = Codec {
        fmtp: Some("annexb=no".to_owned()),
        ..Codec::new(18, "G729", 8000)
    };
    let offer = phone_answer("m=audio 4000 RTP/AVP 18", "a=fmtp:18 annexb=yes\r\n");
    let (sdp, n) = answer(
        &offer,
        &Origin::new(1, ip("203.0.113.5")),
        &LocalMedia {
            codecs: vec![g729],
            ..local()
        },
    )
    .unwrap();
    assert_eq!(sdp.media[0].attribute_value("fmtp"), Some("18 annexb=no"));
    assert_eq!(
        n.codec.fmtp.as_deref(),
        Some("annexb=yes"),
        "Negotiated describes the remote's format"
    );
}

#[test]
fn later_audio_stream_is_used_when_the_first_shares_no_codec() {
    let offer = phone_answer("m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 8\r\n");
    let (sdp, n) = answer(&offer, &Origin::new(1, ip("203.0.113.5")), &local()).unwrap();
    assert_eq!((sdp.media[0].port, sdp.media[1].port), (0, 30000));
    assert_eq!(n.remote, Some(sock("192.0.2.9:4002")));
    assert_eq!(accept_answer(&offer, &sdp).unwrap().codec, Codec::pcma());
}

#[test]
fn offer_without_media_is_no_audio() {
    let offer = sdp("v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\n");
    assert_eq!(
        answer(&offer, &Origin::new(1, ip("203.0.113.5")), &local()),
        Err(NegotiationError::NoAudio)
    );
}

#[test]
fn parse_errors_convert_to_a_400_negotiation_error() {
    let err: NegotiationError = parse(b"garbage").unwrap_err().into();
    assert_eq!(err.status(), 400);
}

// --- o= version rules (RFC 3264 §8) -------------------------------------------

#[test]
fn reoffer_with_unchanged_content_keeps_the_version() {
    let mut leg = LegSdp::new(Origin::new(7, ip("203.0.113.5")));
    let first = leg.offer(&local());
    let again = leg.offer(&local());
    assert_eq!(first.origin.session_version, "0");
    assert_eq!(
        again, first,
        "a session refresh re-INVITE carries the identical body"
    );
}

#[test]
fn every_change_bumps_the_version_by_one() {
    let mut leg = LegSdp::new(Origin::new(7, ip("203.0.113.5")));
    leg.offer(&local());
    let hold = leg.offer(&LocalMedia {
        direction: Direction::SendOnly,
        ..local()
    });
    assert_eq!(hold.origin.session_version, "1");
    let resume = leg.offer(&local());
    assert_eq!(resume.origin.session_version, "2");
    let same = leg.offer(&local());
    assert_eq!(same.origin.session_version, "2");
    let moved = leg.offer(&LocalMedia {
        port: 30010,
        ..local()
    });
    assert_eq!(moved.origin.session_version, "3");
    assert_eq!(moved.origin.session_id, "7", "the session id never changes");
    assert_eq!(leg.origin().version, 3);
}

#[test]
fn answers_and_offers_share_one_version_sequence() {
    let remote = phone_answer("m=audio 4000 RTP/AVP 8 0", "");
    let mut leg = LegSdp::new(Origin::new(7, ip("203.0.113.5")));
    let (first, _) = leg.answer(&remote, &local()).unwrap();
    assert_eq!(first.origin.session_version, "0");
    // The same re-offer from the phone gets the same answer, same version.
    let (again, _) = leg.answer(&remote, &local()).unwrap();
    assert_eq!(again, first);
    // Our own re-offer differs (all our codecs), so it is version 1.
    let offer = leg.offer(&local());
    assert_eq!(offer.origin.session_version, "1");
    assert_eq!(leg.last_sent(), Some(&offer));
}

#[test]
fn failed_answer_leaves_the_leg_unchanged() {
    let mut leg = LegSdp::new(Origin::new(7, ip("203.0.113.5")));
    let sent = leg.offer(&local());
    let before = leg.clone();
    let g729_only = phone_answer("m=audio 4000 RTP/AVP 18", "");
    assert_eq!(
        leg.answer(&g729_only, &local()).unwrap_err(),
        NegotiationError::NoCommonCodec
    );
    assert_eq!(leg, before);
    assert_eq!(leg.last_sent(), Some(&sent));
}

#[test]
fn accepting_an_answer_needs_an_offer_first() {
    let leg = LegSdp::new(Origin::new(7, ip("203.0.113.5")));
    let answer = phone_answer("m=audio 4000 RTP/AVP 8", "");
    assert!(matches!(
        leg.accept_answer(&answer),
        Err(NegotiationError::Malformed(_))
    ));
}

#[test]
fn origin_bump_wraps_instead_of_panicking() {
    let mut o = Origin {
        version: u64::MAX,
        ..Origin::new(1, ip("203.0.113.5"))
    };
    o.bump();
    assert_eq!(o.version, 0);
}

#[test]
fn remote_reoffer_with_the_same_version_has_the_same_content() {
    // How the B2BUA tells a session refresh from a real change.
    let a = phone_answer("m=audio 4000 RTP/AVP 8", "a=sendrecv\r\n");
    let mut b = a.clone();
    b.origin.session_version = "6".to_owned();
    assert!(a.same_content(&b));
    b.media[0].attributes[0] = Attribute::property("sendonly");
    assert!(!a.same_content(&b));
}

#[test]
fn g722_is_offered_and_answered_at_the_8000_rtp_clock_of_rfc_3551() {
    let g722 = Codec::new(9, "G722", 8000);
    let ours = LocalMedia {
        codecs: vec![g722.clone(), Codec::pcma()],
        ..local()
    };
    let offer = build_offer(&Origin::new(1, ip("203.0.113.5")), &ours);
    let text = offer.to_string();
    assert!(text.contains("m=audio 30000 RTP/AVP 9 8 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:9 G722/8000\r\n"), "{text}");
    // A phone answering with the static type alone (no rtpmap) gets G.722 at 8000.
    let n = accept_answer(&offer, &phone_answer("m=audio 4000 RTP/AVP 9", "")).unwrap();
    assert_eq!(n.codec, g722);
    // A G.711-only phone's offer answered from a G.722-first list agrees on G.711.
    let phone = phone_answer("m=audio 4000 RTP/AVP 0 8", "");
    let (_, n) = answer(&phone, &Origin::new(2, ip("203.0.113.5")), &ours).unwrap();
    assert_eq!(n.codec, Codec::pcma());
}
