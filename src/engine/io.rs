//! Reading and writing: large reads decoded a batch of packets at a time, everything pending written
//! in one call, acknowledgement timing (`settle_acks`), and the buffers' sizes. The constants' figures
//! come from docs/performance.md, which keeps the measurements behind them.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Engine, State};
use crate::completion::PublishState;
use crate::error::{Error, ErrorCode, Result};
use crate::net::{self, NetStream};
use crate::packet::{self, Packet, Publish};
use crate::session::{ConnState, OUT_RESERVE};
use crate::types::Protocol;

// The tuning constants keep one line of why each; docs/performance.md ("The tuning constants") has
// the measurements behind the values.

/// The read buffer's starting size and the room a read gets; a packet larger than it doubles it.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read in one turn before writes and callbacks get their turn.
const READ_BUDGET: usize = 16 * 1024;
/// Packets decoded in one turn: bounds the messages waiting for their callbacks, whatever their size.
pub(super) const TURN_PACKETS: usize = 64;
/// Buffers grown past this for a large packet shrink back once quiet (not after each packet); a
/// PUBLISH larger than this takes the read buffer as its payload instead of a copy.
pub(super) const BUFFER_KEEP: usize = 4 * 1024 * 1024;
/// While more than this many bytes wait to be written (in the write batch in hand and the session's
/// output), the loop reads nothing, so a broker that stops reading cannot make the client queue
/// acknowledgements (and PINGREQs) without end: TCP's own flow control then holds the broker back.
pub(crate) const OUTPUT_BOUND: usize = 1024 * 1024;
/// While more than this many events wait to be delivered (messages a manual `loop()` could not hand
/// to a full `messages()` channel), the loop reads nothing more, so that they stay bounded.
pub(crate) const PENDING_EVENTS_BOUND: usize = 1024;
/// How long `disconnect()` and `loop_stop()` wait for output that cannot be written (a broker that does
/// not read: no write took bytes for this long) before the loop gives up on it: `disconnect()` closes
/// without DISCONNECT having gone out, `loop_stop()` ends the loop thread.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How many quiet reads or recent write batches decide that a grown buffer may shrink.
pub(super) const SHRINK_AFTER: usize = 8;

pub(super) enum WriteOutcome {
    /// Everything pending was written.
    Flushed,
    /// The socket is full; the rest waits for it to become writable.
    Blocked,
    /// Everything was written and it ended with the DISCONNECT the user asked for.
    Disconnected,
}

/// A turn that read at most this many packets and wrote nothing acknowledges them at once.
const QUICKACK_PACKETS: usize = 2;
/// A turn that read more leaves the acknowledgement to the kernel, for at most this long.
const ACK_DELAY: Duration = Duration::from_millis(1);
/// A turn that read at least this many packets and emptied the socket is reading a stream.
const COALESCE_PACKETS: usize = 2;

/// What a turn read, from `settle_acks`.
pub(super) struct TurnRead {
    pub(super) packets: usize,
    /// The read emptied the socket (it did not stop at its budget with more to come).
    pub(super) drained: bool,
    /// Something is still to be written: the socket was full, or a callback published after the
    /// turn's write.
    pub(super) unwritten: bool,
}

impl TurnRead {
    /// How long to wait before the next poll, given the `read_coalescing_set` value and the
    /// caller's timeout (`loop(0)` never waits); `None`: poll at once.
    pub(super) fn coalesce_wait(
        &self,
        setting: Duration,
        timeout: Option<Duration>,
    ) -> Option<Duration> {
        let wait = timeout.map_or(setting, |t| t.min(setting));
        let stream = self.packets >= COALESCE_PACKETS && self.drained;
        (stream && !self.unwritten && !wait.is_zero()).then_some(wait)
    }
}

