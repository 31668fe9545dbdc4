//! Prompt and music-on-hold files on disk: where a name is found ([`FsCatalog`], the
//! file-system answer to [`pbx_core::PromptCatalog`]) and the decoded audio, loaded once
//! and shared ([`PromptLibrary`]).
//!
//! Where the files are:
//! - tenant prompts: `data_dir/tenants/<domain>/prompts/<name>.wav` (written by
//!   `vpbx prompt add`, already 8 kHz 16-bit mono PCM);
//! - tenant music on hold: `data_dir/tenants/<domain>/moh/<class>/*.wav` (`vpbx moh add`);
//! - system prompts: `/usr/share/asterisk/sounds/<dir>/<name>.wav`, `<dir>` from
//!   [`system_sound_dir`] (Debian `asterisk-core-sounds-{en,ru,it}-wav`);
//! - system music on hold: `/usr/share/asterisk/moh/*.wav` (Debian
//!   `asterisk-moh-opsound-wav`), the class `default` when the tenant uploaded none.
//!
//! A name resolves tenant → tenant language → English ([`resolve_prompt`]). Tenant prompt
//! names are one path segment (the vault stores them flat); system names may have two
//! (`digits/1`).
//!
//! Everything here is blocking file I/O (a `stat` per lookup, a read and decode on a
//! cache miss): async callers use `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use pbx_audio::AudioError;
use pbx_core::PromptCatalog;
use pbx_core::tenant::{
    DEFAULT_MOH_CLASS, PromptSource, SYSTEM_SOUNDS_ROOT, is_valid_name, is_valid_prompt_name,
    resolve_prompt, system_sound_dir,
};
use pbx_vault::Layout;

/// Where the Debian package `asterisk-moh-opsound-wav` puts its music.
pub const SYSTEM_MOH_DIR: &str = "/usr/share/asterisk/moh";

/// The extension of every stored prompt and music file.
pub const PROMPT_EXT: &str = "wav";

/// Sample rate of every decoded prompt.
pub const PROMPT_RATE: u32 = 8000;

/// Largest file [`PromptLibrary`] reads (a 30-minute 8 kHz 16-bit file is 28.8 MB).
pub const MAX_PROMPT_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Default cache size of a [`PromptLibrary`]: 256 MiB of samples.
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// Why a prompt or music-on-hold playlist cannot be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Not a prompt name ([`is_valid_prompt_name`]) or music-on-hold class.
    #[error("invalid prompt or music-on-hold name {0:?}")]
    InvalidName(String),
    /// No tenant, language or English file of that name.
    #[error("prompt \"{name}\" not found (tenant {tenant}, language {language})")]
    NotFound {
        /// The prompt name.
        name: String,
        /// The tenant's domain.
        tenant: String,
        /// The language asked for.
        language: String,
    },
    /// A music-on-hold class without a single playable file.
    #[error("music-on-hold class \"{class}\" has no files (tenant {tenant})")]
    NoMusic {
        /// The tenant's domain.
        tenant: String,
        /// The class.
        class: String,
    },
    /// The file is larger than [`MAX_PROMPT_FILE_BYTES`].
    #[error("{path}: {bytes} bytes is more than a prompt may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The file exists but is not audio that pbx-audio decodes.
    #[error("{path}: {source}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: AudioError,
    },
    /// Reading the file or its directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The roots the prompt files live under: the data directory and the two system
/// directories (overridable for tests and non-Debian installs).
#[derive(Debug, Clone)]
pub struct SoundRoots {
    layout: Layout,
    system_sounds: PathBuf,
    system_moh: PathBuf,
}

impl SoundRoots {
    /// `data_dir` with the Debian system directories ([`SYSTEM_SOUNDS_ROOT`],
    /// [`SYSTEM_MOH_DIR`]).
    pub fn new(data_dir: impl Into<PathBuf>) -> SoundRoots {
        SoundRoots {
            layout: Layout::new(data_dir),
            system_sounds: PathBuf::from(SYSTEM_SOUNDS_ROOT),
            system_moh: PathBuf::from(SYSTEM_MOH_DIR),
        }
    }

