//! Media applications on calls: the server side of voice menus, announcements,
//! schedules and voicemail (the decisions are in `pbx-app` and `pbx-call`;
//! the audio runs in the relay's media engine).
//!
//! - [`Shard::goto`] walks the destination graph one step: `user:` rings,
//!   `schedule:` branches on the time, `ivr:`/`announce:`/`voicemail:`
//!   start an application on the caller's leg ([`pbx_call::Call::run_app`]).
//! - [`Shard::on_app_action`] carries out what an application asks beyond
//!   media: storing a voicemail message (then e-mail), opening a mailbox.
//! - [`AppMedia`] maps the call's `app_*` media requests onto the relay:
//!   prompt names are resolved tenant → language → English and loaded once
//!   ([`crate::prompts::PromptLibrary`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pbx_app::ivr::{DialMatch, Menu, MenuSpec};
use pbx_app::say::Lang;
use pbx_app::voicemail::{
    Deposit, DepositSpec, Login, LoginSpec, MailboxMenu, MailboxSpec, MessageInfo,
};
use pbx_app::{Action, CallerId, Event, GreetingKind, MediaApp, PromptRef};
use pbx_core::{Destination, Ext, TenantConfig};
use pbx_relay::{AppEvent, LegId, Relay};

use crate::shard::Shard;
use crate::tenants::TenantSnap;

/// Most steps one call may take through schedules before it is given up.
const MAX_SCHEDULE_STEPS: u32 = 16;

/// Silence that ends a voicemail message, and its level.
const VOICEMAIL_SILENCE_DBFS: f64 = -45.0;

/// Per-shard state of the applications' media: the playbacks asked for on
/// each leg (the relay reports their ends in order) and recorded audio
/// waiting for the application's decision.
#[derive(Debug, Default)]
pub(crate) struct AppState {
    /// Leg → ids of the prompt lists handed to the relay, oldest first.
    plays: HashMap<u64, VecDeque<u64>>,
    /// Call → the last recording's samples (8 kHz mono).
    recorded: HashMap<u64, Vec<i16>>,
    /// Call → the mailbox its caller opened (message ids are per mailbox).
    mailbox_of_call: HashMap<u64, Ext>,
    /// The caller's leg → that mailbox, for playing its messages.
    mailbox_of_leg: HashMap<u64, Ext>,
}

impl AppState {
    /// Forgets what belonged to call `id` (it ended).
    pub(crate) fn forget_call(&mut self, id: u64, leg: Option<u64>) {
        self.recorded.remove(&id);
        self.mailbox_of_call.remove(&id);
        if let Some(l) = leg {
            self.plays.remove(&l);
            self.mailbox_of_leg.remove(&l);
        }
    }
}

/// The `app_*` half of the call's media control.
pub(crate) struct AppMedia<'a> {
    pub(crate) relay: Option<&'a Relay>,
    pub(crate) ctx: &'a crate::Ctx,
    pub(crate) tenant: Option<&'a TenantSnap>,
    /// The call's prompt language when not the tenant's (its number's `language`).
    pub(crate) language: Option<&'a str>,
    pub(crate) state: &'a mut AppState,
}

