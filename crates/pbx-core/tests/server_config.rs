//! `vpbx.toml`: defaults, the annotated example, unknown keys, validation messages.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;

use pbx_core::server_config::{Codec, DEFAULT_SCANNER_USER_AGENTS, OwnIpPolicy, PortRange};
use pbx_core::{ListenAddr, SecretsKey, ServerConfig, Transport};

const EXAMPLE: &str = include_str!("../../../docs/vpbx.toml");

fn err(text: &str) -> String {
    ServerConfig::from_toml_str(text).unwrap_err().to_string()
}

#[test]
fn an_empty_file_gives_every_default() {
    let c = ServerConfig::from_toml_str("").unwrap();
    assert_eq!(c, ServerConfig::default());
    assert_eq!(c.data_dir, PathBuf::from("./vpbx-data"));
    assert_eq!(c.database, "sqlite://vpbx-data/vpbx.db");
    assert_eq!(
        c.sip.listen,
        [
            ListenAddr {
                transport: Transport::Udp,
                addr: "0.0.0.0:5060".parse().unwrap()
            },
            ListenAddr {
                transport: Transport::Tcp,
                addr: "0.0.0.0:5060".parse().unwrap()
            },
        ]
    );
    assert_eq!(c.sip.external_ip, None);
    assert_eq!((c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms), (500, 4000, 5000));
    assert_eq!(
        (c.sip.max_message_bytes, c.sip.shards, c.sip.queue_depth),
        (65_535, 0, 4096)
    );
    assert_eq!(c.sip.own_ip_policy, OwnIpPolicy::UniqueAuthUser);
    assert_eq!(c.media.ip.to_string(), "0.0.0.0");
    assert_eq!(
        c.media.ports,
        PortRange {
            first: 10_000,
            last: 20_000
        }
    );
    assert_eq!(
        c.http.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        (c.smtp.url.as_deref(), c.smtp.from.as_str()),
        (None, "pbx@example.com")
    );
    let s = &c.security;
    assert!(s.trusted_networks.is_empty());
    assert_eq!(
        (s.ban_threshold, s.ban_window_s, s.ban_time_s),
        (10, 60, 900)
    );
    assert!(s.drop_scanner_user_agents);
    assert_eq!(s.scanner_user_agents, DEFAULT_SCANNER_USER_AGENTS);
    assert_eq!((s.rate_limit_per_ip, s.rate_limit_burst), (200, 400));
    let r = &c.registrar;
    assert_eq!(
        (
            r.min_expires,
            r.max_expires,
            r.default_expires,
            r.max_contacts_per_aor,
            r.nonce_ttl_s
        ),
        (60, 3600, 3600, 10, 300)
    );
    assert!(c.store.write_behind);
    assert_eq!(c.store.flush_interval_ms, 1000);
    assert_eq!(c.store.secrets_key, None);
    assert_eq!(
        (c.trace.max_messages, c.trace.dir.as_ref()),
        (100_000, None)
    );
    assert!(c.sip.local_networks.is_empty());
    assert_eq!(
        (
            c.sip.session_expires_s,
            c.sip.min_se_s,
            c.sip.qualify_interval_s
        ),
        (1800, 90, 60)
    );
    let m = &c.media;
    assert_eq!(m.advertise_ip, None);
    assert_eq!(
        (
            m.rtp_timeout_s,
            m.rtp_hold_timeout_s,
            m.learn_window_ms,
            m.workers
        ),
        (60, 300, 2000, 0)
    );
    assert_eq!(m.codecs, [Codec::Pcma, Codec::Pcmu]);
    assert_eq!(m.telephone_event_pt, 101);
    assert_eq!(m.ports.len(), 10_001);
    assert_eq!(
        (
            c.features.attended_transfer.as_str(),
            c.features.blind_transfer.as_str()
        ),
        ("*2", "##")
    );
}

#[test]
fn the_annotated_example_file_states_exactly_the_defaults() {
    assert_eq!(
        ServerConfig::from_toml_str(EXAMPLE).unwrap(),
        ServerConfig::default()
    );
}

