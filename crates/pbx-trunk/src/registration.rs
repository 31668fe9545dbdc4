//! The outbound registration client: vpbx registers a trunk's account at the
//! provider as a UAC (RFC 3261 §10.2).
//!
//! One [`Registration`] per registering trunk. The server feeds it inputs
//! ([`Registration::start`], [`Registration::on_response`],
//! [`Registration::on_timeout`], [`Registration::tick`],
//! [`Registration::stop`], [`Registration::config_changed`]) and after each
//! drains [`Registration::poll_action`] until `None`, then sleeps until
//! [`Registration::poll_timer`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_auth::{Challenge, ClientRequest, authorization_value};
use sip_msg::{ContactValue, HeaderName, Headers, Method, Request, Response, Transport, Uri};

use crate::auth::parse_response_challenge;
use crate::common::{MAX_FORWARDS, MAX_RETRY_AFTER, SendTarget, retry_after, transport_param};
use crate::rng::SplitMix;

/// A registration's configuration, filled by the server from the platform
/// file's trunk (seed 003 §4.5.2 `sip_reg_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// `reg_user`: the AOR user (To/From user).
    pub user: String,
    /// `reg_domain`: the AOR domain and the Request-URI (`sip:reg_domain`).
    /// Empty: the registrar `host` (with `port`) is used.
    pub domain: String,
    /// `reg_auth_user`: the digest username. Empty: `user`.
    pub auth_user: String,
    /// `reg_secret`: the digest password.
    pub secret: String,
    /// `reg_host`: where REGISTERs are sent. Empty: `domain`.
    pub host: String,
    /// `reg_port` (5060).
    pub port: u16,
    /// The trunk's transport (UDP or TCP); also written in the Contact.
    pub transport: Transport,
    /// The binding lifetime vpbx asks for (`Expires`), at least 1 s.
    pub expires: Duration,
    /// The Contact user: a token the server chooses and recognises in the
    /// Request-URI of inbound requests, to find the trunk.
    pub contact_user: String,
    /// The Contact host[:port]: vpbx's advertised SIP address on the
    /// transport the trunk uses.
    pub contact_host_port: String,
    /// The `User-Agent` header value.
    pub user_agent: String,
    /// Retry timing after a failure.
    pub backoff: Backoff,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            user: String::new(),
            domain: String::new(),
            auth_user: String::new(),
            secret: String::new(),
            host: String::new(),
            port: 5060,
            transport: Transport::Udp,
            expires: Duration::from_secs(3600),
            contact_user: String::new(),
            contact_host_port: String::new(),
            user_agent: "vpbx".to_owned(),
            backoff: Backoff::default(),
        }
    }
}

impl RegistrationConfig {
    /// The digest username: `auth_user`, else `user`.
    pub fn digest_user(&self) -> &str {
        if self.auth_user.is_empty() {
            &self.user
        } else {
            &self.auth_user
        }
    }

    /// Where the server sends the REGISTERs: `host` (else `domain`), `port`,
    /// `transport`.
    pub fn target(&self) -> SendTarget {
        SendTarget {
            host: if self.host.is_empty() {
                self.domain.clone()
            } else {
                self.host.clone()
            },
            port: self.port,
            transport: self.transport.clone(),
        }
    }

    /// The AOR domain: `domain`, else `host:port`.
    fn aor_domain(&self) -> String {
        if self.domain.is_empty() {
            format!("{}:{}", self.host, self.port)
        } else {
            self.domain.clone()
        }
    }