impl<'a> AppMedia<'a> {
    fn leg_app(&self, leg: u64) -> Option<&'a Relay> {
        let relay = self.relay?;
        // Attaching again is harmless: it replaces the app with a fresh one only when the
        // leg had none (the relay keeps a running one's recording when asked twice).
        if !self.state.plays.contains_key(&leg)
            && let Err(e) = relay.attach_app(LegId(leg), pbx_relay::AppParams::default())
        {
            tracing::warn!(leg, error = %e, "no media application on this leg");
            return None;
        }
        Some(relay)
    }

    fn prompt(&self, leg: u64, r: &PromptRef) -> Option<Arc<[i16]>> {
        let t = self.tenant?;
        let cfg = &t.config;
        let language = self.language.unwrap_or(&cfg.language);
        let get = |name: &str| {
            self.ctx
                .prompts
                .get(&cfg.domain, language, name)
                .map_err(|e| tracing::warn!(tenant = %cfg.domain, prompt = name, error = %e, "prompt not played"))
                .ok()
        };
        match r {
            PromptRef::System(name) => get(name),
            PromptRef::Named(name) => get(name),
            PromptRef::Greeting { ext, kind } => {
                // Recorded by the user from the mailbox options: it wins over a configured one.
                if let Some(vault) = self.ctx.vault.as_ref()
                    && let Ok(path) =
                        vault.file_path(&cfg.domain, &greeting_file(ext.as_str(), *kind))
                    && let Ok(bytes) = std::fs::read(path)
                    && let Ok(pcm) = pbx_audio::decode_wav(&bytes)
                    && let Ok(pcm) = pbx_audio::resample(&pcm, 8000)
                {
                    return Some(pcm.samples.into());
                }
                let u = cfg.user(ext.as_str())?;
                let name = match kind {
                    GreetingKind::Busy => u.voicemail.busy_greeting.as_deref(),
                    _ => u.voicemail.unavailable_greeting.as_deref(),
                }?;
                get(name)
            }
            PromptRef::Message(id) => {
                let vault = self.ctx.vault.as_ref()?;
                let ext = self.state.mailbox_of_leg.get(&leg)?;
                let msg = u32::try_from(id.0).ok()?;
                let bytes = vault
                    .mailbox(&cfg.domain, ext.as_str())
                    .ok()?
                    .read_audio(msg)
                    .ok()?;
                let pcm = pbx_audio::decode_wav(&bytes).ok()?;
                let pcm = pbx_audio::resample(&pcm, 8000).ok()?;
                Some(pcm.samples.into())
            }
        }
    }

    pub(crate) fn play(&mut self, leg: u64, id: u64, prompts: &[PromptRef]) -> bool {
        let audio: Vec<Arc<[i16]>> = prompts.iter().filter_map(|p| self.prompt(leg, p)).collect();
        let Some(relay) = self.leg_app(leg) else {
            return false;
        };
        relay.set_app_source(
            LegId(leg),
            pbx_media::engine::Source::Player(pbx_media::player::Player::new(audio, 0)),
        );
        self.state.plays.entry(leg).or_default().push_back(id);
        true
    }

    pub(crate) fn stop(&mut self, leg: u64) {
        if let Some(relay) = self.relay
            && self.state.plays.contains_key(&leg)
        {
            relay.set_app_source(LegId(leg), pbx_media::engine::Source::Silence);
        }
    }

    pub(crate) fn record(
        &mut self,
        leg: u64,
        max_ms: u64,
        silence_end_ms: u64,
        beep: bool,
    ) -> bool {
        let beep_audio = if beep {
            self.prompt(leg, &PromptRef::System("beep"))
        } else {
            None
        };
        let Some(relay) = self.leg_app(leg) else {
            return false;
        };
        self.state.plays.entry(leg).or_default();
        if let Some(b) = beep_audio {
            // The beep is not a prompt list the application waits for: no id is queued, so
            // its end is reported to nobody (an id of 0 is never an application's).
            self.state.plays.entry(leg).or_default().push_back(0);
            relay.set_app_source(
                LegId(leg),
                pbx_media::engine::Source::Player(pbx_media::player::Player::new(vec![b], 0)),
            );
        }
        let silence = (silence_end_ms > 0).then_some(pbx_media::record::SilenceEnd {
            level_dbfs: VOICEMAIL_SILENCE_DBFS,
            duration_ms: u32::try_from(silence_end_ms).unwrap_or(u32::MAX),
        });
        relay.start_app_recording(
            LegId(leg),
            pbx_media::record::Recorder::new(u32::try_from(max_ms).unwrap_or(u32::MAX), silence),
        );
        true
    }

    pub(crate) fn stop_record(&mut self, leg: u64) -> bool {
        match self.relay {
            Some(r) if self.state.plays.contains_key(&leg) => {
                r.stop_app_recording(LegId(leg));
                true
            }
            _ => false,
        }
    }

    pub(crate) fn tone(&mut self, leg: u64, kind: pbx_media::tones::ToneKind) -> bool {
        let country = self
            .tenant
            .and_then(|t| t.config.country.clone())
            .unwrap_or_default();
        let Some(relay) = self.leg_app(leg) else {
            return false;
        };
        self.state.plays.entry(leg).or_default();
        relay.set_app_source(
            LegId(leg),
            pbx_media::engine::Source::Tone(pbx_media::tones::ToneGen::new(
                pbx_media::tones::tone_plan(&country, kind),
            )),
        );
        true
    }

    pub(crate) fn moh(&mut self, leg: u64, class: &str) -> bool {
        let Some(t) = self.tenant else { return false };
        let playlist = match self.ctx.prompts.moh_playlist(&t.config.domain, class) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(tenant = %t.config.domain, class, error = %e, "no music on hold");
                return false;
            }
        };
        let Some(relay) = self.leg_app(leg) else {
            return false;
        };
        self.state.plays.entry(leg).or_default();
        tracing::debug!(leg, class, "music on hold");
        relay.set_app_source(
            LegId(leg),
            pbx_media::engine::Source::Moh(pbx_media::player::MohSource::new(playlist, 0)),
        );
        true
    }

    pub(crate) fn detach(&mut self, leg: u64) {
        if let Some(r) = self.relay
            && self.state.plays.remove(&leg).is_some()
        {
            r.detach_app(LegId(leg));
        }
    }
}

