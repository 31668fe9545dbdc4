//! Network lists, domain names and e-mail plausibility checks.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// A list of networks (CIDRs); a bare address means a single host (/32 or /128).
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports)
/// match the IPv4 networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkList(Vec<IpNet>);

impl NetworkList {
    /// An empty list (matches nothing).
    pub fn new() -> Self {
        NetworkList(Vec::new())
    }

    /// Parses one entry: `10.0.0.0/8`, `2001:db8::/32` or a bare address.
    pub fn parse_entry(s: &str) -> Option<IpNet> {
        let s = s.trim();
        s.parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
            .map(|n| n.trunc())
    }

    /// Builds a list from CIDR strings; on failure returns the index of the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, usize> {
        entries
            .iter()
            .enumerate()
            .map(|(i, s)| Self::parse_entry(s.as_ref()).ok_or(i))
            .collect::<Result<Vec<_>, _>>()
            .map(NetworkList)
    }

    /// Whether `ip` is inside any of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list has no networks.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks, in file order.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

impl fmt::Display for NetworkList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}")?;
        }
        f.write_str("]")
    }
}

impl serde::Serialize for NetworkList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| n.to_string()))
    }
}

/// Whether `s` is a lower-case DNS host name: labels of `a-z`, `0-9` and `-` (not at
/// either end of a label), 1–63 characters each, 253 in all, no trailing dot, and a
/// last label that is not all digits (so `192.0.2.1` is not taken for a name).
pub fn is_valid_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels_ok = s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let last_not_numeric = s
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && last_not_numeric
}

/// A plausibility check, not RFC 5322: `local@domain`, a local part without spaces,
/// `<>` or `@`, and a domain (case-insensitive) with at least one dot that passes
/// [`is_valid_domain`].
pub fn is_plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '@' | '<' | '>' | '"' | ',' | ';'))
        && domain.contains('.')
        && is_valid_domain(&domain)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn network_list_matches_v4_v6_and_mapped_addresses() {
        let list = NetworkList::parse(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]).unwrap();
        assert!(list.contains("10.1.2.3".parse().unwrap()));
        assert!(list.contains("192.0.2.7".parse().unwrap()));
        assert!(!list.contains("192.0.2.8".parse().unwrap()));
        assert!(list.contains("2001:db8::1".parse().unwrap()));
        assert!(list.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!list.contains("11.0.0.1".parse().unwrap()));
        assert!(!NetworkList::new().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn network_list_reports_the_first_bad_entry() {
        assert_eq!(
            NetworkList::parse(&["10.0.0.0/8", "10.0.0.0/33", "x"]),
            Err(1)
        );
    }

    #[test]
    fn host_bits_in_a_cidr_are_truncated() {
        let list = NetworkList::parse(&["10.1.2.3/8"]).unwrap();
        assert_eq!(list.to_string(), "[10.0.0.0/8]");
    }

    #[test]
    fn domains_are_lower_case_dns_names() {
        assert!(is_valid_domain("office.example"));
        assert!(is_valid_domain("a-b.c1.example"));
        assert!(is_valid_domain("localhost"));
        assert!(!is_valid_domain("Office.example"));
        assert!(!is_valid_domain("office..example"));
        assert!(!is_valid_domain("-office.example"));
        assert!(!is_valid_domain("office.example."));
        assert!(!is_valid_domain("192.0.2.1"));
        assert!(!is_valid_domain("office_1.example"));
        assert!(!is_valid_domain(&format!("{}.example", "a".repeat(64))));
        assert!(!is_valid_domain(""));
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_plausible_email("dir@office.example"));
        assert!(is_plausible_email("First.Last+tag@Office.Example"));
        assert!(!is_plausible_email("dir"));
        assert!(!is_plausible_email("@office.example"));
        assert!(!is_plausible_email("dir@localhost"));
        assert!(!is_plausible_email("d ir@office.example"));
        assert!(!is_plausible_email("a@b@office.example"));
    }
}
