//! The platform file (`vpbx platform apply FILE.yaml`): trunks, numbers, directions and
//! the high-cost block-list, owned by the operator.
//!
//! ```yaml
//! trunks:
//!   - name: newoperator
//!     tenant: office.example      # omit for a shared carrier trunk (then: sources: ["192.0.2.0/24"])
//!     host: 127.0.0.1
//!     port: 5060                  # default 5060
//!     transport: udp              # udp (default) | tcp
//!     username: "74952345678"
//!     secret: "sdfsddf^$#$"
//!     from_user: "74952345678"
//!     from_domain: "127.0.0.1"
//!     codecs: [alaw, ulaw]        # default [alaw, ulaw]; also g722
//!     call_limit: 1000            # default 1000
//!     qualify: true               # default true
//!     register: true              # default false; dedicated trunks only
//!     did_from: fixed             # ruri (default) | to | fixed
//!     extension: "74952345678"
//!     priority: 1                 # default 1; lower is tried first
//!     failover_timeout: 5         # default 5 s
//!     prefixes: {regional: "8", international: "810", emergency: ""}   # default all ""
//!     strip_regional: 1           # default 0
//! numbers:
//!   - {number: "+74952216005", tenant: office.example, trunk: newoperator}
//! directions:
//!   - {number: "+74952216005", trunk: newoperator, class: regional}
//!   - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
//!   - {number: "+74952216005", trunk: newoperator, class: other, pattern: "_082XXXXX", strip: 3}
//! blocked_prefixes: ["+232"]      # added to the built-in list (crate::blocklist)
//! allow_blocked: ["+8816"]        # lifts part of the built-in list
//! ```
//!
//! Registration fields `reg_user`, `reg_domain`, `reg_auth_user`, `reg_secret`,
//! `reg_host`, `reg_port` default from `username`, `host`, the registration user,
//! `secret`, `host` and `port` ([`Trunk::registration`]); `reg_expires` defaults to
//! 3600 s.
//!
//! Rules (each broken one is a one-line [`ConfigError`] with its YAML path):
//! - unknown keys are refused (`trunks[0].prefixes: unknown key "foo" (expected one
//!   of: regional, international, emergency)`);
//! - trunk names (letters, digits, `_ . -`) are unique; `host` is required;
//! - a shared trunk (no `tenant`) needs `sources` (CIDRs or addresses) and may not
//!   `register`; `register: true` needs a user and a secret (`reg_*` or the plain ones);
//! - `did_from: fixed` needs exactly one number bound to the trunk;
//! - numbers are E.164 and unique; each number's trunk exists; a dedicated trunk's
//!   tenant is the number's tenant;
//! - directions name a number of the file and an existing trunk (a dedicated trunk of
//!   the number's tenant); `class` is regional, international, emergency or other;
//!   `other` needs a `pattern`; `strip` only with `other`; no row twice;
//! - `blocked_prefixes` and `allow_blocked` are `+` and 1–15 digits.
//!
//! Secrets: `export_yaml(false)` omits `secret` and `reg_secret` and says so in its
//! first line; [`PlatformConfig::fill_missing_secrets_from`] puts the stored ones back
//! before applying. [`PlatformConfig::sealed`] and [`PlatformConfig::unseal_secrets`]
//! use `pbx_core::secret` for the stored copy.

mod diff;
mod export;
pub(crate) mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use pbx_core::server_config::Codec;
use pbx_core::tenant::is_valid_name;
use pbx_core::{ConfigError, NetworkList, SecretsKey, is_valid_domain};

use crate::Class;
use crate::blocklist::BlockList;
use crate::pattern::Pattern;
use yaml::{Fields, Node, as_str, index, invalid};

pub use export::SECRETS_OMITTED_NOTE;

/// The platform file as written (validated). [`Platform`] is the compiled form the
/// router uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PlatformConfig {
    /// `trunks`, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trunks: Vec<Trunk>,
    /// `numbers`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<Number>,
    /// `directions`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub directions: Vec<Direction>,
    /// `blocked_prefixes`: E.164 prefixes (`+` and digits) added to the built-in list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_prefixes: Vec<String>,
    /// `allow_blocked`: E.164 prefixes lifted from the block-list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_blocked: Vec<String>,
}

/// SIP transport towards a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// Default.
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

impl fmt::Display for TrunkTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrunkTransport::Udp => "udp",
            TrunkTransport::Tcp => "tcp",
        })
    }
}

