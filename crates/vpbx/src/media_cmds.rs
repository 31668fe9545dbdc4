//! `vpbx prompt add|list|remove` and `vpbx moh add|list|remove`: a tenant's prompt
//! library and music on hold. Uploads are converted once (pbx-audio) to 8 kHz 16-bit mono
//! PCM WAV and stored through pbx-vault (written to a temporary file, renamed into
//! place: a failed or interrupted command leaves the old file or none).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use pbx_core::tenant::{DEFAULT_MOH_CLASS, FALLBACK_LANGUAGE, SYSTEM_SOUND_DIRS, is_valid_name};
use pbx_core::{PromptCatalog, ServerConfig, TenantConfig};
use pbx_server::prompts::{
    FsCatalog, PROMPT_EXT, PROMPT_RATE, SoundRoots, is_tenant_prompt_name, wav_files,
};
use pbx_vault::{TenantFile, Vault};

use crate::commands::open;
use crate::settings::parse_stored;
use crate::{MohCmd, PromptCmd};

/// Longest upload read (a 30-minute 48 kHz 24-bit stereo WAV is about 520 MB).
const MAX_INPUT_BYTES: u64 = 1024 * 1024 * 1024;

/// Longest prompt or music file, in seconds.
const MAX_DURATION_S: u64 = 30 * 60;

pub(crate) async fn prompt(cfg: &ServerConfig, cmd: PromptCmd) -> Result<()> {
    match cmd {
        PromptCmd::Add { domain, name, file } => prompt_add(cfg, &domain, &name, &file).await,
        PromptCmd::List { domain, json } => prompt_list(cfg, &domain, json).await,
        PromptCmd::Remove { domain, name } => prompt_remove(cfg, &domain, &name).await,
    }
}

pub(crate) async fn moh(cfg: &ServerConfig, cmd: MohCmd) -> Result<()> {
    match cmd {
        MohCmd::Add {
            domain,
            class,
            file,
        } => moh_add(cfg, &domain, &class, &file).await,
        MohCmd::List { domain, json } => moh_list(cfg, &domain, json).await,
        MohCmd::Remove {
            domain,
            class,
            file,
        } => moh_remove(cfg, &domain, &class, file.as_deref()).await,
    }
}

/// The tenant's current config; "no tenant X" when the store does not know the domain.
async fn tenant_config(cfg: &ServerConfig, domain: &str) -> Result<TenantConfig> {
    let store = open(cfg).await?;
    let Some(t) = store.get_tenant(domain).await? else {
        bail!("no tenant {domain}")
    };
    let parsed = parse_stored(
        &t.row.domain,
        t.config.as_deref().unwrap_or(""),
        cfg.store.secrets_key.as_ref(),
    )
    .map_err(|e| anyhow!("stored config of {domain}: {e}"))?;
    store.close().await;
    Ok(parsed)
}

fn vault(cfg: &ServerConfig) -> Result<Vault> {
    Vault::open(&cfg.data_dir)
        .with_context(|| format!("cannot open the data dir {}", cfg.data_dir.display()))
}

/// An upload converted to what the engine plays.
struct Converted {
    wav: Vec<u8>,
    duration_ms: u64,
}

