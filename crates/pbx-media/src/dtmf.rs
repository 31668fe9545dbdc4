//! RFC 4733 telephone events (§2.3), a generator for sending one (§2.5.1) and a detector that
//! yields each digit exactly once.

/// One RFC 4733 telephone-event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D (RFC 4733 §3.2).
    pub event: u8,
    /// E bit: the event has ended.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first 4 bytes of an RFC 4733 payload.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4-byte payload (R bit zero).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (self.volume & 0x3f) | if self.end { 0x80 } else { 0 },
            d[0],
            d[1],
        ]
    }

    /// The DTMF digit of this event, if it is one.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// RFC 4733 §3.2 event code → DTMF character.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// DTMF character → RFC 4733 event code.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The payloads of one generated RFC 4733 event (§2.5.1), one per call to
/// [`EventGenerator::next_packet`], which the caller makes every `step` timestamp units of
/// real time: the first packet carries the marker, each update's duration grows by `step`
/// until it reaches the total, and the packet that reaches it is the first of three with the
/// E bit (§2.5.1.4: the final packet is sent three times; all carry the final duration). Every
/// packet of the event carries the event's start timestamp; that is the caller's part.
#[derive(Debug, Clone)]
pub struct EventGenerator {
    event: u8,
    volume: u8,
    total: u16,
    step: u16,
    /// Duration of the next packet's payload.
    next: u16,
    sent: u32,
    ends_left: u8,
}

impl EventGenerator {
    /// How many packets carry the E bit.
    pub const END_PACKETS: u8 = 3;

    /// An event of `total` timestamp units (at least one `step`, which is at least 1) at power
    /// `volume` −dBm0 (at most 63).
    pub fn new(event: u8, volume: u8, total: u16, step: u16) -> Self {
        let step = step.max(1);
        let total = total.max(step);
        EventGenerator {
            event,
            volume: volume.min(63),
            total,
            step,
            next: step,
            sent: 0,
            ends_left: Self::END_PACKETS,
        }
    }

