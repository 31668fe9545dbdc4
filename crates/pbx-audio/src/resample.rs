//! Sample-rate conversion by band-limited (windowed-sinc) interpolation.
//!
//! The filter is a Kaiser-windowed sinc whose cutoff sits at [`ROLLOFF`] of the lower of the two
//! Nyquist frequencies, so converting down to 8 kHz removes what would alias (anti-aliasing) and
//! converting up removes images. The kernel is tabulated once (shared by every resampler) at
//! [`TABLE_RES`] points per zero crossing and linearly interpolated, so any pair of rates works
//! (44 100 → 8 000, 22 050 → 16 000, 11 025 → 8 000 …) with exact rational position tracking
//! (no drift, however long the stream).
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

fn kernel_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = ZEROS * TABLE_RES;
        let i0_beta = bessel_i0(BETA);
        (0..n + 2)
            .map(|k| {
                if k > n {
                    return 0.0;
                }
                let u = k as f64 / TABLE_RES as f64;
                let sinc = if k == 0 {
                    1.0
                } else {
                    (std::f64::consts::PI * u).sin() / (std::f64::consts::PI * u)
                };
                let r = u / ZEROS as f64;
                let window = bessel_i0(BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                (sinc * window) as f32
            })
            .collect()
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The fixed parameters of one conversion.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    /// Output rate / gcd.
    l: u64,
    /// Input rate / gcd.
    m: u64,
    /// Cutoff in cycles per input sample × 2 (1.0 = input Nyquist).
    fc: f64,
    /// Half the kernel's length in input samples.
    half: f64,
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
        Ok(Self {
            l,
            m,
            fc,
            half: ZEROS as f64 / fc,
        })
    }

    /// The output sample at input position `ip + frac` from `x`, whose first element is input
    /// index `base`; indices outside `x` count as silence.
    fn interpolate(&self, table: &[f32], x: &[f32], base: i64, ip: i64, frac: f64) -> f32 {
        let centre = ip as f64 + frac;
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
    let table = kernel_table();
    let x: Vec<f32> = pcm.samples.iter().map(|&s| f32::from(s)).collect();
    let n_out = (x.len() as u64 * ratio.l).div_ceil(ratio.m);
    let samples = (0..n_out)
        .map(|n| {
            let num = n * ratio.m;
            let ip = (num / ratio.l) as i64;
            let frac = (num % ratio.l) as f64 / ratio.l as f64;
            to_i16(ratio.interpolate(table, &x, 0, ip, frac))
        })
        .collect();
    Ok(Pcm { rate: to, samples })
}

/// Input samples handled per internal step of [`Resampler::process`].
const CHUNK: usize = 512;

/// A streaming resampler: feed any number of samples, get every output sample that the input so
/// far determines. Output lags the input by [`Resampler::delay_samples`] input samples (the
/// kernel's half length, rounded up), which is what lets it produce exactly
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
        let delay = ratio.half.ceil() as i64;
        let keep = 2 * delay as usize + 4;
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
        let table = kernel_table();
        let mut written = 0;
        for chunk in input.chunks(CHUNK) {
            self.hist.extend(chunk.iter().map(|&s| f32::from(s)));
            self.n_in += chunk.len() as u64;
            // Output n is ready once its window's right edge, n·M/L − delay + half ≤ n·M/L, has
            // arrived: n·M < n_in·L.
            while self.n_out * self.ratio.m < self.n_in * self.ratio.l {
                let num = self.n_out * self.ratio.m;
                let ip = (num / self.ratio.l) as i64 - self.delay;
                let frac = (num % self.ratio.l) as f64 / self.ratio.l as f64;
                out[written] = to_i16(
                    self.ratio
                        .interpolate(table, &self.hist, self.base, ip, frac),
                );
                written += 1;
                self.n_out += 1;
            }
            // Drop what the next output's window no longer reaches.
            let next_ip = (self.n_out * self.ratio.m / self.ratio.l) as i64 - self.delay;
            let lowest = next_ip - self.ratio.half.ceil() as i64 - 1;
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
