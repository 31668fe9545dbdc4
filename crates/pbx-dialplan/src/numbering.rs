//! National numbering: which country an E.164 number belongs to, how users of a
//! country dial, and each country's emergency numbers.
//!
//! # Country of a number
//! [`country_of`] maps an E.164 number to an ISO 3166-1 alpha-2 code by the longest
//! prefix in two tables: [`CALLING_CODES`], the ITU-T E.164 country codes (one per
//! country, as assigned in the ITU's "List of ITU-T Recommendation E.164 assigned
//! country codes"), and [`SHARED_CODE_AREAS`], areas of shared codes that belong to
//! another country:
//! - **+1 (NANP)**: 26 countries and territories share it; the area code says which.
//!   Canada's area codes, the Caribbean members (876 Jamaica, 809/829/849 Dominican
//!   Republic, 284 BVI, 649 Turks and Caicos, …) and the US territories are listed;
//!   any other area code is the United States (`US`), as are the toll-free 8XX codes.
//! - **+7**: 6XX and 7XX are Kazakhstan (`KZ`); the rest is Russia.
//! - smaller ones: Åland (+358 18), Svalbard (+47 79), Bonaire (+599 7), Mayotte
//!   (+262 269/639), Christmas and Cocos Islands (+61 8 9164/9162), Guernsey, Jersey
//!   and the Isle of Man (+44 1481/1534/1624 and their mobile ranges).
//!
//! Non-geographic codes (+800 freephone, +808, +870 Inmarsat, +881 satellite, +882/+883
//! international networks, +888, +979 premium, +991) map to [`NON_GEOGRAPHIC`] (`001`,
//! libphonenumber's name for them): they are never regional, and the high-cost ones are
//! in the default block-list ([`crate::blocklist`]).
//!
//! **US territories** (Puerto Rico 787/939, US Virgin Islands 340, Guam 671, Northern
//! Mariana Islands 670, American Samoa 684) have their own ISO codes, so `country_of`
//! says `PR`, `VI`, …; but calls between them and the 50 states are domestic calls
//! (US carriers rate them as domestic long distance since they joined the NANP
//! domestic rate plan), so [`is_domestic`] counts them as one nation with `US`: a US
//! tenant's call to San Juan is *regional*. Canada is not: for a US tenant a Canadian
//! number is *international* (operators who want US+CA as one class narrow an
//! international row with patterns such as `_1204.`).
//!
//! # Dialing formats
//! [`normalise`] turns what a user dialed (after the outbound prefix) into E.164, by the
//! national plan of the tenant's country:
//! - always: `+` and the full number;
//! - **Russia, Kazakhstan, Belarus**: `8` + 10-digit national number, `810` +
//!   international, and the 10-digit national number alone;
//! - **Italy** (and San Marino, Vatican): no trunk prefix: national numbers are dialed
//!   as they are, `0…` geographic (the 0 is kept: `06…` → `+39 06…`), `3…` mobile,
//!   `8…` non-geographic; `00` + international;
//! - **NANP** (US, CA and the other +1 countries): 10 digits, `1` + 10 digits, `011` +
//!   international;
//! - a table ([`PLANS`]) of other countries' international and trunk prefixes (Japan
//!   `010`, Australia `0011`, Hungary trunk `06`, closed plans without a trunk prefix
//!   such as Spain, Denmark, Poland); every other country: `00` international and `0`
//!   trunk prefix (the ITU-T E.164 recommended ones, used by most of the world).
//!
//! Digits without `+` that are not a national format are read as a full international
//! number when that is unambiguous: no national format of the country fits them, they
//! have at least 10 digits and start with a known country code (and +1/+7 numbers have
//! exactly 11 digits): `447911123456` dialed in Russia is `+447911123456`,
//! `79257410726` dialed in Russia is `+79257410726`, `33123456789` dialed in Italy is
//! `+33123456789` (Italian mobile numbers have at most 10 digits).
//! Local dialing without the area code (7-digit NANP, Moscow's 7 digits) is not
//! supported: it needs the caller's area and most plans have dropped it.

use std::fmt;

/// The pseudo-country of non-geographic E.164 codes (+800, +881, +979, …).
pub const NON_GEOGRAPHIC: &str = "001";

