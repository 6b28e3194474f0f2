//! One-call publishing, as Paho's `paho.mqtt.publish` module: [`single`] and [`multiple`].
//!
//! Each call connects, publishes, waits until every message is published (QoS 0 written to the socket,
//! QoS 1 acknowledged by PUBACK, QoS 2 by PUBCOMP), disconnects cleanly and returns. The connection
//! settings are an [`Options`] value, shared with the [`subscribe`](crate::subscribe) helpers; build it
//! with `..Default::default()` for the fields you leave alone.
//!
//! ```no_run
//! use pahoish as mqtt;
//! use mqtt::publish::Options;
//!
//! let options = Options { hostname: "broker.example".into(), ..Default::default() };
//! mqtt::publish::single("sensors/7/temperature", 21.5, 1, false, &options)?;
//! mqtt::publish::multiple(
//!     [("sensors/7/status", "online", 1, true), ("sensors/7/humidity", "40", 0, false)],
//!     &options,
//! )?;
//! # Ok::<(), mqtt::Error>(())
//! ```
//!
//! # TLS, websockets, Unix sockets and proxies
//!
//! [`Options::tls`], [`Options::transport`] and [`Options::proxy`] set them up as Paho's `tls=`,
//! `transport=` and `proxy_args=` do:
//!
//! ```no_run
//! use pahoish::publish::{self, Options, Proxy, ProxyType, Tls, Transport};
//!
//! let tls = Options {
//!     hostname: "broker.example".into(),
//!     port: 8883,
//!     tls: Some(Tls { ca_certs: Some("/etc/mosquitto/ca.crt".into()), ..Default::default() }),
//!     ..Default::default()
//! };
//! publish::single("sensors/7/status", "online", 1, true, &tls)?;
//!
//! // The host is the socket's path; the port is ignored.
//! let unix = Options { hostname: "/run/mosquitto/mqtt.sock".into(), transport: Transport::Unix, ..Default::default() };
//! publish::single("sensors/7/status", "online", 1, true, &unix)?;
//!
//! // ws://broker.example:9001/mqtt through a SOCKS5 proxy.
//! let ws = Options {
//!     hostname: "broker.example".into(),
//!     port: 9001,
//!     transport: Transport::Websockets,
//!     proxy: Some(Proxy { proxy_port: Some(1080), ..Proxy::new(ProxyType::Socks5, "proxy.example") }),
//!     ..Default::default()
//! };
//! publish::single("sensors/7/status", "online", 1, true, &ws)?;
//! # Ok::<(), pahoish::Error>(())
//! ```
//!
//! # How long the helpers wait
//!
//! Paho's helpers wait forever. These give up when the broker makes no progress for
//! [`Options::ack_timeout`]: twice the keepalive (120 s with the default keepalive of 60, and also when
//! keepalive is 0). Progress is an accepted CONNACK, a published message or a SUBACK, so a long batch to
//! a slow but working broker never times out. Meanwhile a lost connection is re-established with the
//! client's backoff (1 s doubling to 120 s): unacknowledged QoS 1/2 messages are sent again with DUP
//! set, and QoS 0 messages the connection took with it unwritten are published again on the new one.
//! A timeout is an [`Error::Io`] of kind [`TimedOut`](std::io::ErrorKind::TimedOut) whose text says
//! how many messages were left and the last problem seen (a failed reconnect, say).
//!
//! # Shared with `subscribe`
//!
//! The options and the connection logic live once for both modules, in the crate's `helpers` module:
//! a connection builds a client from the options, runs its loop on a `loop_start` thread, and turns
//! callbacks into events the calling thread reads from a channel.

use std::collections::VecDeque;
use std::time::Duration;

use crate::client::Client;
use crate::completion::MessageInfo;
use crate::error::{Error, ErrorCode, Result};
use crate::helpers::{Connection, Event};
use crate::message::{Message, Payload};
use crate::packet::{Publish, MAX_REMAINING_LENGTH};
use crate::topic::validate_topic;
use crate::types::{IntoQos, Protocol};

