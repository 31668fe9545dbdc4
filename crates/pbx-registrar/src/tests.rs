#![allow(clippy::unwrap_used)]

use super::*;
use sip_msg::{Host, NameAddr};

fn contact(user: &str, port: u16, params: &[(&str, Option<&str>)]) -> ContactValue {
    ContactValue::Addr(NameAddr {
        display: None,
        uri: Uri {
            scheme: Scheme::Sip,
            user: Some(user.into()),
            password: None,
            host: Some(Host::Ip("192.0.2.10".parse().unwrap())),
            port: Some(port),
            params: vec![],
            headers: vec![],
            opaque: None,
        },
        params: params
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
            .collect(),
    })
}

fn src(port: u16) -> Source {
    Source {
        transport: SourceTransport::Udp,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        flow: None,
    }
}

fn input<'a>(
    contacts: Vec<ContactValue>,
    expires: Option<u32>,
    call_id: &'a str,
    cseq: u32,
) -> RegisterInput<'a> {
    RegisterInput {
        contacts,
        expires_header: expires,
        call_id,
        cseq,
        source: src(5070),
        user_agent: Some("test"),
    }
}

fn key() -> AorKey {
    AorKey::new(7, "1001")
}

#[test]
fn a_register_adds_a_binding_with_the_header_expiry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(300), "a", 1),
        )
        .unwrap();
    assert_eq!(out.contacts.len(), 1);
    assert_eq!(out.contacts[0].1, 300);
    assert_eq!(r.contact_count(), 1);
    assert!(matches!(out.changes[0], BindingChange::Upsert(..)));
}

#[test]
fn the_contact_expires_param_wins_over_the_header_and_max_clamps() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(
                vec![contact("1001", 5070, &[("expires", Some("99999"))])],
                Some(300),
                "a",
                1,
            ),
        )
        .unwrap();
    assert_eq!(out.contacts[0].1, 3600);
}

#[test]
fn a_too_short_expiry_is_refused_with_423_and_changes_nothing() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(10), "a", 1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::IntervalTooBrief {
            requested: 10,
            min: 60
        }
    );
    assert_eq!(err.status(), 423);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn several_contacts_per_aor_have_their_own_expiry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(120), "a", 1),
    )
    .unwrap();
    let out = r
        .register(
            1000,
            key(),
            &input(vec![contact("1001", 5072, &[])], Some(600), "b", 1),
        )
        .unwrap();
    let mut exp: Vec<u32> = out.contacts.iter().map(|c| c.1).collect();
    exp.sort();
    assert_eq!(exp, [119, 600]);
    let removed = r.sweep(120_000);
    assert_eq!(removed.len(), 1);
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn expires_zero_removes_one_contact() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(600), "a", 1),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(0), "a", 2),
        )
        .unwrap();
    assert!(out.contacts.is_empty());
    assert_eq!(r.contact_count(), 0);
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn star_with_expires_zero_removes_all_contacts() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(
            vec![contact("1001", 5070, &[]), contact("1001", 5071, &[])],
            Some(600),
            "a",
            1,
        ),
    )
    .unwrap();
    assert_eq!(r.contact_count(), 2);
    let out = r
        .register(0, key(), &input(vec![ContactValue::Star], Some(0), "z", 1))
        .unwrap();
    assert_eq!(out.changes.len(), 2);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r
        .register(0, key(), &input(vec![ContactValue::Star], Some(60), "z", 1))
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn a_replayed_cseq_for_the_same_call_id_is_refused() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(600), "a", 5),
    )
    .unwrap();
    let err = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(0), "a", 5),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::OutOfOrder { got: 5, stored: 5 });
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn the_contact_cap_replaces_the_contact_closest_to_expiry() {
    let cfg = RegistrarConfig {
        max_contacts_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg);
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 1, &[])], Some(100), "a", 1),
    )
    .unwrap();
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 2, &[])], Some(900), "b", 1),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 3, &[])], Some(600), "c", 1),
        )
        .unwrap();
    assert_eq!(r.contact_count(), 2);
    let ports: Vec<u32> = out.contacts.iter().map(|c| c.1).collect();
    assert!(
        !ports.contains(&100),
        "the contact expiring first was replaced: {ports:?}"
    );
}