/// ITU-T E.164 country codes → ISO 3166-1 alpha-2, sorted by code. Shared codes map to
/// the country that owns most of the code; [`SHARED_CODE_AREAS`] carves out the rest.
/// `XK` (Kosovo, +383) is a user-assigned code in ISO 3166 but the one everybody uses.
pub const CALLING_CODES: &[(&str, &str)] = &[
    ("1", "US"),
    ("20", "EG"),
    ("211", "SS"),
    ("212", "MA"),
    ("213", "DZ"),
    ("216", "TN"),
    ("218", "LY"),
    ("220", "GM"),
    ("221", "SN"),
    ("222", "MR"),
    ("223", "ML"),
    ("224", "GN"),
    ("225", "CI"),
    ("226", "BF"),
    ("227", "NE"),
    ("228", "TG"),
    ("229", "BJ"),
    ("230", "MU"),
    ("231", "LR"),
    ("232", "SL"),
    ("233", "GH"),
    ("234", "NG"),
    ("235", "TD"),
    ("236", "CF"),
    ("237", "CM"),
    ("238", "CV"),
    ("239", "ST"),
    ("240", "GQ"),
    ("241", "GA"),
    ("242", "CG"),
    ("243", "CD"),
    ("244", "AO"),
    ("245", "GW"),
    ("246", "IO"),
    ("247", "SH"),
    ("248", "SC"),
    ("249", "SD"),
    ("250", "RW"),
    ("251", "ET"),
    ("252", "SO"),
    ("253", "DJ"),
    ("254", "KE"),
    ("255", "TZ"),
    ("256", "UG"),
    ("257", "BI"),
    ("258", "MZ"),
    ("260", "ZM"),
    ("261", "MG"),
    ("262", "RE"),
    ("263", "ZW"),
    ("264", "NA"),
    ("265", "MW"),
    ("266", "LS"),
    ("267", "BW"),
    ("268", "SZ"),
    ("269", "KM"),
    ("27", "ZA"),
    ("290", "SH"),
    ("291", "ER"),
    ("297", "AW"),
    ("298", "FO"),
    ("299", "GL"),
    ("30", "GR"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("350", "GI"),
    ("351", "PT"),
    ("352", "LU"),
    ("353", "IE"),
    ("354", "IS"),
    ("355", "AL"),
    ("356", "MT"),
    ("357", "CY"),
    ("358", "FI"),
    ("359", "BG"),
    ("36", "HU"),
    ("370", "LT"),
    ("371", "LV"),
    ("372", "EE"),
    ("373", "MD"),
    ("374", "AM"),
    ("375", "BY"),
    ("376", "AD"),
    ("377", "MC"),
    ("378", "SM"),
    ("379", "VA"),
    ("380", "UA"),
    ("381", "RS"),
    ("382", "ME"),
    ("383", "XK"),
    ("385", "HR"),
    ("386", "SI"),
    ("387", "BA"),
    ("389", "MK"),
    ("39", "IT"),
    ("40", "RO"),
    ("41", "CH"),
    ("420", "CZ"),
    ("421", "SK"),
    ("423", "LI"),
    ("43", "AT"),
    ("44", "GB"),
    ("45", "DK"),
    ("46", "SE"),
    ("47", "NO"),
    ("48", "PL"),
    ("49", "DE"),
    ("500", "FK"),
    ("501", "BZ"),
    ("502", "GT"),
    ("503", "SV"),
    ("504", "HN"),
    ("505", "NI"),
    ("506", "CR"),
    ("507", "PA"),
    ("508", "PM"),
    ("509", "HT"),
    ("51", "PE"),
    ("52", "MX"),
    ("53", "CU"),
    ("54", "AR"),
    ("55", "BR"),
    ("56", "CL"),
    ("57", "CO"),
    ("58", "VE"),
    ("590", "GP"),
    ("591", "BO"),
    ("592", "GY"),
    ("593", "EC"),
    ("594", "GF"),
    ("595", "PY"),
    ("596", "MQ"),
    ("597", "SR"),
    ("598", "UY"),
    ("599", "CW"),
    ("60", "MY"),
    ("61", "AU"),
    ("62", "ID"),
    ("63", "PH"),
    ("64", "NZ"),
    ("65", "SG"),
    ("66", "TH"),
    ("670", "TL"),
    ("672", "NF"),
    ("673", "BN"),
    ("674", "NR"),
    ("675", "PG"),
    ("676", "TO"),
    ("677", "SB"),
    ("678", "VU"),
    ("679", "FJ"),
    ("680", "PW"),
    ("681", "WF"),
    ("682", "CK"),
    ("683", "NU"),
    ("685", "WS"),
    ("686", "KI"),
    ("687", "NC"),
    ("688", "TV"),
    ("689", "PF"),
    ("690", "TK"),
    ("691", "FM"),
    ("692", "MH"),
    ("7", "RU"),
    ("800", NON_GEOGRAPHIC),
    ("808", NON_GEOGRAPHIC),
    ("81", "JP"),
    ("82", "KR"),
    ("84", "VN"),
    ("850", "KP"),
    ("852", "HK"),
    ("853", "MO"),
    ("855", "KH"),
    ("856", "LA"),
    ("86", "CN"),
    ("870", NON_GEOGRAPHIC),
    ("878", NON_GEOGRAPHIC),
    ("880", "BD"),
    ("881", NON_GEOGRAPHIC),
    ("882", NON_GEOGRAPHIC),
    ("883", NON_GEOGRAPHIC),
    ("886", "TW"),
    ("888", NON_GEOGRAPHIC),
    ("90", "TR"),
    ("91", "IN"),
    ("92", "PK"),
    ("93", "AF"),
    ("94", "LK"),
    ("95", "MM"),
    ("960", "MV"),
    ("961", "LB"),
    ("962", "JO"),
    ("963", "SY"),
    ("964", "IQ"),
    ("965", "KW"),
    ("966", "SA"),
    ("967", "YE"),
    ("968", "OM"),
    ("970", "PS"),
    ("971", "AE"),
    ("972", "IL"),
    ("973", "BH"),
    ("974", "QA"),
    ("975", "BT"),
    ("976", "MN"),
    ("977", "NP"),
    ("979", NON_GEOGRAPHIC),
    ("98", "IR"),
    ("991", NON_GEOGRAPHIC),
    ("992", "TJ"),
    ("993", "TM"),
    ("994", "AZ"),
    ("995", "GE"),
    ("996", "KG"),
    ("998", "UZ"),
];

/// Areas of shared country codes that belong to another country (longest prefix wins),
/// sorted by prefix. NANP entries are `1` + the area code.
pub const SHARED_CODE_AREAS: &[(&str, &str)] = &[
    // NANP: Canada.
    ("1204", "CA"),
    ("1226", "CA"),
    ("1236", "CA"),
    ("1242", "BS"),
    ("1246", "BB"),
    ("1249", "CA"),
    ("1250", "CA"),
    ("1257", "CA"),
    ("1263", "CA"),
    ("1264", "AI"),
    ("1268", "AG"),
    ("1284", "VG"),
    ("1289", "CA"),
    ("1306", "CA"),
    ("1340", "VI"),
    ("1343", "CA"),
    ("1345", "KY"),
    ("1354", "CA"),
    ("1365", "CA"),
    ("1367", "CA"),
    ("1368", "CA"),
    ("1382", "CA"),
    ("1387", "CA"),
    ("1403", "CA"),
    ("1416", "CA"),
    ("1418", "CA"),
    ("1428", "CA"),
    ("1431", "CA"),
    ("1437", "CA"),
    ("1438", "CA"),
    ("1441", "BM"),
    ("1450", "CA"),
    ("1460", "CA"),
    ("1468", "CA"),
    ("1473", "GD"),
    ("1474", "CA"),
    ("1506", "CA"),
    ("1514", "CA"),
    ("1519", "CA"),
    ("1548", "CA"),
    ("1568", "CA"),
    ("1579", "CA"),
    ("1581", "CA"),
    ("1584", "CA"),
    ("1587", "CA"),
    ("1600", "CA"),
    ("1604", "CA"),
    ("1613", "CA"),
    ("1622", "CA"),
    ("1639", "CA"),
    ("1647", "CA"),
    ("1649", "TC"),
    ("1658", "JM"),
    ("1664", "MS"),
    ("1670", "MP"),
    ("1671", "GU"),
    ("1672", "CA"),
    ("1683", "CA"),
    ("1684", "AS"),
    ("1705", "CA"),
    ("1709", "CA"),
    ("1721", "SX"),
    ("1742", "CA"),
    ("1753", "CA"),
    ("1758", "LC"),
    ("1767", "DM"),
    ("1778", "CA"),
    ("1780", "CA"),
    ("1782", "CA"),
    ("1784", "VC"),
    ("1787", "PR"),
    ("1807", "CA"),
    ("1809", "DO"),
    ("1819", "CA"),
    ("1825", "CA"),
    ("1829", "DO"),
    ("1849", "DO"),
    ("1867", "CA"),
    ("1868", "TT"),
    ("1869", "KN"),
    ("1873", "CA"),
    ("1876", "JM"),
    ("1879", "CA"),
    ("1902", "CA"),
    ("1905", "CA"),
    ("1939", "PR"),
    ("1942", "CA"),
    // Mayotte inside Réunion's +262.
    ("262269", "YT"),
    ("262639", "YT"),
    // Åland inside Finland's +358.
    ("35818", "AX"),
    // Guernsey, Jersey, Isle of Man inside +44 (fixed, then mobile ranges).
    ("441481", "GG"),
    ("441534", "JE"),
    ("441624", "IM"),
    ("447509", "JE"),
    ("447524", "IM"),
    ("447624", "IM"),
    ("447700", "JE"),
    ("447781", "GG"),
    ("447797", "JE"),
    ("447829", "JE"),
    ("447839", "GG"),
    ("447911", "GG"),
    ("447924", "IM"),
    // Svalbard inside Norway's +47.
    ("4779", "SJ"),
    // Bonaire, Sint Eustatius and Saba inside +599.
    ("5993", "BQ"),
    ("5994", "BQ"),
    ("5997", "BQ"),
    // Christmas and Cocos Islands inside Australia's +61.
    ("6189162", "CC"),
    ("6189164", "CX"),
    // Kazakhstan: +7 6XX and +7 7XX.
    ("76", "KZ"),
    ("77", "KZ"),
];

/// Where an E.164 number belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberOrigin {
    /// ISO 3166-1 alpha-2 code, or [`NON_GEOGRAPHIC`].
    pub country: &'static str,
    /// The ITU country code (digits): `232`, `1`, `7`.
    pub country_code: &'static str,
    /// The longest table prefix that matched: `232`, `1876`, `76`.
    pub prefix: &'static str,
}

