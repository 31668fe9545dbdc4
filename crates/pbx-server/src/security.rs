//! Bans, failed-authentication counting, per-IP rate limits and the
//! scanner User-Agent check (`[security]` in vpbx.toml).
//!
//! Everything here is keyed by source IP and bounded: the tables hold at most
//! [`MAX_TRACKED_IPS`] addresses each; past that the oldest entries go.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Most addresses each table tracks (failures, rate buckets).
pub const MAX_TRACKED_IPS: usize = 100_000;

const RATE_SHARDS: usize = 16;

/// The `[security]` settings the server runs with.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    pub trusted: Vec<(IpAddr, u8)>,
    pub ban_threshold: u32,
    pub ban_window: Duration,
    pub ban_time: Duration,
    pub drop_scanner_user_agents: bool,
    /// Lower-cased substrings of scanner User-Agents.
    pub scanner_user_agents: Vec<String>,
    /// Sustained requests per second per source IP (0 = no limit).
    pub rate_limit_per_ip: u32,
    /// Bucket size for bursts.
    pub rate_burst: u32,
}

/// A ban as the store and `vpbx ban list` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    pub ip: IpAddr,
    /// Wall-clock end of the ban, ms since the Unix epoch.
    pub until_ms: u64,
    pub reason: String,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Shared by the receive loops and the shards.
#[derive(Debug)]
pub struct Security {
    settings: RwLock<SecuritySettings>,
    /// IP → (monotonic end, wall-clock end ms).
    bans: RwLock<HashMap<IpAddr, (Instant, u64)>>,
    fails: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    buckets: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
    /// New bans go to the store through this channel (bounded; a full
    /// channel only delays persistence, the ban is in force at once).
    persist: mpsc::Sender<BanRecord>,
}

/// Why a packet was refused before it reached a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Banned,
    RateLimited,
}

impl Security {
    pub fn new(settings: SecuritySettings, persist: mpsc::Sender<BanRecord>) -> Security {
        Security {
            settings: RwLock::new(settings),
            bans: RwLock::new(HashMap::new()),
            fails: Mutex::new(HashMap::new()),
            buckets: (0..RATE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            persist,
        }
    }

    pub fn set_settings(&self, settings: SecuritySettings) {
        *self
            .settings
            .write()
            .expect("security settings lock is never poisoned: no panics while held") = settings;
    }

    fn settings(&self) -> std::sync::RwLockReadGuard<'_, SecuritySettings> {
        self.settings
            .read()
            .expect("security settings lock is never poisoned: no panics while held")
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.settings()
            .trusted
            .iter()
            .any(|(net, len)| in_net(ip, *net, *len))
    }

    /// The per-packet gate: banned sources and sources over their rate are
    /// dropped without an answer. Trusted networks pass.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        {
            let bans = self.bans.read().expect("ban table lock is never poisoned");
            if !bans.is_empty()
                && let Some((until, _)) = bans.get(&ip)
                && *until > now
            {
                return Err(Refusal::Banned);
            }
        }
        let (rate, burst) = {
            let s = self.settings();
            (s.rate_limit_per_ip, s.rate_burst)
        };
        if rate == 0 || self.is_trusted(ip) {
            return Ok(());
        }
        let shard = &self.buckets[shard_of(ip)];
        let mut map = shard.lock().expect("rate bucket lock is never poisoned");
        if map.len() >= MAX_TRACKED_IPS / RATE_SHARDS && !map.contains_key(&ip) {
            // Forget buckets that have refilled; they carry no state.
            let full = f64::from(burst);
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.last).as_secs_f64() * f64::from(rate) < full
            });
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: f64::from(burst),
            last: now,
        });
        let refill = now.saturating_duration_since(b.last).as_secs_f64() * f64::from(rate);
        b.tokens = (b.tokens + refill).min(f64::from(burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Refusal::RateLimited)
        }
    }

    /// True when `user_agent` is a known scanner and the check is on.
    pub fn is_scanner(&self, user_agent: &str) -> bool {
        let s = self.settings();
        if !s.drop_scanner_user_agents {
            return false;
        }
        s.scanner_user_agents
            .iter()
            .any(|p| contains_ignore_ascii_case(user_agent, p))
    }

    /// Bans `ip` now (unless trusted). Returns true when a new ban started.
    pub fn ban(&self, ip: IpAddr, now: Instant, now_ms: u64, reason: &str) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        let ban_time = self.settings().ban_time;
        let until_ms = now_ms + ban_time.as_millis() as u64;
        let fresh = {
            let mut bans = self.bans.write().expect("ban table lock is never poisoned");
            let fresh = bans.get(&ip).is_none_or(|(u, _)| *u <= now);
            bans.insert(ip, (now + ban_time, until_ms));
            fresh
        };
        if fresh {
            tracing::warn!(%ip, reason, ban_s = ban_time.as_secs(), "source banned");
            if self
                .persist
                .try_send(BanRecord {
                    ip,
                    until_ms,
                    reason: reason.to_owned(),
                })
                .is_err()
            {
                tracing::error!(%ip, "ban store queue full: this ban holds in memory but is not persisted");
            }
        }
        fresh
    }

    /// Counts a failed authentication; bans when the threshold is reached
    /// within the window. Returns true when this failure caused a ban.
    pub fn record_failure(&self, ip: IpAddr, now: Instant, now_ms: u64) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        let (threshold, window) = {
            let s = self.settings();
            (s.ban_threshold, s.ban_window)
        };
        if threshold == 0 {
            return false;
        }
        let count = {
            let mut fails = self
                .fails
                .lock()
                .expect("failure table lock is never poisoned");
            if fails.len() >= MAX_TRACKED_IPS && !fails.contains_key(&ip) {
                fails.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
                if fails.len() >= MAX_TRACKED_IPS {
                    // Still full of active guessers: drop an arbitrary one rather than grow.
                    if let Some(k) = fails.keys().next().copied() {
                        fails.remove(&k);
                    }
                }
            }
            let q = fails.entry(ip).or_default();
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
            q.push_back(now);
            if q.len() > threshold as usize {
                q.pop_front();
            }
            q.len()
        };
        if count >= threshold as usize {
            self.fails
                .lock()
                .expect("failure table lock is never poisoned")
                .remove(&ip);
            return self.ban(ip, now, now_ms, "too many failed authentications");
        }
        false
    }

    /// Replaces the ban table with the store's (start-up, and after
    /// `vpbx ban remove` bumped the bans generation).
    pub fn load_bans(&self, records: &[BanRecord], now: Instant, now_ms: u64) {
        let mut bans = self.bans.write().expect("ban table lock is never poisoned");
        bans.clear();
        for r in records {
            if r.until_ms > now_ms {
                bans.insert(
                    r.ip,
                    (now + Duration::from_millis(r.until_ms - now_ms), r.until_ms),
                );
            }
        }
    }

    /// Active bans (for metrics).
    pub fn ban_count(&self, now: Instant) -> usize {
        self.bans
            .read()
            .expect("ban table lock is never poisoned")
            .values()
            .filter(|(u, _)| *u > now)
            .count()
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let h = match ip {
        IpAddr::V4(a) => u32::from(a) as usize,
        IpAddr::V6(a) => (u128::from(a) as usize) ^ ((u128::from(a) >> 64) as usize),
    };
    h.wrapping_mul(0x9E37_79B9) % RATE_SHARDS
}

