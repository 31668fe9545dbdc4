//! The platform-wide high-cost prefix block-list: numbers no direction can allow.
//!
//! International revenue share fraud (IRSF) works by making a hijacked PBX call
//! numbers whose termination fee the fraudster shares: premium-rate ranges and
//! destinations with high termination rates, typically satellite and
//! "international network" codes. Operators' fraud guides (CFCA's and GSMA's fraud
//! reports, carriers' default barring lists) agree on blocking these by default:
//!
//! - **ITU non-geographic codes that bill at premium or satellite rates**: +979
//!   (International Premium Rate Service, premium by definition), +870 (Inmarsat),
//!   +881 (global mobile satellite: Iridium, Globalstar, Thuraya), +882 and +883
//!   (international networks: the codes most abused for IRSF because their
//!   ranges are sub-allocated to small carriers), +878 (Universal Personal
//!   Telecommunications). +800 (freephone) and +808 are not listed.
//! - **National premium-rate ranges** of the seed countries and their neighbours,
//!   which a hijacked account can reach as "regional" calls: Russia +7 809 (8-809
//!   premium), Italy +39 89X (892, 894, 895, 899 premium) and +39 144/166 (old
//!   premium services), NANP +1 900, the UK +44 9 (09 premium) and +44 70 (personal
//!   numbering, a classic fraud range), Germany +49 900 and +49 137 (premium and
//!   mass-calling), France +33 89 (premium 089), Spain +34 80 (803/806/807 premium)
//!   and +34 90 (905 mass calling … shared-cost 901/902 are included; they are
//!   charged at premium rates from abroad), Austria +43 9, Switzerland +41 90,
//!   Belgium +32 90, the Netherlands +31 90, Poland +48 70, Latvia +371 90,
//!   Lithuania +370 90.
//!
//! The list is a floor, not a complete fraud database: operators add their carrier's
//! barring list with `blocked_prefixes:` in the platform file, and can lift a default
//! entry for a platform with a real need (a ship-to-shore business calling +870) with
//! `allow_blocked:`. A number is blocked when the longest matching prefix of both
//! lists comes from `blocked_prefixes`/the defaults and no longer `allow_blocked`
//! prefix covers it; so `allow_blocked: ["+8816"]` lifts Iridium only.

/// The built-in high-cost prefixes (E.164 digits without `+`); see the module docs.
pub const DEFAULT_BLOCKED_PREFIXES: &[&str] = &[
    // ITU non-geographic, premium or satellite.
    "870", "878", "881", "882", "883", "979", //
    // Russia: 8-809 premium.
    "7809", //
    // Italy: 89X premium, 144/166 old premium services.
    "39144", "39166", "39892", "39894", "39895", "39899", //
    // NANP: 900 premium.
    "1900", //
    // United Kingdom: 09 premium, 070 personal numbering.
    "449", "4470", //
    // Germany: 0900 premium, 0137 mass calling.
    "49137", "49900", //
    // France: 089 premium.
    "3389", //
    // Spain: 80X premium, 90X mass calling and shared cost.
    "3480", "3490", //
    // Austria 09XX, Switzerland 090X, Belgium 090X, Netherlands 090X.
    "439", "4190", "3290", "3190", //
    // Poland 70X premium, Latvia 90X, Lithuania 90X premium.
    "4870", "37190", "37090",
];

/// A compiled block-list: built-in plus the file's prefixes, minus `allow_blocked`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockList {
    /// (prefix digits, blocked?) sorted by prefix, for longest-prefix lookups.
    entries: Vec<(String, bool)>,
    longest: usize,
}

impl BlockList {
    /// The defaults plus `blocked` (E.164 prefixes, `+` optional) minus `allowed`.
    pub fn new<S: AsRef<str>>(blocked: &[S], allowed: &[S]) -> BlockList {
        let mut entries: Vec<(String, bool)> = DEFAULT_BLOCKED_PREFIXES
            .iter()
            .map(|p| ((*p).to_owned(), true))
            .chain(blocked.iter().map(|p| (digits(p.as_ref()), true)))
            .collect();
        // An allow entry wins over a block entry of the same prefix.
        entries.retain(|(p, _)| !allowed.iter().any(|a| digits(a.as_ref()) == *p));
        entries.extend(allowed.iter().map(|a| (digits(a.as_ref()), false)));
        entries.sort();
        entries.dedup();
        let longest = entries.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        BlockList { entries, longest }
    }

    /// The blocked prefix (digits, no `+`) that covers `number` (E.164, `+` optional),
    /// or `None` when the number may be called.
    pub fn blocked_by(&self, number: &str) -> Option<&str> {
        let digits = number.strip_prefix('+').unwrap_or(number);
        (1..=self.longest.min(digits.len())).rev().find_map(|n| {
            let prefix = digits.get(..n)?;
            let i = self
                .entries
                .binary_search_by(|(p, _)| p.as_str().cmp(prefix))
                .ok()?;
            let (p, blocked) = &self.entries[i];
            Some(blocked.then_some(p.as_str()))
        })?
    }
}

fn digits(prefix: &str) -> String {
    prefix.strip_prefix('+').unwrap_or(prefix).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[&str] = &[];

    #[test]
    fn the_defaults_block_premium_and_satellite_ranges() {
        let list = BlockList::new(NONE, NONE);
        assert_eq!(list.blocked_by("+78091234567"), Some("7809"));
        assert_eq!(list.blocked_by("+39899123456"), Some("39899"));
        assert_eq!(list.blocked_by("+19005551234"), Some("1900"));
        assert_eq!(list.blocked_by("+881612345678"), Some("881"));
        assert_eq!(list.blocked_by("+979123456789"), Some("979"));
        assert_eq!(list.blocked_by("+79257410726"), None);
        assert_eq!(list.blocked_by("+390612345678"), None);
        assert_eq!(list.blocked_by("+8001234567"), None);
    }

    #[test]
    fn the_default_list_has_no_duplicates_and_only_digits() {
        let mut sorted = DEFAULT_BLOCKED_PREFIXES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), DEFAULT_BLOCKED_PREFIXES.len());
        assert!(
            DEFAULT_BLOCKED_PREFIXES
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn file_prefixes_add_to_the_defaults() {
        let list = BlockList::new(&["+232", "+5399"], NONE);
        assert_eq!(list.blocked_by("+23276123456"), Some("232"));
        assert_eq!(list.blocked_by("+5399123456"), Some("5399"));
        assert_eq!(list.blocked_by("+5312345678"), None);
        assert_eq!(list.blocked_by("+78091234567"), Some("7809"));
    }

    #[test]
    fn a_longer_allow_prefix_lifts_part_of_a_blocked_range() {
        let list = BlockList::new(NONE, &["+8816"]);
        assert_eq!(list.blocked_by("+881612345678"), None);
        assert_eq!(list.blocked_by("+881812345678"), Some("881"));
    }

    #[test]
    fn an_allow_of_the_same_prefix_removes_the_default() {
        let list = BlockList::new(NONE, &["+870"]);
        assert_eq!(list.blocked_by("+870123456789"), None);
    }

    #[test]
    fn a_longer_block_inside_an_allowed_range_still_blocks() {
        let list = BlockList::new(&["+88161"], &["+8816"]);
        assert_eq!(list.blocked_by("+881612345678"), Some("88161"));
        assert_eq!(list.blocked_by("+881622345678"), None);
    }
}
