//! WAV (RIFF/WAVE) reading and writing.
//!
//! Reading ([`decode_wav`]) accepts PCM 8/16/24/32-bit (and narrower valid bits in those
//! containers), IEEE float 32/64, A-law (tag 6), µ-law (tag 7), GSM 06.10 in the WAV49 packing
//! (tag 0x31) and `WAVE_FORMAT_EXTENSIBLE` wrapping any of the first four, at any sample rate up to
//! 768 kHz and any channel count (mixed down to mono).
//!
//! Writing is done with a [`WavWriter`], which never touches a file: it appends encoded bytes to a
//! caller's buffer and renders the header for the byte count written so far. A recorder writes
//! [`WavWriter::provisional_header`] at offset 0 when it starts, appends what
//! [`WavWriter::write`] produces, and at the end calls [`WavWriter::finish`], appends its bytes and
//! writes [`WavWriter::header`] at offset 0 (`pwrite`/`seek`). The header's length never changes
//! for a given writer ([`WavWriter::header_len`]), so the rewrite is in place. The first header
//! should be [`WavWriter::provisional_header`] (RIFF and data sizes 0): a file left like that by a
//! recorder that died before finalising is read by [`decode_wav`] up to the end of the file.

use crate::error::AudioError;
use crate::g711::Law;
use crate::gsm::{WAV49_BLOCK_BYTES, WAV49_BLOCK_SAMPLES, Wav49Decoder, Wav49Encoder};

/// Mono 16-bit linear audio at some sample rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pcm {
    /// Samples per second.
    pub rate: u32,
    /// The samples, mono.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// Length in milliseconds (rounded down). Zero when the rate is zero.
    #[must_use]
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.rate)
    }

    /// Length in seconds.
    #[must_use]
    pub fn duration_secs(&self) -> f64 {
        if self.rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// `wFormatTag` values this crate knows.
pub mod format_tag {
    /// Integer PCM.
    pub const PCM: u16 = 0x0001;
    /// IEEE float.
    pub const IEEE_FLOAT: u16 = 0x0003;
    /// G.711 A-law.
    pub const ALAW: u16 = 0x0006;
    /// G.711 µ-law.
    pub const MULAW: u16 = 0x0007;
    /// GSM 06.10 (Microsoft "WAV49" packing).
    pub const GSM610: u16 = 0x0031;
    /// `WAVE_FORMAT_EXTENSIBLE`; the real tag is in the sub-format GUID.
    pub const EXTENSIBLE: u16 = 0xFFFE;
}

/// Highest sample rate [`decode_wav`] accepts.
pub const MAX_RATE: u32 = 768_000;

/// What a WAV file holds, as read from its `fmt `, `fact` and `data` chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// The encoding's format tag, with `WAVE_FORMAT_EXTENSIBLE` resolved to its sub-format.
    pub format_tag: u16,
    /// Channel count.
    pub channels: u16,
    /// Sample rate.
    pub rate: u32,
    /// Bits per sample as stored (container size); 0 for GSM.
    pub bits_per_sample: u16,
    /// `nBlockAlign`.
    pub block_align: u16,
    /// Length of the data chunk used, in bytes.
    pub data_len: usize,
    /// Sample frames (per channel) the data holds: whole blocks only.
    pub frames: u64,
}

/// The extensible sub-format GUID after its first two bytes (KSDATAFORMAT_SUBTYPE_* suffix).
const GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

struct Parsed<'a> {
    info: WavInfo,
    data: &'a [u8],
    fact_samples: Option<u32>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

struct Fmt {
    tag: u16,
    channels: u16,
    rate: u32,
    block_align: u16,
    bits: u16,
}

fn parse_fmt(body: &[u8], offset: usize) -> Result<Fmt, AudioError> {
    if body.len() < 16 {
        return Err(AudioError::Truncated {
            what: "fmt chunk",
            offset,
            needed: 16,
            available: body.len(),
        });
    }
    let mut tag = u16_at(body, 0);
    let channels = u16_at(body, 2);
    let rate = u32_at(body, 4);
    let block_align = u16_at(body, 12);
    let bits = u16_at(body, 14);
    if tag == format_tag::EXTENSIBLE {
        if body.len() < 40 {
            return Err(AudioError::Truncated {
                what: "WAVE_FORMAT_EXTENSIBLE fmt chunk",
                offset,
                needed: 40,
                available: body.len(),
            });
        }
        if body[26..40] != GUID_TAIL {
            return Err(AudioError::UnsupportedEncoding {
                format_tag: tag,
                bits_per_sample: bits,
            });
        }
        tag = u16_at(body, 24);
    }
    if channels == 0 {
        return Err(AudioError::BadFormat("zero channels"));
    }
    if rate == 0 || rate > MAX_RATE {
        return Err(AudioError::BadSampleRate(rate));
    }
    if block_align == 0 {
        return Err(AudioError::BadFormat("zero block alignment"));
    }
    Ok(Fmt {
        tag,
        channels,
        rate,
        block_align,
        bits,
    })
}