    /// Checks that the requests this config produces are valid SIP.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.user.is_empty() {
            return Err(ConfigError::Missing("reg_user"));
        }
        if self.domain.is_empty() && self.host.is_empty() {
            return Err(ConfigError::Missing("reg_domain or reg_host"));
        }
        if self.contact_user.is_empty() {
            return Err(ConfigError::Missing("contact_user"));
        }
        if self.contact_host_port.is_empty() {
            return Err(ConfigError::Missing("contact_host_port"));
        }
        if self.port == 0 {
            return Err(ConfigError::Invalid {
                field: "reg_port",
                value: "0".to_owned(),
            });
        }
        if self.expires < Duration::from_secs(1) || self.expires.as_secs() > u64::from(u32::MAX) {
            return Err(ConfigError::Invalid {
                field: "expires",
                value: format!("{:?}", self.expires),
            });
        }
        let aor = format!("sip:{}@{}", self.user, self.aor_domain());
        Uri::parse(&aor).map_err(|_| ConfigError::Invalid {
            field: "reg_user/reg_domain",
            value: aor.clone(),
        })?;
        let target = self.target();
        let t = format!("sip:{}:{}", target.host, target.port);
        Uri::parse(&t).map_err(|_| ConfigError::Invalid {
            field: "reg_host",
            value: target.host.clone(),
        })?;
        let contact = format!("sip:{}@{}", self.contact_user, self.contact_host_port);
        Uri::parse(&contact).map_err(|_| ConfigError::Invalid {
            field: "contact",
            value: contact.clone(),
        })?;
        let b = &self.backoff;
        if b.initial < Duration::from_secs(1)
            || b.max < b.initial
            || b.max > Duration::from_secs(86_400)
            || b.jitter_percent > 50
        {
            return Err(ConfigError::Invalid {
                field: "backoff",
                value: format!("{b:?}"),
            });
        }
        if self.user_agent.contains(['\r', '\n']) {
            return Err(ConfigError::Invalid {
                field: "user_agent",
                value: self.user_agent.escape_debug().to_string(),
            });
        }
        Ok(())
    }

    /// Fields whose change makes a new registration (a new binding at a
    /// possibly different registrar).
    fn identity(&self) -> (&str, &str, &str, u16, &Transport, &str, &str) {
        (
            &self.user,
            &self.domain,
            &self.host,
            self.port,
            &self.transport,
            &self.contact_user,
            &self.contact_host_port,
        )
    }
}

/// A configuration that cannot produce valid requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required field is empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field's value does not make a valid SIP URI or header.
    #[error("{field} is not valid: {value}")]
    Invalid { field: &'static str, value: String },
}

/// Retry timing after a failed attempt: the n-th consecutive failure waits
/// `min(initial · 2ⁿ⁻¹, max)` less a random jitter of up to `jitter_percent`
/// of it (so many trunks that failed together do not retry together), but
/// never less than a `Retry-After` the registrar sent (capped at 1 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry delay (30 s).
    pub initial: Duration,
    /// The largest delay (10 min).
    pub max: Duration,
    /// Jitter, subtracted: 0–50 % (20 %).
    pub jitter_percent: u8,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(600),
            jitter_percent: 20,
        }
    }
}

impl Backoff {
    /// The un-jittered delay after `failures` consecutive failures (≥ 1).
    pub fn nominal(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.initial
            .saturating_mul(1u32 << shift)
            .min(self.max)
            .max(Duration::from_secs(1))
    }

    fn delay(&self, failures: u32, rng: &mut SplitMix) -> Duration {
        let nominal = self.nominal(failures);
        let ms = u64::try_from(nominal.as_millis()).unwrap_or(u64::MAX);
        let jitter_max = ms / 100 * u64::from(self.jitter_percent.min(50));
        Duration::from_millis(ms - rng.below_or_eq(jitter_max))
    }
}

/// A registration's state, as `vpbx trunks` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// Not started, stopped, or unregistered.
    Unregistered,
    /// A REGISTER is in flight and no binding is known to exist.
    Registering,
    /// The registrar holds our binding until `expires_at` (a refresh may be
    /// in flight).
    Registered { expires_at: Instant },
    /// The last attempt failed; the next one goes at `retry_at`.
    Failed { reason: String, retry_at: Instant },
}

