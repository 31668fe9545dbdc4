//! Saying numbers, digit strings and times as Asterisk `digits/…` prompts, per language.
//!
//! The sound sets are Asterisk core sounds (`asterisk-core-sounds-{en,ru,it}-wav`).
//! What is exact and what is approximate:
//! - **en**: cardinal numbers of any size ("twenty one" = `digits/20 digits/1`,
//!   "three hundred" = `digits/3 digits/hundred`), exact.
//! - **ru**: 0–99 exact, with the neuter forms `digits/1n`, `digits/2n` ("одно",
//!   "два") when asked ([`Gender::Neuter`], used for "сообщение"). Hundreds and thousands
//!   are approximate: the sound set has no `digits/200`… or thousand plurals, so 200 is
//!   said `digits/2 digits/hundred` ("два сто") and 5000 `digits/5 digits/thousand`.
//! - **it**: exact up to the thousands (elided `digits/21`, `digits/28`…, `cento`,
//!   `mille`, `mila`); hundreds above one are said `digits/N digits/hundred` (two words
//!   instead of "duecento").
//! - times ([`datetime`]): weekday, month, ordinal day, then the time; the word order is
//!   the English one in every language (approximate for ru and it).

/// A language with a system sound set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// English (`en_US_f_Allison`).
    En,
    /// Russian (`ru_RU_f_IvrvoiceRU`).
    Ru,
    /// Italian (`it_IT_m_Carlo`).
    It,
}

impl Lang {
    /// Every language with a sound set.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ru, Lang::It];

    /// From a tenant's `language:` (`"en"`, `"en-US"`, `"ru_RU"`, `"it"`); `None` for a
    /// language without a sound set.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            "it" => Some(Lang::It),
            _ => None,
        }
    }

    /// The two-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::It => "it",
        }
    }

    /// The directory under `/usr/share/asterisk/sounds/` the Debian package installs.
    pub fn asterisk_voice_dir(self) -> &'static str {
        match self {
            Lang::En => "en_US_f_Allison",
            Lang::Ru => "ru_RU_f_IvrvoiceRU",
            Lang::It => "it_IT_m_Carlo",
        }
    }
}

/// The grammatical gender of what is counted (matters for ru "одно сообщение").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gender {
    /// The plain form (also used for feminine, which the sound sets lack).
    Masculine,
    /// ru: `digits/1n`, `digits/2n`.
    Neuter,
}

const DIGITS: [&str; 21] = [
    "digits/0",
    "digits/1",
    "digits/2",
    "digits/3",
    "digits/4",
    "digits/5",
    "digits/6",
    "digits/7",
    "digits/8",
    "digits/9",
    "digits/10",
    "digits/11",
    "digits/12",
    "digits/13",
    "digits/14",
    "digits/15",
    "digits/16",
    "digits/17",
    "digits/18",
    "digits/19",
    "digits/20",
];

const TENS: [&str; 10] = [
    "",
    "digits/10",
    "digits/20",
    "digits/30",
    "digits/40",
    "digits/50",
    "digits/60",
    "digits/70",
    "digits/80",
    "digits/90",
];

/// Italian elided tens: ventuno, ventotto, … (index = tens - 2; [units 1, units 8]).
const IT_ELIDED: [[&str; 2]; 8] = [
    ["digits/21", "digits/28"],
    ["digits/31", "digits/38"],
    ["digits/41", "digits/48"],
    ["digits/51", "digits/58"],
    ["digits/61", "digits/68"],
    ["digits/71", "digits/78"],
    ["digits/81", "digits/88"],
    ["digits/91", "digits/98"],
];

/// English ordinals present in every set: h-1 … h-20, h-30 ….
const ORDINALS: [&str; 21] = [
    "",
    "digits/h-1",
    "digits/h-2",
    "digits/h-3",
    "digits/h-4",
    "digits/h-5",
    "digits/h-6",
    "digits/h-7",
    "digits/h-8",
    "digits/h-9",
    "digits/h-10",
    "digits/h-11",
    "digits/h-12",
    "digits/h-13",
    "digits/h-14",
    "digits/h-15",
    "digits/h-16",
    "digits/h-17",
    "digits/h-18",
    "digits/h-19",
    "digits/h-20",
];

const WEEKDAYS: [&str; 7] = [
    "digits/day-0",
    "digits/day-1",
    "digits/day-2",
    "digits/day-3",
    "digits/day-4",
    "digits/day-5",
    "digits/day-6",
];

const MONTHS: [&str; 12] = [
    "digits/mon-0",
    "digits/mon-1",
    "digits/mon-2",
    "digits/mon-3",
    "digits/mon-4",
    "digits/mon-5",
    "digits/mon-6",
    "digits/mon-7",
    "digits/mon-8",
    "digits/mon-9",
    "digits/mon-10",
    "digits/mon-11",
];