#[test]
fn the_database_default_follows_a_configured_data_dir() {
    let c = ServerConfig::from_toml_str("data_dir = \"/var/lib/vpbx\"\n").unwrap();
    assert_eq!(c.database, "sqlite:///var/lib/vpbx/vpbx.db");
    let c = ServerConfig::from_toml_str(
        "data_dir = \"/var/lib/vpbx\"\ndatabase = \"postgres://vpbx@db/vpbx\"\n",
    )
    .unwrap();
    assert_eq!(c.database, "postgres://vpbx@db/vpbx");
}

#[test]
fn every_section_can_be_overridden() {
    let key_hex = "ab".repeat(32);
    let c = ServerConfig::from_toml_str(&format!(
        r#"
[sip]
listen = ["udp:127.0.0.1:5070", "tcp:[::1]:5070"]
external_ip = "203.0.113.5"
t1_ms = 250
shards = 2
queue_depth = 16
own_ip_policy = "drop"
[media]
ports = "30000-30100"
[storage]
purge_delay_s = 0
purge_interval_s = 5
[http]
listen = "0.0.0.0:9090"
[smtp]
url = "smtp://u:p@127.0.0.1:2525"
from = "vm@office.example"
[security]
trusted_networks = ["127.0.0.0/8", "::1"]
ban_threshold = 3
drop_scanner_user_agents = false
scanner_user_agents = ["EvilScan"]
rate_limit_per_ip = 1000
rate_limit_burst = 1000
[registrar]
min_expires = 30
default_expires = 600
[store]
write_behind = false
flush_interval_ms = 100
secrets_key = "{key_hex}"
[trace]
max_messages = 0
dir = "/tmp/trace"
"#
    ))
    .unwrap();
    assert_eq!(
        c.sip.listen[1].addr,
        "[::1]:5070".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.sip.external_ip, Some("203.0.113.5".parse().unwrap()));
    assert_eq!((c.sip.t1_ms, c.sip.shards, c.sip.queue_depth), (250, 2, 16));
    assert_eq!(c.sip.own_ip_policy, OwnIpPolicy::Drop);
    assert_eq!(
        (c.storage.purge_delay_s, c.storage.purge_interval_s),
        (0, 5)
    );
    assert_eq!(
        c.media.ports,
        PortRange {
            first: 30_000,
            last: 30_100
        }
    );
    assert_eq!(c.smtp.url.as_deref(), Some("smtp://u:p@127.0.0.1:2525"));
    assert!(
        c.security
            .trusted_networks
            .contains("127.0.0.9".parse().unwrap())
    );
    assert!(c.security.trusted_networks.contains("::1".parse().unwrap()));
    assert!(c.security.is_scanner_user_agent("evilscan 1.0"));
    assert!(
        !c.security.is_scanner_user_agent("friendly-scanner"),
        "a configured list replaces the defaults"
    );
    assert_eq!(
        (c.registrar.min_expires, c.registrar.default_expires),
        (30, 600)
    );
    assert_eq!(
        c.store.secrets_key,
        Some(SecretsKey::parse(&key_hex).unwrap())
    );
    assert_eq!(c.trace.dir, Some(PathBuf::from("/tmp/trace")));
}

#[test]
fn unknown_keys_are_named_with_their_section() {
    assert_eq!(
        err("data_dri = \"x\"\n"),
        "top level: unknown key \"data_dri\" (expected one of: data_dir, database, sip, media, http, smtp, security, registrar, store, storage, trace, features)"
    );
    assert_eq!(
        err("[sip]\nlisten_on = []\n"),
        "sip: unknown key \"listen_on\" (expected one of: listen, external_ip, t1_ms, t2_ms, t4_ms, max_message_bytes, shards, threads, queue_depth, own_ip_policy, local_networks, session_expires_s, min_se_s, qualify_interval_s)"
    );
    assert_eq!(
        err("[security]\nban_treshold = 5\n"),
        "security: unknown key \"ban_treshold\" (expected one of: trusted_networks, ban_threshold, ban_window_s, ban_time_s, drop_scanner_user_agents, scanner_user_agents, rate_limit_per_ip, rate_limit_burst)"
    );
    assert_eq!(
        err("[sipp]\n"),
        "top level: unknown key \"sipp\" (expected one of: data_dir, database, sip, media, http, smtp, security, registrar, store, storage, trace, features)"
    );
}