impl Shard {
    /// One step through the destination graph for call `id`.
    pub(crate) fn goto(&mut self, id: u64, dest: Destination, hop: u32) {
        let Some(tenant) = self.calls_tenant(id) else {
            return;
        };
        // The user rung before (if any) is not in the call any more.
        self.release_rung(id);
        let Some(cfg) = self.calls_config(id) else {
            return;
        };
        let mut dest = dest;
        // Schedules only choose: follow them here.
        for _ in 0..MAX_SCHEDULE_STEPS {
            let Destination::Schedule(name) = &dest else {
                break;
            };
            let Some(s) = cfg.schedule(name) else {
                tracing::warn!(tenant = %cfg.domain, schedule = %name, "no such schedule");
                return self.with_call(id, |c, env| c.goto_failed(env));
            };
            let now = i64::try_from(self.ctx.wall_ms()).unwrap_or(i64::MAX);
            let open = s.is_open_unix_ms(now);
            tracing::debug!(tenant = %cfg.domain, schedule = %name, open, "schedule");
            dest = if open {
                s.in_hours.clone()
            } else {
                s.after_hours.clone()
            };
        }
        let label = dest.to_string();
        let app: Option<Box<dyn MediaApp + Send>> = match &dest {
            Destination::User(ext) => {
                let ext = ext.as_str().to_owned();
                return self.lookup_user(id, &tenant, &ext, hop);
            }
            Destination::Group(ext) => return self.start_group(id, &tenant, ext, hop),
            Destination::Queue(ext) => return self.start_queue(id, &tenant, ext, hop),
            Destination::Ivr(name) => menu(&cfg, name),
            Destination::Announce(name) => Some(announce(&cfg, name)),
            Destination::Voicemail(ext) | Destination::Message(ext) => {
                let caller = self.calls_caller(id);
                let full = self.storage_full(&cfg);
                let kind = if self.calls_failover_busy(id) {
                    GreetingKind::Busy
                } else {
                    GreetingKind::Unavailable
                };
                let recorded = self.has_recorded_greeting(&cfg, ext.as_str(), kind);
                deposit(&cfg, ext, caller, kind, full, recorded)
            }
            _ => None,
        };
        match app {
            Some(app) => self.with_call(id, |c, env| {
                c.set_destination(label);
                c.run_app(app, env);
            }),
            None => {
                tracing::info!(tenant = %cfg.domain, destination = %label, "destination cannot be served; the call ends");
                self.with_call(id, |c, env| c.goto_failed(env));
            }
        }
    }

    /// The tenant may store nothing more: `limits.storage_mb` is 0 or used up, or there is
    /// no usable data directory. A voicemail then says "mailbox full" and records nothing.
    fn storage_full(&self, cfg: &TenantConfig) -> bool {
        let quota = cfg.limits.storage_mb;
        let full = match self.ctx.vault.as_ref() {
            None => true,
            Some(_) if quota == 0 => true,
            Some(v) => v.check_quota(&cfg.domain, quota).is_err(),
        };
        if full {
            tracing::warn!(tenant = %cfg.domain, storage_mb = quota, "voicemail refused: the tenant's storage is full");
        }
        full
    }

    /// Whether `ext` recorded a greeting of `kind` by phone.
    fn has_recorded_greeting(&self, cfg: &TenantConfig, ext: &str, kind: GreetingKind) -> bool {
        self.ctx.vault.as_ref().is_some_and(|v| {
            v.file_path(&cfg.domain, &greeting_file(ext, kind))
                .is_ok_and(|p| p.exists())
        })
    }

