//! `pbx-core`: the pure configuration model of vpbx.
//!
//! - [`ServerConfig`]: `vpbx.toml`, every key with a default ([`ServerConfig::from_toml_str`]);
//! - [`TenantConfig`]: a tenant YAML file, validated ([`TenantConfig::from_yaml_str`]),
//!   diffed ([`TenantConfig::diff`]) and exported ([`TenantConfig::export_yaml`]);
//! - [`secret`]: sealing stored secrets with an optional key;
//! - helpers: [`NetworkList`], [`is_valid_domain`], [`TenantId`], [`Ext`], [`UserIndex`].
//!
//! No I/O, no clock, no randomness: everything is parsed from `&str` and nonces are
//! passed in. Every error is one line naming where in the file the problem is:
//!
//! ```
//! let err = pbx_core::TenantConfig::from_yaml_str("domain: office.example\nusers:\n  - {ext: \"11a\", name: A}\n")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "users[0].ext: \"11a\" is not a valid extension (digits, 2–8 long)");
//! ```

pub mod country;
mod error;
mod ids;
mod net;
pub mod node;
pub mod secret;
pub mod server_config;
pub mod tenant;

pub use country::is_country_code;
pub use error::{ConfigError, Error, SealError};
pub use ids::{Ext, TenantId};
pub use net::{NetworkList, is_plausible_email, is_valid_domain};
pub use secret::{SecretsKey, seal, unseal};
pub use server_config::{ListenAddr, ServerConfig, Transport};
pub use tenant::{
    Destination, DiffLine, DigestAlgorithm, GroupMember, PickupCode, PromptCatalog, Schedule,
    TenantConfig, User, UserIndex,
};
