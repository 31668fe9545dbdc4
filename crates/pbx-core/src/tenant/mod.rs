//! The tenant model, parsed from the tenant YAML file (DESIGN.md "Tenant file").
//!
//! Rules a tenant file must follow (each broken rule is a one-line error with its
//! YAML path, e.g. `users[2].ext: "11a" is not a valid extension (digits, 2–8 long)`):
//! - `domain` (required) is a lower-case DNS name. An IP literal is accepted for labs,
//!   but tenants should be domains: the domain is the digest realm and the routing key.
//! - `language` is two lower-case letters (default `en`; prompts exist for en, ru, it).
//! - `country` is an assigned ISO 3166-1 alpha-2 code (`RU`; lower case is accepted and
//!   upper-cased). It is optional now; dialing formats and emergency numbers need it later.
//! - extensions are quoted strings of 2–8 digits, unique across users and groups
//!   (an unquoted number is refused because YAML would drop leading zeros);
//! - authentication usernames (default: the extension) are unique within the tenant;
//! - a `secret` has at least 8 characters: short secrets are exactly what scanners
//!   such as svcrack guess. A user may omit `secret` only when the tenant already has
//!   that user (see [`TenantConfig::fill_missing_secrets_from`]);
//! - destinations are `kind:id`; `user:` and `schedule:` targets must exist in this
//!   tenant, and schedules may not lead back to themselves;
//! - CIDRs and e-mail addresses must be valid.
//!
//! Unknown keys are refused, naming the key and the keys allowed there.
//!
//! # Media settings
//! - **One extension space**: users, groups and IVRs with an `ext` share it; a number
//!   used twice is an error naming both places (`ivrs[0].ext: "1100" is already used
//!   by groups[0]`). [`TenantConfig::internal_number`] says what a dialed number reaches.
//! - **IVRs** (`ivrs:`): `ext` (optional, dialable), `prompts`, `digit_timeout`
//!   (default 5 s), `inter_digit_timeout` (default 3 s), `repeat`, `direct_dial`,
//!   `options` keyed by one DTMF key (`0`–`9`, `"*"`, `"#"`: YAML needs the quotes),
//!   `on_timeout`, `on_invalid`.
//! - **Schedules** (`schedules:`, destination `schedule:NAME`): see [`Schedule`] for
//!   the syntax and how a moment is decided.
//! - **Prompts** are names ([`is_valid_prompt_name`]: `vm-intro`, `digits/1`). A name
//!   resolves in the tenant's library, then the system prompts in the tenant's
//!   `language`, then in English ([`resolve_prompt`]); [`TenantConfig::check_prompts`]
//!   makes a missing one an apply-time error with its place in the file.
//! - **Announcements**: `announce:NAME` plays the `announces:` object NAME (its
//!   `prompts`, then its `then` destination, default `hangup`); when no object has
//!   that name it plays the prompt NAME and hangs up, as it always did.
//! - **Voicemail** per user: `enabled`, `delete_after_email`, `format` (`wav`, `wav49`),
//!   `max_message_s` (default 180), `busy_greeting` / `unavailable_greeting` (prompt
//!   names; without them the system greeting, or one the user recorded, is played);
//!   the user's `pin` is 4–10 digits. Message waiting: phones that SUBSCRIBE get
//!   NOTIFYs; the others get unsolicited ones unless `options.unsolicited_mwi: false`
//!   (default true) or the user's `voicemail.unsolicited_mwi` says otherwise.
//! - **Recording**: `options.recording` for the tenant, `recording: true|false|inherit`
//!   per user (default `inherit`, see [`User::records_calls`]); `options.recording_download`.
//! - **Storage**: `limits.storage_mb` (default 1024), `limits.recording_days` and
//!   `limits.voicemail_days` (default 30; 0 keeps until deleted).
//! - **Music on hold**: `moh: CLASS` (default `default`, the system music).
//! - **Service codes**: `service_codes: {voicemail: "*97", pickup: "*8", directed_pickup:
//!   "**"}` (the defaults); a code may not equal, start or be the start of an extension,
//!   `outbound.prefix` or another code.
//! - **Pickup groups**: `users[].pickup_group: NAME` (letters, digits, _ . -). A user
//!   answers a call ringing a colleague of the same group by dialing `pickup` (the call
//!   ringing longest) or `directed_pickup` followed by the colleague's extension.
//!
//! ```yaml
//! ivrs:
//!   - {name: day, ext: "5000", prompts: [ru-greet, advert, ru-route], digit_timeout: 10,
//!      inter_digit_timeout: 3, direct_dial: true, options: {"1": group:1100, "0": announce:bye},
//!      on_timeout: user:2222, on_invalid: ivr:day}
//!   - {name: night, prompts: [closed-ru], on_timeout: voicemail:2001}
//! schedules:
//!   - {name: office-hours, timezone: Europe/Moscow, weekly: {mon-fri: 09:00-18:00},
//!      closed: [01-01..01-08], in_hours: ivr:day, after_hours: ivr:night}
//! announces:
//!   - {name: bye, prompts: [vm-goodbye]}                      # then: hangup
//!   - {name: moved, prompts: [we-moved], then: ivr:day}
//! numbers:
//!   - {number: "+74952216005", route: schedule:office-hours}
//! moh: default
//! service_codes: {voicemail: "*97"}
//! ```

mod destination;
pub mod diff;
mod export;
mod index;
mod prompt;
mod queue;
mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

pub use destination::{DESTINATION_KINDS, Destination, is_valid_external_number, is_valid_name};
pub use diff::DiffLine;
pub use export::{SECRETS_OMITTED_NOTE, yaml_document};
pub use index::UserIndex;
pub use prompt::{
    FALLBACK_LANGUAGE, MAX_PROMPT_NAME_LEN, PromptCatalog, PromptSource, SYSTEM_SOUND_DIRS,
    SYSTEM_SOUNDS_ROOT, is_valid_prompt_name, resolve_prompt, system_sound_dir,
};
pub use queue::Queue;
pub use schedule::{DateSpec, Schedule, SpecialHours, TimeRange, Weekdays, WeeklyRule};

use crate::country::is_country_code;
use crate::error::ConfigError;
use crate::ids::Ext;
use crate::net::{NetworkList, is_plausible_email, is_valid_domain};
use crate::node::{Fields, Node, as_list, as_str, index, join, string_list};

/// One tenant: a SIP domain with its users and routing objects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantConfig {
    /// The SIP domain (digest realm, routing key). Lower case.
    pub domain: String,
    /// Two-letter language of prompts. Default `en`.
    pub language: String,
    /// ISO 3166-1 alpha-2 code, upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// `options`.
    pub options: TenantOptions,
    /// `limits`.
    pub limits: TenantLimits,
    /// `users`, in file order.
    pub users: Vec<User>,
    /// `groups`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// `queues`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<Queue>,
    /// `ivrs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ivrs: Vec<Ivr>,
    /// `schedules`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
    /// `announces`: named announcements (`announce:NAME`) that go on somewhere.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub announces: Vec<Announce>,
    /// `numbers` (bound to the tenant by the operator; the tenant chooses the route).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<NumberRoute>,
    /// `phonebook`: names shown for outside callers (`{number, name}`; number in E.164).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phonebook: Vec<PhonebookEntry>,
    /// `outbound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Outbound>,
    /// `moh`: the music-on-hold class played to held callers. Default `default` (the
    /// system music).
    #[serde(skip_serializing_if = "is_default_moh")]
    pub moh: String,
    /// `service_codes`: what users dial for features.
    #[serde(skip_serializing_if = "is_default")]
    pub service_codes: ServiceCodes,
}

/// The music-on-hold class a tenant gets unless it names another.
pub const DEFAULT_MOH_CLASS: &str = "default";

fn is_default_moh(class: &str) -> bool {
    class == DEFAULT_MOH_CLASS
}

/// `service_codes`: digits users dial to reach a feature. Each code is 2–8 of
/// `0-9 * #`; it may not be an extension, the start of one, or start with one, nor
/// start or be the start of `outbound.prefix` or of another code, since a phone
/// dialing it would be ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceCodes {
    /// Listen to one's voicemail (PIN asked). Default `*97`.
    pub voicemail: String,
    /// A queue agent logs in: alone, to every queue that lists them in `agents`;
    /// followed by a queue's extension, to that queue. Default `*45`.
    pub agent_login: String,
    /// A queue agent logs out (alone: of every queue; + a queue's extension: of it).
    /// Default `*46`.
    pub agent_logout: String,
    /// A queue member pauses (takes no queue calls) in every queue, or in one. Default `*47`.
    pub agent_pause: String,
    /// A queue member takes calls again. Default `*48`.
    pub agent_unpause: String,
    /// Answer the call ringing a user of one's pickup group (the one ringing longest).
    /// Default `*8`.
    pub pickup: String,
    /// Followed by an extension of one's pickup group: answer the call ringing it.
    /// Default `**`.
    pub directed_pickup: String,
}