#[test]
fn the_same_instance_id_updates_one_binding_even_when_the_uri_changes() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let inst = Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"");
    r.register(
        0,
        key(),
        &input(
            vec![contact(
                "1001",
                1,
                &[("+sip.instance", inst), ("reg-id", Some("1"))],
            )],
            Some(600),
            "a",
            1,
        ),
    )
    .unwrap();
    let out = r
        .register(
            0,
            key(),
            &input(
                vec![contact(
                    "1001",
                    2,
                    &[("+sip.instance", inst), ("reg-id", Some("1"))],
                )],
                Some(600),
                "b",
                1,
            ),
        )
        .unwrap();
    assert_eq!(r.contact_count(), 1);
    assert_eq!(out.contacts.len(), 1);
    assert!(
        out.changes
            .iter()
            .any(|c| matches!(c, BindingChange::Remove(..)))
    );
}

/// A binding as read back from the store: row 7, expiring at 5 s.
fn stored() -> Binding {
    Binding {
        id: 7,
        contact: "sip:1001@192.0.2.10:5070".into(),
        instance: None,
        reg_id: None,
        q: None,
        expires_at_ms: 5_000,
        call_id: "a".into(),
        cseq: 1,
        source: src(5070),
        user_agent: None,
        updated_at_ms: 0,
        stored_expires_ms: 5_000,
        qualify: Qualify::Unknown,
    }
}

#[test]
fn restore_skips_expired_bindings() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let b = stored();
    assert_eq!(r.restore(6_000, key(), b.clone()), None);
    assert_eq!(r.contact_count(), 0);
    assert_eq!(r.restore(1_000, key(), b), None);
    assert_eq!(r.contact_count(), 1);
    assert_eq!(r.next_expiry(), Some(5_000));
}

#[test]
fn of_two_stored_rows_for_one_contact_restore_keeps_the_later_and_removes_the_other() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let older = stored();
    let newer = Binding {
        id: 9,
        expires_at_ms: 8_000,
        ..older.clone()
    };
    assert_eq!(r.restore(1_000, key(), older.clone()), None);
    assert_eq!(
        r.restore(1_000, key(), newer.clone()),
        Some(BindingChange::Remove(key(), older.clone()))
    );
    // In the other order the later one stays too.
    assert_eq!(
        r.restore(1_000, key(), older.clone()),
        Some(BindingChange::Remove(key(), older))
    );
    assert_eq!(r.bindings(&key()), [newer]);
    assert_eq!(r.contact_count(), 1);
}

fn upserted(out: &RegisterOutput) -> Vec<u64> {
    out.changes
        .iter()
        .filter_map(|c| match c {
            BindingChange::Upsert(_, b) => Some(b.id),
            BindingChange::Remove(..) => None,
        })
        .collect()
}

#[test]
fn new_bindings_take_ids_in_order_and_keep_them_when_refreshed_or_moved() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_id_range(100..200);
    let out = r
        .register(
            0,
            key(),
            &input(
                vec![contact("1001", 5070, &[]), contact("1001", 5072, &[])],
                Some(600),
                "a",
                1,
            ),
        )
        .unwrap();
    assert_eq!(upserted(&out), [100, 101]);
    // A refresh that has to be written (new source) keeps the id.
    let mut moved = input(vec![contact("1001", 5070, &[])], Some(600), "a", 2);
    moved.source = src(6000);
    let out = r.register(1_000, key(), &moved).unwrap();
    assert_eq!(upserted(&out), [100]);
    // An RFC 5626 instance that registers a new Contact keeps its row: the removal of
    // the old Contact and the upsert of the new one name the same id.
    let outbound = |port| {
        contact(
            "1001",
            port,
            &[
                ("+sip.instance", Some("\"<urn:uuid:1>\"")),
                ("reg-id", Some("1")),
            ],
        )
    };
    let out = r
        .register(
            2_000,
            key(),
            &input(vec![outbound(7000)], Some(600), "b", 1),
        )
        .unwrap();
    assert_eq!(upserted(&out), [102]);
    let out = r
        .register(
            3_000,
            key(),
            &input(vec![outbound(7002)], Some(600), "b", 2),
        )
        .unwrap();
    assert_eq!(
        out.changes
            .iter()
            .map(|c| match c {
                BindingChange::Upsert(_, b) | BindingChange::Remove(_, b) => b.id,
            })
            .collect::<Vec<_>>(),
        [102, 102]
    );
    // The next new binding goes on counting.
    let out = r
        .register(
            4_000,
            key(),
            &input(vec![contact("1001", 5074, &[])], Some(600), "c", 1),
        )
        .unwrap();
    assert_eq!(upserted(&out), [103]);
}

