//! Opening a connection (the transport, then CONNECT), closing one cleanly or on a failure, and
//! `disconnect()`.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::backoff::Closed;
use super::{Engine, Handler, Notice};
use crate::error::{Error, ErrorCode, Result};
use crate::net::{self, NetStream, Waker};
use crate::packet::Connect;
use crate::packet::DecodeError;
use crate::properties::{PacketTypes, Properties};
use crate::reason::ReasonCode;
use crate::types::{DisconnectFlags, LogLevel, Protocol};

impl Engine {
    /// Opens a connection to where the handler says and queues CONNECT. Any current connection is
    /// closed first (with `on_socket_close`, without `on_disconnect`, as Paho's `reconnect`).
    ///
    /// Connecting blocks (up to the plan's timeout per step) without holding a lock, so `disconnect()`,
    /// or `loop_stop()` for the loop's own reconnects (`from_loop`), can land meanwhile. Then the new
    /// connection is closed unused, before CONNECT: it was asked for by nobody any more.
    ///
    /// One thread opens at a time. A second one (`connect()` on a user's thread while the `loop_start`
    /// thread connects after `connect_async`, or the other way round) waits for the first and, if that
    /// produced a connection, uses it rather than opening another beside it.
    ///
    /// `seen`, for `connect()`: the count of connections installed ([`opened_count`]) before it
    /// recorded its host. The `loop_start` thread may see that host and open and install a
    /// connection before `connect()` gets here; then that one is used, not replaced by a second.
    /// `reconnect()` passes `None`: it always opens anew.
    ///
    /// With a list of servers (`connect_urls`) it tries each once, in order, from the one after the
    /// server of the last connection (the first one after a new list); a failure that leaves servers
    /// to try is logged, and the last one is returned.
    ///
    /// [`opened_count`]: Engine::opened_count
    pub(crate) fn open_connection(&self, h: &dyn Handler, seen: Option<u64>) -> Result<()> {
        self.state().rotation.begin_round();
        loop {
            match self.open(h, false, seen) {
                Ok(()) => return Ok(()),
                Err(f) if f.round_over => return Err(f.error),
                Err(f) => h.log(
                    LogLevel::Warning,
                    &format!(
                        "Connecting to {} failed: {}; trying the next server",
                        f.server, f.error
                    ),
                ),
            }
        }
    }

    /// The loop's [`open_connection`](Engine::open_connection), one attempt: `seen` is the count of
    /// connections installed when it found no socket. If another thread's `connect()` installed one
    /// since (it may have done so entirely between that look and this call), that one is used, not
    /// replaced.
    pub(super) fn open_connection_since(&self, h: &dyn Handler, seen: u64) -> Result<(), Failed> {
        self.open(h, true, Some(seen))
    }

    /// Connections installed so far (see [`open_connection`](Engine::open_connection)).
    pub(crate) fn opened_count(&self) -> u64 {
        self.state().opened
    }

    /// One attempt, at the server the rotation names; the rotation learns how it went.
    fn open(&self, h: &dyn Handler, from_loop: bool, seen: Option<u64>) -> Result<(), Failed> {
        let Some(_opening) = self.claim_opening(seen) else {
            return Ok(());
        };
        h.notify(Notice::PreConnect);
        let next = self.state().rotation.next();
        let plan = h.plan(next).map_err(|error| Failed {
            error,
            server: String::new(),
            round_over: true,
        })?;
        if let Some(old) = self.take_stream() {
            self.unregister_closing(h, old.raw_fd());
            h.notify(Notice::SocketClose(old.raw_fd()));
        }
        let stream = match net::open(&plan.target, plan.timeout) {
            Ok(stream) => stream,
            Err(error) => {
                let round_over = self.state().rotation.failed(plan.servers);
                return Err(Failed {
                    error,
                    server: plan.target.describe(),
                    round_over,
                });
            }
        };
        {
            let mut st = self.state();
            st.rotation.opened(plan.servers);
            if st.disconnect_requested || (from_loop && self.stop.load(Ordering::SeqCst)) {
                drop(st);
                drop(stream);
                h.log(
                    LogLevel::Debug,
                    &format!(
                        "Connected to {} after disconnect() or loop_stop(): closed unused",
                        plan.target.describe()
                    ),
                );
                return Ok(());
            }
        }
        // No log line for the socket itself: Paho's first line is "Sending CONNECT ...".
        self.install_stream(h, stream, &h.connect_packet());
        Ok(())
    }

