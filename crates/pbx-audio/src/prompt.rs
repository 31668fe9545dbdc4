//! Turning an uploaded or installed audio file into an engine prompt (8 kHz mono).

use crate::error::AudioError;
use crate::resample::resample;
use crate::wav::{Pcm, decode_wav};

/// Decodes a WAV file of any kind [`decode_wav`] reads and converts it to 8 kHz mono. Nothing else
/// is changed (no level normalisation, no trimming).
///
/// # Errors
/// [`AudioError::UnknownFormat`] when the bytes are not WAV (MP3 is recognised and refused with
/// that error); otherwise as [`decode_wav`].
pub fn prompt_from_file(bytes: &[u8]) -> Result<Pcm, AudioError> {
    if looks_like_mp3(bytes) {
        return Err(AudioError::UnknownFormat(
            "MP3 is not supported; convert it to WAV",
        ));
    }
    if bytes.len() >= 4 && !matches!(&bytes[..4], b"RIFF" | b"RIFX" | b"RF64") {
        return Err(AudioError::UnknownFormat("not a WAV file"));
    }
    let pcm = decode_wav(bytes)?;
    resample(&pcm, 8000)
}

fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
}
