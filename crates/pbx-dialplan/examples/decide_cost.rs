//! Prints what one outbound decision costs on this machine, for the mix of calls a
//! router sees (regional, international allowed and denied, other, emergency, blocked).
//!
//! Run with `cargo run --release -p pbx-dialplan --example decide_cost`.

use std::hint::black_box;
use std::time::Instant;

use pbx_dialplan::{CallerOutbound, Platform, TenantOutbound, decide};

const PLATFORM: &str = r#"
trunks:
  - {name: newoperator, tenant: office.example, host: 127.0.0.1, username: "74952345678", secret: "sdfsddf^$#$",
     register: true, prefixes: {regional: "8", international: "810", emergency: ""}, strip_regional: 1}
  - {name: carrier, host: sip.carrier.example, sources: ["192.0.2.0/24"], priority: 2}
numbers:
  - {number: "+74952216005", tenant: office.example, trunk: newoperator}
directions:
  - {number: "+74952216005", trunk: newoperator, class: regional}
  - {number: "+74952216005", trunk: carrier, class: regional}
  - {number: "+74952216005", trunk: newoperator, class: international, pattern: "_39."}
  - {number: "+74952216005", trunk: newoperator, class: other, pattern: "_082XXXXX", strip: 3}
"#;

fn main() {
    let platform = Platform::from_yaml_str(PLATFORM).expect("the example platform is valid");
    let tenant = TenantOutbound {
        domain: "office.example",
        country: Some("RU"),
        number: Some("+74952216005"),
    };
    let caller = CallerOutbound::default();
    let calls = [
        "89257410726",
        "+79257410726",
        "81039061234567",
        "+23276123456",
        "08255123",
        "112",
        "88091234567",
        "87012345678",
    ];
    let rounds = 200_000;
    let start = Instant::now();
    for _ in 0..rounds {
        for dialed in calls {
            black_box(decide(&platform, &tenant, &caller, black_box(dialed)));
        }
    }
    let elapsed = start.elapsed();
    let n = rounds * calls.len();
    println!(
        "{n} decisions in {:.2?}: {:.0} ns per decision",
        elapsed,
        elapsed.as_nanos() as f64 / n as f64
    );
    for dialed in calls {
        println!(
            "{dialed:>16} → {}",
            decide(&platform, &tenant, &caller, dialed)
        );
    }
}