impl fmt::Display for NumberOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.country == NON_GEOGRAPHIC {
            write!(f, "non-geographic numbers (+{})", self.prefix)
        } else {
            write!(f, "{} (+{})", self.country, self.prefix)
        }
    }
}

fn lookup(
    table: &'static [(&'static str, &'static str)],
    key: &str,
) -> Option<(&'static str, &'static str)> {
    table
        .binary_search_by(|(p, _)| (*p).cmp(key))
        .ok()
        .map(|i| table[i])
}

/// The ITU country code that starts `digits` (no `+`), if any.
pub fn country_code_of(digits: &str) -> Option<&'static str> {
    (1..=3.min(digits.len()))
        .rev()
        .find_map(|n| lookup(CALLING_CODES, digits.get(..n)?).map(|(p, _)| p))
}

/// The country of an E.164 number (`+` optional). `None` when no country code fits or the
/// text is not digits.
pub fn country_of(number: &str) -> Option<NumberOrigin> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (code, country) = (1..=3.min(digits.len()))
        .rev()
        .find_map(|n| lookup(CALLING_CODES, &digits[..n]))?;
    let area = (code.len() + 1..=7.min(digits.len()))
        .rev()
        .find_map(|n| lookup(SHARED_CODE_AREAS, &digits[..n]));
    Some(match area {
        Some((prefix, country)) => NumberOrigin {
            country,
            country_code: code,
            prefix,
        },
        None => NumberOrigin {
            country,
            country_code: code,
            prefix: code,
        },
    })
}