/// Where the dialed number of an inbound call on the trunk is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DidFrom {
    /// The Request-URI user part. Default.
    #[default]
    Ruri,
    /// The To URI user part.
    To,
    /// Every inbound call is for the one number bound to the trunk.
    Fixed,
}

impl fmt::Display for DidFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DidFrom::Ruri => "ruri",
            DidFrom::To => "to",
            DidFrom::Fixed => "fixed",
        })
    }
}

/// Digits put before the number sent to a trunk, per class (seed 003's
/// `dial_rg_prefix`, `dial_mn_prefix`, `dial_em_prefix`). All default to "".
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Prefixes {
    /// Before a regional number (after `strip_regional`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub regional: String,
    /// Before an international number (E.164 digits without `+`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub international: String,
    /// Before an emergency number (`112`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub emergency: String,
}

/// A SIP trunk: a carrier interconnect shared by tenants, or an account of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trunk {
    /// Unique name.
    pub name: String,
    /// The tenant (domain) owning a dedicated trunk; `None` for a shared one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Source networks whose requests are this trunk's (required for shared trunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<NetworkList>,
    /// The provider's host (name or address).
    pub host: String,
    /// Default 5060.
    #[serde(skip_serializing_if = "is_default_port")]
    pub port: u16,
    /// Default `udp`.
    #[serde(skip_serializing_if = "is_default")]
    pub transport: TrunkTransport,
    /// Account name for digest authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Account password (may be sealed, `enc:v1:…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// User part of From (then the caller ID goes in P-Asserted-Identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_user: Option<String>,
    /// Host part of From.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_domain: Option<String>,
    /// Codecs offered, in order. Default `[alaw, ulaw]`.
    #[serde(serialize_with = "export::codecs")]
    pub codecs: Vec<Codec>,
    /// Most concurrent calls. Default 1000.
    pub call_limit: u32,
    /// Send OPTIONS to watch the trunk. Default true.
    pub qualify: bool,
    /// Register at the provider. Default false.
    pub register: bool,
    /// `reg_user` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_user: Option<String>,
    /// `reg_domain` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_domain: Option<String>,
    /// `reg_auth_user` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_auth_user: Option<String>,
    /// `reg_secret` as written (may be sealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_secret: Option<String>,
    /// `reg_host` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_host: Option<String>,
    /// `reg_port` as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_port: Option<u16>,
    /// Registration expiry asked for, seconds. Default 3600.
    #[serde(skip_serializing_if = "is_default_expires")]
    pub reg_expires: u32,
    /// Default `ruri`.
    #[serde(skip_serializing_if = "is_default")]
    pub did_from: DidFrom,
    /// What the provider sends as the called number (recognises the trunk's calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Lower is tried first among trunks allowed for a call. Default 1.
    pub priority: u32,
    /// Seconds before the next trunk is tried when this one does not answer. Default 5.
    pub failover_timeout: u32,
    /// Digits before the number, per class.
    #[serde(skip_serializing_if = "is_default")]
    pub prefixes: Prefixes,
    /// Leading digits of the E.164 number (without `+`) removed before the regional
    /// prefix is added. Default 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub strip_regional: u32,
}

/// A trunk's outbound registration with every default filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration<'a> {
    /// To/From user: `reg_user`, else `username`.
    pub user: &'a str,
    /// To/From domain and Request-URI: `reg_domain`, else `from_domain`, else `host`.
    pub domain: &'a str,
    /// Digest username: `reg_auth_user`, else the user.
    pub auth_user: &'a str,
    /// Digest password: `reg_secret`, else `secret` (possibly sealed: unseal first).
    pub secret: &'a str,
    /// Where REGISTER is sent: `reg_host`, else `host`.
    pub host: &'a str,
    /// `reg_port`, else `port`.
    pub port: u16,
    /// Expiry asked for, seconds.
    pub expires: u32,
}

impl Trunk {
    /// Default `port`.
    pub const DEFAULT_PORT: u16 = 5060;
    /// Default `call_limit` (seed 003).
    pub const DEFAULT_CALL_LIMIT: u32 = 1000;
    /// Default `failover_timeout`, seconds: short, so a dead trunk does not cost the
    /// caller Timer B's 32 s.
    pub const DEFAULT_FAILOVER_TIMEOUT: u32 = 5;
    /// Default `reg_expires`, seconds.
    pub const DEFAULT_REG_EXPIRES: u32 = 3600;