impl RegistrationStatus {
    /// One line for `vpbx trunks`: `registered, expires in 3570 s`,
    /// `failed: 403 Forbidden, retry in 25 s`, `registering`,
    /// `unregistered`.
    pub fn summary(&self, now: Instant) -> String {
        match self {
            RegistrationStatus::Unregistered => "unregistered".to_owned(),
            RegistrationStatus::Registering => "registering".to_owned(),
            RegistrationStatus::Registered { expires_at } => format!(
                "registered, expires in {} s",
                expires_at.saturating_duration_since(now).as_secs()
            ),
            RegistrationStatus::Failed { reason, retry_at } => format!(
                "failed: {reason}, retry in {} s",
                retry_at.saturating_duration_since(now).as_secs()
            ),
        }
    }
}

/// The last final response the registrar sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResponse {
    pub code: u16,
    pub reason: String,
    pub at: Instant,
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationAction {
    /// Send `request` as a new non-INVITE client transaction to `target`.
    /// It has no Via: push a fresh one first
    /// (`request.headers.push_front(HeaderName::Via, via_with_new_branch)`).
    /// Report its outcome with [`Registration::on_response`] (every
    /// response, provisional ones included, is fine) or
    /// [`Registration::on_timeout`] with `cseq`.
    Send {
        request: Box<Request>,
        target: SendTarget,
        cseq: u32,
    },
    /// The status changed (log it; a `Failed` after 401/403 means the
    /// credentials or the account are wrong).
    StatusChanged(RegistrationStatus),
}

/// How long a REGISTER may stay unanswered before the machine gives up on
/// it even if the transaction layer never reports back (Timer F is 64·T1 =
/// 32 s; this is a safety net above it).
pub const TRANSACTION_GUARD: Duration = Duration::from_secs(40);

/// Most challenges answered in a row for one attempt (a registrar that
/// answers every credential with a fresh nonce, e.g. Kamailio after a wrong
/// password, would otherwise loop).
const MAX_CHALLENGES: u32 = 3;

/// The largest `Min-Expires` vpbx accepts from a 423 (one day).
const MAX_MIN_EXPIRES: u32 = 86_400;

