//! A small in-memory network for scenario tests: endpoints joined by
//! directional links with optional loss and delay, in virtual time, with a
//! seeded RNG. Each node may have a TU hook that reacts to its events.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip_msg::{Limits, Message, Request, Response, parse_datagram};
use sip_txn::{Config, Endpoint, Event, Flow, Output, Target};

pub type Hook = Box<dyn FnMut(&mut Endpoint, Instant, &Event)>;

pub struct Node {
    pub ep: Endpoint,
    pub addr: SocketAddr,
    /// Every event with its offset from the start.
    pub events: Vec<(Duration, Event)>,
    /// Every message this node put on the wire: offset, destination, message.
    pub sent: Vec<(Duration, SocketAddr, Message)>,
    hook: Option<Hook>,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub loss: f64,
    pub delay: Duration,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            loss: 0.0,
            delay: Duration::from_millis(10),
        }
    }
}

pub struct Sim {
    pub t0: Instant,
    now: Instant,
    pub nodes: Vec<Node>,
    links: HashMap<(usize, usize), Link>,
    /// An address whose datagrams go to several nodes (a forking hop).
    forks: HashMap<SocketAddr, Vec<usize>>,
    /// (delivery time, sequence) → (to node, source address, bytes)
    in_flight: BinaryHeap<Reverse<(Instant, u64)>>,
    payloads: HashMap<u64, (usize, SocketAddr, Vec<u8>)>,
    seq: u64,
    rng: u64,
    pub reliable: bool,
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        let t0 = Instant::now(); // only a base value; all later times are t0 + virtual offsets
        Sim {
            t0,
            now: t0,
            nodes: Vec::new(),
            links: HashMap::new(),
            forks: HashMap::new(),
            in_flight: BinaryHeap::new(),
            payloads: HashMap::new(),
            seq: 0,
            rng: seed,
            reliable: false,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn add_node(&mut self, config: Config) -> usize {
        let i = self.nodes.len();
        let addr: SocketAddr = format!("10.0.0.{}:5060", i + 1).parse().unwrap();
        self.nodes.push(Node {
            ep: Endpoint::new(config),
            addr,
            events: Vec::new(),
            sent: Vec::new(),
            hook: None,
            deadline: None,
        });
        i
    }

    pub fn addr(&self, n: usize) -> SocketAddr {
        self.nodes[n].addr
    }

    /// The target node `from` uses to reach node `to` (flow = peer index).
    pub fn target(&self, to: usize) -> Target {
        Target {
            flow: Flow(to as u64),
            addr: self.nodes[to].addr,
            reliable: self.reliable,
        }
    }

    /// Node `from` starts a client transaction for `req` towards node `to`.
    pub fn send(&mut self, from: usize, to: usize, req: Request) -> sip_txn::TxnKey {
        let (now, target) = (self.now, self.target(to));
        let key = self.nodes[from].ep.send_request(now, target, req).unwrap();
        self.drain();
        key
    }

    /// Runs `f` on node `n`'s endpoint at the current time, then drains.
    pub fn with<R>(&mut self, n: usize, f: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.nodes[n].ep, now);
        self.drain();
        r
    }

    pub fn set_link(&mut self, from: usize, to: usize, link: Link) {
        self.links.insert((from, to), link);
    }

    /// Datagrams sent to `addr` reach every node in `to`.
    pub fn fork_address(&mut self, addr: SocketAddr, to: Vec<usize>) {
        self.forks.insert(addr, to);
    }

    pub fn on_event(
        &mut self,
        n: usize,
        hook: impl FnMut(&mut Endpoint, Instant, &Event) + 'static,
    ) {
        self.nodes[n].hook = Some(Box::new(hook));
    }

    fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Puts raw bytes on the wire from `from_addr` to node `to` (a peer that
    /// is not an Endpoint, e.g. an RFC 2543 UA).
    pub fn inject(&mut self, from_addr: SocketAddr, to: usize, text: &str) {
        self.seq += 1;
        self.payloads
            .insert(self.seq, (to, from_addr, text.as_bytes().to_vec()));
        self.in_flight.push(Reverse((self.now + ms(1), self.seq)));
    }

    /// Drains every node's output: transmits go on links, events to hooks.
    pub fn drain(&mut self) {
        loop {
            let mut progressed = false;
            for i in 0..self.nodes.len() {
                loop {
                    let out = self.nodes[i].ep.poll_output();
                    match out {
                        Output::Transmit(t) => {
                            progressed = true;
                            let msg = parse_datagram(&t.data, &Limits::default())
                                .expect("endpoints send valid SIP");
                            let at = self.now - self.t0;
                            self.nodes[i].sent.push((at, t.target.addr, msg));
                            let dests: Vec<usize> = match self.forks.get(&t.target.addr) {
                                Some(v) => v.clone(),
                                None => self
                                    .nodes
                                    .iter()
                                    .position(|n| n.addr == t.target.addr)
                                    .into_iter()
                                    .collect(),
                            };
                            for j in dests {
                                let link = self.links.get(&(i, j)).copied().unwrap_or_default();
                                if link.loss > 0.0 && self.random() < link.loss {
                                    continue;
                                }
                                self.seq += 1;
                                let from = self.nodes[i].addr;
                                self.payloads.insert(self.seq, (j, from, t.data.to_vec()));
                                self.in_flight
                                    .push(Reverse((self.now + link.delay, self.seq)));
                            }
                        }
                        Output::Event(e) => {
                            progressed = true;
                            let at = self.now - self.t0;
                            let now = self.now;
                            let node = &mut self.nodes[i];
                            if let Some(h) = node.hook.as_mut() {
                                h(&mut node.ep, now, &e);
                            }
                            node.events.push((at, e));
                        }
                        Output::Timeout(at) => {
                            self.nodes[i].deadline = Some(at);
                            break;
                        }
                        Output::Idle => {
                            self.nodes[i].deadline = None;
                            break;
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Runs the network until `end` (virtual time).
    pub fn run_until(&mut self, end: Instant) {
        loop {
            self.drain();
            let next_msg = self.in_flight.peek().map(|Reverse((at, _))| *at);
            let next_timer = self.nodes.iter().filter_map(|n| n.deadline).min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next;
            if next_msg == Some(next) {
                let Reverse((_, seq)) = self.in_flight.pop().unwrap();
                let (to, from, data) = self.payloads.remove(&seq).unwrap();
                let msg =
                    parse_datagram(&data, &Limits::default()).expect("test traffic is valid SIP");
                let source = Target {
                    flow: Flow(
                        self.nodes
                            .iter()
                            .position(|n| n.addr == from)
                            .map_or(999, |p| p as u64),
                    ),
                    addr: from,
                    reliable: self.reliable,
                };
                self.nodes[to].ep.handle_message(next, source, msg);
            } else {
                for n in &mut self.nodes {
                    if n.deadline.is_some_and(|d| d <= next) {
                        n.ep.handle_timeout(next);
                    }
                }
            }
        }
        self.now = self.now.max(end);
        self.drain();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// Offsets (ms) at which node `n` sent a request with `method`.
    pub fn request_offsets_ms(&self, n: usize, method: &str) -> Vec<u64> {
        self.nodes[n]
            .sent
            .iter()
            .filter(|(_, _, m)| matches!(m, Message::Request(r) if r.method.as_str() == method))
            .map(|(t, _, _)| t.as_millis() as u64)
            .collect()
    }

    /// Offsets (ms) at which node `n` sent a response with `code`.
    pub fn response_offsets_ms(&self, n: usize, code: u16) -> Vec<u64> {
        self.nodes[n]
            .sent
            .iter()
            .filter(|(_, _, m)| matches!(m, Message::Response(r) if r.status.as_u16() == code))
            .map(|(t, _, _)| t.as_millis() as u64)
            .collect()
    }

    /// Requests node `n` sent with `method`, with their destination.
    pub fn requests_sent(&self, n: usize, method: &str) -> Vec<(SocketAddr, Request)> {
        self.nodes[n]
            .sent
            .iter()
            .filter_map(|(_, d, m)| match m {
                Message::Request(r) if r.method.as_str() == method => Some((*d, r.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn events(&self, n: usize) -> Vec<Event> {
        self.nodes[n]
            .events
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Responses node `n`'s TU got (Event::Response), with offsets.
    pub fn responses(&self, n: usize) -> Vec<(u64, Response)> {
        self.nodes[n]
            .events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Response { response, .. } => Some((t.as_millis() as u64, response.clone())),
                _ => None,
            })
            .collect()
    }

    /// Offsets (ms) of events of node `n` matching `pred`.
    pub fn event_offsets_ms(&self, n: usize, pred: impl Fn(&Event) -> bool) -> Vec<u64> {
        self.nodes[n]
            .events
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(t, _)| t.as_millis() as u64)
            .collect()
    }
}

/// Builds a request from node `from` to node `to` with a fresh branch.
pub fn request(
    sim: &mut Sim,
    from: usize,
    to: usize,
    method: &str,
    call_id: &str,
    cseq: u32,
) -> Request {
    let branch = sim.nodes[from].ep.new_branch();
    let from_tag = format!("ft{from}");
    let text = format!(
        "{method} sip:user@{to_addr} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from_addr};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{from_addr}>;tag={from_tag}\r\n\
         To: <sip:user@{to_addr}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:caller@{from_addr}>\r\n\
         Content-Length: 0\r\n\r\n",
        to_addr = sim.addr(to),
        from_addr = sim.addr(from),
    );
    match parse_datagram(text.as_bytes(), &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!("built a request"),
    }
}

/// A response to `req` with To tag `tag` (not on 100) and Contact `contact`.
pub fn answer(contact: SocketAddr, req: &Request, code: u16, tag: &str) -> Response {
    let mut r = req.make_response(sip_msg::StatusCode::new(code).unwrap());
    if code > 100 {
        r.set_to_tag(tag);
    }
    r.headers.push(
        sip_msg::HeaderName::Contact,
        format!("<sip:callee@{contact}>"),
    );
    r
}

pub fn quiet() -> Config {
    Config {
        auto_100_trying: false,
        ..Config::default()
    }
}
