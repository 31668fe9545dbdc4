//! CPU time and memory of a process from /proc (Linux), for the server
//! being measured and for the generator itself.

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// utime + stime of `pid` (all threads) in seconds, from a /proc/PID/stat text.
pub(crate) fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // The command name may contain spaces and ')': fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // state is field 3; utime and stime are fields 14 and 15 (1-based).
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_S)
}

/// CPU seconds used so far by `pid` ("self" for this process).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    cpu_seconds_of(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// VmRSS of `pid` in kB.
pub(crate) fn rss_kb(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_a_command_name_with_spaces() {
        let stat = "42 (rtp engine) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1 1";
        assert_eq!(cpu_seconds_of(stat), Some(3.0));
        assert_eq!(cpu_seconds_of("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_resident_size() {
        assert!(cpu_seconds("self").is_some());
        assert!(rss_kb("self").unwrap() > 0);
    }
}
