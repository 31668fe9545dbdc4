//! Prints the parse time of a typical REGISTER, and with `--kinds DIR` the
//! parse outcome of every `.dat` file in DIR.
//!
//! `cargo run --release -p sip-msg --example parse_bench`

use std::hint::black_box;
use std::time::Instant;

use sip_msg::{Limits, parse_datagram};

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
    let limits = Limits::default();
    let n = 200_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let m = parse_datagram(black_box(REGISTER), &limits).expect("valid REGISTER");
        let h = m.headers();
        black_box((h.top_via(), h.call_id(), h.cseq(), h.from_tag(), h.to_tag()));
    }
    let per = start.elapsed().as_nanos() / u128::from(n);
    println!("parse + typed getters of a REGISTER: {per} ns");
    let start = Instant::now();
    for _ in 0..n {
        black_box(parse_datagram(black_box(REGISTER), &limits).expect("valid REGISTER"));
    }
    println!(
        "parse only: {} ns",
        start.elapsed().as_nanos() / u128::from(n)
    );
    let m = parse_datagram(REGISTER, &limits).expect("valid REGISTER");
    let start = Instant::now();
    for _ in 0..n {
        black_box(black_box(&m).to_bytes());
    }
    println!(
        "serialize: {} ns",
        start.elapsed().as_nanos() / u128::from(n)
    );
}