/// True when `ip` lies in `net/len`.
pub fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_net(IpAddr::V4(v4), net, len)),
        _ => false,
    }
}

/// Whether `needle` occurs in `hay`, ASCII case ignored (no lower-cased copy of every
/// User-Agent on the receive path).
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> SecuritySettings {
        SecuritySettings {
            trusted: vec![("10.0.0.0".parse().unwrap(), 8)],
            ban_threshold: 3,
            ban_window: Duration::from_secs(60),
            ban_time: Duration::from_secs(900),
            drop_scanner_user_agents: true,
            scanner_user_agents: vec!["friendly-scanner".into()],
            rate_limit_per_ip: 10,
            rate_burst: 5,
        }
    }

    #[test]
    fn the_threshold_of_failures_within_the_window_bans_the_source() {
        let (tx, mut rx) = mpsc::channel(8);
        let s = Security::new(settings(), tx);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!s.record_failure(ip, t0, 0));
        assert!(!s.record_failure(ip, t0, 0));
        assert!(s.record_failure(ip, t0, 0));
        assert_eq!(s.admit(ip, t0), Err(Refusal::Banned));
        assert_eq!(rx.try_recv().unwrap().ip, ip);
        assert!(s.admit(ip, t0 + Duration::from_secs(901)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let (tx, _rx) = mpsc::channel(8);
        let s = Security::new(settings(), tx);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        s.record_failure(ip, t0, 0);
        s.record_failure(ip, t0, 0);
        assert!(!s.record_failure(ip, t0 + Duration::from_secs(61), 0));
    }

    #[test]
    fn trusted_networks_are_never_banned_or_limited() {
        let (tx, _rx) = mpsc::channel(8);
        let s = Security::new(settings(), tx);
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(!s.record_failure(ip, t0, 0));
        }
        for _ in 0..100 {
            assert!(s.admit(ip, t0).is_ok());
        }
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_the_sustained_rate() {
        let (tx, _rx) = mpsc::channel(8);
        let s = Security::new(settings(), tx);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(s.admit(ip, t0).is_ok());
        }
        assert_eq!(s.admit(ip, t0), Err(Refusal::RateLimited));
        assert!(s.admit(ip, t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn scanner_user_agents_match_case_insensitively() {
        let (tx, _rx) = mpsc::channel(8);
        let s = Security::new(settings(), tx);
        assert!(s.is_scanner("Friendly-Scanner 1.2"));
        assert!(!s.is_scanner("baresip v1.0.0"));
    }

    #[test]
    fn cidr_matching_covers_v4_and_v6() {
        assert!(in_net(
            "192.168.1.7".parse().unwrap(),
            "192.168.0.0".parse().unwrap(),
            16
        ));
        assert!(!in_net(
            "192.169.1.7".parse().unwrap(),
            "192.168.0.0".parse().unwrap(),
            16
        ));
        assert!(in_net("::1".parse().unwrap(), "::1".parse().unwrap(), 128));
        assert!(in_net(
            "1.2.3.4".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
            0
        ));
    }
}