/// Reads `file` (WAV of any kind pbx-audio reads, or MP3) and converts it to an 8 kHz
/// 16-bit mono PCM WAV. Errors name the file and say what is wrong.
fn convert(file: &Path) -> Result<Converted> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", file.display());
    }
    if meta.len() > MAX_INPUT_BYTES {
        bail!(
            "{}: {} MB is larger than the {} MB an upload may have",
            file.display(),
            meta.len() / 1_000_000,
            MAX_INPUT_BYTES / 1_000_000
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // A WAV header says how long it is: refuse an over-long file before decoding it.
    if let Ok(info) = pbx_audio::wav_info(&bytes)
        && info.rate > 0
    {
        too_long(file, info.frames * 1000 / u64::from(info.rate))?;
    }
    let pcm = pbx_audio::prompt_from_file(&bytes)
        .map_err(|e| anyhow!("{}: not a usable audio file: {e}", file.display()))?;
    if pcm.samples.is_empty() {
        bail!("{}: the file holds no audio", file.display());
    }
    let duration_ms = pcm.duration_ms();
    too_long(file, duration_ms)?;
    Ok(Converted {
        wav: pbx_audio::encode_wav_pcm16(PROMPT_RATE, 1, &pcm.samples),
        duration_ms,
    })
}

fn too_long(file: &Path, ms: u64) -> Result<()> {
    if ms > MAX_DURATION_S * 1000 {
        bail!(
            "{}: {} long, more than the {} minutes a prompt or music file may last",
            file.display(),
            duration_text(ms),
            MAX_DURATION_S / 60
        );
    }
    Ok(())
}

/// `0:02.5`, `3:04.0`, `1:02:03.0`.
fn duration_text(ms: u64) -> String {
    let tenths = (ms / 100) % 10;
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}.{tenths}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}.{tenths}", s / 60, s % 60)
    }
}

/// Refuses an upload that would take the tenant over `limits.storage_mb`.
fn check_quota(vault: &Vault, tenant: &TenantConfig, old: &Path, new_len: usize) -> Result<()> {
    let limit_mb = tenant.limits.storage_mb;
    if limit_mb == 0 {
        return Ok(());
    }
    let limit = u64::from(limit_mb) * 1024 * 1024;
    let old_len = std::fs::metadata(old).map(|m| m.len()).unwrap_or(0);
    let after = (vault.usage(&tenant.domain) + new_len as u64).saturating_sub(old_len);
    if after > limit {
        bail!(
            "tenant {} is over its storage quota: this upload would use {after} bytes of {limit} allowed (limits.storage_mb)",
            tenant.domain
        );
    }
    Ok(())
}

/// Length of a stored 8 kHz file, read from its header; `None` for a file that is not a
/// WAV pbx-audio reads.
fn stored_duration_ms(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let info = pbx_audio::wav_info(&bytes).ok()?;
    (info.rate > 0).then(|| info.frames * 1000 / u64::from(info.rate))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// One stored prompt or music file as the lists show it.
struct Listed {
    name: String,
    duration_ms: Option<u64>,
    bytes: u64,
}

impl Listed {
    fn of(name: String, path: &Path) -> Listed {
        Listed {
            name,
            duration_ms: stored_duration_ms(path),
            bytes: file_len(path),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "duration_s": self.duration_ms.map(|ms| ms as f64 / 1000.0),
            "bytes": self.bytes,
        })
    }

    fn duration(&self) -> String {
        self.duration_ms
            .map_or_else(|| "unreadable".to_owned(), duration_text)
    }
}

fn prompt_file(name: &str) -> TenantFile {
    TenantFile::Prompt {
        name: format!("{name}.{PROMPT_EXT}"),
    }
}

fn check_prompt_name(name: &str) -> Result<()> {
    if !is_tenant_prompt_name(name) {
        bail!(
            "{name:?} is not a valid prompt name (letters, digits, _ - and . not first, 1–64 long, no \"/\")"
        );
    }
    Ok(())
}

async fn prompt_add(cfg: &ServerConfig, domain: &str, name: &str, file: &Path) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    check_prompt_name(name)?;
    let tenant = tenant_config(cfg, &domain).await?;
    let converted = convert(file)?;
    let vault = vault(cfg)?;
    let target = prompt_file(name);
    let path = vault.file_path(&domain, &target)?;
    check_quota(&vault, &tenant, &path, converted.wav.len())?;
    let replaced = path.is_file();
    vault
        .put_file(&domain, &target, &converted.wav)
        .with_context(|| format!("cannot store prompt {name}"))?;
    println!(
        "prompt {name} {} in {domain}: {}, {} bytes (8 kHz 16-bit mono WAV)",
        if replaced { "replaced" } else { "added" },
        duration_text(converted.duration_ms),
        converted.wav.len()
    );
    Ok(())
}

