//! GSM 06.10 full-rate through libgsm (`gsm-sys`, vendored), and the Microsoft "WAV49" packing.
//!
//! `gsm-sys` 0.0.2 compiles libgsm *without* `-DWAV49`, so libgsm's `GSM_OPT_WAV49` option is a
//! no-op there. This module therefore uses libgsm for the codec itself (standard 33-byte frames)
//! and does the WAV49 packing in Rust: `gsm_explode` turns a frame into its 76 parameters, which
//! are written as one little-endian (LSB-first) bit stream, two 260-bit frames per 65-byte block —
//! the same layout libgsm's own WAV49 code produces. Decoding reverses it with `gsm_implode`.
//!
//! This is the only module of the crate with `unsafe` code.
#![allow(unsafe_code)]

use crate::error::AudioError;
use std::ptr::NonNull;

/// Samples in one GSM 06.10 frame (20 ms at 8 kHz).
pub const GSM_FRAME_SAMPLES: usize = 160;
/// Bytes in one standard (RTP, `.gsm`) GSM frame.
pub const GSM_FRAME_BYTES: usize = 33;
/// Bytes in one WAV49 block (two frames).
pub const WAV49_BLOCK_BYTES: usize = 65;
/// Samples in one WAV49 block.
pub const WAV49_BLOCK_SAMPLES: usize = 320;

/// Bit widths of the 76 parameters of a frame in `gsm_explode` order: LARc[0..8], then for each
/// of the four sub-frames Nc, bc, Mc, xmaxc and the 13 xMc.
const PARAM_BITS: [u8; 76] = {
    let mut bits = [3u8; 76];
    let lar = [6, 6, 5, 5, 4, 4, 3, 3];
    let mut i = 0;
    while i < 8 {
        bits[i] = lar[i];
        i += 1;
    }
    let mut sub = 0;
    while sub < 4 {
        let base = 8 + 17 * sub;
        bits[base] = 7;
        bits[base + 1] = 2;
        bits[base + 2] = 2;
        bits[base + 3] = 6;
        sub += 1;
    }
    bits
};

/// One libgsm state (`gsm_create`), destroyed on drop.
#[derive(Debug)]
struct GsmHandle(NonNull<gsm_sys::GsmState>);

// SAFETY: the libgsm state is plain heap memory owned only by this handle (no thread-local or
// shared globals in libgsm), and every use goes through `&mut self`.
unsafe impl Send for GsmHandle {}

impl GsmHandle {
    fn new() -> Result<Self, AudioError> {
        // SAFETY: gsm_create has no preconditions; it returns null on allocation failure.
        let raw = unsafe { gsm_sys::gsm_create() };
        NonNull::new(raw)
            .map(Self)
            .ok_or(AudioError::Gsm("gsm_create failed"))
    }

    fn encode(&mut self, pcm: &[i16; GSM_FRAME_SAMPLES]) -> [u8; GSM_FRAME_BYTES] {
        let mut input = *pcm;
        let mut frame = [0u8; GSM_FRAME_BYTES];
        // SAFETY: the state is live; `input` holds 160 samples and `frame` 33 bytes, the sizes
        // gsm_encode reads and writes.
        unsafe { gsm_sys::gsm_encode(self.0.as_ptr(), input.as_mut_ptr(), frame.as_mut_ptr()) };
        frame
    }

    fn decode(
        &mut self,
        frame: &[u8; GSM_FRAME_BYTES],
        out: &mut [i16; GSM_FRAME_SAMPLES],
    ) -> Result<(), AudioError> {
        let mut input = *frame;
        // SAFETY: the state is live; gsm_decode reads 33 bytes from `input` and writes 160 samples.
        let rc =
            unsafe { gsm_sys::gsm_decode(self.0.as_ptr(), input.as_mut_ptr(), out.as_mut_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(AudioError::Gsm("frame has a bad signature"))
        }
    }

    fn explode(&mut self, frame: &[u8; GSM_FRAME_BYTES]) -> Result<[i16; 76], AudioError> {
        let mut input = *frame;
        let mut params = [0i16; 76];
        // SAFETY: the state is live; gsm_explode reads 33 bytes and writes the 76 parameters.
        let rc = unsafe {
            gsm_sys::gsm_explode(self.0.as_ptr(), input.as_mut_ptr(), params.as_mut_ptr())
        };
        if rc == 0 {
            Ok(params)
        } else {
            Err(AudioError::Gsm("frame has a bad signature"))
        }
    }

    fn implode(&mut self, params: &[i16; 76]) -> [u8; GSM_FRAME_BYTES] {
        let mut input = *params;
        let mut frame = [0u8; GSM_FRAME_BYTES];
        // SAFETY: the state is live; gsm_implode reads 76 parameters and writes 33 bytes.
        unsafe { gsm_sys::gsm_implode(self.0.as_ptr(), input.as_mut_ptr(), frame.as_mut_ptr()) };
        frame
    }
}

impl Drop for GsmHandle {
    fn drop(&mut self) {
        // SAFETY: the pointer came from gsm_create and is destroyed exactly once, here.
        unsafe { gsm_sys::gsm_destroy(self.0.as_ptr()) };
    }
}

/// Writes `params` LSB-first into `out` starting at bit `bit`.
fn pack(params: &[i16; 76], out: &mut [u8; WAV49_BLOCK_BYTES], mut bit: usize) {
    for (&p, &width) in params.iter().zip(PARAM_BITS.iter()) {
        let value = (p as u16) & ((1u16 << width) - 1);
        for k in 0..width {
            if value >> k & 1 == 1 {
                out[bit / 8] |= 1 << (bit % 8);
            }
            bit += 1;
        }
    }
}

/// Reads 76 parameters LSB-first from `block` starting at bit `bit`.
fn unpack(block: &[u8], mut bit: usize) -> [i16; 76] {
    let mut params = [0i16; 76];
    for (p, &width) in params.iter_mut().zip(PARAM_BITS.iter()) {
        let mut value = 0i16;
        for k in 0..width {
            if block[bit / 8] >> (bit % 8) & 1 == 1 {
                value |= 1 << k;
            }
            bit += 1;
        }
        *p = value;
    }
    params
}

/// Streams 8 kHz mono samples into WAV49 blocks.
#[derive(Debug)]
pub struct Wav49Encoder {
    gsm: GsmHandle,
    pending: [i16; WAV49_BLOCK_SAMPLES],
    n_pending: usize,
}

impl Wav49Encoder {
    /// A fresh encoder.
    ///
    /// # Errors
    /// [`AudioError::Gsm`] if libgsm cannot allocate its state.
    pub fn new() -> Result<Self, AudioError> {
        Ok(Self {
            gsm: GsmHandle::new()?,
            pending: [0; WAV49_BLOCK_SAMPLES],
            n_pending: 0,
        })
    }

