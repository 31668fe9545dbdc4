//! Start-up, the background tasks, and a clean shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwap;
use pbx_registrar::{AorKey, Binding, RegistrarConfig, Source, SourceTransport};
use pbx_store::{Store, TenantId};
use sip_msg::Limits;
use tokio::sync::{mpsc, oneshot};

use crate::Ctx;
use crate::metrics::Metrics;
use crate::security::{BanRecord, Security, SecuritySettings};
use crate::shard::{Shard, ShardMsg, ShardSlot};
use crate::tenants::{Directory, TenantSnap};
use crate::trace::TraceLog;
use crate::transport::{self, Tp};

/// Everything `serve` needs, already validated (the CLI builds it from
/// vpbx.toml).
#[derive(Clone)]
pub struct Settings {
    pub listen: Vec<(Tp, SocketAddr)>,
    pub http_listen: Option<SocketAddr>,
    pub external_ip: Option<IpAddr>,
    /// Number of shards (0 = four per core: receive threads handle messages
    /// under the owning shard's lock, and more shards than threads keep them
    /// from waiting on each other).
    pub shards: usize,
    /// Threads receiving and handling SIP per UDP socket (0 = one per core).
    pub udp_threads: usize,
    /// Inbox size of each shard.
    pub queue_depth: usize,
    pub limits: Limits,
    pub registrar: RegistrarConfig,
    pub security: SecuritySettings,
    pub t1: Duration,
    pub nonce_ttl_s: u64,
    pub trace_max_messages: usize,
    pub trace_max_bytes: usize,
    /// Also append traced messages to files here.
    pub trace_dir: Option<std::path::PathBuf>,
    /// How often shards hand their binding changes to the writer (≤ 1 s).
    pub flush_interval: Duration,
    /// `false`: hand every change over at once instead of once per interval.
    pub write_behind: bool,
    /// How often the database is polled for configuration and ban changes.
    pub config_poll: Duration,
    /// Builds a tenant snapshot from its stored configuration text.
    pub build_tenant: TenantBuilder,
    /// Compiles the stored platform document (trunks, numbers, directions; secrets opened).
    pub build_platform: PlatformBuilder,
    pub own_ip_policy: crate::OwnIpPolicy,
    /// The RTP relay (`[media]`); `None` runs without media (calls get 503).
    pub relay: Option<pbx_relay::RelayConfig>,
    /// `[media] realtime_priority`: SCHED_FIFO priority of the relay workers, 0 = normal.
    pub relay_realtime_priority: u8,
    pub calls: crate::calls::CallSettings,
    /// `[sip] local_networks` as (network, prefix length).
    pub local_networks: Vec<(IpAddr, u8)>,
    /// Where prompts, voicemail and recordings live (`data_dir`).
    pub data_dir: std::path::PathBuf,
    /// `[smtp]`: voicemail to e-mail (`None`: messages stay in the mailbox).
    pub smtp: Option<SmtpSettings>,
    /// `[storage]`: the retention purge's schedule.
    pub retention: RetentionSettings,
}

/// When the retention purge runs (`[storage] purge_delay_s`, `purge_interval_s`).
#[derive(Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// After start, before the first purge.
    pub first: Duration,
    /// Between purges.
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            first: Duration::from_secs(60),
            interval: Duration::from_secs(86_400),
        }
    }
}

/// `[smtp]` as the server uses it.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://user:pass@host:port` (lettre's URL forms).
    pub url: String,
    pub from: String,
    /// First wait after a failed delivery (doubling up to 10 min).
    pub retry_initial: Duration,
}

/// Builds a tenant snapshot from (id, version, domain, stored config text).
pub type TenantBuilder =
    Arc<dyn Fn(i64, i64, &str, &str) -> Result<TenantSnap, String> + Send + Sync>;

/// Compiles the stored platform document.
pub type PlatformBuilder =
    Arc<dyn Fn(&str) -> Result<pbx_dialplan::Platform, String> + Send + Sync>;

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen: {0}")]
    Bind(std::io::Error),
    #[error("store: {0}")]
    Store(#[from] pbx_store::StoreError),
    #[error("cannot start the RTP relay: {0}")]
    Relay(std::io::Error),
}

