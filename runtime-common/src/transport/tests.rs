//! The transports against scripted raw reads and writes: partial writes,
//! `WouldBlock` in the middle, and what each reports as written.

use super::{OutQueue, Transport, MAX_IOV};
use crate::tls::tests::{connect, Files};
use crate::tls::Plain;
use crate::written::Released;
use chat_core::{Payload, MAX_READ};
use std::collections::VecDeque;
use std::io::{self, IoSlice};

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// A raw read that hands out `chunks` in turn, each followed by one
/// `WouldBlock`, then the end of the stream.
fn scripted_reads(chunks: Vec<Vec<u8>>) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
    let mut chunks: VecDeque<Vec<u8>> = chunks.into();
    let mut blocked = false;
    move |buf: &mut [u8]| {
        if blocked {
            blocked = false;
            return Err(would_block());
        }
        let Some(mut chunk) = chunks.pop_front() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            chunks.push_front(chunk.split_off(n));
        } else {
            blocked = true;
        }
        Ok(n)
    }
}

/// A raw write that takes at most `budget` bytes in all, then would block.
fn budgeted_writes<'a>(
    budget: &'a mut usize,
    out: &'a mut Vec<u8>,
) -> impl FnMut(&[IoSlice<'_>]) -> io::Result<usize> + 'a {
    move |slices: &[IoSlice<'_>]| {
        if *budget == 0 {
            return Err(would_block());
        }
        let mut took = 0;
        for slice in slices {
            let n = slice.len().min(*budget - took);
            out.extend_from_slice(&slice[..n]);
            took += n;
            if took == *budget {
                break;
            }
        }
        *budget -= took;
        Ok(took)
    }
}

fn queue_of(lines: &[&str]) -> OutQueue {
    let mut queue = OutQueue::default();
    for line in lines {
        queue.push(Payload::new(line.as_bytes()));
    }
    queue
}

#[test]
fn plain_reads_hand_each_chunk_over_and_free_the_buffer_while_waiting() {
    let mut transport = Transport::plain();
    let mut socket = scripted_reads(vec![b"hello\n".to_vec(), b"bye\n".to_vec()]);
    let mut buffer = Vec::new();
    assert!(transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("reads"));
    assert_eq!(buffer, b"hello\n");
    let blocked = transport.inbound.read(&mut socket, &mut buffer);
    assert_eq!(
        blocked.expect_err("blocks").kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(buffer.capacity(), 0, "a waiting connection keeps no buffer");
    assert!(transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("reads"));
    assert_eq!(buffer, b"bye\n");
    transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect_err("blocks");
    assert!(!transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("ends"));
}

#[test]
fn plain_reads_take_at_most_max_read_bytes() {
    let mut transport = Transport::plain();
    let mut socket = scripted_reads(vec![vec![b'x'; MAX_READ + 10]]);
    let mut buffer = Vec::new();
    assert!(transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("reads"));
    assert_eq!(buffer.len(), MAX_READ);
    assert!(transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("reads"));
    assert_eq!(buffer.len(), 10);
}

#[test]
fn a_plain_write_cut_short_reports_the_bytes_and_the_payloads_taken_whole() {
    let mut transport = Transport::plain();
    let mut queue = queue_of(&["ab", "cde", "f"]);
    let (mut budget, mut out) = (4, Vec::new());
    let released = transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out))
        .expect("writes");
    assert_eq!(released, Released { len: 4, sends: 1 });
    let blocked = transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out));
    assert_eq!(
        blocked.expect_err("blocks").kind(),
        io::ErrorKind::WouldBlock
    );
    let mut budget = 100;
    let released = transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out))
        .expect("writes");
    assert_eq!(released, Released { len: 2, sends: 2 });
    assert_eq!(out, b"abcdef");
    assert!(queue.is_empty());
    assert!(!transport.outbound.has_unsent());
    assert!(transport.outbound.close().is_empty());
}

