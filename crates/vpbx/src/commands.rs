//! The subcommands. Each opens the store itself, so they work whether or not
//! a server runs; a running server picks up changes within a second.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use pbx_core::{ServerConfig, TenantConfig};
use pbx_server::prompts::FsCatalog;
use pbx_store::Store;

use crate::settings::{load_config, parse_stored, server_settings, to_stored};
use crate::{BanCmd, Command, TenantCmd};
use crate::{http, media_cmds, records};

pub(crate) async fn run(config: Option<PathBuf>, cmd: Command) -> Result<()> {
    if let Command::Demo = cmd {
        return demo().await;
    }
    let cfg = load_config(config.as_deref())?;
    match cmd {
        Command::Demo => unreachable!("handled above"),
        Command::Serve => serve(cfg).await,
        Command::Tenant(t) => tenant(&cfg, t).await,
        Command::Platform(p) => crate::platform_cmds::platform(&cfg, p).await,
        Command::Route {
            domain,
            from,
            to,
            at,
            busy,
        } => crate::platform_cmds::route(&cfg, &domain, &from, &to, at.as_deref(), &busy).await,
        Command::Registrations { domain, json } => registrations(&cfg, &domain, json).await,
        Command::Cdr {
            domain,
            limit,
            before,
            json,
        } => records::cdr(&cfg, &domain, limit, before, json).await,
        Command::Calls { domain, json } => records::calls(&cfg, &domain, json),
        Command::Trunks { json } => crate::trunks_cmd::trunks(&cfg, json),
        Command::Queue(q) => crate::queue_cmds::queue(&cfg, q).await,
        Command::Trace { call_id, json } => trace(&cfg, &call_id, json),
        Command::Ban(b) => ban(&cfg, b).await,
        Command::Prompt(p) => media_cmds::prompt(&cfg, p).await,
        Command::Moh(m) => media_cmds::moh(&cfg, m).await,
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) async fn open(cfg: &ServerConfig) -> Result<Store> {
    Store::open(&cfg.database)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&cfg.database)))
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