    /// Waits while another thread opens a connection, then claims the right to open one; `None` when
    /// the other thread's opening produced a connection meanwhile (use that one), or, given `seen`,
    /// when any connection was installed after the caller counted `seen` of them.
    fn claim_opening(&self, seen: Option<u64>) -> Option<Opening<'_>> {
        let mut st = self.state();
        let before = seen.unwrap_or(st.opened);
        let mut waited = false;
        while st.opening {
            waited = true;
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        // Only the count is compared: `io` may not be taken under `state` (lock order).
        if (waited || seen.is_some()) && st.opened != before {
            return None;
        }
        st.opening = true;
        Some(Opening { engine: self })
    }

    /// Hands a freshly connected stream to the loop and queues CONNECT on it.
    fn install_stream(&self, h: &dyn Handler, stream: Box<dyn NetStream>, connect: &Connect) {
        let fd = stream.raw_fd();
        {
            let mut io = self.io();
            io.reset(ErrorCode::ConnLost);
            io.stream = Some(stream);
            let mut st = self.state();
            st.opened += 1;
            st.session.connection_opened(connect, Instant::now());
        }
        self.cv.notify_all();
        h.notify(Notice::SocketOpen(fd));
        // CONNECT waits to be written.
        self.update_write_registration(h);
    }

    /// For the crate's own tests: connects through a stream of the test's making (for instance one that
    /// counts writes), as `connect` would through a socket it opened: CONNECT is queued, nothing written.
    #[cfg(test)]
    pub(crate) fn adopt_stream(&self, h: &dyn Handler, stream: Box<dyn NetStream>) {
        self.install_stream(h, stream, &h.connect_packet());
    }

    /// Takes the socket out (closing the session's connection state) without any notice.
    fn take_stream(&self) -> Option<Box<dyn NetStream>> {
        let mut io = self.io();
        let stream = io.stream.take();
        io.reset(ErrorCode::ConnLost);
        self.state().session.connection_closed();
        stream
    }

    /// Closes the connection and runs `on_socket_close` and `on_disconnect`; `reason` is `None` for the
    /// clean close after `disconnect()`. Does nothing if already closed.
    #[inline(never)]
    pub(super) fn close_connection(&self, h: &dyn Handler, reason: Option<&Error>) {
        let Some(mut stream) = self.take_stream() else {
            return;
        };
        if reason.is_none() {
            stream.close();
        }
        self.signal.notify();
        self.unregister_closing(h, stream.raw_fd());
        h.notify(Notice::SocketClose(stream.raw_fd()));
        drop(stream);
        let from_server = match reason {
            Some(Error::ServerDisconnected(_)) => self.state().server_disconnect.take(),
            _ => None,
        };
        let closed = match (&from_server, reason) {
            // Our own disconnect() says nothing about the broker.
            (_, None) => self.state().backoff.ended_by_us(),
            // The credentials failed: again at once fails the same way.
            (_, Some(Error::AuthenticationFailed(_))) => self.state().backoff.rejected(),
            // A reason meaning "again at once fails the same way" backs off, whenever it comes.
            (Some((rc, props)), _) if again_fails(rc.value()) => {
                h.log(
                    LogLevel::Warning,
                    &format!(
                        "The server disconnected: {rc}{}; the next connection waits for the backoff",
                        props
                            .reason_string()
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default()
                    ),
                );
                self.state().backoff.rejected()
            }
            _ => self.state().backoff.closed(Instant::now()),
        };
        let (flags, rc, props) = match from_server {
            Some((rc, props)) => (
                DisconnectFlags {
                    is_disconnect_packet_from_server: true,
                },
                rc,
                props,
            ),
            None => (
                DisconnectFlags::default(),
                match reason {
                    None => ReasonCode::disconnect(0),
                    Some(Error::Keepalive) => ReasonCode::disconnect(0x8d),
                    // Paho's mapping of MQTT_ERR_PROTOCOL.
                    Some(Error::Protocol { .. }) => ReasonCode::disconnect(0x82),
                    // The DISCONNECT we sent for it.
                    Some(Error::AuthenticationFailed(code)) => ReasonCode::disconnect(*code),
                    Some(_) => ReasonCode::disconnect(0x80),
                },
                Properties::new(PacketTypes::DISCONNECT),
            ),
        };
        let v1_rc = v1_disconnect_rc(reason, self.state().session.protocol());
        h.notify(Notice::Disconnect(flags, rc, &props, v1_rc));
        if let Closed::ShortLived(n) = closed {
            h.log(
                LogLevel::Warning,
                &format!(
                    "The broker closed the last {n} connections soon after accepting them: another \
                     client is probably using the same client id"
                ),
            );
        }
        self.cv.notify_all();
    }

