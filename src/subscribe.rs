//! One-call subscribing, as Paho's `paho.mqtt.subscribe` module: [`simple`] collects messages and
//! returns them, [`callback`] hands each message to a function until it says stop.
//!
//! Both connect with the [`Options`] the [`publish`](crate::publish) helpers take, subscribe from
//! `on_connect` (so a reconnect subscribes again, as in Paho), and disconnect cleanly when done. The
//! wait for the broker to accept the connection and the subscription is bounded by
//! [`Options::ack_timeout`]; the wait for messages is not (a subscriber may wait for hours), and a lost
//! connection meanwhile is re-established with the client's backoff. TLS, websockets, Unix sockets
//! and proxies are set in the options as for publishing (see
//! [the publish module](crate::publish#tls-websockets-unix-sockets-and-proxies)).
//!
//! ```no_run
//! use pahoish as mqtt;
//! use mqtt::subscribe::Options;
//! use std::ops::ControlFlow;
//!
//! // The next two messages on sensors/#, retained ones included.
//! let msgs = mqtt::subscribe::simple("sensors/#", 0, 2, true, &Options::default())?;
//! for m in &msgs {
//!     println!("{} {}", m.topic, m.payload_repr());
//! }
//!
//! // Print messages until one says "stop".
//! mqtt::subscribe::callback(
//!     |_client, _userdata, msg| {
//!         println!("{} {}", msg.topic, msg.payload_repr());
//!         if msg.payload == b"stop" { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
//!     },
//!     "commands/#",
//!     1,
//!     (),
//!     &Options::default(),
//! )?;
//! # Ok::<(), mqtt::Error>(())
//! ```

use std::ops::ControlFlow;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::helpers::{Connection, Event};
use crate::message::Message;
use crate::topic::SubscribeTopics;
use crate::types::{IntoQos, SubscribeOptions};

pub use crate::helpers::{Auth, Options, Tls, Will};
pub use crate::types::{CertReqs, Proxy, ProxyType, TlsVersion, Transport};

