//! Schedules: parsing, weekly rules, holidays, special hours, midnight and DST.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use pbx_core::{Destination, Schedule, TenantConfig};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn weekday(date: &str) -> Weekday {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .weekday()
}

/// A tenant with one schedule whose body (indented under `- name: s`) is `body`.
fn tenant(body: &str) -> String {
    format!(
        "domain: office.example\nschedules:\n  - name: s\n    in_hours: hangup\n    after_hours: announce:closed\n{body}"
    )
}

fn schedule(body: &str) -> Schedule {
    let t = TenantConfig::from_yaml_str(&tenant(body)).unwrap();
    t.schedule("s").unwrap().clone()
}

fn err(body: &str) -> String {
    TenantConfig::from_yaml_str(&tenant(body))
        .unwrap_err()
        .to_string()
}

const MOSCOW: &str = "    timezone: Europe/Moscow\n    weekly:\n      mon-fri: [09:00-13:00, 14:00-18:00]\n      sat: 10:00-14:00\n";

#[test]
fn weekly_ranges_apply_in_the_schedules_own_time_zone() {
    assert_eq!(weekday("2026-11-30"), Weekday::Mon);
    let s = schedule(MOSCOW);
    // Moscow is UTC+3 all year.
    assert!(!s.is_open(utc("2026-11-30T05:59:59Z")), "08:59:59 MSK");
    assert!(s.is_open(utc("2026-11-30T06:00:00Z")), "09:00 MSK");
    assert!(s.is_open(utc("2026-11-30T09:59:00Z")), "12:59 MSK");
    assert!(
        !s.is_open(utc("2026-11-30T10:30:00Z")),
        "13:30 MSK is lunch"
    );
    assert!(s.is_open(utc("2026-11-30T14:59:59Z")), "17:59:59 MSK");
    assert!(
        !s.is_open(utc("2026-11-30T15:00:00Z")),
        "18:00 MSK is closed"
    );
    assert!(s.is_open(utc("2026-12-05T07:30:00Z")), "Saturday 10:30 MSK");
    assert!(
        !s.is_open(utc("2026-12-05T11:00:00Z")),
        "Saturday 14:00 MSK"
    );
    assert!(!s.is_open(utc("2026-12-06T08:00:00Z")), "Sunday");
}

#[test]
fn the_schedule_routes_to_in_hours_or_after_hours() {
    let t = TenantConfig::from_yaml_str(&format!(
        "domain: office.example\nivrs:\n  - {{name: day}}\n  - {{name: night}}\nnumbers:\n  - {{number: \"+74952216005\", route: schedule:office-hours}}\n\
         schedules:\n  - name: office-hours\n    in_hours: ivr:day\n    after_hours: ivr:night\n{MOSCOW}"
    ))
    .unwrap();
    let s = t.schedule("office-hours").unwrap();
    assert!(t.schedule("other").is_none());
    assert_eq!(
        s.destination(utc("2026-11-30T07:00:00Z")),
        &Destination::Ivr("day".into())
    );
    assert_eq!(
        s.destination(utc("2026-11-30T20:00:00Z")),
        &Destination::Ivr("night".into())
    );
}

#[test]
fn a_range_ending_before_it_starts_runs_past_midnight() {
    assert_eq!(weekday("2026-12-04"), Weekday::Fri);
    let s = schedule("    timezone: Europe/Moscow\n    weekly: {fri: 22:00-02:00}\n");
    assert!(!s.is_open(utc("2026-12-04T18:59:00Z")), "Friday 21:59");
    assert!(s.is_open(utc("2026-12-04T19:00:00Z")), "Friday 22:00");
    assert!(s.is_open(utc("2026-12-04T21:00:00Z")), "Saturday 00:00");
    assert!(s.is_open(utc("2026-12-04T22:59:59Z")), "Saturday 01:59:59");
    assert!(!s.is_open(utc("2026-12-04T23:00:00Z")), "Saturday 02:00");
    assert!(
        !s.is_open(utc("2026-12-03T21:00:00Z")),
        "Friday 00:00 follows Thursday, which has no night range"
    );
}

