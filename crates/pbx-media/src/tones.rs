//! Call-progress tones by country (ITU-T E.180 and its national annex values, as the
//! Asterisk/FreeSWITCH indication tables also list them): dial, ringback, busy, congestion and
//! call waiting, as cadenced generators of 8 kHz linear audio.
//!
//! Countries: RU (and the CIS plans that use it: BY, KZ, UA), GB, US/CA, JP, DE, FR, IT, ES,
//! and the CEPT default (425 Hz, T/CS 20-15) for every other code, which is what most of Europe
//! uses. [`tone_plan`] never fails: an unknown country gets the CEPT plan.
//!
//! A generator holds one period of its waveform, computed once when it is made (the DTMF/tone
//! frequencies are whole hertz, so the waveform repeats after 8000 / gcd(f…, 8000) samples),
//! and then only copies samples: no trigonometry per frame.

/// Which call-progress tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// Dial tone (continuous in most countries).
    Dial,
    /// Ringback (the far end is ringing).
    Ringback,
    /// Busy (the called party is busy).
    Busy,
    /// Congestion / reorder (the network cannot complete the call).
    Congestion,
    /// Call waiting (heard during a call).
    CallWaiting,
}

/// How the plan's frequencies combine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mix {
    /// One frequency.
    Single(u16),
    /// Two frequencies summed (each at the plan's level).
    Sum(u16, u16),
    /// A carrier amplitude-modulated by a low frequency (E.180 "400×16"), 100 % depth.
    Modulated { carrier: u16, by: u16 },
}

/// One country's definition of one tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// Frequencies.
    pub mix: Mix,
    /// Level of each frequency, dBm0.
    pub level_dbm0: f64,
    /// Cadence in milliseconds: on, off, on, off, …, repeated. Empty: continuous.
    pub cadence_ms: &'static [u32],
}

const fn plan(mix: Mix, cadence_ms: &'static [u32]) -> TonePlan {
    TonePlan {
        mix,
        level_dbm0: -13.0,
        cadence_ms,
    }
}

/// CEPT recommendation T/CS 20-15 (most of Europe): 425 Hz.
mod cept {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Single(425), &[]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Single(425), &[1000, 4000]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(425), &[500, 500]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(425), &[250, 250]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(425), &[200, 200, 200, 5000]);
}

mod ru {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Single(425), &[]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Single(425), &[800, 3200]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(425), &[400, 400]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(425), &[200, 200]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(425), &[200, 5000]);
}

mod de {
    use super::*;
    pub(super) const BUSY: TonePlan = plan(Mix::Single(425), &[480, 480]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(425), &[240, 240]);
}

mod fr {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Single(440), &[]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Single(440), &[1500, 3500]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(440), &[500, 500]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(440), &[250, 250]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(440), &[300, 10000]);
}

mod it {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Single(425), &[200, 200, 600, 1000]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Single(425), &[1000, 4000]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(425), &[500, 500]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(425), &[200, 200]);
    pub(super) const CALL_WAITING: TonePlan =
        plan(Mix::Single(425), &[400, 100, 250, 100, 150, 14000]);
}

mod es {
    use super::*;
    pub(super) const RINGBACK: TonePlan = plan(Mix::Single(425), &[1500, 3000]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(425), &[200, 200]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(425), &[200, 200, 200, 200, 200, 600]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(425), &[175, 175, 175, 3500]);
}

mod gb {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Sum(350, 440), &[]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Sum(400, 450), &[400, 200, 400, 2000]);
    pub(super) const BUSY: TonePlan = plan(Mix::Single(400), &[375, 375]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(400), &[400, 350, 225, 525]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(400), &[100, 4000]);
}

mod us {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Sum(350, 440), &[]);
    pub(super) const RINGBACK: TonePlan = plan(Mix::Sum(440, 480), &[2000, 4000]);
    pub(super) const BUSY: TonePlan = plan(Mix::Sum(480, 620), &[500, 500]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Sum(480, 620), &[250, 250]);
    pub(super) const CALL_WAITING: TonePlan = plan(Mix::Single(440), &[300, 9700]);
}

