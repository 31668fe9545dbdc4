//! Prints nanoseconds per operation on the registrar's hot path.
//!
//! `cargo run --release -p sip-auth --example verify_bench`
//!
//! Not a timed test: the figures depend on the machine and its load.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sip_auth::*;

const T0: u64 = 1_700_000_000;

/// On-CPU nanoseconds of this thread (Linux schedstat), so that other
/// processes competing for the cores do not inflate the figures.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A timer reporting on-CPU time where available, wall time otherwise.
struct Timer {
    wall: Instant,
    cpu: Option<u64>,
}

impl Timer {
    fn start() -> Timer {
        Timer {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }

    fn ns(&self) -> f64 {
        match (self.cpu, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => self.wall.elapsed().as_nanos() as f64,
        }
    }
}

fn ns_per(iterations: u32, mut f: impl FnMut(u32)) -> f64 {
    for i in 0..iterations / 10 {
        f(i);
    }
    let t = Timer::start();
    for i in 0..iterations {
        f(i);
    }
    t.ns() / f64::from(iterations)
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let realm = "tenant42.example.com";
    let clock = if cpu_ns().is_some() { "on-CPU" } else { "wall" };
    println!("sip-auth hot path, {iterations} iterations each ({clock} ns/op)");
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let key = NonceKey::from_bytes([1; 32]);
        let nonce = key.issue(realm, source, T0, [0; 8]);
        let challenge = ChallengeParams {
            realm,
            nonce: &nonce,
            opaque: None,
            stale: false,
        }
        .header_value(alg);
        let ch = parse_challenge(&challenge).unwrap();
        let authorization = authorization_value(
            &ch,
            &ClientRequest {
                method: "REGISTER",
                uri: "sip:tenant42.example.com",
                username: "201",
                password: "s3cret-password",
                cnonce: "6b8b4567327b23c6",
                nc: 1,
            },
        );
        let ha1 = Ha1::from_password(alg, "201", realm, "s3cret-password");
        let creds = parse_credentials(&authorization).unwrap();

        let parse = ns_per(iterations, |_| {
            black_box(parse_credentials(black_box(&authorization)).unwrap());
        });
        let verify = ns_per(iterations, |_| {
            verify_response(black_box(&creds), "REGISTER", black_box(&ha1)).unwrap();
        });
        let nonce_check = ns_per(iterations, |_| {
            black_box(key.check(black_box(&nonce), realm, source, T0 + 1, 300));
        });
        let issue = ns_per(iterations, |i| {
            black_box(key.issue(realm, source, T0, u64::from(i).to_be_bytes()));
        });
        let build = ns_per(iterations, |_| {
            black_box(
                ChallengeParams {
                    realm,
                    nonce: &nonce,
                    opaque: None,
                    stale: false,
                }
                .header_value(alg),
            );
        });
        // The full decision on a fresh nonce each time (parse + nonce MAC +
        // digest + replay guard), as a registrar sees it.
        let n = iterations.min(100_000);
        let mut verifier = Verifier::new(key.clone(), VerifierConfig::default());
        let requests: Vec<String> = (0..n)
            .map(|i| {
                let nonce = verifier.issue_nonce(
                    realm,
                    source,
                    T0 + u64::from(i / 1000),
                    u64::from(i).to_be_bytes(),
                );
                let challenge = ChallengeParams {
                    realm,
                    nonce: &nonce,
                    opaque: None,
                    stale: false,
                }
                .header_value(alg);
                authorization_value(
                    &parse_challenge(&challenge).unwrap(),
                    &ClientRequest {
                        method: "REGISTER",
                        uri: "sip:tenant42.example.com",
                        username: "201",
                        password: "s3cret-password",
                        cnonce: "6b8b4567327b23c6",
                        nc: 1,
                    },
                )
            })
            .collect();
        let t = Timer::start();
        for (i, r) in requests.iter().enumerate() {
            let c = parse_credentials(r).unwrap();
            let ctx = RequestContext {
                method: "REGISTER",
                realm,
                source,
                now: T0 + (i as u64) / 1000 + 1,
            };
            assert_eq!(
                verifier.authenticate(&c, &ctx, Some(&ha1)),
                Verdict::Authenticated
            );
        }
        let full = t.ns() / f64::from(n);

        println!(
            "{alg:>7}: verify_response {verify:6.0} | parse_credentials {parse:6.0} | nonce check {nonce_check:6.0} | \
             nonce issue {issue:6.0} | challenge build {build:6.0} | full authenticate (parse+nonce+verify+guard) {full:6.0}"
        );
    }
    let g = ReplayGuard::default();
    println!(
        "replay guard: {} nonces in {} bytes ({} bytes/nonce)",
        g.capacity(),
        g.memory_bytes(),
        g.memory_bytes() / g.capacity()
    );
}