    /// Keeps a greeting the user recorded from the mailbox options (off the shard).
    fn store_greeting(&self, cfg: &TenantConfig, ext: &str, kind: GreetingKind, samples: Vec<i16>) {
        let Some(vault) = self.ctx.vault.clone() else {
            return;
        };
        if samples.is_empty() || self.storage_full(cfg) {
            tracing::warn!(tenant = %cfg.domain, ext, "greeting not stored");
            return;
        }
        let domain = cfg.domain.clone();
        let file = greeting_file(ext, kind);
        let wav = pbx_audio::encode_wav_pcm16(8000, 1, &samples);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = vault.put_file(&domain, &file, &wav) {
                tracing::error!(tenant = %domain, error = %e, "greeting not stored");
            }
        });
    }

    /// What an application asks beyond media.
    pub(crate) fn on_app_action(&mut self, id: u64, action: Action) {
        let (Some(tenant), Some(cfg)) = (self.calls_tenant(id), self.calls_config(id)) else {
            return;
        };
        match action {
            Action::StoreMessage(meta) => {
                let samples = self.apps_state().recorded.remove(&id).unwrap_or_default();
                self.store_voicemail(&cfg, meta, samples);
            }
            Action::DiscardRecording => {
                self.apps_state().recorded.remove(&id);
            }
            Action::StoreGreeting { mailbox, kind } => {
                let samples = self.apps_state().recorded.remove(&id).unwrap_or_default();
                self.store_greeting(&cfg, mailbox.as_str(), kind, samples);
            }
            Action::EnterMailbox(ext) => {
                let app = login(&cfg, &ext);
                match app {
                    Some(app) => self.with_call(id, |c, env| c.run_app(app, env)),
                    None => self.with_call(id, |c, env| c.goto_failed(env)),
                }
            }
            Action::Authenticated { mailbox } => {
                let leg = self.calls_caller_leg(id);
                let st = self.apps_state();
                st.mailbox_of_call.insert(id, mailbox.clone());
                if let Some(l) = leg {
                    st.mailbox_of_leg.insert(l, mailbox.clone());
                }
                let app = self.mailbox_menu(&cfg, &mailbox);
                self.with_call(id, |c, env| c.run_app(app, env));
            }
            Action::DeleteMessage { id: msg } => {
                if let Some(mb) = self.call_mailbox(&cfg, id)
                    && let Ok(n) = u32::try_from(msg.0)
                    && let Err(e) = mb.delete(n)
                {
                    tracing::warn!(tenant = %cfg.domain, error = %e, "voicemail: delete failed");
                }
            }
            Action::SetMwi { mailbox, new, old } => {
                let ext = tenant.canonical_ext(mailbox.as_str()).to_owned();
                self.ctx.mwi_update(tenant.id, &ext, (new, old), true);
            }
            Action::MoveMessage { id: msg, to } => {
                if to == pbx_app::Folder::Old
                    && let Some(mb) = self.call_mailbox(&cfg, id)
                    && let Ok(n) = u32::try_from(msg.0)
                    && let Err(e) = mb.move_to_old(n)
                {
                    tracing::warn!(tenant = %cfg.domain, error = %e, "voicemail: move failed");
                }
            }
            other => {
                tracing::debug!(tenant = %cfg.domain, action = ?other, "application action not carried out");
            }
        }
    }

    /// A relay report about an application's leg.
    pub(crate) fn on_app_event(&mut self, owner: u64, leg: u64, event: AppEvent) {
        match event {
            AppEvent::Digit { digit, .. } => {
                self.with_call(owner, |c, env| {
                    c.on_digit(pbx_call::MediaLeg(leg), digit, env)
                });
            }
            AppEvent::PlayDone { .. } => {
                let id = self
                    .apps_state()
                    .plays
                    .get_mut(&leg)
                    .and_then(VecDeque::pop_front);
                if let Some(id) = id.filter(|id| *id != 0) {
                    self.with_call(owner, |c, env| c.on_play_done(id, env));
                }
            }
            AppEvent::RecordDone { samples, .. } => {
                let duration_ms = samples.len() as u64 / 8;
                let silent = pbx_audio::level::rms_dbfs(&samples) < VOICEMAIL_SILENCE_DBFS;
                self.apps_state().recorded.insert(owner, samples);
                self.with_call(owner, |c, env| {
                    c.on_app_event(
                        Event::RecordDone {
                            duration_ms,
                            silent,
                        },
                        env,
                    );
                });
            }
            _ => {}
        }
    }

    fn store_voicemail(
        &mut self,
        cfg: &TenantConfig,
        meta: pbx_app::MessageMeta,
        samples: Vec<i16>,
    ) {
        let Some(vault) = self.ctx.vault.clone() else {
            tracing::warn!(tenant = %cfg.domain, "voicemail: no storage; message dropped");
            return;
        };
        let Some(user) = cfg.user(meta.mailbox.as_str()) else {
            return;
        };
        let wav49 = matches!(
            user.voicemail.format,
            pbx_core::tenant::VoicemailFormat::Wav49
        );
        let audio = if wav49 {
            match pbx_audio::encode_wav49(&samples) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "voicemail: GSM encoding failed; stored as PCM");
                    pbx_audio::encode_wav_pcm16(8000, 1, &samples)
                }
            }
        } else {
            pbx_audio::encode_wav_pcm16(8000, 1, &samples)
        };
        let domain = cfg.domain.clone();
        let ext = meta.mailbox.as_str().to_owned();
        let email = user.email.clone();
        let delete_after_email = user.voicemail.delete_after_email;
        let received = SystemTime::UNIX_EPOCH + Duration::from_millis(meta.started_ms);
        let outbox = self.ctx.outbox.clone();
        let ctx = Arc::downgrade(&self.ctx);
        // File writes and fsyncs stay off the shard; the new counts go back
        // to the user's shard as MWI.
        tokio::task::spawn_blocking(move || {
            let stored = vault.mailbox(&domain, &ext).and_then(|mb| {
                let m = mb.store(pbx_vault::NewMessage {
                    caller_number: meta.caller.number.clone().unwrap_or_default(),
                    caller_name: meta.caller.name.clone(),
                    received,
                    duration_ms: meta.duration_ms,
                    format: if wav49 {
                        pbx_vault::AudioFormat::Wav49
                    } else {
                        pbx_vault::AudioFormat::Wav
                    },
                    audio: &audio,
                })?;
                Ok((m, mb))
            });
            match stored {
                Ok((m, mb)) => {
                    tracing::info!(tenant = %domain, mailbox = %ext, id = m.id, duration_ms = meta.duration_ms, "voicemail stored");
                    if let Some(ctx) = ctx.upgrade() {
                        match mb.counts() {
                            Ok(c) => ctx.mwi_changed(&domain, &ext, c),
                            Err(e) => {
                                tracing::warn!(tenant = %domain, mailbox = %ext, error = %e, "MWI: counts not read")
                            }
                        }
                    }
                    if let (Some(to), Some(outbox)) = (email, outbox) {
                        let mail = pbx_vault::PendingMail {
                            domain: domain.clone(),
                            ext: ext.clone(),
                            msg_id: m.id,
                            to,
                            delete_after_email,
                        };
                        if let Err(e) = outbox.enqueue(mail, SystemTime::now()) {
                            tracing::error!(tenant = %domain, mailbox = %ext, error = %e, "voicemail e-mail not queued");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(tenant = %domain, mailbox = %ext, error = %e, "voicemail not stored");
                }
            }
        });
    }

    fn call_mailbox(&mut self, cfg: &TenantConfig, id: u64) -> Option<pbx_vault::Mailbox> {
        let ext = self.apps_state().mailbox_of_call.get(&id)?.clone();
        self.ctx
            .vault
            .as_ref()?
            .mailbox(&cfg.domain, ext.as_str())
            .ok()
    }

    fn mailbox_menu(&self, cfg: &TenantConfig, mailbox: &Ext) -> Box<dyn MediaApp + Send> {
        let lang = lang_of(cfg);
        let (mut new, mut old) = (Vec::new(), Vec::new());
        if let Some(v) = &self.ctx.vault
            && let Ok(mb) = v.mailbox(&cfg.domain, mailbox.as_str())
        {
            for (folder, out) in [
                (pbx_vault::Folder::Inbox, &mut new),
                (pbx_vault::Folder::Old, &mut old),
            ] {
                for m in mb.list(folder).unwrap_or_default() {
                    out.push(MessageInfo {
                        id: pbx_app::MessageId(u64::from(m.meta.id)),
                        caller: CallerId {
                            number: Some(m.meta.caller_number.clone()).filter(|n| !n.is_empty()),
                            name: m.meta.caller_name.clone(),
                        },
                        received_ms: m.meta.received_ms,
                        duration_ms: m.meta.duration_ms,
                    });
                }
            }
        }
        Box::new(MailboxMenu::new(MailboxSpec::new(
            lang,
            mailbox.clone(),
            new,
            old,
        )))
    }
}