/// `n` as prompts, in the plain (masculine) form.
pub fn number(lang: Lang, n: u64) -> Vec<&'static str> {
    number_gendered(lang, n, Gender::Masculine)
}

/// `n` as prompts, agreeing with a noun of `gender` where the language and the sound set
/// can (ru 1 and 2).
pub fn number_gendered(lang: Lang, n: u64, gender: Gender) -> Vec<&'static str> {
    let mut out = Vec::new();
    if n == 0 {
        out.push(DIGITS[0]);
        return out;
    }
    match lang {
        Lang::En | Lang::Ru => en_ru(lang, n, gender, &mut out),
        Lang::It => it(n, &mut out),
    }
    out
}

fn small(n: u64) -> usize {
    // Callers pass n < 100.
    usize::try_from(n).unwrap_or(0).min(99)
}

fn en_ru(lang: Lang, mut n: u64, gender: Gender, out: &mut Vec<&'static str>) {
    for (unit, word) in [
        (1_000_000_000, "digits/billion"),
        (1_000_000, "digits/million"),
        (1_000, "digits/thousand"),
    ] {
        if n >= unit {
            en_ru(lang, n / unit, Gender::Masculine, out);
            out.push(word);
            n %= unit;
        }
    }
    if n >= 100 {
        out.push(DIGITS[small(n / 100)]);
        out.push("digits/hundred");
        n %= 100;
    }
    if n == 0 {
        return;
    }
    let neuter = lang == Lang::Ru && gender == Gender::Neuter;
    let (tens, units) = (n / 10, n % 10);
    if n <= 20 {
        out.push(match (neuter, n) {
            (true, 1) => "digits/1n",
            (true, 2) => "digits/2n",
            _ => DIGITS[small(n)],
        });
        return;
    }
    out.push(TENS[small(tens)]);
    match (neuter, units) {
        (_, 0) => {}
        (true, 1) => out.push("digits/1n"),
        (true, 2) => out.push("digits/2n"),
        _ => out.push(DIGITS[small(units)]),
    }
}

fn it(mut n: u64, out: &mut Vec<&'static str>) {
    if n >= 1_000_000_000 {
        it(n / 1_000_000_000, out);
        out.push("digits/billion");
        n %= 1_000_000_000;
    }
    if n >= 1_000_000 {
        let m = n / 1_000_000;
        if m == 1 {
            out.extend(["digits/un", "digits/million"]);
        } else {
            it(m, out);
            out.push("digits/millions");
        }
        n %= 1_000_000;
    }
    if n >= 1000 {
        let t = n / 1000;
        if t == 1 {
            out.push("digits/thousand");
        } else {
            it(t, out);
            out.push("digits/thousands");
        }
        n %= 1000;
    }
    if n >= 100 {
        let h = n / 100;
        if h > 1 {
            out.push(DIGITS[small(h)]);
        }
        out.push("digits/hundred");
        n %= 100;
    }
    if n == 0 {
        return;
    }
    if n <= 20 {
        out.push(DIGITS[small(n)]);
        return;
    }
    let (tens, units) = (n / 10, n % 10);
    match units {
        0 => out.push(TENS[small(tens)]),
        1 | 8 => out.push(IT_ELIDED[small(tens - 2)][usize::from(units == 8)]),
        u => {
            out.push(TENS[small(tens)]);
            out.push(DIGITS[small(u)]);
        }
    }
}

/// A digit string said digit by digit (`*` and `#` included; other characters skipped),
/// for extensions and phone numbers.
pub fn digits(s: &str) -> Vec<&'static str> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(DIGITS[c as usize - '0' as usize]),
            '*' => Some("digits/star"),
            '#' => Some("digits/pound"),
            _ => None,
        })
        .collect()
}

/// The day of the month as an ordinal ("twenty first" = `digits/20 digits/h-1`).
fn ordinal_day(day: u64, out: &mut Vec<&'static str>) {
    match day {
        1..=20 => out.push(ORDINALS[small(day)]),
        30 => out.push("digits/h-30"),
        21..=29 => out.extend([TENS[2], ORDINALS[small(day - 20)]]),
        31 => out.extend([TENS[3], ORDINALS[1]]),
        _ => {}
    }
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31) (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m.unsigned_abs(), d.unsigned_abs())
}