#[test]
fn a_used_up_id_range_refuses_new_bindings_with_500_and_changes_nothing() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_id_range(5..6);
    r.register(
        0,
        key(),
        &input(vec![contact("1001", 5070, &[])], Some(600), "a", 1),
    )
    .unwrap();
    let two = input(
        vec![contact("1001", 5072, &[]), contact("1001", 5074, &[])],
        Some(600),
        "b",
        1,
    );
    let err = r.register(1_000, key(), &two).unwrap_err();
    assert_eq!((err.clone(), err.status()), (RegisterError::OutOfIds, 500));
    assert_eq!(r.contact_count(), 1);
    // A refresh needs no new id.
    assert!(
        r.register(
            2_000,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 2)
        )
        .is_ok()
    );
}

#[test]
fn remove_where_drops_a_whole_tenant() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        AorKey::new(1, "a"),
        &input(vec![contact("a", 1, &[])], Some(600), "a", 1),
    )
    .unwrap();
    r.register(
        0,
        AorKey::new(2, "a"),
        &input(vec![contact("a", 1, &[])], Some(600), "a", 1),
    )
    .unwrap();
    let ch = r.remove_where(|k| k.tenant == 1);
    assert_eq!(ch.len(), 1);
    assert_eq!(r.contact_count(), 1);
}

#[test]
fn refreshing_a_binding_does_not_pile_up_expiry_entries() {
    let mut r = Registrar::new(RegistrarConfig::default());
    for i in 0..50u64 {
        r.register(
            i * 1000,
            key(),
            &input(
                vec![contact("1001", 5070, &[])],
                Some(3600),
                "a",
                i as u32 + 1,
            ),
        )
        .unwrap();
    }
    assert_eq!(r.contact_count(), 1);
    assert_eq!(
        r.scheduled_len(),
        1,
        "a later expiry keeps the earlier heap entry"
    );
    // The entry fires at the first expiry, finds the binding refreshed, and reschedules it.
    assert!(r.sweep(3_600_000).is_empty());
    assert_eq!(r.contact_count(), 1);
    assert_eq!(r.sweep(49_000 + 3_600_000).len(), 1);
    assert_eq!(r.contact_count(), 0);
}

#[test]
fn a_quick_plain_refresh_is_not_written_but_a_late_one_is() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .register(
            0,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 1),
        )
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    // 10 s later: the stored copy (expiring at 600 s) is good for 2/3 of the new 600 s.
    let out = r
        .register(
            10_000,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 2),
        )
        .unwrap();
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    assert_eq!(
        out.contacts[0].1, 600,
        "the answer and the memory copy are refreshed"
    );
    assert_eq!(r.bindings(&key())[0].expires_at_ms, 610_000);
    // 300 s later the stored copy has 300 s left < 400 s: written.
    let out = r
        .register(
            300_000,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "a", 3),
        )
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    // A new Call-ID alone (some phones make one per REGISTER) is not a reason to write.
    let out = r
        .register(
            300_500,
            key(),
            &input(vec![contact("1001", 5070, &[])], Some(600), "b", 1),
        )
        .unwrap();
    assert!(out.changes.is_empty(), "{:?}", out.changes);
    // A change of where the phone is reached is written at once.
    let mut inp = input(vec![contact("1001", 5070, &[])], Some(600), "a", 4);
    inp.source = src(5071);
    let out = r.register(301_000, key(), &inp).unwrap();
    assert_eq!(out.changes.len(), 1);
}