#[test]
fn toml_syntax_errors_are_one_line_with_a_position() {
    let e = err("[sip]\nlisten = [\"udp:0.0.0.0:5060\"\n");
    assert!(e.starts_with("TOML syntax error: line "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn listen_addresses_are_validated() {
    assert_eq!(
        err("[sip]\nlisten = [\"tls:0.0.0.0:5061\"]\n"),
        "sip.listen[0]: \"tls:0.0.0.0:5061\": the TLS transport is not supported yet (use udp or tcp)"
    );
    assert_eq!(
        err("[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"ws:0.0.0.0:8088\"]\n"),
        "sip.listen[1]: \"ws:0.0.0.0:8088\": the WS transport is not supported yet (use udp or tcp)"
    );
    assert_eq!(
        err("[sip]\nlisten = [\"0.0.0.0:5060\"]\n"),
        "sip.listen[0]: \"0.0.0.0:5060\": unknown transport \"0.0.0.0\" (expected udp or tcp)"
    );
    assert_eq!(
        err("[sip]\nlisten = [\"udp:localhost:5060\"]\n"),
        "sip.listen[0]: \"udp:localhost:5060\": \"localhost:5060\" is not IP:PORT (IPv6 as [::]:5060)"
    );
    assert_eq!(
        err("[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"udp:0.0.0.0:5060\"]\n"),
        "sip.listen[1]: \"udp:0.0.0.0:5060\" is listed twice"
    );
    assert_eq!(
        err("[sip]\nlisten = []\n"),
        "sip.listen: at least one address is needed"
    );
    assert_eq!(
        err("[sip]\nlisten = \"udp:0.0.0.0:5060\"\n"),
        "sip.listen: expected a list, found a string"
    );
}

#[test]
fn values_are_type_and_range_checked() {
    assert_eq!(
        err("[sip]\nexternal_ip = \"pbx.example\"\n"),
        "sip.external_ip: \"pbx.example\" is not an IP address"
    );
    assert_eq!(
        err("[sip]\nt1_ms = 0\n"),
        "sip.t1_ms: 0 is out of range (allowed 1..=60000)"
    );
    assert_eq!(
        err("[sip]\nt1_ms = 5000\nt2_ms = 4000\n"),
        "sip.t2_ms: 4000 is less than t1_ms (5000); RFC 3261 needs T2 >= T1"
    );
    assert_eq!(
        err("[sip]\nqueue_depth = \"big\"\n"),
        "sip.queue_depth: expected a whole number, found a string"
    );
    assert_eq!(
        err("[sip]\nown_ip_policy = \"accept\"\n"),
        "sip.own_ip_policy: \"accept\" is not one of: unique-auth-user, reject, drop"
    );
    assert_eq!(
        err("[media]\nports = \"20000-10000\"\n"),
        "media.ports: \"20000-10000\" is not FIRST-LAST with 1024 <= FIRST < LAST <= 65535 (e.g. \"10000-20000\")"
    );
    assert_eq!(
        err("[http]\nlisten = \"8080\"\n"),
        "http.listen: \"8080\" is not IP:PORT"
    );
    assert_eq!(
        err("[smtp]\nurl = \"http://u:hunter2@mail\"\n"),
        "smtp.url: \"http://u:***@mail\" is not an smtp:// or smtps:// URL"
    );
    assert_eq!(
        err("[smtp]\nfrom = \"pbx\"\n"),
        "smtp.from: \"pbx\" is not a plausible e-mail address"
    );
    assert_eq!(
        err("[security]\ntrusted_networks = [\"10.0.0.0/8\", \"10.0.0.300\"]\n"),
        "security.trusted_networks[1]: \"10.0.0.300\" is not a CIDR or IP address"
    );
    assert_eq!(
        err("[security]\nban_threshold = 0\n"),
        "security.ban_threshold: 0 is out of range (allowed 1..=1000000)"
    );
    assert_eq!(
        err("[security]\ndrop_scanner_user_agents = \"yes\"\n"),
        "security.drop_scanner_user_agents: expected true or false, found a string"
    );
    assert_eq!(
        err("[security]\nscanner_user_agents = [\"\"]\n"),
        "security.scanner_user_agents[0]: must not be empty (it would match every request)"
    );
    assert_eq!(
        err("[security]\nrate_limit_per_ip = 500\n"),
        "security.rate_limit_burst: 400 is less than rate_limit_per_ip (500)"
    );
    assert_eq!(
        err("[registrar]\nmin_expires = 7200\n"),
        "registrar.min_expires: 7200 is greater than max_expires (3600)"
    );
    assert_eq!(
        err("[registrar]\ndefault_expires = 30\n"),
        "registrar.default_expires: 30 is outside min_expires..=max_expires (60..=3600)"
    );
    assert_eq!(
        err("[store]\nflush_interval_ms = 5000\n"),
        "store.flush_interval_ms: 5000 is out of range (allowed 1..=1000)"
    );
    assert_eq!(err("data_dir = \"\"\n"), "data_dir: must not be empty");
    assert_eq!(
        err("database = \"mysql://u:pw@db/x\"\n"),
        "database: \"mysql://u:***@db/x\" is not a sqlite:// or postgres:// URL"
    );
}

#[test]
fn a_bad_secrets_key_is_refused_without_repeating_it() {
    let e = err("[store]\nsecrets_key = \"not-a-key-but-secret\"\n");
    assert_eq!(
        e,
        "store.secrets_key: must be 32 bytes written as 64 hex digits or 44 base64 characters"
    );
    assert!(!e.contains("not-a-key"));
}

#[test]
fn sections_must_be_tables() {
    assert_eq!(err("sip = 5\n"), "sip: expected a mapping, found a number");
}

#[test]
fn call_and_media_keys_can_be_overridden() {
    let c = ServerConfig::from_toml_str(
        r##"
[sip]
local_networks = ["192.168.0.0/16", "10.1.2.3"]
session_expires_s = 600
min_se_s = 120
qualify_interval_s = 0
[media]
advertise_ip = "198.51.100.9"
rtp_timeout_s = 5
rtp_hold_timeout_s = 0
learn_window_ms = 0
workers = 2
realtime_priority = 20
codecs = ["pcmu"]
telephone_event_pt = 96
[features]
attended_transfer = "*7"
blind_transfer = "#1#"
"##,
    )
    .unwrap();
    assert!(
        c.sip
            .local_networks
            .contains("192.168.7.7".parse().unwrap())
    );
    assert!(c.sip.local_networks.contains("10.1.2.3".parse().unwrap()));
    assert_eq!(
        (
            c.sip.session_expires_s,
            c.sip.min_se_s,
            c.sip.qualify_interval_s
        ),
        (600, 120, 0)
    );
    assert_eq!(c.media.advertise_ip, Some("198.51.100.9".parse().unwrap()));
    assert_eq!(
        (
            c.media.rtp_timeout_s,
            c.media.rtp_hold_timeout_s,
            c.media.learn_window_ms,
            c.media.workers
        ),
        (5, 0, 0, 2)
    );
    assert_eq!(c.media.codecs, [Codec::Pcmu]);
    assert_eq!(c.media.realtime_priority, 20);
    assert_eq!(c.media.telephone_event_pt, 96);
    assert_eq!(c.features.attended_transfer, "*7");
    assert_eq!(c.features.blind_transfer, "#1#");
}

#[test]
fn call_and_media_values_are_validated() {
    assert_eq!(
        err("[sip]\nlocal_networks = [\"10.0.0.0/8\", \"lan\"]\n"),
        "sip.local_networks[1]: \"lan\" is not a CIDR or IP address"
    );
    assert_eq!(
        err("[sip]\nmin_se_s = 30\n"),
        "sip.min_se_s: 30 is out of range (allowed 90..=86400)"
    );
    assert_eq!(
        err("[sip]\nmin_se_s = 900\nsession_expires_s = 600\n"),
        "sip.session_expires_s: 600 is less than min_se_s (900); RFC 4028 needs Session-Expires >= Min-SE"
    );
    assert_eq!(
        err("[media]\nadvertise_ip = \"0.0.0.0\"\n"),
        "media.advertise_ip: 0.0.0.0 cannot be advertised (give the address peers send RTP to)"
    );
    assert_eq!(
        err("[media]\nadvertise_ip = \"pbx.example\"\n"),
        "media.advertise_ip: \"pbx.example\" is not an IP address"
    );
    assert_eq!(
        err("[media]\nrtp_timeout_s = 120\nrtp_hold_timeout_s = 60\n"),
        "media.rtp_hold_timeout_s: 60 is less than rtp_timeout_s (120); a held call sends less RTP, not more"
    );
    assert_eq!(
        err("[media]\ncodecs = [\"PCMA\", \"G729\"]\n"),
        "media.codecs[1]: \"G729\" is not a supported codec (supported: PCMA, PCMU, G722)"
    );
    assert_eq!(
        err("[media]\ncodecs = [\"PCMA\", \"pcma\"]\n"),
        "media.codecs[1]: \"pcma\" is listed twice"
    );
    assert_eq!(
        err("[media]\ncodecs = []\n"),
        "media.codecs: at least one codec is needed"
    );
    assert_eq!(
        err("[media]\ntelephone_event_pt = 8\n"),
        "media.telephone_event_pt: 8 is out of range (allowed 96..=127)"
    );
    assert_eq!(
        err("[media]\nrealtime_priority = 100\n"),
        "media.realtime_priority: 100 is out of range (allowed 0..=99)"
    );
    assert_eq!(
        err("[media]\nlearn_window_ms = 90000\n"),
        "media.learn_window_ms: 90000 is out of range (allowed 0..=60000)"
    );
    assert_eq!(
        err("[features]\nblind_transfer = \"#A\"\n"),
        "features.blind_transfer: \"#A\": 'A' is not a phone key (allowed: 0-9, * and #)"
    );
    assert_eq!(
        err("[features]\nattended_transfer = \"\"\n"),
        "features.attended_transfer: \"\" must be 1 to 8 characters long"
    );
    assert_eq!(
        err("[features]\nattended_transfer = \"##1\"\n"),
        "features.blind_transfer: \"##\" and attended_transfer \"##1\": one is a prefix of the other, so the longer could never be dialled"
    );
    assert_eq!(
        err("[features]\ntransfer = \"*2\"\n"),
        "features: unknown key \"transfer\" (expected one of: attended_transfer, blind_transfer)"
    );
}

#[test]
fn local_peers_get_the_internal_address_and_others_the_external_one() {
    let c = ServerConfig::from_toml_str(
        "[sip]\nlisten = [\"udp:10.0.0.5:5060\"]\nexternal_ip = \"203.0.113.5\"\nlocal_networks = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let lan = "10.9.8.7".parse().unwrap();
    let wan = "198.51.100.20".parse().unwrap();
    assert_eq!(c.sip_advertise_for(lan), None);
    assert_eq!(
        c.sip_advertise_for(wan),
        Some("203.0.113.5".parse().unwrap())
    );
    assert_eq!(
        c.media_advertise_for(lan),
        Some("10.0.0.5".parse().unwrap())
    );
    assert_eq!(
        c.media_advertise_for(wan),
        Some("203.0.113.5".parse().unwrap())
    );
}

#[test]
fn media_advertise_ip_overrides_external_ip_for_rtp_only() {
    let c = ServerConfig::from_toml_str(
        "[sip]\nexternal_ip = \"203.0.113.5\"\n[media]\nip = \"10.0.0.6\"\nadvertise_ip = \"203.0.113.6\"\n",
    )
    .unwrap();
    let wan = "198.51.100.20".parse().unwrap();
    assert_eq!(
        c.sip_advertise_for(wan),
        Some("203.0.113.5".parse().unwrap())
    );
    assert_eq!(
        c.media_advertise_for(wan),
        Some("203.0.113.6".parse().unwrap())
    );
}

#[test]
fn without_external_ip_or_specific_addresses_the_server_picks_the_socket_address() {
    let c = ServerConfig::default();
    let peer = "198.51.100.20".parse().unwrap();
    assert_eq!(c.sip_advertise_for(peer), None);
    assert_eq!(c.media_advertise_for(peer), None);
}

#[test]
fn g722_is_accepted_when_listed_but_not_offered_by_default() {
    let c = ServerConfig::from_toml_str("[media]\ncodecs = [\"g722\", \"PCMU\"]\n").unwrap();
    assert_eq!(c.media.codecs, [Codec::G722, Codec::Pcmu]);
    let g722 = c.media.codecs[0];
    assert_eq!(
        (g722.name(), g722.payload_type(), g722.clock_rate()),
        ("G722", 9, 8000)
    );
    let default = ServerConfig::from_toml_str("").unwrap();
    assert!(!default.media.codecs.contains(&Codec::G722));
}
