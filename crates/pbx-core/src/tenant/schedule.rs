//! Schedules (`schedules:`): office hours in the office's own time zone, so that
//! `schedule:NAME` routes a call to its `in_hours` or its `after_hours` destination.
//!
//! ```yaml
//! schedules:
//!   - name: office-hours
//!     timezone: Europe/Moscow          # IANA name; the rules below are wall-clock times there
//!     weekly:                          # when the office is open, by day of the week
//!       mon-fri: [09:00-13:00, 14:00-18:00]   # several ranges: closed for lunch
//!       sat: 10:00-14:00
//!       fri: 22:00-02:00               # crosses midnight: Friday 22:00 to Saturday 02:00
//!     closed:                          # holidays: closed all day, whatever `weekly` says
//!       - 2026-12-31                   # one date
//!       - 01-01                        # every year on 1 January
//!       - 2027-01-02..2027-01-08       # a range of dates, both ends included
//!       - 05-01..05-03                 # the same days every year
//!     open:                            # special hours on a date, instead of `weekly`
//!       2026-12-30: 09:00-15:00
//!       12-24: [10:00-12:00]
//!     in_hours: ivr:day
//!     after_hours: ivr:night
//! ```
//!
//! How a moment is decided:
//! - the moment is turned into the wall-clock date and time in `timezone` (so on the
//!   night summer time starts, an hour that does not exist on the clock is never open,
//!   and on the night it ends, the repeated hour is open or closed both times alike);
//! - the hours of a date are: its `open` entry if one matches (an entry with a year
//!   wins over a yearly one, then the first in the file), else none if a `closed`
//!   entry matches, else every `weekly` range of its day of the week (days named in
//!   several keys get all their ranges);
//! - a range belongs to the date it starts on: `fri: 22:00-02:00` keeps the office open
//!   until 02:00 on Saturday even when Saturday is a holiday, and opens nothing on a
//!   Friday that is one. `00:00-24:00` is the whole day. Ranges include their start
//!   minute and exclude their end minute (`09:00-18:00` is closed at 18:00:00).
//!
//! Days are `mon tue wed thu fri sat sun` (or the full English names), a range
//! `mon-fri` (it may wrap: `fri-mon`) or a list `sat,sun`. Dates are `YYYY-MM-DD`, or
//! `MM-DD` for every year, or `FROM..TO` of two of the same kind (a yearly range may
//! cross the new year: `12-24..01-07`).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::Destination;
use crate::error::ConfigError;
use crate::node::{Fields, Node, as_str, index, join};

/// A schedule (`schedules` entry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    /// Unique name (`schedule:NAME`).
    pub name: String,
    /// The IANA time zone the rules are written in.
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Tz,
    /// `weekly`, in file order.
    #[serde(serialize_with = "ser_weekly", skip_serializing_if = "Vec::is_empty")]
    pub weekly: Vec<WeeklyRule>,
    /// `closed`: holidays.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<DateSpec>,
    /// `open`: special hours on dates, in file order.
    #[serde(serialize_with = "ser_open", skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<SpecialHours>,
    /// Where calls go while open.
    pub in_hours: Destination,
    /// Where calls go while closed.
    pub after_hours: Destination,
}

/// One `weekly` entry: days and their opening ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyRule {
    /// The days, as written (`mon-fri`).
    pub days: Weekdays,
    /// Opening ranges on each of those days.
    pub hours: Vec<TimeRange>,
}

/// One `open` entry: special hours that replace the weekly rule on matching dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialHours {
    /// The dates.
    pub on: DateSpec,
    /// Opening ranges on those dates (empty: closed).
    pub hours: Vec<TimeRange>,
}

/// A set of days of the week, kept with its spelling (`mon-fri`, `sat,sun`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekdays {
    text: String,
    /// Bit 0 = Monday … bit 6 = Sunday.
    mask: u8,
}

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

fn day_index(s: &str) -> Option<u32> {
    DAY_NAMES
        .iter()
        .position(|(short, long)| s == *short || s == *long)
        .map(|i| u32::try_from(i).expect("seven days fit a u32"))
}

