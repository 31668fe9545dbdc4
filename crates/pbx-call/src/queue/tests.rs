#![allow(clippy::unwrap_used)]

use super::*;

fn e(s: &str) -> Ext {
    Ext::parse(s).unwrap()
}

fn queue(strategy: GroupStrategy) -> Queue {
    let doc = format!(
        "domain: q.example\nusers:\n  - {{ext: \"1001\", name: A, secret: secret-aaaa}}\n  - {{ext: \"1002\", name: B, secret: secret-bbbb}}\n  - {{ext: \"1003\", name: C, secret: secret-cccc}}\n  - {{ext: \"2000\", name: D, secret: secret-dddd}}\nqueues:\n  - {{ext: \"1100\", name: Q, strategy: {strategy}, members: [\"1001\", \"1002\"], agents: [\"1003\"], retry: 2, wrapup: 10, member_timeout: 15}}\n"
    );
    pbx_core::TenantConfig::from_yaml_str(&doc).unwrap().queues[0].clone()
}

fn nobody(_: &str) -> bool {
    false
}

fn rings(orders: &[Order]) -> Vec<(CallKey, Vec<String>)> {
    orders
        .iter()
        .filter_map(|o| match o {
            Order::Ring { key, agents, .. } => {
                Some((*key, agents.iter().map(|a| a.to_string()).collect()))
            }
            _ => None,
        })
        .collect()
}

const A: CallKey = (0, 1);
const B: CallKey = (1, 2);
const C: CallKey = (0, 3);

#[test]
fn ringall_rings_every_free_agent_for_the_first_caller_only() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[]);
    assert_eq!(q.join(A, "2000", 0), Join::Joined { position: 1 });
    assert_eq!(q.join(B, "2000", 0), Join::Joined { position: 2 });
    let r = rings(&q.tick(0, &nobody, 0));
    // 1003 is a dynamic agent not logged in.
    assert_eq!(r, vec![(A, vec!["1001".to_owned(), "1002".to_owned()])]);
    // Nothing new while they ring.
    assert!(q.tick(100, &nobody, 0).is_empty());
}

#[test]
fn a_dynamic_agent_who_logs_in_takes_the_next_caller() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[]);
    q.join(A, "2000", 0);
    q.join(B, "2000", 0);
    q.tick(0, &nobody, 0);
    assert_eq!(q.login("1003"), Ok(true));
    assert_eq!(q.login("1003"), Ok(false));
    assert_eq!(q.login("1001"), Err(AgentError::Static));
    assert_eq!(q.login("2000"), Err(AgentError::NotAgent));
    let r = rings(&q.tick(1, &nobody, 0));
    assert_eq!(r, vec![(B, vec!["1003".to_owned()])]);
}

#[test]
fn hunt_tries_agents_in_turn_after_the_retry_time() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Hunt), &[]);
    q.join(A, "2000", 0);
    assert_eq!(
        rings(&q.tick(0, &nobody, 0)),
        vec![(A, vec!["1001".to_owned()])]
    );
    q.missed(A, 15_000);
    // retry: 2 s.
    assert!(rings(&q.tick(16_000, &nobody, 0)).is_empty());
    assert_eq!(
        rings(&q.tick(17_000, &nobody, 0)),
        vec![(A, vec!["1002".to_owned()])]
    );
    q.missed(A, 32_000);
    // Both tried: a new round from the first.
    assert_eq!(
        rings(&q.tick(34_000, &nobody, 0)),
        vec![(A, vec!["1001".to_owned()])]
    );
}

#[test]
fn agents_in_a_call_paused_or_in_wrapup_are_not_rung() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[(e("1003"), false)]);
    assert_eq!(q.pause("1002", true), Ok(true));
    q.join(A, "2000", 0);
    let busy = |x: &str| x == "1003";
    assert_eq!(
        rings(&q.tick(0, &busy, 0)),
        vec![(A, vec!["1001".to_owned()])]
    );
    assert_eq!(q.connected(A, "1001", 5_000), Some((1, 5_000)));
    q.completed("1001", A, 60_000);
    q.join(B, "2000", 60_000);
    // 1001 wraps up until 70 s, 1002 is paused, 1003 busy.
    assert!(rings(&q.tick(60_000, &busy, 0)).is_empty());
    assert_eq!(
        rings(&q.tick(70_000, &busy, 0)),
        vec![(B, vec!["1001".to_owned()])]
    );
}

#[test]
fn an_agent_never_gets_their_own_call() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[]);
    q.join(A, "1001", 0);
    assert_eq!(
        rings(&q.tick(0, &nobody, 0)),
        vec![(A, vec!["1002".to_owned()])]
    );
}