mod jp {
    use super::*;
    pub(super) const DIAL: TonePlan = plan(Mix::Single(400), &[]);
    pub(super) const RINGBACK: TonePlan = plan(
        Mix::Modulated {
            carrier: 400,
            by: 16,
        },
        &[1000, 2000],
    );
    pub(super) const BUSY: TonePlan = plan(Mix::Single(400), &[500, 500]);
    pub(super) const CONGESTION: TonePlan = plan(Mix::Single(400), &[500, 500]);
    pub(super) const CALL_WAITING: TonePlan = plan(
        Mix::Modulated {
            carrier: 400,
            by: 16,
        },
        &[500, 8000],
    );
}

/// The plan for `country` (ISO 3166 alpha-2, any case; "UK" is GB) and `kind`. Unknown
/// countries get the CEPT default.
pub fn tone_plan(country: &str, kind: ToneKind) -> &'static TonePlan {
    use ToneKind::*;
    let mut cc = [0u8; 2];
    if let [a, b] = country.as_bytes() {
        cc = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
    }
    match (&cc, kind) {
        (b"RU" | b"BY" | b"KZ" | b"UA", Dial) => &ru::DIAL,
        (b"RU" | b"BY" | b"KZ" | b"UA", Ringback) => &ru::RINGBACK,
        (b"RU" | b"BY" | b"KZ" | b"UA", Busy) => &ru::BUSY,
        (b"RU" | b"BY" | b"KZ" | b"UA", Congestion) => &ru::CONGESTION,
        (b"RU" | b"BY" | b"KZ" | b"UA", CallWaiting) => &ru::CALL_WAITING,
        (b"DE", Busy) => &de::BUSY,
        (b"DE", Congestion) => &de::CONGESTION,
        (b"FR", Dial) => &fr::DIAL,
        (b"FR", Ringback) => &fr::RINGBACK,
        (b"FR", Busy) => &fr::BUSY,
        (b"FR", Congestion) => &fr::CONGESTION,
        (b"FR", CallWaiting) => &fr::CALL_WAITING,
        (b"IT", Dial) => &it::DIAL,
        (b"IT", Ringback) => &it::RINGBACK,
        (b"IT", Busy) => &it::BUSY,
        (b"IT", Congestion) => &it::CONGESTION,
        (b"IT", CallWaiting) => &it::CALL_WAITING,
        (b"ES", Ringback) => &es::RINGBACK,
        (b"ES", Busy) => &es::BUSY,
        (b"ES", Congestion) => &es::CONGESTION,
        (b"ES", CallWaiting) => &es::CALL_WAITING,
        (b"GB" | b"UK", Dial) => &gb::DIAL,
        (b"GB" | b"UK", Ringback) => &gb::RINGBACK,
        (b"GB" | b"UK", Busy) => &gb::BUSY,
        (b"GB" | b"UK", Congestion) => &gb::CONGESTION,
        (b"GB" | b"UK", CallWaiting) => &gb::CALL_WAITING,
        (b"US" | b"CA", Dial) => &us::DIAL,
        (b"US" | b"CA", Ringback) => &us::RINGBACK,
        (b"US" | b"CA", Busy) => &us::BUSY,
        (b"US" | b"CA", Congestion) => &us::CONGESTION,
        (b"US" | b"CA", CallWaiting) => &us::CALL_WAITING,
        (b"JP", Dial) => &jp::DIAL,
        (b"JP", Ringback) => &jp::RINGBACK,
        (b"JP", Busy) => &jp::BUSY,
        (b"JP", Congestion) => &jp::CONGESTION,
        (b"JP", CallWaiting) => &jp::CALL_WAITING,
        (_, Dial) => &cept::DIAL,
        (_, Ringback) => &cept::RINGBACK,
        (_, Busy) => &cept::BUSY,
        (_, Congestion) => &cept::CONGESTION,
        (_, CallWaiting) => &cept::CALL_WAITING,
    }
}

const RATE: u32 = 8000;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A cadenced generator of one [`TonePlan`] at 8 kHz.
#[derive(Debug, Clone)]
pub struct ToneGen {
    /// One period of the (continuous) waveform.
    wave: Box<[i16]>,
    wave_pos: usize,
    /// Cadence in samples.
    cadence: Box<[u32]>,
    segment: usize,
    segment_pos: u32,
}