/// Bytes per sample of one channel for the sample-per-frame encodings, validated.
fn container_bytes(fmt: &Fmt) -> Result<usize, AudioError> {
    let unsupported = AudioError::UnsupportedEncoding {
        format_tag: fmt.tag,
        bits_per_sample: fmt.bits,
    };
    if usize::from(fmt.block_align) % usize::from(fmt.channels) != 0 {
        return Err(AudioError::BadFormat(
            "block alignment is not a multiple of the channel count",
        ));
    }
    let container = usize::from(fmt.block_align) / usize::from(fmt.channels);
    let ok = match fmt.tag {
        format_tag::PCM => {
            (1..=4).contains(&container) && fmt.bits >= 1 && usize::from(fmt.bits) <= container * 8
        }
        format_tag::IEEE_FLOAT => {
            (container == 4 && fmt.bits == 32) || (container == 8 && fmt.bits == 64)
        }
        format_tag::ALAW | format_tag::MULAW => container == 1 && fmt.bits == 8,
        _ => false,
    };
    if ok { Ok(container) } else { Err(unsupported) }
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, AudioError> {
    if bytes.len() < 12 {
        if bytes.len() >= 4 && &bytes[..4] != b"RIFF" {
            return Err(AudioError::NotWav("missing RIFF signature"));
        }
        return Err(AudioError::Truncated {
            what: "RIFF header",
            offset: 0,
            needed: 12,
            available: bytes.len(),
        });
    }
    match &bytes[..4] {
        b"RIFF" => {}
        b"RIFX" => return Err(AudioError::NotWav("big-endian RIFX is not supported")),
        b"RF64" => return Err(AudioError::NotWav("RF64 is not supported")),
        _ => return Err(AudioError::NotWav("missing RIFF signature")),
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(AudioError::NotWav("RIFF form type is not WAVE"));
    }
    let riff_size = u32_at(bytes, 4);
    let mut pos = 12usize;
    let mut fmt: Option<Fmt> = None;
    let mut fact_samples = None;
    while bytes.len() - pos >= 8 {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(bytes, pos + 4);
        let body_start = pos + 8;
        let available = bytes.len() - body_start;
        let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
        if id == b"data" {
            let Some(fmt) = fmt else {
                return Err(AudioError::MissingFmt);
            };
            let unfinalised = size == u32::MAX || (size == 0 && riff_size == 0);
            let len = if unfinalised {
                available
            } else if size_usize > available {
                return Err(AudioError::Truncated {
                    what: "data chunk",
                    offset: body_start,
                    needed: size_usize,
                    available,
                });
            } else {
                size_usize
            };
            let data = &bytes[body_start..body_start + len];
            let frames = match fmt.tag {
                format_tag::GSM610 => (len / WAV49_BLOCK_BYTES) as u64 * WAV49_BLOCK_SAMPLES as u64,
                _ => (len / usize::from(fmt.block_align)) as u64,
            };
            let info = WavInfo {
                format_tag: fmt.tag,
                channels: fmt.channels,
                rate: fmt.rate,
                bits_per_sample: fmt.bits,
                block_align: fmt.block_align,
                data_len: len,
                frames,
            };
            return Ok(Parsed {
                info,
                data,
                fact_samples,
            });
        }
        if size_usize > available {
            return Err(AudioError::Truncated {
                what: if id == b"fmt " {
                    "fmt chunk"
                } else {
                    "chunk before the data chunk"
                },
                offset: body_start,
                needed: size_usize,
                available,
            });
        }
        let body = &bytes[body_start..body_start + size_usize];
        if id == b"fmt " {
            fmt = Some(parse_fmt(body, body_start)?);
        } else if id == b"fact" && body.len() >= 4 {
            fact_samples = Some(u32_at(body, 0));
        }
        // Chunks are padded to an even length; a missing pad byte at the very end is tolerated.
        pos = (body_start + size_usize + (size_usize & 1)).min(bytes.len());
    }
    if fmt.is_none() {
        Err(AudioError::MissingFmt)
    } else {
        Err(AudioError::MissingData)
    }
}

/// Reads a WAV file's format without decoding it.
///
/// # Errors
/// As [`decode_wav`], except that encodings it cannot decode are still described.
pub fn wav_info(bytes: &[u8]) -> Result<WavInfo, AudioError> {
    parse(bytes).map(|p| p.info)
}

/// One channel sample scaled to 16 bits, kept wider so channels can be summed.
fn read_sample(tag: u16, container: usize, b: &[u8]) -> i32 {
    match (tag, container) {
        (format_tag::PCM, 1) => (i32::from(b[0]) - 128) << 8,
        (format_tag::PCM, 2) => i32::from(i16::from_le_bytes([b[0], b[1]])),
        (format_tag::PCM, 3) => i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 16,
        (format_tag::PCM, _) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> 16,
        (format_tag::IEEE_FLOAT, 4) => {
            float_to_i32(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        (format_tag::IEEE_FLOAT, _) => float_to_i32(f64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])),
        (format_tag::ALAW, _) => i32::from(Law::A.decode_sample(b[0])),
        _ => i32::from(Law::Mu.decode_sample(b[0])),
    }
}

fn float_to_i32(x: f64) -> i32 {
    if x.is_nan() {
        return 0;
    }
    // Saturating float → int cast after clamping to the i16 range.
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i32
}

/// Decodes a WAV file to mono 16-bit PCM at the file's own sample rate.
///
/// Channels are averaged. Samples wider than 16 bits are truncated to 16; float samples are
/// clipped to full scale. A trailing partial sample frame is ignored.
///
/// # Errors
/// [`AudioError::NotWav`], [`AudioError::Truncated`], [`AudioError::MissingFmt`],
/// [`AudioError::MissingData`], [`AudioError::BadFormat`], [`AudioError::BadSampleRate`] or
/// [`AudioError::UnsupportedEncoding`] saying what is wrong with the bytes; [`AudioError::Gsm`]
/// if a GSM decoder cannot be created.
pub fn decode_wav(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let parsed = parse(bytes)?;
    let info = parsed.info;
    if info.format_tag == format_tag::GSM610 {
        return decode_wav49_data(&info, parsed.data, parsed.fact_samples);
    }
    let fmt = Fmt {
        tag: info.format_tag,
        channels: info.channels,
        rate: info.rate,
        block_align: info.block_align,
        bits: info.bits_per_sample,
    };
    let container = container_bytes(&fmt)?;
    let channels = usize::from(info.channels);
    let mut samples = Vec::with_capacity(parsed.data.len() / usize::from(info.block_align));
    // i64: 65 535 channels of full-scale samples overflow i32 once rounded.
    let n = i64::from(info.channels);
    let half = n / 2;
    for frame in parsed.data.chunks_exact(usize::from(info.block_align)) {
        if channels == 1 {
            samples.push(read_sample(fmt.tag, container, frame) as i16);
            continue;
        }
        let sum: i64 = frame
            .chunks_exact(container)
            .map(|b| i64::from(read_sample(fmt.tag, container, b)))
            .sum();
        // Round half away from zero; the mean of i16-range values stays in range.
        let mean = if sum >= 0 {
            (sum + half) / n
        } else {
            (sum - half) / n
        };
        samples.push(mean.clamp(-32768, 32767) as i16);
    }
    Ok(Pcm {
        rate: info.rate,
        samples,
    })
}

fn decode_wav49_data(info: &WavInfo, data: &[u8], fact: Option<u32>) -> Result<Pcm, AudioError> {
    if info.channels != 1 || usize::from(info.block_align) != WAV49_BLOCK_BYTES {
        return Err(AudioError::UnsupportedEncoding {
            format_tag: info.format_tag,
            bits_per_sample: info.bits_per_sample,
        });
    }
    let mut decoder = Wav49Decoder::new()?;
    let blocks = data.len() / WAV49_BLOCK_BYTES;
    let mut samples = vec![0i16; blocks * WAV49_BLOCK_SAMPLES];
    for (block, out) in data
        .chunks_exact(WAV49_BLOCK_BYTES)
        .zip(samples.chunks_exact_mut(WAV49_BLOCK_SAMPLES))
    {
        decoder.decode_block(block, out)?;
    }
    if let Some(n) = fact.and_then(|n| usize::try_from(n).ok()) {
        // The fact chunk holds the real length before the last block's padding.
        if n <= samples.len() && n + WAV49_BLOCK_SAMPLES > samples.len() {
            samples.truncate(n);
        }
    }
    Ok(Pcm {
        rate: info.rate,
        samples,
    })
}

/// Decodes a GSM 06.10 WAV ("WAV49", format tag 0x31) file.
///
/// # Errors
/// As [`decode_wav`]; [`AudioError::UnsupportedEncoding`] when the file is a WAV of another
/// encoding.
pub fn decode_wav49(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let parsed = parse(bytes)?;
    if parsed.info.format_tag != format_tag::GSM610 {
        return Err(AudioError::UnsupportedEncoding {
            format_tag: parsed.info.format_tag,
            bits_per_sample: parsed.info.bits_per_sample,
        });
    }
    decode_wav49_data(&parsed.info, parsed.data, parsed.fact_samples)
}

/// How a [`WavWriter`] encodes samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WavEncoding {
    /// 16-bit little-endian PCM (tag 1).
    Pcm16,
    /// G.711 (tag 6 for A-law, 7 for µ-law), 8 bits per sample.
    G711(Law),
    /// GSM 06.10 in the WAV49 packing (tag 0x31), 8 kHz mono only.
    Wav49,
}

