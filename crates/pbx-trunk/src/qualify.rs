//! Qualify: periodic OPTIONS to a trunk (RFC 3261 §11) to know whether it
//! is alive before routing a call to it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_msg::{HeaderName, Headers, Method, Request, Response, Transport, Uri};

use crate::common::{MAX_FORWARDS, SendTarget};
use crate::registration::ConfigError;
use crate::rng::SplitMix;

/// Qualify settings, filled by the server from the trunk (`qualify: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifyConfig {
    /// The trunk's host (name or IP) and port: the Request-URI and where
    /// the OPTIONS go.
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// From user (`from_user`, else the trunk username, else `vpbx`).
    pub from_user: String,
    /// From domain (`from_domain`, else the trunk host).
    pub from_domain: String,
    /// Time between probes while the trunk is Up or Unknown (60 s).
    pub interval: Duration,
    /// Time between probes while it is Down (10 s: notice recovery soon).
    pub interval_down: Duration,
    /// How long to wait for an answer before counting a probe as failed
    /// (5 s; shorter than Timer F's 32 s so a dead trunk is noticed fast).
    pub timeout: Duration,
    /// Consecutive failed probes that make an Up/Unknown trunk Down (2).
    pub down_after: u32,
    /// `User-Agent`.
    pub user_agent: String,
}

impl Default for QualifyConfig {
    fn default() -> Self {
        QualifyConfig {
            host: String::new(),
            port: 5060,
            transport: Transport::Udp,
            from_user: "vpbx".to_owned(),
            from_domain: String::new(),
            interval: Duration::from_secs(60),
            interval_down: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            down_after: 2,
            user_agent: "vpbx".to_owned(),
        }
    }
}

impl QualifyConfig {
    /// Where the OPTIONS go.
    pub fn target(&self) -> SendTarget {
        SendTarget {
            host: self.host.clone(),
            port: self.port,
            transport: self.transport.clone(),
        }
    }

    fn validate(&self) -> Result<(Uri, String), ConfigError> {
        if self.host.is_empty() {
            return Err(ConfigError::Missing("host"));
        }
        if self.port == 0 {
            return Err(ConfigError::Invalid {
                field: "port",
                value: "0".to_owned(),
            });
        }
        let ruri = format!("sip:{}:{}", self.host, self.port);
        let uri = Uri::parse(&ruri).map_err(|_| ConfigError::Invalid {
            field: "host",
            value: self.host.clone(),
        })?;
        let from_domain = if self.from_domain.is_empty() {
            &self.host
        } else {
            &self.from_domain
        };
        let user = if self.from_user.is_empty() {
            "vpbx"
        } else {
            &self.from_user
        };
        let from = format!("sip:{user}@{from_domain}");
        Uri::parse(&from).map_err(|_| ConfigError::Invalid {
            field: "from_user/from_domain",
            value: from.clone(),
        })?;
        let day = Duration::from_secs(86_400);
        let timing = [self.timeout, self.interval, self.interval_down];
        if timing.iter().any(|t| t.is_zero() || *t > day) {
            return Err(ConfigError::Invalid {
                field: "qualify timing",
                value: format!("{timing:?}"),
            });
        }
        if self.user_agent.contains(['\r', '\n']) {
            return Err(ConfigError::Invalid {
                field: "user_agent",
                value: self.user_agent.escape_debug().to_string(),
            });
        }
        Ok((uri, format!("<{from}>")))
    }
}

/// What qualify knows about the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualifyStatus {
    /// No probe answered or failed enough yet (also right after start).
    Unknown,
    /// The last answered probe took `rtt`.
    Up { rtt: Duration },
    /// `down_after` probes in a row went unanswered; Down since `since`.
    Down { since: Instant },
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq)]
pub enum QualifyAction {
    /// Send `request` as a new non-INVITE client transaction to `target`
    /// (push a fresh Via first, as for every request). Report responses
    /// with [`Qualify::on_response`], a failed transaction with
    /// [`Qualify::on_timeout`] (`cseq`).
    Send {
        request: Box<Request>,
        target: SendTarget,
        cseq: u32,
    },
    /// Up/Down/Unknown changed (log it; the router reads
    /// [`Qualify::is_usable`]).
    StatusChanged(QualifyStatus),
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    cseq: u32,
    sent: Instant,
    deadline: Instant,
}

