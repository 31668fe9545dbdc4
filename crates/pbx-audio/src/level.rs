//! Level measurements for checking prompts and recordings (peak, RMS, one frequency).

/// Peak level in dBFS (0 dBFS = 32768); `-inf` for silence or an empty slice.
#[must_use]
pub fn peak_dbfs(samples: &[i16]) -> f64 {
    let peak = samples
        .iter()
        .map(|&s| i32::from(s).unsigned_abs())
        .max()
        .unwrap_or(0);
    amplitude_dbfs(f64::from(peak))
}

/// RMS level in dBFS (a full-scale square wave is 0 dBFS, a full-scale sine −3 dBFS); `-inf` for
/// silence or an empty slice.
#[must_use]
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    amplitude_dbfs((sum / samples.len() as f64).sqrt())
}

/// Level of one frequency (Goertzel) in dBFS RMS: a sine of amplitude A at `freq` reads the same
/// as [`rms_dbfs`] of that sine, `20·log10(A/√2/32768)`. `-inf` for an empty slice.
#[must_use]
pub fn goertzel_dbfs(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() || rate == 0 {
        return f64::NEG_INFINITY;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    // |X(f)| = A·N/2 for a sine of amplitude A; RMS = A/√2.
    let amplitude = 2.0 * power.sqrt() / samples.len() as f64;
    amplitude_dbfs(amplitude / std::f64::consts::SQRT_2)
}

fn amplitude_dbfs(a: f64) -> f64 {
    if a <= 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * (a / 32768.0).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_sine_reads_about_minus_3_dbfs_rms_and_0_peak() {
        let s: Vec<i16> = (0..8000)
            .map(|i| (32767.0 * (i as f64 * 0.1).sin()) as i16)
            .collect();
        assert!((rms_dbfs(&s) + 3.01).abs() < 0.05, "{}", rms_dbfs(&s));
        assert!(peak_dbfs(&s) > -0.01);
    }

    #[test]
    fn goertzel_reads_a_sine_at_its_rms_and_ignores_other_frequencies() {
        let s: Vec<i16> = (0..8000)
            .map(|i| {
                (10_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert!((goertzel_dbfs(&s, 8000, 1000.0) - rms_dbfs(&s)).abs() < 0.1);
        assert!(goertzel_dbfs(&s, 8000, 1500.0) < rms_dbfs(&s) - 60.0);
    }

    #[test]
    fn silence_reads_minus_infinity() {
        assert_eq!(peak_dbfs(&[0; 10]), f64::NEG_INFINITY);
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
    }
}
