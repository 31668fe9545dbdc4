//! The platform file is read with `pbx-core`'s document tree, so it has the tenant file's
//! strictness and one-line, path-carrying errors (`trunks[0].prefixes: unknown key "foo" …`).

use pbx_core::ConfigError;
pub(crate) use pbx_core::node::{Fields, Node, as_str, index};

/// A value of the right type that breaks a rule, at `path`.
pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(path, message)
}
