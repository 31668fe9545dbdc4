//! Nonce-count replay protection in bounded memory.
//!
//! The guard is a set-associative table allocated once: `capacity` slots in
//! buckets of [`WAYS`], indexed by the (uniformly distributed, unforgeable)
//! [`NonceId`]. Each slot holds one nonce: its id, issue time, the highest
//! `nc` seen and a 32-bit window of the counts just below it, so requests
//! reordered by UDP are accepted once each and any reuse is refused.
//!
//! When a bucket is full, the nonce issued longest ago is evicted and the
//! bucket's *watermark* rises to its issue time. A nonce that is absent from
//! its bucket and was issued at or before the watermark may have been
//! evicted, so it is answered [`NcCheck::Stale`] (the client is challenged
//! afresh) — never accepted unchecked. A nonce absent and newer than the
//! watermark was never seen, so its first use is accepted. Under a load that
//! outgrows the table, the effective nonce lifetime shrinks to about
//! `capacity / new nonces per second` instead of memory growing.
//!
//! Memory: 24 bytes per slot plus 8 per bucket of 8, i.e. 25 bytes per
//! tracked nonce — 1.6 MiB for the default 65,536 ([`ReplayGuard::memory_bytes`]).

use std::sync::{Mutex, PoisonError};

use crate::nonce::ValidNonce;

/// Slots per bucket.
pub const WAYS: usize = 8;

/// Default number of nonces tracked.
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// Width of the out-of-order window below the highest count.
const WINDOW_BITS: u32 = 32;

/// The outcome of recording one use of a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcCheck {
    /// First use of this count for this nonce: recorded.
    Accepted,
    /// This count was already used, or is more than 32 below the highest
    /// count seen (too old to tell): refuse.
    Replayed,
    /// The guard no longer tracks this nonce (evicted): challenge again with
    /// `stale=true`.
    Stale,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    id: u64,
    issued_at: u64,
    /// Highest nc seen; 0 marks an empty slot (counts start at 1).
    highest: u32,
    /// Bit `i` set: count `highest - 1 - i` was seen.
    window: u32,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.highest == 0
    }

    fn record(&mut self, nc: u32) -> NcCheck {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.window = self.window.checked_shl(shift).unwrap_or(0)
                | 1u32.checked_shl(shift - 1).unwrap_or(0);
            self.highest = nc;
            NcCheck::Accepted
        } else if nc == self.highest {
            NcCheck::Replayed
        } else {
            let below = self.highest - nc - 1;
            if below >= WINDOW_BITS {
                return NcCheck::Replayed;
            }
            let bit = 1u32 << below;
            if self.window & bit != 0 {
                NcCheck::Replayed
            } else {
                self.window |= bit;
                NcCheck::Accepted
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    slots: [Slot; WAYS],
    /// Highest issue time of any nonce evicted from this bucket.
    watermark: u64,
}

/// Tracks which nonce counts each nonce has used, in fixed memory.
///
/// One guard must see every use of a given nonce. The digest does not cover
/// Call-ID, To or From, so a captured `Authorization` can be resent inside a
/// request that a sharded server routes elsewhere: per-shard guards are
/// unsafe unless the shard is chosen by the nonce. Share one
/// [`SharedReplayGuard`] between shards instead.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    buckets: Box<[Bucket]>,
    mask: usize,
}

impl ReplayGuard {
    /// A guard for at least `capacity` nonces (rounded up to a power-of-two
    /// number of buckets of [`WAYS`]). All memory is allocated here.
    pub fn new(capacity: usize) -> ReplayGuard {
        let buckets = capacity.max(1).div_ceil(WAYS).next_power_of_two();
        ReplayGuard {
            buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
            mask: buckets - 1,
        }
    }

    /// How many nonces it tracks at most.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Heap bytes held (constant for the guard's lifetime).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val::<[Bucket]>(&self.buckets)
    }

    /// How many nonces are tracked now.
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.slots.iter().filter(|s| !s.is_empty()).count())
            .sum()
    }

    /// True when no nonce is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that `nonce` was used with count `nc`. Call it only after the
    /// response digest verified: otherwise anyone who saw a challenge could
    /// burn a victim's counts.
    pub fn check_and_record(&mut self, nonce: ValidNonce, nc: u32) -> NcCheck {
        if nc == 0 {
            return NcCheck::Replayed;
        }
        let id = nonce.id.0;
        let index = usize::try_from(id & (self.mask as u64)).expect("masked index fits in usize");
        let bucket = &mut self.buckets[index];
        if let Some(slot) = bucket
            .slots
            .iter_mut()
            .find(|s| !s.is_empty() && s.id == id)
        {
            return slot.record(nc);
        }
        if nonce.issued_at <= bucket.watermark {
            return NcCheck::Stale;
        }
        let victim = bucket
            .slots
            .iter_mut()
            .min_by_key(|s| {
                if s.is_empty() {
                    (false, 0)
                } else {
                    (true, s.issued_at)
                }
            })
            .expect("a bucket has WAYS > 0 slots");
        if !victim.is_empty() {
            if victim.issued_at > nonce.issued_at {
                // The newcomer is older than everything tracked here: it is
                // the one to forget.
                bucket.watermark = bucket.watermark.max(nonce.issued_at);
                return NcCheck::Stale;
            }
            bucket.watermark = bucket.watermark.max(victim.issued_at);
        }
        *victim = Slot {
            id,
            issued_at: nonce.issued_at,
            highest: nc,
            window: 0,
        };
        NcCheck::Accepted
    }
}

