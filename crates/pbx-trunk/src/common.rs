//! Pieces the registration and qualify machines share.

use std::time::Duration;

use sip_msg::{HeaderName, Response, Transport};

/// Max-Forwards on every request vpbx originates (RFC 3261 §8.1.1.6).
pub(crate) const MAX_FORWARDS: &str = "70";

/// Where the server sends a machine's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTarget {
    /// Host name or IP (resolve per RFC 3263; an IP is used as is).
    pub host: String,
    /// Port.
    pub port: u16,
    /// UDP or TCP.
    pub transport: Transport,
}

/// `;transport=tcp` for a Contact URI, nothing for UDP.
pub(crate) fn transport_param(t: &Transport) -> String {
    match t {
        Transport::Udp => String::new(),
        other => format!(";transport={}", other.as_str().to_ascii_lowercase()),
    }
}

/// The delta-seconds of a `Retry-After` header (RFC 3261 §20.33):
/// `120`, `120 (comment)`, `120;duration=…`. Overlong numbers saturate.
pub(crate) fn retry_after(response: &Response) -> Option<Duration> {
    let v = response.headers.get(&HeaderName::RetryAfter)?;
    leading_seconds(v)
}

/// The leading decimal number of a header value, as seconds.
pub(crate) fn leading_seconds(v: &str) -> Option<Duration> {
    let v = v.trim_start();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let secs = v[..digits].bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Duration::from_secs(secs))
}

/// Caps on values the peer controls, so a bogus header cannot park a
/// machine for days.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_the_leading_seconds_and_ignores_comments_and_params() {
        assert_eq!(leading_seconds("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            leading_seconds("18000;duration=3600"),
            Some(Duration::from_secs(18000))
        );
        assert_eq!(
            leading_seconds(" 5 (back soon)"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(leading_seconds("soon"), None);
        assert_eq!(
            leading_seconds("99999999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