/// Runs the server until `shutdown` resolves, then drains: receive loops
/// stop, shards finish their inboxes, pending bindings are flushed.
pub async fn serve(
    settings: Settings,
    store: Store,
    shutdown: impl std::future::Future<Output = ()>,
    ready: Option<oneshot::Sender<Vec<(Tp, SocketAddr)>>>,
) -> Result<(), ServeError> {
    // No transparent huge pages for this process: mimalloc advises them for its
    // segments, and a 2 MiB page stays resident as long as one object in it lives.
    // After a storm of 100,000 registrations that kept 930-1,230 B per contact
    // resident here, against 680-960 B without them.
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "could not disable transparent huge pages");
    }
    let (transports, udp, tcp) = transport::bind(&settings.listen)
        .await
        .map_err(ServeError::Bind)?;
    let http = match settings.http_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .map_err(ServeError::Bind)?,
        ),
        None => None,
    };
    let nshards = if settings.shards == 0 {
        4 * std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        settings.shards
    }
    .min(255);

    let (ban_tx, ban_rx) = mpsc::channel::<BanRecord>(16_384);
    let (bind_tx, bind_rx) = mpsc::channel::<BindingBatch>(nshards * 2);
    let mut inboxes = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..nshards {
        let (tx, rx) = mpsc::channel(settings.queue_depth.max(16));
        senders.push(tx);
        inboxes.push(rx);
    }

    let (directory, generation) = load_directory(&store, &settings, &Directory::default()).await?;
    let vault = match pbx_vault::Vault::open(&settings.data_dir) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(data_dir = %settings.data_dir.display(), error = %e, "no voicemail or recordings: the data directory cannot be used");
            None
        }
    };
    let mut trace = TraceLog::new(settings.trace_max_messages, settings.trace_max_bytes);
    if let Some(dir) = &settings.trace_dir
        && settings.trace_max_messages > 0
    {
        trace = trace.with_dir(dir).map_err(ServeError::Bind)?;
    }
    let mut own_ips: Vec<IpAddr> = settings.listen.iter().map(|(_, a)| a.ip()).collect();
    own_ips.dedup();
    let mut key = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut key[..]);
    // The relay reports timeouts and digits to the shard owning the call.
    let relay = match &settings.relay {
        Some(cfg) => {
            let shards = senders.clone();
            let on_event = Box::new(move |ev: pbx_relay::RelayEvent| {
                let owner = match &ev {
                    pbx_relay::RelayEvent::Timeout { owner, .. }
                    | pbx_relay::RelayEvent::Digit { owner, .. }
                    | pbx_relay::RelayEvent::App { owner, .. } => *owner,
                };
                if let Some(tx) = shards.get(crate::calls::shard_of_owner(owner)) {
                    let _ = tx.try_send(ShardMsg::Media(ev));
                }
            });
            let relay =
                pbx_relay::Relay::start(cfg.clone(), on_event).map_err(ServeError::Relay)?;
            let prio = settings.relay_realtime_priority;
            if prio > 0 {
                match relay.set_worker_priority(pbx_relay::WorkerPriority::Fifo(prio)) {
                    Ok(()) => tracing::info!(priority = prio, "relay workers run SCHED_FIFO"),
                    Err(e) => {
                        tracing::warn!(priority = prio, error = %e, "relay workers keep normal scheduling (realtime_priority needs root or CAP_SYS_NICE)")
                    }
                }
            }
            Some(relay)
        }
        None => None,
    };
    let (cdr_tx, cdr_rx) = mpsc::channel::<pbx_call::CallRecord>(65_536);
    let (queue_tx, queue_rx) = mpsc::channel::<crate::queues::QueueWrite>(65_536);
    let recordings = match &vault {
        Some(v) => match crate::recordings::Recordings::start(v.clone()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "no call recording: the writer thread could not start");
                None
            }
        },
        None => None,
    };
    // The platform document and its version, read once: the watcher polls from this
    // version, so an apply between this read and its first poll is not missed.
    let loaded_platform = load_platform(&store, &settings).await;
    let platform_version = loaded_platform.as_ref().map_or(0, |(_, v)| *v);
    let ctx = Arc::new(Ctx {
        limits: settings.limits,
        transports,
        security: Security::new(settings.security.clone(), ban_tx),
        metrics: Metrics::default(),
        trace,
        shards: senders,
        directory: ArcSwap::from_pointee(directory),
        platform: arc_swap::ArcSwapOption::from(loaded_platform.map(|(p, _)| p)),
        slots: ArcSwap::from_pointee(Vec::new()),
        registrar_cfg: settings.registrar,
        t1: settings.t1,
        nonce_key: key,
        nonce_ttl: settings.nonce_ttl_s,
        replay_guard: Arc::new(sip_auth::SharedReplayGuard::new(
            sip_auth::DEFAULT_REPLAY_CAPACITY * 2,
            16,
        )),
        own_ips,
        external_ip: settings.external_ip,
        bindings: bind_tx,
        stopping: AtomicBool::new(false),
        retry_after_s: 5,
        own_ip_policy: settings.own_ip_policy,
        flush_interval: settings.flush_interval.min(Duration::from_secs(1)),
        write_behind: settings.write_behind,
        hasher: std::hash::RandomState::new(),
        stop: tokio::sync::watch::channel(false).0,
        tcp_per_ip: std::sync::Mutex::new(HashMap::new()),
        relay,
        call_settings: settings.calls.clone(),
        presence: crate::calls::Presence::default(),
        groups: crate::groups::GroupMemories::default(),
        queues: crate::queues::Queues::new(queue_tx),
        pickups: crate::pickup::Pickups::default(),
        external: crate::external::ExternalCalls::default(),
        cdr: cdr_tx,
        local_networks: settings.local_networks.clone(),
        prompts: crate::prompts::PromptLibrary::new(
            crate::prompts::SoundRoots::new(&settings.data_dir),
            crate::prompts::DEFAULT_CACHE_BYTES,
        ),
        vault: vault.clone(),
        outbox: vault.as_ref().map(pbx_vault::Outbox::new),
        recordings,
        mwi_shared: crate::mwi::MwiShared::default(),
        mwi_limits: sip_event::subscription::Limits::default(),
        trunks: crate::trunks::TrunkBoard::default(),
    });

    // Bans and bindings from the store, before the first packet.
    let now_ms = ctx.wall_ms();
    let bans = store.list_bans(now_ms as i64).await?;
    ctx.security.load_bans(
        &bans.iter().filter_map(ban_record).collect::<Vec<_>>(),
        ctx.now(),
        now_ms,
    );
    ctx.queues.restore(store.load_queue_agents().await?);
    // Rows that expired while the server was down go first; the rest go straight from
    // the store's pages into their shards. Each shard takes a block of binding ids that
    // no other shard or node uses.
    let (purged, _) = store.purge_expired(now_ms as i64).await?;
    let mut shards: Vec<Shard> = (0..nshards)
        .map(|i| Shard::new(i, ctx.clone(), rand::random()))
        .collect();
    for shard in &mut shards {
        let block = store.take_binding_id_block(now_ms as i64).await?;
        shard.set_binding_id_block(block);
    }
    let restored_n = store
        .each_binding(now_ms as i64, |b| {
            if let Some((k, b)) = binding_from_store(&b) {
                shards[ctx.shard_for(&(k.tenant, &*k.user))].restore(now_ms, k, b);
            }
        })
        .await?;

    let mut shard_tasks = Vec::new();
    let mut slots = Vec::new();
    for (shard, rx) in shards.into_iter().zip(inboxes) {
        let slot = Arc::new(ShardSlot::new(shard));
        slots.push(slot.clone());
        shard_tasks.push(tokio::spawn(Shard::run(slot, rx)));
    }
    ctx.slots.store(Arc::new(slots));
    tracing::info!(
        shards = nshards,
        restored = restored_n,
        purged_expired = purged,
        tenants = ctx.directory().len(),
        "starting"
    );

    let store = Arc::new(store);
    let mail_task = start_mail(&settings, &ctx);
    let purge_task = tokio::spawn(purge_loop(Arc::downgrade(&ctx), settings.retention));
    let flusher = tokio::spawn(flush_bindings(store.clone(), bind_rx, ctx.clone()));
    let ban_writer = tokio::spawn(persist_bans(store.clone(), ban_rx));
    warm_music(&ctx, ctx.directory());
    let cdr_writer = tokio::spawn(write_cdrs(store.clone(), cdr_rx, ctx.directory()));
    let queue_writer = tokio::spawn(crate::queues::write_queue_events(store.clone(), queue_rx));
    let queue_ticker = tokio::spawn(queue_tick(Arc::downgrade(&ctx)));
    let watcher = tokio::spawn(watch_config(
        store.clone(),
        ctx.clone(),
        settings.clone(),
        generation,
        platform_version,
    ));

    let mut loops = Vec::new();
    let mut bound = Vec::new();
    let mut receivers = Vec::new();
    let udp_threads = if settings.udp_threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        settings.udp_threads
    };
    for (i, local) in udp {
        bound.push((Tp::Udp, local));
        let group = Arc::new(transport::UdpReceivers::default());
        for t in 0..udp_threads {
            receivers.push(
                transport::spawn_udp_receiver(ctx.clone(), i, local, t, group.clone())
                    .map_err(ServeError::Bind)?,
            );
        }
    }
    for (l, local) in tcp {
        bound.push((Tp::Tcp, local));
        loops.push(tokio::spawn(transport::tcp_accept_loop(
            ctx.clone(),
            l,
            local,
        )));
    }
    if let Some(l) = http {
        let app = crate::http::router(ctx.clone());
        loops.push(tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        }));
    }
    for (tp, a) in &bound {
        tracing::info!("listening on {}:{a}", tp.as_str());
    }
    if let Some(r) = ready {
        let _ = r.send(bound);
    }

    shutdown.await;
    tracing::info!("shutting down");
    // Trunks unregister while responses can still come in.
    crate::trunks::unregister_all(&ctx, Duration::from_secs(3)).await;
    ctx.stopping.store(true, Relaxed);
    ctx.stop.send_replace(true);
    for l in &loops {
        l.abort();
    }
    // The receive threads see `stopping` within their socket's read timeout.
    let _ = tokio::task::spawn_blocking(move || {
        for r in receivers {
            let _ = r.join();
        }
    })
    .await;
    watcher.abort();
    if let Some(t) = &mail_task {
        t.abort();
    }
    purge_task.abort();
    queue_ticker.abort();
    for tx in &ctx.shards {
        let (done, wait) = oneshot::channel();
        if tx.send(ShardMsg::Shutdown(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
    for t in shard_tasks {
        let _ = t.await;
    }
    // The shards hold the context: let go of them so the writers see the end.
    ctx.slots.store(Arc::new(Vec::new()));
    // The shards are gone; once every task let go of the context the
    // flusher's channel closes and it writes what is left.
    if let Some(r) = &ctx.relay {
        r.shutdown();
    }
    // The relay's workers handed over the ends of the recordings they carried.
    if ctx.recordings.is_some() {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(r) = &c.recordings {
                r.shutdown();
            }
        })
        .await;
    }
    drop(ctx);
    for l in loops {
        let _ = l.await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), flusher).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ban_writer).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), cdr_writer).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), queue_writer).await;
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Reads and decodes every music-on-hold class the tenants play (their `moh`, their
/// queues' `moh`, and `default`) into the prompt cache on a blocking thread, so the
/// first caller put on hold or into a queue does not wait for the files on a SIP shard.
fn warm_music(ctx: &Arc<Ctx>, dir: Arc<Directory>) {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut classes = 0usize;
        for t in dir.iter() {
            let cfg = &t.config;
            let mut wanted: Vec<&str> = vec![cfg.moh.as_str(), "default"];
            wanted.extend(cfg.queues.iter().filter_map(|q| q.moh.as_deref()));
            wanted.sort_unstable();
            wanted.dedup();
            for class in wanted {
                if ctx.prompts.moh_playlist(&cfg.domain, class).is_ok() {
                    classes += 1;
                }
            }
        }
        tracing::debug!(
            classes,
            ms = started.elapsed().as_millis() as u64,
            "music on hold loaded"
        );
    });
}

