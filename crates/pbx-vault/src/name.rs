//! Names that become path components: validated so nothing can leave its directory.

use crate::error::{NameKind, VaultError};

/// Longest accepted component, in bytes (most file systems allow 255).
const MAX_LEN: usize = 200;

/// Checks that `name` is safe as exactly one path component under the directory it is
/// meant for: not empty, at most 200 bytes, no `/`, `\`, NUL or other control character,
/// and no leading dot (which also rules out `.` and `..`, and keeps the vault's own
/// hidden temporary files apart from user names).
pub(crate) fn check(kind: NameKind, name: &str) -> Result<(), VaultError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_LEN {
        Some("is longer than 200 bytes")
    } else if name.starts_with('.') {
        Some("must not start with a dot")
    } else if name.contains('/') || name.contains('\\') {
        Some("must not contain a slash")
    } else if name.contains('\0') {
        Some("must not contain a NUL byte")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if kind == NameKind::Domain && name.chars().any(char::is_uppercase) {
        Some("must be lower case")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(VaultError::InvalidName {
            kind,
            name: name.to_owned(),
            reason,
        }),
    }
}

/// Turns a SIP Call-ID (network input: any printable characters) into a file-name part:
/// characters outside `A-Z a-z 0-9 - _ . @` become `_`, a leading dot becomes `_`, and it
/// is cut to 96 bytes. An empty Call-ID gives `call`.
pub(crate) fn sanitize_call_id(call_id: &str) -> String {
    let mut out: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(96)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push_str("call");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_separator_names_are_rejected() {
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            ".hidden",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "tab\there",
        ] {
            assert!(
                check(NameKind::File, bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(check(NameKind::File, &"x".repeat(201)).is_err());
    }

    #[test]
    fn ordinary_names_and_ip_domains_are_accepted() {
        for good in [
            "office.example",
            "127.0.0.1",
            "::1",
            "2001",
            "ru-greet",
            "a..b",
        ] {
            assert!(check(NameKind::Domain, good).is_ok(), "{good:?}");
        }
        assert!(check(NameKind::Domain, "Office.example").is_err());
        assert!(check(NameKind::File, "Greeting_Busy").is_ok());
    }

    #[test]
    fn call_ids_are_made_safe_for_file_names() {
        assert_eq!(sanitize_call_id("abc@1.2.3.4"), "abc@1.2.3.4");
        assert_eq!(sanitize_call_id("../../x/y"), "_._.._x_y");
        assert_eq!(sanitize_call_id(".x"), "_x");
        assert_eq!(sanitize_call_id(""), "call");
        assert_eq!(sanitize_call_id("a\0b c"), "a_b_c");
        assert_eq!(sanitize_call_id(&"z".repeat(300)).len(), 96);
    }
}