    /// Logs why the connection failed, delivers what arrived before the failure (so nothing decoded is
    /// left to surface after a reconnect), closes the connection, and hands the error back.
    pub(super) fn fail(&self, h: &dyn Handler, e: Error) -> Error {
        let level = if matches!(e, Error::Protocol { .. }) {
            LogLevel::Err
        } else {
            LogLevel::Warning
        };
        h.log(level, &format!("Connection closed: {e}"));
        // A refusal among these changes nothing: the connection closes anyway.
        let _ = self.dispatch(h);
        if let Error::Protocol { source, .. } = &e {
            // MQTT 5: say why before closing ([MQTT-4.13.1-1]), best effort. The session knows the
            // reason for what it refused; a packet the codec refused is Malformed (0x81), or Packet
            // too large (0x95) when over this client's Maximum Packet Size.
            let code = match source
                .as_deref()
                .and_then(|s| s.downcast_ref::<DecodeError>())
            {
                Some(DecodeError::PacketTooLarge { .. }) => Some(0x95),
                Some(_) => Some(0x81),
                None => None,
            };
            self.state().session.violation_disconnect(code);
            let _ = self.write_out();
        }
        if let Error::AuthenticationFailed(_) = &e {
            // The DISCONNECT `dispatch` queued for it, best effort.
            let _ = self.write_out();
        }
        self.close_connection(h, Some(&e));
        e
    }

    /// `disconnect()`: queues DISCONNECT (with `reason` and `props` on MQTT 5) and makes the loop end
    /// once the connection is closed (a reconnect wait is cut short). Fails with `NoConn` when there is
    /// no connection; the loop still stops.
    pub(crate) fn disconnect(
        &self,
        h: &dyn Handler,
        reason: u8,
        props: Option<&Properties>,
    ) -> Result<()> {
        let r = {
            let mut st = self.state();
            st.disconnect_requested = true;
            let r = st.session.disconnect(reason, props);
            if r.is_ok() {
                st.ending_since.get_or_insert_with(Instant::now);
            }
            r
        };
        self.interrupt_delivery();
        self.cv.notify_all();
        if let Some(w) = self.waker() {
            w.wake();
        }
        if r.is_ok() {
            self.kick(h);
        }
        r
    }

    /// `reconnect()`'s check: a host must have been given; a `disconnect()` before no longer holds.
    pub(crate) fn prepare_reconnect(&self, h: &dyn Handler) -> Result<()> {
        if !h.has_target() {
            return Err(Error::invalid(
                "host",
                "reconnect() needs a host: call connect() or connect_async() first",
            ));
        }
        let mut st = self.state();
        st.disconnect_requested = false;
        st.ending_since = None;
        Ok(())
    }

    pub(super) fn socket_open(&self) -> bool {
        self.io().stream.is_some()
    }