/// Runs the queues every 250 ms: retries after unanswered attempts, wrap-up ends and
/// `max_wait` need the time, not an event.
async fn queue_tick(ctx: std::sync::Weak<Ctx>) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(ctx) = ctx.upgrade() else {
            return;
        };
        ctx.queues.kick(&ctx, None);
    }
}

/// Writes call records as calls end: each is committed before the next is
/// taken (a record is durable within milliseconds of the call's end), and
/// a failed write is retried rather than lost.
async fn write_cdrs(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<pbx_call::CallRecord>,
    _dir: Arc<Directory>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let rows: Vec<pbx_store::Cdr> = batch.drain(..).map(|r| cdr_row(&r)).collect();
        let mut delay = Duration::from_millis(100);
        loop {
            match store.insert_cdrs(&rows).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, records = rows.len(), "writing call records failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

fn cdr_row(r: &pbx_call::CallRecord) -> pbx_store::Cdr {
    let to_i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    pbx_store::Cdr {
        id: 0,
        tenant_id: TenantId(r.tenant_id),
        call_id: r.call_id.clone(),
        leg_call_ids: r.leg_call_ids.clone(),
        caller: r.caller.clone(),
        caller_name: (!r.caller_name.is_empty()).then(|| r.caller_name.clone()),
        dialed: r.dialed.clone(),
        destination: (!r.destination.is_empty()).then(|| r.destination.clone()),
        start_ms: to_i(r.start_ms),
        answer_ms: r.answer_ms.map(to_i),
        end_ms: to_i(r.end_ms),
        duration_s: to_u32(r.duration_s()),
        billsec_s: to_u32(r.billsec_s()),
        disposition: match r.disposition {
            pbx_call::Disposition::Answered => pbx_store::Disposition::Answered,
            pbx_call::Disposition::NoAnswer => pbx_store::Disposition::NoAnswer,
            pbx_call::Disposition::Busy => pbx_store::Disposition::Busy,
            pbx_call::Disposition::Failed => pbx_store::Disposition::Failed,
            pbx_call::Disposition::Cancelled => pbx_store::Disposition::Cancelled,
        },
        hangup_by: match r.hangup_by {
            pbx_call::HangupBy::Caller => pbx_store::HangupBy::Caller,
            pbx_call::HangupBy::Callee => pbx_store::HangupBy::Callee,
            pbx_call::HangupBy::System => pbx_store::HangupBy::System,
        },
        sip_cause: r.sip_cause,
        hangup_reason: r.hangup_reason.clone(),
        transfers: r
            .transfers
            .iter()
            .map(|t| pbx_store::CdrTransfer {
                kind: if t.attended {
                    pbx_store::TransferKind::Attended
                } else {
                    pbx_store::TransferKind::Blind
                },
                by: t.by.clone(),
                to: t.to.clone(),
                at_ms: to_i(t.at_ms),
            })
            .collect(),
        node: String::new(),
        recording: r.recording.clone(),
        trunk: r.trunk.clone(),
    }
}

fn ban_record(b: &pbx_store::Ban) -> Option<BanRecord> {
    Some(BanRecord {
        ip: b.ip.parse().ok()?,
        until_ms: u64::try_from(b.until_ms).ok()?,
        reason: b.reason.clone(),
    })
}

/// The applied platform document, compiled, with its version; `None` when none was
/// applied or it does not load (logged: the server then has no trunks).
async fn load_platform(
    store: &Store,
    settings: &Settings,
) -> Option<(Arc<pbx_dialplan::Platform>, i64)> {
    let doc = match store.get_platform().await {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "the platform document cannot be read");
            return None;
        }
    };
    match (settings.build_platform)(&doc.config) {
        Ok(p) => Some((Arc::new(p), doc.version)),
        Err(e) => {
            tracing::error!(version = doc.version, error = %e, "the platform document does not load");
            None
        }
    }
}

