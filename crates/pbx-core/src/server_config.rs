//! The server configuration, `vpbx.toml`.
//!
//! Every key has a default, so a missing file means [`ServerConfig::default()`]; unknown
//! keys are rejected with a one-line message that names the key and its section. The
//! annotated example with every key is `docs/vpbx.toml` (a test checks it states exactly
//! the defaults).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::net::{NetworkList, is_plausible_email};
use crate::node::{Fields, Node, as_str, index, string_list};
use crate::secret::SecretsKey;

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Recordings, voicemail, prompts. Default `./vpbx-data`.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Default: `sqlite://<data_dir>/vpbx.db`.
    pub database: String,
    /// `[sip]`.
    pub sip: SipConfig,
    /// `[media]`.
    pub media: MediaConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[smtp]`.
    pub smtp: SmtpConfig,
    /// `[security]`.
    pub security: SecurityConfig,
    /// `[registrar]`.
    pub registrar: RegistrarConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[trace]`.
    pub trace: TraceConfig,
    /// `[features]`: in-call feature codes.
    pub features: FeaturesConfig,
    /// `[storage]`: the retention purge.
    pub storage: StorageConfig,
}

/// `[storage]`: when the retention purge (`limits.recording_days`,
/// `limits.voicemail_days`) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Seconds after start before the first purge. Default 60.
    pub purge_delay_s: u64,
    /// Seconds between purges. Default 86400 (daily).
    pub purge_interval_s: u64,
}

/// A SIP transport vpbx listens on. TLS and WebSocket are recognised in `listen` but
/// rejected as "not supported yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// TCP streams.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One `[sip] listen` entry, written `udp:IP:PORT` or `tcp:IP:PORT` (IPv6 as `[::]:5060`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    /// The transport.
    pub transport: Transport,
    /// The local address and port.
    pub addr: SocketAddr,
}

impl ListenAddr {
    /// Parses `udp:0.0.0.0:5060`; the error says what is wrong, without the path.
    pub fn parse(s: &str) -> Result<ListenAddr, String> {
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(format!(
                "\"{s}\" is not TRANSPORT:IP:PORT (e.g. \"udp:0.0.0.0:5060\")"
            ));
        };
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" | "ws" | "wss" => {
                return Err(format!(
                    "\"{s}\": the {} transport is not supported yet (use udp or tcp)",
                    scheme.to_ascii_uppercase()
                ));
            }
            _ => {
                return Err(format!(
                    "\"{s}\": unknown transport \"{scheme}\" (expected udp or tcp)"
                ));
            }
        };
        let addr: SocketAddr = rest
            .parse()
            .map_err(|_| format!("\"{s}\": \"{rest}\" is not IP:PORT (IPv6 as [::]:5060)"))?;
        if addr.port() == 0 {
            return Err(format!("\"{s}\": port 0 is not allowed"));
        }
        Ok(ListenAddr { transport, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// What to do with a request whose Request-URI (To for REGISTER) names vpbx's own IP
/// address instead of a tenant domain (DESIGN.md "Tenancy").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnIpPolicy {
    /// `unique-auth-user` (default): serve it for the tenant whose user has that
    /// authentication username, when exactly one tenant on the platform has it;
    /// otherwise answer 404 and log.
    UniqueAuthUser,
    /// `reject`: always answer 404.
    Reject,
    /// `drop`: never answer (like an unknown domain).
    Drop,
}

/// `[sip]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// Default `["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]`.
    pub listen: Vec<ListenAddr>,
    /// Address advertised in Via/Contact/SDP behind NAT; `""` (default) = none.
    pub external_ip: Option<IpAddr>,
    /// RFC 3261 T1, RTT estimate. Default 500.
    pub t1_ms: u64,
    /// RFC 3261 T2, the longest non-INVITE retransmit interval. Default 4000.
    pub t2_ms: u64,
    /// RFC 3261 T4, how long the network keeps a message. Default 5000.
    pub t4_ms: u64,
    /// Largest accepted SIP message (datagram, or one framed TCP message). Default 65535.
    pub max_message_bytes: usize,
    /// Worker shards; 0 (default) = four per CPU core (see [`ServerConfig::effective_shards`]).
    pub shards: usize,
    /// Threads receiving and handling SIP over UDP, per UDP socket (like Kamailio's
    /// `children`); 0 (default) = one per CPU core.
    pub threads: usize,
    /// Bounded inbox per shard; when full, requests get 503 + Retry-After. Default 4096.
    pub queue_depth: usize,
    /// Default [`OwnIpPolicy::UniqueAuthUser`].
    pub own_ip_policy: OwnIpPolicy,
    /// Networks that reach vpbx without NAT: peers inside get the internal address in
    /// Via/Contact/SDP, all others `external_ip` (see [`ServerConfig::sip_advertise_for`] and
    /// [`ServerConfig::media_advertise_for`]). Default none.
    pub local_networks: NetworkList,
    /// RFC 4028 session interval vpbx asks for (Session-Expires), seconds. Default 1800.
    pub session_expires_s: u32,
    /// RFC 4028 Min-SE: shorter session intervals get 422. Default 90 (the RFC's floor).
    pub min_se_s: u32,
    /// Seconds between OPTIONS qualify requests to each registered contact; 0 disables
    /// qualify. Default 60.
    pub qualify_interval_s: u32,
}