pub(crate) fn lang_of(cfg: &TenantConfig) -> Lang {
    Lang::from_code(&cfg.language).unwrap_or(Lang::En)
}

/// The voice menu `name` of the tenant, with direct dial over its extensions.
fn menu(cfg: &Arc<TenantConfig>, name: &str) -> Option<Box<dyn MediaApp + Send>> {
    let ivr = cfg.ivr(name)?;
    let mut spec = MenuSpec::new(ivr.prompts.iter().cloned().map(PromptRef::Named).collect());
    spec.options = ivr.options.clone();
    spec.direct_dial = ivr.direct_dial;
    spec.digit_timeout_ms = u64::from(ivr.digit_timeout) * 1000;
    spec.inter_digit_timeout_ms = u64::from(ivr.inter_digit_timeout) * 1000;
    spec.repeat = ivr.repeat;
    spec.on_timeout = ivr.on_timeout.clone();
    spec.on_invalid = ivr.on_invalid.clone();
    let dial = cfg.clone();
    let plan = move |digits: &str| -> DialMatch {
        let exact = dial.internal_number(digits);
        let longer = dial
            .users
            .iter()
            .map(|u| u.ext.as_str())
            .chain(dial.groups.iter().map(|g| g.ext.as_str()))
            .chain(
                dial.ivrs
                    .iter()
                    .filter_map(|i| i.ext.as_ref().map(Ext::as_str)),
            )
            .any(|e| e.len() > digits.len() && e.starts_with(digits));
        match (exact, longer) {
            (Some(d), true) => DialMatch::ExactAndPrefix(d),
            (Some(d), false) => DialMatch::Exact(d),
            (None, true) => DialMatch::Prefix,
            (None, false) => DialMatch::None,
        }
    };
    Some(Box::new(Menu::new(spec, Box::new(plan))))
}