/// When a message was received: weekday, month, ordinal day, "at", then the time
/// (en: 12-hour with a.m./p.m.; ru, it: 24-hour). `utc_offset_min` is the tenant's offset
/// from UTC at that moment.
pub fn datetime(lang: Lang, unix_ms: u64, utc_offset_min: i32) -> Vec<&'static str> {
    let secs =
        i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX / 2) + i64::from(utc_offset_min) * 60;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (_, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday; 0 = Sunday
    let (hour, minute) = (
        (sod / 3600).unsigned_abs(),
        ((sod % 3600) / 60).unsigned_abs(),
    );
    let mut out = vec![
        WEEKDAYS[small(weekday.unsigned_abs()).min(6)],
        MONTHS[small(month.saturating_sub(1)).min(11)],
    ];
    ordinal_day(day, &mut out);
    out.push("digits/at");
    match lang {
        Lang::En => {
            let h12 = match hour % 12 {
                0 => 12,
                h => h,
            };
            out.extend(number(lang, h12));
            match minute {
                0 => out.push("digits/oclock"),
                1..=9 => {
                    out.push("digits/oh");
                    out.extend(number(lang, minute));
                }
                _ => out.extend(number(lang, minute)),
            }
            out.push(if hour < 12 {
                "digits/a-m"
            } else {
                "digits/p-m"
            });
        }
        Lang::Ru | Lang::It => {
            out.extend(number(lang, hour));
            if minute > 0 {
                out.extend(number(lang, minute));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_says_twenty_one_as_twenty_then_one() {
        assert_eq!(number(Lang::En, 21), ["digits/20", "digits/1"]);
        assert_eq!(number(Lang::En, 0), ["digits/0"]);
        assert_eq!(number(Lang::En, 13), ["digits/13"]);
        assert_eq!(number(Lang::En, 40), ["digits/40"]);
        assert_eq!(
            number(Lang::En, 305),
            ["digits/3", "digits/hundred", "digits/5"]
        );
        assert_eq!(
            number(Lang::En, 2_021),
            ["digits/2", "digits/thousand", "digits/20", "digits/1"]
        );
        assert_eq!(number(Lang::En, 1_000_000), ["digits/1", "digits/million"]);
    }

    #[test]
    fn russian_neuter_uses_the_one_and_two_neuter_forms_except_in_the_teens() {
        assert_eq!(number_gendered(Lang::Ru, 1, Gender::Neuter), ["digits/1n"]);
        assert_eq!(
            number_gendered(Lang::Ru, 22, Gender::Neuter),
            ["digits/20", "digits/2n"]
        );
        assert_eq!(number_gendered(Lang::Ru, 12, Gender::Neuter), ["digits/12"]);
        assert_eq!(number(Lang::Ru, 1), ["digits/1"]);
    }

    #[test]
    fn italian_elides_twenty_one_and_twenty_eight_and_says_mille_and_mila() {
        assert_eq!(number(Lang::It, 21), ["digits/21"]);
        assert_eq!(number(Lang::It, 98), ["digits/98"]);
        assert_eq!(number(Lang::It, 25), ["digits/20", "digits/5"]);
        assert_eq!(number(Lang::It, 100), ["digits/hundred"]);
        assert_eq!(number(Lang::It, 1000), ["digits/thousand"]);
        assert_eq!(number(Lang::It, 3000), ["digits/3", "digits/thousands"]);
        assert_eq!(number(Lang::It, 1_000_000), ["digits/un", "digits/million"]);
    }

    #[test]
    fn digit_strings_are_said_one_by_one_skipping_the_plus() {
        assert_eq!(
            digits("+1*0#"),
            ["digits/1", "digits/star", "digits/0", "digits/pound"]
        );
    }

    #[test]
    fn a_known_instant_is_said_with_its_weekday_month_day_and_time() {
        // 2026-11-26 14:05 UTC is a Thursday.
        let ms = 1_795_701_900_000;
        assert_eq!(
            datetime(Lang::En, ms, 0),
            [
                "digits/day-4",
                "digits/mon-10",
                "digits/20",
                "digits/h-6",
                "digits/at",
                "digits/2",
                "digits/oh",
                "digits/5",
                "digits/p-m"
            ]
        );
        // Three hours east it is 17:05 the same day.
        assert_eq!(
            datetime(Lang::Ru, ms, 180)[4..],
            ["digits/at", "digits/17", "digits/5"]
        );
    }

    #[test]
    fn language_codes_map_by_their_primary_subtag() {
        assert_eq!(Lang::from_code("en-US"), Some(Lang::En));
        assert_eq!(Lang::from_code("RU_ru"), Some(Lang::Ru));
        assert_eq!(Lang::from_code("it"), Some(Lang::It));
        assert_eq!(Lang::from_code("de"), None);
        assert_eq!(Lang::from_code(""), None);
    }
}
