//! Per outgoing direction re-stamping: whatever source feeds a leg, the far end sees one stream.

use crate::rtp;

#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest sequence number seen from this source (its own numbering).
    max_seq: u16,
}

/// Maps the packets of any number of successive sources to one continuous outgoing stream:
/// a fixed SSRC, a sequence number that goes on +1 across source changes, and a timestamp that
/// jumps by the arrival-time gap × clock rate when the source changes. The first packet after a
/// change carries the marker bit. Within one source the offsets stay fixed, so sequence wrap,
/// loss and reordering pass through unchanged; stragglers of the previous source that arrive
/// after a change are refused.
#[derive(Debug, Clone)]
pub struct Restamper {
    out_ssrc: u32,
    clock_rate: u32,
    current: Option<Source>,
    previous: Option<Source>,
    /// A packet was sent (relayed or generated): later changes jump the timestamp by the gap.
    started: bool,
    /// Sequence number and timestamp of the newest packet sent, and when it arrived.
    last_seq: u16,
    last_ts: u32,
    last_us: u64,
}

impl Restamper {
    /// `first_seq` / `first_ts` are where the outgoing stream starts (pick them at random in the
    /// caller, RFC 3550 §5.1); `clock_rate` is the RTP clock (8000 for G.711).
    pub fn new(out_ssrc: u32, clock_rate: u32, first_seq: u16, first_ts: u32) -> Self {
        Restamper {
            out_ssrc,
            clock_rate,
            current: None,
            previous: None,
            started: false,
            last_seq: first_seq.wrapping_sub(1),
            last_ts: first_ts,
            last_us: 0,
        }
    }

    /// The SSRC every outgoing packet carries.
    pub fn out_ssrc(&self) -> u32 {
        self.out_ssrc
    }

    /// The SSRC of the source currently mapped, if any packet was seen.
    pub fn source_ssrc(&self) -> Option<u32> {
        self.current.map(|s| s.ssrc)
    }

    /// The timestamp offset applied to the current source when it is `ssrc` (for RTCP SR).
    pub fn ts_offset_for(&self, ssrc: u32) -> Option<u32> {
        self.current.filter(|s| s.ssrc == ssrc).map(|s| s.ts_offset)
    }

    /// Rewrites SSRC, sequence number, timestamp (and marker on a source change) of the RTP
    /// packet in place. Returns `false` — packet to be dropped — when it is not RTP or is a late
    /// packet of the previous source.
    pub fn rewrite(&mut self, pkt: &mut [u8], now_us: u64) -> bool {
        let Some(h) = rtp::parse(pkt) else {
            return false;
        };
        let mut marker = false;
        let src = match self.current {
            Some(ref mut s) if s.ssrc == h.ssrc => s,
            _ => {
                if let Some(p) = self.previous
                    && p.ssrc == h.ssrc
                    && seq_newer_or_equal(p.max_seq, h.seq)
                {
                    return false;
                }
                let base_seq = self.last_seq.wrapping_add(1);
                let base_ts = self.last_ts.wrapping_add(self.gap(now_us));
                self.started = true;
                self.previous = self.current.take();
                marker = true;
                self.last_seq = base_seq.wrapping_sub(1);
                self.current.insert(Source {
                    ssrc: h.ssrc,
                    seq_offset: base_seq.wrapping_sub(h.seq),
                    ts_offset: base_ts.wrapping_sub(h.ts),
                    max_seq: h.seq.wrapping_sub(1),
                })
            }
        };
        let out_seq = h.seq.wrapping_add(src.seq_offset);
        let out_ts = h.ts.wrapping_add(src.ts_offset);
        if !seq_newer_or_equal(src.max_seq, h.seq) {
            src.max_seq = h.seq;
            self.last_seq = out_seq;
            self.last_ts = out_ts;
            self.last_us = now_us;
        }
        rtp::set_ssrc(pkt, self.out_ssrc);
        rtp::set_seq(pkt, out_seq);
        rtp::set_ts(pkt, out_ts);
        if marker {
            rtp::set_marker(pkt, true);
        }
        true
    }

