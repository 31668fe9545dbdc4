//! Zero-copy RTP header view (RFC 3550 §5.1), in-place setters, RTCP demultiplexing for
//! rtcp-mux (RFC 5761 §4) and SSRC re-mapping of relayed RTCP compound packets.

/// Fixed RTP header length (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;

/// The fields of an RTP header, read from a packet without copying its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// P bit: the packet ends with padding octets.
    pub padding: bool,
    /// X bit: a header extension follows the CSRC list.
    pub extension: bool,
    /// CC: number of CSRC identifiers.
    pub csrc_count: u8,
    /// M bit.
    pub marker: bool,
    /// PT, 7 bits.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload from the start of the packet (after CSRCs and extension).
    pub payload_offset: usize,
    /// Payload length without padding.
    pub payload_len: usize,
}

impl RtpHeader {
    /// The payload range within the packet this header was parsed from.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

/// Parses an RTP header. `None` when the packet is shorter than its header says, the version is
/// not 2, or the padding count is impossible. Never panics.
pub fn parse(pkt: &[u8]) -> Option<RtpHeader> {
    if pkt.len() < FIXED_HEADER_LEN || pkt[0] >> 6 != 2 {
        return None;
    }
    let padding = pkt[0] & 0x20 != 0;
    let extension = pkt[0] & 0x10 != 0;
    let csrc_count = pkt[0] & 0x0f;
    let mut offset = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
    if extension {
        // RFC 3550 §5.3.1: 16-bit profile id, 16-bit length in 32-bit words.
        let ext = pkt.get(offset..offset + 4)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        offset += 4 + 4 * words;
    }
    if offset > pkt.len() {
        return None;
    }
    let pad = if padding {
        let count = usize::from(*pkt.last()?);
        if count == 0 || count > pkt.len() - offset {
            return None;
        }
        count
    } else {
        0
    };
    Some(RtpHeader {
        padding,
        extension,
        csrc_count,
        marker: pkt[1] & 0x80 != 0,
        pt: pkt[1] & 0x7f,
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        ts: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        ssrc: u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]),
        payload_offset: offset,
        payload_len: pkt.len() - offset - pad,
    })
}

/// Sets the payload type (7 bits), keeping the marker. No-op on a buffer shorter than 12 bytes.
pub fn set_pt(pkt: &mut [u8], pt: u8) {
    if let Some(b) = pkt.get_mut(1) {
        *b = (*b & 0x80) | (pt & 0x7f);
    }
}

/// Sets or clears the marker bit.
pub fn set_marker(pkt: &mut [u8], marker: bool) {
    if let Some(b) = pkt.get_mut(1) {
        *b = if marker { *b | 0x80 } else { *b & 0x7f };
    }
}

/// Sets the sequence number.
pub fn set_seq(pkt: &mut [u8], seq: u16) {
    if let Some(b) = pkt.get_mut(2..4) {
        b.copy_from_slice(&seq.to_be_bytes());
    }
}

/// Sets the RTP timestamp.
pub fn set_ts(pkt: &mut [u8], ts: u32) {
    if let Some(b) = pkt.get_mut(4..8) {
        b.copy_from_slice(&ts.to_be_bytes());
    }
}

/// Sets the SSRC.
pub fn set_ssrc(pkt: &mut [u8], ssrc: u32) {
    if let Some(b) = pkt.get_mut(8..12) {
        b.copy_from_slice(&ssrc.to_be_bytes());
    }
}

/// Writes a 12-byte RTP header (no CSRC, no extension, no padding) into `out[..12]`.
/// Returns `false` when `out` is too short.
pub fn write_header(out: &mut [u8], pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> bool {
    let Some(h) = out.get_mut(..FIXED_HEADER_LEN) else {
        return false;
    };
    h[0] = 0x80;
    h[1] = (pt & 0x7f) | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    true
}

/// RFC 5761 §4 demultiplexing on an rtcp-mux port: version 2 and a second octet in 200..=207
/// (SR, RR, SDES, BYE, APP, RTPFB, PSFB, XR) means RTCP; anything else is RTP.
pub fn is_rtcp(pkt: &[u8]) -> bool {
    pkt.len() >= 8 && pkt[0] >> 6 == 2 && (200..=207).contains(&pkt[1])
}

/// How to re-map the SSRCs of an RTCP compound packet relayed from one leg to the other.
///
/// RTP from leg A to leg B leaves with B's outgoing SSRC, so the RTCP that A sends about its own
/// stream must name that SSRC too (and its SR timestamp must be shifted the same way); reports
/// that A sends about the stream it receives (our SSRC towards A) must name the SSRC that B
/// really sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpMap {
    /// The SSRC the sender uses in its RTP (what the outgoing re-stamper currently maps).
    pub sender_from: u32,
    /// The SSRC that replaces it (the outgoing re-stamper's SSRC).
    pub sender_to: u32,
    /// Added (wrapping) to the RTP timestamp of a sender report.
    pub ts_offset: u32,
    /// Report blocks and feedback about this SSRC (our outgoing SSRC towards the sender) ...
    pub media_from: u32,
    /// ... are rewritten to this one (the SSRC the other side really sends), when known.
    pub media_to: Option<u32>,
}

