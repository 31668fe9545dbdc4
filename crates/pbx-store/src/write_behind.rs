//! Write-behind for registrar bindings: the registrar answers REGISTER from memory and hands
//! the change to [`WriteBehind::submit`], which never waits for the database.
//!
//! What the server should do when `submit` returns [`WriteBehindError::Full`]: count it in a
//! metric (`vpbx_store_write_behind_rejected_total`), keep the binding in its in-memory
//! registry as usual, and carry on. The next change of that binding (its refresh, at the latest
//! after its expiry interval) is submitted again and carries the current state; until then the
//! database lags for that one binding, which matters only if the server crashes meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::{Binding, Store, StoreError};

/// One change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
// Nearly every pending change is an upsert: boxing it would add an allocation per change
// and save no memory.
#[allow(clippy::large_enum_variant)]
pub enum BindingChange {
    /// Insert or replace the binding.
    Upsert(Binding),
    /// Remove the binding with this id.
    Delete(i64),
}

impl BindingChange {
    /// The binding id changes are coalesced by: of several changes to one binding only the
    /// last is written.
    pub fn id(&self) -> i64 {
        match self {
            BindingChange::Upsert(b) => b.id,
            BindingChange::Delete(id) => *id,
        }
    }
}

/// Tuning of a [`WriteBehind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehindConfig {
    /// Pending changes are written at least this often (default 1 s).
    pub flush_interval: Duration,
    /// Also write as soon as this many distinct bindings are pending (default 5,000).
    pub flush_threshold: usize,
    /// Changes the channel holds while a flush is running; beyond it `submit` fails with
    /// [`WriteBehindError::Full`] (default 32,768: 8 s of REGISTERs at 4,000/s).
    pub channel_capacity: usize,
}

impl Default for WriteBehindConfig {
    fn default() -> Self {
        WriteBehindConfig {
            flush_interval: Duration::from_secs(1),
            flush_threshold: 5_000,
            channel_capacity: 32_768,
        }
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// Bindings upserted.
    pub upserts: usize,
    /// Bindings deleted.
    pub deletes: usize,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteBehindStats {
    /// Changes accepted by `submit`.
    pub accepted: u64,
    /// Changes refused by `submit` because the channel was full.
    pub rejected_full: u64,
    /// Changes written to the database.
    pub written: u64,
    /// Flushes that failed (their changes were kept and retried).
    pub flush_failures: u64,
    /// Distinct bindings waiting for the next flush.
    pub pending: u64,
    /// Changes in the channel, not yet taken by the flusher.
    pub queued: u64,
}

/// Why a write-behind call failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteBehindError {
    /// The channel is full; the change was not queued and is handed back.
    #[error("write-behind queue is full; the binding change was not queued")]
    Full(Box<BindingChange>),
    /// The write-behind was shut down; the change (if any) is handed back.
    #[error("write-behind is shut down")]
    Closed(Option<Box<BindingChange>>),
    /// Writing to the database failed. After `flush_now` the changes stay pending and are
    /// retried on the next tick; after `shutdown` they are lost (`pending` says how many).
    #[error("writing {pending} binding changes failed: {source}")]
    Flush {
        /// The database error.
        source: StoreError,
        /// Changes not written.
        pending: usize,
    },
}

#[allow(
    clippy::large_enum_variant,
    reason = "changes are the common message; boxing would cost an allocation per REGISTER"
)]
enum Message {
    Change(BindingChange),
    Flush(oneshot::Sender<Result<FlushReport, WriteBehindError>>),
    Shutdown(oneshot::Sender<Result<FlushReport, WriteBehindError>>),
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected_full: AtomicU64,
    written: AtomicU64,
    flush_failures: AtomicU64,
    pending: AtomicU64,
}

