//! Chat rooms as sans-IO state: the wire protocol (version [`PROTOCOL_VERSION`]), per-room ordering
//! with epoch + offset ids, recovery after a reconnect, moderation and rate limits.
//!
//! Nothing here touches a socket, a clock or a database. The server drives a [`Room`]:
//! - [`protocol::decode`] turns a client's text frame into a [`ClientCommand`] (a pure function,
//!   fuzzed);
//! - [`Room::join`], [`Room::command`] and [`Room::moderate`] apply commands at a given wall-clock
//!   time (unix ms) and answer with a refusal carrying a machine-readable [`Reason`];
//! - accepted events are serialized once and queued; [`Room::take_batch`] hands the queue out as
//!   one frame that the server writes, byte for byte, to every connection, plus the events to
//!   persist.
//!
//! Every event of the ordered stream (messages and moderation actions) has an `offset`, increasing
//! by one per event within the room's `epoch`, and an `id` (`EPOCH-OFFSET`) that is unique across
//! rooms because epochs are random. A client that reconnects with its epoch and last offset gets
//! exactly the events after it, or is told that recovery was not possible.
#![forbid(unsafe_code)]

pub mod limits;
pub mod protocol;
mod room;
pub mod wire;

pub use limits::{sanitize_text, validate_name, TokenBucket};
pub use protocol::{decode, ClientCommand, ModAction, Reason, Refusal};
pub use room::{BanSeed, Batch, Credential, JoinOutcome, Role, Room, RoomConfig, RoomSeed};
pub use wire::{Event, EventKind, UserRef};

/// Version of the wire protocol, sent in `joined`; bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;
