//! The message trace behind `vpbx trace CALL-ID`: every SIP message received
//! and sent, with time and addresses, in a bounded in-memory ring (count and
//! bytes both capped; the oldest messages go first), and optionally appended
//! to JSON-lines files in `[trace] dir` (`trace.jsonl`, rotated to
//! `trace.1.jsonl` at [`FILE_MAX_BYTES`], so at most two files).
//!
//! The file writer is a thread fed by a bounded channel: the packet path
//! never waits for the disk; when the writer falls behind, entries are
//! dropped from the files (not from the ring) and counted.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, sync_channel};

/// Size at which `trace.jsonl` is rotated.
pub const FILE_MAX_BYTES: u64 = 64 << 20;

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
    file: Option<SyncSender<TraceEntry>>,
    /// Entries the file writer could not take.
    pub file_drops: AtomicU64,
}

impl TraceLog {
    pub fn new(max_messages: usize, max_bytes: usize) -> TraceLog {
        TraceLog {
            ring: Mutex::new(Ring::default()),
            max_messages,
            max_bytes,
            file: None,
            file_drops: AtomicU64::new(0),
        }
    }

    /// Also appends every entry to JSON-lines files in `dir`.
    pub fn with_dir(mut self, dir: &Path) -> std::io::Result<TraceLog> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = sync_channel::<TraceEntry>(16_384);
        let dir = dir.to_path_buf();
        let mut out = open_append(&dir)?;
        std::thread::Builder::new()
            .name("vpbx-trace".into())
            .spawn(move || {
                loop {
                    let e = match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                        Ok(e) => e,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            let _ = out.0.flush();
                            continue;
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let Ok(line) = serde_json::to_string(&e) else {
                        continue;
                    };
                    if out.1 + line.len() as u64 + 1 > FILE_MAX_BYTES {
                        let _ = out.0.flush();
                        let _ = std::fs::rename(dir.join("trace.jsonl"), dir.join("trace.1.jsonl"));
                        match open_append(&dir) {
                            Ok(o) => out = o,
                            Err(_) => return,
                        }
                    }
                    if writeln!(out.0, "{line}").is_ok() {
                        out.1 += line.len() as u64 + 1;
                    }
                }
                let _ = out.0.flush();
            })?;
        self.file = Some(tx);
        Ok(self)
    }

    pub fn enabled(&self) -> bool {
        self.max_messages > 0
    }

    pub fn record(&self, entry: TraceEntry) {
        if self.max_messages == 0 {
            return;
        }
        if let Some(tx) = &self.file
            && tx.try_send(entry.clone()).is_err()
        {
            self.file_drops.fetch_add(1, Relaxed);
        }
        let size = entry.data.len() + entry.call_id.len() + 96;
        let mut ring = self
            .ring
            .lock()
            .expect("trace lock is never poisoned: no panics while held");
        while !ring.entries.is_empty()
            && (ring.entries.len() >= self.max_messages || ring.bytes + size > self.max_bytes)
        {
            if let Some(old) = ring.entries.pop_front() {
                ring.bytes -= old.data.len() + old.call_id.len() + 96;
            }
        }
        ring.bytes += size;
        ring.entries.push_back(entry);
    }

    /// Every held message of one Call-ID, oldest first.
    pub fn find(&self, call_id: &str) -> Vec<TraceEntry> {
        let ring = self
            .ring
            .lock()
            .expect("trace lock is never poisoned: no panics while held");
        ring.entries
            .iter()
            .filter(|e| &*e.call_id == call_id)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ring
            .lock()
            .expect("trace lock is never poisoned: no panics while held")
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn open_append(dir: &Path) -> std::io::Result<(std::io::BufWriter<std::fs::File>, u64)> {
    let path: PathBuf = dir.join("trace.jsonl");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let len = f.metadata()?.len();
    Ok((std::io::BufWriter::new(f), len))
}

/// Reads the entries of one Call-ID back from the files in `dir` (oldest
/// file first), for `vpbx trace` when no server answers.
pub fn read_dir(dir: &Path, call_id: &str) -> std::io::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for name in ["trace.1.jsonl", "trace.jsonl"] {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        for line in text.lines() {
            if !line.contains(call_id) {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && v["call_id"] == call_id
            {
                out.push(v);
            }
        }
    }
    Ok(out)
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
    fn entries_written_to_the_trace_dir_read_back_by_call_id() {
        let dir = std::env::temp_dir().join(format!("vpbx-trace-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = TraceLog::new(10, 1 << 20).with_dir(&dir).unwrap();
        t.record(entry("a", 5));
        t.record(entry("b", 5));
        t.record(entry("a", 7));
        drop(t);
        // The writer thread exits when the log is dropped; give it a moment to flush.
        for _ in 0..100 {
            if read_dir(&dir, "a").unwrap().len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let got = read_dir(&dir, "a").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["data"], "xxxxxxx");
        let _ = std::fs::remove_dir_all(&dir);
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