#[test]
fn the_whole_day_is_written_00_00_to_24_00() {
    let s = schedule("    timezone: UTC\n    weekly: {sun: 00:00-24:00}\n");
    assert_eq!(weekday("2026-12-06"), Weekday::Sun);
    assert!(s.is_open(utc("2026-12-06T00:00:00Z")));
    assert!(s.is_open(utc("2026-12-06T23:59:59Z")));
    assert!(!s.is_open(utc("2026-12-07T00:00:00Z")));
    assert!(!s.is_open(utc("2026-12-05T23:59:59Z")));
}

#[test]
fn holidays_close_single_dates_yearly_dates_and_ranges() {
    let s = schedule(&format!(
        "{MOSCOW}    closed: [2026-12-31, 01-01, 2027-01-04..2027-01-08, 12-24..12-26]\n"
    ));
    let at_10_msk = |date: &str| utc(&format!("{date}T07:00:00Z"));
    assert!(s.is_open(at_10_msk("2026-12-30")), "a normal Wednesday");
    assert!(!s.is_open(at_10_msk("2026-12-31")), "a single date");
    assert!(!s.is_open(at_10_msk("2027-01-01")), "01-01 in 2027");
    assert!(!s.is_open(at_10_msk("2031-01-01")), "01-01 in 2031");
    for day in ["2027-01-04", "2027-01-06", "2027-01-08"] {
        assert!(!s.is_open(at_10_msk(day)), "{day} is inside the range");
    }
    assert!(s.is_open(at_10_msk("2027-01-11")), "the Monday after");
    assert!(!s.is_open(at_10_msk("2029-12-24")), "a yearly range");
    assert!(s.is_open(at_10_msk("2029-12-27")), "the day after it");
}

#[test]
fn special_hours_replace_the_weekly_rule_and_beat_holidays() {
    assert_eq!(weekday("2026-12-27"), Weekday::Sun);
    let s = schedule(&format!(
        "{MOSCOW}    closed: [12-24..12-31]\n    open:\n      2026-12-27: 10:00-12:00\n      12-30: [10:00-11:00]\n      2026-12-30: [09:00-15:00]\n"
    ));
    assert!(
        s.is_open(utc("2026-12-27T08:00:00Z")),
        "a Sunday opened for 10:00-12:00 inside the holidays"
    );
    assert!(!s.is_open(utc("2026-12-27T09:00:00Z")), "12:00 MSK");
    assert!(
        s.is_open(utc("2026-12-30T10:30:00Z")),
        "13:30 MSK: the dated entry wins over the yearly one, and has no lunch break"
    );
    assert!(!s.is_open(utc("2026-12-30T12:00:00Z")), "15:00 MSK");
    assert!(
        s.is_open(utc("2027-12-30T07:30:00Z")),
        "in 2027 only the yearly 10:00-11:00 applies"
    );
    assert!(!s.is_open(utc("2027-12-30T08:30:00Z")), "11:30 MSK in 2027");
    assert!(!s.is_open(utc("2026-12-29T07:00:00Z")), "a plain holiday");
}

#[test]
fn a_night_range_belongs_to_the_day_it_starts_on() {
    // Friday 2026-12-04 is a working day, Saturday a holiday: the night goes on.
    let s = schedule(
        "    timezone: UTC\n    weekly: {fri: 22:00-02:00}\n    closed: [2026-12-05, 2026-12-11]\n",
    );
    assert!(s.is_open(utc("2026-12-05T01:00:00Z")));
    // Friday 2026-12-11 is a holiday: its night range never opens.
    assert!(!s.is_open(utc("2026-12-11T23:00:00Z")));
    assert!(!s.is_open(utc("2026-12-12T01:00:00Z")));
}

/// Minutes the schedule is open between `from` and `to` (UTC), sampled each minute.
fn open_minutes(s: &Schedule, from: &str, to: &str) -> i64 {
    let (mut t, end) = (utc(from), utc(to));
    let mut n = 0;
    while t < end {
        if s.is_open(t) {
            n += 1;
        }
        t += Duration::minutes(1);
    }
    n
}

