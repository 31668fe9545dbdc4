//! Inband DTMF detection (ITU-T Q.23 / Q.24) on 8 kHz 16-bit linear audio.
//!
//! The detector runs eight Goertzel filters, one per DTMF frequency, over half-blocks of 51
//! samples. Two consecutive half-blocks form a 102-sample analysis window (12.75 ms, the block
//! the spandsp and Asterisk detectors use), so a window is judged every 51 samples (6.4 ms,
//! 50 % overlap) at the cost of one Goertzel pass per sample. A window is a *hit* for a key when
//! all of these hold, as robust telephony detectors require:
//!
//! - **energy**: each of the two tones is at least −33 dBm0 ([`MIN_TONE_DBM0`]);
//! - **twist**: the row (low) tone is at most 8 dB stronger than the column tone (normal twist)
//!   and at most 4 dB weaker (reverse twist);
//! - **relative peak**: the strongest row and column each stand 8 dB above the other three of
//!   their group;
//! - **dominance**: the two tones carry at least 75 % of the window's total energy, so speech
//!   and music, which spread their energy, fail;
//! - **second harmonic**: neither tone has a second harmonic within 10 dB of it (voiced speech
//!   and instruments do; a DTMF generator does not). A row's harmonic is only checked when no
//!   column tone lies within 150 Hz of it (2 × 697 = 1394 Hz is 58 Hz from 1336 Hz);
//! - **steadiness**: the two half-blocks' energies are within 3 dB of each other, so a window
//!   where a tone starts or stops does not count (this is what keeps a 30 ms burst out);
//! - **frequency**: the phase advance of each tone between the two half-blocks gives its actual
//!   frequency; a window is dropped beyond ±5 %, and a key is only accepted when the estimate
//!   accumulated over all its windows is within ±2.5 %, the midpoint between Q.24's "must
//!   accept ±1.5 %" and "must reject ±3.5 %". (A Goertzel bin alone cannot separate those: at
//!   102 samples 3.5 % of 697 Hz and 1.5 % of 1633 Hz are the same 24 Hz off the bin.)
//!
//! A key is reported once it hits [`HITS_TO_BEGIN`] consecutive windows (5 windows span
//! 38 ms of tone: a 30 ms tone cannot do it, a 40 ms one can) and not again until
//! [`MISSES_TO_END`] windows without it (a pause) have passed, so each key press is reported
//! once. The power estimates are corrected for the frequency offset found (the Goertzel
//! response of a tone 1.5 % off is 1.5 dB low at 1633 Hz), so an in-tolerance tone is not
//! dropped by the dominance test.
//!
//! Cost: per sample 8 Goertzel updates (one multiply, two adds each) and a square for the
//! energy; half-blocks below the minimum energy skip the filters. No allocation after `new`.

use core::f32::consts::TAU;

/// Sample rate the detector works at.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per half-block; a window is two half-blocks.
pub const HALF_BLOCK: usize = 51;
/// Samples per analysis window.
pub const WINDOW: usize = 2 * HALF_BLOCK;
/// Consecutive hit windows needed to accept a key (38 ms of tone).
pub const HITS_TO_BEGIN: u32 = 5;
/// Consecutive windows without the key needed before the same key can be reported again.
pub const MISSES_TO_END: u32 = 4;
/// Minimum level of each tone.
pub const MIN_TONE_DBM0: f32 = -33.0;

/// Row (low group) frequencies, Hz.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keys by row then column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a DTMF key, for generators and tests.
pub fn key_frequencies(key: char) -> Option<(f32, f32)> {
    let key = key.to_ascii_uppercase();
    for (r, row) in KEYS.iter().enumerate() {
        for (c, k) in row.iter().enumerate() {
            if *k == key {
                return Some((ROW_HZ[r], COL_HZ[c]));
            }
        }
    }
    None
}

/// Mean power (A²/2) of a sine at `dbm0`, in 16-bit linear units squared.
fn dbm0_power(dbm0: f32) -> f32 {
    let peak = crate::tone::DBM0_PEAK as f32;
    peak * peak / 2.0 * 10f32.powf(dbm0 / 10.0)
}