impl Default for ServiceCodes {
    fn default() -> Self {
        ServiceCodes {
            voicemail: "*97".to_owned(),
            agent_login: "*45".to_owned(),
            agent_logout: "*46".to_owned(),
            agent_pause: "*47".to_owned(),
            agent_unpause: "*48".to_owned(),
            pickup: "*8".to_owned(),
            directed_pickup: "**".to_owned(),
        }
    }
}

/// What a dialed string asks of the pickup service codes ([`ServiceCodes::pickup_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickupCode {
    /// `pickup`: any call ringing a user of the dialer's pickup group.
    Group,
    /// `directed_pickup` + EXT: the call ringing EXT.
    Directed(String),
}

impl ServiceCodes {
    /// `(key, code)` for every service code, in the order of the file's keys.
    pub fn all(&self) -> [(&'static str, &str); 7] {
        [
            ("voicemail", &self.voicemail),
            ("pickup", &self.pickup),
            ("directed_pickup", &self.directed_pickup),
            ("agent_login", &self.agent_login),
            ("agent_logout", &self.agent_logout),
            ("agent_pause", &self.agent_pause),
            ("agent_unpause", &self.agent_unpause),
        ]
    }

    fn slot(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "voicemail" => &mut self.voicemail,
            "pickup" => &mut self.pickup,
            "directed_pickup" => &mut self.directed_pickup,
            "agent_login" => &mut self.agent_login,
            "agent_logout" => &mut self.agent_logout,
            "agent_pause" => &mut self.agent_pause,
            "agent_unpause" => &mut self.agent_unpause,
            _ => return None,
        })
    }

    /// Whether `dialed` is the group pickup code, or the directed pickup code followed
    /// by digits (the extension).
    pub fn pickup_of(&self, dialed: &str) -> Option<PickupCode> {
        if dialed == self.pickup {
            return Some(PickupCode::Group);
        }
        let ext = dialed.strip_prefix(self.directed_pickup.as_str())?;
        (!ext.is_empty() && ext.len() <= 32 && ext.bytes().all(|b| b.is_ascii_digit()))
            .then(|| PickupCode::Directed(ext.to_owned()))
    }
}

/// A named announcement (`announces` entry), reached as `announce:NAME`: plays its
/// prompts, then goes on to `then` (default `hangup`). `announce:X` where X is not the
/// name of such an object plays the prompt X and hangs up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Announce {
    /// Unique name.
    pub name: String,
    /// Prompt names played in order (at least one).
    pub prompts: Vec<String>,
    /// Where the call goes afterwards.
    #[serde(skip_serializing_if = "is_hangup")]
    pub then: Destination,
}

fn is_hangup(d: &Destination) -> bool {
    *d == Destination::Hangup
}

/// A digest algorithm offered in 401 challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestAlgorithm {
    /// `md5` (RFC 2617; what every phone supports).
    Md5,
    /// `sha256` (RFC 8760 `SHA-256`; many phones fail when offered it).
    Sha256,
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestAlgorithm::Md5 => "md5",
            DigestAlgorithm::Sha256 => "sha256",
        })
    }
}

/// `options`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantOptions {
    /// Record calls. Default false.
    pub recording: bool,
    /// Let the tenant download recordings. Default false.
    pub recording_download: bool,
    /// Call analytics in the cabinet. Default true.
    pub analytics: bool,
    /// Direct inward system access (dial out from outside). Default false.
    pub disa: bool,
    /// Challenge algorithms, in the order offered: `[md5]` (default), `[sha256]`,
    /// `[sha256, md5]`. Non-empty, no repeats.
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// If set, only these networks may REGISTER (seed 003, FAQ 4.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_networks: Option<NetworkList>,
    /// Send message-waiting NOTIFYs to registered phones that did not
    /// SUBSCRIBE (unsolicited MWI, as Asterisk does for desk phones configured
    /// with a mailbox). Default true; a user's `voicemail.unsolicited_mwi`
    /// overrides it.
    #[serde(skip_serializing_if = "is_true")]
    pub unsolicited_mwi: bool,
}

fn is_true(v: &bool) -> bool {
    *v
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            recording: false,
            recording_download: false,
            analytics: true,
            disa: false,
            digest_algorithms: vec![DigestAlgorithm::Md5],
            register_networks: None,
            unsolicited_mwi: true,
        }
    }
}

/// `limits`.
///
/// The storage defaults fit a small office: 1 GB holds about 18 hours of 8 kHz 16-bit
/// WAV recordings (or about 95 hours of WAV49), and 30 days is the usual retention of
/// call recordings and of voicemail nobody deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantLimits {
    /// Concurrent calls of the tenant; none (default) = no tenant limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    /// Storage for recordings, voicemail and prompts, MB; 0 = nothing may be stored
    /// (recording and voicemail stop, calls go on). Default 1024.
    pub storage_mb: u32,
    /// Days recordings are kept before the daily purge; 0 = until deleted. Default 30.
    pub recording_days: u32,
    /// Days voicemail messages are kept; 0 = until deleted. Default 30.
    pub voicemail_days: u32,
    /// Overrides `[registrar] max_contacts_per_aor` for this tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_contacts_per_aor: Option<u32>,
    /// Fraud cap: outside calls of the tenant in progress at once; none = no cap.
    /// Emergency calls are never counted against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_external_calls: Option<u32>,
    /// Fraud cap: outside calls the tenant may start per hour (sliding); none = no cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_calls_per_hour: Option<u32>,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_calls: None,
            storage_mb: 1024,
            recording_days: 30,
            voicemail_days: 30,
            max_contacts_per_aor: None,
            max_external_calls: None,
            external_calls_per_hour: None,
        }
    }
}

/// How the registrar treats a phone behind NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NatMode {
    /// Detect (Via/Contact address differs from the source) and fix up. Default.
    #[default]
    Auto,
    /// Always use the source address.
    Force,
    /// Trust the Contact as sent.
    Never,
}

impl fmt::Display for NatMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NatMode::Auto => "auto",
            NatMode::Force => "force",
            NatMode::Never => "never",
        })
    }
}

/// Voicemail file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VoicemailFormat {
    /// 16-bit PCM WAV. Default.
    #[default]
    Wav,
    /// GSM 06.10 in WAV (small attachments).
    Wav49,
}

impl fmt::Display for VoicemailFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VoicemailFormat::Wav => "wav",
            VoicemailFormat::Wav49 => "wav49",
        })
    }
}

/// A user's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Voicemail {
    /// Default false.
    pub enabled: bool,
    /// Delete a message once it is mailed (needs `email`). Default false.
    pub delete_after_email: bool,
    /// Default `wav`.
    pub format: VoicemailFormat,
    /// Longest message, seconds (5–3600). Default [`Voicemail::DEFAULT_MAX_MESSAGE_S`].
    pub max_message_s: u32,
    /// Prompt played when the user is busy, instead of the system greeting (and of
    /// one the user recorded by phone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_greeting: Option<String>,
    /// Prompt played when the user does not answer or is not registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_greeting: Option<String>,
    /// Unsolicited MWI NOTIFYs to this user's phones: unset follows the
    /// tenant's `options.unsolicited_mwi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsolicited_mwi: Option<bool>,
}

impl Voicemail {
    /// Whether this user's phones get unsolicited MWI, given the tenant's option.
    pub fn unsolicited_mwi_or(&self, tenant_default: bool) -> bool {
        self.unsolicited_mwi.unwrap_or(tenant_default)
    }
}

impl Voicemail {
    /// Three minutes, as Asterisk's `maxmessage` default.
    pub const DEFAULT_MAX_MESSAGE_S: u32 = 180;
}

impl Default for Voicemail {
    fn default() -> Self {
        Voicemail {
            enabled: false,
            delete_after_email: false,
            format: VoicemailFormat::Wav,
            max_message_s: Voicemail::DEFAULT_MAX_MESSAGE_S,
            busy_greeting: None,
            unavailable_greeting: None,
            unsolicited_mwi: None,
        }
    }
}

/// Whether a user's calls are recorded (`users[].recording`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordingPolicy {
    /// `inherit`: as the tenant's `options.recording` says. Default.
    #[default]
    Inherit,
    /// `true`: always, whatever the tenant option.
    Always,
    /// `false`: never, whatever the tenant option.
    Never,
}

impl fmt::Display for RecordingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordingPolicy::Inherit => "inherit",
            RecordingPolicy::Always => "true",
            RecordingPolicy::Never => "false",
        })
    }
}

impl serde::Serialize for RecordingPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordingPolicy::Inherit => s.serialize_str("inherit"),
            RecordingPolicy::Always => s.serialize_bool(true),
            RecordingPolicy::Never => s.serialize_bool(false),
        }
    }
}

