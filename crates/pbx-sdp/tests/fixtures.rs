//! Real-world descriptions (tests/fixtures/*.sdp): they parse, print back
//! byte for byte, and negotiate the way a B2BUA leg should.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use pbx_sdp::*;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture text with CRLF line ends, whatever the checkout did to them.
fn text(name: &str) -> String {
    let raw = std::fs::read_to_string(fixture_path(name)).unwrap();
    raw.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn fixture(name: &str) -> Session {
    parse(text(name).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

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

fn origin() -> Origin {
    Origin::new(42, ip("203.0.113.5"))
}

fn answer_fixture(name: &str, local: &LocalMedia) -> (Session, Negotiated) {
    answer(&fixture(name), &origin(), local).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_prints_back_byte_for_byte() {
    let mut names: Vec<_> = std::fs::read_dir(fixture_path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sdp"))
        .collect();
    names.sort();
    assert!(names.len() >= 14, "{names:?}");
    for name in names {
        let original = text(&name);
        let session = fixture(&name);
        assert_eq!(session.to_string(), original, "{name}");
        assert_eq!(parse(&session.to_bytes()).unwrap(), session, "{name}");
        // LF-only input gives the same model.
        assert_eq!(
            parse(original.replace("\r\n", "\n").as_bytes()).unwrap(),
            session,
            "{name}"
        );
    }
}

#[test]
fn baresip_offer_gets_pcmu_with_rtcp_mux_and_no_ssrc_echo() {
    let offer = fixture("baresip-1.0-offer.sdp");
    let view = audio(&offer).unwrap();
    assert_eq!(
        view.codecs,
        vec![Codec::new(0, "PCMU", 8000), Codec::new(8, "PCMA", 8000)]
    );
    assert!(view.rtcp_mux);
    assert_eq!(view.rtcp, Some(sock("192.168.1.20:10166")));
    assert_eq!(
        offer.media[0].attribute_value("ssrc"),
        Some("1846207381 cname:7a1c8e21-2f3b-4a55-9d0e-3c1f8b6d2e90")
    );

    let (sdp, n) = answer_fixture("baresip-1.0-offer.sdp", &local());
    assert_eq!(
        (n.codec.pt, n.codec.name.as_str()),
        (0, "PCMU"),
        "offerer's preference wins"
    );
    assert_eq!(
        n.telephone_event
            .as_ref()
            .map(|e| (e.pt, e.fmtp.as_deref())),
        Some((101, Some("0-15")))
    );
    assert_eq!(n.remote, Some(sock("192.168.1.20:10166")));
    assert_eq!(
        n.remote_rtcp, n.remote,
        "rtcp-mux sends RTCP to the RTP port"
    );
    assert!(n.rtcp_mux);
    assert_eq!(n.ptime, Some(20));
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=- 42 0 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
    );
}

#[test]
fn pjsua_offer_picks_the_telephone_event_at_the_codec_clock_rate_and_its_rtcp_port() {
    let offer = fixture("pjsua-2.x-offer.sdp");
    let view = audio(&offer).unwrap();
    assert_eq!(view.codecs.len(), 8);
    assert_eq!(
        view.telephone_events
            .iter()
            .map(|e| e.pt)
            .collect::<Vec<_>>(),
        [120, 121, 122]
    );
    assert_eq!(view.rtcp, Some(sock("192.168.1.30:4001")));
    assert!(!view.rtcp_mux);

    let (sdp, n) = answer_fixture("pjsua-2.x-offer.sdp", &local());
    assert_eq!(n.codec.name, "PCMU");
    assert_eq!(
        n.telephone_event.as_ref().map(|e| (e.pt, e.clock_rate)),
        Some((121, 8000))
    );
    assert_eq!(n.remote_rtcp, Some(sock("192.168.1.30:4001")));
    assert!(!n.rtcp_mux, "not offered, so not answered");
    let media = &sdp.media[0];
    assert_eq!(media.formats, ["0", "121"]);
    assert!(!media.has_attribute("rtcp-mux"));
    assert!(!media.has_attribute("candidate"), "ICE is not echoed");
}

#[test]
fn asterisk_offer_gets_pcma_and_reports_ptime_and_maxptime() {
    let view = audio(&fixture("asterisk-20-offer.sdp")).unwrap();
    assert_eq!((view.ptime, view.maxptime), (Some(20), Some(150)));
    assert_eq!(view.codecs[2].name, "GSM");
    let (_, n) = answer_fixture("asterisk-20-offer.sdp", &local());
    assert_eq!((n.codec.pt, n.codec.name.as_str()), (8, "PCMA"));
    assert_eq!(
        n.remote_rtcp,
        Some(sock("10.0.0.5:14091")),
        "RTCP on port + 1 without a=rtcp"
    );
}

#[test]
fn cisco_offer_uses_the_media_level_connection() {
    let offer = fixture("cisco-cp7945-offer.sdp");
    assert!(offer.connection.is_none());
    let view = audio(&offer).unwrap();
    assert_eq!(view.addr, Some(ip("192.168.1.40")));
    assert_eq!(view.codecs[2].fmtp.as_deref(), Some("annexb=no"));
    let (_, n) = answer_fixture("cisco-cp7945-offer.sdp", &local());
    assert_eq!(n.remote, Some(sock("192.168.1.40:27468")));
    assert_eq!(n.codec.name, "PCMU");
}

#[test]
fn polycom_offer_with_session_level_direction_prefers_g722_when_we_support_it() {
    let view = audio(&fixture("polycom-vvx-offer.sdp")).unwrap();
    assert_eq!(view.direction, Direction::SendRecv);
    assert_eq!(view.telephone_event.as_ref().map(|e| e.pt), Some(127));
    let (_, n) = answer_fixture("polycom-vvx-offer.sdp", &local());
    assert_eq!(n.codec.name, "PCMU");
    let wideband = LocalMedia {
        codecs: vec![Codec::pcma(), Codec::new(9, "g722", 8000)],
        ..local()
    };
    let (sdp, n) = answer_fixture("polycom-vvx-offer.sdp", &wideband);
    assert_eq!(
        (n.codec.pt, n.codec.name.as_str()),
        (9, "G722"),
        "names compare case-insensitively"
    );
    assert_eq!(sdp.media[0].formats, ["9", "127"]);
}

#[test]
fn yealink_offer_gets_pcma_and_its_sendonly_reinvite_is_hold() {
    let (_, n) = answer_fixture("yealink-t46-offer.sdp", &local());
    assert_eq!(n.codec.name, "PCMA");
    let hold = fixture("yealink-t46-hold-sendonly.sdp");
    let view = audio(&hold).unwrap();
    assert!(view.is_hold());
    assert_eq!(view.addr, Some(ip("192.168.1.42")));
    let (sdp, n) = answer(&hold, &origin(), &local()).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(
        n.remote,
        Some(sock("192.168.1.42:11796")),
        "the address stays known for latching"
    );
    assert!(sdp.media[0].has_attribute("recvonly"));
}

#[test]
fn legacy_zero_address_hold_is_sendonly_with_no_destination() {
    let offer = fixture("legacy-hold-zero-address.sdp");
    let view = audio(&offer).unwrap();
    assert_eq!((view.addr, view.direction), (None, Direction::SendOnly));
    assert!(view.is_hold());
    assert_eq!(
        view.codecs,
        vec![Codec::pcmu(), Codec::pcma()],
        "static types without rtpmap"
    );
    let (sdp, n) = answer(&offer, &origin(), &local()).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!((n.remote, n.remote_rtcp), (None, None));
    assert!(sdp.media[0].has_attribute("recvonly"));
}

#[test]
fn inactive_reinvite_is_answered_inactive() {
    let offer = fixture("reinvite-inactive.sdp");
    assert!(audio(&offer).unwrap().is_hold());
    let (sdp, n) = answer(&offer, &origin(), &local()).unwrap();
    assert_eq!(n.direction, Direction::Inactive);
    assert!(sdp.media[0].has_attribute("inactive"));
}

#[test]
fn audio_and_video_offer_gets_video_rejected_with_port_zero() {
    let (sdp, n) = answer_fixture("linphone-audio-video-offer.sdp", &local());
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(n.codec.name, "PCMU");
    assert_eq!(n.telephone_event.as_ref().map(|e| e.pt), Some(101));
    let video = &sdp.media[1];
    assert_eq!(
        (video.media.as_str(), video.port, video.formats.clone()),
        ("video", 0, vec!["97".to_owned(), "98".to_owned()])
    );
    assert!(sdp.to_string().ends_with("m=video 0 RTP/AVP 97 98\r\n"));
}

#[test]
fn opus_at_48_khz_is_answered_without_the_8_khz_telephone_event() {
    let opus = Codec {
        channels: 2,
        fmtp: None,
        ..Codec::new(111, "OPUS", 48000)
    };
    let with_opus = LocalMedia {
        codecs: vec![opus, Codec::pcma()],
        ..local()
    };
    let (sdp, n) = answer_fixture("linphone-audio-video-offer.sdp", &with_opus);
    assert_eq!(
        (n.codec.pt, n.codec.channels),
        (96, 2),
        "the offer's payload type"
    );
    assert_eq!(
        n.telephone_event, None,
        "telephone-event/8000 cannot ride a 48 kHz clock"
    );
    assert_eq!(sdp.media[0].formats, ["96"]);
    assert_eq!(
        sdp.media[0].attribute_value("fmtp"),
        Some("96 useinbandfec=1"),
        "the offer's fmtp when we have none"
    );
}

#[test]
fn answer_with_video_rejected_is_accepted_for_the_audio_stream() {
    let offer = fixture("linphone-audio-video-offer.sdp");
    let answer = fixture("answer-video-rejected.sdp");
    let n = accept_answer(&offer, &answer).unwrap();
    assert_eq!((n.codec.pt, n.codec.name.as_str()), (0, "PCMU"));
    assert_eq!(n.telephone_event.as_ref().map(|e| e.pt), Some(101));
    assert_eq!(n.remote, Some(sock("10.0.0.5:14092")));
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.ptime, Some(20));
}

#[test]
fn answer_with_a_different_number_of_m_lines_is_malformed() {
    let err = accept_answer(
        &fixture("asterisk-20-offer.sdp"),
        &fixture("answer-video-rejected.sdp"),
    )
    .unwrap_err();
    assert!(matches!(err, NegotiationError::Malformed(_)), "{err}");
    assert_eq!(err.status(), 400);
}

#[test]
fn ipv6_offer_gets_an_ipv6_answer() {
    let offer = fixture("ipv6-offer.sdp");
    let view = audio(&offer).unwrap();
    assert_eq!(view.addr, Some(ip("2001:db8::10")));
    assert_eq!(view.rtcp, Some(sock("[2001:db8::11]:49171")));
    let v6 = LocalMedia {
        addr: ip("2001:db8::5"),
        ..local()
    };
    let (sdp, n) = answer(&offer, &Origin::new(9, ip("2001:db8::5")), &v6).unwrap();
    assert_eq!(n.remote, Some(sock("[2001:db8::10]:49170")));
    assert_eq!(n.remote_rtcp, Some(sock("[2001:db8::11]:49171")));
    let text = sdp.to_string();
    assert!(text.contains("o=- 9 0 IN IP6 2001:db8::5\r\n"), "{text}");
    assert!(text.contains("c=IN IP6 2001:db8::5\r\n"), "{text}");
}

#[test]
fn pcma_only_offer_against_pcmu_only_local_is_no_common_codec_488() {
    let pcmu_only = LocalMedia {
        codecs: vec![Codec::pcmu()],
        ..local()
    };
    let err = answer(&fixture("pcma-only-te96-offer.sdp"), &origin(), &pcmu_only).unwrap_err();
    assert_eq!(err, NegotiationError::NoCommonCodec);
    assert_eq!(err.status(), 488);
}

#[test]
fn srtp_only_offer_has_no_usable_audio() {
    let offer = fixture("carrier-srtp-only-offer.sdp");
    assert_eq!(audio(&offer), None);
    let err = answer(&offer, &origin(), &local()).unwrap_err();
    assert_eq!(
        (err.clone(), err.status()),
        (NegotiationError::NoAudio, 488)
    );
}

#[test]
fn telephone_event_numbers_are_mapped_per_leg() {
    // Inbound leg: the trunk uses 96; we answer with 96.
    let mut inbound = LegSdp::new(Origin::new(1, ip("203.0.113.5")));
    let (sdp, a) = inbound
        .answer(&fixture("pcma-only-te96-offer.sdp"), &local())
        .unwrap();
    assert_eq!(sdp.media[0].formats, ["8", "96"]);
    assert_eq!(a.telephone_event.as_ref().map(|e| e.pt), Some(96));

    // Outbound leg: we offer 101 and the phone answers with 101.
    let mut outbound = LegSdp::new(Origin::new(2, ip("203.0.113.5")));
    let offer = outbound.offer(&LocalMedia {
        port: 30002,
        ..local()
    });
    assert_eq!(offer.media[0].formats, ["8", "0", "101"]);
    let answer_text = text("yealink-t46-offer.sdp").replace("o=- 20044 20044", "o=- 20044 20045");
    let b = outbound
        .accept_answer(&parse(answer_text.as_bytes()).unwrap())
        .unwrap();
    assert_eq!(b.telephone_event.as_ref().map(|e| e.pt), Some(101));
    assert_eq!(a.codec.name, b.codec.name);
}