    /// The same data directory with other system directories.
    #[must_use]
    pub fn with_system_dirs(
        mut self,
        sounds: impl Into<PathBuf>,
        moh: impl Into<PathBuf>,
    ) -> SoundRoots {
        self.system_sounds = sounds.into();
        self.system_moh = moh.into();
        self
    }

    /// The data directory's path builder.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The system sounds root (`/usr/share/asterisk/sounds`).
    pub fn system_sounds(&self) -> &Path {
        &self.system_sounds
    }

    /// The system music-on-hold directory (`/usr/share/asterisk/moh`).
    pub fn system_moh(&self) -> &Path {
        &self.system_moh
    }

    /// `…/tenants/<domain>/prompts/<name>.wav`; `None` for a name that cannot be a tenant
    /// prompt (invalid, or two segments) or an invalid domain.
    pub fn tenant_prompt_path(&self, domain: &str, name: &str) -> Option<PathBuf> {
        if !is_tenant_prompt_name(name) {
            return None;
        }
        let dir = self.layout.prompts_dir(domain).ok()?;
        Some(dir.join(format!("{name}.{PROMPT_EXT}")))
    }

    /// `<system sounds>/<dir of language>/<name>.wav`; `None` for an invalid name or a
    /// language vpbx has no system prompts in.
    pub fn system_prompt_path(&self, language: &str, name: &str) -> Option<PathBuf> {
        if !is_valid_prompt_name(name) {
            return None;
        }
        let dir = system_sound_dir(language)?;
        Some(
            self.system_sounds
                .join(dir)
                .join(format!("{name}.{PROMPT_EXT}")),
        )
    }

    /// The directory holding the system prompts of `language`, when vpbx has any.
    pub fn system_language_dir(&self, language: &str) -> Option<PathBuf> {
        system_sound_dir(language).map(|d| self.system_sounds.join(d))
    }

    /// `…/tenants/<domain>/moh/<class>`; `None` for an invalid class or domain.
    pub fn tenant_moh_dir(&self, domain: &str, class: &str) -> Option<PathBuf> {
        if !is_valid_name(class) {
            return None;
        }
        self.layout.moh_dir(domain, class).ok()
    }

    /// The files a class plays, sorted by name: the tenant's uploads of that class; for
    /// [`DEFAULT_MOH_CLASS`] without uploads, the system music. Empty when there are none.
    pub fn moh_files(&self, domain: &str, class: &str) -> Vec<PathBuf> {
        let uploaded = self
            .tenant_moh_dir(domain, class)
            .map(|d| wav_files(&d))
            .unwrap_or_default();
        if uploaded.is_empty() && class == DEFAULT_MOH_CLASS {
            return wav_files(&self.system_moh);
        }
        uploaded
    }

    /// The file of a resolved prompt.
    pub fn source_path(&self, domain: &str, source: PromptSource, name: &str) -> Option<PathBuf> {
        match source {
            PromptSource::Tenant => self.tenant_prompt_path(domain, name),
            PromptSource::System { language, .. } => self.system_prompt_path(language, name),
        }
    }
}

/// Whether `name` can be a tenant prompt: a valid prompt name of one segment (no `/`).
pub fn is_tenant_prompt_name(name: &str) -> bool {
    is_valid_prompt_name(name) && !name.contains('/')
}

/// The `*.wav` regular files of `dir` (not hidden), sorted; empty when `dir` is missing.
pub fn wav_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && p.extension().is_some_and(|x| x == PROMPT_EXT)
        })
        .collect();
    out.sort();
    out
}

/// [`PromptCatalog`] answered from the file system for one tenant.
#[derive(Debug, Clone)]
pub struct FsCatalog {
    roots: SoundRoots,
    domain: String,
}

impl FsCatalog {
    /// The catalog of `domain` under `data_dir`, with the Debian system directories.
    pub fn new(data_dir: impl Into<PathBuf>, domain: &str) -> FsCatalog {
        FsCatalog::with_roots(SoundRoots::new(data_dir), domain)
    }

