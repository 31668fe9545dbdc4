//! vpbx.toml → the server's settings, and tenant config text ↔ the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pbx_core::{SecretsKey, ServerConfig, TenantConfig};
use pbx_server::security::SecuritySettings;
use pbx_server::transport::Tp;

/// Loads vpbx.toml: the given file, else ./vpbx.toml if present, else defaults.
pub(crate) fn load_config(path: Option<&Path>) -> Result<ServerConfig> {
    let path: Option<PathBuf> = match path {
        Some(p) => Some(p.to_path_buf()),
        None => Path::new("vpbx.toml")
            .exists()
            .then(|| PathBuf::from("vpbx.toml")),
    };
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            ServerConfig::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
        None => Ok(ServerConfig::default()),
    }
}

pub(crate) fn server_settings(cfg: &ServerConfig) -> pbx_server::Settings {
    let key = cfg.store.secrets_key.clone();
    let build: pbx_server::TenantBuilder = Arc::new(move |id, version, domain, text| {
        let cfg = parse_stored(domain, text, key.as_ref())?;
        Ok(pbx_server::tenants::snapshot(id, version, &cfg))
    });
    let key = cfg.store.secrets_key.clone();
    let build_platform: pbx_server::PlatformBuilder = Arc::new(move |text| {
        let mut p = pbx_dialplan::PlatformConfig::from_yaml_str(text).map_err(|e| e.to_string())?;
        p.unseal_secrets(key.as_ref()).map_err(|e| e.to_string())?;
        pbx_dialplan::Platform::new(p).map_err(|e| e.to_string())
    });
    let sec = &cfg.security;
    pbx_server::Settings {
        listen: cfg
            .sip
            .listen
            .iter()
            .filter_map(|l| {
                // The config parser refuses transports the server does not run yet.
                let tp = match l.transport {
                    pbx_core::Transport::Udp => Tp::Udp,
                    pbx_core::Transport::Tcp => Tp::Tcp,
                    _ => return None,
                };
                Some((tp, l.addr))
            })
            .collect(),
        http_listen: Some(cfg.http.listen),
        external_ip: cfg.sip.external_ip,
        shards: cfg.sip.shards,
        udp_threads: cfg.sip.threads,
        queue_depth: cfg.sip.queue_depth,
        limits: sip_msg::Limits {
            max_message: cfg.sip.max_message_bytes,
            max_body: cfg.sip.max_message_bytes.saturating_sub(1024).max(1024),
            ..sip_msg::Limits::default()
        },
        registrar: pbx_registrar::RegistrarConfig {
            min_expires: cfg.registrar.min_expires,
            max_expires: cfg.registrar.max_expires,
            default_expires: cfg.registrar.default_expires,
            max_contacts_per_aor: cfg.registrar.max_contacts_per_aor as usize,
        },
        security: SecuritySettings {
            trusted: sec
                .trusted_networks
                .networks()
                .iter()
                .map(|n| (n.network(), n.prefix_len()))
                .collect(),
            ban_threshold: sec.ban_threshold,
            ban_window: Duration::from_secs(sec.ban_window_s),
            ban_time: Duration::from_secs(sec.ban_time_s),
            drop_scanner_user_agents: sec.drop_scanner_user_agents,
            scanner_user_agents: sec
                .scanner_user_agents
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            rate_limit_per_ip: sec.rate_limit_per_ip,
            rate_burst: sec.rate_limit_burst,
        },
        t1: Duration::from_millis(cfg.sip.t1_ms),
        nonce_ttl_s: cfg.registrar.nonce_ttl_s,
        trace_max_messages: cfg.trace.max_messages,
        trace_max_bytes: 64 << 20,
        trace_dir: cfg.trace.dir.clone(),
        flush_interval: Duration::from_millis(cfg.store.flush_interval_ms.max(1)),
        write_behind: cfg.store.write_behind,
        config_poll: Duration::from_millis(500),
        build_tenant: build,
        build_platform,
        own_ip_policy: match cfg.sip.own_ip_policy {
            pbx_core::server_config::OwnIpPolicy::Reject => pbx_server::OwnIpPolicy::Reject,
            pbx_core::server_config::OwnIpPolicy::Drop => pbx_server::OwnIpPolicy::Drop,
            _ => pbx_server::OwnIpPolicy::UniqueAuthUser,
        },
        relay: Some(relay_config(cfg)),
        relay_realtime_priority: cfg.media.realtime_priority,
        calls: call_settings(cfg),
        local_networks: cfg
            .sip
            .local_networks
            .networks()
            .iter()
            .map(|n| (n.network(), n.prefix_len()))
            .collect(),
        data_dir: cfg.data_dir.clone(),
        smtp: cfg.smtp.url.as_ref().map(|url| pbx_server::SmtpSettings {
            url: url.clone(),
            from: cfg.smtp.from.clone(),
            retry_initial: Duration::from_secs(cfg.smtp.retry_initial_s.max(1)),
        }),
        retention: pbx_server::RetentionSettings {
            first: Duration::from_secs(cfg.storage.purge_delay_s),
            interval: Duration::from_secs(cfg.storage.purge_interval_s.max(1)),
        },
    }
}