/// The socket and its buffers, behind the `io` lock. `Default`: no connection, empty buffers.
#[derive(Default)]
pub(super) struct Io {
    pub(super) stream: Option<Box<dyn NetStream>>,
    /// Read buffer: bytes `rstart..rend` are received and not yet decoded.
    pub(super) rbuf: Vec<u8>,
    pub(super) rstart: usize,
    pub(super) rend: usize,
    /// Write buffer taken from the session in one piece; `wpos` bytes of it are written.
    pub(super) wbuf: Vec<u8>,
    pub(super) wpos: usize,
    /// QoS 0 messages in `wbuf`, published once it is written.
    pub(super) wqos0: Vec<(u16, Arc<PublishState>)>,
    /// Bytes were read and nothing has been written since (so our ACK for them would be delayed).
    pub(super) ack_owed: bool,
    /// Whole packets decoded since the last `settle_acks`.
    pub(super) packets_in: usize,
    /// An acknowledgement left to the kernel's delayed ACK must have gone by then (see `settle_acks`).
    pub(super) ack_due: Option<Instant>,
    /// Read again without waiting for poll, which cannot see what is pending: the last read stopped
    /// at its budget on a stream whose layers buffer (TLS, websocket), or at `TURN_PACKETS` with
    /// whole packets left in `rbuf`.
    pub(super) read_more: bool,
    /// The last read emptied the socket: it ended on a short read or WouldBlock, not on its budget.
    pub(super) drained: bool,
    /// The lengths of the last `SHRINK_AFTER` write batches, in a ring (see `SHRINK_AFTER`).
    pub(super) recent_batches: [usize; SHRINK_AFTER],
    /// Write batches so far (wrapping): where the next length goes in `recent_batches`.
    pub(super) batches: usize,
    /// Reads into an empty read buffer since it last held more than `BUFFER_KEEP` (see `make_room`).
    pub(super) quiet_reads: usize,
    /// The whole length of the packet at `rstart` when its fixed header is in and its end is not
    /// (else 0): `make_room` makes room for exactly that much.
    pub(super) want: usize,
    /// When a write last took bytes (see `give_up_at`).
    pub(super) last_write: Option<Instant>,
}

impl Engine {
    /// If this turn read something and wrote nothing, see that it is acknowledged soon (see
    /// `net::quickack`). A turn that read a packet or two (a reply, a message now and then)
    /// acknowledges at once, so that a broker holding its next packet back for our ACK (Nagle) sends it
    /// now. A turn that read more is part of a stream: an ACK per turn would make the broker send a
    /// small segment per turn, and cost both sides a wake-up and a trip through the TCP stack each
    /// time, so the kernel goes back to delayed ACKs, which let the broker fill its segments; but no
    /// longer than `ACK_DELAY`, after which the next turn (the poll timeout sees to it) acknowledges.
    /// Returns what the turn read.
    pub(super) fn settle_acks(&self) -> TurnRead {
        let mut guard = self.io();
        let io = &mut *guard;
        let read = TurnRead {
            packets: std::mem::take(&mut io.packets_in),
            drained: io.drained,
            unwritten: wants_write(io, &self.state()),
        };
        let packets = read.packets;
        let owed = std::mem::take(&mut io.ack_owed);
        if !owed && io.ack_due.is_none() {
            return read;
        }
        let Some(stream) = io.stream.as_ref() else {
            return read;
        };
        let now = Instant::now();
        let overdue = io.ack_due.is_some_and(|due| now >= due);
        if owed && packets > QUICKACK_PACKETS && !overdue {
            stream.ack_later();
            io.ack_due.get_or_insert(now + ACK_DELAY);
        } else if owed || overdue {
            stream.ack_now();
            io.ack_due = None;
        }
        read
    }

