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
        let mut out = String::new();
        let body = if with_secrets {
            serde_norway::to_string(self)
        } else {
            out.push_str(SECRETS_OMITTED_NOTE);
            out.push('\n');
            let mut redacted = self.clone();
            for user in &mut redacted.users {
                user.secret = None;
                user.pin = None;
            }
            serde_norway::to_string(&redacted)
        };
        out.push_str(
            &body.expect("the tenant model holds only strings, numbers, booleans, lists and maps"),
        );
        out
    }
}