/// The ITU country code of an ISO country (`IT` → `39`, `KZ` → `7`, `CA` → `1`).
pub fn calling_code(country: &str) -> Option<&'static str> {
    if let Some((code, _)) = CALLING_CODES.iter().find(|(_, c)| *c == country) {
        return Some(code);
    }
    SHARED_CODE_AREAS
        .iter()
        .find(|(_, c)| *c == country)
        .and_then(|(prefix, _)| country_code_of(prefix))
}

/// The US and the US territories in the NANP: one nation for classification (see the
/// module documentation).
const US_DOMESTIC: &[&str] = &["AS", "GU", "MP", "PR", "US", "VI"];

/// Whether a call from a tenant in `home` to a number of `country` is a domestic
/// (regional) call: the same country, or the US and its NANP territories.
pub fn is_domestic(home: &str, country: &str) -> bool {
    home == country || (US_DOMESTIC.contains(&home) && US_DOMESTIC.contains(&country))
}

/// How one country's users dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The countries that dial this way.
    pub countries: &'static [&'static str],
    /// Their ITU country code.
    pub country_code: &'static str,
    /// International prefixes (`00`, `810`, `011`).
    pub international: &'static [&'static str],
    /// The trunk prefix before a national number (`0`, `8`, `1`), none in closed plans.
    pub trunk: Option<&'static str>,
    /// National (significant) numbers: `(leading digits, shortest, longest)`; a
    /// national number starts with one of the leading-digit strings (`""`: any) and has
    /// a length in that entry's range.
    pub national: &'static [(&'static str, usize, usize)],
    /// Whether a national number may be dialed without the trunk prefix.
    pub bare_national: bool,
}

const NANP: &[&str] = &[
    "AG", "AI", "AS", "BB", "BM", "BS", "CA", "DM", "DO", "GD", "GU", "JM", "KN", "KY", "LC", "MP",
    "MS", "PR", "SX", "TC", "TT", "US", "VC", "VG", "VI",
];

