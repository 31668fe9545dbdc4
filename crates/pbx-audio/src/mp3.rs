//! MP3 decoding for uploaded prompts and music on hold, through `symphonia` (pure Rust, MP3 only).

use crate::error::AudioError;
use crate::wav::{MAX_RATE, Pcm};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Whether the bytes start like an MP3 file (an ID3v2 tag or an MPEG audio frame sync).
#[must_use]
pub(crate) fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
}

fn mp3_error(e: &SymError) -> AudioError {
    AudioError::Mp3(e.to_string())
}

/// Decodes an MP3 file to mono 16-bit PCM at its own sample rate (channels averaged; encoder
/// delay and padding removed where the file says how much, LAME/Xing "gapless" info).
///
/// # Errors
/// [`AudioError::Mp3`] when the bytes are not decodable MPEG audio, or decode to nothing.
pub fn decode_mp3(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let source = std::io::Cursor::new(bytes.to_vec());
    let stream = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let format_options = FormatOptions {
        enable_gapless: true,
        ..FormatOptions::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_options, &MetadataOptions::default())
        .map_err(|e| mp3_error(&e))?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| AudioError::Mp3("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| mp3_error(&e))?;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut samples = Vec::new();
    let mut interleaved: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(mp3_error(&e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged frame is skipped, as players do.
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(mp3_error(&e)),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let needed = decoded.capacity() as u64 * channels as u64;
        let buf = match interleaved.as_mut() {
            Some(b) if b.capacity() as u64 >= needed => b,
            _ => interleaved.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks_exact(channels) {
            let mean = frame.iter().sum::<f32>() / channels as f32;
            samples.push((mean * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
        }
    }
    if rate == 0 || rate > MAX_RATE {
        return Err(AudioError::BadSampleRate(rate));
    }
    if samples.is_empty() {
        return Err(AudioError::Mp3("no audio frames".into()));
    }
    Ok(Pcm { rate, samples })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_with_an_id3_prefix_is_refused_not_panicked_on() {
        assert!(matches!(
            decode_mp3(b"ID3\x04\0\0\0\0\0\0hello"),
            Err(AudioError::Mp3(_))
        ));
        assert!(decode_mp3(b"").is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_after_a_frame_sync_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let bytes = [&[0xFF, 0xFB, 0x90, 0x64][..], &tail].concat();
            let _ = decode_mp3(&bytes);
        }
    }
}
