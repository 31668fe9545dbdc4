//! Prompt playback and music on hold from shared 8 kHz buffers.
//!
//! A prompt is an `Arc<[i16]>` of 8 kHz linear samples, loaded (and converted) once by the
//! server and shared by every session that plays it; a player only keeps indices into it.

use std::sync::Arc;

/// One loaded prompt: 8 kHz mono linear samples.
pub type Prompt = Arc<[i16]>;

/// What a [`Player`] is doing after a `fill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayState {
    /// More audio follows.
    Playing,
    /// The list was played to the end (this frame may end with silence).
    Finished,
    /// [`Player::stop`] ended it early (barge-in).
    Stopped,
}

/// Plays a list of prompts in order, with a silence gap between them, `repeat` times.
#[derive(Debug, Clone)]
pub struct Player {
    prompts: Vec<Prompt>,
    gap: usize,
    /// Times the whole list is still to be played after the current pass.
    repeats_left: u32,
    index: usize,
    pos: usize,
    /// Silence still to play before `index` starts.
    gap_left: usize,
    state: PlayState,
}

impl Player {
    /// Plays `prompts` once, `gap_ms` of silence between two prompts (and between passes).
    pub fn new(prompts: Vec<Prompt>, gap_ms: u32) -> Self {
        let state = if prompts.is_empty() {
            PlayState::Finished
        } else {
            PlayState::Playing
        };
        Player {
            prompts,
            gap: gap_ms as usize * 8,
            repeats_left: 0,
            index: 0,
            pos: 0,
            gap_left: 0,
            state,
        }
    }

    /// Plays the list `times` times in all (at least once).
    pub fn repeat(mut self, times: u32) -> Self {
        self.repeats_left = times.max(1) - 1;
        self
    }

    /// Ends playback now (a digit barged in). Later fills give silence.
    pub fn stop(&mut self) {
        if self.state == PlayState::Playing {
            self.state = PlayState::Stopped;
        }
    }

    /// The state after the last fill.
    pub fn state(&self) -> PlayState {
        self.state
    }

    /// Index of the prompt playing now.
    pub fn current(&self) -> usize {
        self.index
    }

    /// Fills `out` with the next samples (silence once finished or stopped).
    pub fn fill(&mut self, out: &mut [i16]) -> PlayState {
        let mut rest = out;
        while !rest.is_empty() && self.state == PlayState::Playing {
            if self.gap_left > 0 {
                let n = self.gap_left.min(rest.len());
                let (now, later) = rest.split_at_mut(n);
                now.fill(0);
                self.gap_left -= n;
                rest = later;
                continue;
            }
            let prompt = &self.prompts[self.index];
            let left = &prompt[self.pos.min(prompt.len())..];
            let n = left.len().min(rest.len());
            let (now, later) = rest.split_at_mut(n);
            now.copy_from_slice(&left[..n]);
            self.pos += n;
            rest = later;
            if self.pos >= prompt.len() {
                self.pos = 0;
                self.index += 1;
                if self.index == self.prompts.len() {
                    if self.repeats_left == 0 {
                        self.state = PlayState::Finished;
                        break;
                    }
                    self.repeats_left -= 1;
                    self.index = 0;
                }
                self.gap_left = self.gap;
            }
        }
        rest.fill(0);
        self.state
    }
}

/// A playlist of music on hold, shared by all its listeners.
pub type Playlist = Arc<[Prompt]>;

/// One listener of a looping [`Playlist`], from its own position.
#[derive(Debug, Clone)]
pub struct MohSource {
    playlist: Playlist,
    /// Samples in the whole playlist.
    total: u64,
    track: usize,
    pos: usize,
}

impl MohSource {
    /// Starts `playlist` at `offset` samples into the whole list (modulo its length): give each
    /// listener a different offset, or the one [`MohSource::position`] returned when the same
    /// party was last held, to resume.
    pub fn new(playlist: Playlist, offset: u64) -> Self {
        let total: u64 = playlist.iter().map(|p| p.len() as u64).sum();
        let mut s = MohSource {
            playlist,
            total,
            track: 0,
            pos: 0,
        };
        if total > 0 {
            let mut off = offset % total;
            for (i, p) in s.playlist.iter().enumerate() {
                if off < p.len() as u64 {
                    s.track = i;
                    s.pos = off as usize;
                    break;
                }
                off -= p.len() as u64;
            }
        }
        s
    }

    /// Samples from the start of the playlist to where this listener is.
    pub fn position(&self) -> u64 {
        let before: u64 = self.playlist[..self.track.min(self.playlist.len())]
            .iter()
            .map(|p| p.len() as u64)
            .sum();
        before + self.pos as u64
    }