/// An inclusive UDP port range for RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Never true: a parsed range has `first < last`.
    pub fn is_empty(&self) -> bool {
        self.last < self.first
    }
}

/// An audio codec vpbx negotiates on the relay (`[media] codecs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.722 (16 kHz audio, 64 kbit/s), static payload type 9, `G722/8000` in SDP (RFC 3551
    /// §4.5.2). Opt-in: the relay transcodes it to and from G.711 legs, which costs CPU.
    G722,
}

impl Codec {
    /// Every codec the relay supports, in the order the error message lists them.
    pub const ALL: [Codec; 3] = [Codec::Pcma, Codec::Pcmu, Codec::G722];

    /// The default `[media] codecs`: G.711 only, A-law preferred. G.722 is offered only when
    /// listed (a G.722 phone calling a G.711 one makes the relay transcode both ways).
    pub const DEFAULT: [Codec; 2] = [Codec::Pcma, Codec::Pcmu];

    /// The SDP encoding name (`a=rtpmap`), upper case as RFC 3551 writes it.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::G722 => "G722",
        }
    }

    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcma => 8,
            Codec::Pcmu => 0,
            Codec::G722 => 9,
        }
    }

    /// The RTP clock rate in SDP: 8000 for all, G.722 included (RFC 3551 §4.5.2: its audio is
    /// 16 kHz, its RTP clock 8 kHz).
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// Parses an encoding name, ASCII case-insensitively (SDP names are).
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `[media]`: the RTP relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// RTP bind address. Default `0.0.0.0`.
    pub ip: IpAddr,
    /// RTP ports, written `"10000-20000"` (default). Each call leg takes two ports (one
    /// with rtcp-mux), so a call with two legs takes four.
    pub ports: PortRange,
    /// Address written in SDP for peers outside `[sip] local_networks`. `None` (default):
    /// `[sip] external_ip`, else the internal address (see
    /// [`ServerConfig::media_advertise_for`]).
    pub advertise_ip: Option<IpAddr>,
    /// A leg with no RTP for this many seconds ends the call; 0 = never. Default 60.
    pub rtp_timeout_s: u32,
    /// The same for a call on hold; 0 = never. Default 300.
    pub rtp_hold_timeout_s: u32,
    /// Symmetric latching: how long after the first packet the relay accepts a new source
    /// address before it locks (against RTP bleed, CVE-2017-14099). Default 2000.
    pub learn_window_ms: u32,
    /// Relay worker threads; 0 (default) = one per CPU core.
    pub workers: usize,
    /// Run the relay workers with the real-time policy SCHED_FIFO at this priority (1–99;
    /// needs root or CAP_SYS_NICE), so media frames keep their 20 ms cadence on a loaded
    /// machine (as Asterisk's `-p`). 0 (default) = normal scheduling.
    pub realtime_priority: u8,
    /// Codecs offered and accepted, in order of preference: `PCMA`, `PCMU`, `G722`. Default
    /// `["PCMA", "PCMU"]` ([`Codec::DEFAULT`]).
    pub codecs: Vec<Codec>,
    /// Payload type vpbx uses for RFC 4733 telephone-event in its own offers, 96..=127.
    /// Default 101.
    pub telephone_event_pt: u8,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Web, API and `/metrics`. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
}

/// `[smtp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:port` or `smtps://…`; `""` (default) = mail disabled.
    pub url: Option<String>,
    /// Sender address. Default `pbx@example.com`.
    pub from: String,
    /// Seconds before a failed voicemail e-mail is tried again (doubling, up to
    /// 10 minutes). Default 10.
    pub retry_initial_s: u64,
}

/// `[security]`: bans and rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// CIDRs exempt from bans and rate limits. Default none.
    pub trusted_networks: NetworkList,
    /// Failed authentications from one IP… Default 10.
    pub ban_threshold: u32,
    /// …within this many seconds… Default 60.
    pub ban_window_s: u64,
    /// …ban it this many seconds. Default 900.
    pub ban_time_s: u64,
    /// Drop requests whose User-Agent contains a scanner name, and ban the source. Default true.
    pub drop_scanner_user_agents: bool,
    /// Case-insensitive substrings of scanner User-Agents. Default [`DEFAULT_SCANNER_USER_AGENTS`].
    /// Stored lower-cased.
    pub scanner_user_agents: Vec<String>,
    /// Sustained SIP requests per second from one source IP. Default 200 (an office of a
    /// few hundred phones behind one NAT re-registers and subscribes well below this).
    pub rate_limit_per_ip: u32,
    /// Burst allowance above the sustained rate. Default 400.
    pub rate_limit_burst: u32,
}