async fn serve(cfg: ServerConfig) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create the data dir {}", cfg.data_dir.display()))?;
    let store = open(&cfg).await?;
    let settings = server_settings(&cfg);
    pbx_server::serve(settings, store, shutdown_signal(), None)
        .await
        .map_err(|e| anyhow!("{e}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn tenant(cfg: &ServerConfig, cmd: TenantCmd) -> Result<()> {
    let key = cfg.store.secrets_key.as_ref();
    match cmd {
        TenantCmd::Create { domain } => {
            let domain = domain.to_ascii_lowercase();
            if !pbx_core::is_valid_domain(&domain) {
                bail!("{domain:?} is not a valid SIP domain");
            }
            let store = open(cfg).await?;
            let id = store
                .create_tenant(&domain)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let text = to_stored(&TenantConfig::new(&domain), key)?;
            store.put_tenant_config(&domain, &text, None).await?;
            store.append_audit(&domain, "cli", "tenant created").await?;
            let dir = tenant_dir(cfg, &domain);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            println!("created tenant {domain} (id {})", id.0);
            println!("storage: {}", dir.display());
            println!("next: vpbx tenant apply FILE.yaml (domain: {domain}) to add users");
            store.close().await;
            Ok(())
        }
        TenantCmd::Delete { domain, yes } => {
            let domain = domain.to_ascii_lowercase();
            let store = open(cfg).await?;
            if store.get_tenant(&domain).await?.is_none() {
                bail!("no tenant {domain}");
            }
            if !yes {
                eprint!("delete tenant {domain} and all its data? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    bail!("not deleted");
                }
            }
            store
                .delete_tenant(&domain)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let dir = tenant_dir(cfg, &domain);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
            println!("deleted tenant {domain}");
            store.close().await;
            Ok(())
        }
        TenantCmd::List => {
            let store = open(cfg).await?;
            let rows = store.list_tenants().await?;
            for t in rows {
                let users = match store.get_tenant(&t.domain).await? {
                    Some(c) => parse_stored(&t.domain, c.config.as_deref().unwrap_or(""), key)
                        .map(|c| c.users.len())
                        .unwrap_or(0),
                    None => 0,
                };
                println!(
                    "{}\tid={}\tversion={}\tusers={users}",
                    t.domain, t.id.0, t.version
                );
            }
            store.close().await;
            Ok(())
        }
        TenantCmd::Apply { file, dry_run } => apply(cfg, &file, dry_run).await,
        TenantCmd::Export { domain, secrets } => {
            let store = open(cfg).await?;
            let Some(t) = store.get_tenant(&domain.to_ascii_lowercase()).await? else {
                bail!("no tenant {domain}")
            };
            let parsed = parse_stored(&t.row.domain, t.config.as_deref().unwrap_or(""), key)
                .map_err(|e| anyhow!(e))?;
            print!("{}", parsed.export_yaml(secrets));
            store.close().await;
            Ok(())
        }
    }
}

fn tenant_dir(cfg: &ServerConfig, domain: &str) -> PathBuf {
    cfg.data_dir.join("tenants").join(domain)
}

async fn apply(cfg: &ServerConfig, file: &Path, dry_run: bool) -> Result<()> {
    let key = cfg.store.secrets_key.as_ref();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut new =
        TenantConfig::from_yaml_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let store = open(cfg).await?;
    let existing = store.get_tenant(&new.domain).await?;
    let (old, version) = match &existing {
        Some(t) => {
            let old = parse_stored(&t.row.domain, t.config.as_deref().unwrap_or(""), key)
                .map_err(|e| anyhow!("stored config: {e}"))?;
            (Some(old), Some(t.row.version))
        }
        None => (None, None),
    };
    match &old {
        Some(o) => new
            .fill_missing_secrets_from(o)
            .map_err(|e| anyhow!("{}: {e}", file.display()))?,
        None => new
            .check_secrets_present()
            .map_err(|e| anyhow!("{}: {e}", file.display()))?,
    }
    // Every prompt and the music-on-hold class must exist now: a missing file is an
    // apply-time error, never silence during a call.
    new.check_prompts(&FsCatalog::new(&cfg.data_dir, &new.domain))
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    // Emergency numbers and the numbers the operator bound to the tenant.
    let (platform, pv) = crate::platform_cmds::load(&store, key).await?;
    let platform = if pv > 0 {
        Some(
            pbx_dialplan::Platform::new(platform)
                .map_err(|e| anyhow!("stored platform document: {e}"))?,
        )
    } else {
        None
    };
    pbx_dialplan::check_tenant(&new, platform.as_ref())
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let base = old
        .clone()
        .unwrap_or_else(|| TenantConfig::new(&new.domain));
    let diff = TenantConfig::diff(&base, &new);
    if old.is_none() {
        println!("+ tenant {}", new.domain);
    }
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
    if existing.is_none() {
        store
            .create_tenant(&new.domain)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        std::fs::create_dir_all(tenant_dir(cfg, &new.domain))?;
    }
    if diff.is_empty() && existing.is_some() {
        return Ok(());
    }
    let stored = to_stored(&new, key)?;
    let v = store
        .put_tenant_config(
            &new.domain,
            &stored,
            version.or(Some(0)).filter(|_| existing.is_some()),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    store
        .append_audit(
            &new.domain,
            "cli",
            &format!("tenant apply: {} change(s)", diff.len()),
        )
        .await?;
    println!("applied {} (version {v})", new.domain);
    store.close().await;
    Ok(())
}

async fn registrations(cfg: &ServerConfig, domain: &str, json: bool) -> Result<()> {
    let store = open(cfg).await?;
    let domain = domain.to_ascii_lowercase();
    let Some(t) = store.get_tenant(&domain).await? else {
        bail!("no tenant {domain}")
    };
    let now = now_ms();
    let mut list: Vec<_> = store
        .list_bindings(t.row.id)
        .await?
        .into_iter()
        .filter(|b| b.expires_at_ms > now)
        .collect();
    list.sort_by(|a, b| (&a.aor, &a.contact_uri).cmp(&(&b.aor, &b.contact_uri)));
    if json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|b| {
                let transport = b.received.split(':').next().unwrap_or("");
                serde_json::json!({
                    "aor": format!("{}@{}", b.aor, domain),
                    "contact": b.contact_uri,
                    "source": b.received,
                    "transport": transport,
                    "expires_in": (b.expires_at_ms - now).max(0) / 1000,
                    "user_agent": b.user_agent,
                    "qualify": b.qualify_status.as_deref().unwrap_or("unknown"),
                    "qualify_rtt_ms": b.qualify_rtt_ms,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:<28} {:<44} {:<26} {:>7}  {:<18} USER-AGENT",
            "AOR", "CONTACT", "SOURCE", "EXPIRES", "QUALIFY"
        );
        for b in &list {
            println!(
                "{:<28} {:<44} {:<26} {:>6}s  {:<18} {}",
                format!("{}@{}", b.aor, domain),
                b.contact_uri,
                b.received,
                (b.expires_at_ms - now).max(0) / 1000,
                qualify_text(b.qualify_status.as_deref(), b.qualify_rtt_ms),
                b.user_agent.as_deref().unwrap_or("-")
            );
        }
        println!("{} contact(s)", list.len());
    }
    store.close().await;
    Ok(())
}

/// `reachable 12ms`, `unreachable`, `unknown`.
fn qualify_text(status: Option<&str>, rtt_ms: Option<u32>) -> String {
    match (status.unwrap_or("unknown"), rtt_ms) {
        ("reachable", Some(ms)) => format!("reachable {ms}ms"),
        (s, _) => s.to_owned(),
    }
}

/// Asks the running server's HTTP endpoint for the trace; without a server, reads the
/// on-disk trace files when `[trace] dir` is set.
fn trace(cfg: &ServerConfig, call_id: &str, json: bool) -> Result<()> {
    let target = http::server_target(cfg);
    let stream = match http::connect(target) {
        Ok(s) => s,
        Err(e) => {
            // No server: the on-disk trace, if configured, still has the messages.
            let Some(dir) = &cfg.trace.dir else {
                return Err(http::unreachable(target, &e));
            };
            let entries = pbx_server::trace::read_dir(dir, call_id)?;
            if entries.is_empty() {
                bail!(
                    "no server at http://{target}, and no messages with Call-ID {call_id} in {}",
                    dir.display()
                );
            }
            return print_trace(entries, json);
        }
    };
    let path = format!("/api/v1/trace/{}", http::path_segment(call_id));
    let (status, body) = http::get(stream, target, &path)?;
    match status {
        200 => {}
        404 => bail!("no messages with Call-ID {call_id} in the trace"),
        other => bail!("server answered HTTP {other}"),
    }
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body)?;
    print_trace(entries, json)
}

fn print_trace(entries: Vec<serde_json::Value>, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        let at = e["at_us"].as_u64().unwrap_or(0);
        let arrow = if e["direction"] == "in" { "<-" } else { "->" };
        println!(
            "=== {}.{:06} {} {} {} {} ({})",
            at / 1_000_000,
            at % 1_000_000,
            e["local"].as_str().unwrap_or(""),
            arrow,
            e["remote"].as_str().unwrap_or(""),
            e["transport"].as_str().unwrap_or(""),
            e["direction"].as_str().unwrap_or("")
        );
        println!("{}", e["data"].as_str().unwrap_or("").trim_end());
    }
    Ok(())
}