/// The national plans known precisely. Other countries get [`default_plan`].
pub const PLANS: &[Plan] = &[
    Plan {
        countries: &["RU", "KZ"],
        country_code: "7",
        international: &["810"],
        trunk: Some("8"),
        // Russia: 3XX, 4XX, 8XX geographic and non-geographic, 9XX mobile;
        // Kazakhstan: 6XX, 7XX.
        national: &[
            ("3", 10, 10),
            ("4", 10, 10),
            ("6", 10, 10),
            ("7", 10, 10),
            ("8", 10, 10),
            ("9", 10, 10),
        ],
        bare_national: true,
    },
    Plan {
        countries: &["BY"],
        country_code: "375",
        international: &["810"],
        trunk: Some("8"),
        national: &[("", 9, 9)],
        bare_national: false,
    },
    Plan {
        countries: &["IT", "VA"],
        country_code: "39",
        international: &["00"],
        trunk: None,
        // 0 geographic (6–11 digits with the 0), 3 mobile (9–10), 8 non-geographic
        // (80X freephone, 84X shared cost, 89X premium).
        national: &[("0", 6, 11), ("3", 9, 10), ("8", 6, 10)],
        bare_national: true,
    },
    Plan {
        countries: NANP,
        country_code: "1",
        international: &["011"],
        trunk: Some("1"),
        // NPA NXX XXXX: an area code never starts with 0 or 1.
        national: &[
            ("2", 10, 10),
            ("3", 10, 10),
            ("4", 10, 10),
            ("5", 10, 10),
            ("6", 10, 10),
            ("7", 10, 10),
            ("8", 10, 10),
            ("9", 10, 10),
        ],
        bare_national: true,
    },
    Plan {
        countries: &["GB"],
        country_code: "44",
        international: &["00"],
        trunk: Some("0"),
        national: &[("", 9, 10)],
        bare_national: false,
    },
    Plan {
        countries: &["FR"],
        country_code: "33",
        international: &["00"],
        trunk: Some("0"),
        national: &[("", 9, 9)],
        bare_national: false,
    },
    Plan {
        countries: &["JP"],
        country_code: "81",
        international: &["010"],
        trunk: Some("0"),
        national: &[("", 9, 10)],
        bare_national: false,
    },
    Plan {
        countries: &["AU"],
        country_code: "61",
        international: &["0011"],
        trunk: Some("0"),
        national: &[("", 9, 9)],
        bare_national: false,
    },
    Plan {
        countries: &["HU"],
        country_code: "36",
        international: &["00"],
        trunk: Some("06"),
        national: &[("", 8, 9)],
        bare_national: false,
    },
    // Closed plans: no trunk prefix, the national number is dialed as it is.
    Plan {
        countries: &["ES"],
        country_code: "34",
        international: &["00"],
        trunk: None,
        national: &[("", 9, 9)],
        bare_national: true,
    },
    Plan {
        countries: &["PT"],
        country_code: "351",
        international: &["00"],
        trunk: None,
        national: &[("", 9, 9)],
        bare_national: true,
    },
    Plan {
        countries: &["GR"],
        country_code: "30",
        international: &["00"],
        trunk: None,
        national: &[("", 10, 10)],
        bare_national: true,
    },
    Plan {
        countries: &["DK"],
        country_code: "45",
        international: &["00"],
        trunk: None,
        national: &[("", 8, 8)],
        bare_national: true,
    },
    Plan {
        countries: &["NO"],
        country_code: "47",
        international: &["00"],
        trunk: None,
        national: &[("", 8, 8)],
        bare_national: true,
    },
    Plan {
        countries: &["PL"],
        country_code: "48",
        international: &["00"],
        trunk: None,
        national: &[("", 9, 9)],
        bare_national: true,
    },
    Plan {
        countries: &["CZ"],
        country_code: "420",
        international: &["00"],
        trunk: None,
        national: &[("", 9, 9)],
        bare_national: true,
    },
];

/// The plan of a country: from [`PLANS`], else `00` international, `0` trunk prefix and
/// national numbers of 5 up to (15 − country code length) digits. `None` for a country
/// with no calling code.
pub fn plan_of(country: &str) -> Option<Plan> {
    if let Some(plan) = PLANS.iter().find(|p| p.countries.contains(&country)) {
        return Some(*plan);
    }
    calling_code(country).map(default_plan)
}

/// The ITU-recommended plan (`00`, `0`) for a country code.
pub fn default_plan(country_code: &'static str) -> Plan {
    const ANY_14: &[(&str, usize, usize)] = &[("", 5, 14)];
    const ANY_13: &[(&str, usize, usize)] = &[("", 5, 13)];
    const ANY_12: &[(&str, usize, usize)] = &[("", 5, 12)];
    Plan {
        countries: &[],
        country_code,
        international: &["00"],
        trunk: Some("0"),
        national: match country_code.len() {
            1 => ANY_14,
            2 => ANY_13,
            _ => ANY_12,
        },
        bare_national: false,
    }
}

/// Why dialed digits could not be read as a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NormaliseError {
    /// Nothing dialed.
    #[error("nothing was dialed")]
    Empty,
    /// Characters other than digits (and a leading `+`).
    #[error("\"{0}\" is not a phone number (digits, optionally a leading +)")]
    NotDigits(String),
    /// An international number with no known country code.
    #[error("+{0} has no known country code")]
    UnknownCountryCode(String),
    /// An E.164 number longer than 15 digits or too short to be one.
    #[error("+{0} is not a valid length for an E.164 number")]
    BadLength(String),
    /// Digits that are no national format of the country and no full international number.
    #[error("\"{digits}\" is not a number as dialed in {country}")]
    NotANumber {
        /// The digits.
        digits: String,
        /// The tenant country.
        country: String,
    },
    /// The tenant's country is unknown or has no calling code.
    #[error("no numbering plan for country \"{0}\"")]
    UnknownCountry(String),
}

