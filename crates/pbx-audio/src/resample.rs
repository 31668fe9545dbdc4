//! Sample-rate conversion by band-limited (windowed-sinc) interpolation.
//!
//! The filter is a Kaiser-windowed sinc whose cutoff sits at [`ROLLOFF`] of the lower of the two
//! Nyquist frequencies, so converting down to 8 kHz removes what would alias (anti-aliasing) and
//! converting up removes images (24 zero crossings each side, Kaiser β = 8, about 80 dB of
//! stop-band). Positions are tracked as exact fractions of the two rates reduced by their gcd
//! (no drift, however long the stream). For each of the L output phases (L = output rate / gcd:
//! 2 for 8 → 16 kHz, 80 for 44.1 → 8 kHz) the coefficients are computed once, so an output
//! sample is one dot product; rate pairs with very many phases (44 101 Hz) interpolate a shared
//! finely sampled kernel instead. Any pair of rates from 1 Hz to 768 kHz works.
//!
//! [`Resampler`] is the streaming form for the frame path (it never allocates after
//! construction); [`resample`] converts a whole buffer offline, without delay.

use crate::error::AudioError;
use crate::wav::{MAX_RATE, Pcm};
use std::sync::OnceLock;

/// Zero crossings of the sinc on each side of the centre.
const ZEROS: usize = 24;
/// Kernel table points per zero crossing.
const TABLE_RES: usize = 256;
/// Kaiser window β (≈ 80 dB side lobes).
const BETA: f64 = 8.0;
/// Cutoff as a fraction of the lower Nyquist frequency (the -6 dB point of the kernel).
pub const ROLLOFF: f64 = 0.90;

fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The kernel at `u` zero crossings from the centre (sinc × Kaiser window), 0 outside.
fn kernel(u: f64, i0_beta: f64) -> f64 {
    let u = u.abs();
    if u >= ZEROS as f64 {
        return 0.0;
    }
    let sinc = if u < 1e-12 {
        1.0
    } else {
        (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
    };
    let r = u / ZEROS as f64;
    sinc * bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta
}

/// The kernel tabulated at [`TABLE_RES`] points per zero crossing, for ratios with too many
/// phases to tabulate each one.
fn kernel_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let i0_beta = bessel_i0(BETA);
        (0..ZEROS * TABLE_RES + 2)
            .map(|k| kernel(k as f64 / TABLE_RES as f64, i0_beta) as f32)
            .collect()
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Largest per-phase coefficient table built (floats); beyond it the shared kernel table is
/// interpolated instead (odd rates such as 44 101 Hz have thousands of phases).
const MAX_PHASE_TABLE: usize = 1 << 20;

/// The fixed parameters of one conversion.
#[derive(Debug, Clone)]
struct Ratio {
    /// Output rate / gcd: the number of phases.
    l: u64,
    /// Input rate / gcd.
    m: u64,
    /// Cutoff in cycles per input sample × 2 (1.0 = input Nyquist).
    fc: f64,
    /// Half the kernel's length in input samples.
    half: f64,
    /// Taps on each side: an output at `ip + p/L` uses inputs `ip − taps + 1 ..= ip + taps`.
    taps: usize,
    /// `l` rows of `2 × taps` coefficients (gain `fc` included), or empty when too large.
    phases: Vec<f32>,
}

impl Ratio {
    fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        for rate in [from, to] {
            if rate == 0 || rate > MAX_RATE {
                return Err(AudioError::BadSampleRate(rate));
            }
        }
        let g = gcd(u64::from(from), u64::from(to));
        let l = u64::from(to) / g;
        let m = u64::from(from) / g;
        let fc = (l as f64 / m as f64).min(1.0) * ROLLOFF;
        let half = ZEROS as f64 / fc;
        let taps = half.floor() as usize + 1;
        let mut phases = Vec::new();
        if (l as usize).saturating_mul(2 * taps) <= MAX_PHASE_TABLE {
            let i0_beta = bessel_i0(BETA);
            phases.reserve(l as usize * 2 * taps);
            for p in 0..l {
                let frac = p as f64 / l as f64;
                for j in 0..2 * taps {
                    // input index ip + j − taps + 1
                    let offset = j as f64 - taps as f64 + 1.0;
                    phases.push((fc * kernel((frac - offset) * fc, i0_beta)) as f32);
                }
            }
        }
        Ok(Self {
            l,
            m,
            fc,
            half,
            taps,
            phases,
        })
    }

    /// The output sample at input position `ip + p/L` from `x`, whose first element is input
    /// index `base`; indices outside `x` count as silence.
    fn interpolate(&self, x: &[f32], base: i64, ip: i64, p: u64) -> f32 {
        let taps = self.taps as i64;
        let first = ip - taps + 1;
        let start = first - base;
        if !self.phases.is_empty() {
            let row = &self.phases[p as usize * 2 * self.taps..(p as usize + 1) * 2 * self.taps];
            if start >= 0 && start as usize + row.len() <= x.len() {
                let s = start as usize;
                return dot(row, &x[s..s + row.len()]);
            }
            // At the edges of the signal: only the taps that exist.
            let mut acc = 0.0f32;
            for (j, &c) in row.iter().enumerate() {
                let k = start + j as i64;
                if k >= 0 && (k as usize) < x.len() {
                    acc += c * x[k as usize];
                }
            }
            return acc;
        }
        let table = kernel_table();
        let centre = ip as f64 + p as f64 / self.l as f64;
        let lo = (centre - self.half).ceil() as i64;
        let hi = (centre + self.half).floor() as i64;
        let first = lo.max(base);
        let last = hi.min(base + x.len() as i64 - 1);
        let step = self.fc * TABLE_RES as f64;
        let mut acc = 0.0f32;
        let mut i = first;
        while i <= last {
            let pos = (centre - i as f64).abs() * step;
            let k = pos as usize;
            if k + 1 < table.len() {
                let t = (pos - k as f64) as f32;
                let h = table[k] + t * (table[k + 1] - table[k]);
                acc += h * x[(i - base) as usize];
            }
            i += 1;
        }
        acc * self.fc as f32
    }
}