    /// A trunk with defaults, to `host`.
    pub fn new(name: &str, host: &str) -> Trunk {
        Trunk {
            name: name.to_owned(),
            tenant: None,
            sources: None,
            host: host.to_owned(),
            port: Trunk::DEFAULT_PORT,
            transport: TrunkTransport::Udp,
            username: None,
            secret: None,
            from_user: None,
            from_domain: None,
            codecs: Codec::DEFAULT.to_vec(),
            call_limit: Trunk::DEFAULT_CALL_LIMIT,
            qualify: true,
            register: false,
            reg_user: None,
            reg_domain: None,
            reg_auth_user: None,
            reg_secret: None,
            reg_host: None,
            reg_port: None,
            reg_expires: Trunk::DEFAULT_REG_EXPIRES,
            did_from: DidFrom::Ruri,
            extension: None,
            priority: 1,
            failover_timeout: Trunk::DEFAULT_FAILOVER_TIMEOUT,
            prefixes: Prefixes::default(),
            strip_regional: 0,
        }
    }

    /// The registration with its defaults, when `register: true` (and a user and
    /// secret are known).
    pub fn registration(&self) -> Option<Registration<'_>> {
        if !self.register {
            return None;
        }
        let user = self.reg_user.as_deref().or(self.username.as_deref())?;
        let secret = self.reg_secret.as_deref().or(self.secret.as_deref())?;
        Some(Registration {
            user,
            domain: self
                .reg_domain
                .as_deref()
                .or(self.from_domain.as_deref())
                .unwrap_or(&self.host),
            auth_user: self.reg_auth_user.as_deref().unwrap_or(user),
            secret,
            host: self.reg_host.as_deref().unwrap_or(&self.host),
            port: self.reg_port.unwrap_or(self.port),
            expires: self.reg_expires,
        })
    }

    /// Whether the trunk belongs to one tenant.
    pub fn is_dedicated(&self) -> bool {
        self.tenant.is_some()
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
fn is_default_port(p: &u16) -> bool {
    *p == Trunk::DEFAULT_PORT
}
fn is_default_expires(e: &u32) -> bool {
    *e == Trunk::DEFAULT_REG_EXPIRES
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A public number bound to a tenant and the trunk its calls arrive on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Number {
    /// E.164.
    pub number: String,
    /// The tenant's domain.
    pub tenant: String,
    /// The inbound trunk (and the default trunk of emergency calls).
    pub trunk: String,
}

/// One permission: calls of `class` from `number` may go out through `trunk`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Direction {
    /// The calling number (E.164).
    pub number: String,
    /// The trunk the calls go out through.
    pub trunk: String,
    /// The class allowed.
    pub class: Class,
    /// Narrows the class (regional/international: matched on the E.164 digits without
    /// `+`, so Italy is `_39.`; emergency: on the emergency number; other: on the raw
    /// digits dialed, and required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
    /// `other` only: leading digits removed before sending (seed 003 `substruct4other`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip: Option<u32>,
}

const TOP_KEYS: &[&str] = &[
    "trunks",
    "numbers",
    "directions",
    "blocked_prefixes",
    "allow_blocked",
];
const TRUNK_KEYS: &[&str] = &[
    "name",
    "tenant",
    "sources",
    "host",
    "port",
    "transport",
    "username",
    "secret",
    "from_user",
    "from_domain",
    "codecs",
    "call_limit",
    "qualify",
    "register",
    "reg_user",
    "reg_domain",
    "reg_auth_user",
    "reg_secret",
    "reg_host",
    "reg_port",
    "reg_expires",
    "did_from",
    "extension",
    "priority",
    "failover_timeout",
    "prefixes",
    "strip_regional",
];
const PREFIX_KEYS: &[&str] = &["regional", "international", "emergency"];
const NUMBER_KEYS: &[&str] = &["number", "tenant", "trunk"];
const DIRECTION_KEYS: &[&str] = &["number", "trunk", "class", "pattern", "strip"];

/// `+` and 1–15 digits.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

fn e164(node: &Node, path: &str) -> Result<String, ConfigError> {
    let s = as_str(node, path)?;
    if is_e164(s) {
        Ok(s.to_owned())
    } else {
        Err(invalid(
            path,
            format!("\"{s}\" is not an E.164 number (+ and 1–15 digits)"),
        ))
    }
}

fn is_host(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    is_valid_domain(&lower)
        || s.parse::<IpAddr>().is_ok()
        || s.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
}

fn host_of(f: &Fields<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    match f.string(key)? {
        Some(h) if is_host(h) => Ok(Some(h.to_owned())),
        Some(h) => Err(invalid(
            f.at(key),
            format!("\"{h}\" is not a host name or IP address"),
        )),
        None => Ok(None),
    }
}

/// Account names, from_user, extension: printable, no spaces or SIP URI delimiters.
fn sip_user(f: &Fields<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    match f.quoted(key)? {
        Some(u)
            if (1..=64).contains(&u.len())
                && u.bytes().all(|b| {
                    b.is_ascii_graphic() && !matches!(b, b'@' | b':' | b';' | b'<' | b'>' | b'"')
                }) =>
        {
            Ok(Some(u.to_owned()))
        }
        Some(u) => Err(invalid(
            f.at(key),
            format!(
                "\"{u}\" is not a SIP user name (1–64 printable characters without @ : ; < > \")"
            ),
        )),
        None => Ok(None),
    }
}

fn secret_of(f: &Fields<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    match f.quoted(key)? {
        // Never echo the secret.
        Some(s) if s.is_empty() || s.len() > 512 || s.chars().any(char::is_control) => {
            Err(invalid(
                f.at(key),
                "must be 1–512 characters without control characters",
            ))
        }
        Some(s) => Ok(Some(s.to_owned())),
        None => Ok(None),
    }
}

fn digit_prefix(f: &Fields<'_>, key: &str) -> Result<String, ConfigError> {
    match f.quoted(key)? {
        Some(p)
            if p.len() <= 8
                && p.strip_prefix('+')
                    .unwrap_or(p)
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Ok(p.to_owned())
        }
        Some(p) => Err(invalid(
            f.at(key),
            format!("\"{p}\" is not a dial prefix (up to 8 digits, or \"+\")"),
        )),
        None => Ok(String::new()),
    }
}