    /// Timestamp ticks from the newest packet sent to `now_us` (at least 1), or 0 before the
    /// first packet.
    fn gap(&self, now_us: u64) -> u32 {
        if !self.started {
            return 0;
        }
        let us = now_us.saturating_sub(self.last_us);
        let ticks = u128::from(us) * u128::from(self.clock_rate) / 1_000_000;
        u32::try_from(ticks).unwrap_or(u32::MAX).max(1)
    }

    /// Numbers one packet the caller generates itself (an injected RFC 4733 event) into the
    /// outgoing stream at `now_us`: returns its sequence number (the newest sent + 1) and the
    /// stream's timestamp for `now_us` (the newest sent advanced by the time since, at least one
    /// tick). The caller writes the header with [`Restamper::out_ssrc`]; an RFC 4733 event keeps
    /// the timestamp of its first packet. The source relayed so far, when it sends again,
    /// continues as after a source change (sequence + 1, timestamp advanced by the gap, marker),
    /// and its stragglers are refused.
    pub fn generated(&mut self, now_us: u64) -> (u16, u32) {
        let ts = self.last_ts.wrapping_add(self.gap(now_us));
        self.started = true;
        self.last_seq = self.last_seq.wrapping_add(1);
        self.last_ts = ts;
        self.last_us = now_us;
        if let Some(cur) = self.current.take() {
            self.previous = Some(cur);
        }
        (self.last_seq, ts)
    }
}