/// Produces a WAV file piece by piece without doing any I/O (see the module documentation for
/// the write-header-twice protocol).
#[derive(Debug)]
pub struct WavWriter {
    encoding: WavEncoding,
    rate: u32,
    channels: u16,
    frames: u64,
    data_len: u64,
    gsm: Option<Wav49Encoder>,
}

/// Largest data chunk a RIFF file can describe once the header is counted.
const MAX_DATA: u64 = u32::MAX as u64 - 64;

impl WavWriter {
    /// A 16-bit PCM writer.
    #[must_use]
    pub fn pcm16(rate: u32, channels: u16) -> Self {
        Self {
            encoding: WavEncoding::Pcm16,
            rate,
            channels,
            frames: 0,
            data_len: 0,
            gsm: None,
        }
    }

    /// A G.711 A-law or µ-law writer.
    #[must_use]
    pub fn g711(law: Law, rate: u32, channels: u16) -> Self {
        Self {
            encoding: WavEncoding::G711(law),
            rate,
            channels,
            frames: 0,
            data_len: 0,
            gsm: None,
        }
    }

    /// A WAV49 (GSM 06.10) writer, 8000 Hz mono.
    ///
    /// # Errors
    /// [`AudioError::Gsm`] if libgsm cannot allocate its state.
    pub fn wav49() -> Result<Self, AudioError> {
        Ok(Self {
            encoding: WavEncoding::Wav49,
            rate: 8000,
            channels: 1,
            frames: 0,
            data_len: 0,
            gsm: Some(Wav49Encoder::new()?),
        })
    }