fn port_of(f: &Fields<'_>, key: &str) -> Result<Option<u16>, ConfigError> {
    Ok(f.uint32(key, 1, 65535)?
        .map(|p| u16::try_from(p).expect("range-checked against 65535")))
}

fn parse_trunk(node: &Node, path: &str) -> Result<Trunk, ConfigError> {
    let f = Fields::new(node, path, TRUNK_KEYS)?;
    let name = as_str(f.require("name")?, &f.at("name"))?;
    if !is_valid_name(name) {
        return Err(invalid(
            f.at("name"),
            format!("\"{name}\" is not a valid name (letters, digits, _ . -, 1–64 long)"),
        ));
    }
    f.require("host")?;
    let host = host_of(&f, "host")?.expect("host is required above");
    let mut t = Trunk::new(name, &host);
    if let Some(tenant) = f.string("tenant")? {
        if !(is_valid_domain(tenant) || tenant.parse::<IpAddr>().is_ok()) {
            return Err(invalid(
                f.at("tenant"),
                format!("\"{tenant}\" is not a valid lower-case domain name"),
            ));
        }
        t.tenant = Some(tenant.to_owned());
    }
    if f.get("sources").is_some() {
        let entries = f.strings("sources")?;
        let list = NetworkList::parse(&entries).map_err(|i| {
            invalid(
                index(&f.at("sources"), i),
                format!("\"{}\" is not a network (CIDR) or address", entries[i]),
            )
        })?;
        if list.is_empty() {
            return Err(invalid(
                f.at("sources"),
                "must list at least one network or address",
            ));
        }
        t.sources = Some(list);
    }
    t.port = port_of(&f, "port")?.unwrap_or(t.port);
    if let Some(tr) = f.string("transport")? {
        t.transport = match tr.to_ascii_lowercase().as_str() {
            "udp" => TrunkTransport::Udp,
            "tcp" => TrunkTransport::Tcp,
            _ => {
                return Err(invalid(
                    f.at("transport"),
                    format!("\"{tr}\" is not a transport (expected udp or tcp)"),
                ));
            }
        };
    }
    t.username = sip_user(&f, "username")?;
    t.secret = secret_of(&f, "secret")?;
    t.from_user = sip_user(&f, "from_user")?;
    t.from_domain = host_of(&f, "from_domain")?;
    if f.get("codecs").is_some() {
        let names = f.strings("codecs")?;
        let mut codecs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let codec = export::codec_from_name(name).ok_or_else(|| {
                invalid(
                    index(&f.at("codecs"), i),
                    format!("\"{name}\" is not a codec (expected alaw, ulaw or g722)"),
                )
            })?;
            if codecs.contains(&codec) {
                return Err(invalid(
                    index(&f.at("codecs"), i),
                    format!("\"{name}\" is listed twice"),
                ));
            }
            codecs.push(codec);
        }
        if codecs.is_empty() {
            return Err(invalid(f.at("codecs"), "must name at least one codec"));
        }
        t.codecs = codecs;
    }
    t.call_limit = f
        .uint32("call_limit", 1, 1_000_000)?
        .unwrap_or(t.call_limit);
    t.qualify = f.bool_or("qualify", t.qualify)?;
    t.register = f.bool_or("register", t.register)?;
    t.reg_user = sip_user(&f, "reg_user")?;
    t.reg_domain = host_of(&f, "reg_domain")?;
    t.reg_auth_user = sip_user(&f, "reg_auth_user")?;
    t.reg_secret = secret_of(&f, "reg_secret")?;
    t.reg_host = host_of(&f, "reg_host")?;
    t.reg_port = port_of(&f, "reg_port")?;
    t.reg_expires = f
        .uint32("reg_expires", 60, 86_400)?
        .unwrap_or(t.reg_expires);
    if let Some(d) = f.string("did_from")? {
        t.did_from = match d {
            "ruri" => DidFrom::Ruri,
            "to" => DidFrom::To,
            "fixed" => DidFrom::Fixed,
            _ => {
                return Err(invalid(
                    f.at("did_from"),
                    format!("\"{d}\" is not one of ruri, to, fixed"),
                ));
            }
        };
    }
    t.extension = sip_user(&f, "extension")?;
    t.priority = f.uint32("priority", 0, 1000)?.unwrap_or(t.priority);
    t.failover_timeout = f
        .uint32("failover_timeout", 1, 300)?
        .unwrap_or(t.failover_timeout);
    if let Some(node) = f.get("prefixes") {
        let p = Fields::new(node, &f.at("prefixes"), PREFIX_KEYS)?;
        t.prefixes = Prefixes {
            regional: digit_prefix(&p, "regional")?,
            international: digit_prefix(&p, "international")?,
            emergency: digit_prefix(&p, "emergency")?,
        };
    }
    t.strip_regional = f.uint32("strip_regional", 0, 15)?.unwrap_or(0);

    // Rules between fields of one trunk.
    if t.tenant.is_none() && t.sources.is_none() {
        return Err(invalid(
            path,
            format!(
                "shared trunk {} (no tenant) needs \"sources\": the networks its calls come from",
                t.name
            ),
        ));
    }
    if t.register {
        if t.tenant.is_none() {
            return Err(invalid(
                f.at("register"),
                "only a dedicated trunk (with a tenant) may register",
            ));
        }
        if t.reg_user.is_none() && t.username.is_none() {
            return Err(invalid(
                f.at("register"),
                "registering needs \"reg_user\" or \"username\"",
            ));
        }
    }
    Ok(t)
}