/// Loads every tenant and builds the directory (reusing unchanged snapshots).
async fn load_directory(
    store: &Store,
    settings: &Settings,
    old: &Directory,
) -> Result<(Directory, i64), ServeError> {
    let generation = store.config_generation().await?;
    let all = store.load_all_tenants().await?;
    let mut snaps = Vec::with_capacity(all.len());
    for t in all {
        let id = t.row.id.0;
        if let Some(s) = old.same_version(id, t.row.version) {
            snaps.push(s);
            continue;
        }
        let text = t.config.as_deref().unwrap_or("");
        match (settings.build_tenant)(id, t.row.version, &t.row.domain, text) {
            Ok(s) => snaps.push(Arc::new(s)),
            Err(e) => {
                // Keep serving the last good snapshot of this tenant.
                tracing::error!(tenant = %t.row.domain, error = %e, "tenant config does not load");
                if let Some(s) = old.by_id(id) {
                    snaps.push(s.clone());
                }
            }
        }
    }
    Ok((Directory::new(snaps), generation))
}

/// Applies the tenants changed or deleted since `since` to `old` (an apply
/// of one tenant reads one row, not all of them).
async fn reload_changes(
    store: &Store,
    settings: &Settings,
    old: &Directory,
    since: i64,
) -> Result<(Directory, i64), ServeError> {
    let ch = store.tenant_changes_since(since).await?;
    let mut by_id: HashMap<i64, Arc<TenantSnap>> = old.iter().map(|t| (t.id, t.clone())).collect();
    by_id.retain(|_, t| !ch.deleted.iter().any(|d| d.as_str() == &*t.domain));
    for t in ch.changed {
        let id = t.row.id.0;
        let text = t.config.as_deref().unwrap_or("");
        match (settings.build_tenant)(id, t.row.version, &t.row.domain, text) {
            Ok(s) => {
                // A domain deleted and created again has a new id.
                by_id.retain(|other, o| *other == id || &*o.domain != t.row.domain.as_str());
                by_id.insert(id, Arc::new(s));
            }
            // Keep serving the last good snapshot of this tenant.
            Err(e) => {
                tracing::error!(tenant = %t.row.domain, error = %e, "tenant config does not load")
            }
        }
    }
    Ok((Directory::new(by_id.into_values()), ch.generation))
}