    /// The encoding.
    #[must_use]
    pub fn encoding(&self) -> WavEncoding {
        self.encoding
    }

    /// Length of [`WavWriter::header`]'s output; the same before and after writing.
    #[must_use]
    pub fn header_len(&self) -> usize {
        match self.encoding {
            WavEncoding::Pcm16 => 44,
            WavEncoding::G711(_) => 58,
            WavEncoding::Wav49 => 60,
        }
    }

    /// Bytes of sample data produced so far.
    #[must_use]
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Sample frames (per channel) accepted so far.
    #[must_use]
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The header (RIFF, `fmt `, `fact` for non-PCM, `data` chunk header) describing the data
    /// written so far. Write it at offset 0 before the data and again after [`WavWriter::finish`].
    #[must_use]
    pub fn header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(self.header_len());
        let data_len = u32::try_from(self.data_len).unwrap_or(u32::MAX);
        let pad = data_len & 1;
        let riff_len = u32::try_from(self.header_len() - 8)
            .unwrap_or(0)
            .saturating_add(data_len)
            .saturating_add(pad);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&riff_len.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(b"fmt ");
        let channels = u32::from(self.channels);
        let (tag, bits, block_align, avg, fmt_len): (u16, u16, u16, u32, u32) = match self.encoding
        {
            WavEncoding::Pcm16 => (
                format_tag::PCM,
                16,
                self.channels.saturating_mul(2),
                self.rate.saturating_mul(2 * channels),
                16,
            ),
            WavEncoding::G711(law) => (
                law.wav_format_tag(),
                8,
                self.channels,
                self.rate.saturating_mul(channels),
                18,
            ),
            WavEncoding::Wav49 => (format_tag::GSM610, 0, WAV49_BLOCK_BYTES as u16, 1625, 20),
        };
        h.extend_from_slice(&fmt_len.to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&self.channels.to_le_bytes());
        h.extend_from_slice(&self.rate.to_le_bytes());
        h.extend_from_slice(&avg.to_le_bytes());
        h.extend_from_slice(&block_align.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        match self.encoding {
            WavEncoding::Pcm16 => {}
            WavEncoding::G711(_) => h.extend_from_slice(&0u16.to_le_bytes()),
            WavEncoding::Wav49 => {
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&(WAV49_BLOCK_SAMPLES as u16).to_le_bytes());
            }
        }
        if self.encoding != WavEncoding::Pcm16 {
            h.extend_from_slice(b"fact");
            h.extend_from_slice(&4u32.to_le_bytes());
            h.extend_from_slice(&u32::try_from(self.frames).unwrap_or(u32::MAX).to_le_bytes());
        }
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        debug_assert_eq!(h.len(), self.header_len());
        h
    }

    /// The header a recorder writes first: like [`WavWriter::header`] but with the RIFF and data
    /// sizes both 0, which [`decode_wav`] reads as "not finalised, data runs to the end of the
    /// file", so a recording whose writer died is still readable.
    #[must_use]
    pub fn provisional_header(&self) -> Vec<u8> {
        let mut h = self.header();
        let len = h.len();
        h[4..8].fill(0);
        h[len - 4..].fill(0);
        h
    }

    /// Encodes interleaved samples and appends the bytes to `out` (no allocation once `out` has
    /// the capacity). A trailing partial frame of a multi-channel input is counted as written.
    ///
    /// # Errors
    /// [`AudioError::TooLong`] when the data would pass the 4 GiB RIFF limit; nothing is appended.
    pub fn write(&mut self, interleaved: &[i16], out: &mut Vec<u8>) -> Result<(), AudioError> {
        let added = match self.encoding {
            WavEncoding::Pcm16 => 2 * interleaved.len() as u64,
            WavEncoding::G711(_) => interleaved.len() as u64,
            WavEncoding::Wav49 => {
                let pending = self.gsm.as_ref().map_or(0, Wav49Encoder::pending) as u64;
                (pending + interleaved.len() as u64) / WAV49_BLOCK_SAMPLES as u64
                    * WAV49_BLOCK_BYTES as u64
            }
        };
        // Room for a final padded GSM block too.
        if self.data_len + added + WAV49_BLOCK_BYTES as u64 > MAX_DATA {
            return Err(AudioError::TooLong);
        }
        let before = out.len();
        match self.encoding {
            WavEncoding::Pcm16 => {
                out.reserve(interleaved.len() * 2);
                for s in interleaved {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            WavEncoding::G711(law) => out.extend(interleaved.iter().map(|&s| law.encode_sample(s))),
            WavEncoding::Wav49 => {
                if let Some(gsm) = self.gsm.as_mut() {
                    gsm.push(interleaved, out);
                }
            }
        }
        self.data_len += (out.len() - before) as u64;
        self.frames += (interleaved.len() / usize::from(self.channels.max(1))) as u64;
        Ok(())
    }

    /// Takes back the last `bytes` of data written (bytes that never reached the file, e.g. a
    /// write refused by a full disk), so that [`WavWriter::header`] describes what did. Whole
    /// frames only; PCM and G.711 (a GSM encoder's state cannot go back: `false` for WAV49, and
    /// for more bytes than were written).
    pub fn unwrite(&mut self, bytes: u64) -> bool {
        let frame = match self.encoding {
            WavEncoding::Pcm16 => 2 * u64::from(self.channels.max(1)),
            WavEncoding::G711(_) => u64::from(self.channels.max(1)),
            WavEncoding::Wav49 => return false,
        };
        if bytes > self.data_len || !bytes.is_multiple_of(frame) {
            return false;
        }
        self.data_len -= bytes;
        self.frames -= bytes / frame;
        true
    }

    /// Flushes what an encoder still holds (WAV49: the last block, zero-padded) into `out`, then
    /// the RIFF pad byte if the data length is odd (not counted in [`WavWriter::data_len`]).
    /// [`WavWriter::header`] is final afterwards. Call once.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(gsm) = self.gsm.as_mut() {
            let before = out.len();
            gsm.flush(out);
            self.data_len += (out.len() - before) as u64;
        }
        if self.data_len & 1 == 1 {
            out.push(0);
        }
    }

    /// Convenience: a whole file (header and data) from interleaved samples.
    ///
    /// # Errors
    /// [`AudioError::TooLong`] as [`WavWriter::write`].
    pub fn encode_all(mut self, interleaved: &[i16]) -> Result<Vec<u8>, AudioError> {
        let mut data = Vec::with_capacity(interleaved.len() * 2 + 64);
        self.write(interleaved, &mut data)?;
        self.finish(&mut data);
        let mut file = self.header();
        file.extend_from_slice(&data);
        Ok(file)
    }
}