/// `true` when `seq` is not newer than `max` in RFC 3550 serial-number order.
fn seq_newer_or_equal(max: u16, seq: u16) -> bool {
    (seq.wrapping_sub(max) as i16) <= 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0; 12 + 160];
        rtp::write_header(&mut p, 0, false, seq, ts, ssrc);
        p
    }

    fn run(r: &mut Restamper, seq: u16, ts: u32, ssrc: u32, now_us: u64) -> Option<rtp::RtpHeader> {
        let mut p = pkt(seq, ts, ssrc);
        r.rewrite(&mut p, now_us).then(|| rtp::parse(&p).unwrap())
    }

    #[test]
    fn first_source_starts_at_the_given_seq_and_ts_with_the_marker() {
        let mut r = Restamper::new(0xabc, 8000, 1000, 5000);
        let h = run(&mut r, 40_000, 123, 7, 0).unwrap();
        assert_eq!((h.ssrc, h.seq, h.ts, h.marker), (0xabc, 1000, 5000, true));
        let h = run(&mut r, 40_001, 283, 7, 20_000).unwrap();
        assert_eq!((h.seq, h.ts, h.marker), (1001, 5160, false));
    }

    #[test]
    fn a_new_source_continues_seq_and_jumps_ts_by_the_arrival_gap() {
        let mut r = Restamper::new(1, 8000, 10, 0);
        for i in 0..5u16 {
            run(
                &mut r,
                100 + i,
                160 * u32::from(i),
                7,
                u64::from(i) * 20_000,
            )
            .unwrap();
        }
        // Last packet: seq 14, ts 640 at 80 ms. The new source's first packet comes at 300 ms.
        let h = run(&mut r, 9, 999_999, 8, 300_000).unwrap();
        assert_eq!(h.seq, 15);
        assert_eq!(h.ts, 640 + 220 * 8);
        assert!(h.marker);
        let h = run(&mut r, 10, 999_999 + 160, 8, 320_000).unwrap();
        assert_eq!((h.seq, h.ts, h.marker), (16, 640 + 1760 + 160, false));
    }

    #[test]
    fn sequence_wrap_and_reordering_within_a_source_keep_the_offset() {
        let mut r = Restamper::new(1, 8000, 500, 0);
        assert_eq!(run(&mut r, 65534, 0, 7, 0).unwrap().seq, 500);
        assert_eq!(run(&mut r, 0, 320, 7, 40_000).unwrap().seq, 502);
        // 65535 arrives late: it keeps its place.
        assert_eq!(run(&mut r, 65535, 160, 7, 41_000).unwrap().seq, 501);
        assert_eq!(run(&mut r, 1, 480, 7, 60_000).unwrap().seq, 503);
        // A change after reordering continues from the newest, not the latest arrived.
        let h = run(&mut r, 77, 0, 9, 80_000).unwrap();
        assert_eq!(h.seq, 504);
    }

    #[test]
    fn stragglers_of_the_previous_source_are_refused_but_a_real_return_is_a_new_change() {
        let mut r = Restamper::new(1, 8000, 0, 0);
        run(&mut r, 10, 0, 7, 0).unwrap();
        run(&mut r, 11, 160, 7, 20_000).unwrap();
        run(&mut r, 500, 0, 8, 40_000).unwrap();
        assert!(
            run(&mut r, 11, 160, 7, 41_000).is_none(),
            "late duplicate of old source"
        );
        let h = run(&mut r, 12, 320, 7, 60_000).unwrap();
        assert_eq!(h.seq, 3);
        assert!(h.marker);
    }

    #[test]
    fn generated_packets_continue_the_stream_and_the_source_resumes_after_them() {
        let mut r = Restamper::new(9, 8000, 100, 0);
        run(&mut r, 50, 1000, 7, 0).unwrap();
        run(&mut r, 51, 1160, 7, 20_000).unwrap();
        // An event generated 10 ms after the newest packet, then updates every 20 ms.
        assert_eq!(r.generated(30_000), (102, 160 + 80));
        assert_eq!(r.generated(50_000), (103, 240 + 160));
        assert!(r.source_ssrc().is_none());
        // A straggler of the source is refused; its next packet resumes with the marker.
        assert!(run(&mut r, 51, 1160, 7, 55_000).is_none());
        let h = run(&mut r, 54, 1640, 7, 70_000).unwrap();
        assert_eq!((h.ssrc, h.seq, h.ts, h.marker), (9, 104, 400 + 160, true));
        let h = run(&mut r, 55, 1800, 7, 90_000).unwrap();
        assert_eq!((h.seq, h.ts, h.marker), (105, 720, false));
    }

    #[test]
    fn a_generated_packet_first_starts_the_stream_where_it_was_told() {
        let mut r = Restamper::new(9, 8000, 100, 5000);
        assert_eq!(r.generated(1_000_000), (100, 5000));
        let h = run(&mut r, 7, 0, 3, 1_020_000).unwrap();
        assert_eq!((h.seq, h.ts), (101, 5160));
    }

    #[test]
    fn garbage_is_refused() {
        let mut r = Restamper::new(1, 8000, 0, 0);
        assert!(!r.rewrite(&mut [0u8; 5], 0));
        assert!(r.source_ssrc().is_none());
    }

    proptest::proptest! {
        #[test]
        fn outgoing_seq_is_continuous_across_any_in_order_source_changes(
            changes in proptest::collection::vec((proptest::num::u16::ANY, 1usize..20), 1..10)
        ) {
            let mut r = Restamper::new(5, 8000, 100, 0);
            let mut expect = 100u16;
            let mut now = 0u64;
            let mut last_ts = None::<u32>;
            for (i, (seq0, n)) in changes.into_iter().enumerate() {
                let ssrc = 1000 + i as u32;
                for k in 0..n {
                    now += 20_000;
                    let h = run(&mut r, seq0.wrapping_add(k as u16), 160 * k as u32, ssrc, now).unwrap();
                    proptest::prop_assert_eq!(h.seq, expect);
                    proptest::prop_assert_eq!(h.ssrc, 5);
                    if let Some(t) = last_ts {
                        let step = h.ts.wrapping_sub(t);
                        proptest::prop_assert!(step == 160, "step {}", step);
                    }
                    last_ts = Some(h.ts);
                    expect = expect.wrapping_add(1);
                }
            }
        }
    }
}