/// `announce:NAME`: the tenant's announcement of that name, else the prompt NAME then hang up.
fn announce(cfg: &TenantConfig, name: &str) -> Box<dyn MediaApp + Send> {
    match cfg.announce(name) {
        Some(a) => Box::new(pbx_app::announce::Announce::new(
            a.prompts.iter().cloned().map(PromptRef::Named).collect(),
            Some(a.then.clone()),
        )),
        None => Box::new(pbx_app::announce::Announce::new(
            vec![PromptRef::Named(name.to_owned())],
            None,
        )),
    }
}

/// Leaving a message in `ext`'s mailbox (its voicemail must be on).
fn deposit(
    cfg: &TenantConfig,
    ext: &Ext,
    caller: CallerId,
    kind: GreetingKind,
    full: bool,
    recorded_greeting: bool,
) -> Option<Box<dyn MediaApp + Send>> {
    let u = cfg.user(ext.as_str())?;
    if !u.voicemail.enabled {
        return None;
    }
    let mut spec = DepositSpec::new(lang_of(cfg), ext.clone(), kind, caller);
    spec.has_greeting = recorded_greeting
        || match kind {
            GreetingKind::Busy => u.voicemail.busy_greeting.is_some(),
            _ => u.voicemail.unavailable_greeting.is_some(),
        };
    spec.max_ms = u64::from(u.voicemail.max_message_s) * 1000;
    spec.mailbox_full = full;
    Some(Box::new(Deposit::new(spec)))
}

/// The PIN prompt of `ext`'s mailbox.
fn login(cfg: &TenantConfig, ext: &Ext) -> Option<Box<dyn MediaApp + Send>> {
    let u = cfg.user(ext.as_str())?;
    let pin = u.pin.clone().unwrap_or_default();
    Some(Box::new(Login::new(LoginSpec::new(
        lang_of(cfg),
        ext.clone(),
        pin,
    ))))
}

/// The application a dialled service code starts, if `dialed` is one.
pub(crate) fn service_code(
    cfg: &TenantConfig,
    dialed: &str,
    caller_ext: &str,
) -> Option<Box<dyn MediaApp + Send>> {
    if dialed != cfg.service_codes.voicemail {
        return None;
    }
    login(cfg, &Ext::parse(caller_ext)?)
}

/// Where a greeting recorded by phone is kept: `greetings/<ext>/busy.wav` or
/// `unavailable.wav` in the tenant's directory.
fn greeting_file(ext: &str, kind: GreetingKind) -> pbx_vault::TenantFile {
    let name = match kind {
        GreetingKind::Busy => "busy.wav",
        _ => "unavailable.wav",
    };
    pbx_vault::TenantFile::Greeting {
        ext: ext.to_owned(),
        name: name.to_owned(),
    }
}