pub use crate::helpers::{Auth, Options, Tls, Will};
pub use crate::types::{CertReqs, Proxy, ProxyType, TlsVersion, Transport};

/// One message for [`multiple`]: a `(topic, payload, qos, retain)` tuple, as in Paho, or a [`Message`].
///
/// The tuple takes what [`Client::publish`] takes: a `&str` or `String` topic, any [`Payload`] (text,
/// bytes, numbers, `()`), the QoS as an integer or [`QoS`](crate::QoS).
///
/// ```
/// use pahoish::publish::IntoMessage;
///
/// let m = ("a/b", 21.5, 1, true).into_message()?;
/// assert_eq!((m.topic.as_str(), m.payload.as_slice(), m.qos, m.retain), ("a/b", &b"21.5"[..], 1, true));
/// assert!(("a/b", "x", 3, false).into_message().is_err());
/// let m = pahoish::Message::new("c", "d", 0, false).into_message()?;
/// assert_eq!(m.topic, "c");
/// # Ok::<(), pahoish::Error>(())
/// ```
pub trait IntoMessage {
    /// The message, or [`Error::InvalidQos`] for a QoS other than 0, 1, 2.
    fn into_message(self) -> Result<Message>;
}

impl IntoMessage for Message {
    fn into_message(self) -> Result<Message> {
        self.qos.into_qos()?;
        Ok(self)
    }
}

impl IntoMessage for &Message {
    fn into_message(self) -> Result<Message> {
        self.clone().into_message()
    }
}

impl<'a, T, P, Q> IntoMessage for (T, P, Q, bool)
where
    T: AsRef<str>,
    P: Into<Payload<'a>>,
    Q: IntoQos,
{
    fn into_message(self) -> Result<Message> {
        let (topic, payload, qos, retain) = self;
        let qos = qos.into_qos()?;
        Ok(Message::new(topic.as_ref(), payload, qos as u8, retain))
    }
}

/// Publishes one message and disconnects (Paho's `publish.single`).
///
/// The same as [`multiple`] with one message: it returns once the message is published (QoS 0 written,
/// QoS 1 acknowledged, QoS 2 completed), and fails as `multiple` fails.
///
/// ```no_run
/// use pahoish::publish::{self, Options};
///
/// publish::single("paho/test/single", "boo", 0, false, &Options::default())?;
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn single<'p>(
    topic: &str,
    payload: impl Into<Payload<'p>>,
    qos: impl IntoQos,
    retain: bool,
    options: &Options,
) -> Result<()> {
    multiple([(topic, payload, qos, retain)], options)
}