/// Periodic OPTIONS to one trunk with hysteresis:
///
/// - every probe is one OPTIONS; **any** final response (200, but also
///   404/405/501/…: something answered) means the peer is alive, as
///   Asterisk's qualify treats it; a provisional one changes nothing;
/// - no final response within `timeout` (or a transaction failure) is a
///   failed probe; a late answer to it is ignored;
/// - one answered probe makes the trunk Up (recovery is immediate, so the
///   router uses it again at once); `down_after` failed probes in a row make
///   it Down — a single lost datagram does not flap it;
/// - probes go every `interval` from the previous probe's start, every
///   `interval_down` while Down;
/// - Unknown (before the first verdict) counts as usable, so a restart
///   does not block outbound calls.
#[derive(Debug)]
pub struct Qualify {
    cfg: QualifyConfig,
    request_uri: Uri,
    from: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    running: bool,
    status: QualifyStatus,
    misses: u32,
    probe: Option<Probe>,
    next_probe: Option<Instant>,
    actions: VecDeque<QualifyAction>,
}

impl Qualify {
    /// A qualify for `config`; `seed` seeds the Call-ID and From tag.
    pub fn new(config: QualifyConfig, seed: u64) -> Result<Qualify, ConfigError> {
        let (request_uri, from) = config.validate()?;
        let mut rng = SplitMix::new(seed);
        Ok(Qualify {
            cfg: config,
            request_uri,
            from,
            call_id: format!("{}{}", rng.hex(), rng.hex()),
            from_tag: rng.hex(),
            cseq: 0,
            running: false,
            status: QualifyStatus::Unknown,
            misses: 0,
            probe: None,
            next_probe: None,
            actions: VecDeque::new(),
        })
    }

    /// The status.
    pub fn status(&self) -> QualifyStatus {
        self.status
    }

    /// May the router send a call to this trunk now? Up and Unknown: yes;
    /// Down: no (try the next trunk by priority).
    pub fn is_usable(&self) -> bool {
        !matches!(self.status, QualifyStatus::Down { .. })
    }

    /// The Call-ID all probes share.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The config.
    pub fn config(&self) -> &QualifyConfig {
        &self.cfg
    }

    /// Starts probing (the first probe goes at once).
    pub fn start(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.running = true;
        self.send_probe(now);
    }

    /// Stops probing; the status becomes Unknown.
    pub fn stop(&mut self) {
        self.running = false;
        self.probe = None;
        self.next_probe = None;
        self.misses = 0;
        self.set_status(QualifyStatus::Unknown);
    }

    /// New settings (same trunk): applied from the next probe. An invalid
    /// config is refused and the old one stays.
    pub fn config_changed(&mut self, config: QualifyConfig) -> Result<(), ConfigError> {
        let (request_uri, from) = config.validate()?;
        self.cfg = config;
        self.request_uri = request_uri;
        self.from = from;
        Ok(())
    }