impl ToneGen {
    /// A generator starting at the beginning of the first "on" segment.
    pub fn new(plan: &TonePlan) -> Self {
        let peak = crate::tone::DBM0_PEAK * 10f64.powf(plan.level_dbm0 / 20.0);
        let freqs: &[u16] = match &plan.mix {
            Mix::Single(f) => &[*f],
            Mix::Sum(a, b) => &[*a, *b],
            Mix::Modulated { carrier, by } => &[*carrier, *by],
        };
        let g = freqs.iter().fold(RATE, |g, f| gcd(g, u32::from(*f).max(1)));
        let len = (RATE / g.max(1)) as usize;
        let w = |f: u16, n: usize| {
            (core::f64::consts::TAU * f64::from(f) * n as f64 / f64::from(RATE)).sin()
        };
        let wave = (0..len)
            .map(|n| {
                let v = match plan.mix {
                    Mix::Single(f) => peak * w(f, n),
                    Mix::Sum(a, b) => peak * (w(a, n) + w(b, n)),
                    Mix::Modulated { carrier, by } => peak * w(carrier, n) * (0.5 + 0.5 * w(by, n)),
                };
                v.round().clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        let cadence = plan
            .cadence_ms
            .iter()
            .map(|ms| ms.saturating_mul(RATE / 1000))
            .collect();
        ToneGen {
            wave,
            wave_pos: 0,
            cadence,
            segment: 0,
            segment_pos: 0,
        }
    }

    /// Fills `out` with the next samples of the tone.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut rest = out;
        while !rest.is_empty() {
            let (on, run) = if self.cadence.is_empty() {
                (true, rest.len())
            } else {
                let seg_len = self.cadence[self.segment];
                let left = (seg_len - self.segment_pos) as usize;
                (self.segment.is_multiple_of(2), left.min(rest.len()))
            };
            let (now, later) = rest.split_at_mut(run);
            for s in now.iter_mut() {
                *s = if on { self.wave[self.wave_pos] } else { 0 };
                self.wave_pos += 1;
                if self.wave_pos == self.wave.len() {
                    self.wave_pos = 0;
                }
            }
            rest = later;
            if !self.cadence.is_empty() {
                self.segment_pos += run as u32;
                if self.segment_pos >= self.cadence[self.segment] {
                    self.segment_pos = 0;
                    self.segment = (self.segment + 1) % self.cadence.len();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{goertzel, rms};

    /// On/off pattern in 10 ms steps over `ms` of generated tone.
    fn on_off(plan: &TonePlan, ms: usize) -> (Vec<bool>, Vec<i16>) {
        let mut g = ToneGen::new(plan);
        let mut all = vec![0i16; ms * 8];
        // Odd chunk sizes: the cadence must not depend on how the caller slices.
        for c in all.chunks_mut(37) {
            g.fill(c);
        }
        let pattern = all.chunks(80).map(|c| rms(c) > 300.0).collect();
        (pattern, all)
    }

    /// Durations (ms) of the runs of the pattern.
    fn runs(p: &[bool]) -> Vec<(bool, usize)> {
        let mut out: Vec<(bool, usize)> = Vec::new();
        for &b in p {
            match out.last_mut() {
                Some((v, n)) if *v == b => *n += 10,
                _ => out.push((b, 10)),
            }
        }
        out
    }

    /// The first "on" segment holds `hz`.
    fn has(all: &[i16], hz: f64) -> bool {
        let on = all.chunks(80).take_while(|c| rms(c) > 300.0).count() * 80;
        goertzel(&all[..on], hz, 8000) > 1000.0
    }

    #[test]
    fn russian_tones_are_425_hz_with_e180_cadences() {
        let (p, all) = on_off(tone_plan("ru", ToneKind::Ringback), 8000);
        assert_eq!(
            runs(&p),
            [(true, 800), (false, 3200), (true, 800), (false, 3200)]
        );
        assert!(has(&all, 425.0) && !has(&all, 440.0));
        let (p, _) = on_off(tone_plan("RU", ToneKind::Busy), 1600);
        assert_eq!(
            runs(&p),
            [(true, 400), (false, 400), (true, 400), (false, 400)]
        );
        let (p, _) = on_off(tone_plan("RU", ToneKind::Congestion), 800);
        assert_eq!(
            runs(&p),
            [(true, 200), (false, 200), (true, 200), (false, 200)]
        );
    }

    #[test]
    fn us_ringback_and_busy_are_dual_tones() {
        let (p, all) = on_off(tone_plan("US", ToneKind::Ringback), 6000);
        assert_eq!(runs(&p), [(true, 2000), (false, 4000)]);
        assert!(has(&all, 440.0) && has(&all, 480.0) && !has(&all, 425.0));
        let (p, all) = on_off(tone_plan("ca", ToneKind::Busy), 2000);
        assert_eq!(
            runs(&p),
            [(true, 500), (false, 500), (true, 500), (false, 500)]
        );
        assert!(has(&all, 480.0) && has(&all, 620.0));
        let (p, _) = on_off(tone_plan("US", ToneKind::Congestion), 1000);
        assert_eq!(
            runs(&p),
            [(true, 250), (false, 250), (true, 250), (false, 250)]
        );
    }

    #[test]
    fn british_ringback_is_a_double_ring_and_busy_is_400_hz() {
        let (p, all) = on_off(tone_plan("GB", ToneKind::Ringback), 3000);
        assert_eq!(
            runs(&p),
            [(true, 400), (false, 200), (true, 400), (false, 2000)]
        );
        assert!(has(&all, 400.0) && has(&all, 450.0));
        let (p, all) = on_off(tone_plan("uk", ToneKind::Busy), 1500);
        assert_eq!(
            runs(&p),
            [(true, 380), (false, 370), (true, 380), (false, 370)]
        );
        assert!(has(&all, 400.0) && !has(&all, 450.0));
    }

    #[test]
    fn european_countries_use_425_hz_and_unknown_ones_get_cept() {
        for cc in ["DE", "IT", "ES", "NL", "xx", ""] {
            let (_, all) = on_off(tone_plan(cc, ToneKind::Ringback), 2000);
            assert!(has(&all, 425.0), "{cc}");
        }
        let (p, _) = on_off(tone_plan("NL", ToneKind::Ringback), 5000);
        assert_eq!(runs(&p), [(true, 1000), (false, 4000)]);
        let (p, _) = on_off(tone_plan("DE", ToneKind::Busy), 960);
        assert_eq!(runs(&p), [(true, 480), (false, 480)]);
        let (p, all) = on_off(tone_plan("FR", ToneKind::Ringback), 5000);
        assert_eq!(runs(&p), [(true, 1500), (false, 3500)]);
        assert!(has(&all, 440.0));
    }

    #[test]
    fn japanese_ringback_is_400_hz_modulated_at_16_hz() {
        let plan = tone_plan("JP", ToneKind::Ringback);
        let mut g = ToneGen::new(plan);
        let mut on = vec![0i16; 8000];
        g.fill(&mut on);
        let first = &on[..8000];
        // 1 s on: the carrier and its 16 Hz sidebands.
        assert!(goertzel(first, 400.0, 8000) > 1000.0);
        assert!(goertzel(first, 416.0, 8000) > 500.0);
        assert!(goertzel(first, 384.0, 8000) > 500.0);
        let mut off = vec![0i16; 16000];
        g.fill(&mut off);
        assert!(off.iter().all(|s| *s == 0));
    }

    #[test]
    fn continuous_dial_tone_has_no_gaps() {
        let (p, all) = on_off(tone_plan("RU", ToneKind::Dial), 3000);
        assert!(p.iter().all(|b| *b));
        assert!(has(&all, 425.0));
        let (_, all) = on_off(tone_plan("US", ToneKind::Dial), 1000);
        assert!(has(&all, 350.0) && has(&all, 440.0));
    }

    #[test]
    fn the_level_is_minus_13_dbm0_per_frequency() {
        let mut g = ToneGen::new(tone_plan("RU", ToneKind::Dial));
        let mut b = vec![0i16; 8000];
        g.fill(&mut b);
        let want = crate::tone::DBM0_PEAK * 10f64.powf(-13.0 / 20.0);
        assert!((goertzel(&b, 425.0, 8000) / want - 1.0).abs() < 0.02);
    }
}
