//! Ring groups: in which order a group's members ring, and what the group remembers
//! between calls.
//!
//! A call to a group rings in *stages*: `ringall` has one stage with every member,
//! the other strategies one stage per member. Each stage rings for the group's
//! `ring_timeout`; a stage nobody answers hands over to the next, and after the last
//! the call follows the group's `on_timeout`. Which members are busy or reachable is
//! decided when a stage starts (the server skips members already in a call), so a
//! member who hangs up while the group hunts is rung when their turn comes.
//!
//! The order depends on [`GroupMemory`], what the group saw of earlier calls: who
//! answered last (`rrmemory` starts after them), when each member last answered
//! (`leastrecent`), how many calls each answered (`fewestcalls`). Like Asterisk's
//! queue statistics this lives in memory and starts afresh when vpbx restarts.

use std::collections::HashMap;

use pbx_core::GroupMember;
use pbx_core::tenant::GroupStrategy;

/// What one member did for the group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberRecord {
    /// Calls of the group the member answered.
    pub answered: u64,
    /// When they last answered one (ms since the Unix epoch).
    pub last_answered_ms: Option<u64>,
}

/// What a group remembers between calls (one per tenant group, shared by the shards).
#[derive(Debug, Clone, Default)]
pub struct GroupMemory {
    /// The member who answered the group's last answered call.
    last: Option<GroupMember>,
    members: HashMap<GroupMember, MemberRecord>,
}

impl GroupMemory {
    /// `ext` answered a call of the group at `now_ms`.
    pub fn answered(&mut self, member: &GroupMember, now_ms: u64) {
        let r = self.members.entry(member.clone()).or_default();
        r.answered += 1;
        r.last_answered_ms = Some(now_ms);
        self.last = Some(member.clone());
    }

    /// The member's record (zero when they never answered).
    pub fn record(&self, member: &GroupMember) -> MemberRecord {
        self.members.get(member).copied().unwrap_or_default()
    }

    /// Drops what is remembered of people who are no longer members (after a
    /// config change), so the map cannot grow without bound.
    pub fn retain_members(&mut self, members: &[GroupMember]) {
        self.members.retain(|e, _| members.contains(e));
        if self.last.as_ref().is_some_and(|l| !members.contains(l)) {
            self.last = None;
        }
    }
}

/// The stages of one call to a group with `members` (in file order): who rings
/// together, stage after stage. `random` seeds the `random` strategy's shuffle (any
/// value; the server passes fresh randomness per call).
pub fn stages(
    strategy: GroupStrategy,
    members: &[GroupMember],
    memory: &GroupMemory,
    random: u64,
) -> Vec<Vec<GroupMember>> {
    if members.is_empty() {
        return Vec::new();
    }
    let mut order: Vec<GroupMember> = members.to_vec();
    match strategy {
        GroupStrategy::Ringall => return vec![order],
        GroupStrategy::Hunt => {}
        GroupStrategy::Rrmemory => {
            let start = memory
                .last
                .as_ref()
                .and_then(|l| members.iter().position(|m| m == l))
                .map_or(0, |i| i + 1);
            order.rotate_left(start % members.len());
        }
        GroupStrategy::Leastrecent => {
            // Never answered first; a stable sort keeps file order among equals.
            order.sort_by_key(|m| memory.record(m).last_answered_ms.map_or(0, |t| t + 1));
        }
        GroupStrategy::Fewestcalls => order.sort_by_key(|m| memory.record(m).answered),
        GroupStrategy::Random => shuffle(&mut order, random),
    }
    order.into_iter().map(|m| vec![m]).collect()
}