/// Publishes every message in `msgs`, in order, then disconnects (Paho's `publish.multiple`).
///
/// `msgs` is any list or iterator of `(topic, payload, qos, retain)` tuples or [`Message`]s (see
/// [`IntoMessage`]); a `Message`'s MQTT 5 `properties` go with it (Paho's message dicts with a
/// `properties` key), with [`Options::protocol`] `MQTTv5`. The call connects, publishes them all after the broker accepts the connection,
/// waits until each is published (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP), sends DISCONNECT and
/// returns. A lost connection is re-established and nothing is given up on (see the
/// [module docs](self#how-long-the-helpers-wait)).
///
/// Every message is checked before anything is sent, so a bad one does not leave half a batch
/// published. Fails:
/// - for an empty `msgs` ([`Error::InvalidArgument`]), an invalid topic, QoS or payload size, and
///   properties on a message when the protocol is not MQTT 5;
/// - for options this version does not support ([`Error::NotSupported`]: TLS ciphers, TLS over a Unix
///   socket), and for TLS files that cannot be read or used (the error names the file);
/// - when the TLS handshake fails ([`Error::Tls`]: `certificate verify failed: ...` for a broker
///   certificate that does not verify), the proxy refuses ([`Error::Proxy`]) or the websocket upgrade
///   fails ([`Error::Websocket`]);
/// - when the first connection cannot be made (the I/O error, for instance "Connection refused");
/// - when the broker refuses the connection: [`Error::ConnectionRefused`] with the CONNACK code, whose
///   text is Paho's `connack_string` (`"Connection Refused: not authorised."`);
/// - when the broker makes no progress for [`Options::ack_timeout`] (an [`Error::Io`] of kind
///   `TimedOut`).
///
/// ```
/// use pahoish::publish::{self, Options};
///
/// let none: Vec<(&str, &str, i32, bool)> = Vec::new();
/// let err = publish::multiple(none, &Options::default()).unwrap_err();
/// assert!(err.to_string().contains("no messages"));
/// ```
///
/// ```no_run
/// use pahoish::publish::{self, Options};
///
/// let msgs = vec![("paho/test/multiple", "multiple 1", 0, false), ("paho/test/multiple", "multiple 2", 0, false)];
/// publish::multiple(msgs, &Options::default())?;
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn multiple<I>(msgs: I, options: &Options) -> Result<()>
where
    I: IntoIterator,
    I::Item: IntoMessage,
{
    let msgs: Vec<Message> = msgs
        .into_iter()
        .map(IntoMessage::into_message)
        .collect::<Result<_>>()?;
    if msgs.is_empty() {
        return Err(Error::invalid(
            "msgs",
            "there are no messages to publish: the list is empty",
        ));
    }
    for m in &msgs {
        if !m.properties.is_empty() && options.protocol != Protocol::V5 {
            return Err(Error::invalid(
                "properties",
                "properties only apply to MQTT V5 (set Options::protocol to MQTTv5)",
            ));
        }
        validate_topic(&m.topic)?;
        let qos = m.qos.into_qos()?;
        if Publish::parts_remaining_length(m.topic.len(), qos, m.payload.len())
            > MAX_REMAINING_LENGTH
        {
            return Err(Error::PayloadTooLarge(m.payload.len()));
        }
    }
    let mut conn = Connection::open(options, None)?;
    let mut feeder = Feeder::new(msgs);
    while !feeder.done() {
        let Some(event) = conn.next_event(true)? else {
            return Err(conn.timed_out(&format!(
                "publish: {} of {} message(s) not yet published",
                feeder.unfinished(),
                feeder.total()
            )));
        };
        match event {
            Event::Connected(Ok(())) => feeder.feed(&conn.client, true)?,
            Event::Connected(Err(code)) => return Err(Error::ConnectionRefused(code)),
            Event::Published => feeder.feed(&conn.client, false)?,
            _ => {}
        }
    }
    conn.close();
    Ok(())
}

/// Publishes `m`, with its MQTT 5 properties when it has any (Paho's message dicts with a
/// `properties` key, which it passes on to `publish`).
fn send(client: &Client, m: &Message) -> Result<MessageInfo> {
    if m.properties.is_empty() {
        client.publish(&m.topic, m.payload.as_slice(), m.qos, m.retain)
    } else {
        client.publish_with(
            &m.topic,
            m.payload.as_slice(),
            m.qos,
            m.retain,
            m.properties.clone(),
        )
    }
}

/// Hands messages to the client and tracks them until they are published.
struct Feeder {
    msgs: Vec<Message>,
    /// How many messages (from the front of `msgs`) have been handed to the client.
    fed: usize,
    /// Messages handed over and not yet seen published, oldest first, by index into `msgs`.
    outstanding: VecDeque<(usize, MessageInfo)>,
    /// Whether the client has been connected at least once, so publishing makes sense.
    connected: bool,
}

impl Feeder {
    fn new(msgs: Vec<Message>) -> Feeder {
        Feeder {
            msgs,
            fed: 0,
            outstanding: VecDeque::new(),
            connected: false,
        }
    }

    fn total(&self) -> usize {
        self.msgs.len()
    }

