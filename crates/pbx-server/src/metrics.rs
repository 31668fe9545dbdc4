//! Counters rendered as Prometheus text on `GET /metrics`.
//!
//! Platform-wide counters are atomics bumped on the packet path (no locks,
//! no allocation). Per-tenant figures are owned by the shards and collected
//! when the endpoint is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a message was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Banned,
    RateLimited,
    Scanner,
    Unparsable,
    UnknownDomain,
    StrayResponse,
    Overload,
    TooLarge,
    SendFailed,
}

impl Drop {
    const ALL: [Drop; 9] = [
        Drop::Banned,
        Drop::RateLimited,
        Drop::Scanner,
        Drop::Unparsable,
        Drop::UnknownDomain,
        Drop::StrayResponse,
        Drop::Overload,
        Drop::TooLarge,
        Drop::SendFailed,
    ];
    fn label(self) -> &'static str {
        match self {
            Drop::Banned => "banned",
            Drop::RateLimited => "rate_limited",
            Drop::Scanner => "scanner",
            Drop::Unparsable => "unparsable",
            Drop::UnknownDomain => "unknown_domain",
            Drop::StrayResponse => "stray_response",
            Drop::Overload => "overload",
            Drop::TooLarge => "too_large",
            Drop::SendFailed => "send_failed",
        }
    }
}

const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "PRACK",
    "UPDATE",
    "INFO",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "PUBLISH",
    "other",
];

/// Index of a method in the counters.
pub fn method_index(m: &sip_msg::Method) -> usize {
    use sip_msg::Method as M;
    match m {
        M::Invite => 0,
        M::Ack => 1,
        M::Bye => 2,
        M::Cancel => 3,
        M::Register => 4,
        M::Options => 5,
        M::Prack => 6,
        M::Update => 7,
        M::Info => 8,
        M::Refer => 9,
        M::Subscribe => 10,
        M::Notify => 11,
        M::Message => 12,
        M::Publish => 13,
        M::Other(_) => 14,
    }
}

/// Platform-wide counters.
#[derive(Debug)]
pub struct Metrics {
    requests_in: [AtomicU64; 15],
    responses_in: AtomicU64,
    responses_out: Vec<AtomicU64>,
    drops: [AtomicU64; 9],
    pub bans_total: AtomicU64,
    pub auth_failures_total: AtomicU64,
    pub auth_challenges_total: AtomicU64,
    pub registrations_total: AtomicU64,
    pub store_backlog_drops: AtomicU64,
    pub tcp_connections: AtomicU64,
    pub tcp_connections_total: AtomicU64,
    /// Times a UDP receive thread woke a helper (the primary fell behind).
    pub udp_helper_wakeups_total: AtomicU64,
    pub calls_total: AtomicU64,
    pub calls_ended_total: AtomicU64,
    pub cdr_drops_total: AtomicU64,
    /// MWI subscriptions held now (gauge).
    pub mwi_subscriptions: AtomicU64,
    pub mwi_notifies_total: AtomicU64,
    pub mwi_unsolicited_total: AtomicU64,
    pub mwi_notify_failures_total: AtomicU64,
    pub purge_runs_total: AtomicU64,
    pub purge_errors_total: AtomicU64,
    pub purge_recordings_deleted_total: AtomicU64,
    pub purge_voicemail_deleted_total: AtomicU64,
    pub purge_bytes_freed_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests_in: Default::default(),
            responses_in: AtomicU64::new(0),
            responses_out: (0..700).map(|_| AtomicU64::new(0)).collect(),
            drops: Default::default(),
            bans_total: AtomicU64::new(0),
            auth_failures_total: AtomicU64::new(0),
            auth_challenges_total: AtomicU64::new(0),
            registrations_total: AtomicU64::new(0),
            store_backlog_drops: AtomicU64::new(0),
            tcp_connections: AtomicU64::new(0),
            tcp_connections_total: AtomicU64::new(0),
            udp_helper_wakeups_total: AtomicU64::new(0),
            calls_total: AtomicU64::new(0),
            calls_ended_total: AtomicU64::new(0),
            cdr_drops_total: AtomicU64::new(0),
            mwi_subscriptions: AtomicU64::new(0),
            mwi_notifies_total: AtomicU64::new(0),
            mwi_unsolicited_total: AtomicU64::new(0),
            mwi_notify_failures_total: AtomicU64::new(0),
            purge_runs_total: AtomicU64::new(0),
            purge_errors_total: AtomicU64::new(0),
            purge_recordings_deleted_total: AtomicU64::new(0),
            purge_voicemail_deleted_total: AtomicU64::new(0),
            purge_bytes_freed_total: AtomicU64::new(0),
        }
    }
}