/// `[media]` as the relay takes it.
fn relay_config(cfg: &ServerConfig) -> pbx_relay::RelayConfig {
    let m = &cfg.media;
    pbx_relay::RelayConfig {
        ip: m.ip,
        advertise: cfg.media_advertise_for(m.ip).unwrap_or(m.ip),
        first_port: m.ports.first,
        last_port: m.ports.last,
        workers: if m.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            m.workers
        },
        learn_window: Duration::from_millis(u64::from(m.learn_window_ms)),
    }
}

/// What calls need from `[media]` and `[sip]`.
fn call_settings(cfg: &ServerConfig) -> pbx_server::calls::CallSettings {
    let m = &cfg.media;
    let internal = (!m.ip.is_unspecified()).then_some(m.ip).or_else(|| {
        cfg.sip
            .listen
            .iter()
            .map(|l| l.addr.ip())
            .find(|ip| !ip.is_unspecified())
    });
    pbx_server::calls::CallSettings {
        codecs: m
            .codecs
            .iter()
            .map(|c| pbx_sdp::Codec::new(c.payload_type(), c.name(), 8000))
            .collect(),
        telephone_event_pt: m.telephone_event_pt,
        rtp_timeout: Duration::from_secs(u64::from(m.rtp_timeout_s)),
        rtp_hold_timeout: Duration::from_secs(u64::from(m.rtp_hold_timeout_s)),
        media_internal: internal,
        media_external: m.advertise_ip.or(cfg.sip.external_ip),
        max_hops: 8,
        qualify_interval: Duration::from_secs(u64::from(cfg.sip.qualify_interval_s)),
        blind_transfer_code: cfg.features.blind_transfer.clone(),
        attended_transfer_code: cfg.features.attended_transfer.clone(),
        session_expires: Duration::from_secs(u64::from(cfg.sip.session_expires_s)),
        min_se: Duration::from_secs(u64::from(cfg.sip.min_se_s)),
    }
}

/// Parses a stored tenant document and opens its sealed secrets.
pub(crate) fn parse_stored(
    domain: &str,
    text: &str,
    key: Option<&SecretsKey>,
) -> Result<TenantConfig, String> {
    if text.trim().is_empty() {
        return Ok(TenantConfig::new(domain));
    }
    let mut cfg = TenantConfig::from_yaml_str(text).map_err(|e| e.to_string())?;
    for u in &mut cfg.users {
        if let Some(s) = &u.secret {
            u.secret = Some(
                pbx_core::unseal(s, key).map_err(|e| format!("users {}: secret: {e}", u.ext))?,
            );
        }
    }
    Ok(cfg)
}

/// The document stored for a tenant: the full YAML with SIP secrets sealed
/// when a `secrets_key` is configured (PINs are not sealed yet: they must
/// stay 4–12 digits to validate).
pub(crate) fn to_stored(cfg: &TenantConfig, key: Option<&SecretsKey>) -> Result<String> {
    let mut sealed = cfg.clone();
    for u in &mut sealed.users {
        if let Some(s) = &u.secret {
            u.secret = Some(pbx_core::secret::seal_if_keyed(s, key, rand::random()));
        }
    }
    let text = sealed.export_yaml(true);
    if TenantConfig::from_yaml_str(&text).is_err() {
        bail!("internal error: the tenant document does not parse back");
    }
    Ok(text)
}
