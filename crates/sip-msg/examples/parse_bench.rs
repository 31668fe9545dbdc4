//! Prints on-CPU nanoseconds per operation on the registrar's hot path, and
//! with `--kinds DIR` the parse outcome of every `.dat` file in DIR.
//!
//! `cargo run --release -p sip-msg --example parse_bench [-- ITERATIONS]`
//!
//! Not a timed test: the figures depend on the machine. They are on-CPU time
//! of this thread (Linux schedstat), so other processes competing for the
//! cores do not inflate them; each figure is the best of five rounds.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use sip_msg::{HeaderName, Limits, Message, Request, StatusCode, parse_datagram};

const REGISTER: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: \"Alice\" <sip:1001@example.com>\r\n\
From: \"Alice\" <sip:1001@example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:1001@192.0.2.10:5060;transport=udp>;expires=3600\r\n\
Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sip:example.com\", response=\"dfe56131d1958046689d83306477ecc\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n\
User-Agent: baresip v1.0.0\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

const INVITE: &[u8] = b"INVITE sip:1002@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK74bf9\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:1001@example.com>;tag=9fxced76sl\r\n\
To: <sip:1002@example.com>\r\n\
Call-ID: 3848276298220188511@192.0.2.10\r\n\
CSeq: 2 INVITE\r\n\
Contact: <sip:1001@192.0.2.10:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: baresip v1.0.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 226\r\n\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";

/// On-CPU nanoseconds of this thread (Linux schedstat).
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Best of five rounds of `iterations` calls, in ns per call (on-CPU where
/// available, wall time otherwise).
fn ns_per(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let (wall, cpu) = (Instant::now(), cpu_ns());
        for _ in 0..iterations {
            f();
        }
        let ns = match (cpu, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => wall.elapsed().as_nanos() as f64,
        };
        best = best.min(ns / f64::from(iterations));
    }
    best
}

fn request(data: &[u8]) -> Request {
    match parse_datagram(data, &Limits::default()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("a request"),
    }
}

/// What the registrar asks of a parsed REGISTER before answering it.
fn getters(req: &Request) {
    let h = &req.headers;
    black_box(h.to_tag());
    black_box(h.to());
    black_box(h.to());
    black_box(h.to());
    black_box(h.call_id());
    black_box(h.top_via());
    black_box(h.cseq());
    black_box(h.get(&HeaderName::UserAgent));
    black_box(h.contacts().unwrap());
    black_box(h.expires());
    black_box(h.get_all(&HeaderName::Authorization).count());
}

/// The registrar's answer: 200 with a To tag, the top Via rewritten.
fn respond(req: &Request) -> Vec<u8> {
    let mut r = req.make_response(StatusCode::OK);
    r.set_to_tag("a73kszlfl");
    let top = r.headers.remove_first_value(&HeaderName::Via).unwrap();
    r.headers
        .push_front(HeaderName::Via, top + ";received=192.0.2.10");
    r.headers.push(
        HeaderName::Contact,
        "<sip:1001@192.0.2.10:5060>;expires=3600",
    );
    r.to_bytes()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--kinds") {
        let dir = args.get(2).map_or(".", String::as_str);
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readable dir")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".dat") {
                continue;
            }
            let data = std::fs::read(e.path()).expect("readable file");
            match parse_datagram(&data, &Limits::default()) {
                Ok(_) => println!("{name}: ok"),
                Err(err) => println!("{name}: {:?} -> {:?}", err.kind, err.response_status()),
            }
        }
        return;
    }
    let n: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let limits = Limits::default();
    let clock = if cpu_ns().is_some() { "on-CPU" } else { "wall" };
    println!("sip-msg, {n} iterations, best of 5 ({clock} ns/op)");
    let register = request(REGISTER);
    let parse_reg = ns_per(n, || {
        black_box(parse_datagram(black_box(REGISTER), &limits).unwrap());
    });
    println!("parse REGISTER                      {parse_reg:>8.0}");
    let parse_inv = ns_per(n, || {
        black_box(parse_datagram(black_box(INVITE), &limits).unwrap());
    });
    println!("parse INVITE with SDP               {parse_inv:>8.0}");
    // Each getter's first call on a freshly parsed message, as in the
    // registrar: timed together with the parse, which is then subtracted.
    let parse_get = ns_per(n, || {
        let m = parse_datagram(black_box(REGISTER), &limits).unwrap();
        let Message::Request(req) = m else {
            unreachable!()
        };
        getters(&req);
    });
    println!(
        "registrar getters on a REGISTER     {:>8.0}",
        parse_get - parse_reg
    );
    let resp = ns_per(n, || {
        black_box(respond(black_box(&register)));
    });
    println!("make_response + tag + Via + to_bytes{resp:>8.0}");
    let ser = ns_per(n, || {
        black_box(black_box(&register).to_bytes());
    });
    println!("serialize the REGISTER              {ser:>8.0}");
    let all = ns_per(n, || {
        let m = parse_datagram(black_box(REGISTER), &limits).unwrap();
        let Message::Request(req) = m else {
            unreachable!()
        };
        getters(&req);
        black_box(respond(&req));
    });
    println!("REGISTER end to end (parse+get+resp){all:>8.0}");
}