/// The User-Agent substrings of well-known SIP scanners and brute-forcers: SIPVicious
/// (`friendly-scanner`, `sipvicious`), sipcli, sip-scan, sundayddr, iWar, SIVuS, Gulp,
/// smap, and VaxSIPUserAgent (the default UA string of a scanner SDK seen in most
/// attack logs). This is the list that public fail2ban/OpenSIPS scanner filters share;
/// legitimate softphone SDKs are not on it.
pub const DEFAULT_SCANNER_USER_AGENTS: [&str; 10] = [
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "iwar",
    "sivus",
    "gulp",
    "smap",
    "vaxsipuseragent",
];

impl SecurityConfig {
    /// Whether `user_agent` contains one of the scanner names (ASCII case-insensitive).
    /// Independent of `drop_scanner_user_agents`, which the caller checks.
    pub fn is_scanner_user_agent(&self, user_agent: &str) -> bool {
        let ua = user_agent.to_ascii_lowercase();
        self.scanner_user_agents
            .iter()
            .any(|s| ua.contains(s.as_str()))
    }
}

/// `[registrar]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter requested expiries get 423 Interval Too Brief. Default 60.
    pub min_expires: u32,
    /// Longer requested expiries are cut to this. Default 3600.
    pub max_expires: u32,
    /// Used when the REGISTER names no expiry. Default 3600.
    pub default_expires: u32,
    /// Contacts per address-of-record (a tenant may override lower or higher). Default 10.
    pub max_contacts_per_aor: u32,
    /// Lifetime of a digest nonce before `stale=true`. Default 300.
    pub nonce_ttl_s: u64,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Batch registration writes instead of writing on the REGISTER path. Default true.
    pub write_behind: bool,
    /// Longest delay of a write-behind batch, 1..=1000 ms. Default 1000.
    pub flush_interval_ms: u64,
    /// Optional key sealing stored secrets (see [`crate::secret`]). Default none.
    pub secrets_key: Option<SecretsKey>,
}

/// `[features]`: feature codes dialled during a call (RFC 4733 digits), seed 000's habit.
/// Each is 1–8 characters of `0-9*#`; neither may be a prefix of the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturesConfig {
    /// Attended transfer: consult the target, then hand the call over. Default `*2`.
    pub attended_transfer: String,
    /// Blind transfer: hand the call over at once. Default `##`.
    pub blind_transfer: String,
}

/// `[trace]`: the SIP message log behind `vpbx trace CALL-ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// Messages kept in the in-memory ring; 0 disables tracing. Default 100000.
    pub max_messages: usize,
    /// Also append messages to files in this directory. Default none.
    pub dir: Option<PathBuf>,
}

const TOP_KEYS: &[&str] = &[
    "data_dir",
    "database",
    "sip",
    "media",
    "http",
    "smtp",
    "security",
    "registrar",
    "store",
    "storage",
    "trace",
    "features",
];
const SIP_KEYS: &[&str] = &[
    "listen",
    "external_ip",
    "t1_ms",
    "t2_ms",
    "t4_ms",
    "max_message_bytes",
    "shards",
    "threads",
    "queue_depth",
    "own_ip_policy",
    "local_networks",
    "session_expires_s",
    "min_se_s",
    "qualify_interval_s",
];
const MEDIA_KEYS: &[&str] = &[
    "ip",
    "ports",
    "advertise_ip",
    "rtp_timeout_s",
    "rtp_hold_timeout_s",
    "learn_window_ms",
    "workers",
    "realtime_priority",
    "codecs",
    "telephone_event_pt",
];
const FEATURES_KEYS: &[&str] = &["attended_transfer", "blind_transfer"];
const HTTP_KEYS: &[&str] = &["listen"];
const SMTP_KEYS: &[&str] = &["url", "from", "retry_initial_s"];
const STORAGE_KEYS: &[&str] = &["purge_delay_s", "purge_interval_s"];
const SECURITY_KEYS: &[&str] = &[
    "trusted_networks",
    "ban_threshold",
    "ban_window_s",
    "ban_time_s",
    "drop_scanner_user_agents",
    "scanner_user_agents",
    "rate_limit_per_ip",
    "rate_limit_burst",
];
const REGISTRAR_KEYS: &[&str] = &[
    "min_expires",
    "max_expires",
    "default_expires",
    "max_contacts_per_aor",
    "nonce_ttl_s",
];
const STORE_KEYS: &[&str] = &["write_behind", "flush_interval_ms", "secrets_key"];
const TRACE_KEYS: &[&str] = &["max_messages", "dir"];

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./vpbx-data";

