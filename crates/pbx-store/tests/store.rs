//! The store's behaviour, each test run on SQLite and on PostgreSQL (see tests/common).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use pbx_store::{
    Binding, BindingChange, Cdr, CdrTransfer, Disposition, HangupBy, QueueAgentRow, QueueLogEntry,
    Store, StoreError, TenantId, TransferKind, WriteBehind, WriteBehindConfig, WriteBehindError,
};

const NOW: i64 = 1_800_000_000_000;

/// A stable id per (tenant, AOR, contact), as a registrar keeps one per binding: the same
/// binding built twice gets the same id.
fn id_of(tenant: TenantId, aor: &str, contact: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{}\0{aor}\0{contact}", tenant.0).bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 2) as i64
}

fn binding(tenant: TenantId, aor: &str, contact: &str, expires_at_ms: i64) -> Binding {
    Binding {
        id: id_of(tenant, aor, contact),
        tenant_id: tenant,
        aor: aor.to_owned(),
        contact_uri: contact.to_owned(),
        instance_id: None,
        reg_id: None,
        call_id: format!("call-{aor}-{contact}"),
        cseq: 1,
        expires_at_ms,
        received: "udp:192.0.2.10:5060".to_owned(),
        path: None,
        user_agent: Some("baresip".to_owned()),
        qualify_status: None,
        qualify_rtt_ms: None,
        updated_at_ms: NOW,
    }
}

/// The Contact URIs of a tenant's stored bindings, as `list_bindings` orders them.
async fn contacts_of(store: &Store, tenant: TenantId) -> Vec<String> {
    store
        .list_bindings(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.contact_uri)
        .collect()
}

fn cdr(tenant: TenantId, call_id: &str, start_ms: i64) -> Cdr {
    let (duration_s, billsec_s) = Cdr::seconds(start_ms, Some(start_ms + 2_000), start_ms + 12_500);
    Cdr {
        id: 0,
        tenant_id: tenant,
        call_id: call_id.to_owned(),
        leg_call_ids: vec![format!("{call_id}-leg1"), format!("{call_id}-leg2")],
        caller: "1001".to_owned(),
        caller_name: Some("Sales 1".to_owned()),
        dialed: "1002".to_owned(),
        destination: Some("user:1002".to_owned()),
        start_ms,
        answer_ms: Some(start_ms + 2_000),
        end_ms: start_ms + 12_500,
        duration_s,
        billsec_s,
        disposition: Disposition::Answered,
        hangup_by: HangupBy::Caller,
        sip_cause: None,
        hangup_reason: "normal".to_owned(),
        transfers: Vec::new(),
        node: "node-a".to_owned(),
        recording: Some("recordings/2026/11/27/101500-abc.wav".to_owned()),
        trunk: Some("newoperator".to_owned()),
    }
}

// ---------------------------------------------------------------- tenants

async fn creating_a_tenant_twice_fails_with_tenant_exists(store: Store) {
    let id = store.create_tenant("Example.COM").await.unwrap();
    let err = store.create_tenant("example.com").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::TenantExists(d) if d == "example.com"),
        "{err}"
    );
    let list = store.list_tenants().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].domain, "example.com");
    assert_eq!(list[0].version, 0);
    assert!(list[0].created_at_ms > 0);
}

async fn a_new_tenant_has_no_config_and_an_unknown_one_is_none(store: Store) {
    store.create_tenant("a.example").await.unwrap();
    let t = store.get_tenant("a.example").await.unwrap().unwrap();
    assert_eq!(t.config, None);
    assert_eq!(t.row.version, 0);
    assert_eq!(store.get_tenant("b.example").await.unwrap(), None);
}

async fn putting_a_config_bumps_the_version_and_the_generation(store: Store) {
    let g0 = store.config_generation().await.unwrap();
    store.create_tenant("a.example").await.unwrap();
    let g1 = store.config_generation().await.unwrap();
    assert!(g1 > g0);
    let v1 = store
        .put_tenant_config("a.example", "domain: a.example\n", Some(0))
        .await
        .unwrap();
    assert_eq!(v1, 1);
    let v2 = store
        .put_tenant_config("a.example", "domain: a.example\nusers: []\n", None)
        .await
        .unwrap();
    assert_eq!(v2, 2);
    let g2 = store.config_generation().await.unwrap();
    assert_eq!(g2, g1 + 2);
    let t = store.get_tenant("a.example").await.unwrap().unwrap();
    assert_eq!(t.row.version, 2);
    assert_eq!(t.config.as_deref(), Some("domain: a.example\nusers: []\n"));
}

async fn a_stale_expected_version_is_a_conflict_and_changes_nothing(store: Store) {
    store.create_tenant("a.example").await.unwrap();
    store
        .put_tenant_config("a.example", "one", Some(0))
        .await
        .unwrap();
    let generation = store.config_generation().await.unwrap();
    let err = store
        .put_tenant_config("a.example", "two", Some(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::VersionConflict { domain, expected: 0, actual: 1 } if domain == "a.example"),
        "{err}"
    );
    let t = store.get_tenant("a.example").await.unwrap().unwrap();
    assert_eq!(t.config.as_deref(), Some("one"));
    assert_eq!(t.row.version, 1);
    assert_eq!(store.config_generation().await.unwrap(), generation);
}