/// One user (an extension with a SIP account).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Extension.
    pub ext: Ext,
    /// Display name.
    pub name: String,
    /// SIP password. `None` only in a file exported without secrets, before
    /// [`TenantConfig::fill_missing_secrets_from`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// For voicemail and notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Digest username if not the extension (use [`User::auth_user`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
    /// Overrides `options.digest_algorithms` for this user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_algorithms: Option<Vec<DigestAlgorithm>>,
    /// Default `auto`.
    #[serde(skip_serializing_if = "is_default")]
    pub nat: NatMode,
    /// Seconds to ring before `on_no_answer`. Default 20.
    pub ring_timeout: u32,
    /// Active calls at which the user counts as busy. Default 1.
    pub busy_level: u32,
    /// Most simultaneous calls. Default 4.
    pub call_limit: u32,
    /// Where calls go when the user is busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_busy: Option<Destination>,
    /// … when nobody answers in `ring_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_no_answer: Option<Destination>,
    /// … when no phone is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_unavailable: Option<Destination>,
    /// Mailbox settings.
    #[serde(skip_serializing_if = "is_default")]
    pub voicemail: Voicemail,
    /// Voicemail / feature-code PIN, 4–10 digits. Treated as a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Whether this user's calls are recorded. Default `inherit`.
    #[serde(skip_serializing_if = "is_default")]
    pub recording: RecordingPolicy,
    /// The outbound classes the user may dial (`regional`, `international`, `emergency`,
    /// `other`); `None` = every class the calling number's directions allow. Emergency
    /// numbers are always allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Vec<String>>,
    /// The number the user's outside calls go out with (E.164, one bound to the tenant);
    /// default `outbound.number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_number: Option<String>,
    /// Fraud cap: the user's outside calls in progress at once; none = no cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_external_calls: Option<u32>,
    /// Fraud cap: outside calls the user may start per hour; none = no cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_calls_per_hour: Option<u32>,
    /// The pickup group: users of the same group may answer each other's ringing
    /// calls with the pickup service codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickup_group: Option<String>,
}

impl User {
    /// The digest username: `auth_user`, or the extension.
    pub fn auth_user(&self) -> &str {
        self.auth_user.as_deref().unwrap_or(self.ext.as_str())
    }

    /// The algorithms to challenge this user with, in order.
    pub fn digest_algorithms<'a>(&'a self, tenant: &'a TenantOptions) -> &'a [DigestAlgorithm] {
        self.digest_algorithms
            .as_deref()
            .unwrap_or(&tenant.digest_algorithms)
    }

    /// Whether calls of this user are recorded: the user's `recording`, or the tenant's
    /// `options.recording` when that is `inherit`.
    pub fn records_calls(&self, tenant: &TenantOptions) -> bool {
        match self.recording {
            RecordingPolicy::Inherit => tenant.recording,
            RecordingPolicy::Always => true,
            RecordingPolicy::Never => false,
        }
    }
}

/// How a group rings its members. Busy members (in a call already) are skipped
/// (Asterisk's `ringinuse=no`); members without a registered phone are passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStrategy {
    /// All members at once for `ring_timeout`. Default.
    #[default]
    Ringall,
    /// One after another in list order, each for `ring_timeout` (linear hunt).
    Hunt,
    /// One after another, starting after the member the last call reached (Asterisk's
    /// `rrmemory`; `roundrobin` is accepted as another name for it).
    Rrmemory,
    /// One after another, the member who least recently answered a call of the group first.
    Leastrecent,
    /// One after another, the member who answered the fewest calls of the group first.
    Fewestcalls,
    /// One after another, in random order.
    Random,
}

impl GroupStrategy {
    /// The names `strategy:` accepts, in error messages' order.
    pub const NAMES: &'static str = "ringall, hunt, rrmemory, leastrecent, fewestcalls, random";

    /// Whether the members ring one at a time.
    pub fn is_sequential(self) -> bool {
        self != GroupStrategy::Ringall
    }
}

impl fmt::Display for GroupStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupStrategy::Ringall => "ringall",
            GroupStrategy::Hunt => "hunt",
            GroupStrategy::Rrmemory => "rrmemory",
            GroupStrategy::Leastrecent => "leastrecent",
            GroupStrategy::Fewestcalls => "fewestcalls",
            GroupStrategy::Random => "random",
        })
    }
}

/// A ring group (`groups`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Extension dialed to reach the group.
    pub ext: Ext,
    /// Display name.
    pub name: String,
    /// Default `ringall`.
    pub strategy: GroupStrategy,
    /// Users' extensions (each an existing user) and outside numbers
    /// (`external:+79161234567`, rung through a trunk by the tenant's outbound rules); no
    /// repeats.
    pub members: Vec<GroupMember>,
    /// Seconds the members ring: all together (`ringall`), or each in turn (the other
    /// strategies). Default 20.
    pub ring_timeout: u32,
    /// Where calls go when nobody answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Destination>,
}

/// One member of a ring group: a user, or an outside number (`external:NUMBER`, spelt
/// as the destination [`Destination::External`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupMember {
    User(Ext),
    /// Optional `+` and 1–20 digits, dialled as a user would after the outbound prefix.
    External(String),
}

impl GroupMember {
    /// `"2001"` or `"external:+79161234567"`; `None` for anything else.
    pub fn parse(s: &str) -> Option<GroupMember> {
        match s.strip_prefix("external:") {
            Some(n) if is_valid_external_number(n) => Some(GroupMember::External(n.to_owned())),
            Some(_) => None,
            None => Ext::parse(s).map(GroupMember::User),
        }
    }

    /// The user's extension, for a user member.
    pub fn user(&self) -> Option<&Ext> {
        match self {
            GroupMember::User(e) => Some(e),
            GroupMember::External(_) => None,
        }
    }
}

impl fmt::Display for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupMember::User(e) => f.write_str(e.as_str()),
            GroupMember::External(n) => write!(f, "external:{n}"),
        }
    }
}

impl serde::Serialize for GroupMember {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A voice menu (`ivrs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ivr {
    /// Unique name (`ivr:NAME`).
    pub name: String,
    /// Internal number phones dial to reach the menu; shares the tenant's extension
    /// space with users and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<Ext>,
    /// Prompt names played in order.
    pub prompts: Vec<String>,
    /// Seconds to wait for a digit. Default 5.
    pub digit_timeout: u32,
    /// Seconds to wait for the next digit once one was pressed (1–30). Default
    /// [`Ivr::DEFAULT_INTER_DIGIT_TIMEOUT`]. Also how long a digit that is both a menu
    /// option and the start of an extension waits before the option is taken.
    pub inter_digit_timeout: u32,
    /// Times the menu repeats before `on_timeout`. Default 1.
    pub repeat: u32,
    /// Whether callers may dial an extension directly. Default false.
    pub direct_dial: bool,
    /// Digit (`0`–`9`, `*`, `#`) → destination.
    pub options: BTreeMap<String, Destination>,
    /// After the last repeat with no digit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Destination>,
    /// After an unassigned digit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_invalid: Option<Destination>,
}

impl Ivr {
    /// Default of `inter_digit_timeout`, seconds.
    pub const DEFAULT_INTER_DIGIT_TIMEOUT: u32 = 3;

    /// The menu keys: `0`–`9`, `*`, `#`.
    pub const KEYS: [char; 12] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];
}

/// A public number bound to the tenant, and where its calls go (`numbers`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NumberRoute {
    /// E.164: `+` and 1–15 digits.
    pub number: String,
    /// Where incoming calls go.
    pub route: Destination,
    /// The language of every prompt a call on this number hears (`language`), instead of
    /// the tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A phonebook entry (`phonebook`): an outside caller with this number is shown with
/// this name on the phones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PhonebookEntry {
    /// E.164.
    pub number: String,
    pub name: String,
}

/// Outbound dialing (`outbound`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Outbound {
    /// Digits users dial before an outside number (1–4 digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Caller number presented outside (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The keys a tenant file may have at the top level.
pub const TOP_KEYS: &[&str] = &[
    "domain",
    "language",
    "country",
    "options",
    "limits",
    "users",
    "groups",
    "queues",
    "ivrs",
    "schedules",
    "announces",
    "numbers",
    "phonebook",
    "outbound",
    "moh",
    "service_codes",
];
const PHONEBOOK_KEYS: &[&str] = &["number", "name"];
const OPTION_KEYS: &[&str] = &[
    "recording",
    "recording_download",
    "analytics",
    "disa",
    "digest_algorithms",
    "register_networks",
    "unsolicited_mwi",
];
const LIMIT_KEYS: &[&str] = &[
    "max_calls",
    "storage_mb",
    "recording_days",
    "voicemail_days",
    "max_contacts_per_aor",
    "max_external_calls",
    "external_calls_per_hour",
];
/// The keys a user may have.
pub const USER_KEYS: &[&str] = &[
    "ext",
    "name",
    "secret",
    "email",
    "auth_user",
    "digest_algorithms",
    "nat",
    "ring_timeout",
    "busy_level",
    "call_limit",
    "on_busy",
    "on_no_answer",
    "on_unavailable",
    "voicemail",
    "pin",
    "recording",
    "outbound",
    "outbound_number",
    "max_external_calls",
    "external_calls_per_hour",
    "pickup_group",
];

