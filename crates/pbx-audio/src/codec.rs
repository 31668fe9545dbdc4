//! Per-leg frame codecs for the media engine: G.711 µ-law/A-law and G.722, 20 ms at a time.
//!
//! The media engine works on 8 kHz mono i16 ([`ENGINE_RATE`], [`ENGINE_FRAME_SAMPLES`] per 20 ms)
//! whatever the leg's codec. [`FrameCodec::encode`] takes engine samples and [`FrameCodec::decode`]
//! returns engine samples; for G.722 the codec resamples 8 ↔ 16 kHz inside (streaming, with about
//! 3.4 ms of filter delay each way).
//!
//! **The G.722 clock-rate quirk.** G.722 samples audio at 16 kHz, but RFC 3551 §4.5.2 fixes its
//! RTP clock rate at 8000 Hz (an error in RFC 1890 kept for compatibility), and SDP says
//! `a=rtpmap:9 G722/8000`. So for every codec here [`FrameCodec::clock_rate`] is 8000 and the RTP
//! timestamp advances by 160 per 20 ms ([`FrameCodec::timestamp_step`]), while
//! [`FrameCodec::audio_rate`] tells the rate of the audio inside the payload (16 000 for G.722).
//! Every codec here produces 160 payload bytes per 20 ms.

use crate::error::AudioError;
use crate::g711::Law;
use crate::g722::{G722Decoder, G722Encoder};
use crate::resample::Resampler;

/// Sample rate of the media engine's audio.
pub const ENGINE_RATE: u32 = 8000;
/// Engine samples per 20 ms frame.
pub const ENGINE_FRAME_SAMPLES: usize = 160;
/// Payload bytes per 20 ms for every codec of [`FrameCodec`].
pub const FRAME_BYTES: usize = 160;

/// G.722 state for one leg: both directions and their resamplers.
#[derive(Debug, Clone)]
pub struct G722Codec {
    encoder: G722Encoder,
    decoder: G722Decoder,
    up: Resampler,
    down: Resampler,
    wide: [i16; 2 * ENGINE_FRAME_SAMPLES],
}

impl G722Codec {
    fn new() -> Self {
        Self {
            encoder: G722Encoder::new(),
            decoder: G722Decoder::new(),
            up: Resampler::new(8000, 16_000).expect("8000 and 16000 are valid rates"),
            down: Resampler::new(16_000, 8000).expect("16000 and 8000 are valid rates"),
            wide: [0; 2 * ENGINE_FRAME_SAMPLES],
        }
    }
}

/// A leg's audio codec, encoding and decoding 8 kHz engine audio.
#[derive(Debug, Clone)]
pub enum FrameCodec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, static payload type 9 (boxed: it carries filter state).
    G722(Box<G722Codec>),
}

impl FrameCodec {
    /// A G.722 codec with fresh state.
    #[must_use]
    pub fn g722() -> Self {
        Self::G722(Box::new(G722Codec::new()))
    }