/// A bounded, coalescing write-behind queue for bindings with its flusher task.
///
/// Create it inside a tokio runtime with [`WriteBehind::spawn`]; share it as
/// `Arc<WriteBehind>`; call [`WriteBehind::shutdown`] on a clean stop so that nothing is lost.
#[derive(Debug)]
pub struct WriteBehind {
    tx: mpsc::Sender<Message>,
    capacity: usize,
    counters: Arc<Counters>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl WriteBehind {
    /// Starts the flusher task on the current tokio runtime.
    pub fn spawn(store: Store, config: WriteBehindConfig) -> WriteBehind {
        let capacity = config.channel_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let flusher = Flusher {
            store,
            config,
            counters: Arc::clone(&counters),
            pending: HashMap::new(),
        };
        let task = tokio::spawn(flusher.run(rx));
        WriteBehind {
            tx,
            capacity,
            counters,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a change without waiting. On [`WriteBehindError::Full`] see the module docs.
    pub fn submit(&self, change: BindingChange) -> Result<(), WriteBehindError> {
        match self.tx.try_send(Message::Change(change)) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(message)) => {
                self.counters.rejected_full.fetch_add(1, Ordering::Relaxed);
                Err(WriteBehindError::Full(Box::new(change_of(message)?)))
            }
            Err(mpsc::error::TrySendError::Closed(message)) => Err(WriteBehindError::Closed(Some(
                Box::new(change_of(message)?),
            ))),
        }
    }

    /// Writes everything submitted before this call, and returns what was written.
    pub async fn flush_now(&self) -> Result<FlushReport, WriteBehindError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Flush(reply))
            .await
            .map_err(|_| WriteBehindError::Closed(None))?;
        answer.await.map_err(|_| WriteBehindError::Closed(None))?
    }

    /// Writes everything submitted before this call and stops the flusher; later `submit`s
    /// fail with [`WriteBehindError::Closed`]. A failing final write is retried three times
    /// over about two seconds before the error is returned.
    pub async fn shutdown(&self) -> Result<FlushReport, WriteBehindError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Shutdown(reply))
            .await
            .map_err(|_| WriteBehindError::Closed(None))?;
        let result = answer.await.map_err(|_| WriteBehindError::Closed(None))?;
        let task = self
            .task
            .lock()
            .map(|mut slot| slot.take())
            .unwrap_or_default();
        if let Some(task) = task {
            // The flusher has replied and returns right after; a join error would only mean
            // it panicked, which its result already tells.
            let _ = task.await;
        }
        result
    }

    /// Counters for metrics.
    pub fn stats(&self) -> WriteBehindStats {
        WriteBehindStats {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            rejected_full: self.counters.rejected_full.load(Ordering::Relaxed),
            written: self.counters.written.load(Ordering::Relaxed),
            flush_failures: self.counters.flush_failures.load(Ordering::Relaxed),
            pending: self.counters.pending.load(Ordering::Relaxed),
            queued: (self.capacity - self.tx.capacity()) as u64,
        }
    }
}

/// The change a refused `Message::Change` carried (`submit` sends nothing else).
fn change_of(message: Message) -> Result<BindingChange, WriteBehindError> {
    match message {
        Message::Change(change) => Ok(change),
        Message::Flush(_) | Message::Shutdown(_) => Err(WriteBehindError::Closed(None)),
    }
}

struct Flusher {
    store: Store,
    config: WriteBehindConfig,
    counters: Arc<Counters>,
    pending: HashMap<i64, BindingChange>,
}

impl Flusher {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut ticker = tokio::time::interval(self.config.flush_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        // After a failed write, wait for the next tick instead of retrying on every change.
        let mut last_failed = false;
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Change(change)) => {
                        self.coalesce(change);
                        if !last_failed && self.pending.len() >= self.config.flush_threshold {
                            last_failed = self.flush().await.is_err();
                        }
                    }
                    Some(Message::Flush(reply)) => {
                        let result = self.flush().await;
                        last_failed = result.is_err();
                        let _ = reply.send(result);
                    }
                    Some(Message::Shutdown(reply)) => {
                        rx.close();
                        let result = self.drain_and_flush(&mut rx).await;
                        let _ = reply.send(result);
                        return;
                    }
                    None => {
                        // Every handle was dropped without shutdown: write what we have.
                        if let Err(e) = self.drain_and_flush(&mut rx).await {
                            tracing::error!(error = %e, "write-behind dropped without shutdown; final write failed");
                        }
                        return;
                    }
                },
                _ = ticker.tick() => {
                    if !self.pending.is_empty() {
                        last_failed = self.flush().await.is_err();
                    }
                }
            }
        }
    }

    fn coalesce(&mut self, change: BindingChange) {
        self.pending.insert(change.id(), change);
        self.counters
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    async fn drain_and_flush(
        &mut self,
        rx: &mut mpsc::Receiver<Message>,
    ) -> Result<FlushReport, WriteBehindError> {
        while let Ok(message) = rx.try_recv() {
            match message {
                Message::Change(change) => self.coalesce(change),
                Message::Flush(reply) | Message::Shutdown(reply) => {
                    // Answered after the final write below would be nicer, but these callers
                    // raced with shutdown: tell them it is closed.
                    let _ = reply.send(Err(WriteBehindError::Closed(None)));
                }
            }
        }
        let mut delay = Duration::from_millis(250);
        for _ in 0..3 {
            match self.flush().await {
                Ok(report) => return Ok(report),
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        self.flush().await
    }

    /// Writes all pending changes in one transaction. On failure they stay pending.
    async fn flush(&mut self) -> Result<FlushReport, WriteBehindError> {
        if self.pending.is_empty() {
            return Ok(FlushReport::default());
        }
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for change in self.pending.values() {
            match change {
                BindingChange::Upsert(b) => upserts.push(b.clone()),
                BindingChange::Delete(id) => deletes.push(*id),
            }
        }
        match self.store.apply_binding_changes(&upserts, &deletes).await {
            Ok(_) => {
                self.pending.clear();
                self.counters.pending.store(0, Ordering::Relaxed);
                let report = FlushReport {
                    upserts: upserts.len(),
                    deletes: deletes.len(),
                };
                self.counters
                    .written
                    .fetch_add((report.upserts + report.deletes) as u64, Ordering::Relaxed);
                Ok(report)
            }
            Err(source) => {
                self.counters.flush_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %source, pending = self.pending.len(), "write-behind flush failed; will retry");
                Err(WriteBehindError::Flush {
                    source,
                    pending: self.pending.len(),
                })
            }
        }
    }
}