async fn ban(cfg: &ServerConfig, cmd: BanCmd) -> Result<()> {
    let store = open(cfg).await?;
    match cmd {
        BanCmd::List { json } => {
            let now = now_ms();
            let bans = store.list_bans(now).await?;
            if json {
                let v: Vec<serde_json::Value> = bans
                    .iter()
                    .map(|b| serde_json::json!({"ip": b.ip, "until": b.until_ms, "remaining_s": (b.until_ms - now) / 1000, "reason": b.reason}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for b in &bans {
                    println!(
                        "{}\t{}s left\t{}",
                        b.ip,
                        (b.until_ms - now) / 1000,
                        b.reason
                    );
                }
                println!("{} ban(s)", bans.len());
            }
        }
        BanCmd::Remove { ip } => {
            let ip: std::net::IpAddr = ip
                .parse()
                .map_err(|_| anyhow!("{ip:?} is not an IP address"))?;
            if store.remove_ban(&ip.to_string()).await? {
                println!("ban of {ip} lifted");
            } else {
                bail!("{ip} is not banned");
            }
        }
    }
    store.close().await;
    Ok(())
}

const DEMO_USERS: [(&str, &str); 3] = [("1001", "Alice"), ("1002", "Bob"), ("1003", "Carol")];

/// `vpbx demo`: a self-contained server in ./vpbx-demo with one tenant.
async fn demo() -> Result<()> {
    let dir = PathBuf::from("vpbx-demo");
    std::fs::create_dir_all(&dir)?;
    let cfg_path = dir.join("vpbx.toml");
    if !cfg_path.exists() {
        std::fs::write(
            &cfg_path,
            "data_dir = \"vpbx-demo/data\"\ndatabase = \"sqlite://vpbx-demo/data/vpbx.db\"\n[sip]\nlisten = [\"udp:127.0.0.1:5060\", \"tcp:127.0.0.1:5060\"]\n[http]\nlisten = \"127.0.0.1:8080\"\n[security]\ntrusted_networks = [\"127.0.0.0/8\"]\n",
        )?;
    }
    let cfg = load_config(Some(&cfg_path))?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    let domain = "demo.vpbx.test";
    let store = open(&cfg).await?;
    let existing = store.get_tenant(domain).await?;
    let tenant = match existing {
        Some(t) => {
            parse_stored(domain, t.config.as_deref().unwrap_or(""), None).map_err(|e| anyhow!(e))?
        }
        None => {
            let yaml = demo_tenant_yaml(domain, demo_sounds_installed());
            let t = TenantConfig::from_yaml_str(&yaml).map_err(|e| anyhow!("demo tenant: {e}"))?;
            store
                .create_tenant(domain)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            store
                .put_tenant_config(domain, &to_stored(&t, None)?, None)
                .await?;
            t
        }
    };
    store.close().await;
    println!("vpbx demo: SIP on udp/tcp 127.0.0.1:5060, metrics on http://127.0.0.1:8080/metrics");
    println!("tenant {domain}; register a phone with:");
    println!("  registrar/proxy: 127.0.0.1:5060   domain (realm): {domain}");
    for u in &tenant.users {
        println!(
            "  user {}  password {}  voicemail PIN {}{}",
            u.ext,
            u.secret.as_deref().unwrap_or("?"),
            u.pin.as_deref().unwrap_or("-"),
            if u.records_calls(&tenant.options) {
                "  (calls recorded)"
            } else {
                ""
            }
        );
    }
    if let Some(u) = tenant.users.first() {
        println!("for example with sipsak:");
        println!(
            "  sipsak -U -x 600 -C sip:{}@127.0.0.1:5999 -s sip:{}@127.0.0.1:5060 -a {} --auth-username={} -H 127.0.0.1",
            u.ext,
            u.ext,
            u.secret.as_deref().unwrap_or(""),
            u.ext
        );
        println!(
            "  (a phone that only knows the address 127.0.0.1 also works: the demo users are unique on this server)"
        );
    }
    println!(
        "then: cargo run --release -- --config {} registrations {domain}",
        cfg_path.display()
    );
    println!(
        "call: register two softphones (e.g. 1001 and 1002) and dial the other's extension; \
         the audio goes through vpbx's relay; see the call with `calls {domain}` while it runs \
         and its record with `cdr {domain}` after"
    );
    if tenant.ivrs.iter().any(|i| i.ext.is_some()) {
        println!(
            "dial 5000 for the voice menu (\"enter the number you wish to call\": key an extension)"
        );
    }
    println!(
        "an unanswered or unregistered user's calls go to voicemail; dial {} from a phone to \
         listen (PIN above); a held party hears music on hold; recordings of 1003's calls land in \
         {}/tenants/{domain}/recordings/",
        tenant.service_codes.voicemail,
        cfg.data_dir.display()
    );
    println!("stop with Ctrl-C");
    serve(cfg).await
}

/// Whether the Asterisk English prompts the demo's voice menu plays are installed (Debian's
/// `asterisk-core-sounds-en-wav`); without them the demo has no menu.
fn demo_sounds_installed() -> bool {
    std::path::Path::new("/usr/share/asterisk/sounds/en_US_f_Allison/vm-enter-num-to-call.wav")
        .exists()
}

/// The demo tenant: three users with random secrets and PINs, each with voicemail on no
/// answer, 1003's calls recorded, and (with the system prompts installed) a voice menu on 5000
/// that dials any extension keyed.
fn demo_tenant_yaml(domain: &str, with_menu: bool) -> String {
    let mut yaml = format!(
        "domain: {domain}\nlanguage: en\ncountry: IT\noptions: {{recording_download: true}}\nusers:\n"
    );
    for (ext, name) in DEMO_USERS {
        let secret: String = (0..12)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let pin: String = (0..4)
            .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
            .collect();
        let recording = if ext == "1003" {
            ", recording: true"
        } else {
            ""
        };
        yaml.push_str(&format!(
            "  - {{ext: \"{ext}\", name: \"{name}\", secret: \"{secret}\", pin: \"{pin}\", \
             voicemail: {{enabled: true}}, on_no_answer: \"voicemail:{ext}\", \
             on_unavailable: \"voicemail:{ext}\"{recording}}}\n"
        ));
    }
    if with_menu {
        yaml.push_str(
            "ivrs:\n  - {name: main, ext: \"5000\", prompts: [vm-enter-num-to-call], \
             direct_dial: true, options: {\"0\": \"user:1001\"}, on_timeout: \"voicemail:1001\"}\n",
        );
    }
    yaml
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_demo_tenant_has_voicemail_a_recorded_user_and_a_menu_when_the_prompts_exist() {
        for with_menu in [false, true] {
            let t = TenantConfig::from_yaml_str(&demo_tenant_yaml("demo.vpbx.test", with_menu))
                .unwrap();
            assert_eq!(t.users.len(), 3);
            for u in &t.users {
                assert!(u.voicemail.enabled && u.pin.as_deref().is_some_and(|p| p.len() == 4));
            }
            let recorded: Vec<&str> = t
                .users
                .iter()
                .filter(|u| u.records_calls(&t.options))
                .map(|u| u.ext.as_str())
                .collect();
            assert_eq!(recorded, ["1003"]);
            assert_eq!(
                t.ivrs.iter().filter_map(|i| i.ext.as_ref()).count(),
                usize::from(with_menu)
            );
        }
    }
}
