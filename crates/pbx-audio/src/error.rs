//! The crate's error type.

/// What went wrong while reading, writing or converting audio.
///
/// Reading errors say which part of the file was wrong and where, so a `vpbx prompt add` can tell
/// the administrator exactly why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The input ended inside a structure that needs more bytes.
    #[error("truncated {what}: needs {needed} bytes at offset {offset}, only {available} present")]
    Truncated {
        /// Which structure was cut short (`"RIFF header"`, `"fmt chunk"`, `"data chunk"` …).
        what: &'static str,
        /// Byte offset where the structure starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The first bytes are not `RIFF....WAVE` (or the RIFF/RIFX/RF64 variant we do not read).
    #[error("not a WAV file: {0}")]
    NotWav(&'static str),
    /// A WAV file without a `fmt ` chunk before its `data` chunk.
    #[error("WAV file has no fmt chunk before the data chunk")]
    MissingFmt,
    /// A WAV file without a `data` chunk.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// The `fmt ` chunk describes an encoding this crate does not decode.
    #[error(
        "unsupported WAV encoding: format tag {format_tag:#06x}, {bits_per_sample} bits per sample"
    )]
    UnsupportedEncoding {
        /// `wFormatTag` (after resolving WAVE_FORMAT_EXTENSIBLE's sub-format).
        format_tag: u16,
        /// `wBitsPerSample`.
        bits_per_sample: u16,
    },
    /// The `fmt ` chunk holds contradictory or impossible values.
    #[error("invalid WAV fmt chunk: {0}")]
    BadFormat(&'static str),
    /// A sample rate this crate refuses (0, or above 768 kHz).
    #[error("unsupported sample rate {0} Hz")]
    BadSampleRate(u32),
    /// Input for a codec or writer that has the wrong shape (frame size, channel count …).
    #[error("bad input: {0}")]
    BadInput(&'static str),
    /// An output buffer too small for the frame.
    #[error("output buffer too small: needs {needed}, has {available}")]
    OutputTooSmall {
        /// Elements needed.
        needed: usize,
        /// Elements available.
        available: usize,
    },
    /// A WAV file cannot hold more than 4 GiB of data.
    #[error("WAV data would exceed the 4 GiB RIFF limit")]
    TooLong,
    /// The GSM 06.10 library failed (allocation or a corrupt frame).
    #[error("GSM 06.10: {0}")]
    Gsm(&'static str),
    /// An MP3 file that cannot be decoded (the decoder's own description).
    #[error("MP3: {0}")]
    Mp3(String),
    /// The input is neither a WAV file nor another format this crate reads.
    #[error("unrecognised audio file: {0}")]
    UnknownFormat(&'static str),
}
