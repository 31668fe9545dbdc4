//! Arbitrary bytes as RTP/RTCP through the relay's packet path: the header view (its payload
//! range must lie inside the packet), RTCP demux and SSRC re-mapping, re-stamping (a packet it
//! accepts must still parse, carry the outgoing SSRC and keep its length), telephone-event
//! parsing and digit detection, and in-place G.711 transcoding. Nothing may panic.
//!
//! The input is cut into packets at `0xff 0xfe` pairs so one run feeds the restamper a stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_media::dtmf::{DigitDetector, TelephoneEvent};
use pbx_media::rtp::{self, RtcpMap};
use pbx_media::{Restamper, g711};

fuzz_target!(|data: &[u8]| {
    let mut restamper = Restamper::new(0x1234_5678, 8000, 100, 1000);
    let mut detector = DigitDetector::new();
    let mut now_us = 0u64;
    let mut rest = data;
    while !rest.is_empty() {
        let cut = rest.windows(2).position(|w| w == [0xff, 0xfe]);
        let (pkt, next) = match cut {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        rest = next;
        now_us += 20_000 + u64::from(pkt.first().copied().unwrap_or(0)) * 1000;

        if let Some(h) = rtp::parse(pkt) {
            let range = h.payload_range();
            assert!(range.start <= range.end && range.end <= pkt.len(), "{h:?}");
            let payload = &pkt[range.clone()];
            if let Some(e) = TelephoneEvent::parse(payload) {
                assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Some(e));
            }
            let _ = detector.handle_packet(h.ts, payload);
            let mut copy = pkt.to_vec();
            g711::alaw_to_ulaw_in_place(&mut copy[range.clone()]);
            g711::ulaw_to_alaw_in_place(&mut copy[range]);
        }

        let _ = rtp::is_rtcp(pkt);
        let mut copy = pkt.to_vec();
        let map = RtcpMap {
            sender_from: u32::from_be_bytes([0, 0, 0, pkt.get(1).copied().unwrap_or(0)]),
            sender_to: 7,
            ts_offset: 160,
            media_from: 0x1234_5678,
            media_to: pkt.get(2).map(|&b| u32::from(b)),
        };
        let _ = rtp::rewrite_rtcp(&mut copy, &map);
        assert_eq!(copy.len(), pkt.len());

        let mut copy = pkt.to_vec();
        if pkt.len() % 7 == 3 {
            let _ = restamper.generated(now_us);
        } else if restamper.rewrite(&mut copy, now_us) {
            let h = rtp::parse(&copy).expect("a re-stamped packet still parses");
            assert_eq!(h.ssrc, restamper.out_ssrc());
            assert_eq!(copy.len(), pkt.len());
        }
    }
});
