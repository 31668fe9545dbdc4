use crate::{Host, ParseError};

/// Via transport token (RFC 3261 §20.42). Unknown transports are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(Box<str>),
}

/// One Via value: `SIP/2.0/<transport> host[:port];params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    /// The `branch` parameter, if any.
    pub branch: Option<String>,
    /// The `received` parameter, if any.
    pub received: Option<String>,
    /// `None`: no rport; `Some(None)`: bare `rport`; `Some(Some(p))`: `rport=p`.
    pub rport: Option<Option<u16>>,
    /// All parameters in order (including branch/received/rport), as written.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        unimplemented!("sip-msg: Via::parse {s}")
    }
    /// True when the branch starts with the RFC 3261 magic cookie `z9hG4bK`
    /// and has more after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch.as_deref().is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        unimplemented!("sip-msg: Via Display {:p}", f)
    }
}