/// `sqlite://<data_dir>/vpbx.db`, with a leading `./` dropped: `./vpbx-data` gives
/// `sqlite://vpbx-data/vpbx.db`, `/var/lib/vpbx` gives `sqlite:///var/lib/vpbx/vpbx.db`.
pub fn default_database_for(data_dir: &Path) -> String {
    let dir = data_dir.to_string_lossy();
    let dir = dir.strip_prefix("./").unwrap_or(&dir).trim_end_matches('/');
    if dir.is_empty() || dir == "." {
        "sqlite://vpbx.db".to_owned()
    } else {
        format!("sqlite://{dir}/vpbx.db")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        ServerConfig {
            database: default_database_for(&data_dir),
            data_dir,
            sip: SipConfig {
                listen: vec![
                    ListenAddr {
                        transport: Transport::Udp,
                        addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 5060),
                    },
                    ListenAddr {
                        transport: Transport::Tcp,
                        addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 5060),
                    },
                ],
                external_ip: None,
                t1_ms: 500,
                t2_ms: 4000,
                t4_ms: 5000,
                max_message_bytes: 65_535,
                shards: 0,
                threads: 0,
                queue_depth: 4096,
                own_ip_policy: OwnIpPolicy::UniqueAuthUser,
                local_networks: NetworkList::new(),
                session_expires_s: 1800,
                min_se_s: 90,
                qualify_interval_s: 60,
            },
            media: MediaConfig {
                ip: Ipv4Addr::UNSPECIFIED.into(),
                ports: PortRange {
                    first: 10_000,
                    last: 20_000,
                },
                advertise_ip: None,
                rtp_timeout_s: 60,
                rtp_hold_timeout_s: 300,
                learn_window_ms: 2000,
                workers: 0,
                realtime_priority: 0,
                codecs: Codec::DEFAULT.to_vec(),
                telephone_event_pt: 101,
            },
            http: HttpConfig {
                listen: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 8080),
            },
            smtp: SmtpConfig {
                url: None,
                from: "pbx@example.com".to_owned(),
                retry_initial_s: 10,
            },
            storage: StorageConfig {
                purge_delay_s: 60,
                purge_interval_s: 86_400,
            },
            security: SecurityConfig {
                trusted_networks: NetworkList::new(),
                ban_threshold: 10,
                ban_window_s: 60,
                ban_time_s: 900,
                drop_scanner_user_agents: true,
                scanner_user_agents: DEFAULT_SCANNER_USER_AGENTS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                rate_limit_per_ip: 200,
                rate_limit_burst: 400,
            },
            registrar: RegistrarConfig {
                min_expires: 60,
                max_expires: 3600,
                default_expires: 3600,
                max_contacts_per_aor: 10,
                nonce_ttl_s: 300,
            },
            store: StoreConfig {
                write_behind: true,
                flush_interval_ms: 1000,
                secrets_key: None,
            },
            trace: TraceConfig {
                max_messages: 100_000,
                dir: None,
            },
            features: FeaturesConfig {
                attended_transfer: "*2".to_owned(),
                blind_transfer: "##".to_owned(),
            },
        }
    }
}

/// Parses a string value that may be `""` meaning "not set".
fn optional_text<'a>(f: &Fields<'a>, key: &str) -> Result<Option<&'a str>, ConfigError> {
    Ok(f.string(key)?.filter(|s| !s.trim().is_empty()))
}

fn parse_ip(text: &str, path: String) -> Result<IpAddr, ConfigError> {
    text.trim()
        .parse()
        .map_err(|_| ConfigError::invalid(path, format!("\"{text}\" is not an IP address")))
}

