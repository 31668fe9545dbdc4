//! Arbitrary bytes through the SDP parser; what parses must serialize to text that parses again
//! and serializes to the same bytes, and must go through the audio view, an answer (the text of
//! which parses) and `accept_answer` against our own offer without a panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use pbx_sdp::{
    Codec, Direction, LegSdp, LocalMedia, Origin, accept_answer, answer, audio, build_offer, parse,
};

fuzz_target!(|data: &[u8]| {
    let Ok(session) = parse(data) else { return };
    let bytes = session.to_bytes();
    let again = match parse(&bytes) {
        Ok(s) => s,
        Err(e) => panic!("reparse failed: {e:?}\n{}", String::from_utf8_lossy(&bytes)),
    };
    assert_eq!(bytes, again.to_bytes(), "serialization is not stable");
    assert!(session.same_content(&again));

    if let Some(a) = audio(&session) {
        let _ = (a.is_hold(), a.rtp_addr());
    }
    let pbx = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
    let local = LocalMedia {
        addr: pbx,
        port: 30000,
        rtcp_mux: true,
        codecs: vec![Codec::pcma(), Codec::pcmu()],
        telephone_event_pt: Some(101),
        direction: Direction::SendRecv,
        ptime: Some(20),
    };
    let origin = Origin::new(7001, pbx);
    if let Ok((answer_sdp, negotiated)) = answer(&session, &origin, &local) {
        let text = answer_sdp.to_bytes();
        if let Err(e) = parse(&text) {
            panic!("our answer does not parse: {e:?}\n{}", String::from_utf8_lossy(&text));
        }
        let _ = negotiated.codec.rtpmap_value();
    }
    let mut leg = LegSdp::new(origin.clone());
    let _ = leg.answer(&session, &local);
    // The input as the answer to our own offer.
    let offer = build_offer(&origin, &local);
    let _ = accept_answer(&offer, &session);
    let _ = leg.accept_answer(&session);
});
