//! `loadgen rtpengine`: sets up N calls in rtpengine over its ng protocol
//! (bencoded dictionaries over UDP: offer, answer, delete), then streams
//! G.711 at 50 packets/s each way through it with the same RTP streamer as
//! `loadgen calls`, and measures rtpengine's CPU per relayed packet.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use crate::calls::{Snap, Window, run_id, snap, window};
use crate::rtp::{self, Engine, Side, Stream};
use crate::sdp::{self, PCMA, PCMU, TELEPHONE_EVENT};

/// Drives rtpengine: N calls by ng offer/answer, RTP both ways, CPU per packet.
#[derive(Debug, Args)]
pub(crate) struct RtpengineArgs {
    /// rtpengine's ng control address (UDP).
    #[arg(long, default_value = "127.0.0.1:22222")]
    ng: SocketAddr,
    /// Calls to set up (two RTP streams each).
    #[arg(long, default_value_t = 100)]
    calls: u64,
    /// Steady-state window length in seconds.
    #[arg(long, default_value_t = 10.0)]
    measure_s: f64,
    /// Streaming time before the window starts.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// PID of rtpengine (CPU from /proc/PID/stat).
    #[arg(long)]
    measure_pid: Option<u32>,
    #[arg(long, default_value_t = 8)]
    rtp_sockets: usize,
    #[arg(long, default_value_t = 1)]
    rtp_threads: usize,
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    #[arg(long, default_value = "")]
    label: String,
}