fn reg(r: &mut Registrar, now: u64, aor: &AorKey, port: u16, cseq: u32) -> RegisterOutput {
    r.register(
        now,
        aor.clone(),
        &input(vec![contact(&aor.user, port, &[])], Some(600), "q", cseq),
    )
    .unwrap()
}

#[test]
fn nothing_is_due_for_qualify_while_it_is_off() {
    let mut r = Registrar::new(RegistrarConfig::default());
    reg(&mut r, 0, &key(), 5070, 1);
    assert!(r.due_qualify(1_000_000).is_empty());
    assert_eq!(r.next_qualify(), None);
}

#[test]
fn a_new_contact_is_qualified_at_once_then_every_interval() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_qualify_interval(0, 60_000);
    reg(&mut r, 1_000, &key(), 5070, 1);
    assert_eq!(r.next_qualify(), Some(1_000));
    let due = r.due_qualify(1_000);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0, key());
    assert_eq!(&*due[0].1.contact, "sip:1001@192.0.2.10:5070");
    assert!(
        r.due_qualify(60_999).is_empty(),
        "not again before the interval"
    );
    assert_eq!(r.due_qualify(61_000).len(), 1);
    assert_eq!(r.next_qualify(), Some(121_000));
}

#[test]
fn a_refresh_does_not_make_a_contact_due_early_but_a_new_contact_does() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_qualify_interval(0, 60_000);
    reg(&mut r, 0, &key(), 5070, 1);
    assert_eq!(r.due_qualify(0).len(), 1);
    reg(&mut r, 10_000, &key(), 5070, 2);
    assert!(r.due_qualify(10_000).is_empty());
    reg(&mut r, 20_000, &key(), 5071, 3);
    let due = r.due_qualify(20_000);
    assert_eq!(due.len(), 2, "the whole AOR is qualified together: {due:?}");
    assert_eq!(r.scheduled_len(), 1);
}

#[test]
fn expired_and_removed_contacts_are_not_qualified() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_qualify_interval(0, 60_000);
    reg(&mut r, 0, &key(), 5070, 1);
    assert!(
        r.due_qualify(600_000).is_empty(),
        "expired at 600 s, not swept yet"
    );
    r.sweep(600_000);
    reg(&mut r, 700_000, &AorKey::new(7, "1002"), 5070, 1);
    r.remove_where(|_| true);
    assert!(r.due_qualify(800_000).is_empty());
}

#[test]
fn restored_contacts_are_spread_over_the_first_interval() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_qualify_interval(0, 60_000);
    let now = 1_000_000;
    for i in 0..200u32 {
        let b = Binding {
            id: u64::from(i) + 1,
            contact: format!("sip:{i}@192.0.2.10:5070").into(),
            instance: None,
            reg_id: None,
            q: None,
            expires_at_ms: now + 600_000,
            call_id: "a".into(),
            cseq: 1,
            source: src(5070),
            user_agent: None,
            updated_at_ms: 0,
            stored_expires_ms: now + 600_000,
            qualify: Qualify::Reachable { rtt_ms: 3 },
        };
        assert_eq!(r.restore(now, AorKey::new(1, &i.to_string()), b), None);
    }
    let first_half = r.due_qualify(now + 30_000).len();
    assert!(
        (60..140).contains(&first_half),
        "about half in the first half interval, got {first_half}"
    );
    assert_eq!(first_half + r.due_qualify(now + 60_000).len(), 200);
    assert!(r.due_qualify(now + 60_000).is_empty());
}

#[test]
fn turning_qualify_off_empties_the_schedule() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.set_qualify_interval(0, 60_000);
    reg(&mut r, 0, &key(), 5070, 1);
    r.set_qualify_interval(0, 0);
    assert_eq!(r.next_qualify(), None);
    assert!(r.due_qualify(1_000_000).is_empty());
    r.set_qualify_interval(0, 30_000);
    assert_eq!(r.due_qualify(30_000).len(), 1);
}

