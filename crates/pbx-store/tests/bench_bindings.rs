//! Write-behind cost of bindings on a file-backed SQLite store, printed, not asserted:
//! `cargo test --release -p pbx-store --test bench_bindings -- --ignored --nocapture`.
//! 1,000 tenants × 100 bindings are loaded (as `bench/register.sh` fills), then 10 flushes
//! of 1,000 new bindings in the order of its SIPp step (tenant by tenant, a burst of phones
//! registering from new addresses) and 10 of 1,000 refreshed ones, each flush one
//! `apply_binding_changes` as the server's writer does once a second.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use pbx_store::{Binding, Store, TenantId};

fn cpu_us() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks * 1e6 / 100.0
}

fn binding(id: i64, t: TenantId, ext: u32, port: u32, expires: i64, now: i64) -> Binding {
    Binding {
        id,
        tenant_id: t,
        aor: ext.to_string(),
        contact_uri: format!("sip:{ext}@127.0.0.1:{port};transport=udp"),
        instance_id: None,
        reg_id: None,
        call_id: format!("{ext}-{port}-0123456789abcdef@127.0.0.1"),
        cseq: 2,
        expires_at_ms: expires,
        received: format!("udp:127.0.0.1:{port}"),
        path: None,
        user_agent: None,
        qualify_status: Some("unknown".into()),
        qualify_rtt_ms: None,
        updated_at_ms: now,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn binding_flush_cost() {
    let dir = std::env::temp_dir().join(format!("vpbx-bench-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/b.db", dir.display());
    let store = Store::open(&url).await.unwrap();
    let mut tenants = Vec::new();
    for i in 0..1000 {
        tenants.push(
            store
                .create_tenant(&format!("t{i}.bench.test"))
                .await
                .unwrap(),
        );
    }
    let now = 1_800_000_000_000i64;
    // Ids as a registrar hands them out: consecutive numbers of the block it took.
    let block = (store.take_binding_id_block(now).await.unwrap() as i64) << 40;
    let mut next_id = block;
    for ext in 0..100u32 {
        let batch: Vec<Binding> = tenants
            .iter()
            .map(|&t| {
                next_id += 1;
                binding(next_id, t, 1000 + ext, 40000, now + 3_600_000, now)
            })
            .collect();
        store.upsert_bindings(&batch).await.unwrap();
    }
    for (label, port) in [("new", 5096u32), ("refresh", 5096u32)] {
        let (c0, t0) = (cpu_us(), Instant::now());
        let mut rows = 0;
        for round in 0..10u32 {
            let batch: Vec<Binding> = (0..1000u32)
                .map(|k| {
                    let i = round * 1000 + k;
                    let t = tenants[(i % 1000) as usize];
                    // "refresh" rewrites the rows "new" made.
                    binding(
                        next_id + 1 + i64::from(i),
                        t,
                        1000 + (i / 1000) % 100,
                        port,
                        now + 3_600_000 + i64::from(round),
                        now + 1,
                    )
                })
                .collect();
            rows += batch.len();
            store.apply_binding_changes(&batch, &[]).await.unwrap();
        }
        let (c1, el) = (cpu_us(), t0.elapsed());
        println!(
            "{label:8} {rows} rows: {:.1} µs CPU per row, {:.0} rows/s",
            (c1 - c0) / rows as f64,
            rows as f64 / el.as_secs_f64()
        );
    }
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