/// A bencode value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// Keys in the order given (encode sorts them as bencode requires).
    Dict(Vec<(Vec<u8>, Value)>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

pub(crate) fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Value::Bytes(b) => {
            out.extend_from_slice(format!("{}:", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
        Value::List(l) => {
            out.push(b'l');
            for x in l {
                encode(x, out);
            }
            out.push(b'e');
        }
        Value::Dict(d) => {
            let mut sorted: Vec<&(Vec<u8>, Value)> = d.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'd');
            for (k, x) in sorted {
                encode(&Value::Bytes(k.clone()), out);
                encode(x, out);
            }
            out.push(b'e');
        }
    }
}

/// Decodes one value from the front of `buf`; returns it and the rest.
/// Nesting is limited to 32 levels.
pub(crate) fn decode(buf: &[u8]) -> Option<(Value, &[u8])> {
    decode_depth(buf, 0)
}

fn decode_depth(buf: &[u8], depth: u32) -> Option<(Value, &[u8])> {
    if depth > 32 {
        return None;
    }
    match *buf.first()? {
        b'i' => {
            let end = buf.iter().position(|&b| b == b'e')?;
            let n = std::str::from_utf8(&buf[1..end]).ok()?.parse().ok()?;
            Some((Value::Int(n), &buf[end + 1..]))
        }
        b'l' => {
            let mut rest = &buf[1..];
            let mut items = Vec::new();
            while *rest.first()? != b'e' {
                let (v, r) = decode_depth(rest, depth + 1)?;
                items.push(v);
                rest = r;
            }
            Some((Value::List(items), &rest[1..]))
        }
        b'd' => {
            let mut rest = &buf[1..];
            let mut items = Vec::new();
            while *rest.first()? != b'e' {
                let (k, r) = decode_depth(rest, depth + 1)?;
                let Value::Bytes(k) = k else { return None };
                let (v, r) = decode_depth(r, depth + 1)?;
                items.push((k, v));
                rest = r;
            }
            Some((Value::Dict(items), &rest[1..]))
        }
        b'0'..=b'9' => {
            let colon = buf.iter().position(|&b| b == b':')?;
            let len: usize = std::str::from_utf8(&buf[..colon]).ok()?.parse().ok()?;
            let body = buf.get(colon + 1..colon + 1 + len)?;
            Some((Value::Bytes(body.to_vec()), &buf[colon + 1 + len..]))
        }
        _ => None,
    }
}

fn dict(items: &[(&str, Value)]) -> Value {
    Value::Dict(
        items
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect(),
    )
}

/// An ng client: one request at a time, retried with the same cookie.
#[derive(Debug)]
struct Ng {
    sock: UdpSocket,
    server: SocketAddr,
    n: u64,
    run: String,
}

impl Ng {
    fn call(&mut self, req: &Value) -> Result<Value> {
        self.n += 1;
        let cookie = format!("{}_{}", self.run, self.n);
        let mut out = cookie.as_bytes().to_vec();
        out.push(b' ');
        encode(req, &mut out);
        let mut buf = vec![0u8; 65536];
        for _ in 0..3 {
            self.sock.send_to(&out, self.server)?;
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline {
                let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some(rest) = buf[..n]
                    .strip_prefix(cookie.as_bytes())
                    .and_then(|r| r.strip_prefix(b" "))
                else {
                    continue; // a late reply to an earlier try
                };
                let (v, _) = decode(rest).context("ng reply is not bencode")?;
                match v.get("result").and_then(Value::as_bytes) {
                    Some(b"ok" | b"pong") => return Ok(v),
                    _ => {
                        let why = v
                            .get("error-reason")
                            .and_then(Value::as_bytes)
                            .unwrap_or(b"?");
                        bail!("ng error: {}", String::from_utf8_lossy(why));
                    }
                }
            }
        }
        bail!("no ng reply from {} after 3 tries", self.server)
    }

    /// offer or answer: returns the address rtpengine wants the other side to send to.
    fn sdp_exchange(
        &mut self,
        command: &str,
        call_id: &str,
        from_tag: &str,
        to_tag: Option<&str>,
        sdp: &str,
    ) -> Result<SocketAddr> {
        let mut items = vec![
            ("command", Value::str(command)),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(from_tag)),
            ("sdp", Value::str(sdp)),
        ];
        if let Some(t) = to_tag {
            items.push(("to-tag", Value::str(t)));
        }
        let reply = self.call(&dict(&items))?;
        let body = reply
            .get("sdp")
            .and_then(Value::as_bytes)
            .context("ng reply without sdp")?;
        Ok(sdp::parse(body).context("ng reply sdp without audio")?.addr)
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    label: String,
    calls: u64,
    set_up: u64,
    setup_s: f64,
    window: Option<Window>,
    #[serde(flatten)]
    counts: rtp::Counts,
    lost_uac_to_uas: i64,
    lost_uas_to_uac: i64,
    loss_pct: f64,
}

pub(crate) fn run(a: &RtpengineArgs) -> Result<()> {
    let sock = UdpSocket::bind(SocketAddr::new(a.bind, 0))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let run = run_id();
    let mut ng = Ng {
        sock,
        server: a.ng,
        n: 0,
        run: run.clone(),
    };
    ng.call(&dict(&[("command", Value::str("ping"))]))
        .context("rtpengine ping")?;
    let pid = a.measure_pid.map(|p| p.to_string());
    let rss_before = pid.as_deref().and_then(crate::procstat::rss_kb);
    let mut engine = Engine::start(a.bind, a.rtp_sockets, a.rtp_threads)?;
    let t0 = Instant::now();
    let mut calls = Vec::new();
    let mut sdp_text = String::new();
    for i in 0..a.calls {
        let call_id = format!("lg-{run}-{i}");
        let (ua, aa) = engine.pick(Side::Uac);
        let (ub, ab) = engine.pick(Side::Uas);
        sdp::write(
            &mut sdp_text,
            i,
            1,
            aa,
            &[PCMA, PCMU],
            Some(TELEPHONE_EVENT),
        );
        let to_b = ng.sdp_exchange("offer", &call_id, &format!("a{i}"), None, &sdp_text)?;
        sdp::write(&mut sdp_text, i, 1, ab, &[PCMA], Some(TELEPHONE_EVENT));
        let to_a = ng.sdp_exchange(
            "answer",
            &call_id,
            &format!("a{i}"),
            Some(&format!("b{i}")),
            &sdp_text,
        )?;
        let (sa, sb) = (
            rtp::ssrc_for(&call_id, Side::Uac),
            rtp::ssrc_for(&call_id, Side::Uas),
        );
        engine.start_stream(Stream {
            key: i * 2,
            side: Side::Uac,
            sock: ua,
            remote: to_a,
            ssrc: sa,
            peer_ssrc: sb,
            payload_type: PCMA,
        });
        engine.start_stream(Stream {
            key: i * 2 + 1,
            side: Side::Uas,
            sock: ub,
            remote: to_b,
            ssrc: sb,
            peer_ssrc: sa,
            payload_type: PCMA,
        });
        calls.push((call_id, ua, ub));
    }
    let setup_s = t0.elapsed().as_secs_f64();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(a.settle_ms));
    let w0: Snap = snap(pid.as_deref(), &engine, start, calls.len() as u64);
    std::thread::sleep(Duration::from_secs_f64(a.measure_s.max(0.0)));
    let w1: Snap = snap(pid.as_deref(), &engine, start, calls.len() as u64);
    for (i, (_, ua, ub)) in calls.iter().enumerate() {
        engine.stop_stream(*ua, i as u64 * 2);
        engine.stop_stream(*ub, i as u64 * 2 + 1);
    }
    let counts = engine.finish()?;
    for (i, (call_id, _, _)) in calls.iter().enumerate() {
        let del = dict(&[
            ("command", Value::str("delete")),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(&format!("a{i}"))),
        ]);
        if let Err(e) = ng.call(&del) {
            eprintln!("delete {call_id}: {e}");
        }
    }
    let loss = crate::calls::rtp_summary(counts);
    let s = Summary {
        label: a.label.clone(),
        calls: a.calls,
        set_up: calls.len() as u64,
        setup_s,
        window: (a.measure_s > 0.0).then(|| window(&w0, &w1, rss_before)),
        counts,
        lost_uac_to_uas: loss.lost_uac_to_uas,
        lost_uas_to_uac: loss.lost_uas_to_uac,
        loss_pct: loss.loss_pct,
    };
    if let Some(w) = &s.window {
        eprintln!(
            "rtpengine: {} calls, {:.0} packets/s relayed, server {:?} us/packet, loadgen {:?} us/packet, loss {:.3} %",
            s.set_up,
            w.rx_per_s,
            w.server_cpu_us_per_packet,
            w.loadgen_cpu_us_per_packet,
            s.loss_pct
        );
    }
    println!("{}", serde_json::to_string(&s)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_dictionary_encodes_with_sorted_keys_and_decodes_back() {
        let v = dict(&[
            ("sdp", Value::str("v=0")),
            ("command", Value::str("offer")),
            ("n", Value::Int(-3)),
        ]);
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(out, b"d7:command5:offer1:ni-3e3:sdp3:v=0e");
        let (back, rest) = decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            back.get("command").and_then(Value::as_bytes),
            Some(&b"offer"[..])
        );
        assert_eq!(back.get("n"), Some(&Value::Int(-3)));
    }

    #[test]
    fn an_rtpengine_reply_yields_its_sdp_and_lists_decode() {
        let (v, _) = decode(b"d3:sdp4:v=0\n6:result2:ok4:listl1:ai7eee").unwrap();
        assert_eq!(v.get("result").and_then(Value::as_bytes), Some(&b"ok"[..]));
        assert_eq!(
            v.get("list"),
            Some(&Value::List(vec![Value::str("a"), Value::Int(7)]))
        );
    }

    #[test]
    fn truncated_or_deeply_nested_bencode_is_rejected() {
        assert_eq!(decode(b"d3:sdp"), None);
        assert_eq!(decode(b"5:abc"), None);
        assert_eq!(decode(b"x"), None);
        let deep = [b'l'; 64];
        assert_eq!(decode(&deep), None);
    }
}
