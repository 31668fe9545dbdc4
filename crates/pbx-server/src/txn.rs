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
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_msg::{Method, Request};

use crate::transport::{Flow, Tp};

/// Identifies a server transaction: a keyed hash (SipHash with a per-table
/// random key) of what RFC 3261 §17.2.3 matches on — branch, sent-by and
/// method — or of the RFC 2543 fields for older clients. Computed from the
/// message's text without allocating; the random key keeps crafted
/// collisions out of reach.
pub type TxnKey = u64;
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
    keys: RandomState,
    /// Keys are already hashes: the map uses them as they are.
    map: HashMap<TxnKey, Entry, BuildHasherDefault<Identity>>,
    /// Keys in the order they complete; Timer J is constant, so this is also
    /// expiry order.
    order: VecDeque<(Instant, TxnKey)>,
}

impl ServerTxns {
    pub fn new(t1: Duration) -> ServerTxns {
        ServerTxns {
            t1,
            keys: RandomState::new(),
            map: HashMap::default(),
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
        if req.method == Method::Ack {
            // The ACK of a non-2xx final answer matches the INVITE's transaction.
            return match self.key_of(req, &Method::Invite) {
                Some(k) if self.map.contains_key(&k) => TxnMatch::AckAbsorbed,
                _ => TxnMatch::New(None),
            };
        }
        let Some(key) = self.key_of(req, &req.method) else {
            return TxnMatch::New(None);
        };
        match self.map.get(&key) {
            Some(e) if e.expires > now => TxnMatch::Retransmission(e.response.clone()),
            _ => TxnMatch::New(Some(key)),
        }
    }

    /// The key of `req`'s transaction, as if its method were `method`.
    fn key_of(&self, req: &Request, method: &Method) -> Option<TxnKey> {
        let via = req.headers.top_via_id()?;
        let mut h = self.keys.build_hasher();
        if via.has_rfc3261_branch() {
            0u8.hash(&mut h);
            via.hash(&mut h);
            method.as_str().hash(&mut h);
            return Some(h.finish());
        }
        let cseq = req.headers.cseq()?;
        1u8.hash(&mut h);
        req.uri.to_string().hash(&mut h);
        req.headers.from_tag().unwrap_or_default().hash(&mut h);
        req.headers.call_id().unwrap_or_default().hash(&mut h);
        cseq.seq.hash(&mut h);
        method.as_str().hash(&mut h);
        via.hash(&mut h);
        Some(h.finish())
    }

    /// Keeps the final response of a transaction for Timer J (UDP) so
    /// retransmissions get it again. Over TCP nothing is kept.
    pub fn complete(&mut self, key: TxnKey, response: Bytes, flow: Flow, now: Instant) {
        if flow.tp == Tp::Tcp {
            return;
        }
        let expires = now + self.t1 * 64;
        self.map.insert(
            key,
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
        // A registration storm leaves the table's capacity at its peak (a
        // hundred bytes per slot): give it back once the storm is over.
        if self.map.capacity() > 4 * self.map.len() + 1024 {
            self.map.shrink_to(2 * self.map.len());
            self.order.shrink_to(2 * self.order.len());
        }
    }
}

/// The hasher of a map whose keys are already hashes.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else in anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn register(branch: &str, sent_by: &str) -> Request {
        let text = format!(
            "REGISTER sip:t1.vpbx.test SIP/2.0\r\nVia: SIP/2.0/UDP {sent_by};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1000@t1.vpbx.test>;tag=a\r\nTo: <sip:1000@t1.vpbx.test>\r\n\
             Call-ID: c-{branch}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        match sip_msg::parse_datagram(text.as_bytes(), &sip_msg::Limits::default()).unwrap() {
            sip_msg::Message::Request(r) => r,
            sip_msg::Message::Response(_) => unreachable!("a request was parsed"),
        }
    }

    fn flow() -> Flow {
        Flow {
            tp: Tp::Udp,
            id: 0,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
        }
    }

    #[test]
    fn a_retransmission_gets_the_kept_answer_and_another_branch_or_sender_is_new() {
        let t0 = Instant::now();
        let mut txns = ServerTxns::new(Duration::from_millis(500));
        let req = register("z9hG4bK-1", "10.0.0.1:5060");
        let TxnMatch::New(Some(key)) = txns.lookup(&req, t0) else {
            panic!("a first request is new")
        };
        txns.complete(key, Bytes::from_static(b"SIP/2.0 200 OK"), flow(), t0);
        match txns.lookup(&req, t0 + Duration::from_secs(1)) {
            TxnMatch::Retransmission(Some((b, _))) => assert_eq!(&b[..], b"SIP/2.0 200 OK"),
            other => panic!("expected the kept answer, got {other:?}"),
        }
        for other in [
            register("z9hG4bK-2", "10.0.0.1:5060"),
            register("z9hG4bK-1", "10.0.0.2:5060"),
            register("z9hG4bK-1", "10.0.0.1:5062"),
        ] {
            assert!(matches!(txns.lookup(&other, t0), TxnMatch::New(Some(_))));
        }
        // Timer J (64·T1 = 32 s) over: the request is new again.
        txns.expire(t0 + Duration::from_secs(33));
        assert!(txns.is_empty());
        assert!(matches!(
            txns.lookup(&req, t0 + Duration::from_secs(33)),
            TxnMatch::New(Some(_))
        ));
    }

    #[test]
    fn the_table_gives_its_capacity_back_after_a_storm() {
        let t0 = Instant::now();
        let mut txns = ServerTxns::new(Duration::from_millis(500));
        for i in 0..20_000 {
            let req = register(&format!("z9hG4bK-{i}"), "10.0.0.1:5060");
            let TxnMatch::New(Some(key)) = txns.lookup(&req, t0) else {
                panic!("each branch is new")
            };
            txns.complete(key, Bytes::from_static(b"SIP/2.0 200 OK"), flow(), t0);
        }
        assert!(txns.map.capacity() >= 20_000);
        txns.expire(t0 + Duration::from_secs(33));
        assert!(txns.is_empty());
        assert!(
            txns.map.capacity() < 2048,
            "capacity {}",
            txns.map.capacity()
        );
    }
}