/// A [`ReplayGuard`] usable from many threads: `shards` independent guards
/// behind their own mutexes, chosen by bits of the nonce id that the guard's
/// bucket index does not use. Lock hold time is one bucket scan (tens of ns).
#[derive(Debug)]
pub struct SharedReplayGuard {
    shards: Box<[Mutex<ReplayGuard>]>,
    mask: u64,
}

impl SharedReplayGuard {
    /// At least `capacity` nonces in total, split over `shards` locks
    /// (rounded up to a power of two).
    pub fn new(capacity: usize, shards: usize) -> SharedReplayGuard {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let per_shard = capacity.max(1).div_ceil(n);
        SharedReplayGuard {
            shards: (0..n)
                .map(|_| Mutex::new(ReplayGuard::new(per_shard)))
                .collect(),
            mask: (n as u64) - 1,
        }
    }

    fn shard(&self, nonce: &ValidNonce) -> &Mutex<ReplayGuard> {
        // The high bits: ReplayGuard indexes buckets with the low ones.
        let index =
            usize::try_from((nonce.id.0 >> 40) & self.mask).expect("masked index fits in usize");
        &self.shards[index]
    }

    fn each<T>(&self, f: impl Fn(&ReplayGuard) -> T) -> impl Iterator<Item = T> {
        self.shards
            .iter()
            .map(move |m| f(&m.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// [`ReplayGuard::check_and_record`] under the nonce's shard lock.
    pub fn check_and_record(&self, nonce: ValidNonce, nc: u32) -> NcCheck {
        // A poisoned lock only means another thread panicked mid-call; the
        // table is plain data and stays consistent, so keep using it.
        self.shard(&nonce)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check_and_record(nonce, nc)
    }

    /// Total nonces tracked at most.
    pub fn capacity(&self) -> usize {
        self.each(ReplayGuard::capacity).sum()
    }

    /// Total heap bytes of the tables (constant).
    pub fn memory_bytes(&self) -> usize {
        self.each(ReplayGuard::memory_bytes).sum()
    }

    /// Nonces tracked now.
    pub fn len(&self) -> usize {
        self.each(ReplayGuard::len).sum()
    }

    /// True when no nonce is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ReplayGuard {
    fn default() -> ReplayGuard {
        ReplayGuard::new(DEFAULT_REPLAY_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::nonce::{NonceCheck, NonceId, NonceKey};
    use std::net::{IpAddr, Ipv4Addr};

    fn nonce(id: u64, issued_at: u64) -> ValidNonce {
        ValidNonce {
            issued_at,
            id: NonceId(id),
        }
    }

    #[test]
    fn each_count_is_accepted_once_and_reuse_is_replay() {
        let mut g = ReplayGuard::new(64);
        let n = nonce(42, 100);
        assert_eq!(g.check_and_record(n, 1), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 1), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, 2), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 2), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, 1), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, 0), NcCheck::Replayed);
    }

