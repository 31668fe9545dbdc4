//! `vpbx tenant export`: the tenant as YAML that `vpbx tenant apply` accepts back.

use super::TenantConfig;

/// The first line of an export made without `--secrets`.
pub const SECRETS_OMITTED_NOTE: &str =
    "# Secrets (user secret and pin) were omitted; applying this file keeps the stored ones.";

impl TenantConfig {
    /// The tenant as YAML. With `with_secrets = false`, every `secret` and `pin` is left
    /// out and the first line says so; such a file applied with
    /// [`TenantConfig::fill_missing_secrets_from`] keeps the stored secrets.
    /// Settings equal to their defaults are left out where that keeps the file short.
    pub fn export_yaml(&self, with_secrets: bool) -> String {
        if with_secrets {
            return yaml_document(self, None);
        }
        let mut redacted = self.clone();
        for user in &mut redacted.users {
            user.secret = None;
            user.pin = None;
        }
        yaml_document(&redacted, Some(SECRETS_OMITTED_NOTE))
    }
}

/// A configuration document as YAML, after a first comment line `note` when given
/// (tenant and platform exports).
pub fn yaml_document(doc: &impl serde::Serialize, note: Option<&str>) -> String {
    let mut out = note.map(|n| format!("{n}\n")).unwrap_or_default();
    out.push_str(
        &serde_norway::to_string(doc)
            .expect("config models hold only strings, numbers, booleans, lists and maps"),
    );
    out
}