/// Picks up `tenant apply` / `ban remove` done by the CLI (or another node)
/// by polling two generation counters in the database.
async fn watch_config(
    store: Arc<Store>,
    ctx: Arc<Ctx>,
    settings: Settings,
    mut generation: i64,
    mut platform_version: i64,
) {
    let mut ban_generation = store.bans_generation().await.unwrap_or(0);
    let mut tick = tokio::time::interval(settings.config_poll);
    loop {
        tick.tick().await;
        match store.platform_version().await {
            Ok(v) if v != platform_version => {
                // A platform document that does not load keeps the last good one.
                if let Some((p, v)) = load_platform(&store, &settings).await {
                    tracing::info!(
                        version = v,
                        trunks = p.config().trunks.len(),
                        numbers = p.config().numbers.len(),
                        "platform reloaded"
                    );
                    ctx.platform.store(Some(p));
                }
                platform_version = v;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "platform poll failed"),
        }
        match store.config_generation().await {
            Ok(g) if g != generation => {
                match reload_changes(&store, &settings, &ctx.directory(), generation).await {
                    Ok((dir, g2)) => {
                        let dir = Arc::new(dir);
                        ctx.directory.store(dir.clone());
                        warm_music(&ctx, dir.clone());
                        for tx in &ctx.shards {
                            let _ = tx.send(ShardMsg::Tenants(dir.clone())).await;
                        }
                        tracing::info!(
                            generation = g2,
                            tenants = dir.len(),
                            "configuration reloaded"
                        );
                        generation = g2;
                    }
                    Err(e) => tracing::error!(error = %e, "configuration reload failed"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "config poll failed"),
        }
        match store.bans_generation().await {
            Ok(g) if g != ban_generation => {
                let now_ms = ctx.wall_ms();
                if let Ok(bans) = store.list_bans(now_ms as i64).await {
                    let recs: Vec<BanRecord> = bans.iter().filter_map(ban_record).collect();
                    ctx.security.load_bans(&recs, ctx.now(), now_ms);
                    ban_generation = g;
                }
            }
            _ => {}
        }
    }
}

async fn persist_bans(store: Arc<Store>, mut rx: mpsc::Receiver<BanRecord>) {
    while let Some(b) = rx.recv().await {
        if let Err(e) = store
            .put_ban(&b.ip.to_string(), b.until_ms as i64, &b.reason)
            .await
        {
            tracing::warn!(error = %e, "could not store a ban");
        }
    }
}

/// A batch of binding changes by binding id: the row to write, or `None` to delete.
pub(crate) type BindingBatch = HashMap<i64, Option<pbx_store::Binding>>;

/// The write-behind writer. Shards coalesce their changes and hand over
/// their batch once a second when this writer can take it; while it is
/// busy (a slow disk) they keep coalescing, so nothing is lost and memory
/// stays bounded by the number of bindings. Everything handed over is
/// written in one transaction; when the channel closes (shutdown, after the
/// shards handed over their last batch) the rest is written.
async fn flush_bindings(store: Arc<Store>, mut rx: mpsc::Receiver<BindingBatch>, ctx: Arc<Ctx>) {
    drop(ctx);
    let mut pending = BindingBatch::new();
    while let Some(batch) = rx.recv().await {
        if pending.is_empty() {
            pending = batch;
        } else {
            pending.extend(batch);
        }
        while let Ok(more) = rx.try_recv() {
            pending.extend(more);
        }
        write(&store, &mut pending).await;
    }
    write(&store, &mut pending).await;
}

async fn write(store: &Store, pending: &mut BindingBatch) {
    if pending.is_empty() {
        return;
    }
    let mut ups = Vec::new();
    let mut dels = Vec::new();
    for (k, v) in pending.drain() {
        match v {
            Some(b) => ups.push(b),
            None => dels.push(k),
        }
    }
    if let Err(e) = store.apply_binding_changes(&ups, &dels).await {
        // Keep the batch for the next tick, unless a newer change for the same
        // binding arrived meanwhile (there is none: we hold the only map).
        tracing::error!(error = %e, upserts = ups.len(), deletes = dels.len(), "binding flush failed; retrying next tick");
        for b in ups {
            pending.entry(b.id).or_insert(Some(b));
        }
        for id in dels {
            pending.entry(id).or_insert(None);
        }
    }
}

pub(crate) fn binding_to_store(aor: &AorKey, b: &Binding) -> pbx_store::Binding {
    pbx_store::Binding {
        id: b.id as i64,
        tenant_id: TenantId(aor.tenant),
        aor: aor.user.to_string(),
        contact_uri: b.contact.to_string(),
        instance_id: b.instance.as_deref().map(str::to_owned),
        reg_id: b.reg_id,
        call_id: b.call_id.to_string(),
        cseq: b.cseq,
        expires_at_ms: b.expires_at_ms as i64,
        received: b.source.to_string(),
        path: b.source.flow.map(|f| format!("flow={f}")),
        user_agent: b.user_agent.as_deref().map(str::to_owned),
        qualify_status: Some(b.qualify.as_str().to_owned()),
        qualify_rtt_ms: b.qualify.rtt_ms(),
        updated_at_ms: b.updated_at_ms as i64,
    }
}

fn binding_from_store(b: &pbx_store::Binding) -> Option<(AorKey, Binding)> {
    let (tp, addr) = b.received.split_once(':')?;
    let transport = match tp {
        "udp" => SourceTransport::Udp,
        "tcp" => SourceTransport::Tcp,
        _ => return None,
    };
    let addr: SocketAddr = addr.parse().ok()?;
    Some((
        AorKey {
            tenant: b.tenant_id.0,
            user: b.aor.as_str().into(),
        },
        Binding {
            id: u64::try_from(b.id).ok()?,
            contact: b.contact_uri.as_str().into(),
            instance: b.instance_id.as_deref().map(Into::into),
            reg_id: b.reg_id,
            q: None,
            expires_at_ms: u64::try_from(b.expires_at_ms).ok()?,
            call_id: b.call_id.as_str().into(),
            cseq: b.cseq,
            // A TCP connection does not survive a restart: requests go to the
            // address until the phone reconnects and re-registers.
            source: Source {
                transport,
                addr,
                flow: None,
            },
            user_agent: b.user_agent.as_deref().map(Into::into),
            updated_at_ms: u64::try_from(b.updated_at_ms).ok()?,
            stored_expires_ms: u64::try_from(b.expires_at_ms).ok()?,
            qualify: pbx_registrar::Qualify::from_stored(
                b.qualify_status.as_deref(),
                b.qualify_rtt_ms,
            ),
        },
    ))
}

/// Voicemail to e-mail: the outbox's delivery task, when `[smtp] url` is set.
fn start_mail(settings: &Settings, ctx: &Arc<Ctx>) -> Option<tokio::task::JoinHandle<()>> {
    let (smtp, outbox) = (settings.smtp.as_ref()?, ctx.outbox.as_ref()?);
    let mailer = match pbx_vault::SmtpMailer::new(&smtp.url, &smtp.from, Duration::from_secs(30)) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "[smtp]: voicemail e-mail is off");
            return None;
        }
    };
    let (tx, mut rx) = mpsc::channel(256);
    let weak = Arc::downgrade(ctx);
    let task = outbox.spawn(
        mailer,
        pbx_vault::DeliveryConfig {
            initial_backoff: smtp.retry_initial,
            ..pbx_vault::DeliveryConfig::default()
        },
        tx,
    );
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            tracing::info!(event = ?ev, "voicemail e-mail");
            // A message deleted after mailing changes the lamp.
            if let pbx_vault::OutboxEvent::Delivered {
                domain,
                ext,
                mwi: Some(counts),
                ..
            } = &ev
                && let Some(ctx) = weak.upgrade()
            {
                ctx.mwi_changed(domain, ext, *counts);
            }
        }
    });
    Some(task)
}