#[test]
fn a_caller_who_hangs_up_frees_the_ringing_agents_and_moves_the_others_up() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[]);
    q.join(A, "2000", 0);
    q.join(B, "2000", 1_000);
    q.join(C, "2000", 2_000);
    q.tick(0, &nobody, 0);
    assert_eq!(q.abandon(B, 9_000), Some((2, 8_000)));
    assert_eq!(q.abandon(A, 10_000), Some((1, 10_000)));
    assert_eq!(q.waiting()[0].key, C);
    assert_eq!(
        rings(&q.tick(10_000, &nobody, 0)),
        vec![(C, vec!["1001".to_owned(), "1002".to_owned()])]
    );
    assert_eq!(q.abandon(A, 11_000), None);
}

#[test]
fn max_len_refuses_and_join_empty_off_refuses_an_empty_queue() {
    let mut cfg = queue(GroupStrategy::Ringall);
    cfg.max_len = 1;
    let mut q = QueueBook::new(&cfg, &[]);
    assert_eq!(q.join(A, "2000", 0), Join::Joined { position: 1 });
    assert_eq!(q.join(B, "2000", 0), Join::Full);
    let mut cfg = queue(GroupStrategy::Ringall);
    cfg.members.clear();
    cfg.join_empty = false;
    let mut q = QueueBook::new(&cfg, &[]);
    assert_eq!(q.join(A, "2000", 0), Join::Empty);
    q.login("1003").unwrap();
    assert_eq!(q.join(A, "2000", 0), Join::Joined { position: 1 });
}

#[test]
fn max_wait_and_leave_empty_send_callers_away() {
    let mut cfg = queue(GroupStrategy::Ringall);
    cfg.max_wait = 30;
    let mut q = QueueBook::new(&cfg, &[]);
    q.join(A, "2000", 0);
    q.join(B, "2000", 10_000);
    let o = q.tick(30_000, &|_: &str| true, 0);
    assert_eq!(
        o,
        vec![Order::Leave {
            key: A,
            reason: LeaveReason::Timeout,
            position: 1,
            wait_ms: 30_000
        }]
    );
    let mut cfg = queue(GroupStrategy::Ringall);
    cfg.members.clear();
    cfg.leave_empty = true;
    let mut q = QueueBook::new(&cfg, &[(e("1003"), false)]);
    q.join(A, "2000", 0);
    assert!(q.tick(1, &|_: &str| true, 0).is_empty());
    q.logout("1003").unwrap();
    assert!(matches!(
        q.tick(2, &|_: &str| true, 0)[..],
        [Order::Leave {
            reason: LeaveReason::Empty,
            ..
        }]
    ));
}

#[test]
fn leastrecent_prefers_the_agent_who_answered_longest_ago() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Leastrecent), &[]);
    q.join(A, "2000", 0);
    assert_eq!(
        rings(&q.tick(0, &nobody, 0)),
        vec![(A, vec!["1001".to_owned()])]
    );
    q.connected(A, "1001", 1_000);
    q.completed("1001", A, 2_000);
    q.join(B, "2000", 100_000);
    assert_eq!(
        rings(&q.tick(100_000, &nobody, 0)),
        vec![(B, vec!["1002".to_owned()])]
    );
}

#[test]
fn the_estimated_wait_follows_answered_callers_waits() {
    let mut q = QueueBook::new(&queue(GroupStrategy::Ringall), &[]);
    assert_eq!(q.ewt_s(1), 0);
    q.join(A, "2000", 0);
    q.tick(0, &nobody, 0);
    q.connected(A, "1001", 40_000);
    // Two active agents: positions 1 and 2 wait one average, 3 and 4 two.
    assert_eq!(q.ewt_s(1), 40);
    assert_eq!(q.ewt_s(3), 80);
}

#[test]
fn a_reconfigured_queue_keeps_logged_in_agents_and_drops_removed_ones() {
    let mut cfg = queue(GroupStrategy::Ringall);
    let mut q = QueueBook::new(&cfg, &[(e("1003"), true)]);
    assert!(q.agents().iter().any(|a| a.ext == e("1003") && a.paused));
    cfg.members.retain(|m| m.as_str() != "1002");
    q.reconfigure(&cfg);
    let exts: Vec<String> = q.agents().iter().map(|a| a.ext.to_string()).collect();
    assert_eq!(exts, ["1001", "1003"]);
    assert!(q.agents()[1].logged_in && q.agents()[1].paused);
}