    /// When [`Qualify::tick`] must be called next.
    pub fn poll_timer(&self) -> Option<Instant> {
        let deadline = self.probe.map(|p| p.deadline);
        match (deadline, self.next_probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do; drain until `None` after every input.
    pub fn poll_action(&mut self) -> Option<QualifyAction> {
        self.actions.pop_front()
    }

    /// A response to an OPTIONS (others are ignored).
    pub fn on_response(&mut self, now: Instant, response: &Response) {
        let Some(probe) = self.probe else {
            return;
        };
        if response.headers.call_id() != Some(self.call_id.as_str()) {
            return;
        }
        match response.headers.cseq() {
            Some(c) if c.seq == probe.cseq && c.method == Method::Options => {}
            _ => return,
        }
        if response.status.is_provisional() {
            return;
        }
        self.probe = None;
        self.misses = 0;
        let rtt = now.saturating_duration_since(probe.sent);
        self.set_status(QualifyStatus::Up { rtt });
    }

    /// The OPTIONS transaction `cseq` failed (Timer F, transport error).
    pub fn on_timeout(&mut self, now: Instant, cseq: u32) {
        if self.probe.is_some_and(|p| p.cseq == cseq) {
            self.missed(now);
        }
    }

    /// Time passed: probe timeouts and new probes.
    pub fn tick(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        if self.probe.is_some_and(|p| now >= p.deadline) {
            self.missed(now);
        }
        if self.next_probe.is_some_and(|at| now >= at) {
            // A probe still unanswered at the next one's time has failed.
            if self.probe.is_some() {
                self.missed(now);
            }
            self.send_probe(now);
        }
    }

    fn missed(&mut self, now: Instant) {
        self.probe = None;
        self.misses = self.misses.saturating_add(1);
        let down = matches!(self.status, QualifyStatus::Down { .. });
        if !down && self.misses >= self.cfg.down_after.max(1) {
            self.set_status(QualifyStatus::Down { since: now });
            // Probe sooner while Down, counted from now.
            let sooner = now + self.cfg.interval_down;
            if self.next_probe.is_none_or(|at| at > sooner) {
                self.next_probe = Some(sooner);
            }
        }
    }

    fn set_status(&mut self, status: QualifyStatus) {
        let changed = match (self.status, status) {
            (QualifyStatus::Up { .. }, QualifyStatus::Up { .. }) => false,
            (a, b) => a != b,
        };
        self.status = status;
        if changed {
            self.actions.push_back(QualifyAction::StatusChanged(status));
        }
    }

    fn send_probe(&mut self, now: Instant) {
        self.cseq = self.cseq.wrapping_add(1) & 0x7fff_ffff;
        let cseq = self.cseq;
        let timeout = self.cfg.timeout.min(self.current_interval());
        self.probe = Some(Probe {
            cseq,
            sent: now,
            deadline: now + timeout,
        });
        self.next_probe = Some(now + self.current_interval());
        let mut h = Headers::new();
        h.push(HeaderName::MaxForwards, MAX_FORWARDS);
        h.push(
            HeaderName::From,
            format!("{};tag={}", self.from, self.from_tag),
        );
        h.push(HeaderName::To, format!("<{}>", self.request_uri));
        h.push(HeaderName::CallId, self.call_id.clone());
        h.push(HeaderName::CSeq, format!("{cseq} OPTIONS"));
        h.push(
            HeaderName::parse("Accept").expect("Accept is a token"),
            "application/sdp",
        );
        h.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        let request = Request {
            method: Method::Options,
            uri: self.request_uri.clone(),
            headers: h,
            body: Bytes::new(),
        };
        self.actions.push_back(QualifyAction::Send {
            request: Box::new(request),
            target: self.cfg.target(),
            cseq,
        });
    }

    fn current_interval(&self) -> Duration {
        match self.status {
            QualifyStatus::Down { .. } => self.cfg.interval_down,
            _ => self.cfg.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sip_msg::{Message, StatusCode};

    fn config() -> QualifyConfig {
        QualifyConfig {
            host: "127.0.0.1".into(),
            port: 5070,
            from_user: "74952345678".into(),
            from_domain: "sip.newoperator.example".into(),
            ..QualifyConfig::default()
        }
    }

    struct H {
        q: Qualify,
        t0: Instant,
        changes: Vec<QualifyStatus>,
    }

    impl H {
        fn new() -> H {
            H {
                q: Qualify::new(config(), 11).unwrap(),
                t0: Instant::now(),
                changes: Vec::new(),
            }
        }
        fn at_ms(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
        fn at(&self, s: u64) -> Instant {
            self.at_ms(s * 1000)
        }
        /// Drains; returns the OPTIONS sent, parsed back from bytes.
        fn sent(&mut self) -> Vec<Request> {
            let mut out = Vec::new();
            while let Some(a) = self.q.poll_action() {
                match a {
                    QualifyAction::Send {
                        mut request, cseq, ..
                    } => {
                        request.headers.push_front(
                            HeaderName::Via,
                            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKq;rport",
                        );
                        let Message::Request(r) =
                            sip_msg::parse_datagram(&request.to_bytes(), &Default::default())
                                .unwrap()
                        else {
                            panic!("a request")
                        };
                        assert_eq!(r.headers.cseq().unwrap().seq, cseq);
                        out.push(r);
                    }
                    QualifyAction::StatusChanged(s) => self.changes.push(s),
                }
            }
            out
        }
        fn one(&mut self) -> Request {
            let mut v = self.sent();
            assert_eq!(v.len(), 1, "{v:?}");
            v.remove(0)
        }
        /// Runs ticks every 100 ms from `from` to `to` seconds.
        fn run(&mut self, from_ms: u64, to_ms: u64) -> Vec<Request> {
            let mut out = Vec::new();
            let mut t = from_ms;
            while t <= to_ms {
                self.q.tick(self.at_ms(t));
                out.extend(self.sent());
                t += 100;
            }
            out
        }
    }

    fn answer(r: &Request, code: u16) -> Response {
        r.make_response(StatusCode::new(code).unwrap())
    }

    #[test]
    fn the_options_probe_is_valid_sip_aimed_at_the_trunk() {
        let mut h = H::new();
        h.q.start(h.t0);
        let r = h.one();
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.uri.to_string(), "sip:127.0.0.1:5070");
        assert_eq!(
            r.headers.from().unwrap().uri.to_string(),
            "sip:74952345678@sip.newoperator.example"
        );
        assert!(r.headers.from_tag().is_some());
        assert_eq!(r.headers.max_forwards(), Some(70));
        assert_eq!(h.q.status(), QualifyStatus::Unknown);
        assert!(h.q.is_usable(), "unknown counts as usable");
    }

    #[test]
    fn an_answer_makes_the_trunk_up_with_its_round_trip_time() {
        let mut h = H::new();
        h.q.start(h.t0);
        let r = h.one();
        h.q.on_response(h.at_ms(40), &answer(&r, 100));
        assert_eq!(h.q.status(), QualifyStatus::Unknown, "1xx changes nothing");
        h.q.on_response(h.at_ms(87), &answer(&r, 200));
        assert_eq!(
            h.q.status(),
            QualifyStatus::Up {
                rtt: Duration::from_millis(87)
            }
        );
        assert!(h.q.is_usable());
        h.sent();
        assert_eq!(h.changes.len(), 1);
    }

    #[test]
    fn any_final_response_even_404_or_501_means_alive() {
        for code in [404, 405, 481, 501, 503] {
            let mut h = H::new();
            h.q.start(h.t0);
            let r = h.one();
            h.q.on_response(h.at_ms(10), &answer(&r, code));
            assert!(matches!(h.q.status(), QualifyStatus::Up { .. }), "{code}");
        }
    }

    #[test]
    fn probes_repeat_every_interval_and_one_miss_does_not_flap() {
        let mut h = H::new();
        h.q.start(h.t0);
        let r = h.one();
        h.q.on_response(h.at_ms(20), &answer(&r, 200));
        // Next probe at 60 s, none before.
        assert!(h.run(100, 59_900).is_empty());
        let sent = h.run(60_000, 60_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].headers.cseq().unwrap().seq, 2);
        assert_eq!(sent[0].headers.call_id(), r.headers.call_id());
        // Unanswered: after the 5 s timeout it is a miss, but still Up.
        h.run(60_100, 66_000);
        assert!(matches!(h.q.status(), QualifyStatus::Up { .. }));
        // The next probe is answered: still Up, no flap recorded.
        let r3 = h.run(66_100, 120_000);
        assert_eq!(r3.len(), 1);
        h.q.on_response(h.at(120), &answer(&r3[0], 200));
        assert!(matches!(h.q.status(), QualifyStatus::Up { .. }));
        assert!(
            h.changes
                .iter()
                .all(|s| matches!(s, QualifyStatus::Up { .. }))
        );
    }

    #[test]
    fn two_misses_in_a_row_make_it_down_then_probes_speed_up_and_one_answer_brings_it_back() {
        let mut h = H::new();
        h.q.start(h.t0);
        let r = h.one();
        h.q.on_response(h.at_ms(20), &answer(&r, 200));
        let p2 = h.run(100, 60_000);
        assert_eq!(p2.len(), 1);
        h.run(60_100, 65_000); // miss 1 at 65 s
        assert!(h.q.is_usable());
        let p3 = h.run(65_100, 120_000);
        assert_eq!(p3.len(), 1);
        h.run(120_100, 125_000); // miss 2 at 125 s
        assert_eq!(h.q.status(), QualifyStatus::Down { since: h.at(125) });
        assert!(!h.q.is_usable());
        // While Down: a probe 10 s after going down, then every 10 s.
        let probes = h.run(125_100, 155_000);
        assert_eq!(probes.len(), 3, "at 135, 145, 155 s");
        // A late answer to an earlier, timed-out probe is ignored.
        h.q.on_response(h.at(155), &answer(&probes[0], 200));
        assert!(!h.q.is_usable());
        // An answer to the current probe: Up again at once.
        h.q.on_response(h.at_ms(155_030), &answer(&probes[2], 200));
        assert_eq!(
            h.q.status(),
            QualifyStatus::Up {
                rtt: Duration::from_millis(30)
            }
        );
        assert!(h.q.is_usable());
        h.sent();
        assert!(matches!(h.changes[0], QualifyStatus::Up { .. }));
        assert!(matches!(h.changes[1], QualifyStatus::Down { .. }));
        assert!(matches!(h.changes[2], QualifyStatus::Up { .. }));
        assert_eq!(h.changes.len(), 3);
    }

    #[test]
    fn a_trunk_that_never_answers_goes_from_unknown_to_down() {
        let mut h = H::new();
        h.q.start(h.t0);
        h.one();
        h.run(100, 5_000);
        assert_eq!(h.q.status(), QualifyStatus::Unknown);
        h.run(5_100, 65_000);
        assert!(matches!(h.q.status(), QualifyStatus::Down { .. }));
    }

    #[test]
    fn a_transaction_failure_counts_as_a_miss_and_other_cseqs_are_ignored() {
        let mut cfg = config();
        cfg.down_after = 1;
        let mut h = H::new();
        h.q.config_changed(cfg).unwrap();
        h.q.start(h.t0);
        let r = h.one();
        let cseq = r.headers.cseq().unwrap().seq;
        h.q.on_timeout(h.at(1), cseq + 5);
        assert_eq!(h.q.status(), QualifyStatus::Unknown);
        h.q.on_timeout(h.at(1), cseq);
        assert_eq!(h.q.status(), QualifyStatus::Down { since: h.at(1) });
        // A response with another Call-ID is ignored too.
        let p = h.run(1_100, 11_000);
        assert_eq!(p.len(), 1);
        let mut other = answer(&p[0], 200);
        other.headers.set(HeaderName::CallId, "x");
        h.q.on_response(h.at(11), &other);
        assert!(!h.q.is_usable());
    }

    #[test]
    fn stop_ends_probing_and_forgets_the_verdict() {
        let mut h = H::new();
        h.q.start(h.t0);
        let r = h.one();
        h.q.stop();
        assert_eq!(h.q.poll_timer(), None);
        h.q.on_response(h.at(1), &answer(&r, 200));
        assert_eq!(h.q.status(), QualifyStatus::Unknown);
        assert!(h.run(0, 200_000).is_empty());
    }

    #[test]
    fn an_invalid_qualify_config_is_refused() {
        let mut c = config();
        c.host = String::new();
        assert!(Qualify::new(c, 1).is_err());
        let mut c = config();
        c.host = "bad host".into();
        assert!(Qualify::new(c, 1).is_err());
        let mut c = config();
        c.timeout = Duration::ZERO;
        assert!(Qualify::new(c, 1).is_err());
    }
}