/// Strips RFC 3966 visual separators (`-`, `.`, `(`, `)`) and checks the rest is
/// `+`? digits.
fn clean(dialed: &str) -> Result<String, NormaliseError> {
    let mut out = String::with_capacity(dialed.len());
    for (i, c) in dialed.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            '-' | '.' | '(' | ')' => {}
            _ => return Err(NormaliseError::NotDigits(dialed.to_owned())),
        }
    }
    if out.is_empty() || out == "+" {
        return Err(NormaliseError::Empty);
    }
    Ok(out)
}

/// `+` + `digits`, checked: a known country code, 7–15 digits in all (the shortest
/// E.164 numbers in use, e.g. Niue's, have 7 digits with the country code).
/// +1 (NANP) and +7 numbers always have 10 digits after the country code.
fn international(digits: &str) -> Result<String, NormaliseError> {
    if !(7..=15).contains(&digits.len()) {
        return Err(NormaliseError::BadLength(digits.to_owned()));
    }
    let code = country_code_of(digits)
        .ok_or_else(|| NormaliseError::UnknownCountryCode(digits.to_owned()))?;
    if matches!(code, "1" | "7") && digits.len() != 11 {
        return Err(NormaliseError::BadLength(digits.to_owned()));
    }
    Ok(format!("+{digits}"))
}

/// `+CC` + `nsn` when `nsn` is a national number of `plan` and the whole has the 7
/// digits of the shortest E.164 numbers in use.
fn national(plan: &Plan, nsn: &str) -> Option<String> {
    (plan.country_code.len() + nsn.len() >= 7
        && plan
            .national
            .iter()
            .any(|(lead, lo, hi)| nsn.starts_with(lead) && (*lo..=*hi).contains(&nsn.len())))
    .then(|| format!("+{}{nsn}", plan.country_code))
}

/// Shortest digit string read as a full international number without `+`.
const MIN_BARE_INTERNATIONAL: usize = 10;

/// Normalises what a user in `country` dialed (after the outbound prefix) to E.164
/// (`+` and digits). See the module documentation for the formats.
pub fn normalise(country: &str, dialed: &str) -> Result<String, NormaliseError> {
    let digits = clean(dialed)?;
    if let Some(rest) = digits.strip_prefix('+') {
        return international(rest);
    }
    let plan =
        plan_of(country).ok_or_else(|| NormaliseError::UnknownCountry(country.to_owned()))?;
    for intl in plan.international {
        if let Some(rest) = digits.strip_prefix(intl)
            && !rest.is_empty()
        {
            return international(rest);
        }
    }
    if let Some(trunk) = plan.trunk
        && let Some(nsn) = digits.strip_prefix(trunk)
        && let Some(n) = national(&plan, nsn)
    {
        return Ok(n);
    }
    if (plan.bare_national || plan.trunk.is_none())
        && let Some(n) = national(&plan, &digits)
    {
        return Ok(n);
    }
    // A full international number written without '+' (no national format matched).
    if digits.len() >= MIN_BARE_INTERNATIONAL
        && let Ok(n) = international(&digits)
    {
        return Ok(n);
    }
    Err(NormaliseError::NotANumber {
        digits,
        country: country.to_owned(),
    })
}

/// Emergency numbers per country. Exact matches only: `1010` is not `101`.
const EMERGENCY: &[(&[&str], &[&str])] = &[
    (
        &["RU", "KZ", "BY", "UA"],
        &["112", "101", "102", "103", "104"],
    ),
    (&["IT", "VA", "SM"], &["112", "113", "115", "118"]),
    (&["US", "CA", "PR", "VI", "GU", "MP", "AS"], &["911"]),
    (&["MX"], &["911"]),
    (&["GB", "IE"], &["999", "112"]),
    (&["AU"], &["000", "112"]),
    (&["NZ"], &["111"]),
    (&["JP"], &["110", "118", "119"]),
    (&["CN"], &["110", "119", "120", "122"]),
    (&["IN"], &["112", "100", "101", "102", "108"]),
    (&["DE"], &["112", "110"]),
    (&["FR"], &["112", "15", "17", "18", "114", "115", "119"]),
    (&["CH"], &["112", "117", "118", "144"]),
    (&["AT"], &["112", "122", "133", "144"]),
    (&["BR"], &["190", "192", "193"]),
];