/// Subscribes, waits for `msg_count` messages and returns them in the order they arrived (Paho's
/// `subscribe.simple`; Paho returns a single message when `msg_count` is 1, this always a `Vec`).
///
/// `topics` takes every shape [`Client::subscribe`] takes (a filter, a `(filter, qos)` pair, a list of
/// either); `qos` applies to bare filters. With `retained` false, messages the broker sends as retained
/// are skipped (but acknowledged) and not counted.
///
/// Fails for `msg_count` 0 and invalid topics or QoS (before connecting), and as [`callback`] fails.
///
/// ```
/// use pahoish::subscribe::{self, Options};
///
/// let err = subscribe::simple("a/#", 0, 0, true, &Options::default()).unwrap_err();
/// assert!(err.to_string().contains("msg_count"));
/// ```
///
/// ```no_run
/// use pahoish::subscribe::{self, Options};
///
/// let msgs = subscribe::simple("paho/test/simple", 0, 1, true, &Options::default())?;
/// println!("{} {}", msgs[0].topic, msgs[0].payload_repr());
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn simple(
    topics: impl SubscribeTopics,
    qos: impl IntoQos,
    msg_count: usize,
    retained: bool,
    options: &Options,
) -> Result<Vec<Message>> {
    if msg_count == 0 {
        return Err(Error::invalid(
            "msg_count",
            "must be at least 1: how many messages to wait for",
        ));
    }
    callback(
        |_client, msgs: &mut Vec<Message>, msg| {
            if retained || !msg.retain {
                msgs.push(msg.clone());
            }
            if msgs.len() >= msg_count {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
        topics,
        qos,
        Vec::with_capacity(msg_count.min(1024)),
        options,
    )
}

/// Subscribes and calls `callback` with each message until it returns [`ControlFlow::Break`], then
/// disconnects and returns the userdata (Paho's `subscribe.callback`, which never returns).
///
/// `callback` gets the connected client, the userdata and the message; it returns
/// `ControlFlow::Continue(())` for more messages and `ControlFlow::Break(())` to stop. A QoS 1/2
/// message is acknowledged when the callback returns for it, as in Paho; messages that arrived after
/// the one that stopped it are neither handed over nor acknowledged. The callback runs on the calling
/// thread, not on the network loop's, so it may take its time and call any client method,
/// `wait_for_publish` included. (Calling `client.disconnect()` also ends the call, as it would end
/// Paho's loop; returning `Break` is the intended way.) The client's network loop belongs to the
/// helper: calling `loop_stop` on it would leave `callback` waiting for messages that cannot come.
/// While the callback runs, the network thread goes on receiving; when 1,024 messages wait for the
/// callback, the network thread waits too.
///
/// Fails:
/// - for invalid topics or QoS, options this version does not support ([`Error::NotSupported`]: MQTT
///   5, TLS ciphers, TLS over a Unix socket), and TLS files that cannot be read or used;
/// - when the first connection cannot be made (an I/O error, or [`Error::Tls`], [`Error::Proxy`],
///   [`Error::Websocket`] for those layers), and when the broker refuses a connection
///   ([`Error::ConnectionRefused`], whose text is Paho's `connack_string`);
/// - when the broker refuses every filter of the first SUBACK ([`Error::InvalidFilter`] for the
///   first filter, saying so);
/// - when the broker does not accept the connection and the subscription within
///   [`Options::ack_timeout`] (an [`Error::Io`] of kind `TimedOut`).
///
/// ```no_run
/// use pahoish::subscribe::{self, Options};
/// use std::ops::ControlFlow;
///
/// // Count messages until one arrives on "done".
/// let count = subscribe::callback(
///     |_client, count: &mut u32, msg| {
///         *count += 1;
///         if msg.topic == "done" { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
///     },
///     [("data/#", 1), ("done", 1)],
///     0,
///     0u32,
///     &Options::default(),
/// )?;
/// println!("{count} messages");
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn callback<U, F>(
    mut callback: F,
    topics: impl SubscribeTopics,
    qos: impl IntoQos,
    mut userdata: U,
    options: &Options,
) -> Result<U>
where
    F: FnMut(&Client, &mut U, &Message) -> ControlFlow<()>,
{
    let filters = topics.into_filters(SubscribeOptions::new(qos)?)?;
    let first_filter = filters[0].0.clone();
    let mut conn = Connection::open(options, Some(filters))?;
    let mut subscribed = false;
    loop {
        // Until the first SUBACK the broker owes an answer, so the wait is bounded.
        let Some(event) = conn.next_event(!subscribed)? else {
            return Err(conn.timed_out("subscribe: no SUBACK"));
        };
        match event {
            Event::Message(msg) => {
                let flow = callback(&conn.client, &mut userdata, &msg);
                conn.ack(&msg);
                if flow.is_break() {
                    break;
                }
            }
            Event::Subscribed(codes) if !subscribed => {
                if codes.iter().all(|c| c.is_failure()) {
                    return Err(Error::InvalidFilter {
                        filter: first_filter,
                        reason: "the broker refused every subscription of the request",
                    });
                }
                subscribed = true;
            }
            Event::Connected(Err(code)) => return Err(Error::ConnectionRefused(code)),
            // Only the helper and the callback disconnect, and the helper has not yet.
            Event::Disconnected(true) => break,
            _ => {}
        }
    }
    conn.close();
    Ok(userdata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_before_connecting() {
        let o = Options {
            hostname: "127.0.0.1".into(),
            port: 1,
            ..Default::default()
        };
        assert!(matches!(
            simple("a/#/b", 0, 1, true, &o),
            Err(Error::InvalidFilter { .. })
        ));
        assert!(matches!(
            simple("a", 5, 1, true, &o),
            Err(Error::InvalidQos(5))
        ));
        assert!(simple(Vec::<&str>::new(), 0, 1, true, &o).is_err());
        let r = callback(|_, _: &mut (), _| ControlFlow::Break(()), "a#", 0, (), &o);
        assert!(matches!(r, Err(Error::InvalidFilter { .. })));
    }
}
