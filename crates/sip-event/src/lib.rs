//! SIP event notification for message waiting, without I/O.
//!
//! - [`summary`]: the `application/simple-message-summary` body (RFC 3842 §5),
//!   built for NOTIFY and parsed (for tests and for peers that send it).
//! - [`subscription`]: the notifier's side of RFC 6665 subscriptions: which
//!   subscriptions exist, their expiry (time passed in as Unix milliseconds),
//!   refresh and termination, the bounds per user and per tenant, and which
//!   subscriptions still have to be told the current counts.
//!
//! The server owns the sockets and the dialogs' wire details; it keeps them as
//! the `D` of [`subscription::Subscriptions`] and asks this crate what to send.
//!
//! ```
//! use sip_event::subscription::{Limits, Subscriptions, SubscribeRequest};
//! use sip_event::summary::MessageSummary;
//! let mut subs: Subscriptions<&str> = Subscriptions::new(Limits::default());
//! let now = 1_000_000;
//! let (id, granted) = subs
//!     .subscribe(now, SubscribeRequest { tenant: 1, user: "1001".into(), expires: Some(600) }, 0, "dialog")
//!     .expect("within the limits");
//! assert_eq!(granted, 600);
//! // The counts are known: who must be told?
//! let due = subs.due(1, "1001", (2, 1));
//! assert_eq!(due, vec![id]);
//! let body = MessageSummary::new("sip:1001@example.com", 2, 1).to_body();
//! assert!(body.starts_with("Messages-Waiting: yes\r\n"));
//! subs.mark_sent(id, (2, 1));
//! assert!(subs.due(1, "1001", (2, 1)).is_empty());
//! ```

pub mod subscription;
pub mod summary;

/// The event package of message waiting (RFC 3842 §4).
pub const EVENT_MESSAGE_SUMMARY: &str = "message-summary";

/// The body type of message-summary NOTIFYs (RFC 3842 §5).
pub const CONTENT_TYPE: &str = "application/simple-message-summary";
