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
//! - destinations are `kind:id`; `user:` targets must exist in this tenant;
//! - CIDRs and e-mail addresses must be valid.
//!
//! Unknown keys are refused, naming the key and the keys allowed there.

mod destination;
mod diff;
mod export;
mod index;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

pub use destination::{DESTINATION_KINDS, Destination, is_valid_external_number, is_valid_name};
pub use diff::DiffLine;
pub use export::SECRETS_OMITTED_NOTE;
pub use index::UserIndex;

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
    /// `ivrs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ivrs: Vec<Ivr>,
    /// `numbers` (bound to the tenant by the operator; the tenant chooses the route).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<NumberRoute>,
    /// `outbound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Outbound>,
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
        }
    }
}

/// `limits`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantLimits {
    /// Concurrent calls of the tenant; none (default) = no tenant limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u32>,
    /// Storage for recordings, voicemail and prompts, MB. Default 1024.
    pub storage_mb: u32,
    /// Days recordings are kept; 0 = until deleted. Default 30.
    pub recording_days: u32,
    /// Days voicemail is kept; 0 = until deleted. Default 30.
    pub voicemail_days: u32,
    /// Overrides `[registrar] max_contacts_per_aor` for this tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_contacts_per_aor: Option<u32>,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_calls: None,
            storage_mb: 1024,
            recording_days: 30,
            voicemail_days: 30,
            max_contacts_per_aor: None,
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
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Voicemail {
    /// Default false.
    pub enabled: bool,
    /// Delete a message once it is mailed (needs `email`). Default false.
    pub delete_after_email: bool,
    /// Default `wav`.
    pub format: VoicemailFormat,
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
    /// Voicemail / feature-code PIN, 4–12 digits. Treated as a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
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
}

/// How a group rings its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStrategy {
    /// All members at once. Default.
    #[default]
    Ringall,
    /// One after another, in list order.
    Hunt,
    /// One after another, starting after the last one that answered.
    Roundrobin,
    /// One at a time, in random order.
    Random,
}

impl fmt::Display for GroupStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupStrategy::Ringall => "ringall",
            GroupStrategy::Hunt => "hunt",
            GroupStrategy::Roundrobin => "roundrobin",
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
    /// Users' extensions, each an existing user, no repeats.
    pub members: Vec<Ext>,
    /// Seconds before `on_timeout`. Default 20.
    pub ring_timeout: u32,
    /// Where calls go when nobody answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Destination>,
}

/// A voice menu (`ivrs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ivr {
    /// Unique name (`ivr:NAME`).
    pub name: String,
    /// Prompt names played in order.
    pub prompts: Vec<String>,
    /// Seconds to wait for a digit. Default 5.
    pub digit_timeout: u32,
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

/// A public number bound to the tenant, and where its calls go (`numbers`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NumberRoute {
    /// E.164: `+` and 1–15 digits.
    pub number: String,
    /// Where incoming calls go.
    pub route: Destination,
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
    "domain", "language", "country", "options", "limits", "users", "groups", "ivrs", "numbers",
    "outbound",
];
const OPTION_KEYS: &[&str] = &[
    "recording",
    "recording_download",
    "analytics",
    "disa",
    "digest_algorithms",
    "register_networks",
];
const LIMIT_KEYS: &[&str] = &[
    "max_calls",
    "storage_mb",
    "recording_days",
    "voicemail_days",
    "max_contacts_per_aor",
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
];
const VOICEMAIL_KEYS: &[&str] = &["enabled", "delete_after_email", "format"];
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
    "prompts",
    "digit_timeout",
    "repeat",
    "direct_dial",
    "options",
    "on_timeout",
    "on_invalid",
];
const NUMBER_KEYS: &[&str] = &["number", "route"];
const OUTBOUND_KEYS: &[&str] = &["prefix", "number"];

/// The shortest accepted SIP secret.
pub const MIN_SECRET_LEN: usize = 8;