    /// Samples waiting for a full block.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.n_pending
    }

    /// Encodes one block of 320 samples.
    pub fn encode_block(&mut self, pcm: &[i16; WAV49_BLOCK_SAMPLES]) -> [u8; WAV49_BLOCK_BYTES] {
        let mut block = [0u8; WAV49_BLOCK_BYTES];
        for (half, start_bit) in [(0usize, 0usize), (1, 260)] {
            let mut frame_pcm = [0i16; GSM_FRAME_SAMPLES];
            frame_pcm
                .copy_from_slice(&pcm[half * GSM_FRAME_SAMPLES..(half + 1) * GSM_FRAME_SAMPLES]);
            let frame = self.gsm.encode(&frame_pcm);
            let params = self
                .gsm
                .explode(&frame)
                .expect("gsm_encode always writes the 0xD signature that gsm_explode checks");
            pack(&params, &mut block, start_bit);
        }
        block
    }

    /// Appends the blocks that `samples` completes to `out`; keeps the remainder.
    pub fn push(&mut self, mut samples: &[i16], out: &mut Vec<u8>) {
        while !samples.is_empty() {
            let take = (WAV49_BLOCK_SAMPLES - self.n_pending).min(samples.len());
            self.pending[self.n_pending..self.n_pending + take].copy_from_slice(&samples[..take]);
            self.n_pending += take;
            samples = &samples[take..];
            if self.n_pending == WAV49_BLOCK_SAMPLES {
                let pcm = self.pending;
                out.extend_from_slice(&self.encode_block(&pcm));
                self.n_pending = 0;
            }
        }
    }

    /// Appends the remaining samples as one zero-padded block (nothing if none remain).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.n_pending > 0 {
            self.pending[self.n_pending..].fill(0);
            let pcm = self.pending;
            out.extend_from_slice(&self.encode_block(&pcm));
            self.n_pending = 0;
        }
    }
}

/// Decodes WAV49 blocks.
#[derive(Debug)]
pub struct Wav49Decoder {
    gsm: GsmHandle,
}

impl Wav49Decoder {
    /// A fresh decoder.
    ///
    /// # Errors
    /// [`AudioError::Gsm`] if libgsm cannot allocate its state.
    pub fn new() -> Result<Self, AudioError> {
        Ok(Self {
            gsm: GsmHandle::new()?,
        })
    }

    /// Decodes one 65-byte block into 320 samples.
    ///
    /// # Errors
    /// [`AudioError::BadInput`] when `block` is not 65 bytes or `out` not 320 samples.
    pub fn decode_block(&mut self, block: &[u8], out: &mut [i16]) -> Result<(), AudioError> {
        if block.len() != WAV49_BLOCK_BYTES {
            return Err(AudioError::BadInput("a WAV49 block is 65 bytes"));
        }
        if out.len() != WAV49_BLOCK_SAMPLES {
            return Err(AudioError::BadInput("a WAV49 block decodes to 320 samples"));
        }
        for (half, start_bit) in [(0usize, 0usize), (1, 260)] {
            let params = unpack(block, start_bit);
            let frame = self.gsm.implode(&params);
            let mut pcm = [0i16; GSM_FRAME_SAMPLES];
            self.gsm.decode(&frame, &mut pcm)?;
            out[half * GSM_FRAME_SAMPLES..(half + 1) * GSM_FRAME_SAMPLES].copy_from_slice(&pcm);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_parameter_widths_add_up_to_260_bits_per_frame() {
        assert_eq!(
            PARAM_BITS.iter().map(|&b| usize::from(b)).sum::<usize>(),
            260
        );
    }

    #[test]
    fn packing_then_unpacking_gives_back_every_parameter() {
        let mut params = [0i16; 76];
        for (i, (p, &w)) in params.iter_mut().zip(PARAM_BITS.iter()).enumerate() {
            *p = (i as i16 * 37 + 5) & ((1 << w) - 1);
        }
        let mut block = [0u8; WAV49_BLOCK_BYTES];
        pack(&params, &mut block, 0);
        pack(&params, &mut block, 260);
        assert_eq!(unpack(&block, 0), params);
        assert_eq!(unpack(&block, 260), params);
    }

    #[test]
    fn a_block_of_silence_round_trips_to_near_silence() {
        let mut enc = Wav49Encoder::new().unwrap();
        let mut dec = Wav49Decoder::new().unwrap();
        let block = enc.encode_block(&[0; 320]);
        let mut out = [1i16; 320];
        dec.decode_block(&block, &mut out).unwrap();
        assert!(out.iter().all(|s| s.abs() < 64), "{out:?}");
    }
}
