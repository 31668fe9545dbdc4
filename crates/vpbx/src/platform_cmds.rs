//! `vpbx platform apply|export`: the operator's trunks, numbers and directions
//! (issue 5). Same rules as tenant files: the whole file is validated (including that every
//! number's tenant exists), the diff is printed, and the document is stored in one step; a
//! running server picks it up within a second.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use pbx_core::{SecretsKey, ServerConfig};
use pbx_dialplan::{Platform, PlatformConfig};
use pbx_store::Store;

use crate::PlatformCmd;
use crate::commands::open;

pub(crate) async fn platform(cfg: &ServerConfig, cmd: PlatformCmd) -> Result<()> {
    match cmd {
        PlatformCmd::Apply { file, dry_run } => apply(cfg, &file, dry_run).await,
        PlatformCmd::Export { secrets } => export(cfg, secrets).await,
    }
}

/// The stored platform with its secrets opened, and its version (0: none applied yet).
pub(crate) async fn load(store: &Store, key: Option<&SecretsKey>) -> Result<(PlatformConfig, i64)> {
    let Some(doc) = store.get_platform().await? else {
        return Ok((PlatformConfig::default(), 0));
    };
    let mut cfg = PlatformConfig::from_yaml_str(&doc.config)
        .map_err(|e| anyhow!("stored platform document: {e}"))?;
    cfg.unseal_secrets(key)
        .map_err(|e| anyhow!("stored platform document: {e}"))?;
    Ok((cfg, doc.version))
}

async fn apply(cfg: &ServerConfig, file: &Path, dry_run: bool) -> Result<()> {
    let key = cfg.store.secrets_key.as_ref();
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?;
    let mut new =
        PlatformConfig::from_yaml_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let store = open(cfg).await?;
    let (old, version) = load(&store, key).await?;
    new.fill_missing_secrets_from(&old);
    new.check_secrets_present()
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let tenants: Vec<String> = store
        .list_tenants()
        .await?
        .into_iter()
        .map(|t| t.domain)
        .collect();
    new.check_tenants(|d| tenants.iter().any(|t| t.eq_ignore_ascii_case(d)))
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    // The compiled form is what the server will load: it must build.
    Platform::new(new.clone()).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let diff = PlatformConfig::diff(&old, &new);
    if diff.is_empty() {
        println!("no changes");
    }
    for d in &diff {
        println!("{d}");
    }
    if dry_run {
        println!("dry run: nothing applied");
        return Ok(());
    }
    if diff.is_empty() && version > 0 {
        return Ok(());
    }
    let stored = new.sealed(key, rand::random).export_yaml(true);
    if PlatformConfig::from_yaml_str(&stored).is_err() {
        bail!("internal error: the platform document does not parse back");
    }
    let v = store
        .put_platform(&stored, version)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    store
        .append_audit(
            "(platform)",
            "cli",
            &format!("platform apply: {} change(s)", diff.len()),
        )
        .await?;
    println!("applied the platform file (version {v})");
    store.close().await;
    Ok(())
}

async fn export(cfg: &ServerConfig, secrets: bool) -> Result<()> {
    let store = open(cfg).await?;
    let (platform, _) = load(&store, cfg.store.secrets_key.as_ref()).await?;
    print!("{}", platform.export_yaml(secrets));
    store.close().await;
    Ok(())
}

/// `vpbx route DOMAIN --from EXT --to DIGITS [--at RFC3339] [--busy EXT,…]`: the walk a
/// call would take through the tenant's destination graph and, for an outside number,
/// the platform's decision (`trunk=… digits=… callerid=…` or `denied: …`). Who is
/// registered comes from the database (the server writes bindings behind, within a second).
pub(crate) async fn route(
    cfg: &ServerConfig,
    domain: &str,
    from: &str,
    to: &str,
    at: Option<&str>,
    busy: &[String],
) -> Result<()> {
    let key = cfg.store.secrets_key.as_ref();
    let at_ms = match at {
        None => crate::commands::now_ms(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| {
                anyhow!("--at {t}: not an RFC 3339 time ({e}), e.g. 2026-11-26T10:00:00+03:00")
            })?
            .timestamp_millis(),
    };
    let store = open(cfg).await?;
    let domain = domain.to_ascii_lowercase();
    let Some(t) = store.get_tenant(&domain).await? else {
        bail!("no tenant {domain}");
    };
    let tenant = crate::settings::parse_stored(&domain, t.config.as_deref().unwrap_or(""), key)
        .map_err(|e| anyhow!("stored config of {domain}: {e}"))?;
    let (platform, version) = load(&store, key).await?;
    let platform = if version > 0 {
        Some(Platform::new(platform).map_err(|e| anyhow!("stored platform document: {e}"))?)
    } else {
        None
    };
    let now = crate::commands::now_ms();
    let registered: std::collections::HashSet<String> = store
        .list_bindings(t.row.id)
        .await?
        .into_iter()
        .filter(|b| b.expires_at_ms > now)
        .map(|b| b.aor)
        .collect();
    store.close().await;
    let is_registered = |ext: &str| registered.contains(ext);
    let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
    let dial = pbx_dialplan::Dial::new(from, to, at_ms)
        .busy(&busy)
        .registered(&is_registered);
    let walk = pbx_dialplan::walk(&tenant, platform.as_ref(), &dial).map_err(|e| anyhow!("{e}"))?;
    print!("{walk}");
    Ok(())
}