    #[test]
    fn out_of_order_counts_inside_the_window_are_accepted_once() {
        let mut g = ReplayGuard::new(64);
        let n = nonce(7, 100);
        assert_eq!(g.check_and_record(n, 5), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 3), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 3), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, 4), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 1), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 2), NcCheck::Accepted);
        for nc in 1..=5 {
            assert_eq!(g.check_and_record(n, nc), NcCheck::Replayed, "nc {nc}");
        }
        // Jump by exactly the window width, then look back.
        assert_eq!(g.check_and_record(n, 37), NcCheck::Accepted);
        assert_eq!(
            g.check_and_record(n, 5),
            NcCheck::Replayed,
            "5 was seen and is 32 below"
        );
        assert_eq!(
            g.check_and_record(n, 4),
            NcCheck::Replayed,
            "4 is outside the window"
        );
        assert_eq!(g.check_and_record(n, 6), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 36), NcCheck::Accepted);
        // A jump past the window forgets everything below it.
        assert_eq!(g.check_and_record(n, 1000), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 37), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, 999), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 968), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, 967), NcCheck::Replayed);
        assert_eq!(g.check_and_record(n, u32::MAX), NcCheck::Accepted);
        assert_eq!(g.check_and_record(n, u32::MAX), NcCheck::Replayed);
    }

    #[test]
    fn capacity_rounds_up_to_whole_buckets_and_memory_is_25_bytes_per_nonce() {
        let g = ReplayGuard::new(DEFAULT_REPLAY_CAPACITY);
        assert_eq!(g.capacity(), 65_536);
        assert_eq!(g.memory_bytes(), 65_536 / WAYS * 200);
        assert_eq!(g.memory_bytes() / g.capacity(), 25);
        assert_eq!(ReplayGuard::new(0).capacity(), WAYS);
        assert_eq!(ReplayGuard::new(9).capacity(), 2 * WAYS);
        assert!(g.is_empty());
    }

    #[test]
    fn filling_past_capacity_keeps_memory_fixed_and_never_accepts_a_forgotten_nonce_unchecked() {
        let key = NonceKey::from_bytes([3; 32]);
        let src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let mut g = ReplayGuard::new(256);
        let memory = g.memory_bytes();
        let valid = |nonce: &str, now| match key.check(nonce, "r", src, now, 1_000_000) {
            NonceCheck::Valid(v) => v,
            other => panic!("{other:?}"),
        };
        // 10× capacity nonces, one per second, each used once with nc=1.
        let total = 10 * g.capacity() as u64;
        let nonces: Vec<String> = (0..total)
            .map(|i| key.issue("r", src, 1_000 + i, i.to_be_bytes()))
            .collect();
        for (i, n) in nonces.iter().enumerate() {
            let v = valid(n, 1_000 + i as u64);
            assert_eq!(
                g.check_and_record(v, 1),
                NcCheck::Accepted,
                "first use of nonce {i}"
            );
            assert!(g.len() <= g.capacity());
        }
        assert_eq!(g.memory_bytes(), memory);
        assert!(
            g.len() > g.capacity() / 2,
            "the table is used, len {}",
            g.len()
        );

        // Every nonce: nc=1 again is never accepted; nc=2 is accepted only
        // if the nonce is still tracked.
        let mut stale = 0;
        let mut tracked = 0;
        for (i, n) in nonces.iter().enumerate() {
            let v = valid(n, 1_000 + total);
            match g.check_and_record(v, 1) {
                NcCheck::Replayed => {
                    tracked += 1;
                    assert_eq!(g.check_and_record(v, 2), NcCheck::Accepted, "nonce {i}");
                }
                NcCheck::Stale => {
                    stale += 1;
                    assert_eq!(g.check_and_record(v, 2), NcCheck::Stale, "nonce {i}");
                }
                NcCheck::Accepted => panic!("forgotten nonce {i} was accepted unchecked"),
            }
        }
        assert_eq!(tracked, g.len());
        assert!(stale >= nonces.len() - g.capacity());
        // The oldest nonce was certainly evicted: its bucket saw ~10 newer ones.
        assert_eq!(
            g.check_and_record(valid(&nonces[0], 1_000), 3),
            NcCheck::Stale
        );
        assert_eq!(g.memory_bytes(), memory);
    }

    #[test]
    fn shared_guard_spreads_nonces_over_shards_and_refuses_replays_from_any_thread() {
        let key = NonceKey::from_bytes([4; 32]);
        let src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
        let g = std::sync::Arc::new(SharedReplayGuard::new(4096, 4));
        assert_eq!(g.capacity(), 4096);
        assert_eq!(g.memory_bytes(), 4096 / WAYS * 200);
        let nonces: Vec<ValidNonce> = (0..400u64)
            .map(|i| {
                match key.check(&key.issue("r", src, 10, i.to_be_bytes()), "r", src, 10, 300) {
                    NonceCheck::Valid(v) => v,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        let used: Vec<usize> = (0..g.shards.len())
            .map(|s| {
                nonces
                    .iter()
                    .filter(|n| std::ptr::eq(g.shard(n), &g.shards[s]))
                    .count()
            })
            .collect();
        assert!(
            used.iter().all(|&c| c > 50),
            "every shard gets nonces: {used:?}"
        );
        // Two threads each try every nonce with nc=1: exactly one wins per nonce.
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                let nonces = nonces.clone();
                std::thread::spawn(move || {
                    nonces
                        .iter()
                        .filter(|n| g.check_and_record(**n, 1) == NcCheck::Accepted)
                        .count()
                })
            })
            .collect();
        let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(accepted, nonces.len());
        assert_eq!(g.len(), nonces.len());
    }

    #[test]
    fn a_newcomer_older_than_a_full_bucket_is_stale_and_does_not_evict() {
        let mut g = ReplayGuard::new(WAYS); // one bucket
        for i in 0..WAYS as u64 {
            assert_eq!(
                g.check_and_record(nonce(i + 1, 100 + i), 1),
                NcCheck::Accepted
            );
        }
        assert_eq!(g.check_and_record(nonce(99, 50), 1), NcCheck::Stale);
        for i in 0..WAYS as u64 {
            assert_eq!(
                g.check_and_record(nonce(i + 1, 100 + i), 1),
                NcCheck::Replayed,
                "still tracked"
            );
        }
        // A newer one evicts the oldest (issued at 100), which then reads as stale.
        assert_eq!(g.check_and_record(nonce(200, 500), 1), NcCheck::Accepted);
        assert_eq!(g.check_and_record(nonce(1, 100), 2), NcCheck::Stale);
        // And so does a never-seen nonce issued at or before the watermark.
        assert_eq!(g.check_and_record(nonce(300, 100), 1), NcCheck::Stale);
        assert_eq!(g.check_and_record(nonce(301, 101), 1), NcCheck::Accepted);
    }
}