#[test]
fn a_long_queue_goes_out_in_one_write_of_at_most_max_iov_slices() {
    let mut transport = Transport::plain();
    let lines: Vec<String> = (0..MAX_IOV + 5).map(|i| format!("{i}\n")).collect();
    let mut queue = queue_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let mut slices_seen = Vec::new();
    let mut out = Vec::new();
    let mut socket = |slices: &[IoSlice<'_>]| {
        slices_seen.push(slices.len());
        let taken: usize = slices.iter().map(|s| s.len()).sum();
        slices.iter().for_each(|s| out.extend_from_slice(s));
        Ok(taken)
    };
    let first = transport
        .outbound
        .write(&mut queue, &mut socket)
        .expect("writes");
    let second = transport
        .outbound
        .write(&mut queue, &mut socket)
        .expect("writes");
    assert_eq!(slices_seen, [MAX_IOV, 5]);
    assert_eq!((first.sends, second.sends), (MAX_IOV, 5));
    assert_eq!(out, lines.concat().as_bytes());
    assert!(queue.is_empty());
}

#[test]
fn a_socket_that_takes_nothing_is_a_failed_write() {
    let mut transport = Transport::plain();
    let mut queue = queue_of(&["ab"]);
    let error = transport
        .outbound
        .write(&mut queue, &mut |_: &[IoSlice<'_>]| Ok(0))
        .expect_err("fails");
    assert_eq!(error.kind(), io::ErrorKind::WriteZero);
}

#[test]
fn a_tls_write_reports_its_plaintext_once_every_record_of_it_is_out() {
    let files = Files::new("transport-write");
    let (server, (mut client_reader, _)) = connect(&files);
    let mut transport = Transport::tls(server);
    assert!(!transport.outbound.is_transparent());
    let mut queue = queue_of(&["hello\n", "world\n"]);
    let (mut budget, mut out) = (5, Vec::new());
    let released = transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out))
        .expect("writes");
    assert_eq!(released, Released::default(), "records are not all out yet");
    assert!(transport.outbound.has_unsent());
    assert!(queue.is_empty(), "sealed payloads leave the queue");
    transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out))
        .expect_err("blocks");
    let mut budget = usize::MAX;
    let released = transport
        .outbound
        .write(&mut queue, &mut budgeted_writes(&mut budget, &mut out))
        .expect("writes");
    assert_eq!(released, Released { len: 12, sends: 2 });
    assert!(!transport.outbound.has_unsent());
    client_reader.feed(&out).expect("the client decrypts");
    let mut plain = Vec::new();
    assert_eq!(
        client_reader.read_plain(&mut plain).expect("reads"),
        Plain::Bytes(12)
    );
    assert_eq!(plain, b"hello\nworld\n");
    client_reader
        .feed(&transport.outbound.close())
        .expect("takes close_notify");
    assert_eq!(
        client_reader.read_plain(&mut plain).expect("reads"),
        Plain::Closed
    );
}

#[test]
fn a_tls_read_waits_through_records_cut_anywhere() {
    let files = Files::new("transport-read");
    let (server, (_, mut client_writer)) = connect(&files);
    let mut transport = Transport::tls(server);
    let text = b"a line the client sent\n";
    client_writer.seal(&[IoSlice::new(text)]);
    let records = client_writer.unsent().to_vec();
    client_writer.wrote(records.len());
    // Three bytes at a time, each followed by a `WouldBlock`.
    let mut socket = scripted_reads(records.chunks(3).map(<[u8]>::to_vec).collect());
    let mut buffer = Vec::new();
    let mut blocks = 0;
    loop {
        match transport.inbound.read(&mut socket, &mut buffer) {
            Ok(true) => break,
            Ok(false) => panic!("the stream ended early"),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                assert_eq!(buffer.capacity(), 0, "a waiting connection keeps no buffer");
                blocks += 1;
            }
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(buffer, text);
    assert!(blocks > 1, "the record came in pieces");
    transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect_err("blocks after the last piece");
    assert!(!transport
        .inbound
        .read(&mut socket, &mut buffer)
        .expect("ends"));
}