    /// The next packet: its marker bit and payload. `None` once the third end packet was given.
    pub fn next_packet(&mut self) -> Option<(bool, TelephoneEvent)> {
        if self.ends_left == 0 {
            return None;
        }
        let duration = self.next.min(self.total);
        let end = duration == self.total;
        if end {
            self.ends_left -= 1;
        } else {
            self.next = self.next.saturating_add(self.step);
        }
        let marker = self.sent == 0;
        self.sent += 1;
        Some((
            marker,
            TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration,
            },
        ))
    }

    /// Every packet of the event was given.
    pub fn is_done(&self) -> bool {
        self.ends_left == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    ts: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// Turns RFC 4733 packets into digits, each exactly once.
///
/// A digit is reported on the first packet of a new event (an RTP timestamp newer than the
/// previous event's), so a lost end packet does not lose the digit and the three retransmitted
/// end packets do not repeat it. Stragglers of older events are ignored, and the continuation
/// segments of a long event (RFC 4733 §2.5.1.3: same event, timestamp advanced by the previous
/// segment's duration, previous segment not ended) are not new digits.
#[derive(Debug, Clone, Default)]
pub struct DigitDetector {
    current: Option<Current>,
}

impl DigitDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet: its RTP timestamp and payload. Returns the digit when
    /// this packet starts a new one.
    pub fn handle_packet(&mut self, ts: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload)?;
        let new = Current {
            ts,
            event: ev.event,
            ended: ev.end,
            duration: ev.duration,
        };
        match self.current {
            Some(ref mut cur) if cur.ts == ts => {
                cur.ended |= ev.end;
                cur.duration = cur.duration.max(ev.duration);
                None
            }
            Some(cur) if (ts.wrapping_sub(cur.ts) as i32) < 0 => None,
            Some(cur)
                if !cur.ended
                    && cur.event == ev.event
                    && ts == cur.ts.wrapping_add(u32::from(cur.duration)) =>
            {
                self.current = Some(new);
                None
            }
            _ => {
                self.current = Some(new);
                ev.digit()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn a_generated_event_grows_by_step_then_ends_three_times_and_is_detected_once() {
        let mut g = EventGenerator::new(7, 10, 800, 160);
        let mut packets = Vec::new();
        while let Some(p) = g.next_packet() {
            packets.push(p);
        }
        assert!(g.is_done());
        let durations: Vec<_> = packets.iter().map(|(_, e)| (e.duration, e.end)).collect();
        assert_eq!(
            durations,
            [
                (160, false),
                (320, false),
                (480, false),
                (640, false),
                (800, true),
                (800, true),
                (800, true)
            ]
        );
        assert!(packets[0].0 && packets[1..].iter().all(|(m, _)| !m));
        assert!(packets.iter().all(|(_, e)| e.volume == 10 && e.event == 7));
        let mut d = DigitDetector::new();
        let got: Vec<_> = packets
            .iter()
            .filter_map(|(_, e)| d.handle_packet(1234, &e.to_bytes()))
            .collect();
        assert_eq!(got, ['7']);
    }

    #[test]
    fn a_generated_event_shorter_than_a_step_is_one_step_and_limits_hold() {
        let mut g = EventGenerator::new(1, 99, 10, 160);
        let (m, e) = g.next_packet().unwrap();
        assert!(m && e.end);
        assert_eq!((e.duration, e.volume), (160, 63));
        assert!(g.next_packet().unwrap().1.end);
        assert!(g.next_packet().unwrap().1.end);
        assert!(g.next_packet().is_none());
        let mut g = EventGenerator::new(1, 10, u16::MAX, 40_000);
        assert_eq!(g.next_packet().unwrap().1.duration, 40_000);
        let (_, e) = g.next_packet().unwrap();
        assert_eq!((e.duration, e.end), (u16::MAX, true));
    }

    #[test]
    fn payload_round_trips() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 63,
            duration: 0x1234,
        };
        assert_eq!(e.to_bytes(), [11, 0xbf, 0x12, 0x34]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Some(e));
        assert_eq!(e.digit(), Some('#'));
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_none());
    }

    #[test]
    fn digit_codes_map_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_to_digit(digit_to_event(d).unwrap()), Some(d));
        }
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn a_digit_with_retransmitted_ends_is_reported_once() {
        let mut d = DigitDetector::new();
        let mut got = Vec::new();
        for (ts, e) in [
            (1000, ev(10, false, 160)),
            (1000, ev(10, false, 320)),
            (1000, ev(10, true, 480)),
            (1000, ev(10, true, 480)),
            (1000, ev(10, true, 480)),
            (3000, ev(2, false, 160)),
            (3000, ev(2, true, 320)),
            (3000, ev(2, true, 320)),
            (1000, ev(10, true, 480)), // late straggler
        ] {
            got.extend(d.handle_packet(ts, &e));
        }
        assert_eq!(got, ['*', '2']);
    }

    #[test]
    fn the_same_digit_twice_is_two_digits_and_a_lost_end_loses_nothing() {
        let mut d = DigitDetector::new();
        let mut got = Vec::new();
        for (ts, e) in [
            (0, ev(11, false, 160)), // end packets of this one all lost
            (4000, ev(11, false, 160)),
            (4000, ev(11, true, 800)),
        ] {
            got.extend(d.handle_packet(ts, &e));
        }
        assert_eq!(got, ['#', '#']);
    }

    #[test]
    fn a_long_event_split_into_segments_is_one_digit() {
        let mut d = DigitDetector::new();
        let mut got = Vec::new();
        got.extend(d.handle_packet(0, &ev(5, false, 65535)));
        got.extend(d.handle_packet(65535, &ev(5, false, 800)));
        got.extend(d.handle_packet(65535, &ev(5, true, 1600)));
        assert_eq!(got, ['5']);
    }

    #[test]
    fn timestamps_wrapping_around_still_order_events() {
        let mut d = DigitDetector::new();
        assert_eq!(
            d.handle_packet(u32::MAX - 100, &ev(1, true, 160)),
            Some('1')
        );
        assert_eq!(d.handle_packet(500, &ev(1, true, 160)), Some('1'));
        assert_eq!(d.handle_packet(u32::MAX - 100, &ev(1, true, 160)), None);
    }
}