/// A tenant's stored prompts: (name, path), by name.
fn tenant_prompts(roots: &SoundRoots, domain: &str) -> Result<Vec<(String, PathBuf)>> {
    let dir = roots.layout().prompts_dir(domain)?;
    Ok(wav_files(&dir)
        .into_iter()
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            is_tenant_prompt_name(&name).then_some((name, p))
        })
        .collect())
}

/// How many `.wav` files a system language directory has (prompts and one level of
/// sub-directories such as `digits/`); `None` when it is not installed.
fn system_prompt_count(dir: &Path) -> Option<usize> {
    if !dir.is_dir() {
        return None;
    }
    let top = wav_files(dir).len();
    let nested: usize = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| wav_files(&e.path()).len())
                .sum()
        })
        .unwrap_or(0);
    Some(top + nested)
}

async fn prompt_list(cfg: &ServerConfig, domain: &str, json: bool) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    let tenant = tenant_config(cfg, &domain).await?;
    let roots = SoundRoots::new(&cfg.data_dir);
    let prompts: Vec<Listed> = tenant_prompts(&roots, &domain)?
        .into_iter()
        .map(|(name, p)| Listed::of(name, &p))
        .collect();
    let system: Vec<(&str, &str, Option<usize>)> = SYSTEM_SOUND_DIRS
        .iter()
        .map(|(lang, dir)| {
            let count = roots
                .system_language_dir(lang)
                .and_then(|d| system_prompt_count(&d));
            (*lang, *dir, count)
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "domain": domain,
            "language": tenant.language,
            "prompts": prompts.iter().map(Listed::json).collect::<Vec<_>>(),
            "system": system.iter().map(|(lang, dir, count)| serde_json::json!({
                "language": lang,
                "dir": roots.system_sounds().join(dir),
                "installed": count.is_some(),
                "prompts": count.unwrap_or(0),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{:<32} {:>10} {:>12}", "NAME", "DURATION", "BYTES");
    for p in &prompts {
        println!("{:<32} {:>10} {:>12}", p.name, p.duration(), p.bytes);
    }
    let order = if tenant.language == FALLBACK_LANGUAGE {
        format!("tenant, then {FALLBACK_LANGUAGE}")
    } else {
        format!("tenant, then {}, then {FALLBACK_LANGUAGE}", tenant.language)
    };
    println!(
        "{} prompt(s) in {domain}; names resolve: {order}",
        prompts.len()
    );
    let langs: Vec<String> = system
        .iter()
        .map(|(lang, dir, count)| match count {
            Some(n) => format!("{lang} ({dir}, {n} files)"),
            None => {
                format!("{lang} not installed (apt-get install asterisk-core-sounds-{lang}-wav)")
            }
        })
        .collect();
    println!("system prompts: {}", langs.join(", "));
    Ok(())
}

/// The catalog minus one tenant prompt or one uploaded music class: what the tenant would
/// have after a remove.
struct Without<'a> {
    inner: &'a FsCatalog,
    prompt: Option<&'a str>,
    moh_class: Option<&'a str>,
}

impl PromptCatalog for Without<'_> {
    fn has_tenant_prompt(&self, name: &str) -> bool {
        self.prompt != Some(name) && self.inner.has_tenant_prompt(name)
    }
    fn has_system_prompt(&self, language: &str, name: &str) -> bool {
        self.inner.has_system_prompt(language, name)
    }
    fn has_moh_class(&self, class: &str) -> bool {
        class == DEFAULT_MOH_CLASS
            || (self.moh_class != Some(class) && self.inner.has_moh_class(class))
    }
}

/// `Err(line)` when the tenant's current config needs something `without` lacks: the
/// config check's own line. A config that already fails with the full catalog (sounds
/// uninstalled since) is judged by the references to the removed prompt alone.
fn still_needed(tenant: &TenantConfig, full: &FsCatalog, without: &Without<'_>) -> Option<String> {
    match (tenant.check_prompts(full), tenant.check_prompts(without)) {
        (Ok(()), Err(e)) => Some(e.to_string()),
        (Ok(()), Ok(())) => None,
        (Err(_), _) => {
            if let Some(class) = without.moh_class
                && tenant.moh == class
                && class != DEFAULT_MOH_CLASS
            {
                return Some(format!("moh: the tenant plays class \"{class}\""));
            }
            let name = without.prompt?;
            tenant
                .prompt_references()
                .into_iter()
                .find(|(_, r)| *r == name && tenant.resolve_prompt(without, r).is_none())
                .map(|(path, _)| {
                    format!(
                        "{path}: prompt \"{name}\" not found (tenant {}, language {})",
                        tenant.domain, tenant.language
                    )
                })
        }
    }
}

async fn prompt_remove(cfg: &ServerConfig, domain: &str, name: &str) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    check_prompt_name(name)?;
    let tenant = tenant_config(cfg, &domain).await?;
    let vault = vault(cfg)?;
    let target = prompt_file(name);
    if !vault.file_path(&domain, &target)?.is_file() {
        bail!("no prompt {name} in {domain}");
    }
    let full = FsCatalog::new(&cfg.data_dir, &domain);
    let without = Without {
        inner: &full,
        prompt: Some(name),
        moh_class: None,
    };
    if let Some(line) = still_needed(&tenant, &full, &without) {
        bail!(
            "prompt {name} is still used by {domain} (without it the config fails: {line}); change the tenant file first"
        );
    }
    vault.remove_file(&domain, &target)?;
    println!("prompt {name} removed from {domain}");
    Ok(())
}

/// The stored name of an uploaded music file: its stem with characters outside
/// `A-Z a-z 0-9 _ - .` replaced by `_`, at most 64 of them, `.wav`.
fn moh_file_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.starts_with('.') {
        clean.replace_range(0..1, "_");
    }
    if clean.is_empty() {
        clean.push_str("music");
    }
    format!("{clean}.{PROMPT_EXT}")
}