const NORMAL_TWIST: f32 = 6.31; // 8 dB
const REVERSE_TWIST: f32 = 2.51; // 4 dB
const RELATIVE_PEAK: f32 = 6.31; // 8 dB
const DOMINANCE: f32 = 0.75;
const HARMONIC_MAX: f32 = 0.1; // −10 dB
const HALF_BALANCE: f32 = 2.0; // 3 dB
const HARMONIC_CLEARANCE_HZ: f32 = 150.0;
const WINDOW_FREQ_TOL: f32 = 0.05;
const KEY_FREQ_TOL: f32 = 0.025;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct C {
    re: f32,
    im: f32,
}

impl C {
    fn mul(self, o: C) -> C {
        C {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn conj(self) -> C {
        C {
            re: self.re,
            im: -self.im,
        }
    }
    fn add(self, o: C) -> C {
        C {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn norm2(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
    fn arg(self) -> f32 {
        self.im.atan2(self.re)
    }
    fn cis(a: f32) -> C {
        C {
            re: a.cos(),
            im: a.sin(),
        }
    }
}

/// Per-frequency constants.
#[derive(Debug, Clone, Copy)]
struct Bin {
    hz: f32,
    /// 2 cos ω.
    coeff: f32,
    cos: f32,
    sin: f32,
    /// e^{−jω(H−1)}: turns the Goertzel output into Σ x[m] e^{−jωm}.
    to_dft: C,
    /// e^{−jωH}: shifts a second half-block to the window's time origin.
    shift: C,
}

impl Bin {
    fn new(hz: f32) -> Self {
        let w = TAU * hz / SAMPLE_RATE as f32;
        Bin {
            hz,
            coeff: 2.0 * w.cos(),
            cos: w.cos(),
            sin: w.sin(),
            to_dft: C::cis(-w * (HALF_BLOCK as f32 - 1.0)),
            shift: C::cis(-w * HALF_BLOCK as f32),
        }
    }
}

/// Analysis of one half-block.
#[derive(Debug, Clone, Copy, Default)]
struct Half {
    /// Σ x[m] e^{−jω m} over the half-block, per frequency (rows then columns).
    dft: [C; 8],
    /// Σ x².
    energy: f32,
    /// Too little energy to hold a key: the filters were skipped.
    quiet: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Candidate {
    key: Option<(usize, usize)>,
    hits: u32,
    /// Σ of half-to-half phasors (power weighted), row and column.
    row_phase: C,
    col_phase: C,
}

/// What one window holds.
#[derive(Debug, Clone, Copy)]
struct Hit {
    row: usize,
    col: usize,
    row_phase: C,
    col_phase: C,
}

/// Inband DTMF detector; see the module documentation for the tests it applies.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    bins: [Bin; 8],
    /// Samples of the previous and the current half-block.
    samples: [f32; WINDOW],
    /// How many samples of the current half-block are filled (at `samples[HALF_BLOCK..]`).
    fill: usize,
    prev: Option<Half>,
    candidate: Candidate,
    held: Option<(usize, usize)>,
    misses: u32,
    pending: [Option<char>; 4],
    min_power: f32,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector that has heard nothing.
    pub fn new() -> Self {
        let mut bins = [Bin::new(0.0); 8];
        for (i, hz) in ROW_HZ.iter().chain(COL_HZ.iter()).enumerate() {
            bins[i] = Bin::new(*hz);
        }
        InbandDetector {
            bins,
            samples: [0.0; WINDOW],
            fill: 0,
            prev: None,
            candidate: Candidate::default(),
            held: None,
            misses: 0,
            pending: [None; 4],
            min_power: dbm0_power(MIN_TONE_DBM0),
        }
    }

    /// Feeds audio (any length; state carries across calls). Returns a key the first time its
    /// press is recognised. Should one call's audio complete more than one key press, the
    /// others are returned by the following calls (an empty slice drains them).
    pub fn push(&mut self, samples: &[i16]) -> Option<char> {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (HALF_BLOCK - self.fill).min(rest.len());
            let (now, later) = rest.split_at(take);
            for (d, s) in self.samples[HALF_BLOCK + self.fill..].iter_mut().zip(now) {
                *d = f32::from(*s);
            }
            self.fill += take;
            rest = later;
            if self.fill == HALF_BLOCK {
                self.fill = 0;
                if let Some(key) = self.half_block() {
                    self.queue(key);
                }
                self.samples.copy_within(HALF_BLOCK.., 0);
            }
        }
        self.take_pending()
    }

    fn queue(&mut self, key: char) {
        if let Some(slot) = self.pending.iter_mut().find(|p| p.is_none()) {
            *slot = Some(key);
        }
    }

    fn take_pending(&mut self) -> Option<char> {
        let first = self.pending[0].take();
        self.pending.rotate_left(1);
        first
    }

    /// Analyses the half-block in `samples[HALF_BLOCK..]`, judges the window it ends, and runs
    /// the key state machine.
    fn half_block(&mut self) -> Option<char> {
        let cur = self.analyse_half();
        let hit = match self.prev {
            Some(prev) if !prev.quiet && !cur.quiet => self.judge(&prev, &cur),
            _ => None,
        };
        self.prev = Some(cur);
        self.step(hit)
    }

    fn analyse_half(&self) -> Half {
        let x = &self.samples[HALF_BLOCK..];
        let energy: f32 = x.iter().map(|s| s * s).sum();
        if energy < self.min_power * HALF_BLOCK as f32 {
            return Half {
                energy,
                quiet: true,
                ..Half::default()
            };
        }
        let (s1, s2) = goertzel8(x, &self.bins);
        let mut dft = [C::default(); 8];
        for k in 0..8 {
            let b = &self.bins[k];
            let y = C {
                re: s1[k] - b.cos * s2[k],
                im: b.sin * s2[k],
            };
            dft[k] = y.mul(b.to_dft);
        }
        Half {
            dft,
            energy,
            quiet: false,
        }
    }

    /// Power estimate (A²/2 for a sine) of bin `k` over the window (prev, cur), and the phasor
    /// whose angle is the tone's phase advance beyond the bin's over one half-block.
    fn bin(&self, k: usize, prev: &Half, cur: &Half) -> (f32, C) {
        let shifted = cur.dft[k].mul(self.bins[k].shift);
        let x = prev.dft[k].add(shifted);
        let n = WINDOW as f32;
        (2.0 * x.norm2() / (n * n), shifted.mul(prev.dft[k].conj()))
    }

    fn judge(&self, prev: &Half, cur: &Half) -> Option<Hit> {
        let mut power = [0f32; 8];
        let mut phase = [C::default(); 8];
        for k in 0..8 {
            (power[k], phase[k]) = self.bin(k, prev, cur);
        }
        let row = argmax(&power[..4]);
        let col = 4 + argmax(&power[4..]);
        // Relative peak within each group.
        for k in 0..4 {
            if k != row && power[row] < RELATIVE_PEAK * power[k] {
                return None;
            }
            if 4 + k != col && power[col] < RELATIVE_PEAK * power[4 + k] {
                return None;
            }
        }
        // Frequency offset from the phase advance, and the power corrected for it.
        let row_dev = self.deviation(row, phase[row]);
        let col_dev = self.deviation(col, phase[col]);
        if row_dev.abs() > WINDOW_FREQ_TOL || col_dev.abs() > WINDOW_FREQ_TOL {
            return None;
        }
        let pr = power[row] / window_gain(self.bins[row].hz * row_dev).powi(2);
        let pc = power[col] / window_gain(self.bins[col].hz * col_dev).powi(2);
        if pr < self.min_power || pc < self.min_power {
            return None;
        }
        if pr > NORMAL_TWIST * pc || pc > REVERSE_TWIST * pr {
            return None;
        }
        let total = (prev.energy + cur.energy) / WINDOW as f32;
        if pr + pc < DOMINANCE * total {
            return None;
        }
        // A steady tone: the two half-blocks carry about the same energy (a tone starting or
        // ending inside the window does not count, which keeps short bursts short).
        if prev.energy > HALF_BALANCE * cur.energy || cur.energy > HALF_BALANCE * prev.energy {
            return None;
        }
        // Second harmonics (computed only for windows that passed everything else). The
        // rows' harmonics (1394, 1540, 1704 Hz) lie within a bin of a column frequency, so
        // the row's is only checked when the column tone is not that close.
        let h_col = goertzel_power(&self.samples, 2.0 * self.bins[col].hz);
        if h_col > HARMONIC_MAX * pc {
            return None;
        }
        let row_harmonic = 2.0 * self.bins[row].hz;
        if (row_harmonic - self.bins[col].hz).abs() > HARMONIC_CLEARANCE_HZ {
            let h_row = goertzel_power(&self.samples, row_harmonic);
            if h_row > HARMONIC_MAX * pr {
                return None;
            }
        }
        Some(Hit {
            row,
            col: col - 4,
            row_phase: phase[row],
            col_phase: phase[col],
        })
    }

    /// Relative frequency deviation of bin `k`'s tone from a half-to-half phasor.
    fn deviation(&self, k: usize, phasor: C) -> f32 {
        if phasor.norm2() == 0.0 {
            return f32::INFINITY;
        }
        let delta = phasor.arg() / HALF_BLOCK as f32; // rad/sample
        delta * SAMPLE_RATE as f32 / (TAU * self.bins[k].hz)
    }

    fn step(&mut self, hit: Option<Hit>) -> Option<char> {
        let Some(hit) = hit else {
            self.candidate = Candidate::default();
            self.miss();
            return None;
        };
        let key = (hit.row, hit.col);
        if self.held == Some(key) {
            self.misses = 0;
            self.candidate = Candidate::default();
            return None;
        }
        if self.held.is_some() {
            self.miss();
        }
        if self.candidate.key == Some(key) {
            self.candidate.hits += 1;
            self.candidate.row_phase = self.candidate.row_phase.add(hit.row_phase);
            self.candidate.col_phase = self.candidate.col_phase.add(hit.col_phase);
        } else {
            self.candidate = Candidate {
                key: Some(key),
                hits: 1,
                row_phase: hit.row_phase,
                col_phase: hit.col_phase,
            };
        }
        if self.candidate.hits < HITS_TO_BEGIN || self.held.is_some() {
            return None;
        }
        // Decided: held until a pause, whether accepted or not.
        self.held = Some(key);
        self.misses = 0;
        let c = self.candidate;
        self.candidate = Candidate::default();
        let row_ok = self.deviation(hit.row, c.row_phase).abs() <= KEY_FREQ_TOL;
        let col_ok = self.deviation(4 + hit.col, c.col_phase).abs() <= KEY_FREQ_TOL;
        (row_ok && col_ok).then(|| KEYS[hit.row][hit.col])
    }

    fn miss(&mut self) {
        if self.held.is_some() {
            self.misses += 1;
            if self.misses >= MISSES_TO_END {
                self.held = None;
                self.misses = 0;
            }
        }
    }
}

/// Eight Goertzel recurrences over `x`: the last two states of each. Written out with scalar
/// locals so that it is fast without optimisation too (the talk-off test runs in debug);
/// `(v − s2)` does not wait for `s1`, so the loop-carried chain is one multiply and one add.
fn goertzel8(x: &[f32], bins: &[Bin; 8]) -> ([f32; 8], [f32; 8]) {
    let [c0, c1, c2, c3, c4, c5, c6, c7] = bins.map(|b| b.coeff);
    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) =
        (0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
    let (mut b0, mut b1, mut b2, mut b3, mut b4, mut b5, mut b6, mut b7) =
        (0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
    for &v in x {
        (a0, b0) = ((v - b0) + c0 * a0, a0);
        (a1, b1) = ((v - b1) + c1 * a1, a1);
        (a2, b2) = ((v - b2) + c2 * a2, a2);
        (a3, b3) = ((v - b3) + c3 * a3, a3);
        (a4, b4) = ((v - b4) + c4 * a4, a4);
        (a5, b5) = ((v - b5) + c5 * a5, a5);
        (a6, b6) = ((v - b6) + c6 * a6, a6);
        (a7, b7) = ((v - b7) + c7 * a7, a7);
    }
    (
        [a0, a1, a2, a3, a4, a5, a6, a7],
        [b0, b1, b2, b3, b4, b5, b6, b7],
    )
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Amplitude response of a `WINDOW`-sample rectangular Goertzel to a tone `off_hz` away from
/// the bin, bounded below so a correction never amplifies more than 6 dB.
fn window_gain(off_hz: f32) -> f32 {
    let d = TAU * off_hz / SAMPLE_RATE as f32;
    let n = WINDOW as f32;
    let den = n * (d / 2.0).sin();
    if den.abs() < 1e-6 {
        return 1.0;
    }
    ((n * d / 2.0).sin() / den).abs().max(0.5)
}

/// Power estimate (A²/2) of `hz` in `x`.
fn goertzel_power(x: &[f32], hz: f32) -> f32 {
    let w = TAU * hz / SAMPLE_RATE as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = x.len() as f32;
    2.0 * p.max(0.0) / (n * n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tone::Tone;

    const KEYS16: &str = "123A456B789C*0#D";

    /// Deterministic white noise (xorshift + sum of uniforms ≈ Gaussian), RMS `rms`.
    struct Noise(u64, f64);
    impl Noise {
        fn next(&mut self) -> f64 {
            let mut acc = 0.0;
            for _ in 0..12 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                acc += (self.0 >> 11) as f64 / (1u64 << 53) as f64;
            }
            (acc - 6.0) * self.1
        }
    }

    /// `ms` of DTMF for `key` at `dbm0` per tone, frequencies scaled by `1 + dev`.
    fn dtmf(key: char, dbm0: f64, ms: usize, dev: f64) -> Vec<f64> {
        let (r, c) = key_frequencies(key).unwrap();
        let mut lo = Tone::new(f64::from(r) * (1.0 + dev), dbm0, 8000);
        let mut hi = Tone::new(f64::from(c) * (1.0 + dev), dbm0, 8000);
        (0..ms * 8)
            .map(|_| f64::from(lo.next_sample()) + f64::from(hi.next_sample()))
            .collect()
    }

    fn silence(ms: usize) -> Vec<f64> {
        vec![0.0; ms * 8]
    }

    /// Adds noise `snr_db` below the power of `signal_power` and quantises.
    fn render(parts: &[Vec<f64>], noise: Option<(f64, u64)>) -> Vec<i16> {
        let mut n = noise.map(|(rms, seed)| Noise(seed, rms));
        parts
            .iter()
            .flatten()
            .map(|v| {
                let x = v + n.as_mut().map_or(0.0, Noise::next);
                x.round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn detect_in_chunks(audio: &[i16], chunk: usize) -> String {
        let mut d = InbandDetector::new();
        let mut out = String::new();
        for c in audio.chunks(chunk) {
            out.extend(d.push(c));
        }
        out.extend(d.push(&[]));
        out
    }

    /// Every key, 60 ms on / 60 ms off, once per offset so block alignments vary.
    fn all_keys(dbm0: f64, ms: usize, dev: f64) -> Vec<Vec<f64>> {
        let mut parts = vec![silence(7)];
        for k in KEYS16.chars() {
            parts.push(dtmf(k, dbm0, ms, dev));
            parts.push(silence(60));
        }
        parts
    }

    #[test]
    fn all_sixteen_keys_are_detected_once_at_minus_10_and_minus_25_dbm0() {
        for dbm0 in [-10.0, -25.0] {
            let audio = render(&all_keys(dbm0, 60, 0.0), None);
            for chunk in [160, 37, 1000] {
                assert_eq!(
                    detect_in_chunks(&audio, chunk),
                    KEYS16,
                    "{dbm0} dBm0, chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn keys_are_detected_in_white_noise_at_15_db_snr() {
        for dbm0 in [-10.0, -25.0] {
            // Signal power: two tones of A²/2 each.
            let p = 2.0 * f64::from(dbm0_power(dbm0 as f32));
            let rms = (p / 10f64.powf(1.5)).sqrt();
            for seed in [1, 2, 3] {
                let audio = render(&all_keys(dbm0, 60, 0.0), Some((rms, seed)));
                assert_eq!(
                    detect_in_chunks(&audio, 160),
                    KEYS16,
                    "{dbm0} dBm0 seed {seed}"
                );
            }
        }
    }

    #[test]
    fn a_frequency_deviation_of_1_5_percent_is_accepted() {
        for dev in [0.015, -0.015] {
            let audio = render(&all_keys(-15.0, 60, dev), None);
            assert_eq!(detect_in_chunks(&audio, 160), KEYS16, "deviation {dev}");
        }
    }

    #[test]
    fn a_frequency_deviation_of_3_5_percent_is_rejected() {
        for dev in [0.035, -0.035] {
            for dbm0 in [-10.0, -25.0] {
                let audio = render(&all_keys(dbm0, 80, dev), None);
                assert_eq!(detect_in_chunks(&audio, 160), "", "deviation {dev}");
            }
        }
    }

    #[test]
    fn a_30_ms_tone_is_rejected_and_a_50_ms_tone_is_accepted() {
        // Several start offsets, so every alignment with the half-blocks is covered.
        for offset in (0..HALF_BLOCK).step_by(5) {
            let mut parts = vec![vec![0.0; offset]];
            for k in KEYS16.chars() {
                parts.push(dtmf(k, -10.0, 30, 0.0));
                parts.push(silence(50));
            }
            let audio = render(&parts, None);
            assert_eq!(
                detect_in_chunks(&audio, 160),
                "",
                "30 ms at offset {offset}"
            );
            let mut parts = vec![vec![0.0; offset]];
            for k in KEYS16.chars() {
                parts.push(dtmf(k, -10.0, 50, 0.0));
                parts.push(silence(50));
            }
            let audio = render(&parts, None);
            assert_eq!(
                detect_in_chunks(&audio, 160),
                KEYS16,
                "50 ms at offset {offset}"
            );
        }
    }

    #[test]
    fn a_long_press_is_one_key_and_a_pause_separates_repeats() {
        let audio = render(
            &[
                dtmf('5', -10.0, 1000, 0.0),
                silence(40),
                dtmf('5', -10.0, 60, 0.0),
                silence(5), // too short a break: the same press
                dtmf('5', -10.0, 60, 0.0),
            ],
            None,
        );
        assert_eq!(detect_in_chunks(&audio, 160), "55");
    }

    #[test]
    fn twist_beyond_the_limits_is_rejected_and_within_is_accepted() {
        let mix = |row_db: f64, col_db: f64| {
            let mut lo = Tone::new(697.0, row_db, 8000);
            let mut hi = Tone::new(1209.0, col_db, 8000);
            let v: Vec<f64> = (0..800)
                .map(|_| f64::from(lo.next_sample()) + f64::from(hi.next_sample()))
                .collect();
            detect_in_chunks(&render(&[v], None), 160)
        };
        assert_eq!(mix(-10.0, -17.0), "1", "7 dB normal twist");
        assert_eq!(mix(-10.0, -19.0), "", "9 dB normal twist");
        assert_eq!(mix(-13.0, -10.0), "1", "3 dB reverse twist");
        assert_eq!(mix(-15.0, -10.0), "", "5 dB reverse twist");
    }

    #[test]
    fn a_single_tone_a_chord_with_harmonics_and_quiet_tones_are_rejected() {
        let single: Vec<f64> = {
            let mut t = Tone::new(697.0, -10.0, 8000);
            (0..4000).map(|_| f64::from(t.next_sample())).collect()
        };
        assert_eq!(detect_in_chunks(&render(&[single], None), 160), "");
        // 697 + 1209 Hz with strong second harmonics (a "voiced" sound).
        let harmonic: Vec<f64> = {
            let mut a = Tone::new(697.0, -12.0, 8000);
            let mut b = Tone::new(1209.0, -12.0, 8000);
            let mut a2 = Tone::new(1394.0, -18.0, 8000);
            let mut b2 = Tone::new(2418.0, -18.0, 8000);
            (0..4000)
                .map(|_| {
                    f64::from(a.next_sample())
                        + f64::from(b.next_sample())
                        + f64::from(a2.next_sample())
                        + f64::from(b2.next_sample())
                })
                .collect()
        };
        assert_eq!(detect_in_chunks(&render(&[harmonic], None), 160), "");
        let quiet = render(&[dtmf('1', -40.0, 500, 0.0)], None);
        assert_eq!(detect_in_chunks(&quiet, 160), "");
    }

    #[test]
    fn a_key_over_g711_is_detected() {
        let audio = render(&all_keys(-20.0, 60, 0.0), None);
        let mut enc = vec![0u8; audio.len()];
        crate::g711::encode_alaw(&audio, &mut enc);
        let mut dec = vec![0i16; audio.len()];
        crate::g711::decode_alaw(&enc, &mut dec);
        assert_eq!(detect_in_chunks(&dec, 160), KEYS16);
    }

    #[test]
    fn two_keys_in_one_push_are_both_returned() {
        let audio = render(
            &[
                dtmf('1', -10.0, 60, 0.0),
                silence(60),
                dtmf('2', -10.0, 60, 0.0),
                silence(60),
            ],
            None,
        );
        let mut d = InbandDetector::new();
        assert_eq!(d.push(&audio), Some('1'));
        assert_eq!(d.push(&[]), Some('2'));
        assert_eq!(d.push(&[]), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_audio_never_panics(audio in proptest::collection::vec(proptest::num::i16::ANY, 0..2000), chunk in 1usize..400) {
            let mut d = InbandDetector::new();
            for c in audio.chunks(chunk) {
                let _ = d.push(c);
            }
        }
    }
}
