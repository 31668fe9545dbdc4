//! Small identifier newtypes.

use std::fmt;

/// The database id of a tenant. Every table, registry key, limiter and path carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(pub i64);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An extension number inside one tenant: 2 to 8 ASCII digits (`"1101"`, `"800"`).
///
/// Leading zeros are significant (`"0101"` ≠ `"101"`), which is why tenant files must
/// quote extensions. Two digits is the shortest plan that leaves room for feature codes;
/// eight is longer than any office plan and shorter than any public number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ext(String);

impl Ext {
    /// The shortest allowed extension.
    pub const MIN_LEN: usize = 2;
    /// The longest allowed extension.
    pub const MAX_LEN: usize = 8;

    /// Checks the syntax; `None` if `s` is not 2–8 ASCII digits.
    pub fn parse(s: &str) -> Option<Ext> {
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Ext(s.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Ext {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Ext {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_two_to_eight_digits() {
        assert!(Ext::parse("10").is_some());
        assert!(Ext::parse("12345678").is_some());
        assert!(Ext::parse("0101").is_some());
        assert!(Ext::parse("1").is_none());
        assert!(Ext::parse("123456789").is_none());
        assert!(Ext::parse("11a").is_none());
        assert!(Ext::parse("").is_none());
        assert!(
            Ext::parse("١٢٣").is_none(),
            "non-ASCII digits are not extension digits"
        );
    }
}