/// A whole 16-bit PCM WAV file. Inputs past the 4 GiB RIFF limit are cut at the limit.
#[must_use]
pub fn encode_wav_pcm16(rate: u32, channels: u16, interleaved: &[i16]) -> Vec<u8> {
    let max = (MAX_DATA / 2) as usize;
    let input = &interleaved[..interleaved.len().min(max)];
    WavWriter::pcm16(rate, channels)
        .encode_all(input)
        .unwrap_or_default()
}

/// A whole A-law (tag 6) or µ-law (tag 7) WAV file. Inputs past the 4 GiB RIFF limit are cut.
#[must_use]
pub fn encode_wav_g711(law: Law, rate: u32, channels: u16, interleaved: &[i16]) -> Vec<u8> {
    let max = MAX_DATA as usize;
    let input = &interleaved[..interleaved.len().min(max)];
    WavWriter::g711(law, rate, channels)
        .encode_all(input)
        .unwrap_or_default()
}

/// A whole WAV49 (GSM 06.10, tag 0x31) file from 8 kHz mono samples; the last block is
/// zero-padded and the `fact` chunk holds the real sample count.
///
/// # Errors
/// [`AudioError::Gsm`] if libgsm cannot allocate its state; [`AudioError::TooLong`] past 4 GiB.
pub fn encode_wav49(samples_8k: &[i16]) -> Result<Vec<u8>, AudioError> {
    WavWriter::wav49()?.encode_all(samples_8k)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unwriting_a_refused_chunk_makes_the_header_describe_what_was_kept() {
        let mut w = WavWriter::pcm16(8000, 2);
        let mut out = Vec::new();
        w.write(&[1, 2, 3, 4], &mut out).unwrap();
        let kept = w.header();
        w.write(&[5, 6, 7, 8, 9, 10], &mut out).unwrap();
        assert!(!w.unwrite(3), "not a whole frame");
        assert!(!w.unwrite(100), "more than was written");
        assert!(w.unwrite(12));
        assert_eq!(w.header(), kept);
        assert_eq!(w.frames(), 2);
        assert!(!WavWriter::wav49().unwrap().unwrite(0));
    }
    use crate::level::goertzel_dbfs;
    use proptest::prelude::*;

    fn tone(rate: u32, freq: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    .round() as i16
            })
            .collect()
    }

    /// A WAV file with a hand-made fmt chunk body and data.
    fn wav_with(fmt: &[u8], extra_chunks: &[u8], data: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(b"RIFF");
        let riff = 4 + 8 + fmt.len() + extra_chunks.len() + 8 + data.len();
        f.extend_from_slice(&(riff as u32).to_le_bytes());
        f.extend_from_slice(b"WAVE");
        f.extend_from_slice(b"fmt ");
        f.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        f.extend_from_slice(fmt);
        f.extend_from_slice(extra_chunks);
        f.extend_from_slice(b"data");
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(data);
        f
    }

    fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let block = channels * bits.div_ceil(8);
        let mut b = Vec::new();
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        b.extend_from_slice(&block.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b
    }

    #[test]
    fn a_pcm16_file_written_here_reads_back_identically() {
        let samples = tone(8000, 440.0, 8000, 12_000.0);
        let pcm = decode_wav(&encode_wav_pcm16(8000, 1, &samples)).unwrap();
        assert_eq!(
            pcm,
            Pcm {
                rate: 8000,
                samples
            }
        );
    }

    #[test]
    fn stereo_is_mixed_down_to_the_mean_of_the_channels() {
        let interleaved = [1000i16, 3000, -2000, -4000, 32767, 32767, -32768, -32768];
        let pcm = decode_wav(&encode_wav_pcm16(48_000, 2, &interleaved)).unwrap();
        assert_eq!(pcm.samples, vec![2000, -3000, 32767, -32768]);
        assert_eq!(pcm.rate, 48_000);
    }

    #[test]
    fn alaw_and_ulaw_files_read_back_within_companding_error() {
        let samples = tone(8000, 1000.0, 4000, 10_000.0);
        for law in [Law::A, Law::Mu] {
            let bytes = encode_wav_g711(law, 8000, 1, &samples);
            let info = wav_info(&bytes).unwrap();
            assert_eq!(info.format_tag, law.wav_format_tag());
            assert_eq!(bytes.len(), 58 + 4000);
            let pcm = decode_wav(&bytes).unwrap();
            assert_eq!(pcm.samples.len(), 4000);
            let worst = samples
                .iter()
                .zip(&pcm.samples)
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                .max();
            assert!(worst.unwrap() <= 320, "{law:?}: {worst:?}");
        }
    }

    #[test]
    fn eight_bit_unsigned_pcm_is_centred_on_128() {
        let bytes = wav_with(&fmt_body(1, 1, 8000, 8), &[], &[128, 255, 0, 192]);
        assert_eq!(
            decode_wav(&bytes).unwrap().samples,
            vec![0, 127 << 8, -32768, 64 << 8]
        );
    }

    #[test]
    fn twenty_four_and_thirty_two_bit_samples_keep_their_top_16_bits() {
        let b24 = wav_with(
            &fmt_body(1, 1, 8000, 24),
            &[],
            &[0x00, 0x34, 0x12, 0xFF, 0xFF, 0xFF],
        );
        assert_eq!(decode_wav(&b24).unwrap().samples, vec![0x1234, -1]);
        let b32 = wav_with(
            &fmt_body(1, 1, 8000, 32),
            &[],
            &[0, 0, 0x34, 0x12, 0, 0, 0, 0x80],
        );
        assert_eq!(decode_wav(&b32).unwrap().samples, vec![0x1234, -32768]);
    }

    #[test]
    fn float_samples_are_scaled_and_clipped() {
        let mut data = Vec::new();
        for x in [0.5f32, -1.0, 2.0, f32::NAN] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        let bytes = wav_with(&fmt_body(3, 1, 16_000, 32), &[], &data);
        assert_eq!(
            decode_wav(&bytes).unwrap().samples,
            vec![16384, -32768, 32767, 0]
        );
        let mut data64 = Vec::new();
        data64.extend_from_slice(&(-0.25f64).to_le_bytes());
        let bytes = wav_with(&fmt_body(3, 1, 16_000, 64), &[], &data64);
        assert_eq!(decode_wav(&bytes).unwrap().samples, vec![-8192]);
    }

    #[test]
    fn wave_format_extensible_is_resolved_to_its_sub_format() {
        let mut fmt = fmt_body(format_tag::EXTENSIBLE, 2, 44_100, 24);
        fmt.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        fmt.extend_from_slice(&24u16.to_le_bytes()); // valid bits
        fmt.extend_from_slice(&3u32.to_le_bytes()); // channel mask
        fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
        fmt.extend_from_slice(&GUID_TAIL);
        let data = [0x00, 0x00, 0x10, 0x00, 0x00, 0x30]; // 0x1000 and 0x3000
        let bytes = wav_with(&fmt, &[], &data);
        assert_eq!(wav_info(&bytes).unwrap().format_tag, format_tag::PCM);
        assert_eq!(decode_wav(&bytes).unwrap().samples, vec![0x2000]);
    }

    #[test]
    fn unknown_chunks_before_data_are_skipped_including_odd_padding() {
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc", &[0]].concat();
        let bytes = wav_with(&fmt_body(1, 1, 8000, 16), &list, &[1, 0, 2, 0]);
        assert_eq!(decode_wav(&bytes).unwrap().samples, vec![1, 2]);
    }

    #[test]
    fn a_cut_data_chunk_is_reported_with_its_offset_and_sizes() {
        let mut bytes = encode_wav_pcm16(8000, 1, &[0; 100]);
        bytes.truncate(44 + 150);
        assert_eq!(
            decode_wav(&bytes),
            Err(AudioError::Truncated {
                what: "data chunk",
                offset: 44,
                needed: 200,
                available: 150
            })
        );
    }

    #[test]
    fn an_unfinalised_recording_is_read_to_the_end_of_the_file() {
        let mut w = WavWriter::pcm16(8000, 1);
        w.write(&[1, 2, 3], &mut Vec::new()).unwrap();
        let mut bytes = w.provisional_header(); // what a recorder writes first
        for s in [5i16, -5, 7] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        assert_eq!(decode_wav(&bytes).unwrap().samples, vec![5, -5, 7]);
    }

    #[test]
    fn garbage_headers_get_precise_errors() {
        assert!(matches!(
            decode_wav(b""),
            Err(AudioError::Truncated {
                what: "RIFF header",
                ..
            })
        ));
        assert_eq!(
            decode_wav(b"ID3\x04garbage-garbage"),
            Err(AudioError::NotWav("missing RIFF signature"))
        );
        assert_eq!(
            decode_wav(b"RIFX\0\0\0\0WAVE"),
            Err(AudioError::NotWav("big-endian RIFX is not supported"))
        );
        assert_eq!(
            decode_wav(b"RIFF\0\0\0\0AVI "),
            Err(AudioError::NotWav("RIFF form type is not WAVE"))
        );
        assert_eq!(
            decode_wav(b"RIFF\x04\0\0\0WAVE"),
            Err(AudioError::MissingFmt)
        );
        let no_data = [
            b"RIFF\x1c\0\0\0WAVEfmt \x10\0\0\0".as_slice(),
            &fmt_body(1, 1, 8000, 16),
        ]
        .concat();
        assert_eq!(decode_wav(&no_data), Err(AudioError::MissingData));
        let data_first = b"RIFF\x0c\0\0\0WAVEdata\0\0\0\0";
        assert_eq!(decode_wav(data_first), Err(AudioError::MissingFmt));
        let zero_ch = wav_with(&fmt_body(1, 0, 8000, 16), &[], &[]);
        assert_eq!(
            decode_wav(&zero_ch),
            Err(AudioError::BadFormat("zero channels"))
        );
        let zero_rate = wav_with(&fmt_body(1, 1, 0, 16), &[], &[]);
        assert_eq!(decode_wav(&zero_rate), Err(AudioError::BadSampleRate(0)));
        let adpcm = wav_with(&fmt_body(2, 1, 8000, 4), &[], &[0; 4]);
        assert_eq!(
            decode_wav(&adpcm),
            Err(AudioError::UnsupportedEncoding {
                format_tag: 2,
                bits_per_sample: 4
            })
        );
        let short_fmt = wav_with(&[1, 0, 1, 0], &[], &[]);
        assert!(matches!(
            decode_wav(&short_fmt),
            Err(AudioError::Truncated {
                what: "fmt chunk",
                needed: 16,
                ..
            })
        ));
    }

    #[test]
    fn the_writer_header_keeps_its_length_and_finalises_the_sizes() {
        for mut w in [
            WavWriter::pcm16(8000, 2),
            WavWriter::g711(Law::A, 8000, 1),
            WavWriter::wav49().unwrap(),
        ] {
            let len = w.header_len();
            assert_eq!(w.header().len(), len);
            let mut data = Vec::new();
            for _ in 0..7 {
                w.write(&[100; 160], &mut data).unwrap();
            }
            w.finish(&mut data);
            let header = w.header();
            assert_eq!(header.len(), len);
            // 7 × 160 samples: an even byte count for every encoding, so no pad byte.
            assert_eq!(u32_at(&header, len - 4) as usize, data.len());
            assert_eq!(u32_at(&header, 4) as usize, len - 8 + data.len());
            let file = [header, data].concat();
            let pcm = decode_wav(&file).unwrap();
            let expect = match w.encoding() {
                WavEncoding::Pcm16 => 7 * 80,
                _ => 7 * 160,
            };
            assert_eq!(pcm.samples.len(), expect, "{:?}", w.encoding());
        }
    }

    #[test]
    fn an_odd_data_length_gets_a_pad_byte_counted_in_the_riff_size_only() {
        let bytes = encode_wav_g711(Law::Mu, 8000, 1, &[0; 3]);
        assert_eq!(bytes.len(), 58 + 4);
        assert_eq!(u32_at(&bytes, 54), 3);
        assert_eq!(u32_at(&bytes, 4) as usize, bytes.len() - 8);
        assert_eq!(decode_wav(&bytes).unwrap().samples.len(), 3);
    }

    #[test]
    fn a_wav49_file_has_the_microsoft_gsm_header() {
        let bytes = encode_wav49(&tone(8000, 440.0, 8000, 8000.0)).unwrap();
        let info = wav_info(&bytes).unwrap();
        assert_eq!(
            (
                info.format_tag,
                info.channels,
                info.rate,
                info.block_align,
                info.bits_per_sample
            ),
            (0x31, 1, 8000, 65, 0)
        );
        assert_eq!(u32_at(&bytes, 16), 20, "fmt chunk size");
        assert_eq!(u32_at(&bytes, 28), 1625, "average bytes per second");
        assert_eq!(u16_at(&bytes, 36), 2, "cbSize");
        assert_eq!(u16_at(&bytes, 38), 320, "samples per block");
        assert_eq!(&bytes[40..44], b"fact");
        assert_eq!(u32_at(&bytes, 48), 8000, "fact sample count");
        // 8000 samples = 25 blocks
        assert_eq!(info.data_len, 25 * 65);
    }

    #[test]
    fn a_3_second_440hz_tone_survives_wav49_with_its_duration_and_pitch() {
        let input = tone(8000, 440.0, 24_000, 10_000.0);
        let bytes = encode_wav49(&input).unwrap();
        let out = decode_wav49(&bytes).unwrap();
        assert_eq!(out.rate, 8000);
        assert!(
            out.samples.len().abs_diff(input.len()) < 320,
            "{} samples",
            out.samples.len()
        );
        let mid = &out.samples[4000..20_000];
        let at_440 = goertzel_dbfs(mid, 8000, 440.0);
        for other in [220.0, 330.0, 550.0, 880.0, 1000.0, 2000.0] {
            assert!(
                at_440 - goertzel_dbfs(mid, 8000, other) > 20.0,
                "440 Hz {at_440:.1} vs {other} Hz"
            );
        }
        assert!((at_440 - goertzel_dbfs(&input[4000..20_000], 8000, 440.0)).abs() < 3.0);
        // decode_wav reads it the same way.
        assert_eq!(decode_wav(&bytes).unwrap(), out);
    }

    #[test]
    fn decode_wav49_refuses_a_pcm_file() {
        let bytes = encode_wav_pcm16(8000, 1, &[0; 10]);
        assert!(matches!(
            decode_wav49(&bytes),
            Err(AudioError::UnsupportedEncoding { format_tag: 1, .. })
        ));
    }

    #[test]
    fn the_writer_refuses_data_past_the_riff_limit() {
        let mut w = WavWriter::pcm16(8000, 1);
        w.data_len = MAX_DATA - 100;
        let mut out = Vec::new();
        assert_eq!(w.write(&[0; 100], &mut out), Err(AudioError::TooLong));
        assert!(out.is_empty());
    }

    fn arbitrary_wav() -> impl Strategy<Value = Vec<u8>> {
        // Plausible headers with fuzzed fields and data, plus raw bytes.
        let header = (
            prop_oneof![
                Just(1u16),
                Just(3),
                Just(6),
                Just(7),
                Just(0x31),
                Just(0xFFFE),
                any::<u16>()
            ],
            0u16..9,
            prop_oneof![Just(8000u32), Just(44_100), any::<u32>()],
            any::<u16>(),
            prop_oneof![
                Just(8u16),
                Just(16),
                Just(24),
                Just(32),
                Just(64),
                any::<u16>()
            ],
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..700),
            any::<u32>(),
        )
            .prop_map(|(tag, ch, rate, align, bits, fmt_extra, data, data_size)| {
                let mut fmt = Vec::new();
                fmt.extend_from_slice(&tag.to_le_bytes());
                fmt.extend_from_slice(&ch.to_le_bytes());
                fmt.extend_from_slice(&rate.to_le_bytes());
                fmt.extend_from_slice(&0u32.to_le_bytes());
                fmt.extend_from_slice(&align.to_le_bytes());
                fmt.extend_from_slice(&bits.to_le_bytes());
                fmt.extend_from_slice(&fmt_extra);
                let mut f = wav_with(&fmt, &[], &data);
                if data_size % 3 == 0 {
                    let at = f.len() - data.len() - 4;
                    f[at..at + 4].copy_from_slice(&data_size.to_le_bytes());
                }
                f
            });
        prop_oneof![header, proptest::collection::vec(any::<u8>(), 0..200)]
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in arbitrary_wav()) {
            let _ = decode_wav(&bytes);
            let _ = decode_wav49(&bytes);
            let _ = wav_info(&bytes);
        }

        #[test]
        fn any_truncation_of_a_valid_file_is_an_error_except_its_pad_byte(cut in 0usize..300, law in 0u8..4) {
            let samples: Vec<i16> = (0..200).map(|i| i * 100).collect();
            let full = match law {
                0 => encode_wav_pcm16(8000, 1, &samples),
                1 => encode_wav_g711(Law::A, 8000, 2, &samples),
                2 => encode_wav_g711(Law::Mu, 8000, 1, &samples),
                _ => encode_wav49(&samples).unwrap(),
            };
            let cut = cut.min(full.len());
            let result = decode_wav(&full[..full.len() - cut]);
            // A missing RIFF pad byte after an odd-length data chunk is tolerated.
            let pad = wav_info(&full).unwrap().data_len % 2 == 1;
            if cut == 0 || (cut == 1 && pad) {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err());
            }
        }

        #[test]
        fn wav49_blocks_of_arbitrary_bytes_decode_without_panicking(block in proptest::collection::vec(any::<u8>(), 65)) {
            let mut d = Wav49Decoder::new().unwrap();
            let mut out = [0i16; 320];
            prop_assert!(d.decode_block(&block, &mut out).is_ok());
        }
    }
}