fn parse_direction(node: &Node, path: &str) -> Result<Direction, ConfigError> {
    let f = Fields::new(node, path, DIRECTION_KEYS)?;
    let number = e164(f.require("number")?, &f.at("number"))?;
    let trunk = as_str(f.require("trunk")?, &f.at("trunk"))?.to_owned();
    let class: Class = as_str(f.require("class")?, &f.at("class"))?
        .parse()
        .map_err(|m: String| invalid(f.at("class"), m))?;
    let pattern = f
        .quoted("pattern")?
        .map(|p| {
            Pattern::parse(p)
                .map_err(|e| invalid(f.at("pattern"), format!("\"{p}\" is not a pattern: {e}")))
        })
        .transpose()?;
    let strip = f.uint32("strip", 0, 20)?;
    if class == Class::Other && pattern.is_none() {
        return Err(invalid(
            path,
            "class other needs a \"pattern\" (such as _082XXXXX)",
        ));
    }
    if strip.is_some() && class != Class::Other {
        return Err(invalid(f.at("strip"), "\"strip\" is only for class other"));
    }
    Ok(Direction {
        number,
        trunk,
        class,
        pattern,
        strip,
    })
}

fn prefix_list(f: &Fields<'_>, key: &str) -> Result<Vec<String>, ConfigError> {
    let path = f.at(key);
    let list = f.strings(key)?;
    for (i, p) in list.iter().enumerate() {
        if !is_e164(p) {
            return Err(invalid(
                index(&path, i),
                format!("\"{p}\" is not an E.164 prefix (+ and 1–15 digits)"),
            ));
        }
        if list[..i].contains(p) {
            return Err(invalid(index(&path, i), format!("{p} is listed twice")));
        }
    }
    Ok(list)
}

