//! Turning an uploaded or installed audio file into an engine prompt (8 kHz mono).

use crate::error::AudioError;
use crate::mp3::{decode_mp3, looks_like_mp3};
use crate::resample::resample;
use crate::wav::{Pcm, decode_wav};

/// Decodes an audio file (WAV of any kind [`decode_wav`] reads, or MP3) to mono and converts it
/// to 8 kHz. Nothing else is changed (no level normalisation, no trimming).
///
/// # Errors
/// [`AudioError::UnknownFormat`] when the bytes are neither RIFF/WAV nor MP3; otherwise as
/// [`decode_wav`] or [`decode_mp3`].
pub fn prompt_from_file(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let pcm = if looks_like_mp3(bytes) {
        decode_mp3(bytes)?
    } else if bytes.len() < 4 || matches!(&bytes[..4], b"RIFF" | b"RIFX" | b"RF64") {
        decode_wav(bytes)?
    } else {
        return Err(AudioError::UnknownFormat("neither WAV nor MP3"));
    };
    resample(&pcm, 8000)
}
