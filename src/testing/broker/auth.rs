//! MQTT 5 enhanced authentication in [`TestBroker`](super::TestBroker): the [`Authenticator`] a test
//! plugs in with [`TestBrokerBuilder::authenticator`](super::TestBrokerBuilder::authenticator), and the
//! exchange the broker drives with it (AUTH Continue authentication both ways until the authenticator
//! decides; CONNACK, or AUTH Success for a re-authentication).

use std::fmt;
use std::sync::Arc;

use super::protocol::{Flow, ReaderState};
use super::state::{BrokerState, End};
use crate::packet::{Auth, Connect, Packet, Protocol};
use crate::properties::{PacketTypes, Properties, Property};

/// The server's side of an enhanced authentication method, for [`TestBroker`](super::TestBroker)
/// (set with [`TestBrokerBuilder::authenticator`](super::TestBrokerBuilder::authenticator)).
///
/// The broker makes a new one for each exchange (each CONNECT with an Authentication Method, each
/// re-authentication) and calls [`step`](Authenticator::step) with the client's data: first that of the
/// CONNECT (or of the AUTH Re-authenticate), then that of each AUTH Continue authentication the client
/// answers with, until it returns [`AuthStep::Success`] or [`AuthStep::Fail`].
///
/// # Examples
///
/// A method that asks for one secret word:
///
/// ```
/// use pahoish::testing::{AuthStep, Authenticator, TestBroker};
///
/// struct Password;
/// impl Authenticator for Password {
///     fn step(&mut self, method: &str, data: &[u8]) -> AuthStep {
///         match (method, data) {
///             ("PASSWORD", b"") => AuthStep::Continue(b"password?".to_vec()),
///             ("PASSWORD", b"open sesame") => AuthStep::Success(Vec::new()),
///             ("PASSWORD", _) => AuthStep::Fail(0x87), // Not authorized
///             _ => AuthStep::Fail(0x8C),               // Bad authentication method
///         }
///     }
/// }
///
/// let broker = TestBroker::builder().authenticator(|| Password).start()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Authenticator: Send {
    /// One step of the exchange: the connection's Authentication Method and the data the client sent
    /// (empty when its packet had none). Returns what the broker does next.
    fn step(&mut self, method: &str, data: &[u8]) -> AuthStep;
}

/// What an [`Authenticator`] decides at a step.
///
/// ```
/// use pahoish::testing::AuthStep;
/// let step = AuthStep::Continue(b"challenge".to_vec());
/// assert_ne!(step, AuthStep::Fail(0x87));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Ask the client for more: AUTH Continue authentication (0x18) with this data (none when empty).
    Continue(Vec<u8>),
    /// The client is authenticated: CONNACK Success (or, for a re-authentication, AUTH Success) with
    /// the method and this data (none when empty), for instance the server's proof.
    Success(Vec<u8>),
    /// The client is not: CONNACK with this reason code (or, for a re-authentication, DISCONNECT),
    /// such as 0x87 Not authorized, 0x86 Bad user name or password (a CONNACK code only: a
    /// re-authentication's DISCONNECT says 0x87 for it) or 0x8C Bad authentication method; then the
    /// connection is closed.
    Fail(u8),
}

/// Makes an [`Authenticator`] per exchange; the builder's, shared by the connections.
#[derive(Clone)]
pub(crate) struct AuthFactory(Arc<dyn Fn() -> Box<dyn Authenticator> + Send + Sync>);

impl AuthFactory {
    pub(crate) fn new<A, F>(make: F) -> AuthFactory
    where
        A: Authenticator + 'static,
        F: Fn() -> A + Send + Sync + 'static,
    {
        AuthFactory(Arc::new(move || Box::new(make())))
    }
}

impl fmt::Debug for AuthFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthFactory")
    }
}

/// An exchange under way on one connection.
pub(super) struct Exchange {
    method: String,
    authenticator: Box<dyn Authenticator>,
    /// Before the CONNACK: the CONNECT waiting for the outcome, the client id it is logged under and
    /// whether that id was assigned. `None` for a re-authentication.
    pending: Option<(Connect, String, bool)>,
}

/// What the broker does after a step of a CONNECT's exchange.
pub(super) enum Next {
    /// This, as for any packet.
    Done(Flow),
    /// Accept the CONNECT (its client id, whether that was assigned, the CONNACK's authentication
    /// properties).
    Accept(Box<(Connect, String, bool, Properties)>),
}

/// The properties of an AUTH or CONNACK of the exchange: the method, and `data` when not empty.
fn auth_properties(packet: PacketTypes, method: &str, data: Vec<u8>) -> Properties {
    let mut props = Properties::new(packet);
    props.insert(Property::AuthenticationMethod(method.to_owned()));
    if !data.is_empty() {
        props.insert(Property::AuthenticationData(data));
    }
    props
}

fn auth_packet(reason: u8, method: &str, data: Vec<u8>) -> Packet {
    Packet::Auth(Auth {
        reason,
        properties: auth_properties(PacketTypes::AUTH, method, data),
    })
}

