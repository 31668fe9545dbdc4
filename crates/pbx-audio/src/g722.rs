//! ITU-T G.722 at 64 kbit/s (the mode RTP uses, RFC 3551 §4.5.2): 16 kHz audio, one byte per two
//! samples, so 320 samples ↔ 160 bytes per 20 ms.
//!
//! The code is the `libg722` algorithm (Steve Underwood's SpanDSP G.722, placed in the public
//! domain; based on the CMU 1993 codec) as translated to Rust in `ezk-g722` 0.1.2 (MIT), reduced
//! to the 64 kbit/s, 16 kHz, unpacked-octet mode and changed to write into caller buffers so a
//! 20 ms frame never allocates. A test checks it against `ezk-g722` output bit for bit.
//!
//! [`G722Encoder::encode_narrowband`] and [`G722Decoder::decode_narrowband`] are SpanDSP's
//! "8 kHz" mode: 8 kHz samples coded as the lower sub-band alone (the high band left constant,
//! or dropped), for transcoding to and from G.711 at a third of the cost of 16 kHz audio and a
//! resampler. Its price: without a coded high band the QMF's aliasing is not cancelled, so a
//! wideband decoder also plays a faint image at 8 kHz − f (about 40 dB down at 1 kHz, 20 dB at
//! 3 kHz).
//!
//! SpanDSP notice: "Written by Steve Underwood <steveu@coppice.org>, Copyright (C) 2005 Steve
//! Underwood. Despite my general liking of the GPL, I place my own contributions to this code in
//! the public domain for the benefit of all mankind." Based on a single channel G.722 codec which
//! is Copyright (c) CMU 1993, Computer Science, Speech Group, Chengxiang Lu and Alex Hauptmann.

use crate::error::AudioError;

/// Audio samples per 20 ms frame (16 kHz).
pub const G722_FRAME_SAMPLES: usize = 320;
/// Encoded bytes per 20 ms frame (64 kbit/s).
pub const G722_FRAME_BYTES: usize = 160;

static WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
static RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
static ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
static QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
static QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
static QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
static QMF_COEFFS: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
static WH: [i32; 3] = [0, -214, 798];
static RH2: [i32; 4] = [2, 1, 2, 1];
static Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
static ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
static ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
static IHN: [i32; 3] = [0, 1, 0];
static IHP: [i32; 3] = [0, 3, 2];

#[derive(Debug, Clone, Default)]
struct Band {
    s: i32,
    sp: i32,
    sz: i32,
    r: [i32; 3],
    a: [i32; 3],
    ap: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    b: [i32; 7],
    bp: [i32; 7],
    sg: [i32; 7],
    nb: i32,
    det: i32,
}