    /// Reads what the socket has, in large chunks, and feeds every whole packet to the session, up
    /// to `TURN_PACKETS` of them; whole packets left from the last call go first.
    pub(super) fn read_in(&self) -> Result<()> {
        let mut guard = self.io();
        let io = &mut *guard;
        let mut total = 0;
        let mut decoded = 0;
        io.read_more = false;
        io.drained = false;
        if io.rstart < io.rend && self.handle_buffered(io, &mut decoded)? {
            io.read_more = true;
            return Ok(());
        }
        while total < READ_BUDGET {
            if io.stream.is_none() {
                return Ok(());
            }
            make_room(io);
            let Some(stream) = io.stream.as_mut() else {
                return Ok(());
            };
            let space = io.rbuf.len() - io.rend;
            match stream.read(&mut io.rbuf[io.rend..]) {
                Ok(0) => return Err(self.closed_early(&**stream, Error::ConnectionLost)),
                Ok(n) => {
                    io.rend += n;
                    total += n;
                    io.ack_owed = true;
                    let drains = stream.short_read_drains();
                    if self.handle_buffered(io, &mut decoded)? {
                        // The turn has its share: the rest is for the next one, at once.
                        io.read_more = true;
                        return Ok(());
                    }
                    if n < space && drains {
                        // The socket is drained: another read would only say WouldBlock. Whatever
                        // arrives next, poll (level-triggered) reports.
                        io.drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    io.drained = true;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Err(self.closed_early(&**stream, Error::ConnectionLost))
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(self.closed_early(&**stream, Error::Io(e)))
                }
                Err(e) => return Err(stream.error(e)),
            }
        }
        // The budget ran out. A layer that buffers may hold what poll cannot see: read on next turn.
        io.read_more = io.stream.as_ref().is_some_and(|s| !s.short_read_drains());
        Ok(())
    }

    /// The error for a connection the broker closed: if it did so before CONNACK and the stream's kind
    /// has a likely reason for that, a TLS error saying so.
    fn closed_early(&self, stream: &dyn net::NetStream, e: Error) -> Error {
        match stream.early_close_hint() {
            Some(hint) if self.state().session.state() == ConnState::Connecting => Error::tls_from(
                format!("the broker closed the connection before CONNACK ({e}); {hint}"),
                e,
            ),
            _ => e,
        }
    }

    /// Decodes the whole packets in the read buffer and hands each to the session, until `decoded`
    /// (counted across the calls of one turn) reaches `TURN_PACKETS`. Returns whether it stopped
    /// there, with whole packets perhaps left in the buffer.
    fn handle_buffered(&self, io: &mut Io, decoded: &mut usize) -> Result<bool> {
        let now = Instant::now();
        let mut st = self.state();
        // The connection's protocol decides the codec; on MQTT 5 this client's own Maximum Packet
        // Size bounds what it reads ([MQTT-3.1.2-24] has the server respect it).
        let v5 = st.session.protocol() == Protocol::V5;
        let max = st.session.max_incoming_remaining();
        let capped = loop {
            if *decoded >= TURN_PACKETS {
                break true;
            }
            let buf = &io.rbuf[io.rstart..io.rend];
            let framed = if v5 {
                packet::frame_v5(buf, max)?
            } else {
                packet::frame(buf, max)?
            };
            let Some(frame) = framed else {
                io.want = packet::declared_len(buf).unwrap_or(0);
                break false;
            };
            io.want = 0;
            let body = &buf[frame.header_len..frame.len()];
            let flags = frame.header & 0x0f;
            let is_publish = frame.header >> 4 == Publish::PACKET_TYPE;
            let packet = match (is_publish, v5) {
                (true, _) if frame.len() > BUFFER_KEEP && io.rstart + frame.len() == io.rend => {
                    // A large message alone in the buffer: the buffer becomes its payload rather
                    // than being copied into another as large (the next read gets a new one).
                    let mut whole = std::mem::take(&mut io.rbuf);
                    whole.truncate(io.rend);
                    // One move of the payload to the front, over whatever preceded it.
                    let body_at = io.rstart + frame.header_len;
                    io.rstart = 0;
                    io.rend = 0;
                    st.session.handle(
                        Packet::Publish(Publish::decode_taking(flags, whole, body_at, v5)?),
                        now,
                    )?;
                    io.packets_in += 1;
                    *decoded += 1;
                    continue;
                }
                (true, false) => {
                    let spare = st.session.spare_payload();
                    Packet::Publish(Publish::decode_reusing(flags, body, spare)?)
                }
                (true, true) => {
                    let spare = st.session.spare_payload();
                    Packet::Publish(Publish::decode_reusing_v5(flags, body, spare)?)
                }
                (false, false) => Packet::decode_frame(frame.header, body)?,
                (false, true) => Packet::decode_frame_v5(frame.header, body)?,
            };
            io.rstart += frame.len();
            io.packets_in += 1;
            *decoded += 1;
            st.session.handle(packet, now)?;
        };
        if io.rstart == io.rend {
            io.rstart = 0;
            io.rend = 0;
        }
        st.persist(false);
        Ok(capped)
    }

    /// Writes the pending output: first what is left of the batch in hand, then the session's whole
    /// output buffer, taken in one piece (swapped, so neither side allocates).
    pub(super) fn write_out(&self) -> Result<WriteOutcome> {
        let mut guard = self.io();
        let io = &mut *guard;
        let mut wrote = false;
        let outcome = loop {
            let Some(stream) = io.stream.as_mut() else {
                break Ok(WriteOutcome::Flushed);
            };
            if io.wpos >= io.wbuf.len() {
                if !io.wbuf.is_empty() {
                    io.recent_batches[io.batches % SHRINK_AFTER] = io.wbuf.len();
                    io.batches = io.batches.wrapping_add(1);
                }
                io.wbuf.clear();
                io.wpos = 0;
                let mut st = self.state();
                if wrote {
                    st.session.wrote(Instant::now());
                }
                for (mid, info) in io.wqos0.drain(..) {
                    info.set_published();
                    st.session.published(mid);
                }
                if io.wbuf.capacity() > BUFFER_KEEP {
                    let needed = io.recent_batches.iter().copied().max().unwrap_or(0);
                    let keep = needed.max(OUT_RESERVE);
                    if keep < io.wbuf.capacity() / 2 {
                        io.wbuf.shrink_to(keep);
                    }
                }
                // What the output describes is stored (and synced, as the store's policy asks)
                // before it is written.
                st.persist(true);
                st.session.take_output(&mut io.wbuf, &mut io.wqos0);
                if io.wbuf.is_empty() {
                    if stream.wants_flush() {
                        drop(st);
                        match stream.flush() {
                            Ok(()) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                break Ok(WriteOutcome::Blocked)
                            }
                            Err(e) => break Err(stream.error(e)),
                        }
                        st = self.state();
                    }
                    let done =
                        st.session.is_disconnecting() && st.session.state() != ConnState::Closed;
                    break Ok(if done {
                        WriteOutcome::Disconnected
                    } else {
                        WriteOutcome::Flushed
                    });
                }
                wrote = false;
            }
            let len = io.wbuf.len() - io.wpos;
            match stream.write(&io.wbuf[io.wpos..]) {
                Ok(0) => break Err(Error::ConnectionLost),
                Ok(n) => {
                    io.wpos += n;
                    wrote = true;
                    io.last_write = Some(Instant::now());
                    io.ack_owed = false;
                    io.ack_due = None;
                    if n < len {
                        // The socket is full: another write would only say WouldBlock.
                        break Ok(WriteOutcome::Blocked);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(WriteOutcome::Blocked),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(stream.error(e)),
            }
        };
        if wrote {
            self.state().session.wrote(Instant::now());
        }
        outcome
    }
}

/// Bytes waiting to be written: what is left of the write batch in hand and the session's output.
pub(crate) fn unsent(io: &Io, st: &State) -> usize {
    io.wbuf.len().saturating_sub(io.wpos) + st.session.output_len()
}

/// After `disconnect()` or `loop_stop()` (`ending_since`), when the loop stops waiting for output it
/// cannot write: `CLOSE_GRACE` after that call and after the last write that took bytes, if bytes are
/// still waiting then. `None` when nothing waits to be written (or neither call was made): waiting for
/// acknowledgements is not given up on.
pub(crate) fn give_up_at(io: &Io, st: &State) -> Option<Instant> {
    let since = st.ending_since?;
    if unsent(io, st) == 0 {
        return None;
    }
    let from = io.last_write.map_or(since, |w| w.max(since));
    Some(from + CLOSE_GRACE)
}

/// Whether the loop has bytes to write: left over in the write buffer, queued in the session, or
/// held by a layer of the stream. (`want_write` asks it too, for a connected client.)
pub(crate) fn wants_write(io: &Io, st: &State) -> bool {
    io.wpos < io.wbuf.len()
        || st.session.has_output()
        || io.stream.as_ref().is_some_and(|s| s.wants_flush())
}

impl Io {
    pub(super) fn new() -> Io {
        Io {
            wbuf: Vec::with_capacity(OUT_RESERVE),
            ..Io::default()
        }
    }

    /// Empties the buffers for a new (or no) connection; QoS 0 messages in the write buffer are lost,
    /// their `MessageInfo`s reporting `rc`.
    pub(super) fn reset(&mut self, rc: ErrorCode) {
        self.ack_owed = false;
        self.packets_in = 0;
        self.ack_due = None;
        self.read_more = false;
        self.drained = false;
        self.rstart = 0;
        self.rend = 0;
        self.want = 0;
        if self.rbuf.len() > BUFFER_KEEP {
            self.rbuf = Vec::new();
        }
        self.wbuf.clear();
        self.wpos = 0;
        for (_, info) in self.wqos0.drain(..) {
            info.set_discarded(rc);
        }
    }
}

/// Makes room for the next read: moves undecoded bytes (a partial packet) to the front, grows (by
/// doubling, but never past the end of a large packet whose header is in: `Io::want`) when less than
/// half a `READ_CHUNK` is left,
/// and shrinks back once a buffer grown past `BUFFER_KEEP` has been empty at `SHRINK_AFTER` reads in a
/// row without holding more than that again: a stream of large packets keeps it (shrinking after each
/// made every next one grow it again by doubling, copying and faulting it in), and a burst that is over
/// gives it back.
fn make_room(io: &mut Io) {
    if io.rend > BUFFER_KEEP {
        io.quiet_reads = 0;
    }
    if io.rstart == io.rend && io.rbuf.len() > BUFFER_KEEP {
        io.rstart = 0;
        io.rend = 0;
        if io.quiet_reads >= SHRINK_AFTER {
            io.rbuf = Vec::new();
        } else {
            io.quiet_reads += 1;
        }
    }
    // A large packet whose length is known grows the buffer up to exactly its end, no further (a
    // doubling past it left up to as much again unused: a 256 MB message cost 2.9 times its size).
    // Still by doubling as its bytes arrive, not at once: a header alone, which costs the sender
    // five bytes, must not make the client allocate the length it claims.
    let large = io.want > READ_CHUNK && io.want > io.rend - io.rstart;
    if large && io.rbuf.len() - io.rstart >= io.want {
        return;
    }
    if !large && io.rbuf.len() - io.rend >= READ_CHUNK {
        return;
    }
    if io.rstart > 0 {
        io.rbuf.copy_within(io.rstart..io.rend, 0);
        io.rend -= io.rstart;
        io.rstart = 0;
    }
    if io.rbuf.len() - io.rend < READ_CHUNK / 2 {
        let mut len = (io.rbuf.len() * 2).max(io.rend + READ_CHUNK);
        if large {
            len = len.min(io.want);
        }
        if len > io.rbuf.len() {
            // A new zeroed allocation (calloc) rather than `resize` (memset): fresh pages from the
            // kernel are zero already and stay out of resident memory until a read reaches them.
            let mut grown = vec![0; len];
            grown[..io.rend].copy_from_slice(&io.rbuf[..io.rend]);
            io.rbuf = grown;
        }
    }
}

#[cfg(test)]
mod buffer_tests {
    use super::*;
    use crate::engine::READ_COALESCING;

    #[test]
    fn only_a_turn_that_caught_up_with_a_stream_waits_and_never_past_the_callers_timeout() {
        let read = |packets, drained| TurnRead {
            packets,
            drained,
            unwritten: false,
        };
        let us = Duration::from_micros;
        let d = READ_COALESCING;
        // Two packets or more, socket emptied: a stream, so wait.
        assert_eq!(read(2, true).coalesce_wait(d, None), Some(d));
        assert_eq!(read(180, true).coalesce_wait(d, None), Some(d));
        // A reply or a lone message (ping-pong latency), or nothing at all (idle): poll at once.
        assert_eq!(read(1, true).coalesce_wait(d, None), None);
        assert_eq!(read(0, true).coalesce_wait(d, None), None);
        // The read stopped at its budget with more waiting: falling behind, so no waiting.
        assert_eq!(read(180, false).coalesce_wait(d, None), None);
        // Bytes still to write (a full socket, a publish from a callback): they go first.
        let pending = TurnRead {
            packets: 5,
            drained: true,
            unwritten: true,
        };
        assert_eq!(pending.coalesce_wait(d, None), None);
        // Turned off, or `loop(0)`; a shorter timeout shortens the wait.
        assert_eq!(read(5, true).coalesce_wait(Duration::ZERO, None), None);
        assert_eq!(read(5, true).coalesce_wait(d, Some(Duration::ZERO)), None);
        assert_eq!(
            read(5, true).coalesce_wait(us(50), Some(us(10))),
            Some(us(10))
        );
        assert_eq!(
            read(5, true).coalesce_wait(us(50), Some(Duration::from_secs(1))),
            Some(us(50))
        );
    }

    #[test]
    fn a_partial_packet_moves_to_the_front_and_the_buffer_keeps_its_size() {
        let mut io = Io::default();
        make_room(&mut io);
        assert_eq!(io.rbuf.len(), READ_CHUNK);
        // A read filled the buffer and everything but the first 100 bytes of a packet was decoded.
        io.rend = READ_CHUNK;
        io.rstart = READ_CHUNK - 100;
        io.rbuf[io.rstart] = 0x30;
        make_room(&mut io);
        assert_eq!(
            io.rbuf.len(),
            READ_CHUNK,
            "grew around a small partial packet"
        );
        assert_eq!((io.rstart, io.rend), (0, 100));
        assert_eq!(io.rbuf[0], 0x30);
    }

    /// A packet of `total` bytes (counting what the buffer already holds) arriving in reads that fill
    /// the buffer, with room made before each. Returns how many times the buffer moved.
    fn assemble(io: &mut Io, total: usize) -> usize {
        let mut moved = 0;
        while io.rend < total {
            let end = io.rbuf.len().min(total);
            io.rbuf[io.rend..end].fill(7);
            io.rend = end;
            let before = io.rbuf.as_ptr();
            make_room(io);
            moved += usize::from(io.rbuf.as_ptr() != before);
            assert!(io.rbuf[..io.rend].iter().all(|&b| b == 7));
        }
        moved
    }

    #[test]
    fn a_large_packet_of_known_length_grows_the_buffer_to_its_end_and_no_further() {
        let mut io = Io::default();
        make_room(&mut io);
        // A header claiming 10 MB: the buffer does not grow for what has not arrived.
        let total = 10_000_000;
        io.want = total;
        io.rbuf[..5].fill(7); // (make_room reads only `want`, not the header itself)
        io.rend = 5;
        make_room(&mut io);
        assert_eq!(io.rbuf.len(), READ_CHUNK);
        // As its bytes arrive (each read filling the room made) the buffer doubles, and its last
        // growth ends exactly at the packet's end.
        while io.rend < total {
            io.rend = io.rbuf.len().min(total);
            if io.rend < total {
                make_room(&mut io);
            }
        }
        assert_eq!(io.rbuf.len(), total);
    }

    #[test]
    fn a_packet_larger_than_the_buffer_doubles_it_and_it_shrinks_back_once_quiet() {
        let mut io = Io::default();
        make_room(&mut io);
        let mut len = io.rbuf.len();
        // One packet arriving in buffer-filling reads: the buffer doubles, keeping what it holds.
        while len <= BUFFER_KEEP {
            io.rbuf[io.rend..].fill(7);
            io.rend = len;
            make_room(&mut io);
            assert_eq!(io.rbuf.len(), len * 2);
            assert!(io.rbuf[..io.rend].iter().all(|&b| b == 7));
            len *= 2;
        }
        // Decoded (the loop then starts the buffer over). Small traffic follows: the buffer past
        // BUFFER_KEEP is kept for SHRINK_AFTER reads into it, then goes back to the starting size.
        io.rstart = 0;
        io.rend = 0;
        for i in 0..SHRINK_AFTER {
            make_room(&mut io);
            assert_eq!(io.rbuf.len(), len, "shrunk at quiet read {i}");
        }
        make_room(&mut io);
        assert_eq!((io.rbuf.len(), io.rstart, io.rend), (READ_CHUNK, 0, 0));
    }

    /// A stream of packets past `BUFFER_KEEP`, each followed by a few reads of small ones, grows the
    /// buffer for the first and then keeps it: it never moves again.
    #[test]
    fn a_stream_of_large_packets_keeps_the_read_buffer() {
        let big = BUFFER_KEEP + BUFFER_KEEP / 4;
        let mut io = Io::default();
        make_room(&mut io);
        assert!(assemble(&mut io, big) > 0);
        for packet in 0..2 * SHRINK_AFTER {
            io.rstart = 0;
            io.rend = 0;
            for _ in 0..SHRINK_AFTER / 2 {
                make_room(&mut io);
            }
            assert_eq!(
                assemble(&mut io, big),
                0,
                "packet {packet} moved the buffer"
            );
        }
    }
}