#[test]
fn a_qualify_status_change_is_written_but_the_same_status_is_not() {
    let mut r = Registrar::new(RegistrarConfig::default());
    reg(&mut r, 0, &key(), 5070, 1);
    let k = "sip:1001@192.0.2.10:5070";
    let ch = r
        .set_qualify(&key(), k, Qualify::Reachable { rtt_ms: 12 }, 1_000)
        .expect("unknown -> reachable is written");
    let BindingChange::Upsert(aor, b) = ch else {
        panic!("an upsert")
    };
    assert_eq!(aor, key());
    assert_eq!(b.qualify, Qualify::Reachable { rtt_ms: 12 });
    assert_eq!(
        r.set_qualify(&key(), k, Qualify::Reachable { rtt_ms: 30 }, 2_000),
        None,
        "a new round-trip time alone is not a write"
    );
    assert_eq!(
        r.bindings(&key())[0].qualify,
        Qualify::Reachable { rtt_ms: 30 }
    );
    assert!(
        r.set_qualify(&key(), k, Qualify::Unreachable, 3_000)
            .is_some()
    );
    assert_eq!(
        r.set_qualify(&key(), "sip:other@x", Qualify::Unreachable, 3_000),
        None
    );
    assert_eq!(
        r.set_qualify(&key(), k, Qualify::Unknown, 600_000),
        None,
        "expired"
    );
}

#[test]
fn a_qualify_write_refreshes_the_stored_expiry_so_refresh_suppression_stays_correct() {
    let mut r = Registrar::new(RegistrarConfig::default());
    reg(&mut r, 0, &key(), 5070, 1);
    // Refresh at 100 s: not written (stored copy expires at 600 s).
    assert!(reg(&mut r, 100_000, &key(), 5070, 2).changes.is_empty());
    assert_eq!(r.bindings(&key())[0].stored_expires_ms, 600_000);
    let ch = r
        .set_qualify(
            &key(),
            "sip:1001@192.0.2.10:5070",
            Qualify::Unreachable,
            101_000,
        )
        .unwrap();
    let BindingChange::Upsert(_, b) = ch else {
        panic!("an upsert")
    };
    assert_eq!(
        b.expires_at_ms, 700_000,
        "the write carries the current expiry"
    );
    assert_eq!(r.bindings(&key())[0].stored_expires_ms, 700_000);
    // The status survives a plain refresh and the refresh is still not written.
    assert!(reg(&mut r, 110_000, &key(), 5070, 3).changes.is_empty());
    assert_eq!(r.bindings(&key())[0].qualify, Qualify::Unreachable);
    // A move to a new source forgets it: the contact must be qualified again.
    let mut inp = input(vec![contact("1001", 5070, &[])], Some(600), "q", 4);
    inp.source = src(6000);
    let out = r.register(120_000, key(), &inp).unwrap();
    let BindingChange::Upsert(_, b) = &out.changes[0] else {
        panic!("an upsert")
    };
    assert_eq!(b.qualify, Qualify::Unknown);
}

#[test]
fn the_binding_key_matches_the_stores() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(
        0,
        key(),
        &input(
            vec![contact(
                "1001",
                5070,
                &[
                    ("+sip.instance", Some("\"<urn:uuid:1>\"")),
                    ("reg-id", Some("2")),
                ],
            )],
            Some(600),
            "a",
            1,
        ),
    )
    .unwrap();
    assert_eq!(r.bindings(&key())[0].key(), "<urn:uuid:1>;reg-id=2");
    reg(&mut r, 0, &AorKey::new(7, "1002"), 5070, 1);
    assert_eq!(
        r.bindings(&AorKey::new(7, "1002"))[0].key(),
        "sip:1002@192.0.2.10:5070"
    );
}

#[test]
fn qualify_round_trips_through_its_stored_form() {
    for q in [
        Qualify::Unknown,
        Qualify::Reachable { rtt_ms: 17 },
        Qualify::Unreachable,
    ] {
        assert_eq!(Qualify::from_stored(Some(q.as_str()), q.rtt_ms()), q);
    }
    assert_eq!(Qualify::from_stored(None, None), Qualify::Unknown);
    assert_eq!(
        Qualify::from_stored(Some("weird"), Some(3)),
        Qualify::Unknown
    );
}
