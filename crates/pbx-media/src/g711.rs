//! ITU-T G.711 A-law and µ-law, with the segment/quantisation rules of the recommendation
//! (the widely used reference implementation's integer arithmetic), 256-entry decode tables and
//! direct A↔µ transcode tables, all built at compile time by `const fn`.
//!
//! Linear samples are 16-bit; A-law uses the top 13 bits and µ-law the top 14, as in G.711.

const SEG_A_END: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const SEG_U_END: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const U_BIAS: i32 = 0x84;
const U_CLIP: i32 = 8159;

const fn segment(val: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if val <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

/// Encodes one 16-bit linear sample to A-law (G.711 Table 1, even bits inverted).
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xd5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &SEG_A_END);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let quant = if seg < 2 { pcm >> 1 } else { pcm >> seg } & 0x0f;
    (((seg as i32) << 4) | quant) as u8 ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub const fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Encodes one 16-bit linear sample to µ-law (G.711 Table 2, all bits inverted).
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7f
    } else {
        0xff
    };
    if pcm > U_CLIP {
        pcm = U_CLIP;
    }
    pcm += U_BIAS >> 2;
    let seg = segment(pcm, &SEG_U_END);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let u = ((seg as i32) << 4) | ((pcm >> (seg + 1)) & 0x0f);
    u as u8 ^ mask
}

/// Decodes one µ-law byte to a 16-bit linear sample.
pub const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0f) as i32) << 3) + U_BIAS;
    t <<= ((u & 0x70) >> 4) as i32;
    (if u & 0x80 != 0 {
        U_BIAS - t
    } else {
        t - U_BIAS
    }) as i16
}

const fn build_decode(ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if ulaw {
            ulaw_to_linear(i as u8)
        } else {
            alaw_to_linear(i as u8)
        };
        i += 1;
    }
    t
}

/// A-law byte → linear sample.
pub static ALAW_DECODE: [i16; 256] = build_decode(false);
/// µ-law byte → linear sample.
pub static ULAW_DECODE: [i16; 256] = build_decode(true);

const fn build_transcode(from_ulaw: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if from_ulaw {
            linear_to_alaw(ulaw_to_linear(i as u8))
        } else {
            linear_to_ulaw(alaw_to_linear(i as u8))
        };
        i += 1;
    }
    t
}

/// A-law byte → µ-law byte (decode, then the µ-law level whose interval holds the value).
pub static ALAW_TO_ULAW: [u8; 256] = build_transcode(false);
/// µ-law byte → A-law byte.
pub static ULAW_TO_ALAW: [u8; 256] = build_transcode(true);

/// Transcodes an A-law payload to µ-law in place.
pub fn alaw_to_ulaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ALAW_TO_ULAW[usize::from(*b)];
    }
}

/// Transcodes a µ-law payload to A-law in place.
pub fn ulaw_to_alaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ULAW_TO_ALAW[usize::from(*b)];
    }
}

/// Decodes an A-law payload into `out` (as many samples as both hold).
pub fn decode_alaw(input: &[u8], out: &mut [i16]) {
    for (o, b) in out.iter_mut().zip(input) {
        *o = ALAW_DECODE[usize::from(*b)];
    }
}

/// Decodes a µ-law payload into `out` (as many samples as both hold).
pub fn decode_ulaw(input: &[u8], out: &mut [i16]) {
    for (o, b) in out.iter_mut().zip(input) {
        *o = ULAW_DECODE[usize::from(*b)];
    }
}

/// Encodes linear samples to A-law into `out`.
pub fn encode_alaw(input: &[i16], out: &mut [u8]) {
    for (o, s) in out.iter_mut().zip(input) {
        *o = linear_to_alaw(*s);
    }
}