impl ServerConfig {
    /// Parses `vpbx.toml` text. Missing keys take their defaults.
    pub fn from_toml_str(text: &str) -> Result<ServerConfig, ConfigError> {
        let root = Node::from_toml_str(text)?;
        let top = Fields::new(&root, "", TOP_KEYS)?;
        let mut cfg = ServerConfig::default();

        if let Some(dir) = top.string("data_dir")? {
            if dir.trim().is_empty() {
                return Err(ConfigError::invalid("data_dir", "must not be empty"));
            }
            cfg.data_dir = PathBuf::from(dir);
        }
        cfg.database = match optional_text(&top, "database")? {
            Some(db) => {
                if !(db.starts_with("sqlite:")
                    || db.starts_with("postgres://")
                    || db.starts_with("postgresql://"))
                {
                    return Err(ConfigError::invalid(
                        "database",
                        format!(
                            "\"{}\" is not a sqlite:// or postgres:// URL",
                            redact_url(db)
                        ),
                    ));
                }
                db.to_owned()
            }
            None => default_database_for(&cfg.data_dir),
        };

        let empty = Node::Null;
        let section = |key: &str, keys| Fields::new(top.get(key).unwrap_or(&empty), key, keys);

        let sip = section("sip", SIP_KEYS)?;
        if let Some(node) = sip.get("listen") {
            let path = sip.at("listen");
            let items = crate::node::as_list(node, &path)?;
            let mut listen = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = index(&path, i);
                let la = ListenAddr::parse(as_str(item, &at)?)
                    .map_err(|m| ConfigError::invalid(&at, m))?;
                if listen.contains(&la) {
                    return Err(ConfigError::invalid(
                        at,
                        format!("\"{la}\" is listed twice"),
                    ));
                }
                listen.push(la);
            }
            if listen.is_empty() {
                return Err(ConfigError::invalid(path, "at least one address is needed"));
            }
            cfg.sip.listen = listen;
        }
        if let Some(ip) = optional_text(&sip, "external_ip")? {
            cfg.sip.external_ip = Some(parse_ip(ip, sip.at("external_ip"))?);
        }
        let s = &mut cfg.sip;
        s.t1_ms = sip.uint("t1_ms", 1, 60_000)?.unwrap_or(s.t1_ms);
        s.t2_ms = sip.uint("t2_ms", 1, 600_000)?.unwrap_or(s.t2_ms);
        s.t4_ms = sip.uint("t4_ms", 1, 600_000)?.unwrap_or(s.t4_ms);
        if s.t2_ms < s.t1_ms {
            return Err(ConfigError::invalid(
                "sip.t2_ms",
                format!(
                    "{} is less than t1_ms ({}); RFC 3261 needs T2 >= T1",
                    s.t2_ms, s.t1_ms
                ),
            ));
        }
        s.max_message_bytes = sip
            .uint("max_message_bytes", 1024, 1 << 20)?
            .map_or(s.max_message_bytes, to_usize);
        s.shards = sip.uint("shards", 0, 1024)?.map_or(s.shards, to_usize);
        s.threads = sip.uint("threads", 0, 1024)?.map_or(s.threads, to_usize);
        s.queue_depth = sip
            .uint("queue_depth", 1, 10_000_000)?
            .map_or(s.queue_depth, to_usize);
        if let Some(p) = sip.string("own_ip_policy")? {
            s.own_ip_policy = match p {
                "unique-auth-user" => OwnIpPolicy::UniqueAuthUser,
                "reject" => OwnIpPolicy::Reject,
                "drop" => OwnIpPolicy::Drop,
                other => {
                    return Err(ConfigError::invalid(
                        sip.at("own_ip_policy"),
                        format!("\"{other}\" is not one of: unique-auth-user, reject, drop"),
                    ));
                }
            };
        }
        if sip.get("local_networks").is_some() {
            let path = sip.at("local_networks");
            let nets = string_list(sip.list("local_networks")?, &path)?;
            s.local_networks = NetworkList::parse(&nets).map_err(|i| {
                ConfigError::invalid(
                    index(&path, i),
                    format!("\"{}\" is not a CIDR or IP address", nets[i]),
                )
            })?;
        }
        s.min_se_s = sip.uint("min_se_s", 90, 86_400)?.map_or(s.min_se_s, to_u32);
        s.session_expires_s = sip
            .uint("session_expires_s", 90, 86_400)?
            .map_or(s.session_expires_s, to_u32);
        if s.session_expires_s < s.min_se_s {
            return Err(ConfigError::invalid(
                "sip.session_expires_s",
                format!(
                    "{} is less than min_se_s ({}); RFC 4028 needs Session-Expires >= Min-SE",
                    s.session_expires_s, s.min_se_s
                ),
            ));
        }
        s.qualify_interval_s = sip
            .uint("qualify_interval_s", 0, 86_400)?
            .map_or(s.qualify_interval_s, to_u32);