/// The outbound classes a user may be allowed (`users[].outbound`).
pub const OUTBOUND_CLASSES: [&str; 4] = ["regional", "international", "emergency", "other"];
const VOICEMAIL_KEYS: &[&str] = &[
    "enabled",
    "delete_after_email",
    "format",
    "max_message_s",
    "busy_greeting",
    "unavailable_greeting",
    "unsolicited_mwi",
];
const GROUP_KEYS: &[&str] = &[
    "ext",
    "name",
    "strategy",
    "members",
    "ring_timeout",
    "on_timeout",
];
const IVR_KEYS: &[&str] = &[
    "name",
    "ext",
    "prompts",
    "digit_timeout",
    "inter_digit_timeout",
    "repeat",
    "direct_dial",
    "options",
    "on_timeout",
    "on_invalid",
];
/// A two-letter lower-case language code (`language` of the tenant and of a number).
fn language_code(lang: &str, path: &str) -> Result<String, ConfigError> {
    if !(lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_lowercase())) {
        return Err(ConfigError::invalid(
            path,
            format!("\"{lang}\" is not a two-letter language code (en, ru, it, …)"),
        ));
    }
    Ok(lang.to_owned())
}

const NUMBER_KEYS: &[&str] = &["number", "route", "language"];
const ANNOUNCE_KEYS: &[&str] = &["name", "prompts", "then"];
const SERVICE_CODE_KEYS: &[&str] = &[
    "voicemail",
    "pickup",
    "directed_pickup",
    "agent_login",
    "agent_logout",
    "agent_pause",
    "agent_unpause",
];
const OUTBOUND_KEYS: &[&str] = &["prefix", "number"];

/// The shortest accepted SIP secret.
pub const MIN_SECRET_LEN: usize = 8;

pub(crate) fn u32_of(
    f: &Fields<'_>,
    key: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, ConfigError> {
    Ok(f.uint(key, u64::from(min), u64::from(max))?
        .map(|v| u32::try_from(v).expect("range-checked against a u32 maximum")))
}

/// A group member: a quoted extension, or `external:NUMBER`.
fn member_of(node: &Node, path: &str) -> Result<GroupMember, ConfigError> {
    match node {
        Node::Str(s) if s.starts_with("external:") => GroupMember::parse(s).ok_or_else(|| {
            ConfigError::invalid(
                path,
                format!("\"{s}\": not a phone number after external: (optional + and 1–20 digits)"),
            )
        }),
        other => ext_of(other, path).map(GroupMember::User),
    }
}

pub(crate) fn ext_of(node: &Node, path: &str) -> Result<Ext, ConfigError> {
    match node {
        Node::Str(s) => Ext::parse(s).ok_or_else(|| {
            ConfigError::invalid(
                path,
                format!("\"{s}\" is not a valid extension (digits, 2–8 long)"),
            )
        }),
        Node::Int(i) => Err(ConfigError::invalid(
            path,
            format!("extensions must be quoted strings (write \"{i}\"), so leading zeros are kept"),
        )),
        other => Err(ConfigError::WrongType {
            path: path.to_owned(),
            expected: "a quoted extension",
            found: other.describe(),
        }),
    }
}

pub(crate) fn destination_of(
    f: &Fields<'_>,
    key: &str,
) -> Result<Option<Destination>, ConfigError> {
    f.string(key)?
        .map(|s| Destination::parse(s).map_err(|m| ConfigError::invalid(f.at(key), m)))
        .transpose()
}

/// The `name` of an IVR, schedule or announcement.
fn object_name(f: &Fields<'_>) -> Result<String, ConfigError> {
    let name = as_str(f.require("name")?, &f.at("name"))?;
    if !is_valid_name(name) {
        return Err(ConfigError::invalid(
            f.at("name"),
            format!("\"{name}\" is not a valid name (letters, digits, _ . -, 1–64 long)"),
        ));
    }
    Ok(name.to_owned())
}

const PROMPT_NAME_HELP: &str = "letters, digits, _ - . and one / as in digits/1, 1–64 long";

fn prompt_name(node: &Node, path: &str) -> Result<String, ConfigError> {
    let p = as_str(node, path)?;
    if is_valid_prompt_name(p) {
        Ok(p.to_owned())
    } else {
        Err(ConfigError::invalid(
            path,
            format!("\"{p}\" is not a valid prompt name ({PROMPT_NAME_HELP})"),
        ))
    }
}

fn prompt_list(f: &Fields<'_>, key: &str) -> Result<Vec<String>, ConfigError> {
    let path = f.at(key);
    f.list(key)?
        .iter()
        .enumerate()
        .map(|(i, n)| prompt_name(n, &index(&path, i)))
        .collect()
}

/// A service code: 2–8 of `0-9 * #`.
fn is_valid_service_code(s: &str) -> bool {
    (2..=8).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#'))
}

pub(crate) fn display_name(f: &Fields<'_>, key: &'static str) -> Result<String, ConfigError> {
    let name = as_str(f.require(key)?, &f.at(key))?;
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ConfigError::invalid(
            f.at(key),
            "must be 1–100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

fn e164(node: &Node, path: &str) -> Result<String, ConfigError> {
    let s = as_str(node, path)?;
    let ok = s
        .strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ConfigError::invalid(
            path,
            format!("\"{s}\" is not an E.164 number (+ and 1–15 digits)"),
        ))
    }
}

fn algorithms(f: &Fields<'_>, key: &str) -> Result<Option<Vec<DigestAlgorithm>>, ConfigError> {
    let Some(node) = f.get(key) else {
        return Ok(None);
    };
    let path = f.at(key);
    let names = string_list(as_list(node, &path)?, &path)?;
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let alg = match name.to_ascii_lowercase().as_str() {
            "md5" => DigestAlgorithm::Md5,
            "sha256" | "sha-256" => DigestAlgorithm::Sha256,
            _ => {
                return Err(ConfigError::invalid(
                    index(&path, i),
                    format!("\"{name}\" is not a digest algorithm (expected md5 or sha256)"),
                ));
            }
        };
        if out.contains(&alg) {
            return Err(ConfigError::invalid(
                index(&path, i),
                format!("{alg} is listed twice"),
            ));
        }
        out.push(alg);
    }
    if out.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "must name at least one algorithm (md5 or sha256)",
        ));
    }
    Ok(Some(out))
}

fn is_valid_auth_user(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

fn check_secret(secret: &str, path: &str) -> Result<(), ConfigError> {
    // Never echo the secret itself.
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(ConfigError::invalid(
            path,
            format!(
                "too short: at least {MIN_SECRET_LEN} characters (short secrets are what scanners guess)"
            ),
        ));
    }
    if secret.chars().count() > 128 || secret.chars().any(char::is_control) {
        return Err(ConfigError::invalid(
            path,
            "must be at most 128 characters without control characters",
        ));
    }
    Ok(())
}

impl TenantConfig {
    /// A tenant with only a domain and defaults (what `vpbx tenant create` starts from).
    pub fn new(domain: &str) -> TenantConfig {
        TenantConfig {
            domain: domain.to_owned(),
            language: "en".to_owned(),
            country: None,
            options: TenantOptions::default(),
            limits: TenantLimits::default(),
            users: Vec::new(),
            groups: Vec::new(),
            queues: Vec::new(),
            ivrs: Vec::new(),
            numbers: Vec::new(),
            phonebook: Vec::new(),
            outbound: None,
            moh: DEFAULT_MOH_CLASS.to_owned(),
            service_codes: ServiceCodes::default(),
            schedules: Vec::new(),
            announces: Vec::new(),
        }
    }

