//! Prompt names and where a name is found: the tenant's own library, then the system
//! prompts in the tenant's language, then the system prompts in English.
//!
//! The system prompts are the Debian packages `asterisk-core-sounds-{en,ru,it}-wav`,
//! installed under [`SYSTEM_SOUNDS_ROOT`] in one directory per voice, with no `en`/`ru`
//! link: [`system_sound_dir`] maps a language code to its directory. This module only
//! decides; the server answers [`PromptCatalog`] questions from the file system.
//!
//! ```
//! use pbx_core::tenant::{PromptCatalog, PromptSource, resolve_prompt, system_sound_dir};
//!
//! struct Files;
//! impl PromptCatalog for Files {
//!     fn has_tenant_prompt(&self, name: &str) -> bool { name == "advert" }
//!     fn has_system_prompt(&self, language: &str, name: &str) -> bool {
//!         (language, name) == ("ru", "vm-intro") || (language, name) == ("en", "digits/1")
//!     }
//!     fn has_moh_class(&self, class: &str) -> bool { class == "default" }
//! }
//! assert_eq!(resolve_prompt(&Files, "ru", "advert"), Some(PromptSource::Tenant));
//! assert_eq!(
//!     resolve_prompt(&Files, "ru", "digits/1"),
//!     Some(PromptSource::System { language: "en", dir: "en_US_f_Allison" })
//! );
//! assert_eq!(resolve_prompt(&Files, "ru", "nope"), None);
//! assert_eq!(system_sound_dir("ru"), Some("ru_RU_f_IvrvoiceRU"));
//! ```

/// Where the system sound packages put their voices.
pub const SYSTEM_SOUNDS_ROOT: &str = "/usr/share/asterisk/sounds";

/// The language every lookup falls back to.
pub const FALLBACK_LANGUAGE: &str = "en";

/// Languages that have system prompts, and each one's directory under
/// [`SYSTEM_SOUNDS_ROOT`].
pub const SYSTEM_SOUND_DIRS: [(&str, &str); 3] = [
    ("en", "en_US_f_Allison"),
    ("ru", "ru_RU_f_IvrvoiceRU"),
    ("it", "it_IT_m_Carlo"),
];

/// The directory (under [`SYSTEM_SOUNDS_ROOT`]) of the system prompts in `language`,
/// or `None` when vpbx ships no prompts in that language.
pub fn system_sound_dir(language: &str) -> Option<&'static str> {
    SYSTEM_SOUND_DIRS
        .iter()
        .find(|(code, _)| *code == language)
        .map(|(_, dir)| *dir)
}

/// The longest prompt name.
pub const MAX_PROMPT_NAME_LEN: usize = 64;

