//! What the room needs of one connection's handle, whatever carries the
//! bytes between the room and the connection's reader and writer.

use crate::written::Released;
use chat_core::{CloseMode, Payload};

/// The room's handle on one connection: where its sends go, how it is
/// closed, where its reader's buffer goes back, and what its writer
/// released.
///
/// A runtime implements it once for its own handle (channels to threads,
/// cells shared with tasks); the connection table ([`Links`](super::Links))
/// and the room driver ([`RoomDriver`](super::RoomDriver)) are generic over
/// it, so a send costs no dynamic dispatch.
pub trait Link {
    /// Queues `bytes` for the connection's writer. Returns `true` when the
    /// link now holds payloads that wait for [`hand_over`](Link::hand_over)
    /// and held none before: the table lists it once, and hands it over when
    /// the runtime says a burst of messages ended. A link that hands every
    /// payload to its writer at once returns `false`.
    fn send(&mut self, bytes: Payload) -> bool;

    /// Hands the writer every payload [`send`](Link::send) queued since the
    /// last call. Nothing for a link that hands over at once.
    fn hand_over(&mut self) {}

    /// Carries out the room's `Close`: [`CloseMode::Flush`] writes what is
    /// queued first (bounded in time), [`CloseMode::Abort`] stops at once.
    /// The last call on the link; its reader stops handing reads in.
    fn close(self, mode: CloseMode);

    /// Hands the reader `buffer` back, the room having handled the read it
    /// came with: its credit for one more read.
    fn give_back(&self, buffer: Vec<u8>);

    /// What the writer released (bytes its socket took, payloads it
    /// dropped) that the room was not told yet, now counted as told.
    fn take_written(&self) -> Released;
}