    pub(super) fn ensure_waker(&self) -> Result<&Waker> {
        self.waker
            .get_or_init(|| Waker::new().ok())
            .as_ref()
            .ok_or_else(|| {
                Error::Io(io::Error::other(
                    "could not create the loop's wake-up socket pair",
                ))
            })
    }
}

/// A failed attempt to open a connection: why, to which server, and whether it was the last server
/// of a round (every server of the list failed once since the round began; always, with one server).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: Error,
    /// The server, as `host:port` (empty when there was none to try).
    pub(crate) server: String,
    pub(crate) round_over: bool,
}

/// The right to open a connection, held while one thread opens; dropping it (however the opening
/// ends) lets a waiting thread go on.
struct Opening<'a> {
    engine: &'a Engine,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.engine.state().opening = false;
        self.engine.cv.notify_all();
    }
}

/// Whether a server's DISCONNECT reason means that connecting again at once would fail the same way:
/// Session taken over, Packet too large, Quota exceeded, Banned, Use another server, Server moved,
/// Server busy, Server unavailable.
fn again_fails(reason: u8) -> bool {
    matches!(
        reason,
        0x8e | 0x95 | 0x97 | 0x8a | 0x9c | 0x9d | 0x89 | 0x88
    )
}

/// Paho's VERSION1 `on_disconnect` rc for a connection closed because of `reason` (`None`: after
/// `disconnect()`): `MQTT_ERR_SUCCESS`, `MQTT_ERR_KEEPALIVE` when the broker stopped answering (or no
/// CONNACK came), `MQTT_ERR_PROTOCOL` for a protocol error, `MQTT_ERR_CONN_REFUSED` after a refused
/// MQTT 3.x CONNACK with one of the codes 1..=5 (Paho's `_handle_connack` gives `MQTT_ERR_PROTOCOL`
/// for any other code, every MQTT 5 reason code included), and `MQTT_ERR_CONN_LOST` for a read or
/// write that failed or found the socket closed (Paho's mapping of every `OSError`).
fn v1_disconnect_rc(reason: Option<&Error>, protocol: Protocol) -> ErrorCode {
    match reason {
        None => ErrorCode::Success,
        Some(Error::Keepalive) => ErrorCode::Keepalive,
        Some(Error::Protocol { .. }) => ErrorCode::Protocol,
        Some(Error::ConnectionRefused(code))
            if protocol != Protocol::V5 && (1..=5).contains(code) =>
        {
            ErrorCode::ConnRefused
        }
        Some(Error::ConnectionRefused(_)) => ErrorCode::Protocol,
        Some(_) => ErrorCode::ConnLost,
    }
}

#[cfg(test)]
mod v1_rc_tests {
    use super::*;

    /// Each way a connection ends gives Paho's VERSION1 rc.
    #[test]
    fn each_cause_gives_pahos_version1_rc() {
        let v311 = Protocol::V311;
        assert_eq!(v1_disconnect_rc(None, v311), ErrorCode::Success);
        assert_eq!(
            v1_disconnect_rc(Some(&Error::Keepalive), v311),
            ErrorCode::Keepalive
        );
        assert_eq!(
            v1_disconnect_rc(Some(&Error::protocol("bad")), v311),
            ErrorCode::Protocol
        );
        assert_eq!(
            v1_disconnect_rc(Some(&Error::ConnectionLost), v311),
            ErrorCode::ConnLost
        );
        let reset = Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(v1_disconnect_rc(Some(&reset), v311), ErrorCode::ConnLost);
        for code in 1..=5 {
            let refused = Error::ConnectionRefused(code);
            assert_eq!(
                v1_disconnect_rc(Some(&refused), v311),
                ErrorCode::ConnRefused
            );
            assert_eq!(
                v1_disconnect_rc(Some(&refused), Protocol::V5),
                ErrorCode::Protocol
            );
        }
        assert_eq!(
            v1_disconnect_rc(Some(&Error::ConnectionRefused(0x80)), v311),
            ErrorCode::Protocol
        );
        assert_eq!(
            v1_disconnect_rc(Some(&Error::ServerDisconnected(0x8e)), Protocol::V5),
            ErrorCode::ConnLost
        );
    }
}