/// A prompt name: one or two segments joined by `/` (`vm-intro`, `digits/1`,
/// `vm-INBOX`, `ru-greet`), each of `A-Z a-z 0-9 _ -` and `.` (not first), 1–64
/// characters in all. Names never start a path of their own: no leading `/`, no `..`.
pub fn is_valid_prompt_name(s: &str) -> bool {
    let segment = |seg: &str| {
        seg.bytes().next().is_some_and(|b| b != b'.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    s.len() <= MAX_PROMPT_NAME_LEN
        && match s.split_once('/') {
            Some((dir, file)) => segment(dir) && segment(file),
            None => segment(s),
        }
}

/// What the server knows about prompt files, for one tenant.
pub trait PromptCatalog {
    /// Whether this tenant's library (`vpbx prompt add`) has a prompt `name`.
    fn has_tenant_prompt(&self, name: &str) -> bool;
    /// Whether the system prompts in `language` (a code of [`SYSTEM_SOUND_DIRS`]; look
    /// the directory up with [`system_sound_dir`]) have a prompt `name`.
    fn has_system_prompt(&self, language: &str, name: &str) -> bool;
    /// Whether a music-on-hold class `class` exists for this tenant (an uploaded class,
    /// or the system one called `default`).
    fn has_moh_class(&self, class: &str) -> bool;
}

/// Where a prompt name was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptSource {
    /// In the tenant's own library.
    Tenant,
    /// In the system prompts of `language`, directory `dir` under [`SYSTEM_SOUNDS_ROOT`].
    System {
        /// `ru`, `en`, …
        language: &'static str,
        /// `ru_RU_f_IvrvoiceRU`, …
        dir: &'static str,
    },
}

/// Finds `name`: the tenant's library, then the system prompts in `language` (when
/// vpbx has prompts in it), then the system prompts in [`FALLBACK_LANGUAGE`].
pub fn resolve_prompt(
    catalog: &dyn PromptCatalog,
    language: &str,
    name: &str,
) -> Option<PromptSource> {
    if catalog.has_tenant_prompt(name) {
        return Some(PromptSource::Tenant);
    }
    let languages = [language, FALLBACK_LANGUAGE];
    let tried = if language == FALLBACK_LANGUAGE {
        &languages[..1]
    } else {
        &languages[..]
    };
    tried.iter().find_map(|lang| {
        let (code, dir) = SYSTEM_SOUND_DIRS.iter().find(|(c, _)| c == lang)?;
        catalog
            .has_system_prompt(code, name)
            .then_some(PromptSource::System {
                language: code,
                dir,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asterisk_sound_names_are_valid_prompt_names() {
        for name in [
            "vm-intro",
            "digits/1",
            "vm-INBOX",
            "letters/a",
            "ru-greet",
            "closed.en",
            "tt-monkeys",
            "silence/1",
        ] {
            assert!(is_valid_prompt_name(name), "{name}");
        }
    }

    #[test]
    fn prompt_names_cannot_escape_their_directory() {
        for name in [
            "",
            "/etc/passwd",
            "../secret",
            "digits/../../x",
            "a/b/c",
            ".hidden",
            "digits/",
            "a b",
            "a\\b",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_prompt_name(name), "{name}");
        }
    }

    #[test]
    fn languages_map_to_the_debian_sound_directories() {
        assert_eq!(system_sound_dir("en"), Some("en_US_f_Allison"));
        assert_eq!(system_sound_dir("ru"), Some("ru_RU_f_IvrvoiceRU"));
        assert_eq!(system_sound_dir("it"), Some("it_IT_m_Carlo"));
        assert_eq!(system_sound_dir("de"), None);
    }

    struct Only(&'static [(&'static str, &'static str)]);
    impl PromptCatalog for Only {
        fn has_tenant_prompt(&self, name: &str) -> bool {
            self.0.contains(&("tenant", name))
        }
        fn has_system_prompt(&self, language: &str, name: &str) -> bool {
            self.0.contains(&(language, name))
        }
        fn has_moh_class(&self, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn the_tenant_library_wins_then_the_language_then_english() {
        let c = Only(&[
            ("tenant", "hello"),
            ("ru", "hello"),
            ("ru", "vm-intro"),
            ("en", "vm-intro"),
            ("en", "beep"),
        ]);
        assert_eq!(
            resolve_prompt(&c, "ru", "hello"),
            Some(PromptSource::Tenant)
        );
        assert_eq!(
            resolve_prompt(&c, "ru", "vm-intro"),
            Some(PromptSource::System {
                language: "ru",
                dir: "ru_RU_f_IvrvoiceRU"
            })
        );
        assert_eq!(
            resolve_prompt(&c, "ru", "beep"),
            Some(PromptSource::System {
                language: "en",
                dir: "en_US_f_Allison"
            })
        );
        assert_eq!(
            resolve_prompt(&c, "de", "beep"),
            Some(PromptSource::System {
                language: "en",
                dir: "en_US_f_Allison"
            }),
            "a language without system prompts falls back to English"
        );
        assert_eq!(resolve_prompt(&c, "it", "vm-missing"), None);
    }
}