/// The retention purge: shortly after start, then every interval, each
/// tenant's recordings and voicemail older than its `limits.recording_days`
/// / `limits.voicemail_days` are deleted (off the shards, in a blocking
/// thread). One log line per tenant with what was deleted; mailboxes that
/// changed get MWI.
async fn purge_loop(ctx: std::sync::Weak<Ctx>, when: RetentionSettings) {
    tokio::time::sleep(when.first).await;
    let mut tick = tokio::time::interval(when.interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(c) = ctx.upgrade() else { return };
        let Some(vault) = c.vault.clone() else { return };
        let tenants: Vec<(String, u32, u32)> = c
            .directory()
            .iter()
            .map(|t| {
                let l = &t.config.limits;
                (t.domain.to_string(), l.recording_days, l.voicemail_days)
            })
            .collect();
        drop(c);
        let ctx = ctx.clone();
        let done = tokio::task::spawn_blocking(move || purge_all(&ctx, &vault, &tenants)).await;
        if let Err(e) = done {
            tracing::error!(error = %e, "retention purge task failed");
        }
    }
}

fn purge_all(ctx: &std::sync::Weak<Ctx>, vault: &pbx_vault::Vault, tenants: &[(String, u32, u32)]) {
    for (domain, recording_days, voicemail_days) in tenants {
        let Some(ctx) = ctx.upgrade() else { return };
        if ctx.is_stopping() {
            return;
        }
        ctx.metrics.purge_runs_total.fetch_add(1, Relaxed);
        let now = std::time::SystemTime::now();
        match vault.purge(domain, now, *recording_days, *voicemail_days) {
            Ok(r) => {
                let m = &ctx.metrics;
                m.purge_recordings_deleted_total
                    .fetch_add(u64::from(r.recordings_deleted), Relaxed);
                m.purge_voicemail_deleted_total
                    .fetch_add(u64::from(r.voicemail_deleted), Relaxed);
                m.purge_bytes_freed_total.fetch_add(r.bytes_freed, Relaxed);
                tracing::info!(
                    tenant = %domain,
                    recordings = r.recordings_deleted,
                    voicemail = r.voicemail_deleted,
                    bytes = r.bytes_freed,
                    recording_days,
                    voicemail_days,
                    "retention purge"
                );
                for (ext, counts) in &r.mailboxes_changed {
                    ctx.mwi_changed(domain, ext, *counts);
                }
            }
            Err(e) => {
                ctx.metrics.purge_errors_total.fetch_add(1, Relaxed);
                tracing::error!(tenant = %domain, error = %e, "retention purge failed");
            }
        }
    }
}
