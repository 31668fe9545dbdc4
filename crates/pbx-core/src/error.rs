//! Errors of this crate. Every message is one line and says where the problem is.

/// A configuration file (tenant YAML or server TOML) that cannot be used.
///
/// `path` is the place in the document: `users[2].ext`, `security.ban_threshold`,
/// or the empty string for the top level. The `Display` text is one line meant for
/// a human at a terminal; it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid YAML / TOML.
    #[error("{format} syntax error: {message}")]
    Syntax {
        /// `"YAML"` or `"TOML"`.
        format: &'static str,
        /// The parser's message, with line and column, folded to one line.
        message: String,
    },
    /// A key that this section does not have (usually a typo).
    #[error("{}: unknown key \"{key}\" (expected one of: {})", place(path), expected.join(", "))]
    UnknownKey {
        /// The section holding the key.
        path: String,
        /// The unknown key as written.
        key: String,
        /// The keys the section accepts.
        expected: &'static [&'static str],
    },
    /// A required key is absent.
    #[error("{}: missing required key \"{key}\"", place(path))]
    MissingKey {
        /// The section that lacks the key.
        path: String,
        /// The missing key.
        key: &'static str,
    },
    /// A value of the wrong YAML/TOML type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where the value is.
        path: String,
        /// What was expected ("a string", "true or false", …).
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// A value of the right type that breaks a rule.
    #[error("{path}: {message}")]
    Invalid {
        /// Where the value is.
        path: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn place(path: &str) -> &str {
    if path.is_empty() { "top level" } else { path }
}

impl ConfigError {
    /// A value of the right type that breaks a rule, at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Where in the document the problem is (empty for the top level or a syntax error).
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Syntax { .. } => "",
            ConfigError::UnknownKey { path, .. }
            | ConfigError::MissingKey { path, .. }
            | ConfigError::WrongType { path, .. }
            | ConfigError::Invalid { path, .. } => path,
        }
    }
}

/// Sealing or unsealing a stored secret failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The stored value is sealed (`enc:v1:…`) but no `secrets_key` is configured.
    #[error("the stored secret is encrypted but no [store] secrets_key is configured")]
    KeyMissing,
    /// The stored value starts with `enc:` but is not a well-formed `enc:v1:<base64>`.
    #[error("the stored secret is not a well-formed enc:v1 value")]
    Malformed,
    /// Decryption failed: wrong key, or the value was altered.
    #[error(
        "the stored secret does not decrypt with the configured key (wrong key or altered value)"
    )]
    Tampered,
    /// A key that is not 32 bytes of hex or base64.
    #[error("secrets_key must be 32 bytes written as 64 hex digits or 44 base64 characters")]
    BadKey,
}

/// Every error of `pbx-core`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`SealError`].
    #[error(transparent)]
    Seal(#[from] SealError),
}