/// Rewrites the SSRCs of an RTCP compound packet in place according to `map`.
///
/// Returns `false`, leaving the packet possibly partly rewritten, when the packet is malformed
/// (lengths do not add up) or when an SR/RR/feedback sender is not `map.sender_from`
/// (unmapped: the caller drops it).
pub fn rewrite_rtcp(pkt: &mut [u8], map: &RtcpMap) -> bool {
    let mut off = 0;
    if pkt.is_empty() {
        return false;
    }
    while off < pkt.len() {
        let Some(hdr) = pkt.get(off..off + 4) else {
            return false;
        };
        if hdr[0] >> 6 != 2 {
            return false;
        }
        let count = usize::from(hdr[0] & 0x1f);
        let pt = hdr[1];
        let len = 4 * (usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) + 1);
        let Some(body) = pkt.get_mut(off..off + len) else {
            return false;
        };
        let ok = match pt {
            // SR: sender info is 20 bytes after the SSRC, then report blocks.
            200 => {
                remap_sender(body, map)
                    && shift_u32(body, 16, map.ts_offset)
                    && remap_blocks(body, 28, count, map)
            }
            201 => remap_sender(body, map) && remap_blocks(body, 8, count, map),
            // SDES and BYE: rewrite the sender's own SSRC where it appears.
            202 | 203 => {
                let mut pos = 4;
                let mut ok = true;
                // BYE lists `count` SSRCs; SDES chunks start with one, only the first is checked.
                let n = if pt == 203 { count } else { count.min(1) };
                for _ in 0..n {
                    ok &= replace_if(body, pos, map.sender_from, map.sender_to);
                    pos += 4;
                }
                ok
            }
            // RTPFB / PSFB: sender SSRC, then media source SSRC.
            205 | 206 => remap_sender(body, map) && remap_media(body, 8, map),
            _ => true,
        };
        if !ok {
            return false;
        }
        off += len;
    }
    true
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn write_u32(b: &mut [u8], at: usize, v: u32) -> bool {
    match b.get_mut(at..at + 4) {
        Some(s) => {
            s.copy_from_slice(&v.to_be_bytes());
            true
        }
        None => false,
    }
}

fn remap_sender(body: &mut [u8], map: &RtcpMap) -> bool {
    match read_u32(body, 4) {
        Some(s) if s == map.sender_from => write_u32(body, 4, map.sender_to),
        _ => false,
    }
}

fn replace_if(body: &mut [u8], at: usize, from: u32, to: u32) -> bool {
    match read_u32(body, at) {
        Some(s) if s == from => write_u32(body, at, to),
        Some(_) => true,
        None => false,
    }
}

fn shift_u32(body: &mut [u8], at: usize, by: u32) -> bool {
    match read_u32(body, at) {
        Some(v) => write_u32(body, at, v.wrapping_add(by)),
        None => false,
    }
}

fn remap_media(body: &mut [u8], at: usize, map: &RtcpMap) -> bool {
    match (read_u32(body, at), map.media_to) {
        (Some(s), Some(to)) if s == map.media_from => write_u32(body, at, to),
        (Some(_), _) => true,
        (None, _) => false,
    }
}