    /// Parses and validates a tenant file. Users may lack `secret` here; call
    /// [`TenantConfig::fill_missing_secrets_from`] (existing tenant) or
    /// [`TenantConfig::check_secrets_present`] (new tenant) before storing.
    pub fn from_yaml_str(text: &str) -> Result<TenantConfig, ConfigError> {
        let root = Node::from_yaml_str(text)?;
        let top = Fields::new(&root, "", TOP_KEYS)?;

        let domain = as_str(top.require("domain")?, "domain")?;
        if !(is_valid_domain(domain) || domain.parse::<IpAddr>().is_ok()) {
            return Err(ConfigError::invalid(
                "domain",
                format!("\"{domain}\" is not a valid lower-case domain name"),
            ));
        }
        let mut cfg = TenantConfig::new(domain);

        if let Some(lang) = top.string("language")? {
            cfg.language = language_code(lang, "language")?;
        }
        if let Some(country) = top.string("country")? {
            let upper = country.to_ascii_uppercase();
            if !is_country_code(&upper) {
                return Err(ConfigError::invalid(
                    "country",
                    format!(
                        "\"{country}\" is not an ISO 3166-1 alpha-2 country code (e.g. RU, IT, US)"
                    ),
                ));
            }
            cfg.country = Some(upper);
        }

        let empty = Node::Null;
        let opts = Fields::new(top.get("options").unwrap_or(&empty), "options", OPTION_KEYS)?;
        let o = &mut cfg.options;
        o.recording = opts.bool_or("recording", o.recording)?;
        o.recording_download = opts.bool_or("recording_download", o.recording_download)?;
        o.analytics = opts.bool_or("analytics", o.analytics)?;
        o.disa = opts.bool_or("disa", o.disa)?;
        o.unsolicited_mwi = opts.bool_or("unsolicited_mwi", o.unsolicited_mwi)?;
        if let Some(algs) = algorithms(&opts, "digest_algorithms")? {
            o.digest_algorithms = algs;
        }
        if opts.get("register_networks").is_some() {
            o.register_networks = Some(networks(&opts, "register_networks")?);
        }

        let lim = Fields::new(top.get("limits").unwrap_or(&empty), "limits", LIMIT_KEYS)?;
        let l = &mut cfg.limits;
        l.max_calls = u32_of(&lim, "max_calls", 0, 1_000_000)?;
        l.storage_mb = u32_of(&lim, "storage_mb", 0, u32::MAX)?.unwrap_or(l.storage_mb);
        l.recording_days = u32_of(&lim, "recording_days", 0, 36_500)?.unwrap_or(l.recording_days);
        l.voicemail_days = u32_of(&lim, "voicemail_days", 0, 36_500)?.unwrap_or(l.voicemail_days);
        l.max_contacts_per_aor = u32_of(&lim, "max_contacts_per_aor", 1, 1000)?;
        l.max_external_calls = u32_of(&lim, "max_external_calls", 0, 1_000_000)?;
        l.external_calls_per_hour = u32_of(&lim, "external_calls_per_hour", 0, 10_000_000)?;

        for (i, node) in top.list("users")?.iter().enumerate() {
            cfg.users.push(parse_user(node, &index("users", i))?);
        }
        for (i, node) in top.list("groups")?.iter().enumerate() {
            cfg.groups.push(parse_group(node, &index("groups", i))?);
        }
        for (i, node) in top.list("queues")?.iter().enumerate() {
            cfg.queues
                .push(queue::parse_queue(node, &index("queues", i))?);
        }
        for (i, node) in top.list("ivrs")?.iter().enumerate() {
            cfg.ivrs.push(parse_ivr(node, &index("ivrs", i))?);
        }
        for (i, node) in top.list("schedules")?.iter().enumerate() {
            cfg.schedules.push(schedule::parse_schedule(
                node,
                &index("schedules", i),
                destination_of,
            )?);
        }
        for (i, node) in top.list("announces")?.iter().enumerate() {
            let path = index("announces", i);
            let f = Fields::new(node, &path, ANNOUNCE_KEYS)?;
            let name = object_name(&f)?;
            let prompts = prompt_list(&f, "prompts")?;
            if prompts.is_empty() {
                return Err(ConfigError::invalid(
                    f.at("prompts"),
                    "must name at least one prompt",
                ));
            }
            let then = destination_of(&f, "then")?.unwrap_or(Destination::Hangup);
            cfg.announces.push(Announce {
                name,
                prompts,
                then,
            });
        }
        for (i, node) in top.list("numbers")?.iter().enumerate() {
            let path = index("numbers", i);
            let f = Fields::new(node, &path, NUMBER_KEYS)?;
            let number = e164(f.require("number")?, &f.at("number"))?;
            let route = destination_of(&f, "route")?.ok_or_else(|| ConfigError::MissingKey {
                path: path.clone(),
                key: "route",
            })?;
            let language = match f.string("language")? {
                Some(l) => Some(language_code(l, &f.at("language"))?),
                None => None,
            };
            cfg.numbers.push(NumberRoute {
                number,
                route,
                language,
            });
        }
        for (i, node) in top.list("phonebook")?.iter().enumerate() {
            let path = index("phonebook", i);
            let f = Fields::new(node, &path, PHONEBOOK_KEYS)?;
            let number = e164(f.require("number")?, &f.at("number"))?;
            f.require("name")?;
            let name = display_name(&f, "name")?;
            if cfg.phonebook.iter().any(|e| e.number == number) {
                return Err(ConfigError::invalid(
                    f.at("number"),
                    format!("\"{number}\" is listed twice"),
                ));
            }
            cfg.phonebook.push(PhonebookEntry { number, name });
        }
        if let Some(node) = top.get("outbound") {
            let f = Fields::new(node, "outbound", OUTBOUND_KEYS)?;
            let prefix = match f.string("prefix")? {
                Some(p) if (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(p.to_owned())
                }
                Some(p) => {
                    return Err(ConfigError::invalid(
                        "outbound.prefix",
                        format!("\"{p}\" is not 1–4 digits"),
                    ));
                }
                None => None,
            };
            let number = f
                .get("number")
                .map(|n| e164(n, "outbound.number"))
                .transpose()?;
            cfg.outbound = Some(Outbound { prefix, number });
        }
        if let Some(class) = top.string("moh")? {
            if !is_valid_name(class) {
                return Err(ConfigError::invalid(
                    "moh",
                    format!(
                        "\"{class}\" is not a valid music-on-hold class name (letters, digits, _ . -, 1–64 long)"
                    ),
                ));
            }
            class.clone_into(&mut cfg.moh);
        }
        let codes = Fields::new(
            top.get("service_codes").unwrap_or(&empty),
            "service_codes",
            SERVICE_CODE_KEYS,
        )?;
        for key in SERVICE_CODE_KEYS {
            let Some(code) = codes.string(key)? else {
                continue;
            };
            if !is_valid_service_code(code) {
                let defaults = ServiceCodes::default();
                let example = defaults
                    .all()
                    .into_iter()
                    .find(|(k, _)| k == key)
                    .map_or("*97", |(_, c)| c)
                    .to_owned();
                return Err(ConfigError::invalid(
                    codes.at(key),
                    format!("\"{code}\" is not a service code (2–8 of 0-9 * #, e.g. {example})"),
                ));
            }
            if let Some(slot) = cfg.service_codes.slot(key) {
                code.clone_into(slot);
            }
        }

        cfg.check_cross_references()?;
        Ok(cfg)
    }