        let media = section("media", MEDIA_KEYS)?;
        if let Some(ip) = media.string("ip")? {
            cfg.media.ip = parse_ip(ip, media.at("ip"))?;
        }
        if let Some(ports) = media.string("ports")? {
            cfg.media.ports = parse_port_range(ports).ok_or_else(|| {
                ConfigError::invalid(
                    media.at("ports"),
                    format!("\"{ports}\" is not FIRST-LAST with 1024 <= FIRST < LAST <= 65535 (e.g. \"10000-20000\")"),
                )
            })?;
        }
        if let Some(ip) = optional_text(&media, "advertise_ip")? {
            let at = media.at("advertise_ip");
            let ip = parse_ip(ip, at.clone())?;
            if ip.is_unspecified() {
                return Err(ConfigError::invalid(
                    at,
                    format!("{ip} cannot be advertised (give the address peers send RTP to)"),
                ));
            }
            cfg.media.advertise_ip = Some(ip);
        }
        let m = &mut cfg.media;
        m.rtp_timeout_s = media
            .uint("rtp_timeout_s", 0, 86_400)?
            .map_or(m.rtp_timeout_s, to_u32);
        m.rtp_hold_timeout_s = media
            .uint("rtp_hold_timeout_s", 0, 86_400)?
            .map_or(m.rtp_hold_timeout_s, to_u32);
        if m.rtp_timeout_s != 0
            && m.rtp_hold_timeout_s != 0
            && m.rtp_hold_timeout_s < m.rtp_timeout_s
        {
            return Err(ConfigError::invalid(
                "media.rtp_hold_timeout_s",
                format!(
                    "{} is less than rtp_timeout_s ({}); a held call sends less RTP, not more",
                    m.rtp_hold_timeout_s, m.rtp_timeout_s
                ),
            ));
        }
        m.learn_window_ms = media
            .uint("learn_window_ms", 0, 60_000)?
            .map_or(m.learn_window_ms, to_u32);
        m.workers = media.uint("workers", 0, 1024)?.map_or(m.workers, to_usize);
        m.realtime_priority = media
            .uint("realtime_priority", 0, 99)?
            .map_or(m.realtime_priority, |v| {
                u8::try_from(v).expect("range-checked to 0..=99")
            });
        if media.get("codecs").is_some() {
            let path = media.at("codecs");
            let names = string_list(media.list("codecs")?, &path)?;
            let mut codecs = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let at = index(&path, i);
                let codec = Codec::from_name(name).ok_or_else(|| {
                    ConfigError::invalid(
                        &at,
                        format!(
                            "\"{name}\" is not a supported codec (supported: {})",
                            Codec::ALL.map(Codec::name).join(", ")
                        ),
                    )
                })?;
                if codecs.contains(&codec) {
                    return Err(ConfigError::invalid(
                        at,
                        format!("\"{name}\" is listed twice"),
                    ));
                }
                codecs.push(codec);
            }
            if codecs.is_empty() {
                return Err(ConfigError::invalid(path, "at least one codec is needed"));
            }
            m.codecs = codecs;
        }
        m.telephone_event_pt = media
            .uint("telephone_event_pt", 96, 127)?
            .map_or(m.telephone_event_pt, |v| {
                u8::try_from(v).expect("range-checked to 96..=127")
            });

        let http = section("http", HTTP_KEYS)?;
        if let Some(listen) = http.string("listen")? {
            cfg.http.listen = listen.trim().parse().map_err(|_| {
                ConfigError::invalid(http.at("listen"), format!("\"{listen}\" is not IP:PORT"))
            })?;
        }

        let storage = section("storage", STORAGE_KEYS)?;
        cfg.storage.purge_delay_s = storage
            .uint("purge_delay_s", 0, 86_400)?
            .unwrap_or(cfg.storage.purge_delay_s);
        cfg.storage.purge_interval_s = storage
            .uint("purge_interval_s", 1, 604_800)?
            .unwrap_or(cfg.storage.purge_interval_s);

        let smtp = section("smtp", SMTP_KEYS)?;
        if let Some(url) = optional_text(&smtp, "url")? {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError::invalid(
                    smtp.at("url"),
                    format!("\"{}\" is not an smtp:// or smtps:// URL", redact_url(url)),
                ));
            }
            cfg.smtp.url = Some(url.to_owned());
        }
        if let Some(from) = smtp.string("from")? {
            if !is_plausible_email(from) {
                return Err(ConfigError::invalid(
                    smtp.at("from"),
                    format!("\"{from}\" is not a plausible e-mail address"),
                ));
            }
            cfg.smtp.from = from.to_owned();
        }
        cfg.smtp.retry_initial_s = smtp
            .uint("retry_initial_s", 1, 3600)?
            .unwrap_or(cfg.smtp.retry_initial_s);

        let sec = section("security", SECURITY_KEYS)?;
        let s = &mut cfg.security;
        if sec.get("trusted_networks").is_some() {
            let path = sec.at("trusted_networks");
            let nets = string_list(sec.list("trusted_networks")?, &path)?;
            s.trusted_networks = NetworkList::parse(&nets).map_err(|i| {
                ConfigError::invalid(
                    index(&path, i),
                    format!("\"{}\" is not a CIDR or IP address", nets[i]),
                )
            })?;
        }
        s.ban_threshold = sec
            .uint("ban_threshold", 1, 1_000_000)?
            .map_or(s.ban_threshold, to_u32);
        s.ban_window_s = sec
            .uint("ban_window_s", 1, 86_400 * 7)?
            .unwrap_or(s.ban_window_s);
        s.ban_time_s = sec
            .uint("ban_time_s", 0, 86_400 * 365)?
            .unwrap_or(s.ban_time_s);
        s.drop_scanner_user_agents =
            sec.bool_or("drop_scanner_user_agents", s.drop_scanner_user_agents)?;
        if sec.get("scanner_user_agents").is_some() {
            let path = sec.at("scanner_user_agents");
            let list = string_list(sec.list("scanner_user_agents")?, &path)?;
            if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                return Err(ConfigError::invalid(
                    index(&path, i),
                    "must not be empty (it would match every request)",
                ));
            }
            s.scanner_user_agents = list.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        }
        s.rate_limit_per_ip = sec
            .uint("rate_limit_per_ip", 1, 10_000_000)?
            .map_or(s.rate_limit_per_ip, to_u32);
        s.rate_limit_burst = sec
            .uint("rate_limit_burst", 1, 10_000_000)?
            .map_or(s.rate_limit_burst, to_u32);
        if s.rate_limit_burst < s.rate_limit_per_ip {
            return Err(ConfigError::invalid(
                "security.rate_limit_burst",
                format!(
                    "{} is less than rate_limit_per_ip ({})",
                    s.rate_limit_burst, s.rate_limit_per_ip
                ),
            ));
        }

        let reg = section("registrar", REGISTRAR_KEYS)?;
        let r = &mut cfg.registrar;
        r.min_expires = reg
            .uint("min_expires", 1, 86_400)?
            .map_or(r.min_expires, to_u32);
        r.max_expires = reg
            .uint("max_expires", 1, 86_400 * 7)?
            .map_or(r.max_expires, to_u32);
        r.default_expires = reg
            .uint("default_expires", 1, 86_400 * 7)?
            .map_or(r.default_expires, to_u32);
        r.max_contacts_per_aor = reg
            .uint("max_contacts_per_aor", 1, 1000)?
            .map_or(r.max_contacts_per_aor, to_u32);
        r.nonce_ttl_s = reg.uint("nonce_ttl_s", 1, 86_400)?.unwrap_or(r.nonce_ttl_s);
        if r.min_expires > r.max_expires {
            return Err(ConfigError::invalid(
                "registrar.min_expires",
                format!(
                    "{} is greater than max_expires ({})",
                    r.min_expires, r.max_expires
                ),
            ));
        }
        if !(r.min_expires..=r.max_expires).contains(&r.default_expires) {
            return Err(ConfigError::invalid(
                "registrar.default_expires",
                format!(
                    "{} is outside min_expires..=max_expires ({}..={})",
                    r.default_expires, r.min_expires, r.max_expires
                ),
            ));
        }

        let store = section("store", STORE_KEYS)?;
        cfg.store.write_behind = store.bool_or("write_behind", cfg.store.write_behind)?;
        cfg.store.flush_interval_ms = store
            .uint("flush_interval_ms", 1, 1000)?
            .unwrap_or(cfg.store.flush_interval_ms);
        if let Some(key) = optional_text(&store, "secrets_key")? {
            // The error never repeats the key.
            cfg.store.secrets_key = Some(SecretsKey::parse(key).map_err(|_| {
                ConfigError::invalid(
                    store.at("secrets_key"),
                    "must be 32 bytes written as 64 hex digits or 44 base64 characters",
                )
            })?);
        }

        let trace = section("trace", TRACE_KEYS)?;
        cfg.trace.max_messages = trace
            .uint("max_messages", 0, 100_000_000)?
            .map_or(cfg.trace.max_messages, to_usize);
        cfg.trace.dir = optional_text(&trace, "dir")?.map(PathBuf::from);

        let features = section("features", FEATURES_KEYS)?;
        for key in ["attended_transfer", "blind_transfer"] {
            if let Some(code) = features.string(key)? {
                check_feature_code(code).map_err(|m| ConfigError::invalid(features.at(key), m))?;
                let slot = match key {
                    "attended_transfer" => &mut cfg.features.attended_transfer,
                    _ => &mut cfg.features.blind_transfer,
                };
                code.clone_into(slot);
            }
        }
        let (a, b) = (
            &cfg.features.attended_transfer,
            &cfg.features.blind_transfer,
        );
        if a.starts_with(b.as_str()) || b.starts_with(a.as_str()) {
            return Err(ConfigError::invalid(
                "features.blind_transfer",
                format!(
                    "\"{b}\" and attended_transfer \"{a}\": one is a prefix of the other, so the longer could never be dialled"
                ),
            ));
        }

        Ok(cfg)
    }

    /// The address vpbx writes in Via and Contact for a SIP peer at `peer`:
    /// `[sip] external_ip` for peers outside `local_networks`, `None` for local peers and
    /// when no external address is set (use the local address of the socket).
    pub fn sip_advertise_for(&self, peer: IpAddr) -> Option<IpAddr> {
        if self.sip.local_networks.contains(peer) {
            return None;
        }
        self.sip.external_ip
    }

    /// The address vpbx writes in SDP (`c=`) for a peer at `peer`. Local peers (inside
    /// `[sip] local_networks`) get the internal address; others `[media] advertise_ip`, else
    /// `[sip] external_ip`, else the internal address. The internal address is `[media] ip`
    /// when it is a specific address, else the first specific `[sip] listen` address, else
    /// `None`: the server then uses the local address the peer's SIP arrived on.
    pub fn media_advertise_for(&self, peer: IpAddr) -> Option<IpAddr> {
        let internal = self.internal_ip();
        if self.sip.local_networks.contains(peer) {
            return internal;
        }
        self.media
            .advertise_ip
            .or(self.sip.external_ip)
            .or(internal)
    }

    fn internal_ip(&self) -> Option<IpAddr> {
        if !self.media.ip.is_unspecified() {
            return Some(self.media.ip);
        }
        self.sip
            .listen
            .iter()
            .map(|l| l.addr.ip())
            .find(|ip| !ip.is_unspecified())
    }

    /// The number of shards to run on a machine with `cores` cores (`shards = 0` → `cores`).
    pub fn effective_shards(&self, cores: usize) -> usize {
        if self.sip.shards == 0 {
            4 * cores.max(1)
        } else {
            self.sip.shards
        }
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).expect("range-checked to at most 100_000_000")
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).expect("range-checked to at most 10_000_000")
}