    /// The catalog of `domain` under the given roots.
    pub fn with_roots(roots: SoundRoots, domain: &str) -> FsCatalog {
        FsCatalog {
            roots,
            domain: domain.to_owned(),
        }
    }

    /// The roots.
    pub fn roots(&self) -> &SoundRoots {
        &self.roots
    }

    /// The tenant.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl PromptCatalog for FsCatalog {
    fn has_tenant_prompt(&self, name: &str) -> bool {
        self.roots
            .tenant_prompt_path(&self.domain, name)
            .is_some_and(|p| p.is_file())
    }

    fn has_system_prompt(&self, language: &str, name: &str) -> bool {
        self.roots
            .system_prompt_path(language, name)
            .is_some_and(|p| p.is_file())
    }

    fn has_moh_class(&self, class: &str) -> bool {
        class == DEFAULT_MOH_CLASS || !self.roots.moh_files(&self.domain, class).is_empty()
    }
}

/// What identifies one version of a file: a replacement by rename (the vault's only way
/// of writing) always changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.modified().ok(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    samples: Arc<[i16]>,
    stamp: Stamp,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Cache {
    /// Keyed by the file's path, which is `tenants/<domain>/prompts/<name>.wav` for a
    /// tenant prompt (tenant + name), `<dir of language>/<name>.wav` for a system prompt
    /// (language + name), and the music file's path for music on hold.
    entries: HashMap<PathBuf, Entry>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// Counters of a [`PromptLibrary`]'s cache, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Files held.
    pub entries: usize,
    /// Bytes of samples held.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that read and decoded a file.
    pub misses: u64,
}

/// Decoded prompts and music, 8 kHz mono, each file loaded once and shared as
/// `Arc<[i16]>` by every session that plays it.
///
/// Every lookup `stat`s the resolved file: a tenant prompt replaced by `vpbx prompt add`
/// (a new inode) is read again on its next use, one removed stops resolving. The cache is
/// bounded: when it holds more than its byte budget, the least recently used files are
/// dropped (sessions playing them keep their `Arc`). A file larger than the whole budget
/// is returned without being cached.
#[derive(Debug)]
pub struct PromptLibrary {
    roots: SoundRoots,
    capacity: usize,
    cache: Mutex<Cache>,
}