#[test]
fn rome_spring_forward_skips_the_missing_hour() {
    // 2026-03-29: at 02:00 CET (01:00 UTC) clocks go to 03:00 CEST.
    assert_eq!(weekday("2026-03-29"), Weekday::Sun);
    let missing = schedule("    timezone: Europe/Rome\n    weekly: {sun: 02:00-03:00}\n");
    assert_eq!(
        open_minutes(&missing, "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),
        0,
        "02:00-03:00 does not exist on the clock that night"
    );
    let s = schedule("    timezone: Europe/Rome\n    weekly: {sun: 01:00-03:30}\n");
    assert!(s.is_open(utc("2026-03-29T00:00:00Z")), "01:00 CET");
    assert!(s.is_open(utc("2026-03-29T00:59:00Z")), "01:59 CET");
    assert!(s.is_open(utc("2026-03-29T01:00:00Z")), "03:00 CEST");
    assert!(!s.is_open(utc("2026-03-29T01:30:00Z")), "03:30 CEST");
    assert_eq!(
        open_minutes(&s, "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),
        90,
        "two and a half hours on the clock last one and a half"
    );
    // The offset itself: 09:00 is 08:00 UTC in winter and 07:00 UTC in summer.
    let office = schedule("    timezone: Europe/Rome\n    weekly: {mon-fri: 09:00-18:00}\n");
    assert_eq!(weekday("2026-03-27"), Weekday::Fri);
    assert!(!office.is_open(utc("2026-03-27T07:59:00Z")));
    assert!(office.is_open(utc("2026-03-27T08:00:00Z")));
    assert_eq!(weekday("2026-03-30"), Weekday::Mon);
    assert!(office.is_open(utc("2026-03-30T07:00:00Z")));
    assert!(!office.is_open(utc("2026-03-30T06:59:00Z")));
    assert!(!office.is_open(utc("2026-03-30T16:00:00Z")), "18:00 CEST");
}

#[test]
fn rome_fall_back_opens_the_repeated_hour_both_times() {
    // 2026-10-25: at 03:00 CEST (01:00 UTC) clocks go back to 02:00 CET.
    assert_eq!(weekday("2026-10-25"), Weekday::Sun);
    let s = schedule("    timezone: Europe/Rome\n    weekly: {sun: 02:15-02:45}\n");
    assert!(s.is_open(utc("2026-10-25T00:30:00Z")), "02:30 CEST");
    assert!(!s.is_open(utc("2026-10-25T00:50:00Z")), "02:50 CEST");
    assert!(!s.is_open(utc("2026-10-25T01:00:00Z")), "02:00 CET");
    assert!(s.is_open(utc("2026-10-25T01:30:00Z")), "02:30 CET");
    assert_eq!(
        open_minutes(&s, "2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
        60
    );
    let night = schedule("    timezone: Europe/Rome\n    weekly: {sat: 22:00-06:00}\n");
    assert_eq!(
        open_minutes(&night, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        9 * 60,
        "eight hours on the clock last nine"
    );
}

#[test]
fn schedule_mistakes_are_one_line_errors_with_their_path() {
    assert_eq!(
        err("    timezone: Moscow\n"),
        "schedules[0].timezone: \"Moscow\" is not an IANA time zone name (e.g. Europe/Moscow, Europe/Rome, UTC)"
    );
    assert_eq!(
        err("    weekly: {mon: 09:00-18:00}\n"),
        "schedules[0]: missing required key \"timezone\""
    );
    assert_eq!(
        err("    timezone: UTC\n    weekly: {mon-fry: 09:00-18:00}\n"),
        "schedules[0].weekly: \"mon-fry\" is not a list of days (mon, tue, wed, thu, fri, sat, sun; a range like mon-fri; a list like sat,sun)"
    );
    assert_eq!(
        err("    timezone: UTC\n    weekly: {mon: [09:00-13:00, 9-18]}\n"),
        "schedules[0].weekly.mon[1]: \"9-18\" is not a time range (HH:MM-HH:MM, e.g. 09:00-18:00; 22:00-02:00 crosses midnight)"
    );
    assert_eq!(
        err("    timezone: UTC\n    weekly: {mon: 09:00-09:00}\n"),
        "schedules[0].weekly.mon: \"09:00-09:00\" is not a time range (HH:MM-HH:MM, e.g. 09:00-18:00; 22:00-02:00 crosses midnight)"
    );
    assert_eq!(
        err("    timezone: UTC\n    closed: [2026-02-29]\n"),
        "schedules[0].closed[0]: \"2026-02-29\" is not a date (YYYY-MM-DD, MM-DD for every year, or FROM..TO)"
    );
    assert_eq!(
        err("    timezone: UTC\n    open: {31.12: 10:00-12:00}\n"),
        "schedules[0].open: \"31.12\" is not a date (YYYY-MM-DD, MM-DD for every year, or FROM..TO)"
    );
    assert_eq!(
        err("    timezone: UTC\n    weekly: [mon]\n"),
        "schedules[0].weekly: expected a mapping, found a list"
    );
    assert_eq!(
        err("    timezone: UTC\n    hours: {}\n"),
        "schedules[0]: unknown key \"hours\" (expected one of: name, timezone, weekly, closed, open, in_hours, after_hours)"
    );
    assert_eq!(
        TenantConfig::from_yaml_str(
            "domain: a.example\nschedules:\n  - {name: s, timezone: UTC, in_hours: hangup}\n"
        )
        .unwrap_err()
        .to_string(),
        "schedules[0]: missing required key \"after_hours\""
    );
    assert_eq!(
        TenantConfig::from_yaml_str(
            "domain: a.example\nschedules:\n  - {name: s, timezone: UTC, in_hours: hangup, after_hours: hangup}\n  - {name: s, timezone: UTC, in_hours: hangup, after_hours: hangup}\n"
        )
        .unwrap_err()
        .to_string(),
        "schedules[1].name: \"s\" is already used by schedules[0]"
    );
    assert_eq!(
        TenantConfig::from_yaml_str(
            "domain: a.example\nschedules:\n  - {name: s, timezone: UTC, in_hours: user:10, after_hours: hangup}\n"
        )
        .unwrap_err()
        .to_string(),
        "schedules[0].in_hours: user:10 does not exist in this tenant"
    );
}

#[test]
fn schedules_that_lead_back_to_themselves_are_refused() {
    let file = |schedules: &str| {
        TenantConfig::from_yaml_str(&format!(
            "domain: a.example\nivrs:\n  - {{name: day}}\nschedules:\n{schedules}"
        ))
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        file("  - {name: a, timezone: UTC, in_hours: schedule:a, after_hours: ivr:day}\n")
            .unwrap_err(),
        "schedules[0].in_hours: schedule:a → schedule:a goes round in a circle without ringing or playing anything"
    );
    assert_eq!(
        file(
            "  - {name: a, timezone: UTC, in_hours: ivr:day, after_hours: schedule:b}\n  - {name: b, timezone: Europe/Rome, in_hours: schedule:c, after_hours: ivr:day}\n  - {name: c, timezone: UTC, in_hours: ivr:day, after_hours: schedule:a}\n"
        )
        .unwrap_err(),
        "schedules[2].after_hours: schedule:a → schedule:b → schedule:c → schedule:a goes round in a circle without ringing or playing anything"
    );
    let chain = file(
        "  - {name: a, timezone: UTC, in_hours: schedule:b, after_hours: schedule:b}\n  - {name: b, timezone: UTC, in_hours: ivr:day, after_hours: hangup}\n",
    )
    .unwrap();
    assert_eq!(chain.schedules.len(), 2, "a chain without a circle is fine");
}

#[test]
fn moments_in_unix_milliseconds_are_decided_like_utc_times() {
    let s = schedule(MOSCOW);
    let open = utc("2026-11-30T06:00:00Z");
    assert!(s.is_open_unix_ms(open.timestamp_millis()));
    assert!(!s.is_open_unix_ms(open.timestamp_millis() - 1));
    assert!(!s.is_open_unix_ms(i64::MAX));
}
