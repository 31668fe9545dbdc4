//! Call recordings on disk: one writer thread turns the relay's one-second chunks into WAV
//! files in the tenant's vault.
//!
//! The relay decodes and aligns both legs on its worker threads and hands over about a second
//! of 8 kHz stereo at a time ([`pbx_relay::RecordingSink`], a `try_send` into this writer's
//! channel): the packet path never waits for a disk. The writer creates the file when the
//! call is answered (`recordings/YYYY/MM/DD/HHMMSS-<call-id>.wav.part`, 16-bit PCM, the
//! caller on the left channel, the other party on the right), appends each chunk, and at the
//! last chunk patches the header and publishes the file under its final name.
//!
//! A tenant at its `limits.storage_mb`, or a full disk, refuses a new recording (a warning
//! and `vpbx_recordings_refused_total`); one that fills up during a call stops there with a
//! valid file of what was written (`vpbx_recordings_cut_total`). Calls go on either way, and
//! nothing already stored is touched.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::SystemTime;

use pbx_audio::WavWriter;
use pbx_relay::{RecordingChunk, RecordingSink};
use pbx_vault::{RecordingFile, RecordingOptions, Vault};

/// Chunks (about a second of one call each) waiting for the disk before the relay's
/// hand-overs start failing: 8 s of backlog at 1,000 recorded calls.
const QUEUE: usize = 8192;
/// fsync a long recording every so often (about 30 s of audio) rather than only at the end.
const SYNC_EVERY_BYTES: u64 = 1 << 20;

/// What a new recording is.
#[derive(Debug, Clone)]
pub(crate) struct RecordingRequest {
    pub(crate) domain: String,
    pub(crate) call_id: String,
    pub(crate) started: SystemTime,
    /// `limits.storage_mb` (0 stores nothing).
    pub(crate) quota_mb: u32,
}

enum Msg {
    Open {
        key: u64,
        req: RecordingRequest,
        path: Arc<OnceLock<String>>,
    },
    Chunk {
        key: u64,
        chunk: RecordingChunk,
    },
    Shutdown,
}

#[derive(Debug, Default)]
struct Counters {
    started: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    finished: AtomicU64,
    lost_chunks: AtomicU64,
}

/// The writer thread and its channel.
#[derive(Debug)]
pub(crate) struct Recordings {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    next_key: AtomicU64,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Open { .. } => "Open",
            Msg::Chunk { .. } => "Chunk",
            Msg::Shutdown => "Shutdown",
        })
    }
}

/// A started recording: where it will be (once the writer created it) and the sink to give
/// the relay.
pub(crate) struct Started {
    /// The path relative to the tenant's directory, set by the writer when the file exists
    /// (unset when it was refused).
    pub(crate) path: Arc<OnceLock<String>>,
    pub(crate) sink: RecordingSink,
}