impl PlatformConfig {
    /// Parses and validates a platform file. Trunks may lack secrets here (an export
    /// without `--secrets`); see [`PlatformConfig::fill_missing_secrets_from`].
    pub fn from_yaml_str(text: &str) -> Result<PlatformConfig, ConfigError> {
        let root = Node::from_yaml_str(text)?;
        let top = Fields::new(&root, "", TOP_KEYS)?;
        let mut cfg = PlatformConfig::default();
        for (i, node) in top.list("trunks")?.iter().enumerate() {
            cfg.trunks.push(parse_trunk(node, &index("trunks", i))?);
        }
        for (i, node) in top.list("numbers")?.iter().enumerate() {
            let path = index("numbers", i);
            let f = Fields::new(node, &path, NUMBER_KEYS)?;
            let number = e164(f.require("number")?, &f.at("number"))?;
            let tenant = as_str(f.require("tenant")?, &f.at("tenant"))?.to_owned();
            if !(is_valid_domain(&tenant) || tenant.parse::<IpAddr>().is_ok()) {
                return Err(invalid(
                    f.at("tenant"),
                    format!("\"{tenant}\" is not a valid lower-case domain name"),
                ));
            }
            let trunk = as_str(f.require("trunk")?, &f.at("trunk"))?.to_owned();
            cfg.numbers.push(Number {
                number,
                tenant,
                trunk,
            });
        }
        for (i, node) in top.list("directions")?.iter().enumerate() {
            cfg.directions
                .push(parse_direction(node, &index("directions", i))?);
        }
        cfg.blocked_prefixes = prefix_list(&top, "blocked_prefixes")?;
        cfg.allow_blocked = prefix_list(&top, "allow_blocked")?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The rules between objects (names unique, references exist, tenants agree).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut trunks: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.trunks.iter().enumerate() {
            if let Some(first) = trunks.insert(&t.name, i) {
                return Err(invalid(
                    index("trunks", i),
                    format!("trunk name {} is already used by trunks[{first}]", t.name),
                ));
            }
        }
        let mut numbers: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.numbers.iter().enumerate() {
            let path = index("numbers", i);
            if !is_e164(&n.number) {
                return Err(invalid(
                    format!("{path}.number"),
                    format!(
                        "\"{}\" is not an E.164 number (+ and 1–15 digits)",
                        n.number
                    ),
                ));
            }
            if let Some(first) = numbers.insert(&n.number, i) {
                return Err(invalid(
                    path,
                    format!("{} is already bound by numbers[{first}]", n.number),
                ));
            }
            let Some(&ti) = trunks.get(n.trunk.as_str()) else {
                return Err(invalid(
                    format!("{path}.trunk"),
                    format!("no trunk is named {}", n.trunk),
                ));
            };
            if let Some(owner) = &self.trunks[ti].tenant
                && *owner != n.tenant
            {
                return Err(invalid(
                    format!("{path}.tenant"),
                    format!(
                        "trunk {} is dedicated to {owner}, not {}",
                        n.trunk, n.tenant
                    ),
                ));
            }
        }
        for (i, t) in self.trunks.iter().enumerate() {
            if t.did_from == DidFrom::Fixed {
                let bound = self.numbers.iter().filter(|n| n.trunk == t.name).count();
                if bound != 1 {
                    return Err(invalid(
                        format!("trunks[{i}].did_from"),
                        format!(
                            "fixed needs exactly one number bound to trunk {}, found {bound}",
                            t.name
                        ),
                    ));
                }
            }
        }
        for (key, list) in [
            ("blocked_prefixes", &self.blocked_prefixes),
            ("allow_blocked", &self.allow_blocked),
        ] {
            if let Some(i) = list.iter().position(|p| !is_e164(p)) {
                return Err(invalid(
                    index(key, i),
                    format!("\"{}\" is not an E.164 prefix (+ and 1–15 digits)", list[i]),
                ));
            }
        }
        for (i, d) in self.directions.iter().enumerate() {
            let path = index("directions", i);
            let Some(&ni) = numbers.get(d.number.as_str()) else {
                return Err(invalid(
                    format!("{path}.number"),
                    format!("{} is not in numbers", d.number),
                ));
            };
            let Some(&ti) = trunks.get(d.trunk.as_str()) else {
                return Err(invalid(
                    format!("{path}.trunk"),
                    format!("no trunk is named {}", d.trunk),
                ));
            };
            let tenant = &self.numbers[ni].tenant;
            if let Some(owner) = &self.trunks[ti].tenant
                && owner != tenant
            {
                return Err(invalid(
                    format!("{path}.trunk"),
                    format!(
                        "trunk {} is dedicated to {owner}; {} belongs to {tenant}",
                        d.trunk, d.number
                    ),
                ));
            }
            if let Some(first) = self.directions[..i].iter().position(|o| o == d) {
                return Err(invalid(
                    path,
                    format!("the same direction as directions[{first}]"),
                ));
            }
        }
        Ok(())
    }