    /// Fills `out`, looping the playlist forever (silence for an empty one).
    pub fn fill(&mut self, out: &mut [i16]) {
        if self.total == 0 {
            out.fill(0);
            return;
        }
        let mut rest = out;
        while !rest.is_empty() {
            let track = &self.playlist[self.track];
            let left = &track[self.pos.min(track.len())..];
            let n = left.len().min(rest.len());
            let (now, later) = rest.split_at_mut(n);
            now.copy_from_slice(&left[..n]);
            self.pos += n;
            rest = later;
            if self.pos >= track.len() {
                self.pos = 0;
                self.track = (self.track + 1) % self.playlist.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(v: i16, len: usize) -> Prompt {
        vec![v; len].into()
    }

    fn play_all(p: &mut Player, frame: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut buf = vec![0i16; frame];
        loop {
            let st = p.fill(&mut buf);
            out.extend_from_slice(&buf);
            if st != PlayState::Playing {
                return out;
            }
        }
    }

    #[test]
    fn prompts_play_in_order_with_gaps_and_repeats() {
        let mut p = Player::new(vec![prompt(1, 200), prompt(2, 100)], 10).repeat(2);
        let out = play_all(&mut p, 160);
        let mut want = vec![1; 200];
        want.extend([0; 80]);
        want.extend([2; 100]);
        want.extend([0; 80]);
        want.extend([1; 200]);
        want.extend([0; 80]);
        want.extend([2; 100]);
        assert_eq!(&out[..want.len()], &want[..]);
        assert!(out[want.len()..].iter().all(|s| *s == 0));
        assert_eq!(out.len(), want.len().div_ceil(160) * 160);
        assert_eq!(p.state(), PlayState::Finished);
    }

    #[test]
    fn stop_ends_playback_with_silence() {
        let mut p = Player::new(vec![prompt(5, 1000)], 0);
        let mut buf = [0i16; 160];
        assert_eq!(p.fill(&mut buf), PlayState::Playing);
        assert!(buf.iter().all(|s| *s == 5));
        p.stop();
        assert_eq!(p.fill(&mut buf), PlayState::Stopped);
        assert!(buf.iter().all(|s| *s == 0));
    }

    #[test]
    fn an_empty_list_is_finished_at_once() {
        let mut p = Player::new(Vec::new(), 100);
        let mut buf = [7i16; 160];
        assert_eq!(p.fill(&mut buf), PlayState::Finished);
        assert_eq!(buf, [0; 160]);
    }

    #[test]
    fn one_prompt_is_shared_not_copied_by_its_players() {
        let shared = prompt(3, 500);
        let a = Player::new(vec![shared.clone()], 0);
        let b = Player::new(vec![shared.clone()], 0);
        assert_eq!(Arc::strong_count(&shared), 3);
        drop((a, b));
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn music_on_hold_loops_from_each_listeners_position() {
        let list: Playlist = vec![prompt(1, 100), prompt(2, 50)].into();
        let mut a = MohSource::new(list.clone(), 0);
        let mut b = MohSource::new(list.clone(), 120);
        let mut buf = vec![0i16; 400];
        a.fill(&mut buf);
        assert_eq!(&buf[..100], &[1; 100][..]);
        assert_eq!(&buf[100..150], &[2; 50][..]);
        assert_eq!(&buf[150..250], &[1; 100][..]);
        b.fill(&mut buf[..40]);
        assert_eq!(&buf[..30], &[2; 30][..]);
        assert_eq!(&buf[30..40], &[1; 10][..]);
        assert_eq!(b.position(), 10);
        // Resume where it was left.
        let mut c = MohSource::new(list, b.position() + 150 * 7);
        c.fill(&mut buf[..1]);
        assert_eq!(buf[0], 1);
        assert_eq!(c.position(), 11);
        let mut empty = MohSource::new(Vec::new().into(), 5);
        buf[0] = 9;
        empty.fill(&mut buf[..10]);
        assert_eq!(&buf[..10], &[0; 10]);
    }

    proptest::proptest! {
        #[test]
        fn any_frame_sizes_play_the_same_samples(
            lens in proptest::collection::vec(0usize..500, 0..5),
            gap_ms in 0u32..30,
            repeat in 1u32..3,
            frames in proptest::collection::vec(1usize..400, 1..50),
        ) {
            let prompts: Vec<Prompt> = lens
                .iter()
                .enumerate()
                .map(|(i, n)| (0..*n).map(|k| (i * 1000 + k + 1) as i16).collect::<Vec<_>>().into())
                .collect();
            let mut want = Vec::new();
            for r in 0..repeat {
                for (i, p) in prompts.iter().enumerate() {
                    if r > 0 || i > 0 {
                        want.extend(std::iter::repeat_n(0i16, gap_ms as usize * 8));
                    }
                    want.extend_from_slice(p);
                }
            }
            let mut player = Player::new(prompts, gap_ms).repeat(repeat);
            let mut got = Vec::new();
            for f in frames.iter().cycle().take(10_000) {
                let mut buf = vec![1i16; *f];
                let st = player.fill(&mut buf);
                got.extend_from_slice(&buf);
                if st != PlayState::Playing {
                    break;
                }
            }
            proptest::prop_assert_eq!(player.state(), PlayState::Finished);
            proptest::prop_assert_eq!(&got[..want.len()], &want[..]);
            proptest::prop_assert!(got[want.len()..].iter().all(|s| *s == 0));
        }
    }
}