impl Recordings {
    /// Starts the writer thread.
    pub(crate) fn start(vault: Vault) -> std::io::Result<Recordings> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("pbx-recordings".into())
            .spawn(move || Writer::new(vault, c).run(rx))?;
        Ok(Recordings {
            tx,
            counters,
            next_key: AtomicU64::new(1),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Asks the writer to create the file and returns the sink the relay feeds. `None` when
    /// the writer is too far behind to take even the request.
    pub(crate) fn open(&self, req: RecordingRequest) -> Option<Started> {
        let key = self.next_key.fetch_add(1, Relaxed);
        let path = Arc::new(OnceLock::new());
        let msg = Msg::Open {
            key,
            req,
            path: path.clone(),
        };
        if self.tx.try_send(msg).is_err() {
            self.counters.refused.fetch_add(1, Relaxed);
            tracing::warn!("recording not started: the recording writer is behind");
            return None;
        }
        let tx = self.tx.clone();
        let counters = self.counters.clone();
        let sink: RecordingSink = Box::new(move |chunk: RecordingChunk| {
            let last = chunk.last;
            match tx.try_send(Msg::Chunk { key, chunk }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    counters.lost_chunks.fetch_add(1, Relaxed);
                    if last {
                        // The writer ends it at shutdown at the latest.
                        tracing::warn!("recording writer is behind: a recording's end was lost");
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    counters.lost_chunks.fetch_add(1, Relaxed);
                }
            }
        });
        Some(Started { path, sink })
    }

    /// Ends the writer after the relay handed over its last chunks (call after the relay's
    /// shutdown): recordings still open are finished with what they have.
    pub(crate) fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
        let thread = self
            .thread
            .lock()
            .expect("the recordings lock is never poisoned")
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// The counters as Prometheus text.
    pub(crate) fn render(&self, o: &mut String) {
        use std::fmt::Write as _;
        let c = &self.counters;
        for (name, help, v) in [
            (
                "vpbx_recordings_started_total",
                "Call recordings started (file created).",
                &c.started,
            ),
            (
                "vpbx_recordings_finished_total",
                "Call recordings finished and published.",
                &c.finished,
            ),
            (
                "vpbx_recordings_refused_total",
                "Call recordings not started: tenant storage quota or disk full, or the writer behind.",
                &c.refused,
            ),
            (
                "vpbx_recordings_cut_total",
                "Call recordings stopped before the call's end: quota or disk full, or a write error.",
                &c.cut,
            ),
            (
                "vpbx_recording_chunks_lost_total",
                "Seconds of recorded audio the writer could not take in time (should stay 0).",
                &c.lost_chunks,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

struct Active {
    domain: String,
    /// `None` once stopped (refused or cut): chunks are dropped.
    file: Option<RecordingFile>,
    wav: WavWriter,
}

struct Writer {
    vault: Vault,
    counters: Arc<Counters>,
    active: HashMap<u64, Active>,
    buf: Vec<u8>,
}

impl Writer {
    fn new(vault: Vault, counters: Arc<Counters>) -> Writer {
        Writer {
            vault,
            counters,
            active: HashMap::new(),
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Open { key, req, path } => self.open(key, req, &path),
                Msg::Chunk { key, chunk } => self.chunk(key, chunk),
                Msg::Shutdown => break,
            }
        }
        for (_, a) in std::mem::take(&mut self.active) {
            self.finish(a);
        }
    }

    fn open(&mut self, key: u64, req: RecordingRequest, path: &OnceLock<String>) {
        let wav = WavWriter::pcm16(8000, 2);
        let opts = RecordingOptions {
            quota_mb: req.quota_mb,
            sync_every_bytes: Some(SYNC_EVERY_BYTES),
        };
        // The tenant file's 0 stores nothing (the vault's 0 would mean no limit).
        let file = if req.quota_mb == 0 {
            Err("limits.storage_mb is 0: the tenant may store nothing".to_owned())
        } else {
            self.vault
                .create_recording(&req.domain, &req.call_id, req.started, opts)
                .and_then(|mut f| f.append(&wav.provisional_header()).map(|()| f))
                .map_err(|e| e.to_string())
        };
        let file = match file {
            Ok(f) => {
                self.counters.started.fetch_add(1, Relaxed);
                if let Some(rel) = self.relative(&req.domain, f.path()) {
                    let _ = path.set(rel);
                }
                Some(f)
            }
            Err(e) => {
                self.counters.refused.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %req.domain, call_id = %req.call_id, error = %e, "call not recorded");
                None
            }
        };
        self.active.insert(
            key,
            Active {
                domain: req.domain,
                file,
                wav,
            },
        );
    }

    /// `path` relative to the tenant's directory, as the call record names it.
    fn relative(&self, domain: &str, path: &Path) -> Option<String> {
        let root = self.vault.layout().tenant_dir(domain).ok()?;
        let rel = path.strip_prefix(root).ok()?;
        rel.to_str().map(str::to_owned)
    }

    fn chunk(&mut self, key: u64, chunk: RecordingChunk) {
        let Some(a) = self.active.get_mut(&key) else {
            return;
        };
        if let Some(file) = a.file.as_mut() {
            self.buf.clear();
            let written = a
                .wav
                .write(&chunk.samples, &mut self.buf)
                .map_err(|e| e.to_string())
                .and_then(|()| file.append(&self.buf).map_err(|e| e.to_string()));
            if let Err(e) = written {
                // Nothing of this chunk is in the file (the quota check refuses whole
                // writes); the header will describe what is.
                let len = self.buf.len() as u64;
                a.wav.unwrite(len);
                self.counters.cut.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %a.domain, error = %e, "call recording stopped; the call goes on");
                if let Some(a) = self.active.remove(&key) {
                    self.finish(a);
                }
                // Later chunks find no entry and are dropped.
                return;
            }
        }
        if chunk.last
            && let Some(a) = self.active.remove(&key)
        {
            if chunk.stats.late > 0 || chunk.stats.resyncs > 0 {
                tracing::debug!(tenant = %a.domain, stats = ?chunk.stats, "recording ended");
            }
            self.finish(a);
        }
    }

    /// Writes the final header and publishes the file.
    fn finish(&mut self, mut a: Active) {
        let Some(mut file) = a.file.take() else {
            return;
        };
        self.buf.clear();
        a.wav.finish(&mut self.buf);
        let tail = file.append(&self.buf);
        let header = a.wav.header();
        let done = tail
            .and_then(|()| file.write_at(0, &header))
            .and_then(|()| file.finish());
        match done {
            Ok(_) => {
                self.counters.finished.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::error!(tenant = %a.domain, error = %e, "call recording could not be finished; its .part file is kept");
            }
        }
    }
}