    /// The codec for an SDP encoding name (`PCMU`, `PCMA`, `G722`, any case).
    #[must_use]
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Self::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Self::Pcma)
        } else if name.eq_ignore_ascii_case("G722") {
            Some(Self::g722())
        } else {
            None
        }
    }

    /// The codec for a static RTP payload type (0, 8, 9).
    #[must_use]
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            9 => Some(Self::g722()),
            _ => None,
        }
    }

    /// The SDP encoding name.
    #[must_use]
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722(_) => "G722",
        }
    }

    /// The static RTP payload type (RFC 3551 table 4).
    #[must_use]
    pub fn static_payload_type(&self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
            Self::G722(_) => 9,
        }
    }

    /// The RTP/SDP clock rate: 8000 for all three, G.722 included (RFC 3551 §4.5.2; see the
    /// module documentation).
    #[must_use]
    pub fn clock_rate(&self) -> u32 {
        8000
    }

    /// The sampling rate of the audio inside the payload: 8000, or 16 000 for G.722.
    #[must_use]
    pub fn audio_rate(&self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::G722(_) => 16_000,
        }
    }

    /// RTP timestamp increment per 20 ms frame (160 for all three).
    #[must_use]
    pub fn timestamp_step(&self) -> u32 {
        self.clock_rate() / 50
    }

    /// Engine (8 kHz) samples per 20 ms frame: 160.
    #[must_use]
    pub fn samples_per_frame(&self) -> usize {
        ENGINE_FRAME_SAMPLES
    }

    /// Payload bytes for `samples` engine samples (equal counts for all three codecs).
    #[must_use]
    pub fn payload_len(&self, samples: usize) -> usize {
        samples
    }

    /// Encodes 8 kHz engine samples into `out`; returns the payload bytes written
    /// (`pcm.len()`). Any length works (10, 20, 30 ms …); never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` is shorter than `pcm`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, AudioError> {
        if out.len() < pcm.len() {
            return Err(AudioError::OutputTooSmall {
                needed: pcm.len(),
                available: out.len(),
            });
        }
        match self {
            Self::Pcmu => Ok(Law::Mu.encode(pcm, out)),
            Self::Pcma => Ok(Law::A.encode(pcm, out)),
            Self::G722(state) => {
                let mut written = 0;
                for chunk in pcm.chunks(ENGINE_FRAME_SAMPLES) {
                    let wide = state.up.process(chunk, &mut state.wide)?;
                    written += state
                        .encoder
                        .encode(&state.wide[..wide], &mut out[written..])?;
                }
                Ok(written)
            }
        }
    }

    /// Decodes a payload into 8 kHz engine samples; returns the samples written
    /// (`payload.len()`). Any payload length works; never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` is shorter than `payload`.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, AudioError> {
        if out.len() < payload.len() {
            return Err(AudioError::OutputTooSmall {
                needed: payload.len(),
                available: out.len(),
            });
        }
        match self {
            Self::Pcmu => Ok(Law::Mu.decode(payload, out)),
            Self::Pcma => Ok(Law::A.decode(payload, out)),
            Self::G722(state) => {
                let mut written = 0;
                for chunk in payload.chunks(FRAME_BYTES) {
                    let wide = state.decoder.decode(chunk, &mut state.wide)?;
                    written += state
                        .down
                        .process(&state.wide[..wide], &mut out[written..])?;
                }
                Ok(written)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::level::goertzel_dbfs;

    fn tone8k(freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (10_000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn round_trip(codec: &mut FrameCodec, input: &[i16]) -> Vec<i16> {
        let mut payload = [0u8; FRAME_BYTES];
        let mut frame = [0i16; ENGINE_FRAME_SAMPLES];
        let mut out = Vec::new();
        for chunk in input.chunks(ENGINE_FRAME_SAMPLES) {
            assert_eq!(codec.encode(chunk, &mut payload).unwrap(), FRAME_BYTES);
            assert_eq!(
                codec.decode(&payload, &mut frame).unwrap(),
                ENGINE_FRAME_SAMPLES
            );
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn every_codec_carries_a_1khz_tone_at_its_level_in_160_byte_frames() {
        let input = tone8k(1000.0, 8000);
        for mut codec in [FrameCodec::Pcmu, FrameCodec::Pcma, FrameCodec::g722()] {
            let out = round_trip(&mut codec, &input);
            let a = goertzel_dbfs(&input[2000..], 8000, 1000.0);
            let b = goertzel_dbfs(&out[2000..], 8000, 1000.0);
            assert!(
                (a - b).abs() < 1.0,
                "{}: {a:.2} → {b:.2}",
                codec.encoding_name()
            );
        }
    }

    #[test]
    fn g722_uses_an_8000_rtp_clock_for_16khz_audio() {
        let c = FrameCodec::g722();
        assert_eq!(
            (
                c.clock_rate(),
                c.audio_rate(),
                c.timestamp_step(),
                c.static_payload_type()
            ),
            (8000, 16_000, 160, 9)
        );
        let u = FrameCodec::Pcmu;
        assert_eq!(
            (
                u.clock_rate(),
                u.audio_rate(),
                u.timestamp_step(),
                u.static_payload_type()
            ),
            (8000, 8000, 160, 0)
        );
    }

    #[test]
    fn codecs_are_found_by_sdp_name_and_payload_type() {
        assert_eq!(
            FrameCodec::from_encoding_name("pcma")
                .unwrap()
                .static_payload_type(),
            8
        );
        assert_eq!(
            FrameCodec::from_static_payload_type(9)
                .unwrap()
                .encoding_name(),
            "G722"
        );
        assert!(FrameCodec::from_encoding_name("opus").is_none());
        assert!(FrameCodec::from_static_payload_type(18).is_none());
    }

    #[test]
    fn a_30ms_payload_decodes_to_240_samples() {
        let mut c = FrameCodec::g722();
        let mut out = [0i16; 240];
        assert_eq!(c.decode(&[0x55; 240], &mut out).unwrap(), 240);
        assert!(c.decode(&[0; 240], &mut [0; 100]).is_err());
    }
}
