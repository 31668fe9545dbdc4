//! Seeded, deterministic randomness (splitmix64): Call-IDs, tags, cnonces
//! and backoff jitter. The server seeds each machine from its own entropy;
//! tests seed with constants, so every run is the same.

/// A splitmix64 generator. Not cryptographic: a cnonce only has to be
/// unpredictable enough not to repeat, and the seed comes from the server.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 16 lower-case hex digits.
    pub(crate) fn hex(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A value uniformly in `0..=max` (`max` small: modulo bias is negligible).
    pub(crate) fn below_or_eq(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(m) => self.next_u64() % m,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_does_not() {
        let mut a = SplitMix::new(7);
        let mut b = SplitMix::new(7);
        let mut c = SplitMix::new(8);
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn below_or_eq_stays_in_range() {
        let mut r = SplitMix::new(1);
        for _ in 0..1000 {
            assert!(r.below_or_eq(5) <= 5);
        }
        assert_eq!(r.below_or_eq(0), 0);
    }
}
