//! Identifiers vpbx generates: every branch, tag and Call-ID carries the
//! owning shard, so a response or in-dialog request finds its owner without
//! a shared table.
//!
//! Formats (all lower-case hex): tag `vp` + shard (2) + random (16);
//! branch `z9hG4bK` + tag form; Call-ID tag form + `@vpbx`.

use rand::Rng;

fn token(shard: usize, rng: &mut impl Rng) -> String {
    format!("vp{:02x}{:016x}", shard & 0xff, rng.random::<u64>())
}

pub fn new_tag(shard: usize, rng: &mut impl Rng) -> String {
    token(shard, rng)
}

pub fn new_branch(shard: usize, rng: &mut impl Rng) -> String {
    format!("z9hG4bK{}", token(shard, rng))
}

pub fn new_call_id(shard: usize, rng: &mut impl Rng) -> String {
    format!("{}@vpbx", token(shard, rng))
}

fn shard_of_token(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    if b.len() < 20 || !t.starts_with("vp") || !b[2..20].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    usize::from_str_radix(&t[2..4], 16).ok()
}

/// The shard that made this To/From tag, if it is one of ours.
pub fn shard_of_tag(tag: &str) -> Option<usize> {
    shard_of_token(tag)
}

/// The shard that made this branch, if it is one of ours.
pub fn shard_of_branch(branch: &str) -> Option<usize> {
    shard_of_token(branch.strip_prefix("z9hG4bK")?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_ids_name_their_shard() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(shard_of_tag(&new_tag(3, &mut rng)), Some(3));
        assert_eq!(shard_of_branch(&new_branch(17, &mut rng)), Some(17));
        assert_eq!(shard_of_tag("a6c85cf"), None);
        assert_eq!(shard_of_branch("z9hG4bK74bf9"), None);
    }
}