/// The default where no country is listed: 112, the European and GSM emergency number.
const EMERGENCY_DEFAULT: &[&str] = &["112"];

/// The emergency numbers of a country (`RU` → 112, 101–104; `IT` → 112, 113, 115, 118;
/// `US`/`CA` → 911; others 112 unless listed). The tenant validator rejects an
/// extension equal to one of these.
pub fn emergency_numbers(country: &str) -> &'static [&'static str] {
    EMERGENCY
        .iter()
        .find(|(countries, _)| countries.contains(&country))
        .map_or(EMERGENCY_DEFAULT, |(_, numbers)| numbers)
}

/// Whether `dialed` is exactly one of `country`'s emergency numbers.
pub fn is_emergency_number(country: &str, dialed: &str) -> bool {
    emergency_numbers(country).contains(&dialed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_tables_are_sorted_so_binary_search_works() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(SHARED_CODE_AREAS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn every_country_in_the_tables_is_an_iso_code_or_a_documented_exception() {
        for (_, c) in CALLING_CODES.iter().chain(SHARED_CODE_AREAS) {
            assert!(
                pbx_core::is_country_code(c) || *c == NON_GEOGRAPHIC || *c == "XK",
                "{c}"
            );
        }
    }

    #[test]
    fn no_shared_area_shadows_a_whole_country_code() {
        // A shared area must be longer than the country code it lies in.
        for (prefix, _) in SHARED_CODE_AREAS {
            let code = country_code_of(prefix).unwrap();
            assert!(prefix.len() > code.len(), "{prefix}");
        }
    }

    #[test]
    fn country_codes_map_numbers_to_countries() {
        let c = |n| country_of(n).map(|o| o.country);
        assert_eq!(c("+23276123456"), Some("SL"));
        assert_eq!(c("+390612345678"), Some("IT"));
        assert_eq!(c("+33123456789"), Some("FR"));
        assert_eq!(c("+79257410726"), Some("RU"));
        assert_eq!(c("+74952216005"), Some("RU"));
        assert_eq!(c("+77012345678"), Some("KZ"));
        assert_eq!(c("+76123456789"), Some("KZ"));
        assert_eq!(c("+12125551234"), Some("US"));
        assert_eq!(c("+18765551234"), Some("JM"));
        assert_eq!(c("+18095551234"), Some("DO"));
        assert_eq!(c("+18295551234"), Some("DO"));
        assert_eq!(c("+12845551234"), Some("VG"));
        assert_eq!(c("+16495551234"), Some("TC"));
        assert_eq!(c("+17875551234"), Some("PR"));
        assert_eq!(c("+14165551234"), Some("CA"));
        assert_eq!(c("+18005551234"), Some("US"));
        assert_eq!(c("+358181234567"), Some("AX"));
        assert_eq!(c("+358401234567"), Some("FI"));
        assert_eq!(c("+8816123456"), Some(NON_GEOGRAPHIC));
        assert_eq!(c("+2"), None);
        assert_eq!(c("+0123"), None);
        assert_eq!(c("12x"), None);
        assert_eq!(c(""), None);
    }

    #[test]
    fn the_origin_names_the_matched_prefix() {
        let sl = country_of("+23276123456").unwrap();
        assert_eq!((sl.country_code, sl.prefix), ("232", "232"));
        assert_eq!(sl.to_string(), "SL (+232)");
        let jm = country_of("+18765551234").unwrap();
        assert_eq!((jm.country_code, jm.prefix), ("1", "1876"));
        assert_eq!(
            country_of("+8816123456").unwrap().to_string(),
            "non-geographic numbers (+881)"
        );
    }

    #[test]
    fn calling_codes_are_found_for_countries_in_either_table() {
        assert_eq!(calling_code("IT"), Some("39"));
        assert_eq!(calling_code("KZ"), Some("7"));
        assert_eq!(calling_code("JM"), Some("1"));
        assert_eq!(calling_code("AX"), Some("358"));
        assert_eq!(calling_code("ZZ"), None);
    }

    #[test]
    fn us_territories_are_domestic_for_the_us_but_canada_and_jamaica_are_not() {
        assert!(is_domestic("US", "PR"));
        assert!(is_domestic("PR", "US"));
        assert!(is_domestic("US", "US"));
        assert!(!is_domestic("US", "CA"));
        assert!(!is_domestic("US", "JM"));
        assert!(!is_domestic("RU", "KZ"));
    }

    #[test]
    fn russian_users_dial_8_national_810_international_or_e164() {
        assert_eq!(normalise("RU", "89257410726").unwrap(), "+79257410726");
        assert_eq!(normalise("RU", "9257410726").unwrap(), "+79257410726");
        assert_eq!(normalise("RU", "79257410726").unwrap(), "+79257410726");
        assert_eq!(normalise("RU", "+79257410726").unwrap(), "+79257410726");
        assert_eq!(normalise("RU", "81039061234567").unwrap(), "+39061234567");
        assert_eq!(normalise("RU", "8-925-741-07-26").unwrap(), "+79257410726");
        assert_eq!(normalise("RU", "8(495)2216005").unwrap(), "+74952216005");
        // 8 + 9 digits is too short to be national; not international either.
        assert!(matches!(
            normalise("RU", "892574107"),
            Err(NormaliseError::NotANumber { .. })
        ));
    }

    #[test]
    fn kazakh_numbers_dialed_from_russia_normalise_to_plus_7() {
        assert_eq!(normalise("RU", "87012345678").unwrap(), "+77012345678");
    }

    #[test]
    fn italian_users_keep_the_zero_of_geographic_numbers() {
        assert_eq!(normalise("IT", "0612345678").unwrap(), "+390612345678");
        assert_eq!(normalise("IT", "3471234567").unwrap(), "+393471234567");
        assert_eq!(normalise("IT", "800123456").unwrap(), "+39800123456");
        assert_eq!(normalise("IT", "0033123456789").unwrap(), "+33123456789");
        assert_eq!(normalise("IT", "+390612345678").unwrap(), "+390612345678");
        // Too long for a national number: E.164 without '+'.
        assert_eq!(normalise("IT", "390612345678").unwrap(), "+390612345678");
        assert_eq!(normalise("IT", "33123456789").unwrap(), "+33123456789");
        // 5 digits is no Italian number.
        assert!(normalise("IT", "06123").is_err());
    }

    #[test]
    fn nanp_users_dial_10_digits_1_plus_10_or_011() {
        assert_eq!(normalise("US", "2125551234").unwrap(), "+12125551234");
        assert_eq!(normalise("US", "12125551234").unwrap(), "+12125551234");
        assert_eq!(normalise("CA", "4165551234").unwrap(), "+14165551234");
        assert_eq!(normalise("US", "01144207946000").unwrap(), "+44207946000");
        assert_eq!(normalise("JM", "8765551234").unwrap(), "+18765551234");
        // An area code cannot start with 0 or 1.
        assert!(normalise("US", "0125551234").is_err());
    }

    #[test]
    fn other_countries_use_the_00_and_0_defaults_or_their_table_entry() {
        assert_eq!(normalise("DE", "030123456").unwrap(), "+4930123456");
        assert_eq!(normalise("DE", "0039061234567").unwrap(), "+39061234567");
        assert_eq!(normalise("GB", "02079460000").unwrap(), "+442079460000");
        assert_eq!(normalise("JP", "0312345678").unwrap(), "+81312345678");
        assert_eq!(normalise("JP", "01012125551234").unwrap(), "+12125551234");
        assert_eq!(normalise("AU", "0212345678").unwrap(), "+61212345678");
        assert_eq!(normalise("HU", "0612345678").unwrap(), "+3612345678");
        assert_eq!(normalise("ES", "912345678").unwrap(), "+34912345678");
        assert_eq!(normalise("SL", "076123456").unwrap(), "+23276123456");
        // Too short for any E.164 number.
        assert!(normalise("DE", "01000").is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(normalise("RU", ""), Err(NormaliseError::Empty));
        assert_eq!(normalise("RU", "+"), Err(NormaliseError::Empty));
        assert!(matches!(
            normalise("RU", "12a"),
            Err(NormaliseError::NotDigits(_))
        ));
        assert!(matches!(
            normalise("RU", "8+9"),
            Err(NormaliseError::NotDigits(_))
        ));
        assert!(matches!(
            normalise("RU", "9é"),
            Err(NormaliseError::NotDigits(_))
        ));
        assert!(matches!(
            normalise("RU", "+0123456789"),
            Err(NormaliseError::UnknownCountryCode(_))
        ));
        assert!(matches!(
            normalise("RU", "+7925741072612345"),
            Err(NormaliseError::BadLength(_))
        ));
        assert!(matches!(
            normalise("ZZ", "123456"),
            Err(NormaliseError::UnknownCountry(_))
        ));
        assert_eq!(
            normalise("RU", "810").unwrap_err().to_string(),
            "\"810\" is not a number as dialed in RU"
        );
    }

    #[test]
    fn emergency_numbers_are_per_country_with_112_as_the_default() {
        assert_eq!(
            emergency_numbers("RU"),
            &["112", "101", "102", "103", "104"]
        );
        assert_eq!(emergency_numbers("IT"), &["112", "113", "115", "118"]);
        assert_eq!(emergency_numbers("US"), &["911"]);
        assert_eq!(emergency_numbers("CA"), &["911"]);
        assert_eq!(emergency_numbers("NL"), &["112"]);
        assert!(is_emergency_number("RU", "101"));
        assert!(!is_emergency_number("RU", "1010"));
        assert!(!is_emergency_number("US", "112"));
    }
}