/// The refresh point for a granted lifetime of `granted` seconds:
/// `max(granted / 2, granted − 30 s)`, at least 1 s. A one-hour binding
/// is refreshed 30 s before it expires (time for a challenge round trip and
/// a retransmission or two), a short one half-way, like Kamailio's `uac`
/// and Asterisk's `res_pjsip_outbound_registration` (which keep a fixed
/// guard before expiry and fall back to a fraction for short lifetimes).
pub fn refresh_after(granted: Duration) -> Duration {
    let half = granted / 2;
    let guarded = granted.saturating_sub(Duration::from_secs(30));
    half.max(guarded).max(Duration::from_secs(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Created or stopped: sends nothing.
    Idle,
    /// Registering, registered or waiting to retry.
    Active,
    /// Unregistering (Expires: 0 in flight).
    Stopping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    Unregister,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    Refresh,
    Retry,
    Guard,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    cseq: u32,
    purpose: Purpose,
    /// The credentials answered a challenge from the previous response
    /// (not a cached one): another challenge without `stale` means they
    /// are wrong.
    fresh_auth: bool,
}

#[derive(Debug, Clone)]
struct AuthCache {
    header: HeaderName,
    challenge: Challenge<'static>,
    /// Nonce count used so far with this nonce.
    nc: u32,
    cnonce: String,
}

/// One trunk's outbound registration (RFC 3261 §10.2).
#[derive(Debug)]
pub struct Registration {
    cfg: RegistrationConfig,
    request_uri: Uri,
    rng: SplitMix,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The lifetime asked for; raised by a 423's Min-Expires.
    requested: u32,
    phase: Phase,
    status: RegistrationStatus,
    last_response: Option<LastResponse>,
    pending: Option<Pending>,
    timer: Option<(Instant, TimerKind)>,
    auth: Option<AuthCache>,
    /// Consecutive failed attempts (for the backoff).
    failures: u32,
    /// Challenges answered in the current attempt.
    challenges: u32,
    /// Our binding exists at the registrar until then (as far as we know).
    bound_until: Option<Instant>,
    actions: VecDeque<RegistrationAction>,
}

impl Registration {
    /// A registration for `config`; `seed` seeds its Call-ID, From tag,
    /// cnonces and jitter (the server passes fresh entropy per trunk).
    pub fn new(config: RegistrationConfig, seed: u64) -> Result<Registration, ConfigError> {
        config.validate()?;
        let mut rng = SplitMix::new(seed);
        let call_id = format!("{}{}", rng.hex(), rng.hex());
        let from_tag = rng.hex();
        let request_uri = request_uri(&config)?;
        let requested = expires_secs(&config);
        Ok(Registration {
            cfg: config,
            request_uri,
            rng,
            call_id,
            from_tag,
            cseq: 0,
            requested,
            phase: Phase::Idle,
            status: RegistrationStatus::Unregistered,
            last_response: None,
            pending: None,
            timer: None,
            auth: None,
            failures: 0,
            challenges: 0,
            bound_until: None,
            actions: VecDeque::new(),
        })
    }

    // ----- getters -----

    /// The current configuration.
    pub fn config(&self) -> &RegistrationConfig {
        &self.cfg
    }

    /// The status for `vpbx trunks`.
    pub fn status(&self) -> &RegistrationStatus {
        &self.status
    }

    /// The registrar's last final response.
    pub fn last_response(&self) -> Option<&LastResponse> {
        self.last_response.as_ref()
    }

    /// The Call-ID of every REGISTER of this registration.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Until when the registrar holds our binding, as far as we know (it
    /// may outlive a failed refresh).
    pub fn binding_expires_at(&self) -> Option<Instant> {
        self.bound_until
    }

    /// Consecutive failed attempts.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When [`Registration::tick`] must be called next.
    pub fn poll_timer(&self) -> Option<Instant> {
        self.timer.map(|(at, _)| at)
    }

    /// The next thing to do; drain until `None` after every input.
    pub fn poll_action(&mut self) -> Option<RegistrationAction> {
        self.actions.pop_front()
    }

    // ----- inputs -----

    /// Starts registering (at once). Does nothing if already started; while
    /// an unregister is in flight, registers again (its answer is ignored).
    pub fn start(&mut self, now: Instant) {
        if self.phase == Phase::Active {
            return;
        }
        self.phase = Phase::Active;
        self.failures = 0;
        self.challenges = 0;
        self.send(now, Purpose::Register, false);
    }

    /// Removes the binding: REGISTER with `Expires: 0` (RFC 3261 §10.2.2)
    /// when one may exist, then the machine is idle. Call it when the trunk
    /// is removed or registration is turned off, and on shutdown.
    pub fn stop(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle | Phase::Stopping => {}
            Phase::Active => {
                let may_be_bound = self.bound_until.is_some_and(|t| t > now)
                    || self.pending.is_some_and(|p| p.purpose == Purpose::Register);
                self.challenges = 0;
                if may_be_bound {
                    self.phase = Phase::Stopping;
                    self.send(now, Purpose::Unregister, false);
                } else {
                    self.go_idle();
                }
            }
        }
    }

    /// The platform file changed this trunk's registration. A new identity
    /// (user, domain, registrar, transport, contact) unregisters the old
    /// binding (without waiting for the answer) and registers afresh with a
    /// new Call-ID; new credentials or a new `expires` re-register at once;
    /// anything else applies from the next REGISTER. An invalid config is
    /// refused and the old one stays.
    pub fn config_changed(
        &mut self,
        now: Instant,
        config: RegistrationConfig,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        let new_uri = request_uri(&config)?;
        if config == self.cfg {
            return Ok(());
        }
        let identity_changed = config.identity() != self.cfg.identity();
        let credentials_changed =
            config.secret != self.cfg.secret || config.digest_user() != self.cfg.digest_user();
        let expires_changed = config.expires != self.cfg.expires;
        if identity_changed {
            if self.phase != Phase::Idle && self.bound_until.is_some_and(|t| t > now) {
                // Fire and forget: its answer carries the old Call-ID and is
                // ignored; if it is challenged the old binding simply expires.
                let (request, cseq) = self.build(Purpose::Unregister);
                self.actions.push_back(RegistrationAction::Send {
                    request: Box::new(request),
                    target: self.cfg.target(),
                    cseq,
                });
            }
            self.call_id = format!("{}{}", self.rng.hex(), self.rng.hex());
            self.from_tag = self.rng.hex();
            self.bound_until = None;
        }
        self.cfg = config;
        self.request_uri = new_uri;
        self.requested = expires_secs(&self.cfg);
        if identity_changed || credentials_changed {
            self.auth = None;
        }
        if (identity_changed || credentials_changed || expires_changed)
            && self.phase == Phase::Active
        {
            self.failures = 0;
            self.challenges = 0;
            if identity_changed {
                self.set_status(RegistrationStatus::Registering);
            }
            self.send(now, Purpose::Register, false);
        }
        Ok(())
    }

    /// A response to one of our REGISTERs (any; others are ignored: another
    /// Call-ID, another CSeq than the one in flight, another method).
    pub fn on_response(&mut self, now: Instant, response: &Response) {
        let Some(pending) = self.pending else {
            return;
        };
        if response.headers.call_id() != Some(self.call_id.as_str()) {
            return;
        }
        match response.headers.cseq() {
            Some(c) if c.seq == pending.cseq && c.method == Method::Register => {}
            _ => return,
        }
        let status = response.status;
        if status.is_provisional() {
            return;
        }
        self.last_response = Some(LastResponse {
            code: status.as_u16(),
            reason: response.reason.clone(),
            at: now,
        });
        self.pending = None;
        self.timer = None;
        let code = status.as_u16();
        match pending.purpose {
            Purpose::Unregister => {
                if (code == 401 || code == 407) && self.answer_challenge(now, response, pending) {
                    return;
                }
                // 2xx: removed; anything else: give up, it expires by itself.
                self.go_idle();
            }
            Purpose::Register => match code {
                200..=299 => self.registered(now, response),
                401 | 407 => {
                    if !self.answer_challenge(now, response, pending) {
                        let reason = if pending.fresh_auth {
                            format!("{code} credentials rejected")
                        } else {
                            format!("{code} challenge could not be answered")
                        };
                        self.fail(now, reason, None);
                    }
                }
                423 => {
                    let min = response
                        .headers
                        .get(&HeaderName::MinExpires)
                        .and_then(crate::common::leading_seconds)
                        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
                    match min {
                        Some(m) if m > self.requested && m <= MAX_MIN_EXPIRES => {
                            self.requested = m;
                            self.send(now, Purpose::Register, false);
                        }
                        _ => self.fail(now, "423 without a usable Min-Expires".to_owned(), None),
                    }
                }
                _ => {
                    let reason = format!("{code} {}", response.reason);
                    self.fail(now, reason, retry_after(response));
                }
            },
        }
    }

    /// The transaction of REGISTER `cseq` failed without a response (Timer
    /// F, or a transport error). Other CSeqs are ignored.
    pub fn on_timeout(&mut self, now: Instant, cseq: u32) {
        let Some(pending) = self.pending else {
            return;
        };
        if pending.cseq != cseq {
            return;
        }
        self.no_response(now, pending);
    }

    /// Time passed: refreshes, retries, and gives up on a REGISTER nobody
    /// answered within [`TRANSACTION_GUARD`].
    pub fn tick(&mut self, now: Instant) {
        let Some((at, kind)) = self.timer else {
            return;
        };
        if now < at {
            return;
        }
        self.timer = None;
        match kind {
            TimerKind::Refresh | TimerKind::Retry => {
                if self.phase == Phase::Active {
                    self.challenges = 0;
                    self.send(now, Purpose::Register, false);
                }
            }
            TimerKind::Guard => {
                if let Some(p) = self.pending {
                    self.no_response(now, p);
                }
            }
        }
    }

    // ----- internals -----

    fn no_response(&mut self, now: Instant, pending: Pending) {
        self.pending = None;
        self.timer = None;
        match pending.purpose {
            Purpose::Unregister => self.go_idle(),
            Purpose::Register => {
                self.fail(now, "no response (timeout or transport error)".into(), None);
            }
        }
    }

    fn go_idle(&mut self) {
        self.phase = Phase::Idle;
        self.pending = None;
        self.timer = None;
        self.bound_until = None;
        self.set_status(RegistrationStatus::Unregistered);
    }

    fn registered(&mut self, now: Instant, response: &Response) {
        let granted = self.granted(response);
        if granted == 0 {
            self.fail(now, "registrar granted no lifetime".to_owned(), None);
            return;
        }
        let lifetime = Duration::from_secs(u64::from(granted));
        let expires_at = now + lifetime;
        self.bound_until = Some(expires_at);
        self.failures = 0;
        self.challenges = 0;
        self.timer = Some((now + refresh_after(lifetime), TimerKind::Refresh));
        self.set_status(RegistrationStatus::Registered { expires_at });
    }

    /// RFC 3261 §10.2.4: our Contact's `expires`, else the Expires header,
    /// else what we asked for — never more than we asked for (a registrar
    /// may shorten a lifetime, not lengthen it; refreshing early is safe).
    fn granted(&self, response: &Response) -> u32 {
        self.granted_by_registrar(response).min(self.requested)
    }

    fn granted_by_registrar(&self, response: &Response) -> u32 {
        if let Ok(contacts) = response.headers.contacts() {
            let ours = contacts.iter().find_map(|c| match c {
                ContactValue::Addr(a)
                    if a.uri.user.as_deref() == Some(self.cfg.contact_user.as_str()) =>
                {
                    a.param("expires").flatten()
                }
                _ => None,
            });
            if let Some(d) = ours.and_then(crate::common::leading_seconds) {
                return u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
            }
        }
        response.headers.expires().unwrap_or(self.requested)
    }

    /// Answers a 401/407 if allowed; false when it is a failure.
    fn answer_challenge(&mut self, now: Instant, response: &Response, pending: Pending) -> bool {
        let Ok(parsed) = parse_response_challenge(response) else {
            return false;
        };
        let same_nonce = self
            .auth
            .as_ref()
            .is_some_and(|a| a.challenge.nonce == parsed.challenge.nonce);
        let stale = parsed.challenge.stale;
        // Credentials just computed for a fresh challenge were refused:
        // wrong username or password, unless the server says the nonce was
        // merely stale (RFC 2617 §3.2.1) and gives a new one.
        if pending.fresh_auth && (!stale || same_nonce) {
            return false;
        }
        if same_nonce && !stale {
            return false;
        }
        if self.challenges >= MAX_CHALLENGES {
            return false;
        }
        self.challenges += 1;
        self.auth = Some(AuthCache {
            header: parsed.answer_header,
            challenge: parsed.challenge,
            nc: 0,
            cnonce: self.rng.hex(),
        });
        self.send(now, pending.purpose, true);
        true
    }

    fn fail(&mut self, now: Instant, reason: String, retry_after: Option<Duration>) {
        self.pending = None;
        self.auth = None;
        self.challenges = 0;
        self.failures = self.failures.saturating_add(1);
        let mut delay = self.cfg.backoff.delay(self.failures, &mut self.rng);
        if let Some(ra) = retry_after {
            delay = delay.max(ra.min(MAX_RETRY_AFTER));
        }
        let retry_at = now + delay;
        self.timer = Some((retry_at, TimerKind::Retry));
        self.set_status(RegistrationStatus::Failed { reason, retry_at });
    }

    fn set_status(&mut self, status: RegistrationStatus) {
        if self.status != status {
            self.status = status.clone();
            self.actions
                .push_back(RegistrationAction::StatusChanged(status));
        }
    }

    fn send(&mut self, now: Instant, purpose: Purpose, fresh_auth: bool) {
        let (request, cseq) = self.build(purpose);
        self.pending = Some(Pending {
            cseq,
            purpose,
            fresh_auth,
        });
        self.timer = Some((now + TRANSACTION_GUARD, TimerKind::Guard));
        if purpose == Purpose::Register
            && !matches!(self.status, RegistrationStatus::Registered { expires_at } if expires_at > now)
        {
            self.set_status(RegistrationStatus::Registering);
        }
        self.actions.push_back(RegistrationAction::Send {
            request: Box::new(request),
            target: self.cfg.target(),
            cseq,
        });
    }

    /// The next REGISTER (CSeq + 1), with credentials when a challenge is
    /// cached (nonce count + 1).
    fn build(&mut self, purpose: Purpose) -> (Request, u32) {
        self.cseq = self.cseq.wrapping_add(1) & 0x7fff_ffff;
        let cseq = self.cseq;
        let expires = match purpose {
            Purpose::Register => self.requested,
            Purpose::Unregister => 0,
        };
        let aor = format!("<sip:{}@{}>", self.cfg.user, self.cfg.aor_domain());
        let mut contact = format!(
            "<sip:{}@{}{}>",
            self.cfg.contact_user,
            self.cfg.contact_host_port,
            transport_param(&self.cfg.transport)
        );
        if purpose == Purpose::Unregister {
            contact.push_str(";expires=0");
        }
        let mut h = Headers::new();
        h.push(HeaderName::MaxForwards, MAX_FORWARDS);
        h.push(HeaderName::From, format!("{aor};tag={}", self.from_tag));
        h.push(HeaderName::To, aor);
        h.push(HeaderName::CallId, self.call_id.clone());
        h.push(HeaderName::CSeq, format!("{cseq} REGISTER"));
        h.push(HeaderName::Contact, contact);
        h.push(HeaderName::Expires, expires.to_string());
        h.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        let uri = self.request_uri.to_string();
        if let Some(auth) = &mut self.auth {
            auth.nc = auth.nc.saturating_add(1);
            let value = authorization_value(
                &auth.challenge,
                &ClientRequest {
                    method: "REGISTER",
                    uri: &uri,
                    username: self.cfg.digest_user(),
                    password: &self.cfg.secret,
                    cnonce: &auth.cnonce,
                    nc: auth.nc,
                },
            );
            h.push(auth.header.clone(), value);
        }
        let request = Request {
            method: Method::Register,
            uri: self.request_uri.clone(),
            headers: h,
            body: Bytes::new(),
        };
        (request, cseq)
    }
}

fn expires_secs(cfg: &RegistrationConfig) -> u32 {
    u32::try_from(cfg.expires.as_secs()).unwrap_or(u32::MAX)
}

/// `sip:reg_domain`, or `sip:host:port` without a domain (RFC 3261 §10.2:
/// the Request-URI names the registrar's domain, no user part).
fn request_uri(cfg: &RegistrationConfig) -> Result<Uri, ConfigError> {
    let s = format!("sip:{}", cfg.aor_domain());
    Uri::parse(&s).map_err(|_| ConfigError::Invalid {
        field: "reg_domain",
        value: s,
    })
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