fn saturate(amp: i32) -> i32 {
    amp.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// Block 4: reconstruction, pole/zero predictor adaptation and prediction.
fn block4(band: &mut Band, d: i32) {
    band.d[0] = d;
    band.r[0] = saturate(band.s + d);
    band.p[0] = saturate(band.sz + d);

    // UPPOL2
    for i in 0..3 {
        band.sg[i] = band.p[i] >> 15;
    }
    let wd1 = saturate(band.a[1] << 2);
    let wd2 = (if band.sg[0] == band.sg[1] { -wd1 } else { wd1 }).min(32767);
    let mut wd3 = (wd2 >> 7) + if band.sg[0] == band.sg[2] { 128 } else { -128 };
    wd3 += (band.a[2] * 32512) >> 15;
    band.ap[2] = wd3.clamp(-12288, 12288);

    // UPPOL1
    band.sg[0] = band.p[0] >> 15;
    band.sg[1] = band.p[1] >> 15;
    let wd1 = if band.sg[0] == band.sg[1] { 192 } else { -192 };
    let wd2 = (band.a[1] * 32640) >> 15;
    band.ap[1] = saturate(wd1 + wd2);
    let wd3 = saturate(15360 - band.ap[2]);
    band.ap[1] = band.ap[1].clamp(-wd3, wd3);

    // UPZERO
    let wd1 = if d == 0 { 0 } else { 128 };
    band.sg[0] = d >> 15;
    for i in 1..7 {
        band.sg[i] = band.d[i] >> 15;
        let wd2 = if band.sg[i] == band.sg[0] { wd1 } else { -wd1 };
        let wd3 = (band.b[i] * 32640) >> 15;
        band.bp[i] = saturate(wd2 + wd3);
    }

    // DELAYA
    for i in (1..7).rev() {
        band.d[i] = band.d[i - 1];
        band.b[i] = band.bp[i];
    }
    for i in (1..3).rev() {
        band.r[i] = band.r[i - 1];
        band.p[i] = band.p[i - 1];
        band.a[i] = band.ap[i];
    }

    // FILTEP
    let wd1 = (band.a[1] * saturate(band.r[1] + band.r[1])) >> 15;
    let wd2 = (band.a[2] * saturate(band.r[2] + band.r[2])) >> 15;
    band.sp = saturate(wd1 + wd2);

    // FILTEZ
    band.sz = 0;
    for i in (1..7).rev() {
        let wd1 = saturate(band.d[i] + band.d[i]);
        band.sz += (band.b[i] * wd1) >> 15;
    }
    band.sz = saturate(band.sz);

    // PREDIC
    band.s = saturate(band.sp + band.sz);
}

/// Block 3, SCALEL / SCALEH: the quantiser scale from the log scale factor.
fn scale(nb: i32, shift_base: i32) -> i32 {
    let wd1 = (nb >> 6) & 31;
    let wd2 = shift_base - (nb >> 11);
    let wd3 = if wd2 < 0 {
        ILB[wd1 as usize] << -wd2
    } else {
        ILB[wd1 as usize] >> wd2
    };
    wd3 << 2
}

/// G.722 encoder state (64 kbit/s, 16 kHz in).
#[derive(Debug, Clone, Default)]
pub struct G722Encoder {
    x: [i32; 24],
    band: [Band; 2],
}

impl G722Encoder {
    /// A fresh encoder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes pairs of 16 kHz samples, one byte per pair; returns the bytes written
    /// (`pcm.len() / 2`). Never allocates.
    ///
    /// # Errors
    /// [`AudioError::BadInput`] for an odd number of samples; [`AudioError::OutputTooSmall`] when
    /// `out` holds fewer than `pcm.len() / 2` bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, AudioError> {
        if !pcm.len().is_multiple_of(2) {
            return Err(AudioError::BadInput(
                "G.722 encodes an even number of samples",
            ));
        }
        let n = pcm.len() / 2;
        if out.len() < n {
            return Err(AudioError::OutputTooSmall {
                needed: n,
                available: out.len(),
            });
        }
        for (pair, o) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            *o = self.encode_pair(pair[0], pair[1]);
        }
        Ok(n)
    }

    /// Encodes 8 kHz samples, one byte each, as G.722's lower sub-band alone (the high band
    /// carries a constant code): what SpanDSP's and Asterisk's "8 kHz" G.722 mode does. A
    /// wideband decoder plays it as 0–4 kHz audio at the samples' level; no QMF and no
    /// resampling, so it costs a fraction of [`G722Encoder::encode`] on upsampled audio.
    /// Never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` is shorter than `pcm`.
    pub fn encode_narrowband(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, AudioError> {
        if out.len() < pcm.len() {
            return Err(AudioError::OutputTooSmall {
                needed: pcm.len(),
                available: out.len(),
            });
        }
        for (&sample, o) in pcm.iter().zip(out.iter_mut()) {
            // The QMF halves the level of the low band; so does this.
            *o = 0xc0 | self.encode_low(i32::from(sample) >> 1) as u8;
        }
        Ok(pcm.len())
    }

    fn encode_pair(&mut self, a: i16, b: i16) -> u8 {
        // Transmit QMF
        self.x.copy_within(2.., 0);
        self.x[22] = i32::from(a);
        self.x[23] = i32::from(b);
        let (mut sumeven, mut sumodd) = (0, 0);
        for i in 0..12 {
            sumodd += self.x[2 * i] * QMF_COEFFS[i];
            sumeven += self.x[2 * i + 1] * QMF_COEFFS[11 - i];
        }
        let xlow = (sumeven + sumodd) >> 14;
        let xhigh = (sumeven - sumodd) >> 14;
        let ilow = self.encode_low(xlow);
        let ihigh = self.encode_high(xhigh);
        ((ihigh << 6) | ilow) as u8
    }

    /// The low band's 6-bit code for `xlow`, updating its state.
    fn encode_low(&mut self, xlow: i32) -> i32 {
        // Low band: SUBTRA, QUANTL
        let low = &mut self.band[0];
        let el = saturate(xlow - low.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 {
            if wd < (Q6[i] * low.det) >> 12 {
                break;
            }
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // INVQAL
        let ril = (ilow >> 2) as usize;
        let dlow = (low.det * QM4[ril]) >> 15;
        // LOGSCL, SCALEL
        low.nb = (((low.nb * 127) >> 7) + WL[RL42[ril] as usize]).clamp(0, 18432);
        low.det = scale(low.nb, 8);
        block4(low, dlow);
        ilow
    }

    /// The high band's 2-bit code for `xhigh`, updating its state.
    fn encode_high(&mut self, xhigh: i32) -> i32 {
        // High band: SUBTRA, QUANTH
        let high = &mut self.band[1];
        let eh = saturate(xhigh - high.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (564 * high.det) >> 12 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // INVQAH
        let dhigh = (high.det * QM2[ihigh as usize]) >> 15;
        // LOGSCH, SCALEH
        high.nb = (((high.nb * 127) >> 7) + WH[RH2[ihigh as usize] as usize]).clamp(0, 22528);
        high.det = scale(high.nb, 10);
        block4(high, dhigh);
        ihigh
    }
}

/// G.722 decoder state (64 kbit/s, 16 kHz out).
#[derive(Debug, Clone, Default)]
pub struct G722Decoder {
    x: [i32; 24],
    band: [Band; 2],
}

impl G722Decoder {
    /// A fresh decoder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes bytes to 16 kHz samples, two per byte; returns the samples written
    /// (`data.len() * 2`). Any byte sequence is valid G.722. Never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` holds fewer than `2 × data.len()` samples.
    pub fn decode(&mut self, data: &[u8], out: &mut [i16]) -> Result<usize, AudioError> {
        let n = data.len() * 2;
        if out.len() < n {
            return Err(AudioError::OutputTooSmall {
                needed: n,
                available: out.len(),
            });
        }
        for (&code, pair) in data.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(code);
            pair[0] = a;
            pair[1] = b;
        }
        Ok(n)
    }

    /// Decodes bytes to 8 kHz samples, one per byte, from G.722's lower sub-band alone (the
    /// high band, 4–8 kHz, is dropped): SpanDSP's and Asterisk's "8 kHz" G.722 mode. No QMF
    /// and no resampling, so it costs a fraction of [`G722Decoder::decode`] and a downsampler.
    /// Any byte sequence is valid. Never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` is shorter than `data`.
    pub fn decode_narrowband(&mut self, data: &[u8], out: &mut [i16]) -> Result<usize, AudioError> {
        if out.len() < data.len() {
            return Err(AudioError::OutputTooSmall {
                needed: data.len(),
                available: out.len(),
            });
        }
        for (&code, o) in data.iter().zip(out.iter_mut()) {
            // rlow is limited to 15 bits: doubling it fits (the QMF's gain of 2).
            *o = (self.decode_low(i32::from(code) & 0x3f) << 1) as i16;
        }
        Ok(data.len())
    }

    fn decode_byte(&mut self, code: u8) -> (i16, i16) {
        let code = i32::from(code);
        let rlow = self.decode_low(code & 0x3f);
        let ihigh = (code >> 6) & 0x3;

        // High band: INVQAH, RECONS, LIMIT
        let high = &mut self.band[1];
        let dhigh = (high.det * QM2[ihigh as usize]) >> 15;
        let rhigh = (dhigh + high.s).clamp(-16384, 16383);
        high.nb = (((high.nb * 127) >> 7) + WH[RH2[ihigh as usize] as usize]).clamp(0, 22528);
        high.det = scale(high.nb, 10);
        block4(high, dhigh);

        // Receive QMF
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut xout1, mut xout2) = (0, 0);
        for i in 0..12 {
            xout2 += self.x[2 * i] * QMF_COEFFS[i];
            xout1 += self.x[2 * i + 1] * QMF_COEFFS[11 - i];
        }
        (saturate(xout1 >> 11) as i16, saturate(xout2 >> 11) as i16)
    }

    /// The low band's reconstructed sample for its 6-bit code `wd1`, updating its state.
    fn decode_low(&mut self, wd1: i32) -> i32 {
        let wd2 = QM6[wd1 as usize];
        let ril = (wd1 >> 2) as usize;
        // Low band: INVQBL, RECONS, LIMIT
        let low = &mut self.band[0];
        let rlow = (low.s + ((low.det * wd2) >> 15)).clamp(-16384, 16383);
        // INVQAL
        let dlowt = (low.det * QM4[ril]) >> 15;
        // LOGSCL, SCALEL
        low.nb = (((low.nb * 127) >> 7) + WL[RL42[ril] as usize]).clamp(0, 18432);
        low.det = scale(low.nb, 8);
        block4(low, dlowt);
        rlow
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::level::goertzel_dbfs;
    use proptest::prelude::*;

    fn tone16k(freq: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 16_000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn a_1khz_tone_survives_a_g722_round_trip_at_its_level() {
        let input = tone16k(1000.0, 16_000, 10_000.0);
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut bytes = [0u8; G722_FRAME_BYTES];
        let mut frame = [0i16; G722_FRAME_SAMPLES];
        let mut output = Vec::new();
        for chunk in input.chunks(G722_FRAME_SAMPLES) {
            assert_eq!(enc.encode(chunk, &mut bytes).unwrap(), G722_FRAME_BYTES);
            assert_eq!(dec.decode(&bytes, &mut frame).unwrap(), G722_FRAME_SAMPLES);
            output.extend_from_slice(&frame);
        }
        let tail = &output[4000..];
        let level_in = goertzel_dbfs(&input[4000..], 16_000, 1000.0);
        let level_out = goertzel_dbfs(tail, 16_000, 1000.0);
        assert!(
            (level_in - level_out).abs() < 1.0,
            "{level_in:.2} → {level_out:.2}"
        );
        // Little energy elsewhere: total RMS close to the tone's.
        let rms = crate::level::rms_dbfs(tail);
        assert!(
            (rms - level_out).abs() < 0.5,
            "rms {rms:.2}, tone {level_out:.2}"
        );
    }

    #[test]
    fn a_7khz_tone_passes_because_g722_is_wideband() {
        let input = tone16k(7000.0, 8000, 8000.0);
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut bytes = vec![0u8; 4000];
        let mut out = vec![0i16; 8000];
        enc.encode(&input, &mut bytes).unwrap();
        dec.decode(&bytes, &mut out).unwrap();
        let loss = goertzel_dbfs(&input[2000..], 16_000, 7000.0)
            - goertzel_dbfs(&out[2000..], 16_000, 7000.0);
        assert!(loss.abs() < 3.0, "7 kHz lost {loss:.1} dB");
    }

    #[test]
    fn a_speech_like_signal_encodes_exactly_as_the_ezk_g722_reference_across_frames() {
        // A chirp with an envelope exercises the adaptive quantisers over the whole range.
        let pcm: Vec<i16> = (0..16_000)
            .map(|i| {
                let t = f64::from(i) / 16_000.0;
                let env = (std::f64::consts::PI * t).sin();
                (30_000.0 * env * (2.0 * std::f64::consts::PI * (100.0 + 3500.0 * t) * t).sin())
                    as i16
            })
            .collect();
        let mut reference = ezk_g722::libg722::encoder::Encoder::new(
            ezk_g722::libg722::Bitrate::Mode1_64000,
            false,
            false,
        );
        let mut ref_dec = ezk_g722::libg722::decoder::Decoder::new(
            ezk_g722::libg722::Bitrate::Mode1_64000,
            false,
            false,
        );
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut bytes = [0u8; G722_FRAME_BYTES];
        let mut frame = [0i16; G722_FRAME_SAMPLES];
        for chunk in pcm.chunks(G722_FRAME_SAMPLES) {
            enc.encode(chunk, &mut bytes).unwrap();
            assert_eq!(bytes.to_vec(), reference.encode(chunk));
            dec.decode(&bytes, &mut frame).unwrap();
            assert_eq!(frame.to_vec(), ref_dec.decode(&bytes));
        }
    }

    fn tone8k(freq: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn narrowband_g722_plays_on_a_wideband_decoder_at_its_level_and_back() {
        for freq in [300.0, 1000.0, 3000.0] {
            // 8 kHz in → G.722 → a phone's full decoder at 16 kHz.
            let input = tone8k(freq, 8000, 10_000.0);
            let mut enc = G722Encoder::new();
            let mut bytes = vec![0u8; 8000];
            assert_eq!(enc.encode_narrowband(&input, &mut bytes).unwrap(), 8000);
            let mut wide = vec![0i16; 16_000];
            G722Decoder::new().decode(&bytes, &mut wide).unwrap();
            let sent = goertzel_dbfs(&input[2000..], 8000, freq);
            let heard = goertzel_dbfs(&wide[4000..], 16_000, freq);
            assert!(
                (sent - heard).abs() < 1.0,
                "{freq} Hz: {sent:.2} → {heard:.2}"
            );
            // Without a coded high band the QMF's aliasing is not cancelled: the image at
            // 8 kHz − f stays low for speech frequencies and rises towards the band edge.
            let image = goertzel_dbfs(&wide[4000..], 16_000, 8000.0 - freq);
            let floor = if freq < 2000.0 { 40.0 } else { 18.0 };
            assert!(image < heard - floor, "{freq} Hz image at {image:.1} dBFS");
            // A phone's full encoder at 16 kHz → G.722 → 8 kHz out.
            let wide_in = tone16k(freq, 16_000, 10_000.0);
            let mut bytes = vec![0u8; 8000];
            G722Encoder::new().encode(&wide_in, &mut bytes).unwrap();
            let mut narrow = vec![0i16; 8000];
            let mut dec = G722Decoder::new();
            assert_eq!(dec.decode_narrowband(&bytes, &mut narrow).unwrap(), 8000);
            let sent = goertzel_dbfs(&wide_in[4000..], 16_000, freq);
            let heard = goertzel_dbfs(&narrow[2000..], 8000, freq);
            assert!(
                (sent - heard).abs() < 1.0,
                "{freq} Hz back: {sent:.2} → {heard:.2}"
            );
        }
        assert!(
            G722Encoder::new()
                .encode_narrowband(&[0; 4], &mut [0; 3])
                .is_err()
        );
        assert!(
            G722Decoder::new()
                .decode_narrowband(&[0; 4], &mut [0; 3])
                .is_err()
        );
    }

    #[test]
    fn an_odd_sample_count_and_short_outputs_are_refused() {
        let mut enc = G722Encoder::new();
        assert!(enc.encode(&[0; 3], &mut [0; 2]).is_err());
        assert!(enc.encode(&[0; 4], &mut [0; 1]).is_err());
        let mut dec = G722Decoder::new();
        assert!(dec.decode(&[0; 4], &mut [0; 7]).is_err());
    }

    proptest! {
        #[test]
        fn encoding_matches_the_ezk_g722_reference_bit_for_bit(pcm in proptest::collection::vec(any::<i16>(), 0..1200)) {
            let even = &pcm[..pcm.len() & !1];
            let mut reference = ezk_g722::libg722::encoder::Encoder::new(ezk_g722::libg722::Bitrate::Mode1_64000, false, false);
            let mut ours = G722Encoder::new();
            let mut out = vec![0u8; even.len() / 2];
            ours.encode(even, &mut out).unwrap();
            prop_assert_eq!(out, reference.encode(even));
        }

        #[test]
        fn decoding_matches_the_ezk_g722_reference_bit_for_bit(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut reference = ezk_g722::libg722::decoder::Decoder::new(ezk_g722::libg722::Bitrate::Mode1_64000, false, false);
            let mut ours = G722Decoder::new();
            let mut out = vec![0i16; data.len() * 2];
            ours.decode(&data, &mut out).unwrap();
            prop_assert_eq!(out, reference.decode(&data));
        }

        #[test]
        fn narrowband_decoding_matches_the_ezk_g722_eight_k_reference_bit_for_bit(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut reference = ezk_g722::libg722::decoder::Decoder::new(ezk_g722::libg722::Bitrate::Mode1_64000, false, true);
            let mut ours = G722Decoder::new();
            let mut out = vec![0i16; data.len()];
            ours.decode_narrowband(&data, &mut out).unwrap();
            prop_assert_eq!(out, reference.decode(&data));
        }

        #[test]
        fn decoding_any_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut dec = G722Decoder::new();
            let mut out = vec![0i16; data.len() * 2];
            prop_assert_eq!(dec.decode(&data, &mut out).unwrap(), data.len() * 2);
        }

        #[test]
        fn encoding_any_samples_never_panics(pcm in proptest::collection::vec(any::<i16>(), 0..2000)) {
            let even = &pcm[..pcm.len() & !1];
            let mut enc = G722Encoder::new();
            let mut out = vec![0u8; even.len() / 2];
            prop_assert_eq!(enc.encode(even, &mut out).unwrap(), even.len() / 2);
        }
    }
}