impl PromptLibrary {
    /// A library over `roots` holding at most `capacity_bytes` of samples.
    pub fn new(roots: SoundRoots, capacity_bytes: usize) -> PromptLibrary {
        PromptLibrary {
            roots,
            capacity: capacity_bytes,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The roots.
    pub fn roots(&self) -> &SoundRoots {
        &self.roots
    }

    /// The samples of prompt `name` for a tenant whose language is `language`: the
    /// tenant's own prompt, else the system prompt in `language`, else in English.
    ///
    /// # Errors
    /// [`PromptError::InvalidName`], [`PromptError::NotFound`], or why the file could not be
    /// read or decoded.
    pub fn get(
        &self,
        tenant_domain: &str,
        language: &str,
        name: &str,
    ) -> Result<Arc<[i16]>, PromptError> {
        if !is_valid_prompt_name(name) {
            return Err(PromptError::InvalidName(name.to_owned()));
        }
        let catalog = FsCatalog::with_roots(self.roots.clone(), tenant_domain);
        let path = resolve_prompt(&catalog, language, name)
            .and_then(|source| self.roots.source_path(tenant_domain, source, name))
            .ok_or_else(|| PromptError::NotFound {
                name: name.to_owned(),
                tenant: tenant_domain.to_owned(),
                language: language.to_owned(),
            })?;
        self.load(&path)
    }

    /// The files of music-on-hold class `class` of a tenant, in name order (see
    /// [`SoundRoots::moh_files`]).
    ///
    /// A file that cannot be read or decoded is left out (with a log line), so one bad file
    /// does not silence the class.
    ///
    /// # Errors
    /// [`PromptError::InvalidName`] for a bad class, [`PromptError::NoMusic`] when the class
    /// has no files, or why the first file failed when none could be read.
    pub fn moh_playlist(
        &self,
        tenant_domain: &str,
        class: &str,
    ) -> Result<Arc<[Arc<[i16]>]>, PromptError> {
        if !is_valid_name(class) {
            return Err(PromptError::InvalidName(class.to_owned()));
        }
        let files = self.roots.moh_files(tenant_domain, class);
        if files.is_empty() {
            return Err(PromptError::NoMusic {
                tenant: tenant_domain.to_owned(),
                class: class.to_owned(),
            });
        }
        // One unreadable file does not silence the class: it is skipped with a log line.
        let mut tracks = Vec::with_capacity(files.len());
        let mut first_error = None;
        for path in &files {
            match self.load(path) {
                Ok(t) => tracks.push(t),
                Err(e) => {
                    tracing::warn!(tenant = tenant_domain, class, error = %e, "music-on-hold file skipped");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if tracks.is_empty() => Err(e),
            _ => Ok(tracks.into()),
        }
    }

    /// Drops every cached file of a tenant (its prompts and music), e.g. after the
    /// server learns that its files changed. Lookups notice replaced files anyway.
    pub fn invalidate_tenant(&self, tenant_domain: &str) {
        let Ok(dir) = self.roots.layout.tenant_dir(tenant_domain) else {
            return;
        };
        let mut cache = self.lock();
        let gone: Vec<PathBuf> = cache
            .entries
            .keys()
            .filter(|p| p.starts_with(&dir))
            .cloned()
            .collect();
        for p in gone {
            cache.remove(&p);
        }
    }

    /// Bytes of samples held now (for a gauge).
    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Entries, bytes, hits and misses.
    pub fn stats(&self) -> CacheStats {
        let c = self.lock();
        CacheStats {
            entries: c.entries.len(),
            bytes: c.bytes,
            hits: c.hits,
            misses: c.misses,
        }
    }

    /// The samples of one file, from the cache when its stamp is unchanged.
    fn load(&self, path: &Path) -> Result<Arc<[i16]>, PromptError> {
        let meta = fs::metadata(path).map_err(|source| PromptError::Io {
            path: path.to_owned(),
            source,
        })?;
        let stamp = Stamp::of(&meta);
        {
            let mut cache = self.lock();
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(e) = cache.entries.get_mut(path)
                && e.stamp == stamp
            {
                e.last_used = tick;
                let samples = Arc::clone(&e.samples);
                cache.hits += 1;
                return Ok(samples);
            }
            cache.misses += 1;
        }
        // Decoded outside the lock: two sessions missing the same file at once both
        // decode it, and the second insert replaces the first (same content).
        let samples = decode_file(path, meta.len())?;
        let size = samples.len() * std::mem::size_of::<i16>();
        if size <= self.capacity {
            let mut cache = self.lock();
            cache.remove(path);
            cache.tick += 1;
            let last_used = cache.tick;
            cache.entries.insert(
                path.to_owned(),
                Entry {
                    samples: Arc::clone(&samples),
                    stamp,
                    last_used,
                },
            );
            cache.bytes += size;
            cache.evict_to(self.capacity);
        }
        Ok(samples)
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache holds no invariant a panicking holder could break half-way (every
        // mutation is a single insert/remove with its byte count).
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cache {
    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.entries.remove(path) {
            self.bytes -= old.samples.len() * std::mem::size_of::<i16>();
        }
    }

    /// Drops least recently used entries until at most `capacity` bytes are held.
    fn evict_to(&mut self, capacity: usize) {
        while self.bytes > capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
    }
}

/// Reads and decodes a prompt file to 8 kHz mono.
fn decode_file(path: &Path, len: u64) -> Result<Arc<[i16]>, PromptError> {
    if len > MAX_PROMPT_FILE_BYTES {
        return Err(PromptError::TooLarge {
            path: path.to_owned(),
            bytes: len,
        });
    }
    let io = |source| PromptError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_PROMPT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let pcm = pbx_audio::prompt_from_file(&bytes).map_err(|source| PromptError::Audio {
        path: path.to_owned(),
        source,
    })?;
    debug_assert_eq!(pcm.rate, PROMPT_RATE);
    Ok(pcm.samples.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pbx_core::tenant::SYSTEM_SOUND_DIRS;

    const DOMAIN: &str = "office.example";

    fn installed(lang: &str) -> bool {
        Path::new(SYSTEM_SOUNDS_ROOT)
            .join(system_sound_dir(lang).unwrap())
            .join("vm-intro.wav")
            .is_file()
    }

    /// The Debian sound packages must be installed (README setup, .ci/run); say so
    /// clearly instead of failing on a missing file deep in a test.
    fn require_system_sounds() {
        for (lang, dir) in SYSTEM_SOUND_DIRS {
            assert!(
                installed(lang),
                "system prompts for {lang} are not installed in {SYSTEM_SOUNDS_ROOT}/{dir}: \
                 apt-get install asterisk-core-sounds-{lang}-wav"
            );
        }
        assert!(
            !wav_files(Path::new(SYSTEM_MOH_DIR)).is_empty(),
            "no system music in {SYSTEM_MOH_DIR}: apt-get install asterisk-moh-opsound-wav"
        );
    }

    fn put_tenant_prompt(dir: &Path, name: &str, samples: &[i16]) -> PathBuf {
        let p = SoundRoots::new(dir)
            .tenant_prompt_path(DOMAIN, name)
            .unwrap();
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        // Written like the vault does: a temporary renamed over the old file.
        let tmp = p.with_extension("tmp");
        fs::write(&tmp, pbx_audio::encode_wav_pcm16(8000, 1, samples)).unwrap();
        fs::rename(&tmp, &p).unwrap();
        p
    }

    #[test]
    fn the_catalog_finds_tenant_prompts_installed_system_prompts_and_the_default_music() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        put_tenant_prompt(dir.path(), "advert", &[1; 800]);
        let cat = FsCatalog::new(dir.path(), DOMAIN);
        assert!(cat.has_tenant_prompt("advert"));
        assert!(!cat.has_tenant_prompt("vm-intro"));
        assert!(cat.has_system_prompt("ru", "vm-intro"));
        assert!(cat.has_system_prompt("it", "vm-intro"));
        assert!(cat.has_system_prompt("en", "digits/1"));
        assert!(
            !cat.has_system_prompt("de", "vm-intro"),
            "no German sound dir"
        );
        assert!(!cat.has_system_prompt("en", "../en_US_f_Allison/vm-intro"));
        assert!(!cat.has_system_prompt("en", "no-such-prompt"));
        assert!(cat.has_moh_class("default"), "the system music");
        assert!(!cat.has_moh_class("jazz"));
        assert_eq!(
            resolve_prompt(&cat, "ru", "advert"),
            Some(PromptSource::Tenant)
        );
    }

    #[test]
    fn a_tenant_prompt_name_is_one_segment() {
        let roots = SoundRoots::new("/d");
        assert_eq!(
            roots.tenant_prompt_path(DOMAIN, "ru-greet"),
            Some(PathBuf::from(
                "/d/tenants/office.example/prompts/ru-greet.wav"
            ))
        );
        assert_eq!(roots.tenant_prompt_path(DOMAIN, "digits/1"), None);
        assert_eq!(roots.tenant_prompt_path(DOMAIN, ".x"), None);
        assert_eq!(roots.tenant_prompt_path("../etc", "x"), None);
        assert_eq!(
            roots.system_prompt_path("ru", "digits/1"),
            Some(PathBuf::from(
                "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU/digits/1.wav"
            ))
        );
    }

    #[test]
    fn system_prompts_load_as_8khz_samples_of_the_files_length_and_are_cached_once() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        let file = Path::new(SYSTEM_SOUNDS_ROOT).join("ru_RU_f_IvrvoiceRU/vm-intro.wav");
        let info = pbx_audio::wav_info(&fs::read(&file).unwrap()).unwrap();
        assert_eq!((info.rate, info.channels), (8000, 1));
        let a = lib.get(DOMAIN, "ru", "vm-intro").unwrap();
        assert_eq!(a.len() as u64, info.frames);
        assert!(a.iter().any(|&s| s.unsigned_abs() > 1000), "real speech");
        let b = lib.get(DOMAIN, "ru", "vm-intro").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second lookup shares the samples");
        let s = lib.stats();
        assert_eq!((s.entries, s.hits, s.misses), (1, 1, 1));
        assert_eq!(s.bytes, a.len() * 2);
        assert_eq!(lib.cached_bytes(), a.len() * 2);
        // Russian and English are different files, cached apart.
        let en = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        assert_ne!(en.len(), a.len());
        assert_eq!(lib.stats().entries, 2);
    }

    #[test]
    fn a_name_missing_in_the_language_falls_back_to_english_and_an_unknown_one_is_not_found() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        // German has no sound directory: English answers.
        let de = lib.get(DOMAIN, "de", "vm-intro").unwrap();
        let en = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        assert!(Arc::ptr_eq(&de, &en));
        let err = lib.get(DOMAIN, "ru", "no-such-prompt").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompt \"no-such-prompt\" not found (tenant office.example, language ru)"
        );
        assert!(matches!(
            lib.get(DOMAIN, "en", "../../etc/passwd"),
            Err(PromptError::InvalidName(_))
        ));
    }

    #[test]
    fn a_tenant_prompt_wins_over_the_system_one_and_a_replacement_is_picked_up() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        let system = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        put_tenant_prompt(dir.path(), "vm-intro", &[7; 1600]);
        let first = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        assert_eq!(&first[..], &[7; 1600][..]);
        put_tenant_prompt(dir.path(), "vm-intro", &[-3; 2400]);
        let second = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        assert_eq!(
            &second[..],
            &[-3; 2400][..],
            "the replaced file is read again"
        );
        assert_eq!(
            &first[..],
            &[7; 1600][..],
            "a player holding the old one keeps it"
        );
        fs::remove_file(
            SoundRoots::new(dir.path())
                .tenant_prompt_path(DOMAIN, "vm-intro")
                .unwrap(),
        )
        .unwrap();
        let back = lib.get(DOMAIN, "en", "vm-intro").unwrap();
        assert!(
            Arc::ptr_eq(&back, &system),
            "removed: the system prompt again"
        );
        // Another tenant never sees this tenant's prompts.
        put_tenant_prompt(dir.path(), "advert", &[1; 80]);
        assert!(lib.get("other.example", "en", "advert").is_err());
    }

    #[test]
    fn invalidating_a_tenant_drops_only_its_files() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        put_tenant_prompt(dir.path(), "advert", &[1; 800]);
        lib.get(DOMAIN, "en", "advert").unwrap();
        lib.get(DOMAIN, "en", "beep").unwrap();
        assert_eq!(lib.stats().entries, 2);
        lib.invalidate_tenant(DOMAIN);
        let s = lib.stats();
        assert_eq!(s.entries, 1, "the system prompt stays");
        lib.get(DOMAIN, "en", "advert").unwrap();
        assert_eq!(lib.stats().misses, s.misses + 1);
    }

    #[test]
    fn the_cache_stays_under_its_budget_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c"] {
            put_tenant_prompt(dir.path(), name, &[5; 1000]); // 2000 bytes each
        }
        put_tenant_prompt(dir.path(), "huge", &[5; 4000]);
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), 5000);
        lib.get(DOMAIN, "en", "a").unwrap();
        lib.get(DOMAIN, "en", "b").unwrap();
        lib.get(DOMAIN, "en", "a").unwrap(); // b is now the least recently used
        lib.get(DOMAIN, "en", "c").unwrap();
        let s = lib.stats();
        assert_eq!((s.entries, s.bytes), (2, 4000));
        let misses = s.misses;
        lib.get(DOMAIN, "en", "a").unwrap();
        lib.get(DOMAIN, "en", "c").unwrap();
        assert_eq!(lib.stats().misses, misses, "a and c stayed");
        lib.get(DOMAIN, "en", "b").unwrap();
        assert_eq!(lib.stats().misses, misses + 1, "b was dropped");
        // Larger than the whole budget: returned, never cached.
        let huge = lib.get(DOMAIN, "en", "huge").unwrap();
        assert_eq!(huge.len(), 4000);
        assert!(lib.stats().bytes <= 5000);
    }

    #[test]
    fn the_default_music_is_the_system_music_until_the_tenant_uploads_its_own() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let roots = SoundRoots::new(dir.path());
        let lib = PromptLibrary::new(roots.clone(), DEFAULT_CACHE_BYTES);
        let system = wav_files(Path::new(SYSTEM_MOH_DIR));
        let playlist = lib.moh_playlist(DOMAIN, "default").unwrap();
        assert_eq!(playlist.len(), system.len());
        for (track, file) in playlist.iter().zip(&system) {
            let info = pbx_audio::wav_info(&fs::read(file).unwrap()).unwrap();
            assert_eq!(track.len() as u64, info.frames, "{}", file.display());
        }
        let err = lib.moh_playlist(DOMAIN, "jazz").unwrap_err();
        assert_eq!(
            err.to_string(),
            "music-on-hold class \"jazz\" has no files (tenant office.example)"
        );
        let own = roots.tenant_moh_dir(DOMAIN, "default").unwrap();
        fs::create_dir_all(&own).unwrap();
        fs::write(
            own.join("b.wav"),
            pbx_audio::encode_wav_pcm16(8000, 1, &[2; 80]),
        )
        .unwrap();
        fs::write(
            own.join("a.wav"),
            pbx_audio::encode_wav_pcm16(16000, 2, &[1; 320]),
        )
        .unwrap();
        fs::write(own.join("notes.txt"), "not music").unwrap();
        let playlist = lib.moh_playlist(DOMAIN, "default").unwrap();
        assert_eq!(
            playlist.len(),
            2,
            "only the tenant's WAV files, in name order"
        );
        assert_eq!(&playlist[0][..], &[1; 80][..], "16 kHz stereo → 8 kHz mono");
        assert_eq!(&playlist[1][..], &[2; 80][..]);
        assert!(FsCatalog::new(dir.path(), DOMAIN).has_moh_class("default"));
    }

    #[test]
    fn a_bad_music_file_is_skipped_and_a_class_of_only_bad_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let roots = SoundRoots::new(dir.path());
        let class = roots.tenant_moh_dir(DOMAIN, "jazz").unwrap();
        fs::create_dir_all(&class).unwrap();
        fs::write(class.join("a-broken.wav"), b"RIFF....not really").unwrap();
        let lib = PromptLibrary::new(roots, DEFAULT_CACHE_BYTES);
        assert!(matches!(
            lib.moh_playlist(DOMAIN, "jazz"),
            Err(PromptError::Audio { .. })
        ));
        fs::write(
            class.join("b-good.wav"),
            pbx_audio::encode_wav_pcm16(8000, 1, &[9; 160]),
        )
        .unwrap();
        let playlist = lib.moh_playlist(DOMAIN, "jazz").unwrap();
        assert_eq!(playlist.len(), 1);
        assert_eq!(&playlist[0][..], &[9; 160][..]);
    }

    #[test]
    fn two_segment_system_names_load_from_their_subdirectory() {
        require_system_sounds();
        let dir = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        let one = lib.get(DOMAIN, "ru", "digits/1").unwrap();
        let file = Path::new(SYSTEM_SOUNDS_ROOT).join("ru_RU_f_IvrvoiceRU/digits/1.wav");
        let info = pbx_audio::wav_info(&fs::read(file).unwrap()).unwrap();
        assert_eq!(one.len() as u64, info.frames);
    }

    #[test]
    fn a_file_that_is_not_audio_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoundRoots::new(dir.path())
            .tenant_prompt_path(DOMAIN, "broken")
            .unwrap();
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"hello, not a wav").unwrap();
        let lib = PromptLibrary::new(SoundRoots::new(dir.path()), DEFAULT_CACHE_BYTES);
        let err = lib.get(DOMAIN, "en", "broken").unwrap_err();
        assert!(matches!(err, PromptError::Audio { .. }), "{err}");
        assert!(err.to_string().contains("broken.wav"), "{err}");
        assert_eq!(lib.stats().entries, 0);
    }
}
