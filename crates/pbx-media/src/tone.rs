//! Test-tone generation and single-frequency level estimation (Goertzel).

use crate::g711;

/// A sine generator producing 16-bit linear samples, or G.711 frames.
#[derive(Debug, Clone)]
pub struct Tone {
    phase: f64,
    step: f64,
    amplitude: f64,
}

/// Peak amplitude (16-bit linear) of a 0 dBm0 sine: G.711's digital milliwatt is 3.17 dB
/// below full scale.
pub const DBM0_PEAK: f64 = 22_786.0;

impl Tone {
    /// A sine of `freq_hz` at `level_dbm0` (0 = digital milliwatt, −10 typical speech level)
    /// sampled at `sample_rate`.
    pub fn new(freq_hz: f64, level_dbm0: f64, sample_rate: u32) -> Self {
        Tone {
            phase: 0.0,
            step: core::f64::consts::TAU * freq_hz / f64::from(sample_rate.max(1)),
            amplitude: (DBM0_PEAK * 10f64.powf(level_dbm0 / 20.0)).min(32767.0),
        }
    }

    /// Peak amplitude of the generated sine.
    pub fn amplitude(&self) -> f64 {
        self.amplitude
    }

    /// The next sample.
    pub fn next_sample(&mut self) -> i16 {
        let v = self.amplitude * self.phase.sin();
        self.phase = (self.phase + self.step) % core::f64::consts::TAU;
        v.round().clamp(-32768.0, 32767.0) as i16
    }

    /// Fills `out` with linear samples.
    pub fn fill_linear(&mut self, out: &mut [i16]) {
        for s in out {
            *s = self.next_sample();
        }
    }

    /// Fills `out` with A-law bytes.
    pub fn fill_alaw(&mut self, out: &mut [u8]) {
        for b in out {
            *b = g711::linear_to_alaw(self.next_sample());
        }
    }

    /// Fills `out` with µ-law bytes.
    pub fn fill_ulaw(&mut self, out: &mut [u8]) {
        for b in out {
            *b = g711::linear_to_ulaw(self.next_sample());
        }
    }
}

/// Estimated peak amplitude of the `freq_hz` component of `samples` (Goertzel algorithm).
/// A pure sine of amplitude A at that frequency gives about A.
pub fn goertzel(samples: &[i16], freq_hz: f64, sample_rate: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = core::f64::consts::TAU * freq_hz / f64::from(sample_rate.max(1));
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// Root-mean-square of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_generated_tone_and_not_others() {
        let mut t = Tone::new(440.0, -10.0, 8000);
        let mut buf = vec![0i16; 8000];
        t.fill_linear(&mut buf);
        let at = goertzel(&buf, 440.0, 8000);
        assert!(
            (at / t.amplitude() - 1.0).abs() < 0.02,
            "{at} vs {}",
            t.amplitude()
        );
        assert!(goertzel(&buf, 1000.0, 8000) < at / 100.0);
        let r = rms(&buf);
        assert!((r / (t.amplitude() / 2f64.sqrt()) - 1.0).abs() < 0.01);
    }

    #[test]
    fn g711_frames_carry_the_tone() {
        let mut t = Tone::new(1000.0, -10.0, 8000);
        let mut a = vec![0u8; 1600];
        t.fill_alaw(&mut a);
        let mut lin = vec![0i16; 1600];
        g711::decode_alaw(&a, &mut lin);
        let at = goertzel(&lin, 1000.0, 8000);
        assert!((at / t.amplitude() - 1.0).abs() < 0.05);
        assert!(goertzel(&lin, 440.0, 8000) < at / 30.0);
        let mut u = vec![0u8; 1600];
        t.fill_ulaw(&mut u);
        g711::decode_ulaw(&u, &mut lin);
        assert!((goertzel(&lin, 1000.0, 8000) / t.amplitude() - 1.0).abs() < 0.05);
    }

    #[test]
    fn a_law_bytes_read_as_mu_law_do_not_pass_for_the_tone() {
        // Why the relay's transcoding test can fail: without transcoding the level is far off.
        let mut t = Tone::new(1000.0, -10.0, 8000);
        let mut a = vec![0u8; 1600];
        t.fill_alaw(&mut a);
        let mut lin = vec![0i16; 1600];
        g711::decode_ulaw(&a, &mut lin);
        let ratio = goertzel(&lin, 1000.0, 8000) / t.amplitude();
        assert!((ratio - 1.0).abs() > 0.1, "ratio {ratio}");
    }

    #[test]
    fn empty_input_is_silence() {
        assert_eq!(goertzel(&[], 440.0, 8000), 0.0);
        assert_eq!(rms(&[]), 0.0);
    }
}