/// Per-tenant figures one shard reports.
#[derive(Debug, Clone, Default)]
pub struct TenantStats {
    pub contacts: u64,
    pub requests: u64,
    pub registrations: u64,
    pub auth_failures: u64,
}

/// Gauges collected at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Tenant domain → stats summed over shards.
    pub tenants: BTreeMap<String, TenantStats>,
    /// Per shard: (inbox depth, inbox capacity, server transactions).
    pub shards: Vec<(usize, usize, usize)>,
    pub active_bans: usize,
    pub tenant_count: usize,
    pub trace_messages: usize,
    /// Calls held by the shards (including ended ones lingering for stray responses).
    pub calls: usize,
    /// Relay legs allocated / capacity.
    pub media_legs: (usize, usize),
}

impl Metrics {
    pub fn request_in(&self, m: &sip_msg::Method) {
        self.requests_in[method_index(m)].fetch_add(1, Relaxed);
    }
    pub fn response_in(&self) {
        self.responses_in.fetch_add(1, Relaxed);
    }
    pub fn response_out(&self, status: u16) {
        if let Some(c) = self.responses_out.get(usize::from(status)) {
            c.fetch_add(1, Relaxed);
        }
    }
    pub fn drop(&self, why: Drop) {
        self.drops[why as usize].fetch_add(1, Relaxed);
    }
    pub fn dropped(&self, why: Drop) -> u64 {
        self.drops[why as usize].load(Relaxed)
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut o = String::with_capacity(4096);
        let _ = writeln!(
            o,
            "# HELP vpbx_sip_requests_received_total SIP requests received, by method."
        );
        let _ = writeln!(o, "# TYPE vpbx_sip_requests_received_total counter");
        for (i, m) in METHODS.iter().enumerate() {
            let _ = writeln!(
                o,
                "vpbx_sip_requests_received_total{{method=\"{m}\"}} {}",
                self.requests_in[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vpbx_sip_responses_received_total SIP responses received."
        );
        let _ = writeln!(o, "# TYPE vpbx_sip_responses_received_total counter");
        let _ = writeln!(
            o,
            "vpbx_sip_responses_received_total {}",
            self.responses_in.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_sip_responses_sent_total SIP responses sent, by status."
        );
        let _ = writeln!(o, "# TYPE vpbx_sip_responses_sent_total counter");
        for (code, c) in self.responses_out.iter().enumerate() {
            let v = c.load(Relaxed);
            if v > 0 {
                let _ = writeln!(o, "vpbx_sip_responses_sent_total{{status=\"{code}\"}} {v}");
            }
        }
        let _ = writeln!(
            o,
            "# HELP vpbx_sip_dropped_total Messages not processed, by reason (unparsable requests and overload may still get a 400/503)."
        );
        let _ = writeln!(o, "# TYPE vpbx_sip_dropped_total counter");
        for d in Drop::ALL {
            let _ = writeln!(
                o,
                "vpbx_sip_dropped_total{{reason=\"{}\"}} {}",
                d.label(),
                self.dropped(d)
            );
        }
        let counters = [
            (
                "vpbx_bans_total",
                "Sources banned since start.",
                &self.bans_total,
            ),
            (
                "vpbx_auth_failures_total",
                "Failed digest authentications.",
                &self.auth_failures_total,
            ),
            (
                "vpbx_auth_challenges_total",
                "Digest challenges sent.",
                &self.auth_challenges_total,
            ),
            (
                "vpbx_registrations_total",
                "Successful REGISTER requests.",
                &self.registrations_total,
            ),
            (
                "vpbx_store_backlog_drops_total",
                "Binding changes the write-behind queue refused.",
                &self.store_backlog_drops,
            ),
            (
                "vpbx_tcp_connections_accepted_total",
                "TCP connections accepted.",
                &self.tcp_connections_total,
            ),
            (
                "vpbx_udp_helper_wakeups_total",
                "Times the UDP receive thread, behind for 5 ms, woke another thread to help.",
                &self.udp_helper_wakeups_total,
            ),
            (
                "vpbx_calls_total",
                "Calls started (authenticated INVITEs routed to a user).",
                &self.calls_total,
            ),
            (
                "vpbx_calls_ended_total",
                "Calls ended (one call record each).",
                &self.calls_ended_total,
            ),
            (
                "vpbx_cdr_drops_total",
                "Call records the writer could not take (should stay 0).",
                &self.cdr_drops_total,
            ),
            (
                "vpbx_mwi_notifies_total",
                "Message-waiting NOTIFYs sent (subscribed and unsolicited).",
                &self.mwi_notifies_total,
            ),
            (
                "vpbx_mwi_unsolicited_total",
                "Unsolicited message-waiting NOTIFYs sent (phones without a subscription).",
                &self.mwi_unsolicited_total,
            ),
            (
                "vpbx_mwi_notify_failures_total",
                "Message-waiting NOTIFYs that got an error or no answer.",
                &self.mwi_notify_failures_total,
            ),
            (
                "vpbx_purge_runs_total",
                "Retention purges run (one per tenant per run).",
                &self.purge_runs_total,
            ),
            (
                "vpbx_purge_errors_total",
                "Retention purges of a tenant that failed.",
                &self.purge_errors_total,
            ),
            (
                "vpbx_purge_recordings_deleted_total",
                "Recordings deleted by the retention purge.",
                &self.purge_recordings_deleted_total,
            ),
            (
                "vpbx_purge_voicemail_deleted_total",
                "Voicemail messages deleted by the retention purge.",
                &self.purge_voicemail_deleted_total,
            ),
            (
                "vpbx_purge_bytes_freed_total",
                "Bytes freed by the retention purge.",
                &self.purge_bytes_freed_total,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vpbx_mwi_subscriptions Message-waiting subscriptions held now.\n# TYPE vpbx_mwi_subscriptions gauge\nvpbx_mwi_subscriptions {}",
            self.mwi_subscriptions.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_tcp_connections Open TCP connections.\n# TYPE vpbx_tcp_connections gauge"
        );
        let _ = writeln!(
            o,
            "vpbx_tcp_connections {}",
            self.tcp_connections.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_bans_active Sources banned now.\n# TYPE vpbx_bans_active gauge"
        );
        let _ = writeln!(o, "vpbx_bans_active {}", snap.active_bans);
        let _ = writeln!(
            o,
            "# HELP vpbx_tenants Tenants loaded.\n# TYPE vpbx_tenants gauge\nvpbx_tenants {}",
            snap.tenant_count
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_trace_messages Messages held in the trace log.\n# TYPE vpbx_trace_messages gauge"
        );
        let _ = writeln!(o, "vpbx_trace_messages {}", snap.trace_messages);
        let _ = writeln!(
            o,
            "# HELP vpbx_calls_active Calls held by the shards.\n# TYPE vpbx_calls_active gauge\nvpbx_calls_active {}",
            snap.calls
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_media_legs RTP port pairs in use.\n# TYPE vpbx_media_legs gauge\nvpbx_media_legs {}",
            snap.media_legs.0
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_media_legs_capacity RTP port pairs available in [media] ports.\n# TYPE vpbx_media_legs_capacity gauge\nvpbx_media_legs_capacity {}",
            snap.media_legs.1
        );
        let _ = writeln!(
            o,
            "# HELP vpbx_shard_queue_depth Messages waiting in a shard's inbox.\n# TYPE vpbx_shard_queue_depth gauge"
        );
        for (i, (depth, _, _)) in snap.shards.iter().enumerate() {
            let _ = writeln!(o, "vpbx_shard_queue_depth{{shard=\"{i}\"}} {depth}");
        }
        let _ = writeln!(
            o,
            "# HELP vpbx_shard_queue_capacity Size of a shard's inbox.\n# TYPE vpbx_shard_queue_capacity gauge"
        );
        for (i, (_, cap, _)) in snap.shards.iter().enumerate() {
            let _ = writeln!(o, "vpbx_shard_queue_capacity{{shard=\"{i}\"}} {cap}");
        }
        let _ = writeln!(
            o,
            "# HELP vpbx_shard_transactions Server transactions held by a shard.\n# TYPE vpbx_shard_transactions gauge"
        );
        for (i, (_, _, txns)) in snap.shards.iter().enumerate() {
            let _ = writeln!(o, "vpbx_shard_transactions{{shard=\"{i}\"}} {txns}");
        }
        type Getter = fn(&TenantStats) -> u64;
        let per_tenant: [(&str, &str, &str, Getter); 4] = [
            (
                "vpbx_registered_contacts",
                "gauge",
                "Registered contacts.",
                |s| s.contacts,
            ),
            (
                "vpbx_tenant_requests_total",
                "counter",
                "SIP requests routed to the tenant.",
                |s| s.requests,
            ),
            (
                "vpbx_tenant_registrations_total",
                "counter",
                "Successful REGISTERs.",
                |s| s.registrations,
            ),
            (
                "vpbx_tenant_auth_failures_total",
                "counter",
                "Failed digest authentications.",
                |s| s.auth_failures,
            ),
        ];
        for (name, kind, help, get) in per_tenant {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (domain, s) in &snap.tenants {
                let _ = writeln!(
                    o,
                    "{name}{{tenant=\"{}\"}} {}",
                    escape_label(domain),
                    get(s)
                );
            }
        }
        o
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
