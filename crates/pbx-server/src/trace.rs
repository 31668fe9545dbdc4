//! The message trace behind `vpbx trace CALL-ID`: every SIP message received
//! and sent, with time and addresses, in a bounded in-memory ring (count and
//! bytes both capped). The oldest messages go first.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

/// One traced message.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    /// Wall-clock time, µs since the Unix epoch.
    pub at_us: u64,
    /// "in" or "out".
    pub direction: &'static str,
    pub transport: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    #[serde(skip)]
    pub call_id: Box<str>,
    /// The message text (lossy UTF-8 for display).
    #[serde(serialize_with = "lossy")]
    pub data: Bytes,
}

fn lossy<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<TraceEntry>,
    bytes: usize,
}

/// Bounded trace log shared by transports and shards.
#[derive(Debug)]
pub struct TraceLog {
    ring: Mutex<Ring>,
    max_messages: usize,
    max_bytes: usize,
}

impl TraceLog {
    pub fn new(max_messages: usize, max_bytes: usize) -> TraceLog {
        TraceLog { ring: Mutex::new(Ring::default()), max_messages, max_bytes }
    }

    pub fn enabled(&self) -> bool {
        self.max_messages > 0
    }

    pub fn record(&self, entry: TraceEntry) {
        if self.max_messages == 0 {
            return;
        }
        let size = entry.data.len() + entry.call_id.len() + 96;
        let mut ring = self.ring.lock().expect("trace lock is never poisoned: no panics while held");
        while !ring.entries.is_empty() && (ring.entries.len() >= self.max_messages || ring.bytes + size > self.max_bytes) {
            if let Some(old) = ring.entries.pop_front() {
                ring.bytes -= old.data.len() + old.call_id.len() + 96;
            }
        }
        ring.bytes += size;
        ring.entries.push_back(entry);
    }

    /// Every held message of one Call-ID, oldest first.
    pub fn find(&self, call_id: &str) -> Vec<TraceEntry> {
        let ring = self.ring.lock().expect("trace lock is never poisoned: no panics while held");
        ring.entries.iter().filter(|e| &*e.call_id == call_id).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.ring.lock().expect("trace lock is never poisoned: no panics while held").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(call_id: &str, n: usize) -> TraceEntry {
        TraceEntry {
            at_us: 0,
            direction: "in",
            transport: "udp",
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5070".parse().unwrap(),
            call_id: call_id.into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    #[test]
    fn the_ring_keeps_at_most_the_configured_count() {
        let t = TraceLog::new(3, 1 << 20);
        for i in 0..5 {
            t.record(entry(&format!("c{i}"), 10));
        }
        assert_eq!(t.len(), 3);
        assert!(t.find("c0").is_empty());
        assert_eq!(t.find("c4").len(), 1);
    }

    #[test]
    fn the_ring_keeps_at_most_the_configured_bytes() {
        let t = TraceLog::new(1000, 1000);
        for _ in 0..20 {
            t.record(entry("c", 200));
        }
        assert!(t.len() <= 3);
    }
}