fn u32_of(f: &Fields<'_>, key: &str, min: u32, max: u32) -> Result<Option<u32>, ConfigError> {
    Ok(f.uint(key, u64::from(min), u64::from(max))?
        .map(|v| u32::try_from(v).expect("range-checked against a u32 maximum")))
}

fn ext_of(node: &Node, path: &str) -> Result<Ext, ConfigError> {
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

fn destination_of(f: &Fields<'_>, key: &str) -> Result<Option<Destination>, ConfigError> {
    f.string(key)?
        .map(|s| Destination::parse(s).map_err(|m| ConfigError::invalid(f.at(key), m)))
        .transpose()
}

fn display_name(f: &Fields<'_>, key: &'static str) -> Result<String, ConfigError> {
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
            ivrs: Vec::new(),
            numbers: Vec::new(),
            outbound: None,
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
            if !(lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_lowercase())) {
                return Err(ConfigError::invalid(
                    "language",
                    format!("\"{lang}\" is not a two-letter language code (en, ru, it, …)"),
                ));
            }
            cfg.language = lang.to_owned();
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

        for (i, node) in top.list("users")?.iter().enumerate() {
            cfg.users.push(parse_user(node, &index("users", i))?);
        }
        for (i, node) in top.list("groups")?.iter().enumerate() {
            cfg.groups.push(parse_group(node, &index("groups", i))?);
        }
        for (i, node) in top.list("ivrs")?.iter().enumerate() {
            cfg.ivrs.push(parse_ivr(node, &index("ivrs", i))?);
        }
        for (i, node) in top.list("numbers")?.iter().enumerate() {
            let path = index("numbers", i);
            let f = Fields::new(node, &path, NUMBER_KEYS)?;
            let number = e164(f.require("number")?, &f.at("number"))?;
            let route = destination_of(&f, "route")?.ok_or_else(|| ConfigError::MissingKey {
                path: path.clone(),
                key: "route",
            })?;
            cfg.numbers.push(NumberRoute { number, route });
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

        cfg.check_cross_references()?;
        Ok(cfg)
    }

    /// Rules that span several entries: unique extensions, names, auth users, numbers;
    /// `user:` destinations and group members exist.
    fn check_cross_references(&self) -> Result<(), ConfigError> {
        let mut exts: HashMap<&str, String> = HashMap::new();
        let mut auth: HashMap<&str, String> = HashMap::new();
        for (i, u) in self.users.iter().enumerate() {
            let path = index("users", i);
            if let Some(prev) = exts.insert(u.ext.as_str(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(&path, "ext"),
                    format!("\"{}\" is already used by {prev}", u.ext),
                ));
            }
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
        for (i, g) in self.groups.iter().enumerate() {
            let path = index("groups", i);
            if let Some(prev) = exts.insert(g.ext.as_str(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(&path, "ext"),
                    format!("\"{}\" is already used by {prev}", g.ext),
                ));
            }
        }
        let is_user = |e: &Ext| self.users.iter().any(|u| &u.ext == e);
        let check = |d: &Option<Destination>, path: String| -> Result<(), ConfigError> {
            match d {
                Some(Destination::User(e)) if !is_user(e) => Err(ConfigError::invalid(
                    path,
                    format!("user:{e} does not exist in this tenant"),
                )),
                _ => Ok(()),
            }
        };
        for (i, u) in self.users.iter().enumerate() {
            let path = index("users", i);
            check(&u.on_busy, join(&path, "on_busy"))?;
            check(&u.on_no_answer, join(&path, "on_no_answer"))?;
            check(&u.on_unavailable, join(&path, "on_unavailable"))?;
        }
        for (i, g) in self.groups.iter().enumerate() {
            let path = index("groups", i);
            for (j, m) in g.members.iter().enumerate() {
                let at = index(&join(&path, "members"), j);
                if !is_user(m) {
                    return Err(ConfigError::invalid(
                        at,
                        format!("\"{m}\" is not a user of this tenant"),
                    ));
                }
                if g.members[..j].contains(m) {
                    return Err(ConfigError::invalid(at, format!("\"{m}\" is listed twice")));
                }
            }
            check(&g.on_timeout, join(&path, "on_timeout"))?;
        }
        let mut ivr_names: HashMap<&str, String> = HashMap::new();
        for (i, ivr) in self.ivrs.iter().enumerate() {
            let path = index("ivrs", i);
            if let Some(prev) = ivr_names.insert(ivr.name.as_str(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(&path, "name"),
                    format!("\"{}\" is already used by {prev}", ivr.name),
                ));
            }
            for (digit, d) in &ivr.options {
                check(&Some(d.clone()), join(&join(&path, "options"), digit))?;
            }
            check(&ivr.on_timeout, join(&path, "on_timeout"))?;
            check(&ivr.on_invalid, join(&path, "on_invalid"))?;
        }
        let mut numbers: HashMap<&str, String> = HashMap::new();
        for (i, n) in self.numbers.iter().enumerate() {
            let path = index("numbers", i);
            if let Some(prev) = numbers.insert(n.number.as_str(), path.clone()) {
                return Err(ConfigError::invalid(
                    join(&path, "number"),
                    format!("\"{}\" is already used by {prev}", n.number),
                ));
            }
            check(&Some(n.route.clone()), join(&path, "route"))?;
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
            let vm = Voicemail {
                enabled: v.bool_or("enabled", false)?,
                delete_after_email: v.bool_or("delete_after_email", false)?,
                format,
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
        && !((4..=12).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ConfigError::invalid(f.at("pin"), "must be 4–12 digits"));
    }
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
    })
}