    /// Rules that span several entries: one extension space for users, groups and IVRs;
    /// unique names, auth users and numbers; service codes that do not collide with
    /// extensions; `user:` and `schedule:` destinations and group members exist.
    fn check_cross_references(&self) -> Result<(), ConfigError> {
        // Extension owners in file order (for deterministic messages) and by extension.
        let mut owners: Vec<(&str, String)> = Vec::new();
        let mut exts: HashMap<&str, String> = HashMap::new();
        let mut auth: HashMap<&str, String> = HashMap::new();
        let mut dialable: Vec<(&Ext, String)> = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            dialable.push((&u.ext, index("users", i)));
        }
        for (i, g) in self.groups.iter().enumerate() {
            dialable.push((&g.ext, index("groups", i)));
        }
        for (i, q) in self.queues.iter().enumerate() {
            dialable.push((&q.ext, index("queues", i)));
        }
        for (i, ivr) in self.ivrs.iter().enumerate() {
            if let Some(e) = &ivr.ext {
                dialable.push((e, index("ivrs", i)));
            }
        }
        for (ext, owner) in dialable {
            if let Some(prev) = exts.insert(ext.as_str(), owner.clone()) {
                return Err(ConfigError::invalid(
                    join(&owner, "ext"),
                    format!("\"{ext}\" is already used by {prev}"),
                ));
            }
            owners.push((ext.as_str(), owner));
        }
        for (i, u) in self.users.iter().enumerate() {
            let path = index("users", i);
            if let Some(prev) = auth.insert(u.auth_user(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(
                        &path,
                        if u.auth_user.is_some() {
                            "auth_user"
                        } else {
                            "ext"
                        },
                    ),
                    format!(
                        "authentication username \"{}\" is already used by {prev}",
                        u.auth_user()
                    ),
                ));
            }
        }
        let prefix = self.outbound.as_ref().and_then(|o| o.prefix.as_deref());
        if let Some(p) = prefix
            && let Some((ext, owner)) = owners
                .iter()
                .find(|(e, _)| e.starts_with(p) || p.starts_with(e))
        {
            return Err(ConfigError::invalid(
                join(owner, "ext"),
                format!(
                    "\"{ext}\" collides with outbound.prefix \"{p}\" (one is the start of the other, so a phone dialing it could reach the outside)"
                ),
            ));
        }
        for (key, code) in self.service_codes.all() {
            let at = join("service_codes", key);
            let clash = |other: &str| code.starts_with(other) || other.starts_with(code);
            if let Some((ext, owner)) = owners.iter().find(|(e, _)| clash(e)) {
                return Err(ConfigError::invalid(
                    at,
                    format!(
                        "\"{code}\" collides with {owner}.ext \"{ext}\" (one is the start of the other, so dialing is ambiguous)"
                    ),
                ));
            }
            if let Some(p) = prefix.filter(|p| clash(p)) {
                return Err(ConfigError::invalid(
                    at,
                    format!(
                        "\"{code}\" collides with outbound.prefix \"{p}\" (one is the start of the other, so dialing is ambiguous)"
                    ),
                ));
            }
        }
        let codes = self.service_codes.all();
        for (i, (key, code)) in codes.iter().enumerate() {
            if let Some((other, c)) = codes[..i]
                .iter()
                .find(|(_, c)| c.starts_with(code) || code.starts_with(c))
            {
                return Err(ConfigError::invalid(
                    join("service_codes", key),
                    format!(
                        "\"{code}\" collides with service_codes.{other} \"{c}\" (one is the start of the other, so dialing is ambiguous)"
                    ),
                ));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            let path = index("groups", i);
            for (j, m) in g.members.iter().enumerate() {
                let at = index(&join(&path, "members"), j);
                if m.user().is_some_and(|u| self.user(u.as_str()).is_none()) {
                    return Err(ConfigError::invalid(
                        at,
                        format!("\"{m}\" is not a user of this tenant"),
                    ));
                }
                if g.members[..j].contains(m) {
                    return Err(ConfigError::invalid(at, format!("\"{m}\" is listed twice")));
                }
            }
        }
        for (i, q) in self.queues.iter().enumerate() {
            let path = index("queues", i);
            for (key, list) in [("members", &q.members), ("agents", &q.agents)] {
                for (j, m) in list.iter().enumerate() {
                    if self.user(m.as_str()).is_none() {
                        return Err(ConfigError::invalid(
                            index(&join(&path, key), j),
                            format!("\"{m}\" is not a user of this tenant"),
                        ));
                    }
                }
            }
        }
        unique_names("ivrs", self.ivrs.iter().map(|x| x.name.as_str()))?;
        unique_names("schedules", self.schedules.iter().map(|x| x.name.as_str()))?;
        unique_names("announces", self.announces.iter().map(|x| x.name.as_str()))?;
        let mut numbers: HashMap<&str, String> = HashMap::new();
        for (i, n) in self.numbers.iter().enumerate() {
            let path = index("numbers", i);
            if let Some(prev) = numbers.insert(n.number.as_str(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(&path, "number"),
                    format!("\"{}\" is already used by {prev}", n.number),
                ));
            }
        }
        for (path, d) in self.destinations() {
            match d {
                Destination::User(e) if self.user(e.as_str()).is_none() => {
                    return Err(ConfigError::invalid(
                        path,
                        format!("user:{e} does not exist in this tenant"),
                    ));
                }
                Destination::Schedule(n) if self.schedule(n).is_none() => {
                    return Err(ConfigError::invalid(
                        path,
                        format!("schedule:{n} does not exist in this tenant"),
                    ));
                }
                Destination::Group(e) if self.group(e.as_str()).is_none() => {
                    return Err(ConfigError::invalid(
                        path,
                        format!("group:{e} does not exist in this tenant"),
                    ));
                }
                Destination::Ivr(n) if self.ivr(n).is_none() => {
                    return Err(ConfigError::invalid(
                        path,
                        format!("ivr:{n} does not exist in this tenant"),
                    ));
                }
                Destination::Voicemail(e) | Destination::Message(e)
                    if self.user(e.as_str()).is_none() =>
                {
                    return Err(ConfigError::invalid(
                        path,
                        format!("{d}: user {e} does not exist in this tenant"),
                    ));
                }
                Destination::Queue(e) if self.queue(e.as_str()).is_none() => {
                    return Err(ConfigError::invalid(
                        path,
                        format!("queue:{e} does not exist in this tenant"),
                    ));
                }
                Destination::Conference(_) => {
                    return Err(ConfigError::invalid(
                        path,
                        format!(
                            "{d} does not exist in this tenant (this version has no conferences yet)"
                        ),
                    ));
                }
                _ => {}
            }
        }
        self.check_pass_through_cycles()
    }

    /// Every number a phone of the tenant can dial inside it (users, groups, IVRs with an
    /// `ext`), with its place in the file (`users[2]`).
    pub fn dialable(&self) -> Vec<(&str, String)> {
        let users = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.ext.as_str(), index("users", i)));
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.ext.as_str(), index("groups", i)));
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.ext.as_str(), index("queues", i)));
        let ivrs = self
            .ivrs
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((v.ext.as_ref()?.as_str(), index("ivrs", i))));
        users.chain(groups).chain(queues).chain(ivrs).collect()
    }

    /// The phonebook name of an outside caller whose number `from` came as the provider
    /// sent it: E.164 with or without `+`.
    pub fn phonebook_name(&self, from: &str) -> Option<&str> {
        let digits = from.strip_prefix('+').unwrap_or(from);
        self.phonebook
            .iter()
            .find(|e| e.number.strip_prefix('+') == Some(digits))
            .map(|e| e.name.as_str())
    }

    /// The queue with extension `ext`.
    pub fn queue(&self, ext: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.ext.as_str() == ext)
    }

    /// The group with extension `ext`.
    pub fn group(&self, ext: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.ext.as_str() == ext)
    }

    /// Destinations that pass a call on without ringing or playing anything: schedules
    /// (they only choose a branch) and groups without members (straight to `on_timeout`).
    /// A circle made only of them would pass a call around for ever, so it is refused;
    /// a circle through anything that rings or plays (seed 000's secretary → group →
    /// secretary) is legal, and the run-time hop limit ends it. Iterative depth-first
    /// search, so a huge file cannot overflow the stack.
    fn check_pass_through_cycles(&self) -> Result<(), ConfigError> {
        // Nodes: schedules, then member-less groups. Edges: (place in the file, target).
        let mut nodes: Vec<(String, Vec<(String, &Destination)>)> = Vec::new();
        for (i, sch) in self.schedules.iter().enumerate() {
            let p = index("schedules", i);
            nodes.push((
                format!("schedule:{}", sch.name),
                vec![
                    (join(&p, "in_hours"), &sch.in_hours),
                    (join(&p, "after_hours"), &sch.after_hours),
                ],
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.members.is_empty() {
                let edges = g
                    .on_timeout
                    .iter()
                    .map(|d| (join(&index("groups", i), "on_timeout"), d))
                    .collect();
                nodes.push((format!("group:{}", g.ext), edges));
            }
        }
        let by_name: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i))
            .collect();
        let target = |d: &Destination| -> Option<usize> {
            match d {
                Destination::Schedule(_) | Destination::Group(_) => {
                    by_name.get(d.to_string().as_str()).copied()
                }
                _ => None,
            }
        };
        // 0: not seen, 1: on the current path, 2: done.
        let mut color = vec![0u8; nodes.len()];
        for root in 0..nodes.len() {
            if color[root] != 0 {
                continue;
            }
            color[root] = 1;
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(top) = path.last_mut() {
                let (v, edge) = *top;
                let Some((at, d)) = nodes[v].1.get(edge) else {
                    color[v] = 2;
                    path.pop();
                    continue;
                };
                top.1 += 1;
                let Some(w) = target(d) else {
                    continue;
                };
                match color[w] {
                    0 => {
                        color[w] = 1;
                        path.push((w, 0));
                    }
                    1 => {
                        let start = path
                            .iter()
                            .position(|&(x, _)| x == w)
                            .expect("a node marked 1 is on the current path");
                        let mut names: Vec<&str> = path[start..]
                            .iter()
                            .map(|&(x, _)| nodes[x].0.as_str())
                            .collect();
                        names.push(nodes[w].0.as_str());
                        return Err(ConfigError::invalid(
                            at.clone(),
                            format!(
                                "{} goes round in a circle without ringing or playing anything",
                                names.join(" → ")
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Every destination the tenant names, with its place in the file
    /// (`users[0].on_busy`, `ivrs[1].options.9`, `schedules[0].in_hours`, …), in file order.
    pub fn destinations(&self) -> Vec<(String, &Destination)> {
        let mut out: Vec<(String, &Destination)> = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            let p = index("users", i);
            for (k, d) in [
                ("on_busy", &u.on_busy),
                ("on_no_answer", &u.on_no_answer),
                ("on_unavailable", &u.on_unavailable),
            ] {
                if let Some(d) = d {
                    out.push((join(&p, k), d));
                }
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            if let Some(d) = &g.on_timeout {
                out.push((join(&index("groups", i), "on_timeout"), d));
            }
        }
        for (i, q) in self.queues.iter().enumerate() {
            for (k, d) in q.destinations() {
                out.push((join(&index("queues", i), k), d));
            }
        }
        for (i, ivr) in self.ivrs.iter().enumerate() {
            let p = index("ivrs", i);
            for (digit, d) in &ivr.options {
                out.push((join(&join(&p, "options"), digit), d));
            }
            for (k, d) in [
                ("on_timeout", &ivr.on_timeout),
                ("on_invalid", &ivr.on_invalid),
            ] {
                if let Some(d) = d {
                    out.push((join(&p, k), d));
                }
            }
        }
        for (i, sch) in self.schedules.iter().enumerate() {
            let p = index("schedules", i);
            out.push((join(&p, "in_hours"), &sch.in_hours));
            out.push((join(&p, "after_hours"), &sch.after_hours));
        }
        for (i, a) in self.announces.iter().enumerate() {
            out.push((join(&index("announces", i), "then"), &a.then));
        }
        for (i, n) in self.numbers.iter().enumerate() {
            out.push((join(&index("numbers", i), "route"), &n.route));
        }
        out
    }

    /// The IVR called `name`.
    pub fn ivr(&self, name: &str) -> Option<&Ivr> {
        self.ivrs.iter().find(|i| i.name == name)
    }

    /// The schedule called `name`.
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.name == name)
    }

    /// The announcement object called `name`; `None` means `announce:NAME` plays the
    /// prompt NAME and hangs up.
    pub fn announce(&self, name: &str) -> Option<&Announce> {
        self.announces.iter().find(|a| a.name == name)
    }

    /// What a phone reaches by dialing `digits` inside the tenant: `user:EXT`,
    /// `group:EXT` or `ivr:NAME` (an IVR with that `ext`).
    pub fn internal_number(&self, digits: &str) -> Option<Destination> {
        if let Some(u) = self.user(digits) {
            return Some(Destination::User(u.ext.clone()));
        }
        if let Some(g) = self.groups.iter().find(|g| g.ext.as_str() == digits) {
            return Some(Destination::Group(g.ext.clone()));
        }
        if let Some(q) = self.queue(digits) {
            return Some(Destination::Queue(q.ext.clone()));
        }
        self.ivrs
            .iter()
            .find(|i| i.ext.as_ref().is_some_and(|e| e.as_str() == digits))
            .map(|i| Destination::Ivr(i.name.clone()))
    }

    /// Where prompt `name` is found for this tenant: its library, then the system
    /// prompts in its `language`, then in English (see [`resolve_prompt`]).
    pub fn resolve_prompt(&self, catalog: &dyn PromptCatalog, name: &str) -> Option<PromptSource> {
        resolve_prompt(catalog, &self.language, name)
    }

    /// Every prompt the tenant names, with its place in the file: IVR and announcement
    /// prompts, `announce:PROMPT` destinations (those that do not name an announcement
    /// object), and voicemail greetings.
    pub fn prompt_references(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        for (i, ivr) in self.ivrs.iter().enumerate() {
            let p = join(&index("ivrs", i), "prompts");
            for (j, name) in ivr.prompts.iter().enumerate() {
                out.push((index(&p, j), name));
            }
        }
        for (i, a) in self.announces.iter().enumerate() {
            let p = join(&index("announces", i), "prompts");
            for (j, name) in a.prompts.iter().enumerate() {
                out.push((index(&p, j), name));
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            let p = join(&index("users", i), "voicemail");
            for (k, g) in [
                ("busy_greeting", &u.voicemail.busy_greeting),
                ("unavailable_greeting", &u.voicemail.unavailable_greeting),
            ] {
                if let Some(g) = g {
                    out.push((join(&p, k), g));
                }
            }
        }
        for (path, d) in self.destinations() {
            if let Destination::Announce(name) = d
                && self.announce(name).is_none()
            {
                out.push((path, name));
            }
        }
        out
    }

    /// Checks that every prompt the tenant names ([`TenantConfig::prompt_references`])
    /// and its music-on-hold class exist, so that a missing file is an error when the
    /// config is applied rather than silence during a call. The first missing one is
    /// the error: `ivrs[0].prompts[2]: prompt "advert" not found (tenant office.example,
    /// language ru)`.
    pub fn check_prompts(&self, catalog: &dyn PromptCatalog) -> Result<(), ConfigError> {
        for (path, name) in self.prompt_references() {
            if self.resolve_prompt(catalog, name).is_none() {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "prompt \"{name}\" not found (tenant {}, language {})",
                        self.domain, self.language
                    ),
                ));
            }
        }
        let queues = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| Some((join(&index("queues", i), "moh"), q.moh.as_deref()?)));
        for (path, class) in std::iter::once(("moh".to_owned(), self.moh.as_str())).chain(queues) {
            if !catalog.has_moh_class(class) {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                        "music-on-hold class \"{class}\" not found (tenant {})",
                        self.domain
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applying a file exported without secrets. A user entry without `secret` is read
    /// as "secrets omitted": if the tenant already has a user with that extension, the
    /// stored `secret` and `pin` are kept. A user entry with a `secret` is complete: a
    /// missing `pin` there means "no PIN" (that is how a PIN is removed). A new user (no
    /// user with that extension in `old`) without a secret is an error.
    pub fn fill_missing_secrets_from(&mut self, old: &TenantConfig) -> Result<(), ConfigError> {
        for user in &mut self.users {
            if user.secret.is_some() {
                continue;
            }
            if let Some(prev) = old.users.iter().find(|u| u.ext == user.ext) {
                user.secret.clone_from(&prev.secret);
                if user.pin.is_none() {
                    user.pin.clone_from(&prev.pin);
                }
            }
        }
        self.check_secrets_present()
    }

    /// Every user has a secret (for a tenant that has no stored config yet).
    pub fn check_secrets_present(&self) -> Result<(), ConfigError> {
        match self.users.iter().position(|u| u.secret.is_none()) {
            Some(i) => Err(ConfigError::invalid(
                index("users", i),
                format!("new user {} needs a \"secret\"", self.users[i].ext),
            )),
            None => Ok(()),
        }
    }

    /// The user with extension `ext`.
    pub fn user(&self, ext: &str) -> Option<&User> {
        self.users.iter().find(|u| u.ext.as_str() == ext)
    }

    /// Whether an answered call is recorded: `caller` is the calling user's extension (None
    /// for an outside caller), `destination` where it was answered (`user:1002`, …). Recorded
    /// when one of the users in it records calls ([`User::records_calls`]: a user set to
    /// `true` is recorded whoever they talk to, and a tenant-wide `recording` covers a user
    /// left at `inherit` even when the other side is set to `false`); a call with no user in
    /// it follows `options.recording`.
    pub fn records_call(&self, caller: Option<&str>, destination: &str) -> bool {
        let callee = destination.strip_prefix("user:");
        let mut users = [caller, callee]
            .into_iter()
            .flatten()
            .filter_map(|ext| self.user(ext))
            .peekable();
        if users.peek().is_none() {
            return self.options.recording;
        }
        users.any(|u| u.records_calls(&self.options))
    }
}

/// Names in one list are unique: `ivrs[1].name: "main" is already used by ivrs[0]`.
fn unique_names<'a>(list: &str, names: impl Iterator<Item = &'a str>) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (i, name) in names.enumerate() {
        let path = index(list, i);
        if let Some(prev) = seen.insert(name, path.clone()) {
            return Err(ConfigError::invalid(
                join(&path, "name"),
                format!("\"{name}\" is already used by {prev}"),
            ));
        }
    }
    Ok(())
}

fn networks(f: &Fields<'_>, key: &str) -> Result<NetworkList, ConfigError> {
    let path = f.at(key);
    let list = string_list(f.list(key)?, &path)?;
    NetworkList::parse(&list).map_err(|i| {
        ConfigError::invalid(
            index(&path, i),
            format!("\"{}\" is not a CIDR or IP address", list[i]),
        )
    })
}

fn parse_user(node: &Node, path: &str) -> Result<User, ConfigError> {
    let f = Fields::new(node, path, USER_KEYS)?;
    let ext = ext_of(f.require("ext")?, &f.at("ext"))?;
    let name = display_name(&f, "name")?;
    let secret = f.string("secret")?;
    if let Some(s) = secret {
        check_secret(s, &f.at("secret"))?;
    }
    let email = f.string("email")?;
    if let Some(e) = email
        && !is_plausible_email(e)
    {
        return Err(ConfigError::invalid(
            f.at("email"),
            format!("\"{e}\" is not a plausible e-mail address"),
        ));
    }
    let auth_user = f.string("auth_user")?;
    if let Some(a) = auth_user
        && !is_valid_auth_user(a)
    {
        return Err(ConfigError::invalid(
            f.at("auth_user"),
            format!(
                "\"{a}\" is not a valid authentication username (letters, digits, . _ + -, 1–64 long)"
            ),
        ));
    }
    let nat = match f.string("nat")? {
        None | Some("auto") => NatMode::Auto,
        Some("force") => NatMode::Force,
        Some("never") => NatMode::Never,
        Some(other) => {
            return Err(ConfigError::invalid(
                f.at("nat"),
                format!("\"{other}\" is not one of: auto, force, never"),
            ));
        }
    };
    let call_limit = u32_of(&f, "call_limit", 1, 100)?.unwrap_or(4);
    let busy_level = u32_of(&f, "busy_level", 1, 100)?.unwrap_or(1);
    if busy_level > call_limit {
        return Err(ConfigError::invalid(
            f.at("busy_level"),
            format!("{busy_level} is greater than call_limit ({call_limit})"),
        ));
    }
    let voicemail = match f.get("voicemail") {
        None => Voicemail::default(),
        Some(node) => {
            let vp = f.at("voicemail");
            let v = Fields::new(node, &vp, VOICEMAIL_KEYS)?;
            let format = match v.string("format")? {
                None | Some("wav") => VoicemailFormat::Wav,
                Some("wav49") => VoicemailFormat::Wav49,
                Some(other) => {
                    return Err(ConfigError::invalid(
                        v.at("format"),
                        format!("\"{other}\" is not one of: wav, wav49"),
                    ));
                }
            };
            let greeting = |key: &str| v.get(key).map(|n| prompt_name(n, &v.at(key))).transpose();
            let vm = Voicemail {
                enabled: v.bool_or("enabled", false)?,
                delete_after_email: v.bool_or("delete_after_email", false)?,
                format,
                max_message_s: u32_of(&v, "max_message_s", 5, 3600)?
                    .unwrap_or(Voicemail::DEFAULT_MAX_MESSAGE_S),
                busy_greeting: greeting("busy_greeting")?,
                unavailable_greeting: greeting("unavailable_greeting")?,
                unsolicited_mwi: match v.get("unsolicited_mwi") {
                    None => None,
                    Some(_) => Some(v.bool_or("unsolicited_mwi", true)?),
                },
            };
            if vm.delete_after_email && email.is_none() {
                return Err(ConfigError::invalid(
                    v.at("delete_after_email"),
                    "needs the user's email, or messages would be deleted unread",
                ));
            }
            vm
        }
    };
    let pin = f.string("pin")?;
    if let Some(p) = pin
        && !((4..=10).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    {
        // Never echo the PIN itself.
        return Err(ConfigError::invalid(f.at("pin"), "must be 4–10 digits"));
    }
    let recording = match f.get("recording") {
        None => RecordingPolicy::Inherit,
        Some(Node::Bool(true)) => RecordingPolicy::Always,
        Some(Node::Bool(false)) => RecordingPolicy::Never,
        Some(Node::Str(s)) if s == "inherit" => RecordingPolicy::Inherit,
        Some(Node::Str(s)) => {
            return Err(ConfigError::invalid(
                f.at("recording"),
                format!("\"{s}\" is not one of: true, false, inherit"),
            ));
        }
        Some(other) => {
            return Err(ConfigError::WrongType {
                path: f.at("recording"),
                expected: "true, false or inherit",
                found: other.describe(),
            });
        }
    };
    Ok(User {
        ext,
        name,
        secret: secret.map(str::to_owned),
        email: email.map(str::to_owned),
        auth_user: auth_user.map(str::to_owned),
        digest_algorithms: algorithms(&f, "digest_algorithms")?,
        nat,
        ring_timeout: u32_of(&f, "ring_timeout", 1, 600)?.unwrap_or(20),
        busy_level,
        call_limit,
        on_busy: destination_of(&f, "on_busy")?,
        on_no_answer: destination_of(&f, "on_no_answer")?,
        on_unavailable: destination_of(&f, "on_unavailable")?,
        voicemail,
        pin: pin.map(str::to_owned),
        recording,
        outbound: match f.get("outbound") {
            None => None,
            Some(_) => {
                let at = f.at("outbound");
                let classes = string_list(f.list("outbound")?, &at)?;
                for (k, c) in classes.iter().enumerate() {
                    if !OUTBOUND_CLASSES.contains(&c.as_str()) {
                        return Err(ConfigError::invalid(
                            index(&at, k),
                            format!("\"{c}\" is not one of: {}", OUTBOUND_CLASSES.join(", ")),
                        ));
                    }
                }
                Some(classes)
            }
        },
        outbound_number: f
            .get("outbound_number")
            .map(|n| e164(n, &f.at("outbound_number")))
            .transpose()?,
        max_external_calls: u32_of(&f, "max_external_calls", 0, 1_000_000)?,
        external_calls_per_hour: u32_of(&f, "external_calls_per_hour", 0, 10_000_000)?,
        pickup_group: match f.string("pickup_group")? {
            None => None,
            Some(g) if is_valid_name(g) => Some(g.to_owned()),
            Some(g) => {
                return Err(ConfigError::invalid(
                    f.at("pickup_group"),
                    format!(
                        "\"{g}\" is not a valid pickup group name (letters, digits, _ . -, 1–64 long)"
                    ),
                ));
            }
        },
    })
}

/// `strategy:` of a group or queue.
pub(crate) fn parse_strategy(f: &Fields<'_>) -> Result<GroupStrategy, ConfigError> {
    Ok(match f.string("strategy")? {
        None | Some("ringall") => GroupStrategy::Ringall,
        Some("hunt" | "linear") => GroupStrategy::Hunt,
        Some("rrmemory" | "roundrobin") => GroupStrategy::Rrmemory,
        Some("leastrecent") => GroupStrategy::Leastrecent,
        Some("fewestcalls") => GroupStrategy::Fewestcalls,
        Some("random") => GroupStrategy::Random,
        Some(other) => {
            return Err(ConfigError::invalid(
                f.at("strategy"),
                format!("\"{other}\" is not one of: {}", GroupStrategy::NAMES),
            ));
        }
    })
}

fn parse_group(node: &Node, path: &str) -> Result<Group, ConfigError> {
    let f = Fields::new(node, path, GROUP_KEYS)?;
    let strategy = parse_strategy(&f)?;
    let mp = f.at("members");
    let members = f
        .list("members")?
        .iter()
        .enumerate()
        .map(|(i, n)| member_of(n, &index(&mp, i)))
        .collect::<Result<_, _>>()?;
    Ok(Group {
        ext: ext_of(f.require("ext")?, &f.at("ext"))?,
        name: display_name(&f, "name")?,
        strategy,
        members,
        ring_timeout: u32_of(&f, "ring_timeout", 1, 600)?.unwrap_or(20),
        on_timeout: destination_of(&f, "on_timeout")?,
    })
}

fn parse_ivr(node: &Node, path: &str) -> Result<Ivr, ConfigError> {
    let f = Fields::new(node, path, IVR_KEYS)?;
    let name = object_name(&f)?;
    let ext = f.get("ext").map(|n| ext_of(n, &f.at("ext"))).transpose()?;
    let prompts = prompt_list(&f, "prompts")?;
    let mut options = BTreeMap::new();
    if let Some(node) = f.get("options") {
        let op = f.at("options");
        let Node::Map(entries) = node else {
            return Err(ConfigError::WrongType {
                path: op,
                expected: "a mapping",
                found: node.describe(),
            });
        };
        for (digit, value) in entries {
            let at = join(&op, digit);
            let mut chars = digit.chars();
            let is_key =
                matches!((chars.next(), chars.next()), (Some(c), None) if Ivr::KEYS.contains(&c));
            if !is_key {
                return Err(ConfigError::invalid(
                    op,
                    format!(
                        "\"{digit}\" is not a menu key (one of 0–9, *, #; quote * and # in YAML)"
                    ),
                ));
            }
            let d = Destination::parse(as_str(value, &at)?)
                .map_err(|m| ConfigError::invalid(&at, m))?;
            options.insert(digit.clone(), d);
        }
    }
    Ok(Ivr {
        name,
        ext,
        prompts,
        digit_timeout: u32_of(&f, "digit_timeout", 1, 60)?.unwrap_or(5),
        inter_digit_timeout: u32_of(&f, "inter_digit_timeout", 1, 30)?
            .unwrap_or(Ivr::DEFAULT_INTER_DIGIT_TIMEOUT),
        repeat: u32_of(&f, "repeat", 0, 10)?.unwrap_or(1),
        direct_dial: f.bool_or("direct_dial", false)?,
        options,
        on_timeout: destination_of(&f, "on_timeout")?,
        on_invalid: destination_of(&f, "on_invalid")?,
    })
}