/// Encodes linear samples to µ-law into `out`.
pub fn encode_ulaw(input: &[i16], out: &mut [u8]) {
    for (o, s) in out.iter_mut().zip(input) {
        *o = linear_to_ulaw(*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_table_values_match_g711() {
        // Smallest positive / negative levels, and the extremes.
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xfe), 8);
        // Silence codes.
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_ulaw(0), 0xff);
        // Saturation.
        assert_eq!(linear_to_alaw(i16::MAX), 0xaa);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2a);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn decode_then_encode_is_the_identity_for_every_code() {
        for c in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "A-law {c:#x}");
            // µ-law has two zeros (0x7f is "negative zero"); it re-encodes as 0xff.
            let want = if c == 0x7f { 0xff } else { c };
            assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), want, "µ-law {c:#x}");
        }
    }

    #[test]
    fn decode_tables_are_odd_symmetric_and_monotonic() {
        let mut a: Vec<i16> = ALAW_DECODE.to_vec();
        let mut u: Vec<i16> = ULAW_DECODE.to_vec();
        a.sort_unstable();
        u.sort_unstable();
        a.dedup();
        u.dedup();
        assert_eq!(a.len(), 256, "A-law has 256 distinct levels");
        assert_eq!(u.len(), 255, "µ-law has 255 distinct levels (two zeros)");
        for c in 0..=255u8 {
            assert_eq!(alaw_to_linear(c), -alaw_to_linear(c ^ 0x80));
            assert_eq!(ulaw_to_linear(c), -ulaw_to_linear(c ^ 0x80));
        }
    }

    /// The levels of `table` just below and just above `v` (either may be missing at the ends).
    fn bracket(table: &[i16; 256], v: i32) -> (Option<i32>, Option<i32>) {
        let lo = table
            .iter()
            .map(|&l| i32::from(l))
            .filter(|&l| l <= v)
            .max();
        let hi = table
            .iter()
            .map(|&l| i32::from(l))
            .filter(|&l| l >= v)
            .min();
        (lo, hi)
    }

    #[test]
    fn transcoding_lands_on_a_target_level_adjacent_to_the_decoded_value() {
        for c in 0..=255u8 {
            let v = i32::from(alaw_to_linear(c));
            let got = i32::from(ulaw_to_linear(ALAW_TO_ULAW[usize::from(c)]));
            let (lo, hi) = bracket(&ULAW_DECODE, v);
            assert!(Some(got) == lo || Some(got) == hi, "A {c:#x}: {v} -> {got}");
            let v = i32::from(ulaw_to_linear(c));
            let got = i32::from(alaw_to_linear(ULAW_TO_ALAW[usize::from(c)]));
            let (lo, hi) = bracket(&ALAW_DECODE, v);
            let sign_ok = c == 0x7f || c == 0xff || (got >= 0) == (v >= 0);
            assert!(sign_ok, "sign kept for µ {c:#x}");
            // µ-law's zero has no A-law level: ±8 are both adjacent.
            let zero = v == 0 && got.abs() == 8;
            assert!(
                zero || Some(got) == lo || Some(got) == hi,
                "µ {c:#x}: {v} -> {got}"
            );
        }
    }

    #[test]
    fn in_place_transcode_uses_the_tables() {
        let mut buf = [0xd5u8, 0x55, 0xaa, 0x2a];
        alaw_to_ulaw_in_place(&mut buf);
        assert_eq!(buf[2], 0x80);
        assert_eq!(buf[3], 0x00);
        ulaw_to_alaw_in_place(&mut buf);
        assert_eq!(buf, [0xd5, 0x55, 0xaa, 0x2a]);
    }

    proptest::proptest! {
        #[test]
        fn encoding_error_stays_within_half_a_step_plus_rounding(s in proptest::num::i16::ANY) {
            let a = i32::from(alaw_to_linear(linear_to_alaw(s)));
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let x = i32::from(s);
            // A-law step in the top segment is 1024, µ-law's 1024 too; errors scale with level.
            let bound = (x.abs() / 16).max(16);
            proptest::prop_assert!((a - x).abs() <= bound + 8, "A {} -> {}", x, a);
            let clipped = x.clamp(-32124, 32124);
            proptest::prop_assert!((u - clipped).abs() <= bound + 8, "µ {} -> {}", x, u);
        }
    }
}