impl BrokerState {
    /// A CONNECT with an Authentication Method (MQTT 5), its credentials checked: runs the first step.
    pub(super) fn start_connect_auth(
        &mut self,
        conn: &mut ReaderState,
        connect: Connect,
        client_id: String,
        assigned: bool,
    ) -> Next {
        let method = connect
            .properties
            .authentication_method()
            .unwrap_or_default()
            .to_owned();
        let Some(factory) = self.limits.authenticator.clone() else {
            // MQTT-4.12.0-1: a method the server does not support.
            return Next::Done(self.refuse(conn, &client_id, 0x8C, "no authenticator".into()));
        };
        let data = connect
            .properties
            .authentication_data()
            .unwrap_or_default()
            .to_vec();
        let mut authenticator = (factory.0)();
        match authenticator.step(&method, &data) {
            AuthStep::Continue(challenge) => {
                let packet = auth_packet(0x18, &method, challenge);
                self.wire.send(conn.id, &client_id, packet);
                conn.exchange = Some(Exchange {
                    method,
                    authenticator,
                    pending: Some((connect, client_id, assigned)),
                });
                Next::Done(Flow::Continue)
            }
            AuthStep::Success(proof) => {
                conn.auth_method = Some(method.clone());
                let props = auth_properties(PacketTypes::CONNACK, &method, proof);
                Next::Accept(Box::new((connect, client_id, assigned, props)))
            }
            AuthStep::Fail(code) => {
                Next::Done(self.refuse(conn, &client_id, code, "authentication failed".into()))
            }
        }
    }

    /// A packet while a CONNECT's exchange runs: only AUTH or DISCONNECT may come
    /// ([MQTT-3.1.2-30]).
    pub(super) fn continue_connect_auth(
        &mut self,
        conn: &mut ReaderState,
        header: u8,
        body: &[u8],
    ) -> Next {
        let Some(mut ex) = conn.exchange.take() else {
            return Next::Done(Flow::End(End::Unclean, "no exchange".into()));
        };
        let Some((connect, client_id, assigned)) = ex.pending.take() else {
            return Next::Done(Flow::End(End::Unclean, "no pending CONNECT".into()));
        };
        let packet = match Packet::decode_frame_as(header, body, Protocol::V5) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("invalid packet during authentication: {e}");
                return Next::Done(self.refuse(conn, &client_id, 0x81, why));
            }
        };
        self.wire
            .record(&client_id, super::Direction::Received, packet.clone());
        let auth = match packet {
            Packet::Auth(a) => a,
            Packet::Disconnect(_) => {
                return Next::Done(Flow::End(
                    End::Clean,
                    "DISCONNECT during authentication".into(),
                ))
            }
            other => {
                let why = format!(
                    "protocol error: {} before CONNACK during enhanced authentication",
                    other.name()
                );
                return Next::Done(self.refuse(conn, &client_id, 0x82, why));
            }
        };
        if auth.reason != 0x18
            || auth.properties.authentication_method() != Some(ex.method.as_str())
        {
            let why = "protocol error: an AUTH other than Continue authentication with the method";
            return Next::Done(self.refuse(conn, &client_id, 0x82, why.into()));
        }
        let data = auth.properties.authentication_data().unwrap_or_default();
        match ex.authenticator.step(&ex.method, data) {
            AuthStep::Continue(challenge) => {
                let packet = auth_packet(0x18, &ex.method, challenge);
                self.wire.send(conn.id, &client_id, packet);
                ex.pending = Some((connect, client_id, assigned));
                conn.exchange = Some(ex);
                Next::Done(Flow::Continue)
            }
            AuthStep::Success(proof) => {
                let props = auth_properties(PacketTypes::CONNACK, &ex.method, proof);
                conn.auth_method = Some(ex.method);
                Next::Accept(Box::new((connect, client_id, assigned, props)))
            }
            AuthStep::Fail(code) => {
                Next::Done(self.refuse(conn, &client_id, code, "authentication failed".into()))
            }
        }
    }

    /// AUTH on an accepted connection: a re-authentication (0x19 starts one, 0x18 continues it).
    pub(super) fn handle_reauth(
        &mut self,
        conn: &mut ReaderState,
        client_id: &str,
        auth: Auth,
    ) -> Flow {
        let Some(method) = conn.auth_method.clone() else {
            // MQTT-4.12.0-7: no AUTH without a method in CONNECT.
            return self.server_disconnect(conn, client_id, 0x82, "AUTH without a method");
        };
        if auth.properties.authentication_method() != Some(method.as_str()) {
            return self.server_disconnect(conn, client_id, 0x82, "AUTH with another method");
        }
        let mut ex = match (auth.reason, conn.exchange.take()) {
            (0x19, None) => match self.limits.authenticator.clone() {
                Some(factory) => Exchange {
                    method: method.clone(),
                    authenticator: (factory.0)(),
                    pending: None,
                },
                None => return self.server_disconnect(conn, client_id, 0x8C, "no authenticator"),
            },
            (0x18, Some(ex)) => ex,
            (code, _) => {
                let why = format!("AUTH 0x{code:02x} out of turn");
                return self.server_disconnect(conn, client_id, 0x82, &why);
            }
        };
        let data = auth.properties.authentication_data().unwrap_or_default();
        match ex.authenticator.step(&method, data) {
            AuthStep::Continue(challenge) => {
                self.wire
                    .send(conn.id, client_id, auth_packet(0x18, &method, challenge));
                conn.exchange = Some(ex);
            }
            AuthStep::Success(proof) => {
                self.wire
                    .send(conn.id, client_id, auth_packet(0x00, &method, proof));
            }
            AuthStep::Fail(code) => {
                // 0x86 (Bad user name or password) is a CONNACK code only: DISCONNECT says 0x87.
                let code = if code == 0x86 { 0x87 } else { code };
                return self.server_disconnect(conn, client_id, code, "re-authentication failed");
            }
        }
        Flow::Continue
    }
}