    fn unfinished(&self) -> usize {
        self.msgs.len() - self.fed + self.outstanding.len()
    }

    fn done(&self) -> bool {
        self.fed == self.msgs.len() && self.outstanding.is_empty()
    }

    /// Drops what is published from the front, publishes again the QoS 0 messages a lost connection
    /// discarded (after a new CONNACK, `reconnected`), and hands over more messages until the client's
    /// queue is full.
    fn feed(&mut self, client: &Client, reconnected: bool) -> Result<()> {
        self.connected |= reconnected;
        if !self.connected {
            return Ok(());
        }
        // Messages complete nearly in order, so pruning from the front keeps this cheap; the rest go
        // when they reach the front.
        while self
            .outstanding
            .front()
            .is_some_and(|(_, i)| i.is_published())
        {
            self.outstanding.pop_front();
        }
        if reconnected {
            // A QoS 0 message still unwritten when its connection closed is gone (QoS 1/2 messages are
            // kept by the client and sent again on their own). It never reached the broker whole, so
            // publishing it again cannot duplicate it.
            for (index, info) in self.outstanding.iter_mut() {
                if discarded(info) {
                    *info = send(client, &self.msgs[*index])?;
                }
            }
        }
        while self.fed < self.msgs.len() {
            match send(client, &self.msgs[self.fed]) {
                // Out of message ids: more go out as acknowledgements free some.
                Ok(info) if info.rc == ErrorCode::QueueSize => break,
                Ok(info) => {
                    self.outstanding.push_back((self.fed, info));
                    self.fed += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether the client discarded the message (a QoS 0 message whose connection closed before it was
/// written, or published while there was no connection). A zero wait reads the state without waiting.
fn discarded(info: &MessageInfo) -> bool {
    matches!(
        info.wait_for_publish(Some(Duration::ZERO)),
        Err(Error::PublishDiscarded(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn bad_messages_are_refused_before_connecting() {
        // Port 1 on loopback: nothing listens there, but these fail before any connection attempt.
        let o = Options {
            hostname: "127.0.0.1".into(),
            port: 1,
            ..Default::default()
        };
        assert!(matches!(
            single("a/+", "x", 0, false, &o),
            Err(Error::InvalidTopic { .. })
        ));
        assert!(matches!(
            multiple([("a", "x", 0, false), ("b", "y", 7, false)], &o),
            Err(Error::InvalidQos(7))
        ));
        let mut m = Message::new("a", "x", 0, false);
        m.qos = 3;
        assert!(matches!(multiple([m], &o), Err(Error::InvalidQos(3))));
        let big = vec![0u8; MAX_REMAINING_LENGTH];
        assert!(matches!(
            single("a", big, 0, false, &o),
            Err(Error::PayloadTooLarge(_))
        ));
    }

    /// Nothing listens on this port: a helper that got as far as connecting to it would fail with
    /// "Connection refused", so any other error was raised before connecting.
    fn nowhere() -> Options {
        Options {
            hostname: "127.0.0.1".into(),
            port: 1,
            ..Default::default()
        }
    }

    #[test]
    fn impossible_combinations_are_refused_before_connecting() {
        let unix_tls = Options {
            transport: Transport::Unix,
            tls: Some(Tls::default()),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &unix_tls).unwrap_err();
        assert!(
            matches!(&e, Error::NotSupported(s) if s.contains("Unix socket")),
            "{e}"
        );
        let unix_proxy = Options {
            transport: Transport::Unix,
            proxy: Some(Proxy::new(ProxyType::Socks5, "127.0.0.1")),
            ..nowhere()
        };
        let e = subscribe_err(&unix_proxy);
        assert!(
            matches!(&e, Error::InvalidArgument { name: "proxy", .. }),
            "{e}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_files_are_read_before_connecting_and_named_when_missing() {
        let o = Options {
            tls: Some(Tls {
                ca_certs: Some("/nonexistent/pahoish/ca.pem".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "ca_certs", reason } if reason.contains("/nonexistent/pahoish/ca.pem")),
            "{e}"
        );
        let o = Options {
            tls: Some(Tls {
                keyfile: Some("/nonexistent/pahoish/client.key".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(e.to_string().contains("needs its certfile"), "{e}");
        let o = Options {
            tls: Some(Tls {
                ciphers: Some("HIGH".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = subscribe_err(&o);
        assert!(
            matches!(&e, Error::NotSupported(s) if s.contains("ciphers")),
            "{e}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_with_the_system_roots_and_insecure_reaches_the_connect() {
        // Valid settings (the system's roots, no host-name check) get as far as the TCP connect.
        let o = Options {
            tls: Some(Tls {
                insecure: true,
                tls_version: Some(TlsVersion::Tlsv1_2),
                alpn_protocols: vec!["mqtt".into()],
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused),
            "{e}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_needs_the_tls_feature() {
        let o = Options {
            tls: Some(Tls::default()),
            ..nowhere()
        };
        assert!(matches!(
            single("a", "x", 0, false, &o),
            Err(Error::NotSupported(_))
        ));
    }

    #[test]
    fn the_unix_transport_connects_to_the_socket_named_by_hostname() {
        let path = "/nonexistent/pahoish/mqtt.sock";
        let o = Options {
            hostname: path.into(),
            port: 1,
            transport: Transport::Unix,
            ..Default::default()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(e.to_string().contains(path), "{e}");
    }

    /// A server that reads what a client sends first, hands it to the test and closes the connection.
    /// Join it with [`first_bytes`].
    fn first_bytes_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            buf.truncate(n);
            buf
        });
        (port, server)
    }

    /// What the client sent first to [`first_bytes_server`]. A connection of our own first, so that a
    /// client which never connected fails the test (with nothing read) instead of hanging the accept.
    fn first_bytes(port: u16, server: std::thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
        let _unblock = std::net::TcpStream::connect(("127.0.0.1", port));
        server.join().unwrap()
    }

    #[test]
    fn a_socks5_proxy_is_asked_for_the_broker() {
        let (port, server) = first_bytes_server();
        let o = Options {
            proxy: Some(Proxy {
                proxy_port: Some(port),
                ..Proxy::new(ProxyType::Socks5, "127.0.0.1")
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        // The SOCKS5 greeting (version 5, then the methods offered), not an MQTT CONNECT.
        assert_eq!(first_bytes(port, server).first(), Some(&5), "{e}");
        assert!(matches!(e, Error::Proxy { .. } | Error::Io(_)), "{e}");
    }

    #[cfg(feature = "websockets")]
    #[test]
    fn the_websockets_transport_sends_an_upgrade_request() {
        let (port, server) = first_bytes_server();
        let o = Options {
            hostname: "127.0.0.1".into(),
            port,
            transport: Transport::Websockets,
            ..Default::default()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        let request = String::from_utf8_lossy(&first_bytes(port, server)).into_owned();
        assert!(request.starts_with("GET /mqtt HTTP/1.1\r\n"), "{request:?}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("sec-websocket-protocol: mqtt"),
            "{request:?}"
        );
        assert!(matches!(e, Error::Websocket { .. } | Error::Io(_)), "{e}");
    }

    /// The error of `subscribe::simple` with these options (the subscribe helpers share `Connection`).
    fn subscribe_err(o: &Options) -> Error {
        crate::subscribe::simple("a", 0, 1, true, o).unwrap_err()
    }

    #[test]
    fn ack_timeout_is_twice_keepalive() {
        let o = |k| Options {
            keepalive: k,
            ..Default::default()
        };
        assert_eq!(o(0).ack_timeout(), Duration::from_secs(120));
        assert_eq!(o(1).ack_timeout(), Duration::from_secs(2));
        assert_eq!(o(u16::MAX).ack_timeout(), Duration::from_secs(131_070));
    }
}