fn parse_group(node: &Node, path: &str) -> Result<Group, ConfigError> {
    let f = Fields::new(node, path, GROUP_KEYS)?;
    let strategy = match f.string("strategy")? {
        None | Some("ringall") => GroupStrategy::Ringall,
        Some("hunt") => GroupStrategy::Hunt,
        Some("roundrobin") => GroupStrategy::Roundrobin,
        Some("random") => GroupStrategy::Random,
        Some(other) => {
            return Err(ConfigError::invalid(
                f.at("strategy"),
                format!("\"{other}\" is not one of: ringall, hunt, roundrobin, random"),
            ));
        }
    };
    let mp = f.at("members");
    let members = f
        .list("members")?
        .iter()
        .enumerate()
        .map(|(i, n)| ext_of(n, &index(&mp, i)))
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
    let name = as_str(f.require("name")?, &f.at("name"))?;
    if !is_valid_name(name) {
        return Err(ConfigError::invalid(
            f.at("name"),
            format!("\"{name}\" is not a valid name (letters, digits, _ . -, 1–64 long)"),
        ));
    }
    let pp = f.at("prompts");
    let prompts = string_list(f.list("prompts")?, &pp)?;
    if let Some(i) = prompts.iter().position(|p| !is_valid_name(p)) {
        return Err(ConfigError::invalid(
            index(&pp, i),
            format!(
                "\"{}\" is not a valid prompt name (letters, digits, _ . -, 1–64 long)",
                prompts[i]
            ),
        ));
    }
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
            if !matches!(digit.as_bytes(), [b'0'..=b'9' | b'*' | b'#']) {
                return Err(ConfigError::invalid(
                    op,
                    format!("\"{digit}\" is not a menu key (one of 0–9, *, #)"),
                ));
            }
            let d = Destination::parse(as_str(value, &at)?)
                .map_err(|m| ConfigError::invalid(&at, m))?;
            options.insert(digit.clone(), d);
        }
    }
    Ok(Ivr {
        name: name.to_owned(),
        prompts,
        digit_timeout: u32_of(&f, "digit_timeout", 1, 60)?.unwrap_or(5),
        repeat: u32_of(&f, "repeat", 0, 10)?.unwrap_or(1),
        direct_dial: f.bool_or("direct_dial", false)?,
        options,
        on_timeout: destination_of(&f, "on_timeout")?,
        on_invalid: destination_of(&f, "on_invalid")?,
    })
}