impl Weekdays {
    /// Parses `mon`, `mon-fri`, `fri-mon`, `sat,sun`, `mon-wed,fri` (case-insensitive).
    pub fn parse(s: &str) -> Option<Weekdays> {
        let text = s.trim().to_ascii_lowercase();
        let mut mask = 0u8;
        for item in text.split(',') {
            let item = item.trim();
            let (from, to) = match item.split_once('-') {
                Some((a, b)) => (day_index(a.trim())?, day_index(b.trim())?),
                None => {
                    let d = day_index(item)?;
                    (d, d)
                }
            };
            let mut d = from;
            loop {
                mask |= 1 << d;
                if d == to {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        Some(Weekdays { text, mask })
    }

    /// Whether `day` is in the set.
    pub fn contains(&self, day: Weekday) -> bool {
        self.mask & (1 << day.num_days_from_monday()) != 0
    }

    /// The spelling from the file (lower case).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A wall-clock opening range, `09:00-18:00`. An end at or before the start means the
/// range goes on past midnight into the next day (`22:00-02:00`); `24:00` is midnight
/// at the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// Minutes after midnight, 0–1439.
    start: u16,
    /// Minutes after midnight, 1–1440.
    end: u16,
}

fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let digits = |t: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl TimeRange {
    /// Parses `HH:MM-HH:MM`. `None` when malformed or empty (start = end).
    pub fn parse(s: &str) -> Option<TimeRange> {
        let (a, b) = s.split_once('-')?;
        let (start, end) = (minutes(a)?, minutes(b)?);
        if start == 1440 || start == end {
            return None;
        }
        Some(TimeRange { start, end })
    }

    /// Whether the range runs past midnight into the next day.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether a moment `secs` seconds after midnight of the range's own day is inside.
    fn covers_same_day(&self, secs: u32) -> bool {
        let (start, end) = (u32::from(self.start) * 60, u32::from(self.end) * 60);
        secs >= start && (self.crosses_midnight() || secs < end)
    }

    /// Whether a moment `secs` seconds after the following midnight is inside.
    fn covers_next_day(&self, secs: u32) -> bool {
        self.crosses_midnight() && secs < u32::from(self.end) * 60
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl serde::Serialize for TimeRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Dates in `closed` and `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateSpec {
    /// `2026-12-31`.
    Date(NaiveDate),
    /// `01-01`: that day every year (`02-29` only in leap years).
    Yearly {
        /// 1–12.
        month: u32,
        /// 1–31.
        day: u32,
    },
    /// `2027-01-02..2027-01-08`, both ends included.
    Range(NaiveDate, NaiveDate),
    /// `12-24..01-07`, every year, both ends included; may cross the new year.
    YearlyRange {
        /// `(month, day)` of the first day.
        from: (u32, u32),
        /// `(month, day)` of the last day.
        to: (u32, u32),
    },
}

fn full_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

fn month_day(s: &str) -> Option<(u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b'-' || !s.bytes().filter(|&c| c != b'-').all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let (m, d): (u32, u32) = (s.get(0..2)?.parse().ok()?, s.get(3..5)?.parse().ok()?);
    // 2000 is a leap year, so 02-29 is accepted.
    NaiveDate::from_ymd_opt(2000, m, d).map(|_| (m, d))
}

impl DateSpec {
    /// Parses `YYYY-MM-DD`, `MM-DD`, or `FROM..TO` of two of the same kind.
    pub fn parse(s: &str) -> Option<DateSpec> {
        let s = s.trim();
        if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (a.trim(), b.trim());
            if let (Some(from), Some(to)) = (full_date(a), full_date(b)) {
                return (from <= to).then_some(DateSpec::Range(from, to));
            }
            return Some(DateSpec::YearlyRange {
                from: month_day(a)?,
                to: month_day(b)?,
            });
        }
        if let Some(d) = full_date(s) {
            return Some(DateSpec::Date(d));
        }
        month_day(s).map(|(month, day)| DateSpec::Yearly { month, day })
    }

    /// Whether `date` is one of these dates.
    pub fn matches(&self, date: NaiveDate) -> bool {
        let md = (date.month(), date.day());
        match *self {
            DateSpec::Date(d) => d == date,
            DateSpec::Yearly { month, day } => md == (month, day),
            DateSpec::Range(from, to) => (from..=to).contains(&date),
            DateSpec::YearlyRange { from, to } if from <= to => (from..=to).contains(&md),
            DateSpec::YearlyRange { from, to } => md >= from || md <= to,
        }
    }

    /// Whether the dates recur every year.
    pub fn is_yearly(&self) -> bool {
        matches!(self, DateSpec::Yearly { .. } | DateSpec::YearlyRange { .. })
    }
}

impl fmt::Display for DateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ymd = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        match self {
            DateSpec::Date(d) => f.write_str(&ymd(d)),
            DateSpec::Yearly { month, day } => write!(f, "{month:02}-{day:02}"),
            DateSpec::Range(a, b) => write!(f, "{}..{}", ymd(a), ymd(b)),
            DateSpec::YearlyRange { from, to } => {
                write!(f, "{:02}-{:02}..{:02}-{:02}", from.0, from.1, to.0, to.1)
            }
        }
    }
}

impl serde::Serialize for DateSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn ser_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn ser_weekly<S: serde::Serializer>(rules: &[WeeklyRule], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(rules.iter().map(|r| (r.days.as_str(), &r.hours)))
}

fn ser_open<S: serde::Serializer>(entries: &[SpecialHours], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(entries.iter().map(|e| (e.on.to_string(), &e.hours)))
}

impl Schedule {
    /// Whether the schedule is open at `at` (see the module documentation).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone).naive_local();
        let (date, secs) = (local.date(), local.num_seconds_from_midnight());
        self.any_range(date, |r| r.covers_same_day(secs))
            || date
                .pred_opt()
                .is_some_and(|eve| self.any_range(eve, |r| r.covers_next_day(secs)))
    }

    /// [`Schedule::is_open`] for a moment given as milliseconds since the Unix epoch
    /// (how call records keep time); moments chrono cannot represent are closed.
    pub fn is_open_unix_ms(&self, ms: i64) -> bool {
        DateTime::from_timestamp_millis(ms).is_some_and(|at| self.is_open(at))
    }

    /// `in_hours` when open at `at`, else `after_hours`.
    pub fn destination(&self, at: DateTime<Utc>) -> &Destination {
        if self.is_open(at) {
            &self.in_hours
        } else {
            &self.after_hours
        }
    }

    /// Whether any opening range of `date` satisfies `pred`.
    fn any_range(&self, date: NaiveDate, pred: impl Fn(&TimeRange) -> bool) -> bool {
        let special = self
            .open
            .iter()
            .find(|e| !e.on.is_yearly() && e.on.matches(date))
            .or_else(|| {
                self.open
                    .iter()
                    .find(|e| e.on.is_yearly() && e.on.matches(date))
            });
        if let Some(e) = special {
            return e.hours.iter().any(pred);
        }
        if self.closed.iter().any(|c| c.matches(date)) {
            return false;
        }
        let day = date.weekday();
        self.weekly
            .iter()
            .filter(|r| r.days.contains(day))
            .flat_map(|r| &r.hours)
            .any(pred)
    }
}

pub(crate) const SCHEDULE_KEYS: &[&str] = &[
    "name",
    "timezone",
    "weekly",
    "closed",
    "open",
    "in_hours",
    "after_hours",
];

const RANGE_HELP: &str = "HH:MM-HH:MM, e.g. 09:00-18:00; 22:00-02:00 crosses midnight";
const DATE_HELP: &str = "YYYY-MM-DD, MM-DD for every year, or FROM..TO";

/// One range or a list of ranges.
fn ranges(node: &Node, path: &str) -> Result<Vec<TimeRange>, ConfigError> {
    let one = |n: &Node, at: &str| -> Result<TimeRange, ConfigError> {
        let s = as_str(n, at)?;
        TimeRange::parse(s).ok_or_else(|| {
            ConfigError::invalid(at, format!("\"{s}\" is not a time range ({RANGE_HELP})"))
        })
    };
    match node {
        Node::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| one(n, &index(path, i)))
            .collect(),
        Node::Null => Ok(Vec::new()),
        n => Ok(vec![one(n, path)?]),
    }
}

fn entries<'a>(f: &Fields<'a>, key: &str) -> Result<&'a [(String, Node)], ConfigError> {
    match f.get(key) {
        None => Ok(&[]),
        Some(Node::Map(entries)) => Ok(entries),
        Some(other) => Err(ConfigError::WrongType {
            path: f.at(key),
            expected: "a mapping",
            found: other.describe(),
        }),
    }
}

pub(crate) fn parse_schedule(
    node: &Node,
    path: &str,
    destination: impl Fn(&Fields<'_>, &str) -> Result<Option<Destination>, ConfigError>,
) -> Result<Schedule, ConfigError> {
    let f = Fields::new(node, path, SCHEDULE_KEYS)?;
    let name = super::object_name(&f)?;
    let tz_text = as_str(f.require("timezone")?, &f.at("timezone"))?;
    let timezone: Tz = tz_text.parse().map_err(|_| {
        ConfigError::invalid(
            f.at("timezone"),
            format!(
                "\"{tz_text}\" is not an IANA time zone name (e.g. Europe/Moscow, Europe/Rome, UTC)"
            ),
        )
    })?;

    let wp = f.at("weekly");
    let mut weekly = Vec::new();
    for (key, value) in entries(&f, "weekly")? {
        let at = join(&wp, key);
        let days = Weekdays::parse(key).ok_or_else(|| {
            ConfigError::invalid(
                &wp,
                format!(
                    "\"{key}\" is not a list of days (mon, tue, wed, thu, fri, sat, sun; a range like mon-fri; a list like sat,sun)"
                ),
            )
        })?;
        weekly.push(WeeklyRule {
            days,
            hours: ranges(value, &at)?,
        });
    }

    let cp = f.at("closed");
    let closed = f
        .list("closed")?
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let at = index(&cp, i);
            let s = as_str(n, &at)?;
            DateSpec::parse(s).ok_or_else(|| {
                ConfigError::invalid(at, format!("\"{s}\" is not a date ({DATE_HELP})"))
            })
        })
        .collect::<Result<_, _>>()?;

    let op = f.at("open");
    let mut open = Vec::new();
    for (key, value) in entries(&f, "open")? {
        let on = DateSpec::parse(key).ok_or_else(|| {
            ConfigError::invalid(&op, format!("\"{key}\" is not a date ({DATE_HELP})"))
        })?;
        open.push(SpecialHours {
            on,
            hours: ranges(value, &join(&op, key))?,
        });
    }

    let required = |key: &'static str| -> Result<Destination, ConfigError> {
        destination(&f, key)?.ok_or_else(|| ConfigError::MissingKey {
            path: path.to_owned(),
            key,
        })
    };
    Ok(Schedule {
        name,
        timezone,
        weekly,
        closed,
        open,
        in_hours: required("in_hours")?,
        after_hours: required("after_hours")?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn day_lists_accept_ranges_lists_wrapping_and_full_names() {
        let wd = Weekdays::parse("mon-fri").unwrap();
        assert!(wd.contains(Weekday::Mon) && wd.contains(Weekday::Fri));
        assert!(!wd.contains(Weekday::Sat) && !wd.contains(Weekday::Sun));
        let wrap = Weekdays::parse("fri-mon").unwrap();
        for d in [Weekday::Fri, Weekday::Sat, Weekday::Sun, Weekday::Mon] {
            assert!(wrap.contains(d), "{d}");
        }
        assert!(!wrap.contains(Weekday::Tue));
        let list = Weekdays::parse("Sat, sunday").unwrap();
        assert!(list.contains(Weekday::Sat) && list.contains(Weekday::Sun));
        assert_eq!(list.as_str(), "sat, sunday");
        assert!(Weekdays::parse("mon-fry").is_none());
        assert!(Weekdays::parse("").is_none());
        assert!(Weekdays::parse("mon,").is_none());
    }

    #[test]
    fn time_ranges_parse_and_print_canonically() {
        assert_eq!(
            TimeRange::parse("9:00-18:30").unwrap().to_string(),
            "09:00-18:30"
        );
        assert!(TimeRange::parse("22:00-02:00").unwrap().crosses_midnight());
        assert!(!TimeRange::parse("00:00-24:00").unwrap().crosses_midnight());
        for bad in [
            "9-18",
            "09:00",
            "09:00-09:00",
            "24:00-02:00",
            "25:00-26:00",
            "09:60-10:00",
            "09:0-10:00",
            "a:bc-10:00",
        ] {
            assert!(TimeRange::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dates_parse_strictly_and_match_every_year_when_yearly() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let new_year = DateSpec::parse("01-01").unwrap();
        assert!(new_year.matches(d("2026-01-01")) && new_year.matches(d("2031-01-01")));
        assert!(!new_year.matches(d("2026-01-02")));
        let xmas = DateSpec::parse("12-24..01-07").unwrap();
        assert!(xmas.matches(d("2026-12-30")) && xmas.matches(d("2027-01-07")));
        assert!(!xmas.matches(d("2027-01-08")) && !xmas.matches(d("2026-12-23")));
        let span = DateSpec::parse("2027-01-02..2027-01-08").unwrap();
        assert!(span.matches(d("2027-01-05")) && !span.matches(d("2028-01-05")));
        assert!(DateSpec::parse("02-29").unwrap().matches(d("2028-02-29")));
        for bad in [
            "2026-02-29",
            "02-30",
            "2026-12-31..2026-12-01",
            "2026-12-31..01-02",
            "2026-1-5",
            "31.12.2026",
            "13-01",
        ] {
            assert!(DateSpec::parse(bad).is_none(), "{bad}");
        }
        for s in [
            "2026-12-31",
            "01-01",
            "2027-01-02..2027-01-08",
            "12-24..01-07",
        ] {
            assert_eq!(DateSpec::parse(s).unwrap().to_string(), s);
        }
    }
}
