//! The plain transport: room bytes are raw bytes.

use super::{retrying, Inbound, OutQueue, Outbound, RawRead, RawWrite};
use crate::written::Released;
use chat_core::MAX_READ;
use std::io;

/// Reads straight into the room's buffer.
#[derive(Debug)]
pub(super) struct PlainInbound;

impl Inbound for PlainInbound {
    fn read(&mut self, socket: &mut RawRead<'_>, buffer: &mut Vec<u8>) -> io::Result<bool> {
        buffer.resize(MAX_READ, 0);
        match retrying(|| socket(buffer)) {
            Ok(n) => {
                buffer.truncate(n);
                Ok(n > 0)
            }
            Err(error) => {
                // Waiting (or over): the buffer's memory goes back.
                *buffer = Vec::new();
                Err(error)
            }
        }
    }
}

/// Writes the shared payloads themselves, with one vectored write.
#[derive(Debug)]
pub(super) struct PlainOutbound;

impl Outbound for PlainOutbound {
    fn write(&mut self, queue: &mut OutQueue, socket: &mut RawWrite<'_>) -> io::Result<Released> {
        if queue.is_empty() {
            return Ok(Released::default());
        }
        let written = queue.with_front_slices(|slices| retrying(|| socket(slices)))?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        queue.consume(written);
        Ok(queue.release(written))
    }

    fn has_unsent(&self) -> bool {
        false
    }

    fn close(&mut self) -> Vec<u8> {
        Vec::new()
    }

    fn is_transparent(&self) -> bool {
        true
    }
}