async fn putting_config_for_an_unknown_tenant_fails_with_not_found(store: Store) {
    let err = store
        .put_tenant_config("nobody.example", "x", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::TenantNotFound(d) if d == "nobody.example"),
        "{err}"
    );
    let err = store.delete_tenant("nobody.example").await.unwrap_err();
    assert!(matches!(err, StoreError::TenantNotFound(_)), "{err}");
}

async fn concurrent_puts_on_the_same_version_let_exactly_one_win(store: Store) {
    store.create_tenant("a.example").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_tenant_config("a.example", &format!("writer {i}"), Some(0))
                .await
        }));
    }
    let mut wins = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(1) => wins += 1,
            Err(StoreError::VersionConflict { actual: 1, .. }) => conflicts += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 7));
}

async fn deleting_a_tenant_removes_its_rows_and_nothing_else(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    let b = store.create_tenant("b.example").await.unwrap();
    store
        .put_tenant_config("a.example", "a", None)
        .await
        .unwrap();
    store
        .put_tenant_config("b.example", "b", None)
        .await
        .unwrap();
    store
        .upsert_bindings(&[
            binding(a, "100", "sip:100@192.0.2.1", NOW + 60_000),
            binding(b, "100", "sip:100@192.0.2.2", NOW + 60_000),
        ])
        .await
        .unwrap();
    store
        .put_ban("198.51.100.9", NOW + 1_000, "test")
        .await
        .unwrap();
    store.insert_cdr(&cdr(a, "ca", NOW)).await.unwrap();
    store.insert_cdr(&cdr(b, "cb", NOW)).await.unwrap();
    let generation = store.config_generation().await.unwrap();

    store.delete_tenant("A.example").await.unwrap();
    assert!(store.list_cdr(a, 10, None).await.unwrap().is_empty());
    assert_eq!(store.list_cdr(b, 10, None).await.unwrap().len(), 1);

    assert!(store.config_generation().await.unwrap() > generation);
    assert_eq!(store.get_tenant("a.example").await.unwrap(), None);
    assert!(store.list_bindings(a).await.unwrap().is_empty());
    assert_eq!(store.list_bindings(b).await.unwrap().len(), 1);
    assert_eq!(
        store
            .get_tenant("b.example")
            .await
            .unwrap()
            .unwrap()
            .config
            .as_deref(),
        Some("b")
    );
    assert_eq!(store.list_bans(NOW).await.unwrap().len(), 1);
    let domains: Vec<_> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.domain)
        .collect();
    assert_eq!(domains, ["b.example"]);
}

async fn changes_since_a_generation_name_only_what_changed(store: Store) {
    store.create_tenant("a.example").await.unwrap();
    store.create_tenant("b.example").await.unwrap();
    store.create_tenant("c.example").await.unwrap();
    let all = store.tenant_changes_since(0).await.unwrap();
    assert_eq!(all.changed.len(), 3);
    assert!(all.deleted.is_empty());
    let since = all.generation;

    let none = store.tenant_changes_since(since).await.unwrap();
    assert_eq!(none.generation, since);
    assert!(none.changed.is_empty() && none.deleted.is_empty());

    store
        .put_tenant_config("b.example", "new b", None)
        .await
        .unwrap();
    store.delete_tenant("c.example").await.unwrap();
    let changes = store.tenant_changes_since(since).await.unwrap();
    assert_eq!(changes.generation, since + 2);
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].row.domain, "b.example");
    assert_eq!(changes.changed[0].config.as_deref(), Some("new b"));
    assert_eq!(changes.deleted, ["c.example"]);
    assert_eq!(store.load_all_tenants().await.unwrap().len(), 2);
}

async fn a_recreated_domain_gets_a_new_id_and_is_no_longer_reported_deleted(store: Store) {
    let old = store.create_tenant("a.example").await.unwrap();
    let since = store.config_generation().await.unwrap();
    store.delete_tenant("a.example").await.unwrap();
    assert_eq!(
        store.tenant_changes_since(since).await.unwrap().deleted,
        ["a.example"]
    );
    let new = store.create_tenant("a.example").await.unwrap();
    assert_ne!(old, new, "ids are not reused");
    let changes = store.tenant_changes_since(since).await.unwrap();
    assert!(changes.deleted.is_empty());
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].row.id, new);
}