    /// Every tenant the file names (trunk owners and number holders), sorted.
    pub fn tenants(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .trunks
            .iter()
            .filter_map(|t| t.tenant.as_deref())
            .chain(self.numbers.iter().map(|n| n.tenant.as_str()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Checks that every tenant the file names exists (`exists` asks the store), so
    /// `vpbx platform apply` refuses a number bound to a typo.
    pub fn check_tenants(&self, exists: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
        let missing = |path: String, tenant: &str| {
            invalid(
                path,
                format!("no tenant {tenant} (create it first with vpbx tenant create {tenant})"),
            )
        };
        for (i, t) in self.trunks.iter().enumerate() {
            if let Some(tenant) = &t.tenant
                && !exists(tenant)
            {
                return Err(missing(format!("trunks[{i}].tenant"), tenant));
            }
        }
        for (i, n) in self.numbers.iter().enumerate() {
            if !exists(&n.tenant) {
                return Err(missing(format!("numbers[{i}].tenant"), &n.tenant));
            }
        }
        Ok(())
    }

    /// Every registering trunk has a secret (after
    /// [`PlatformConfig::fill_missing_secrets_from`]).
    pub fn check_secrets_present(&self) -> Result<(), ConfigError> {
        match self
            .trunks
            .iter()
            .position(|t| t.register && t.reg_secret.is_none() && t.secret.is_none())
        {
            Some(i) => Err(invalid(
                index("trunks", i),
                format!(
                    "trunk {} registers and needs a \"secret\" or \"reg_secret\"",
                    self.trunks[i].name
                ),
            )),
            None => Ok(()),
        }
    }

    /// Trunks without `secret`/`reg_secret` (a file exported without secrets) take the
    /// stored ones of the trunk with the same name in `old`.
    pub fn fill_missing_secrets_from(&mut self, old: &PlatformConfig) {
        for t in &mut self.trunks {
            let Some(prev) = old.trunks.iter().find(|o| o.name == t.name) else {
                continue;
            };
            if t.secret.is_none() {
                t.secret.clone_from(&prev.secret);
            }
            if t.reg_secret.is_none() {
                t.reg_secret.clone_from(&prev.reg_secret);
            }
        }
    }

    /// A copy with every trunk secret sealed when `key` is set (`pbx_core::secret`),
    /// each with a fresh nonce from `nonce` (the server passes the OS RNG).
    pub fn sealed(
        &self,
        key: Option<&SecretsKey>,
        mut nonce: impl FnMut() -> [u8; 12],
    ) -> PlatformConfig {
        let mut out = self.clone();
        for t in &mut out.trunks {
            for s in [&mut t.secret, &mut t.reg_secret].into_iter().flatten() {
                if !pbx_core::secret::is_sealed(s) {
                    *s = pbx_core::secret::seal_if_keyed(s, key, nonce());
                }
            }
        }
        out
    }

    /// Opens sealed trunk secrets in place.
    pub fn unseal_secrets(&mut self, key: Option<&SecretsKey>) -> Result<(), ConfigError> {
        for (i, t) in self.trunks.iter_mut().enumerate() {
            for (field, s) in [("secret", &mut t.secret), ("reg_secret", &mut t.reg_secret)] {
                if let Some(value) = s {
                    *value = pbx_core::unseal(value, key)
                        .map_err(|e| invalid(format!("trunks[{i}].{field}"), e.to_string()))?;
                }
            }
        }
        Ok(())
    }
}

/// The compiled platform: the config plus indexes built once at load, so a routing
/// decision is a few hash lookups and pattern matches.
#[derive(Debug, Clone)]
pub struct Platform {
    config: PlatformConfig,
    blocklist: BlockList,
    trunks: HashMap<String, usize>,
    numbers: HashMap<String, usize>,
    /// Number → indexes into `config.directions`, ordered by trunk priority, then file order.
    directions: HashMap<String, Vec<usize>>,
}

impl Platform {
    /// Validates `config` (including that registering trunks have secrets) and
    /// builds the indexes.
    pub fn new(config: PlatformConfig) -> Result<Platform, ConfigError> {
        config.validate()?;
        config.check_secrets_present()?;
        let trunks: HashMap<String, usize> = config
            .trunks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let numbers = config
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| (n.number.clone(), i))
            .collect();
        let mut directions: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in config.directions.iter().enumerate() {
            directions.entry(d.number.clone()).or_default().push(i);
        }
        for rows in directions.values_mut() {
            rows.sort_by_key(|&i| {
                let trunk = &config.directions[i].trunk;
                (
                    trunks
                        .get(trunk)
                        .map_or(u32::MAX, |&t| config.trunks[t].priority),
                    i,
                )
            });
        }
        let blocklist = BlockList::new(&config.blocked_prefixes, &config.allow_blocked);
        Ok(Platform {
            config,
            blocklist,
            trunks,
            numbers,
            directions,
        })
    }

    /// Parses, validates and compiles a platform file.
    pub fn from_yaml_str(text: &str) -> Result<Platform, ConfigError> {
        Platform::new(PlatformConfig::from_yaml_str(text)?)
    }

    /// The config as written.
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// The trunk named `name`.
    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.get(name).map(|&i| &self.config.trunks[i])
    }

    /// The binding of an E.164 number.
    pub fn number(&self, number: &str) -> Option<&Number> {
        self.numbers.get(number).map(|&i| &self.config.numbers[i])
    }

    /// The numbers bound to `tenant`, in file order.
    pub fn numbers_of<'a>(&'a self, tenant: &'a str) -> impl Iterator<Item = &'a Number> + 'a {
        self.config
            .numbers
            .iter()
            .filter(move |n| n.tenant == tenant)
    }

