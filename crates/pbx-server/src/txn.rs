//! Server transactions for the requests a shard answers itself (REGISTER,
//! OPTIONS, and the final answers to requests we do not serve yet).
//!
//! These requests are answered at once, so of RFC 3261 §17.2.2 only the
//! Completed state is kept: the final response waits Timer J (64·T1 over
//! UDP, zero over TCP) and is sent again for each retransmitted request.
//! Matching follows §17.2.3 (branch + sent-by + method, with a magic-cookie
//! branch) and falls back to RFC 2543 matching (Request-URI, From tag,
//! Call-ID, CSeq, top Via) for older clients. Challenges (401/407) are
//! stateless and not kept: a retransmitted request is challenged again.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_msg::{Method, Request};

use crate::transport::{Flow, Tp};

/// Identifies a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxnKey {
    /// RFC 3261 §17.2.3: branch, sent-by, method (ACK and CANCEL have their own).
    Rfc3261 {
        branch: Box<str>,
        sent_by: Box<str>,
        method: Box<str>,
    },
    /// RFC 2543 fallback.
    Rfc2543 {
        uri: Box<str>,
        from_tag: Box<str>,
        call_id: Box<str>,
        cseq: u32,
        method: Box<str>,
        via: Box<str>,
    },
}

/// The result of matching a request.
#[derive(Debug)]
pub enum TxnMatch {
    /// A request retransmission: send the kept response again (if any yet).
    Retransmission(Option<(Bytes, Flow)>),
    /// An ACK for a non-2xx final response we sent: absorbed.
    AckAbsorbed,
    /// A new request; `Some(key)` when it can be kept as a transaction.
    New(Option<TxnKey>),
}

#[derive(Debug)]
struct Entry {
    response: Option<(Bytes, Flow)>,
    expires: Instant,
}

/// The transaction table of one shard.
#[derive(Debug)]
pub struct ServerTxns {
    t1: Duration,
    map: HashMap<TxnKey, Entry>,
    /// Keys in the order they complete; Timer J is constant, so this is also
    /// expiry order.
    order: VecDeque<(Instant, TxnKey)>,
}

impl ServerTxns {
    pub fn new(t1: Duration) -> ServerTxns {
        ServerTxns {
            t1,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Matches a request against the table.
    pub fn lookup(&mut self, req: &Request, now: Instant) -> TxnMatch {
        let Some(key) = key_of(req) else {
            return TxnMatch::New(None);
        };
        if req.method == Method::Ack {
            // The ACK of a non-2xx final answer matches the INVITE's transaction.
            let invite_key = match &key {
                TxnKey::Rfc3261 {
                    branch, sent_by, ..
                } => TxnKey::Rfc3261 {
                    branch: branch.clone(),
                    sent_by: sent_by.clone(),
                    method: "INVITE".into(),
                },
                TxnKey::Rfc2543 {
                    uri,
                    from_tag,
                    call_id,
                    cseq,
                    via,
                    ..
                } => TxnKey::Rfc2543 {
                    uri: uri.clone(),
                    from_tag: from_tag.clone(),
                    call_id: call_id.clone(),
                    cseq: *cseq,
                    method: "INVITE".into(),
                    via: via.clone(),
                },
            };
            return if self.map.contains_key(&invite_key) {
                TxnMatch::AckAbsorbed
            } else {
                TxnMatch::New(None)
            };
        }
        match self.map.get(&key) {
            Some(e) if e.expires > now => TxnMatch::Retransmission(e.response.clone()),
            _ => TxnMatch::New(Some(key)),
        }
    }

    /// Keeps the final response of a transaction for Timer J (UDP) so
    /// retransmissions get it again. Over TCP nothing is kept.
    pub fn complete(&mut self, key: TxnKey, response: Bytes, flow: Flow, now: Instant) {
        if flow.tp == Tp::Tcp {
            return;
        }
        let expires = now + self.t1 * 64;
        self.map.insert(
            key.clone(),
            Entry {
                response: Some((response, flow)),
                expires,
            },
        );
        self.order.push_back((expires, key));
    }

    /// Forgets transactions whose Timer J fired.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if *t > now {
                break;
            }
            let Some((_, key)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&key).is_some_and(|e| e.expires <= now) {
                self.map.remove(&key);
            }
        }
    }
}

fn key_of(req: &Request) -> Option<TxnKey> {
    let via = req.headers.top_via()?;
    let method: Box<str> = req.method.as_str().into();
    if via.has_rfc3261_branch() {
        let branch = via.branch.clone()?;
        let sent_by = match via.port {
            Some(p) => format!("{}:{p}", via.host),
            None => via.host.to_string(),
        };
        return Some(TxnKey::Rfc3261 {
            branch: branch.into(),
            sent_by: sent_by.into(),
            method,
        });
    }
    let cseq = req.headers.cseq()?;
    Some(TxnKey::Rfc2543 {
        uri: req.uri.to_string().into(),
        from_tag: req.headers.from_tag().unwrap_or_default().into(),
        call_id: req.headers.call_id().unwrap_or_default().into(),
        cseq: cseq.seq,
        method,
        via: via.to_string().into(),
    })
}
