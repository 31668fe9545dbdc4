//! Pure audio for the media engine: prompts, music on hold, voicemail and recordings.
//!
//! Nothing here does I/O, reads a clock or spawns: files come in as `&[u8]` and go out as
//! `Vec<u8>`, and the server does the reading and writing. Telephony audio is 8 kHz mono `i16`
//! internally ([`codec::ENGINE_RATE`]); G.722 carries 16 kHz.
//!
//! - [`decode_wav`] reads WAV files of any rate, channel count and common encoding (PCM 8–32 bit,
//!   float, A-law, µ-law, WAV49 GSM, extensible) to mono [`Pcm`]; [`prompt_from_file`] also
//!   converts WAV or MP3 ([`decode_mp3`]) to 8 kHz.
//! - [`resample()`] / [`Resampler`]: windowed-sinc conversion between any rates.
//! - [`WavWriter`] writes PCM16, A-law/µ-law and WAV49 files piece by piece (for recorders);
//!   [`encode_wav_pcm16`], [`encode_wav_g711`], [`encode_wav49`] write whole files.
//! - [`FrameCodec`]: PCMU, PCMA and G.722 per 20 ms frame without allocation; [`g711`] and
//!   [`g722`] hold the codecs themselves.
//! - [`level`]: peak, RMS and single-frequency (Goertzel) levels in dBFS.
//!
//! # A recorder
//! The server owns the file; this crate only produces bytes. The header is written first with
//! sizes marked "not finalised" and rewritten in place at the end:
//! ```
//! use pbx_audio::{WavWriter, decode_wav};
//! let mut writer = WavWriter::wav49()?;            // or WavWriter::pcm16(8000, 2) for a leg per channel
//! let mut file = writer.provisional_header();       // server: write at offset 0
//! let mut chunk = Vec::with_capacity(4096);         // reused: no allocation per frame
//! for _ in 0..150 {                                 // 3 s of 20 ms frames from the mixer
//!     writer.write(&[0i16; 160], &mut chunk)?;
//!     file.extend_from_slice(&chunk);               // server: append
//!     chunk.clear();
//! }
//! writer.finish(&mut chunk);
//! file.extend_from_slice(&chunk);
//! file[..writer.header_len()].copy_from_slice(&writer.header()); // server: pwrite at offset 0
//! let pcm = decode_wav(&file)?;
//! assert_eq!(pcm.samples.len(), 24_000);
//! # Ok::<(), pbx_audio::AudioError>(())
//! ```
//!
//! # A leg's codec
//! ```
//! use pbx_audio::FrameCodec;
//! let mut codec = FrameCodec::from_encoding_name("G722").expect("known codec");
//! assert_eq!((codec.clock_rate(), codec.audio_rate()), (8000, 16_000)); // RFC 3551 §4.5.2
//! let engine_frame = [0i16; 160];                    // 20 ms at 8 kHz
//! let mut payload = [0u8; 160];
//! let n = codec.encode(&engine_frame, &mut payload)?;
//! let mut back = [0i16; 160];
//! assert_eq!(codec.decode(&payload[..n], &mut back)?, 160);
//! # Ok::<(), pbx_audio::AudioError>(())
//! ```

pub mod codec;
mod error;
pub mod g711;
pub mod g722;
pub mod gsm;
pub mod level;
mod mp3;
mod prompt;
pub mod resample;
pub mod wav;

pub use codec::FrameCodec;
pub use error::AudioError;
pub use mp3::decode_mp3;
pub use prompt::prompt_from_file;
pub use resample::{Resampler, resample};
pub use wav::{
    Pcm, WavEncoding, WavInfo, WavWriter, decode_wav, decode_wav49, encode_wav_g711,
    encode_wav_pcm16, encode_wav49, wav_info,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_send<T: Send>() {}

    #[test]
    fn per_call_state_can_move_between_threads() {
        is_send::<FrameCodec>();
        is_send::<Resampler>();
        is_send::<WavWriter>();
        is_send::<gsm::Wav49Decoder>();
    }

    proptest! {
        #[test]
        fn prompt_conversion_of_arbitrary_bytes_never_panics(head in 0usize..4, tail in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let prefix: &[u8] = [&b""[..], b"RIFF", b"ID3\x03", b"\xFF\xFB"][head];
            let _ = prompt_from_file(&[prefix, &tail].concat());
        }
    }
}