    /// The direction rows of `number`, by trunk priority then file order.
    pub fn directions_of<'a>(&'a self, number: &str) -> impl Iterator<Item = &'a Direction> + 'a {
        self.directions
            .get(number)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|&i| &self.config.directions[i])
    }

    /// The trunks whose `sources` contain `ip` (inbound classification), in file order.
    pub fn trunks_from(&self, ip: IpAddr) -> impl Iterator<Item = &Trunk> {
        self.config
            .trunks
            .iter()
            .filter(move |t| t.sources.as_ref().is_some_and(|s| s.contains(ip)))
    }

    /// The number an inbound call on `trunk` is for. `called` is the user part the
    /// trunk's `did_from` names (Request-URI or To; ignored for `fixed`, where the
    /// answer is the one number bound to the trunk). Providers write the number in many
    /// ways, so `called` matches a number bound to the trunk when it is the same E.164
    /// number with or without `+`, the same number in the national format of the
    /// number's country (`84952216005`), or the trunk's `extension` when the trunk has
    /// one number. `None`: no number of this trunk (the server rejects the call).
    pub fn inbound_number(&self, trunk: &str, called: &str) -> Option<&Number> {
        let t = self.trunk(trunk)?;
        let mut bound = self.config.numbers.iter().filter(|n| n.trunk == t.name);
        if t.did_from == DidFrom::Fixed {
            return bound.next();
        }
        let digits = called.strip_prefix('+').unwrap_or(called);
        if digits.is_empty() {
            return None;
        }
        let only = {
            let mut it = bound.clone();
            match (it.next(), it.next()) {
                (Some(n), None) => Some(n),
                _ => None,
            }
        };
        if t.extension.as_deref() == Some(called) && only.is_some() {
            return only;
        }
        bound.find(|n| {
            n.number.strip_prefix('+') == Some(digits)
                || crate::country_of(&n.number)
                    .and_then(|o| crate::normalise(o.country, called).ok())
                    .is_some_and(|e164| e164 == n.number)
        })
    }

    /// The compiled block-list.
    pub fn blocklist(&self) -> &BlockList {
        &self.blocklist
    }
}

#[cfg(test)]
pub(crate) mod tests;
