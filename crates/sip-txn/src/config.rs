use std::time::Duration;

/// Timer values (RFC 3261 §17.1.1.1, Table 4 of Appendix A) and endpoint
/// behaviour switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// RFC 3261 §17.1.1.1: RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// RFC 3261 §17.1.2.2: the longest retransmit interval for non-INVITE
    /// requests and INVITE responses, 4 s by default.
    pub t2: Duration,
    /// RFC 3261 §17.1.2.2: the longest time a message stays in the network,
    /// 5 s by default.
    pub t4: Duration,
    /// RFC 3261 §17.1.1.2: Timer D on unreliable transports (at least 32 s).
    pub timer_d: Duration,
    /// RFC 3261 §17.2.1: send `100 Trying` as soon as an INVITE server
    /// transaction is created (the RFC allows waiting 200 ms for the TU; vpbx
    /// answers at once). Switch off to let the TU send every provisional.
    pub auto_100_trying: bool,
    /// Prefix of every branch and tag this endpoint generates (vpbx puts the
    /// owning shard here). Must be a token.
    pub id_prefix: String,
    /// Seed for the generator of branch/tag suffixes and initial RSeq.
    pub rng_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            auto_100_trying: true,
            id_prefix: String::from("v"),
            rng_seed: 0x5eed,
        }
    }
}

impl Config {
    /// 64*T1, the lifetime of Timers B, F, H, J and of RFC 6026 L and M.
    pub fn t1_x64(&self) -> Duration {
        self.t1 * 64
    }
}