/// A feature code: 1–8 characters of `0-9*#` (what a phone sends as RFC 4733 events).
fn check_feature_code(code: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > 8 {
        return Err(format!("\"{code}\" must be 1 to 8 characters long"));
    }
    if let Some(c) = code
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == '*' || *c == '#'))
    {
        return Err(format!(
            "\"{code}\": '{c}' is not a phone key (allowed: 0-9, * and #)"
        ));
    }
    Ok(())
}

fn parse_port_range(s: &str) -> Option<PortRange> {
    let (a, b) = s.trim().split_once('-')?;
    let first: u16 = a.trim().parse().ok()?;
    let last: u16 = b.trim().parse().ok()?;
    (first >= 1024 && first < last).then_some(PortRange { first, last })
}

/// `scheme://user:pass@host` → `scheme://user:***@host`, so errors never print passwords.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn listen_addresses_parse_into_transport_and_socket() {
        let la = ListenAddr::parse("udp:127.0.0.1:5070").unwrap();
        assert_eq!(la.transport, Transport::Udp);
        assert_eq!(la.addr, "127.0.0.1:5070".parse().unwrap());
        let la = ListenAddr::parse("TCP:[::1]:5060").unwrap();
        assert_eq!(la.transport, Transport::Tcp);
        assert_eq!(la.to_string(), "tcp:[::1]:5060");
    }

    #[test]
    fn tls_and_ws_listen_addresses_are_recognised_but_not_supported_yet() {
        assert_eq!(
            ListenAddr::parse("tls:0.0.0.0:5061").unwrap_err(),
            "\"tls:0.0.0.0:5061\": the TLS transport is not supported yet (use udp or tcp)"
        );
        assert!(
            ListenAddr::parse("ws:0.0.0.0:8088")
                .unwrap_err()
                .contains("WS transport is not supported yet")
        );
        assert!(
            ListenAddr::parse("sctp:0.0.0.0:5060")
                .unwrap_err()
                .contains("unknown transport")
        );
        assert!(
            ListenAddr::parse("udp:0.0.0.0")
                .unwrap_err()
                .contains("is not IP:PORT")
        );
    }

    #[test]
    fn the_database_default_follows_the_data_dir() {
        assert_eq!(
            default_database_for(Path::new("./vpbx-data")),
            "sqlite://vpbx-data/vpbx.db"
        );
        assert_eq!(
            default_database_for(Path::new("/var/lib/vpbx/")),
            "sqlite:///var/lib/vpbx/vpbx.db"
        );
        assert_eq!(default_database_for(Path::new(".")), "sqlite://vpbx.db");
    }

    #[test]
    fn urls_in_errors_hide_the_password() {
        assert_eq!(
            redact_url("smtp://bob:hunter2@mail:25"),
            "smtp://bob:***@mail:25"
        );
        assert_eq!(redact_url("smtp://mail:25"), "smtp://mail:25");
    }

    #[test]
    fn scanner_user_agents_match_case_insensitively_as_substrings() {
        let sec = ServerConfig::default().security;
        assert!(sec.is_scanner_user_agent("friendly-scanner"));
        assert!(sec.is_scanner_user_agent("SIPVicious/0.3.4"));
        assert!(sec.is_scanner_user_agent("VaxSIPUserAgent/3.1"));
        assert!(!sec.is_scanner_user_agent("baresip v1.0.0 (x86_64/linux)"));
        assert!(!sec.is_scanner_user_agent("Yealink SIP-T46S 66.86.0.15"));
    }

    #[test]
    fn zero_shards_means_four_per_core() {
        let mut cfg = ServerConfig::default();
        assert_eq!(cfg.effective_shards(2), 8);
        assert_eq!(cfg.effective_shards(0), 4);
        cfg.sip.shards = 3;
        assert_eq!(cfg.effective_shards(2), 3);
    }
}