fn remap_blocks(body: &mut [u8], start: usize, count: usize, map: &RtcpMap) -> bool {
    (0..count).all(|i| remap_media(body, start + 24 * i, map))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0; 12];
        assert!(write_header(&mut p, pt, false, seq, ts, ssrc));
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn plain_header_fields_are_read() {
        let p = packet(8, 0xfffe, 0xdead_beef, 0x0102_0304, &[1, 2, 3]);
        let h = parse(&p).unwrap();
        assert_eq!(
            (h.pt, h.seq, h.ts, h.ssrc),
            (8, 0xfffe, 0xdead_beef, 0x0102_0304)
        );
        assert_eq!((h.payload_offset, h.payload_len), (12, 3));
        assert!(!h.marker && !h.padding && !h.extension);
    }

    #[test]
    fn csrcs_extension_and_padding_move_the_payload() {
        let mut p = packet(0, 1, 2, 3, &[]);
        p[0] |= 0x20 | 0x10 | 2; // P, X, CC=2
        p.extend_from_slice(&[0; 8]); // 2 CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // extension of one word
        p.extend_from_slice(&[7, 7, 7]); // payload
        p.extend_from_slice(&[0, 0, 3]); // padding of 3
        let h = parse(&p).unwrap();
        assert_eq!(h.csrc_count, 2);
        assert_eq!(h.payload_offset, 12 + 8 + 8);
        assert_eq!(&p[h.payload_range()], &[7, 7, 7]);
    }

    #[test]
    fn bad_version_short_packets_and_bad_padding_are_rejected() {
        let mut p = packet(0, 1, 2, 3, &[1]);
        p[0] = 0x40;
        assert!(parse(&p).is_none());
        assert!(parse(&[0x80; 11]).is_none());
        let mut p = packet(0, 1, 2, 3, &[1, 200]);
        p[0] |= 0x20;
        assert!(parse(&p).is_none());
        let mut p = packet(0, 1, 2, 3, &[]);
        p[0] |= 0x0f; // 15 CSRCs that are not there
        assert!(parse(&p).is_none());
    }

    #[test]
    fn setters_change_only_their_field() {
        let mut p = packet(0, 1, 2, 3, &[5]);
        set_marker(&mut p, true);
        set_pt(&mut p, 101);
        set_seq(&mut p, 65535);
        set_ts(&mut p, 99);
        set_ssrc(&mut p, 42);
        let h = parse(&p).unwrap();
        assert!(h.marker);
        assert_eq!((h.pt, h.seq, h.ts, h.ssrc), (101, 65535, 99, 42));
        set_pt(&mut p, 0);
        assert!(parse(&p).unwrap().marker, "set_pt keeps the marker");
        assert_eq!(p[12], 5);
        set_seq(&mut [0u8; 2], 7); // short buffers are ignored, not a panic
    }

    #[test]
    fn rtcp_is_told_apart_from_rtp_on_a_muxed_port() {
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        assert!(!is_rtcp(&packet(0, 1, 2, 3, &[0; 160])));
        assert!(!is_rtcp(&packet(96, 1, 2, 3, &[0; 160])));
        let mut marked_pcmu = packet(0, 1, 2, 3, &[0; 160]);
        set_marker(&mut marked_pcmu, true);
        assert!(!is_rtcp(&marked_pcmu));
    }

    #[test]
    fn sender_report_and_its_block_are_remapped() {
        // SR with one report block, then SDES with one chunk.
        let mut p = vec![0x81, 200, 0, 12];
        p.extend_from_slice(&11u32.to_be_bytes()); // sender
        p.extend_from_slice(&[0; 8]); // NTP
        p.extend_from_slice(&1000u32.to_be_bytes()); // RTP ts
        p.extend_from_slice(&[0; 8]); // counts
        p.extend_from_slice(&77u32.to_be_bytes()); // block about our SSRC towards the sender
        p.extend_from_slice(&[0; 20]);
        p.extend_from_slice(&[0x81, 202, 0, 2]);
        p.extend_from_slice(&11u32.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        let map = RtcpMap {
            sender_from: 11,
            sender_to: 22,
            ts_offset: 5,
            media_from: 77,
            media_to: Some(88),
        };
        assert!(rewrite_rtcp(&mut p, &map));
        assert_eq!(read_u32(&p, 4), Some(22));
        assert_eq!(read_u32(&p, 16), Some(1005));
        assert_eq!(read_u32(&p, 28), Some(88));
        assert_eq!(read_u32(&p, 56), Some(22));
    }

    #[test]
    fn rtcp_from_an_unmapped_sender_or_with_bad_lengths_is_refused() {
        let mut rr = vec![0x80, 201, 0, 1, 0, 0, 0, 9];
        let map = RtcpMap {
            sender_from: 11,
            sender_to: 22,
            ts_offset: 0,
            media_from: 0,
            media_to: None,
        };
        assert!(!rewrite_rtcp(&mut rr, &map));
        let mut truncated = vec![0x80, 201, 0, 7, 0, 0, 0, 11];
        assert!(!rewrite_rtcp(&mut truncated, &map));
    }

    proptest::proptest! {
        #[test]
        fn parse_and_rewrite_never_panic(mut data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Some(h) = parse(&data) {
                proptest::prop_assert!(h.payload_offset + h.payload_len <= data.len());
            }
            let map = RtcpMap { sender_from: 1, sender_to: 2, ts_offset: 3, media_from: 4, media_to: Some(5) };
            let _ = rewrite_rtcp(&mut data, &map);
        }
    }
}
