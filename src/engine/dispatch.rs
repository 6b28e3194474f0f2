//! The session's events turned into notices for the client's callbacks.

use std::time::Instant;

use super::io::WriteOutcome;
use super::{Delivery, Engine, Handler, Notice};
use crate::error::{Error, Result};
use crate::properties::{PacketTypes, Properties};
use crate::reason::ReasonCode;
use crate::session::{mids_from, Event};
use crate::types::{ConnectFlags, LogLevel};

impl Engine {
    /// Runs the callbacks for everything the session reported, until it reports nothing new. After a
    /// refused CONNACK (and its `on_connect`) it stops and returns the refusal; the caller closes the
    /// connection with it (`fail`).
    #[inline(never)]
    pub(super) fn dispatch(&self, h: &dyn Handler) -> Result<()> {
        let mut stop = None;
        let mut events = Vec::new();
        // What the run-length `Published` events (success without properties) carry.
        let no_props = Properties::new(PacketTypes::PUBACK);
        // Messages the handler could not deliver (a full `messages()` channel while the loop stops),
        // and every message after the first of them, so that their order holds: back to the session,
        // unacknowledged, for the next dispatch.
        let mut held = Vec::new();
        if let Some(line) = self.take_store_error() {
            h.log(LogLevel::Err, &line);
        }
        while self.state().session.take_events(&mut events) {
            for event in events.drain(..) {
                self.dispatch_one(h, event, &no_props, &mut stop, &mut held);
            }
            if !held.is_empty() {
                // Offering them again now would only be refused again: the next dispatch does.
                self.state().session.hold_events(std::mem::take(&mut held));
                break;
            }
            if stop.is_some() {
                break;
            }
        }
        self.signal.notify();
        match stop {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Asks `on_auth` for the answer to an enhanced authentication step. A challenge (Continue
    /// authentication) gets the next AUTH; a success only needs no objection. An error (or a
    /// challenge nobody answers: 0x8C, Bad authentication method) queues DISCONNECT with its
    /// reason, and the connection is closed with [`Error::AuthenticationFailed`].
    fn authenticate(&self, h: &dyn Handler, reason: ReasonCode, props: &Properties) -> Result<()> {
        let mut answer = None;
        h.notify(Notice::Auth(reason, props, &mut answer));
        let challenge = reason.value() == 0x18;
        let abort = match answer {
            Some(Ok(data)) if challenge => match self.state().session.auth_continue(data) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    h.log(LogLevel::Err, &format!("Could not answer AUTH: {e}"));
                    0x80
                }
            },
            Some(Ok(_)) => return Ok(()),
            None if !challenge => return Ok(()),
            None => {
                h.log(
                    LogLevel::Err,
                    "The server sent an authentication challenge, but no on_auth is set",
                );
                0x8c
            }
            Some(Err(rc)) => match ReasonCode::checked(PacketTypes::DISCONNECT, rc.value()) {
                Ok(rc) => rc.value(),
                Err(_) => 0x80,
            },
        };
        self.state().session.auth_abort(abort);
        Err(Error::AuthenticationFailed(abort))
    }

    /// Runs the callback for one event, then what that callback made the session report (with
    /// `on_log` set, "Sending PUBLISH" for a publish from `on_subscribe`; "Sending PUBACK" after
    /// `on_message`), before the events of the packets read after this one: the order in which Paho
    /// reports them, since it reads one packet at a time. Callbacks never produce a message, so this
    /// goes one level deep. A message the handler refuses goes to `held`, and so does every message
    /// after it.
    fn dispatch_one(
        &self,
        h: &dyn Handler,
        event: Event,
        no_props: &Properties,
        stop: &mut Option<Error>,
        held: &mut Vec<Event>,
    ) {
        if matches!(stop, Some(Error::AuthenticationFailed(_))) {
            // The connection is ending from our side: nothing after the failed step is reported
            // (no `on_connect` for a CONNACK whose data `on_auth` refused).
            return;
        }
        let mut fresh = Vec::new();
        match event {
            Event::Connected {
                session_present,
                props,
            } => {
                self.state().backoff.connected(Instant::now());
                let flags = ConnectFlags { session_present };
                h.notify(Notice::Connect(flags, ReasonCode::connack(0), &props));
                let mut st = self.state();
                st.session.after_connect(session_present);
                st.session.take_events(&mut fresh);
            }
            Event::ConnectRefused { reason, props } => {
                let flags = ConnectFlags::default();
                h.notify(Notice::Connect(flags, reason, &props));
                *stop = Some(Error::ConnectionRefused(reason.connack_code()));
            }
            Event::Published { first, count } => {
                for mid in mids_from(first).take(usize::from(count)) {
                    h.notify(Notice::Publish(mid, ReasonCode::puback_success(), no_props));
                }
                self.state().session.take_events(&mut fresh);
            }
            Event::PublishedWith { mid, reason, props } => {
                h.notify(Notice::Publish(mid, reason, &props));
                self.state().session.take_events(&mut fresh);
            }
            Event::Subscribed { mid, codes, props } => {
                h.notify(Notice::Subscribe(mid, &codes, &props));
                self.state().session.take_events(&mut fresh);
            }
            Event::Unsubscribed { mid, codes, props } => {
                h.notify(Notice::Unsubscribe(mid, &codes, &props));
                self.state().session.take_events(&mut fresh);
            }
            Event::ServerDisconnect { reason, props } => {
                // Reported by close_connection's on_disconnect, which follows.
                self.state().server_disconnect = Some((reason, props));
            }
            Event::Message { msg, generation } if !held.is_empty() => {
                held.push(Event::Message { msg, generation });
            }
            Event::Message { msg, generation } => {
                let (mid, qos) = (msg.mid, msg.qos);
                let back = match h.message(msg) {
                    Delivery::Seen(msg) => Some(msg.payload),
                    Delivery::Taken => None,
                    Delivery::Refused(msg) => {
                        held.push(Event::Message { msg, generation });
                        return;
                    }
                };
                let mut st = self.state();
                st.session.message_handled(mid, qos, generation);
                st.persist(false);
                if let Some(payload) = back {
                    st.session.give_back_payload(payload);
                }
                st.session.take_events(&mut fresh);
            }
            Event::Auth { reason, props } => {
                if let Err(e) = self.authenticate(h, reason, &props) {
                    *stop = Some(e);
                    return;
                }
                self.state().session.take_events(&mut fresh);
            }
            Event::Log(line) => h.log(LogLevel::Debug, &line),
        }
        for event in fresh {
            self.dispatch_one(h, event, no_props, stop, held);
        }
    }

    /// For a delivery that waits for room in the `messages()` channel, on the loop's thread, in the
    /// middle of a dispatch: keeps the connection alive meanwhile. Sends a PINGREQ when one is due
    /// (`Session::stalled_tick`: the loop reads nothing now, so it cannot judge a missing PINGRESP) and
    /// writes what is pending, the acknowledgements of the messages the consumer took so far included.
    /// Returns when to call again: the next keepalive deadline (`None`: keepalive 0, or no connection).
    pub(crate) fn keep_alive_stalled(&self, h: &dyn Handler) -> Option<Instant> {
        {
            let mut st = self.state();
            if st.disconnect_requested {
                // The DISCONNECT is the loop's to write, and the close that follows it.
                return None;
            }
            st.session.stalled_tick(Instant::now());
        }
        match self.write_out() {
            Ok(WriteOutcome::Flushed | WriteOutcome::Blocked) => {}
            // A disconnect() between the look above and the write: close as the loop would.
            Ok(WriteOutcome::Disconnected) => {
                self.close_connection(h, None);
                return None;
            }
            // The connection is broken; the loop finds out (and reconnects) once the delivery is done.
            Err(e) => {
                h.log(
                    LogLevel::Debug,
                    &format!("Write while waiting for the messages channel failed: {e}"),
                );
                return None;
            }
        }
        self.state().session.next_deadline()
    }
}