fn check_class(class: &str) -> Result<()> {
    if !is_valid_name(class) {
        bail!(
            "{class:?} is not a valid music-on-hold class name (letters, digits, _ . -, 1–64 long)"
        );
    }
    Ok(())
}

async fn moh_add(cfg: &ServerConfig, domain: &str, class: &str, file: &Path) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    check_class(class)?;
    let tenant = tenant_config(cfg, &domain).await?;
    let converted = convert(file)?;
    let vault = vault(cfg)?;
    let name = moh_file_name(file);
    let target = TenantFile::Moh {
        class: class.to_owned(),
        name: name.clone(),
    };
    let path = vault.file_path(&domain, &target)?;
    check_quota(&vault, &tenant, &path, converted.wav.len())?;
    let replaced = path.is_file();
    vault
        .put_file(&domain, &target, &converted.wav)
        .with_context(|| format!("cannot store {name}"))?;
    println!(
        "music {name} {} in class {class} of {domain}: {}, {} bytes (8 kHz 16-bit mono WAV)",
        if replaced { "replaced" } else { "added" },
        duration_text(converted.duration_ms),
        converted.wav.len()
    );
    Ok(())
}

/// The tenant's uploaded classes (directories under `moh/` with a valid name), sorted.
fn uploaded_classes(roots: &SoundRoots, domain: &str) -> Result<Vec<String>> {
    let dir = roots.layout().tenant_dir(domain)?.join("moh");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|c| is_valid_name(c) && !wav_files(&dir.join(c)).is_empty())
        .collect();
    out.sort();
    Ok(out)
}