/// Fisher–Yates with a SplitMix64 stream seeded by `seed`.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exts(list: &[&str]) -> Vec<GroupMember> {
        list.iter()
            .map(|e| GroupMember::parse(e).unwrap())
            .collect()
    }

    fn flat(stages: Vec<Vec<GroupMember>>) -> Vec<String> {
        stages
            .into_iter()
            .map(|s| {
                s.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect()
    }

    #[test]
    fn ringall_rings_every_member_in_one_stage() {
        let m = exts(&["2222", "1101", "1102"]);
        let got = flat(stages(
            GroupStrategy::Ringall,
            &m,
            &GroupMemory::default(),
            7,
        ));
        assert_eq!(got, ["2222+1101+1102"]);
    }

    #[test]
    fn hunt_rings_one_member_at_a_time_in_file_order() {
        let m = exts(&["2222", "1101", "1102"]);
        let mut mem = GroupMemory::default();
        mem.answered(&m[1], 5);
        let got = flat(stages(GroupStrategy::Hunt, &m, &mem, 7));
        assert_eq!(got, ["2222", "1101", "1102"]);
    }

    #[test]
    fn rrmemory_starts_after_the_member_who_answered_last_and_wraps() {
        let m = exts(&["10", "11", "12"]);
        let mut mem = GroupMemory::default();
        assert_eq!(
            flat(stages(GroupStrategy::Rrmemory, &m, &mem, 0)),
            ["10", "11", "12"]
        );
        mem.answered(&m[1], 1);
        assert_eq!(
            flat(stages(GroupStrategy::Rrmemory, &m, &mem, 0)),
            ["12", "10", "11"]
        );
        mem.answered(&m[2], 2);
        assert_eq!(
            flat(stages(GroupStrategy::Rrmemory, &m, &mem, 0)),
            ["10", "11", "12"]
        );
    }

    #[test]
    fn leastrecent_puts_members_who_never_answered_first_then_the_oldest_answer() {
        let m = exts(&["10", "11", "12", "13"]);
        let mut mem = GroupMemory::default();
        mem.answered(&m[0], 300);
        mem.answered(&m[2], 100);
        let got = flat(stages(GroupStrategy::Leastrecent, &m, &mem, 0));
        assert_eq!(got, ["11", "13", "12", "10"]);
    }

    #[test]
    fn fewestcalls_orders_by_answered_calls_and_keeps_file_order_on_ties() {
        let m = exts(&["10", "11", "12"]);
        let mut mem = GroupMemory::default();
        for t in 0..3 {
            mem.answered(&m[0], t);
        }
        mem.answered(&m[1], 9);
        let got = flat(stages(GroupStrategy::Fewestcalls, &m, &mem, 0));
        assert_eq!(got, ["12", "11", "10"]);
    }

    #[test]
    fn random_is_a_permutation_that_depends_on_the_seed() {
        let m = exts(&["10", "11", "12", "13", "14", "15"]);
        let mem = GroupMemory::default();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..50u64 {
            let got = flat(stages(GroupStrategy::Random, &m, &mem, seed));
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, ["10", "11", "12", "13", "14", "15"]);
            seen.insert(got);
        }
        assert!(seen.len() > 10, "only {} orders in 50 seeds", seen.len());
    }

    #[test]
    fn memory_forgets_people_who_left_the_group() {
        let m = exts(&["10", "11"]);
        let mut mem = GroupMemory::default();
        mem.answered(&m[1], 1);
        mem.retain_members(&m[..1]);
        assert_eq!(mem.record(&m[1]), MemberRecord::default());
        assert_eq!(
            flat(stages(GroupStrategy::Rrmemory, &m[..1], &mem, 0)),
            ["10"]
        );
    }

    #[test]
    fn outside_numbers_take_their_turn_like_users_and_are_remembered_too() {
        let m = exts(&["10", "external:+79161234567", "11"]);
        let mut mem = GroupMemory::default();
        assert_eq!(
            flat(stages(GroupStrategy::Ringall, &m, &mem, 0)),
            ["10+external:+79161234567+11"]
        );
        mem.answered(&m[1], 1);
        assert_eq!(
            flat(stages(GroupStrategy::Rrmemory, &m, &mem, 0)),
            ["11", "10", "external:+79161234567"]
        );
    }

    #[test]
    fn an_empty_group_has_no_stage() {
        assert!(stages(GroupStrategy::Hunt, &[], &GroupMemory::default(), 0).is_empty());
    }
}