async fn audit_lines_come_newest_first_and_outlive_the_tenant(store: Store) {
    store.create_tenant("a.example").await.unwrap();
    store
        .append_audit("a.example", "cli:root", "created")
        .await
        .unwrap();
    store
        .append_audit("a.example", "cli:root", "applied v1")
        .await
        .unwrap();
    store
        .append_audit("b.example", "api", "other tenant")
        .await
        .unwrap();
    store.delete_tenant("a.example").await.unwrap();
    store
        .append_audit("a.example", "cli:root", "deleted")
        .await
        .unwrap();
    let lines = store.list_audit("a.example", 10).await.unwrap();
    let summaries: Vec<_> = lines.iter().map(|l| l.summary.as_str()).collect();
    assert_eq!(summaries, ["deleted", "applied v1", "created"]);
    assert_eq!(lines[0].actor, "cli:root");
    assert_eq!(store.list_audit("a.example", 1).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- bindings

async fn load_returns_only_unexpired_bindings(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let live = binding(t, "100", "sip:100@192.0.2.1", NOW + 1);
    let dead = binding(t, "101", "sip:101@192.0.2.1", NOW);
    store
        .upsert_bindings(&[live.clone(), dead.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.load_bindings(NOW).await.unwrap(),
        std::slice::from_ref(&live)
    );
    assert_eq!(store.list_bindings(t).await.unwrap(), [live, dead]);
}

async fn every_field_round_trips(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let b = Binding {
        id: i64::MAX,
        tenant_id: t,
        aor: "100".into(),
        contact_uri: "<sip:100@192.0.2.1:5062;transport=tcp;ob>;q=0.5".into(),
        instance_id: Some("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>".into()),
        reg_id: Some(u32::MAX),
        call_id: "abc@host".into(),
        cseq: u32::MAX,
        expires_at_ms: i64::MAX,
        received: "tcp:[2001:db8::1]:40000".into(),
        path: Some("<sip:edge.example;lr>".into()),
        user_agent: Some("Ünïcode UA".into()),
        qualify_status: Some("reachable".into()),
        qualify_rtt_ms: Some(u32::MAX),
        updated_at_ms: NOW,
    };
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    assert_eq!(store.load_bindings(NOW).await.unwrap(), [b]);
}

async fn an_upsert_replaces_the_binding_with_the_same_id_unless_older(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let mut b = binding(t, "100", "sip:100@192.0.2.1", NOW + 60_000);
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    b.cseq = 2;
    b.expires_at_ms = NOW + 120_000;
    b.updated_at_ms = NOW + 10;
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    assert_eq!(store.list_bindings(t).await.unwrap(), [b.clone()]);

    let mut stale = b.clone();
    stale.cseq = 1;
    stale.updated_at_ms = NOW;
    store.upsert_bindings(&[stale]).await.unwrap();
    assert_eq!(store.list_bindings(t).await.unwrap(), [b]);
}

async fn duplicate_ids_in_one_batch_keep_the_last(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let first = binding(t, "100", "sip:100@192.0.2.1", NOW + 60_000);
    let mut last = first.clone();
    last.cseq = 9;
    store.upsert_bindings(&[first, last.clone()]).await.unwrap();
    assert_eq!(store.list_bindings(t).await.unwrap(), [last]);
}

async fn a_binding_keeps_its_row_when_its_contact_changes(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let mut b = binding(t, "100", "sip:100@192.0.2.1:5060", NOW + 60_000);
    b.instance_id = Some("<urn:uuid:1>".into());
    b.reg_id = Some(1);
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    b.contact_uri = "sip:100@192.0.2.1:6000".into();
    b.updated_at_ms += 1;
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    assert_eq!(store.list_bindings(t).await.unwrap(), [b]);
}

async fn binding_id_blocks_are_never_handed_out_twice(store: Store) {
    // Block 1 holds the rows that existed before bindings had ids.
    let first = store.take_binding_id_block(NOW).await.unwrap();
    assert!(first >= 2);
    let mut blocks = vec![first];
    for _ in 0..5 {
        blocks.push(store.take_binding_id_block(NOW).await.unwrap());
    }
    assert!(
        blocks.windows(2).all(|w| w[0] < w[1]),
        "blocks are distinct and increasing: {blocks:?}"
    );
}

async fn delete_removes_only_the_named_bindings(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let a = binding(t, "100", "sip:100@192.0.2.1", NOW + 60_000);
    let b = binding(t, "100", "sip:100@192.0.2.2", NOW + 60_000);
    store
        .upsert_bindings(&[a.clone(), b.clone()])
        .await
        .unwrap();
    let missing = a.id ^ 1;
    let deleted = store.delete_bindings(&[a.id, missing]).await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(store.list_bindings(t).await.unwrap(), [b]);
}

async fn bindings_of_a_deleted_tenant_are_skipped_without_failing_the_batch(store: Store) {
    let gone = store.create_tenant("gone.example").await.unwrap();
    let kept = store.create_tenant("kept.example").await.unwrap();
    store.delete_tenant("gone.example").await.unwrap();
    let written = store
        .upsert_bindings(&[
            binding(gone, "100", "sip:100@192.0.2.1", NOW + 60_000),
            binding(kept, "100", "sip:100@192.0.2.2", NOW + 60_000),
        ])
        .await
        .unwrap();
    assert_eq!(written, 1);
    assert_eq!(store.load_bindings(NOW).await.unwrap().len(), 1);
    assert!(store.list_bindings(gone).await.unwrap().is_empty());
}

async fn purge_removes_expired_bindings_and_ended_bans(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    store
        .upsert_bindings(&[
            binding(t, "100", "sip:a", NOW - 1),
            binding(t, "100", "sip:b", NOW),
            binding(t, "100", "sip:c", NOW + 1),
        ])
        .await
        .unwrap();
    store.put_ban("192.0.2.1", NOW, "ended").await.unwrap();
    store.put_ban("192.0.2.2", NOW + 1, "active").await.unwrap();
    assert_eq!(store.purge_expired(NOW).await.unwrap(), (2, 1));
    assert_eq!(contacts_of(&store, t).await, ["sip:c"]);
    assert_eq!(store.list_bans(0).await.unwrap().len(), 1);
}

async fn ten_thousand_bindings_go_in_one_batch(store: Store) {
    let mut tenants = Vec::new();
    for i in 0..10 {
        tenants.push(store.create_tenant(&format!("t{i}.example")).await.unwrap());
    }
    let batch: Vec<Binding> = (0..10_000)
        .map(|i| {
            let t = tenants[i % tenants.len()];
            binding(
                t,
                &format!("{}", 1000 + i / 10),
                &format!("sip:u{i}@192.0.2.1:{}", 5060 + i % 1000),
                NOW + 3_600_000,
            )
        })
        .collect();

    let started = Instant::now();
    let written = store.upsert_bindings(&batch).await.unwrap();
    let insert = started.elapsed();
    assert_eq!(written, 10_000);

    let mut refreshed = batch.clone();
    for b in &mut refreshed {
        b.cseq += 1;
        b.updated_at_ms += 1_000;
    }
    let started = Instant::now();
    store.upsert_bindings(&refreshed).await.unwrap();
    let update = started.elapsed();

    let loaded = store.load_bindings(NOW).await.unwrap();
    assert_eq!(loaded.len(), 10_000);
    assert!(loaded.iter().all(|b| b.cseq == 2));

    let ids: Vec<i64> = batch.iter().map(|b| b.id).collect();
    let started = Instant::now();
    assert_eq!(store.delete_bindings(&ids).await.unwrap(), 10_000);
    let delete = started.elapsed();
    assert!(store.load_bindings(NOW).await.unwrap().is_empty());

    let rate = |d: Duration| (10_000.0 / d.as_secs_f64()) as u64;
    eprintln!(
        "THROUGHPUT {:?}: 10k bindings insert {:?} ({} rows/s), update {:?} ({} rows/s), delete {:?} ({} rows/s)",
        store.backend(),
        insert,
        rate(insert),
        update,
        rate(update),
        delete,
        rate(delete)
    );
}

// ---------------------------------------------------------------- bans

async fn bans_are_listed_until_they_end_and_every_change_bumps_the_generation(store: Store) {
    let g0 = store.bans_generation().await.unwrap();
    store
        .put_ban(
            "192.0.2.7",
            NOW + 900_000,
            "10 failed authentications in 60 s",
        )
        .await
        .unwrap();
    store
        .put_ban("2001:db8::1", NOW + 10, "scanner user agent")
        .await
        .unwrap();
    let g1 = store.bans_generation().await.unwrap();
    assert_eq!(g1, g0 + 2);

    let bans = store.list_bans(NOW).await.unwrap();
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[0].ip, "192.0.2.7");
    assert_eq!(bans[0].reason, "10 failed authentications in 60 s");
    assert_eq!(store.list_bans(NOW + 10).await.unwrap().len(), 1);

    store
        .put_ban("192.0.2.7", NOW + 5, "renewed")
        .await
        .unwrap();
    let bans = store.list_bans(NOW).await.unwrap();
    assert_eq!(
        (bans[0].until_ms, bans[0].reason.as_str()),
        (NOW + 5, "renewed")
    );

    assert!(store.remove_ban("192.0.2.7").await.unwrap());
    let g2 = store.bans_generation().await.unwrap();
    assert_eq!(g2, g1 + 2);
    assert!(!store.remove_ban("192.0.2.7").await.unwrap());
    assert_eq!(store.bans_generation().await.unwrap(), g2);
    assert_eq!(store.list_bans(NOW).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- write-behind

fn never_on_its_own() -> WriteBehindConfig {
    WriteBehindConfig {
        flush_interval: Duration::from_secs(3600),
        flush_threshold: usize::MAX,
        channel_capacity: 100_000,
    }
}

async fn write_behind_coalesces_changes_to_one_binding(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let wb = WriteBehind::spawn(store.clone(), never_on_its_own());
    let a1 = binding(t, "100", "sip:a", NOW + 60_000);
    let mut a2 = a1.clone();
    a2.cseq = 2;
    let b = binding(t, "101", "sip:b", NOW + 60_000);
    let c = binding(t, "102", "sip:c", NOW + 60_000);
    wb.submit(BindingChange::Upsert(a1)).unwrap();
    wb.submit(BindingChange::Upsert(a2.clone())).unwrap();
    wb.submit(BindingChange::Upsert(b.clone())).unwrap();
    wb.submit(BindingChange::Delete(b.id)).unwrap();
    wb.submit(BindingChange::Delete(c.id)).unwrap();
    wb.submit(BindingChange::Upsert(c.clone())).unwrap();

    let report = wb.flush_now().await.unwrap();
    assert_eq!((report.upserts, report.deletes), (2, 1));
    assert_eq!(store.list_bindings(t).await.unwrap(), [a2, c]);
    let stats = wb.stats();
    assert_eq!((stats.accepted, stats.written, stats.pending), (6, 3, 0));
    wb.shutdown().await.unwrap();
}

async fn bindings_are_restored_page_by_page_each_once_in_id_order(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    let b = store.create_tenant("b.example").await.unwrap();
    // More than two pages, over two tenants, with expired rows between valid ones.
    let n = pbx_store::RESTORE_PAGE * 2 + 301;
    let mut batch = Vec::new();
    for i in 0..n {
        let t = if i % 2 == 0 { a } else { b };
        let expires = if i % 7 == 0 { NOW - 1 } else { NOW + 60_000 };
        batch.push(binding(
            t,
            &format!("{:05}", i / 3),
            &format!("sip:c{i}"),
            expires,
        ));
    }
    store.upsert_bindings(&batch).await.unwrap();
    let mut seen = Vec::new();
    let count = store.each_binding(NOW, |b| seen.push(b.id)).await.unwrap();
    let mut want: Vec<_> = batch
        .iter()
        .filter(|b| b.expires_at_ms > NOW)
        .map(|b| b.id)
        .collect();
    want.sort();
    assert_eq!(count, want.len());
    assert_eq!(seen, want);
}

async fn write_behind_shutdown_writes_everything_submitted(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let wb = WriteBehind::spawn(store.clone(), never_on_its_own());
    for i in 0..3_000 {
        wb.submit(BindingChange::Upsert(binding(
            t,
            &format!("{i}"),
            "sip:x",
            NOW + 60_000,
        )))
        .unwrap();
    }
    for i in 0..1_000 {
        wb.submit(BindingChange::Delete(
            binding(t, &format!("{i}"), "sip:x", 0).id,
        ))
        .unwrap();
    }
    let report = wb.shutdown().await.unwrap();
    assert_eq!((report.upserts, report.deletes), (2_000, 1_000));
    assert_eq!(store.load_bindings(NOW).await.unwrap().len(), 2_000);

    let late = binding(t, "late", "sip:late", NOW + 60_000);
    let err = wb.submit(BindingChange::Upsert(late.clone())).unwrap_err();
    assert!(matches!(err, WriteBehindError::Closed(Some(c)) if *c == BindingChange::Upsert(late)));
    assert!(matches!(
        wb.flush_now().await,
        Err(WriteBehindError::Closed(None))
    ));
}

async fn write_behind_refuses_changes_when_its_channel_is_full(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let wb = WriteBehind::spawn(
        store.clone(),
        WriteBehindConfig {
            channel_capacity: 4,
            ..never_on_its_own()
        },
    );
    // No await between the submits: on this current-thread runtime the flusher cannot run,
    // so the channel fills up.
    for i in 0..4 {
        wb.submit(BindingChange::Upsert(binding(
            t,
            &format!("{i}"),
            "sip:x",
            NOW + 60_000,
        )))
        .unwrap();
    }
    let overflow = binding(t, "overflow", "sip:x", NOW + 60_000);
    let err = wb
        .submit(BindingChange::Upsert(overflow.clone()))
        .unwrap_err();
    assert!(matches!(err, WriteBehindError::Full(c) if *c == BindingChange::Upsert(overflow)));
    assert_eq!(wb.stats().rejected_full, 1);
    assert_eq!(wb.stats().queued, 4);

    let report = wb.flush_now().await.unwrap();
    assert_eq!(report.upserts, 4);
    assert_eq!(store.list_bindings(t).await.unwrap().len(), 4);
    wb.shutdown().await.unwrap();
}

/// Waits (yielding, bounded by `deadline`) until `written` reaches `want`.
async fn wait_written(wb: &WriteBehind, want: u64, deadline: Duration) -> u64 {
    let until = Instant::now() + deadline;
    loop {
        let written = wb.stats().written;
        if written >= want || Instant::now() > until {
            return written;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn write_behind_flushes_by_itself_on_the_interval_and_at_the_threshold(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let by_interval = WriteBehind::spawn(
        store.clone(),
        WriteBehindConfig {
            flush_interval: Duration::from_millis(100),
            ..never_on_its_own()
        },
    );
    by_interval
        .submit(BindingChange::Upsert(binding(
            t,
            "1",
            "sip:x",
            NOW + 60_000,
        )))
        .unwrap();
    assert_eq!(
        wait_written(&by_interval, 1, Duration::from_secs(10)).await,
        1
    );
    by_interval.shutdown().await.unwrap();

    let by_count = WriteBehind::spawn(
        store.clone(),
        WriteBehindConfig {
            flush_threshold: 10,
            ..never_on_its_own()
        },
    );
    for i in 0..10 {
        by_count
            .submit(BindingChange::Upsert(binding(
                t,
                &format!("c{i}"),
                "sip:x",
                NOW + 60_000,
            )))
            .unwrap();
    }
    assert_eq!(
        wait_written(&by_count, 10, Duration::from_secs(10)).await,
        10
    );
    assert_eq!(store.list_bindings(t).await.unwrap().len(), 11);
    by_count.shutdown().await.unwrap();
}

async fn a_failed_flush_is_reported_and_keeps_the_changes(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let wb = WriteBehind::spawn(store.clone(), never_on_its_own());
    wb.submit(BindingChange::Upsert(binding(
        t,
        "1",
        "sip:x",
        NOW + 60_000,
    )))
    .unwrap();
    store.close().await;
    let err = wb.flush_now().await.unwrap_err();
    assert!(
        matches!(err, WriteBehindError::Flush { pending: 1, .. }),
        "{err}"
    );
    let stats = wb.stats();
    assert_eq!(
        (stats.flush_failures, stats.pending, stats.written),
        (1, 1, 0)
    );
}

// ---------------------------------------------------------------- call records

async fn a_call_record_round_trips_with_every_field(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let mut full = cdr(t, "full@host", NOW);
    full.caller = "+390612345678".into();
    full.caller_name = Some("Ünïcode \"quoted\" name".into());
    full.transfers = vec![
        CdrTransfer {
            kind: TransferKind::Blind,
            by: "1002".into(),
            to: "user:1003".into(),
            at_ms: NOW + 5_000,
        },
        CdrTransfer {
            kind: TransferKind::Attended,
            by: "1003".into(),
            to: "user:1004".into(),
            at_ms: NOW + 9_000,
        },
    ];
    full.sip_cause = Some(u16::MAX);
    let id = store.insert_cdr(&full).await.unwrap();
    assert!(id > 0);
    full.id = id;
    let mut bare = cdr(t, "bare@host", NOW + 1);
    bare.leg_call_ids.clear();
    bare.caller_name = None;
    bare.destination = None;
    bare.answer_ms = None;
    (bare.duration_s, bare.billsec_s) = Cdr::seconds(bare.start_ms, None, bare.end_ms);
    bare.disposition = Disposition::NoAnswer;
    bare.hangup_by = HangupBy::System;
    bare.sip_cause = Some(480);
    bare.hangup_reason = "ring_timeout".into();
    bare.recording = None;
    bare.trunk = None;
    bare.id = store.insert_cdr(&bare).await.unwrap();
    assert!(bare.id > id);
    assert_eq!(
        store.list_cdr(t, 10, None).await.unwrap(),
        [bare.clone(), full.clone()]
    );
    // One record by id, only for its own tenant.
    assert_eq!(store.get_cdr(t, id).await.unwrap(), Some(full));
    let other = store.create_tenant("b.example").await.unwrap();
    assert_eq!(store.get_cdr(other, id).await.unwrap(), None);
    assert_eq!(store.get_cdr(t, bare.id + 100).await.unwrap(), None);
}

async fn every_disposition_and_hangup_side_is_stored_as_its_text(store: Store) {
    let t = store.create_tenant("a.example").await.unwrap();
    let sides = [HangupBy::Caller, HangupBy::Callee, HangupBy::System];
    let mut want = Vec::new();
    for (i, d) in Disposition::ALL.into_iter().enumerate() {
        let mut c = cdr(t, &format!("c{i}"), NOW + i as i64);
        c.disposition = d;
        c.hangup_by = sides[i % 3];
        want.push(c);
    }
    let ids = store.insert_cdrs(&want).await.unwrap();
    assert_eq!(ids.len(), 5);
    for (c, id) in want.iter_mut().zip(&ids) {
        c.id = *id;
    }
    want.reverse();
    assert_eq!(store.list_cdr(t, 10, None).await.unwrap(), want);
}

async fn call_records_are_listed_newest_first_in_pages_per_tenant(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    let b = store.create_tenant("b.example").await.unwrap();
    let mut batch = Vec::new();
    for i in 0..25 {
        batch.push(cdr(a, &format!("a{i}"), NOW + i));
        if i % 5 == 0 {
            batch.push(cdr(b, &format!("b{i}"), NOW + i));
        }
    }
    let ids = store.insert_cdrs(&batch).await.unwrap();
    assert_eq!(ids.len(), 30);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow in input order"
    );

    let page1 = store.list_cdr(a, 10, None).await.unwrap();
    let calls: Vec<_> = page1.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(
        calls,
        [
            "a24", "a23", "a22", "a21", "a20", "a19", "a18", "a17", "a16", "a15"
        ]
    );
    let page2 = store
        .list_cdr(a, 10, Some(page1.last().unwrap().id))
        .await
        .unwrap();
    assert_eq!(page2.first().unwrap().call_id, "a14");
    let page3 = store
        .list_cdr(a, 10, Some(page2.last().unwrap().id))
        .await
        .unwrap();
    assert_eq!(page3.len(), 5);
    assert_eq!(page3.last().unwrap().call_id, "a0");
    let only_b = store.list_cdr(b, 100, None).await.unwrap();
    assert_eq!(only_b.len(), 5);
    assert!(only_b.iter().all(|c| c.tenant_id == b));
    assert!(store.list_cdr(a, 0, None).await.unwrap().is_empty());
}

async fn a_call_record_of_a_deleted_tenant_is_refused_alone_and_skipped_in_a_batch(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    let gone = store.create_tenant("gone.example").await.unwrap();
    store.delete_tenant("gone.example").await.unwrap();
    let err = store.insert_cdr(&cdr(gone, "x", NOW)).await.unwrap_err();
    assert!(matches!(err, StoreError::TenantNotFound(_)), "{err}");
    let ids = store
        .insert_cdrs(&[cdr(a, "a1", NOW), cdr(gone, "x", NOW), cdr(a, "a2", NOW)])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(store.list_cdr(a, 10, None).await.unwrap().len(), 2);
    assert!(store.insert_cdrs(&[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------- platform

async fn the_platform_document_is_versioned_and_a_stale_apply_changes_nothing(store: Store) {
    assert_eq!(store.get_platform().await.unwrap(), None);
    assert_eq!(store.platform_version().await.unwrap(), 0);
    assert_eq!(store.put_platform("trunks: []", 0).await.unwrap(), 1);
    assert_eq!(store.put_platform("trunks: [a]", 1).await.unwrap(), 2);
    let err = store.put_platform("trunks: [b]", 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = store.put_platform("trunks: [c]", 0).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 0,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    let doc = store.get_platform().await.unwrap().unwrap();
    assert_eq!((doc.version, doc.config.as_str()), (2, "trunks: [a]"));
    assert_eq!(store.platform_version().await.unwrap(), 2);
}

async fn concurrent_platform_applies_on_one_version_let_exactly_one_win(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.put_platform(&format!("writer {i}"), 0).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(1) => wins += 1,
            Err(StoreError::VersionConflict { actual: 1, .. }) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

// ---------------------------------------------------------------- queues

fn qev(
    tenant: TenantId,
    ts_ms: i64,
    queue: &str,
    event: &str,
    wait_s: Option<u32>,
) -> QueueLogEntry {
    QueueLogEntry {
        tenant_id: tenant,
        ts_ms,
        queue: queue.to_owned(),
        call_id: format!("call-{ts_ms}"),
        event: event.to_owned(),
        agent: Some("1101".to_owned()),
        caller: None,
        position: Some(2),
        entry_position: None,
        wait_s,
        talk_s: None,
    }
}

async fn the_queue_log_is_kept_per_tenant_and_queue_in_time_order(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    let b = store.create_tenant("b.example").await.unwrap();
    let gone = store.create_tenant("gone.example").await.unwrap();
    store.delete_tenant("gone.example").await.unwrap();
    let log = [
        qev(a, NOW + 2, "1500", "CONNECT", Some(12)),
        qev(a, NOW + 1, "1500", "ENTER", None),
        qev(a, NOW + 3, "1600", "ENTER", None),
        qev(b, NOW + 1, "1500", "ENTER", None),
        qev(gone, NOW, "1500", "ENTER", None),
    ];
    store.insert_queue_log(&log).await.unwrap();
    let got = store
        .list_queue_log(a, Some("1500"), NOW, 100)
        .await
        .unwrap();
    assert_eq!(got, [log[1].clone(), log[0].clone()]);
    assert_eq!(
        store.list_queue_log(a, None, NOW, 100).await.unwrap().len(),
        3
    );
    assert_eq!(
        store
            .list_queue_log(a, None, NOW + 2, 100)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.list_queue_log(b, None, NOW, 100).await.unwrap().len(),
        1
    );
    assert!(
        store
            .list_queue_log(gone, None, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn queue_agent_logins_are_stored_changed_and_removed(store: Store) {
    let a = store.create_tenant("a.example").await.unwrap();
    store
        .set_queue_agent(a, "1500", "1103", true, false, NOW)
        .await
        .unwrap();
    store
        .set_queue_agent(a, "1600", "1103", true, false, NOW)
        .await
        .unwrap();
    store
        .set_queue_agent(a, "1500", "1103", true, true, NOW + 1)
        .await
        .unwrap();
    store
        .set_queue_agent(a, "1600", "1103", false, false, NOW + 2)
        .await
        .unwrap();
    let rows = store.load_queue_agents().await.unwrap();
    assert_eq!(
        rows,
        [QueueAgentRow {
            tenant_id: a,
            queue: "1500".into(),
            agent: "1103".into(),
            paused: true
        }]
    );
    store.delete_tenant("a.example").await.unwrap();
    assert!(store.load_queue_agents().await.unwrap().is_empty());
}

on_both_backends!(
    the_queue_log_is_kept_per_tenant_and_queue_in_time_order,
    queue_agent_logins_are_stored_changed_and_removed,
    the_platform_document_is_versioned_and_a_stale_apply_changes_nothing,
    concurrent_platform_applies_on_one_version_let_exactly_one_win,
    a_call_record_round_trips_with_every_field,
    every_disposition_and_hangup_side_is_stored_as_its_text,
    call_records_are_listed_newest_first_in_pages_per_tenant,
    a_call_record_of_a_deleted_tenant_is_refused_alone_and_skipped_in_a_batch,
    creating_a_tenant_twice_fails_with_tenant_exists,
    a_new_tenant_has_no_config_and_an_unknown_one_is_none,
    putting_a_config_bumps_the_version_and_the_generation,
    a_stale_expected_version_is_a_conflict_and_changes_nothing,
    putting_config_for_an_unknown_tenant_fails_with_not_found,
    concurrent_puts_on_the_same_version_let_exactly_one_win,
    deleting_a_tenant_removes_its_rows_and_nothing_else,
    changes_since_a_generation_name_only_what_changed,
    a_recreated_domain_gets_a_new_id_and_is_no_longer_reported_deleted,
    audit_lines_come_newest_first_and_outlive_the_tenant,
    load_returns_only_unexpired_bindings,
    every_field_round_trips,
    an_upsert_replaces_the_binding_with_the_same_id_unless_older,
    duplicate_ids_in_one_batch_keep_the_last,
    a_binding_keeps_its_row_when_its_contact_changes,
    binding_id_blocks_are_never_handed_out_twice,
    delete_removes_only_the_named_bindings,
    bindings_of_a_deleted_tenant_are_skipped_without_failing_the_batch,
    purge_removes_expired_bindings_and_ended_bans,
    ten_thousand_bindings_go_in_one_batch,
    bans_are_listed_until_they_end_and_every_change_bumps_the_generation,
    write_behind_coalesces_changes_to_one_binding,
    write_behind_shutdown_writes_everything_submitted,
    bindings_are_restored_page_by_page_each_once_in_id_order,
    write_behind_refuses_changes_when_its_channel_is_full,
    write_behind_flushes_by_itself_on_the_interval_and_at_the_threshold,
    a_failed_flush_is_reported_and_keeps_the_changes,
);

// ---------------------------------------------------------------- SQLite file handling

#[tokio::test]
async fn sqlite_creates_the_directory_and_a_private_file_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new();
    let path = dir.0.join("nested/data/vpbx.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.create_tenant("a.example").await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        dir.0.join("nested/data/vpbx.db-wal").exists(),
        "WAL journal file missing"
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_tightens_an_existing_world_readable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new();
    let path = dir.0.join("vpbx.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    store.close().await;
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_sqlite_file() {
    let dir = common::TempDir::new();
    let url = format!("sqlite://{}/vpbx.db", dir.0.display());
    let store = Store::open(&url).await.unwrap();
    let t = store.create_tenant("a.example").await.unwrap();
    store
        .put_tenant_config("a.example", "cfg", None)
        .await
        .unwrap();
    let b = binding(t, "100", "sip:100@192.0.2.1", NOW + 60_000);
    store
        .upsert_bindings(std::slice::from_ref(&b))
        .await
        .unwrap();
    store.put_ban("192.0.2.9", NOW + 60_000, "x").await.unwrap();
    store.close().await;

    let store = Store::open(&url).await.unwrap();
    let tenant = store.get_tenant("a.example").await.unwrap().unwrap();
    assert_eq!(
        (tenant.row.version, tenant.config.as_deref()),
        (1, Some("cfg"))
    );
    assert_eq!(store.load_bindings(NOW).await.unwrap(), [b]);
    assert_eq!(store.list_bans(NOW).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works_for_tests() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.create_tenant("a.example").await.unwrap();
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn an_unsupported_url_is_refused() {
    let err = Store::open("mysql://root@localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
}

#[tokio::test]
async fn sqlite_bindings_written_before_ids_existed_survive_the_upgrade() {
    // A database at the schema before binding ids, with rows in it, then opened by the
    // current code: the rows get ids, restore and delete by id, and new blocks follow.
    let dir = common::TempDir::new();
    let path = dir.0.join("old.db");
    let url = format!("sqlite://{}", path.display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    let mut before_ids = sqlx::migrate!("./migrations/sqlite");
    before_ids.migrations = before_ids
        .migrations
        .iter()
        .filter(|m| m.version < 20261130000001)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before_ids.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO tenants (domain, created_at_ms, updated_at_ms, changed_gen) \
         VALUES ('a.example', 1, 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for contact in [
        "sip:100@192.0.2.2",
        "sip:100@192.0.2.1",
        "sip:101@192.0.2.3",
    ] {
        sqlx::query(
            "INSERT INTO bindings (tenant_id, aor, binding_key, contact_uri, call_id, cseq, \
             expires_at_ms, received, updated_at_ms) \
             SELECT id, substr($1, 5, 3), $1, $1, 'c', 1, $2, 'udp:192.0.2.9:5060', 1 FROM tenants",
        )
        .bind(contact)
        .bind(NOW + 60_000)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&url).await.unwrap();
    let restored = store.load_bindings(NOW).await.unwrap();
    let got: Vec<(i64, &str, &str)> = restored
        .iter()
        .map(|b| (b.id, b.aor.as_str(), b.contact_uri.as_str()))
        .collect();
    let block1 = 1i64 << pbx_store::BINDING_ID_BLOCK_BITS;
    assert_eq!(
        got,
        [
            (block1 + 1, "100", "sip:100@192.0.2.2"),
            (block1 + 2, "100", "sip:100@192.0.2.1"),
            (block1 + 3, "101", "sip:101@192.0.2.3"),
        ]
    );
    assert!(store.take_binding_id_block(NOW).await.unwrap() >= 2);
    assert_eq!(store.delete_bindings(&[block1 + 2]).await.unwrap(), 1);
    let t = restored[0].tenant_id;
    assert_eq!(
        contacts_of(&store, t).await,
        ["sip:100@192.0.2.2", "sip:101@192.0.2.3"]
    );
    store.close().await;
}