async fn moh_list(cfg: &ServerConfig, domain: &str, json: bool) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    let tenant = tenant_config(cfg, &domain).await?;
    let roots = SoundRoots::new(&cfg.data_dir);
    let mut classes = uploaded_classes(&roots, &domain)?;
    if !classes.iter().any(|c| c == DEFAULT_MOH_CLASS) {
        classes.insert(0, DEFAULT_MOH_CLASS.to_owned());
    }
    let listing: Vec<(String, bool, Vec<Listed>)> = classes
        .into_iter()
        .map(|class| {
            let files = roots.moh_files(&domain, &class);
            let system = files
                .first()
                .is_some_and(|f| f.starts_with(roots.system_moh()));
            let files = files
                .iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Listed::of(name, p)
                })
                .collect();
            (class, system, files)
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "domain": domain,
            "in_use": tenant.moh,
            "classes": listing.iter().map(|(class, system, files)| serde_json::json!({
                "class": class,
                "source": if *system { "system" } else { "tenant" },
                "files": files.iter().map(Listed::json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for (class, system, files) in &listing {
        let mut notes = Vec::new();
        if *system {
            notes.push(format!(
                "system music from {}",
                roots.system_moh().display()
            ));
        }
        if *class == tenant.moh {
            notes.push("in use".to_owned());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        println!("class {class}: {} file(s){notes}", files.len());
        for f in files {
            println!("  {:<40} {:>10} {:>12}", f.name, f.duration(), f.bytes);
        }
    }
    Ok(())
}

async fn moh_remove(
    cfg: &ServerConfig,
    domain: &str,
    class: &str,
    file: Option<&str>,
) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    check_class(class)?;
    let tenant = tenant_config(cfg, &domain).await?;
    let vault = vault(cfg)?;
    let dir = vault.layout().moh_dir(&domain, class)?;
    let present: Vec<String> = wav_files(&dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    if present.is_empty() {
        if class == DEFAULT_MOH_CLASS {
            bail!(
                "class default of {domain} has no uploaded files (the system music cannot be removed)"
            );
        }
        bail!("no music-on-hold class {class} in {domain}");
    }
    let doomed: Vec<String> = match file {
        Some(f) => {
            let name = if f.ends_with(&format!(".{PROMPT_EXT}")) {
                f.to_owned()
            } else {
                format!("{f}.{PROMPT_EXT}")
            };
            if !present.contains(&name) {
                bail!("no file {name} in music-on-hold class {class} of {domain}");
            }
            vec![name]
        }
        None => present.clone(),
    };
    if doomed.len() == present.len() {
        let full = FsCatalog::new(&cfg.data_dir, &domain);
        let without = Without {
            inner: &full,
            prompt: None,
            moh_class: Some(class),
        };
        if let Some(line) = still_needed(&tenant, &full, &without) {
            bail!(
                "music-on-hold class {class} is still used by {domain} (without it the config fails: {line}); change the tenant file first"
            );
        }
    }
    for name in &doomed {
        vault.remove_file(
            &domain,
            &TenantFile::Moh {
                class: class.to_owned(),
                name: name.clone(),
            },
        )?;
    }
    if doomed.len() == present.len() {
        // The class directory is empty of music now; an empty directory is not a class.
        let _ = std::fs::remove_dir(&dir);
        println!(
            "music-on-hold class {class} removed from {domain} ({} file(s))",
            doomed.len()
        );
    } else {
        println!(
            "music {} removed from class {class} of {domain}",
            doomed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_minutes_seconds_and_tenths() {
        assert_eq!(duration_text(2_500), "0:02.5");
        assert_eq!(duration_text(184_049), "3:04.0");
        assert_eq!(duration_text(3_723_000), "1:02:03.0");
    }

    #[test]
    fn uploaded_music_file_names_are_safe_single_components() {
        assert_eq!(moh_file_name(Path::new("/x/Song 1.mp3")), "Song_1.wav");
        assert_eq!(moh_file_name(Path::new(".hidden.wav")), "_hidden.wav");
        assert_eq!(moh_file_name(Path::new("/x/Мелодия.wav")), "_______.wav");
        assert_eq!(moh_file_name(Path::new("/")), "music.wav");
    }
}