/// Dot product with eight independent sums so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (ca, cb) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

/// Converts a whole buffer to `to` Hz, aligned with the input (no filter delay). The output has
/// `ceil(len × to / from)` samples.
///
/// # Errors
/// [`AudioError::BadSampleRate`] for a rate of 0 or above 768 kHz.
pub fn resample(pcm: &Pcm, to: u32) -> Result<Pcm, AudioError> {
    if pcm.rate == to {
        return Ok(pcm.clone());
    }
    let ratio = Ratio::new(pcm.rate, to)?;
    let x: Vec<f32> = pcm.samples.iter().map(|&s| f32::from(s)).collect();
    let n_out = (x.len() as u64 * ratio.l).div_ceil(ratio.m);
    let samples = (0..n_out)
        .map(|n| {
            let num = n * ratio.m;
            to_i16(ratio.interpolate(&x, 0, (num / ratio.l) as i64, num % ratio.l))
        })
        .collect();
    Ok(Pcm { rate: to, samples })
}

/// Input samples handled per internal step of [`Resampler::process`].
const CHUNK: usize = 512;

/// A streaming resampler: feed any number of samples, get every output sample that the input so
/// far determines. Output lags the input by [`Resampler::delay_samples`] input samples (the
/// kernel's half length, rounded up: 27 samples, 3.4 ms, for 8 → 16 kHz), which is what lets it produce exactly
/// `ceil(total_in × to / from)` outputs so far at every call: 160 in at 8 kHz → 320 out at
/// 16 kHz, every frame.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    ratio: Ratio,
    delay: i64,
    hist: Vec<f32>,
    /// Absolute input index of `hist[0]`.
    base: i64,
    /// Inputs received.
    n_in: u64,
    /// Outputs produced.
    n_out: u64,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz.
    ///
    /// # Errors
    /// [`AudioError::BadSampleRate`] for a rate of 0 or above 768 kHz.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let ratio = Ratio::new(from, to)?;
        // Output n's window ends at input floor(n·M/L) − delay + taps, which must have arrived
        // when n·M < n_in·L, i.e. floor(n·M/L) ≤ n_in − 1.
        let delay = ratio.taps as i64;
        let keep = 2 * ratio.taps + 4;
        Ok(Self {
            from,
            to,
            ratio,
            delay,
            hist: Vec::with_capacity(keep + CHUNK),
            base: 0,
            n_in: 0,
            n_out: 0,
        })
    }

    /// Input rate.
    #[must_use]
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate.
    #[must_use]
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// The lag of the output behind the input, in input samples.
    #[must_use]
    pub fn delay_samples(&self) -> u64 {
        self.delay as u64
    }

    /// Most outputs the next [`Resampler::process`] of `input_len` samples can write.
    #[must_use]
    pub fn output_len(&self, input_len: usize) -> usize {
        let total = (self.n_in + input_len as u64) * self.ratio.l;
        (total.div_ceil(self.ratio.m) - self.n_out) as usize
    }

    /// Consumes all of `input` and writes the outputs it completes to `out`; returns how many.
    /// Never allocates.
    ///
    /// # Errors
    /// [`AudioError::OutputTooSmall`] when `out` is shorter than [`Resampler::output_len`]
    /// (nothing is consumed then).
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> Result<usize, AudioError> {
        let needed = self.output_len(input.len());
        if out.len() < needed {
            return Err(AudioError::OutputTooSmall {
                needed,
                available: out.len(),
            });
        }
        let mut written = 0;
        for chunk in input.chunks(CHUNK) {
            self.hist.extend(chunk.iter().map(|&s| f32::from(s)));
            self.n_in += chunk.len() as u64;
            // Output n is ready once its window's right edge, floor(n·M/L) − delay + taps, has
            // arrived: n·M < n_in·L.
            while self.n_out * self.ratio.m < self.n_in * self.ratio.l {
                let num = self.n_out * self.ratio.m;
                let ip = (num / self.ratio.l) as i64 - self.delay;
                out[written] =
                    to_i16(
                        self.ratio
                            .interpolate(&self.hist, self.base, ip, num % self.ratio.l),
                    );
                written += 1;
                self.n_out += 1;
            }
            // Drop what the next output's window no longer reaches.
            let next_ip = (self.n_out * self.ratio.m / self.ratio.l) as i64 - self.delay;
            let lowest = next_ip - self.ratio.taps as i64;
            let drop = (lowest - self.base).clamp(0, self.hist.len() as i64) as usize;
            if drop > 0 {
                self.hist.drain(..drop);
                self.base += drop as i64;
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::level::goertzel_dbfs;

    fn tone(rate: u32, freq: f64, secs: f64, amp: f64) -> Pcm {
        let n = (f64::from(rate) * secs) as usize;
        let samples = (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    .round() as i16
            })
            .collect();
        Pcm { rate, samples }
    }

    /// Level of `freq` in the middle of the signal, away from the edges.
    fn level(pcm: &Pcm, freq: f64) -> f64 {
        let n = pcm.samples.len();
        goertzel_dbfs(&pcm.samples[n / 4..3 * n / 4], pcm.rate, freq)
    }

    #[test]
    fn a_1khz_tone_from_44100_to_8000_keeps_its_frequency_and_level() {
        let input = tone(44_100, 1000.0, 1.0, 16_000.0);
        let out = resample(&input, 8000).unwrap();
        assert_eq!(out.rate, 8000);
        assert_eq!(out.samples.len(), 8000);
        let before = level(&input, 1000.0);
        let after = level(&out, 1000.0);
        assert!(
            (before - after).abs() < 0.5,
            "level {before:.2} dBFS → {after:.2} dBFS"
        );
        // The energy is at 1 kHz, not at neighbouring frequencies.
        assert!(after - level(&out, 1100.0) > 30.0);
        assert!(after - level(&out, 900.0) > 30.0);
    }

    #[test]
    fn a_5khz_tone_from_44100_to_8000_is_attenuated_by_at_least_40_db() {
        let input = tone(44_100, 5000.0, 1.0, 16_000.0);
        let out = resample(&input, 8000).unwrap();
        let before = level(&input, 5000.0);
        // 5 kHz would alias to 3 kHz at 8 kHz; measure there and the total energy.
        let alias = level(&out, 3000.0);
        let rms = crate::level::rms_dbfs(&out.samples[2000..6000]);
        assert!(
            before - alias >= 40.0,
            "alias {alias:.1} dBFS from {before:.1}"
        );
        assert!(before - rms >= 40.0, "rms {rms:.1} dBFS from {before:.1}");
    }

    #[test]
    fn passband_edge_at_3400_hz_loses_less_than_one_db_going_to_8000() {
        let input = tone(48_000, 3400.0, 0.5, 16_000.0);
        let out = resample(&input, 8000).unwrap();
        let loss = level(&input, 3400.0) - level(&out, 3400.0);
        assert!(loss < 1.0, "loss {loss:.2} dB");
    }

    #[test]
    fn upsampling_8000_to_16000_keeps_a_1khz_tone_and_suppresses_its_image() {
        let input = tone(8000, 1000.0, 0.5, 16_000.0);
        let out = resample(&input, 16_000).unwrap();
        assert_eq!(out.samples.len(), 8000);
        assert!((level(&input, 1000.0) - level(&out, 1000.0)).abs() < 0.5);
        // The image of 1 kHz around 8 kHz is at 7 kHz.
        assert!(level(&out, 1000.0) - level(&out, 7000.0) > 50.0);
    }

    #[test]
    fn streaming_8k_to_16k_gives_320_samples_for_every_160() {
        let mut r = Resampler::new(8000, 16_000).unwrap();
        let input = tone(8000, 1000.0, 1.0, 10_000.0);
        let mut out = vec![0i16; 320];
        let mut all = Vec::new();
        for frame in input.samples.chunks(160) {
            assert_eq!(r.process(frame, &mut out).unwrap(), 320);
            all.extend_from_slice(&out);
        }
        let pcm = Pcm {
            rate: 16_000,
            samples: all,
        };
        assert!((level(&input, 1000.0) - level(&pcm, 1000.0)).abs() < 0.5);
    }

    #[test]
    fn streaming_16k_to_8k_gives_160_samples_for_every_320() {
        let mut r = Resampler::new(16_000, 8000).unwrap();
        let input = tone(16_000, 1000.0, 0.2, 10_000.0);
        let mut out = [0i16; 160];
        for frame in input.samples.chunks(320) {
            assert_eq!(r.process(frame, &mut out).unwrap(), 160);
        }
    }

    #[test]
    fn streaming_matches_offline_output_shifted_by_the_delay() {
        let input = tone(44_100, 700.0, 0.3, 12_000.0);
        let offline = resample(&input, 8000).unwrap();
        let mut r = Resampler::new(44_100, 8000).unwrap();
        let mut streamed = Vec::new();
        let mut out = vec![0i16; 200];
        for chunk in input.samples.chunks(441) {
            let n = r.process(chunk, &mut out).unwrap();
            streamed.extend_from_slice(&out[..n]);
        }
        assert_eq!(streamed.len(), offline.samples.len());
        // delay is in input samples; find the output lag that lines the two up.
        let lag = (r.delay_samples() as f64 * 8000.0 / 44_100.0).round() as usize;
        let err = offline.samples[100..1500]
            .iter()
            .zip(&streamed[100 + lag..1500 + lag])
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        // The lag is fractional, so the two differ by a sub-sample shift of a 700 Hz tone.
        let shift = (r.delay_samples() as f64 * 8000.0 / 44_100.0 - lag as f64).abs();
        let bound = 12_000.0 * 2.0 * std::f64::consts::PI * 700.0 / 8000.0 * shift + 4.0;
        assert!(
            f64::from(err) <= bound,
            "max difference {err}, bound {bound:.0}"
        );
    }

    #[test]
    fn an_odd_rate_with_thousands_of_phases_uses_the_interpolated_kernel_and_keeps_a_tone() {
        assert!(Ratio::new(44_101, 8000).unwrap().phases.is_empty());
        assert!(!Ratio::new(44_100, 8000).unwrap().phases.is_empty());
        let input = tone(44_101, 1000.0, 0.5, 16_000.0);
        let out = resample(&input, 8000).unwrap();
        assert_eq!(out.samples.len(), 4000);
        assert!((level(&input, 1000.0) - level(&out, 1000.0)).abs() < 0.5);
        let alias = resample(&tone(44_101, 5000.0, 0.5, 16_000.0), 8000).unwrap();
        assert!(level(&input, 1000.0) - crate::level::rms_dbfs(&alias.samples[1000..3000]) >= 40.0);
    }

    #[test]
    fn a_too_small_output_buffer_is_refused_without_consuming() {
        let mut r = Resampler::new(8000, 16_000).unwrap();
        let mut out = [0i16; 100];
        assert!(matches!(
            r.process(&[0; 160], &mut out),
            Err(AudioError::OutputTooSmall { needed: 320, .. })
        ));
        assert_eq!(r.output_len(160), 320);
    }

    #[test]
    fn zero_and_absurd_rates_are_refused() {
        assert_eq!(
            Resampler::new(0, 8000).unwrap_err(),
            AudioError::BadSampleRate(0)
        );
        assert!(Resampler::new(8000, 10_000_000).is_err());
    }
}
