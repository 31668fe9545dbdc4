//! ITU-T G.711 A-law and µ-law, written after the Sun reference code (`g711.c`) and made to agree
//! bit for bit with the ITU-T G.191 reference (checked against `ezk-g711` for every input).
//!
//! Decoding goes through two 256-entry tables built at compile time; encoding is the reference
//! segment search (a few compares per sample, no table).

const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const BIAS: i32 = 0x84;
const CLIP: i32 = 8159;

const fn search(val: i32, table: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if val <= table[i] {
            return i;
        }
        i += 1;
    }
    8
}

/// Encodes one linear 16-bit sample as A-law.
#[must_use]
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask;
    if pcm >= 0 {
        mask = 0xD5;
    } else {
        mask = 0x55;
        pcm = -pcm - 1;
    }
    let seg = search(pcm, &SEG_AEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (pcm >> 1) & 0xF;
    } else {
        aval |= (pcm >> seg) & 0xF;
    }
    (aval ^ mask) as u8
}

const fn alaw_to_linear_slow(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0xF) << 4;
    let seg = (a & 0x70) >> 4;
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

/// Encodes one linear 16-bit sample as µ-law.
#[must_use]
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    // Negative samples use the one's complement, as the ITU-T G.191 reference does (Sun's
    // g711.c negates instead, which moves some decision thresholds by one).
    let mut pcm;
    let mask;
    if sample < 0 {
        pcm = (!sample as i32) >> 2;
        mask = 0x7F;
    } else {
        pcm = (sample as i32) >> 2;
        mask = 0xFF;
    }
    if pcm > CLIP {
        pcm = CLIP;
    }
    pcm += BIAS >> 2;
    let seg = search(pcm, &SEG_UEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let uval = ((seg as i32) << 4) | ((pcm >> (seg + 1)) & 0xF);
    (uval ^ mask) as u8
}

const fn ulaw_to_linear_slow(code: u8) -> i16 {
    let u = (!code) as i32;
    let mut t = ((u & 0xF) << 3) + BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

const fn build(ulaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if ulaw {
            ulaw_to_linear_slow(i as u8)
        } else {
            alaw_to_linear_slow(i as u8)
        };
        i += 1;
    }
    table
}

static ALAW_TO_LINEAR: [i16; 256] = build(false);
static ULAW_TO_LINEAR: [i16; 256] = build(true);

/// Decodes one A-law byte.
#[must_use]
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one µ-law byte.
#[must_use]
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Which G.711 companding law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// A-law (PCMA, RTP payload type 8; WAV format tag 6).
    A,
    /// µ-law (PCMU, RTP payload type 0; WAV format tag 7).
    Mu,
}

impl Law {
    /// Encodes one sample.
    #[must_use]
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Law::A => linear_to_alaw(sample),
            Law::Mu => linear_to_ulaw(sample),
        }
    }

    /// Decodes one byte.
    #[must_use]
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Law::A => alaw_to_linear(code),
            Law::Mu => ulaw_to_linear(code),
        }
    }

    /// Encodes `min(input.len(), out.len())` samples; returns how many were written.
    pub fn encode(self, input: &[i16], out: &mut [u8]) -> usize {
        let n = input.len().min(out.len());
        for (o, &s) in out.iter_mut().zip(&input[..n]) {
            *o = self.encode_sample(s);
        }
        n
    }

    /// Decodes `min(input.len(), out.len())` bytes; returns how many samples were written.
    pub fn decode(self, input: &[u8], out: &mut [i16]) -> usize {
        let n = input.len().min(out.len());
        let table = match self {
            Law::A => &ALAW_TO_LINEAR,
            Law::Mu => &ULAW_TO_LINEAR,
        };
        for (o, &c) in out.iter_mut().zip(&input[..n]) {
            *o = table[usize::from(c)];
        }
        n
    }

    /// The WAV `wFormatTag` for this law.
    #[must_use]
    pub fn wav_format_tag(self) -> u16 {
        match self {
            Law::A => 6,
            Law::Mu => 7,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn every_ulaw_code_except_negative_zero_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(code));
            // 0x7F (negative zero) decodes to 0, which encodes as positive zero 0xFF.
            let expect = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, expect, "code {code:#04x}");
        }
    }

    #[test]
    fn every_sample_and_code_matches_the_ezk_g711_reference() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(
                linear_to_alaw(s),
                ezk_g711::alaw::encode(s),
                "A-law encode {s}"
            );
            assert_eq!(
                linear_to_ulaw(s),
                ezk_g711::mulaw::encode(s),
                "µ-law encode {s}"
            );
        }
        for c in 0..=255u8 {
            assert_eq!(
                alaw_to_linear(c),
                ezk_g711::alaw::decode(c),
                "A-law decode {c:#04x}"
            );
            assert_eq!(
                ulaw_to_linear(c),
                ezk_g711::mulaw::decode(c),
                "µ-law decode {c:#04x}"
            );
        }
    }

    #[test]
    fn known_reference_values_match_the_itu_tables() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    proptest! {
        #[test]
        fn companding_error_stays_within_the_segment_step(s in any::<i16>()) {
            for law in [Law::A, Law::Mu] {
                let back = i32::from(law.decode_sample(law.encode_sample(s)));
                let err = (back - i32::from(s)).abs();
                // In every segment the step is at most 1/16 of the segment's lowest magnitude, so the
                // error (half a step) is at most |s|/32 plus the first segments' 8; µ-law also clips
                // above 32124.
                let bound = if i32::from(s).abs() > 32_000 { 700 } else { i32::from(s).abs() / 32 + 16 };
                prop_assert!(err <= bound, "{law:?} {s} -> {back}");
            }
        }
    }
}
