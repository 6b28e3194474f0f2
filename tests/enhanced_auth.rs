//! MQTT 5 enhanced authentication against TestBroker and its pluggable authenticator: SCRAM-SHA-256
//! (examples/scram_mechanism, the example's own code) end to end, re-authentication, a wrong password,
//! nothing but AUTH before the CONNACK, and the protocol errors (another method, an AUTH the CONNECT
//! did not ask for).
//!
//! Every wait is a channel receive or a broker `wait_*` bounded by `WAIT`.

#[path = "../examples/scram_mechanism/mod.rs"]
mod scram_mechanism;

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pahoish::packet::{Auth, Packet};
use pahoish::testing::{AuthStep, Authenticator, Direction, TestBroker};
use pahoish::{Client, MQTTv5, PacketTypes, Properties, Property, ReasonCode};
use scram_mechanism::{ScramClient, ScramServer, StoredCredentials, METHOD};

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "127.0.0.1";
const PASSWORD: &str = "correct horse battery staple";

/// What the callbacks saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// `on_auth`: the reason's value and the data.
    Auth(u8, Vec<u8>),
    /// `on_connect`: the reason's value.
    Connect(u8),
    /// `on_disconnect`: from the server, the reason's value.
    Disconnect(bool, u8),
    Subscribe(u16),
    Message(String),
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("no callback within {WAIT:?}: {e}"))
}

fn v5_client(id: &str) -> Client {
    Client::builder()
        .client_id(id)
        .protocol(MQTTv5)
        .reconnect_on_failure(false)
        .build()
        .expect("an MQTT 5 client")
}

/// Reports on_connect, on_disconnect, on_subscribe and on_message to the returned channel (and gives
/// the sender back for on_auth).
fn record(client: &Client) -> (mpsc::Sender<Seen>, Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    client.on_connect(move |_, _, _, rc, _| {
        let _ = t.send(Seen::Connect(rc.value()));
    });
    let t = tx.clone();
    client.on_disconnect(move |_, _, flags, rc, _| {
        let _ = t.send(Seen::Disconnect(
            flags.is_disconnect_packet_from_server,
            rc.value(),
        ));
    });
    let t = tx.clone();
    client.on_subscribe(move |_, _, mid, _, _| {
        let _ = t.send(Seen::Subscribe(mid));
    });
    let t = tx.clone();
    client.on_message(move |_, _, m| {
        let _ = t.send(Seen::Message(m.topic.clone()));
    });
    (tx, rx)
}

fn scram_broker() -> TestBroker {
    let creds = StoredCredentials::new("alice", PASSWORD);
    TestBroker::builder()
        .authenticator(move || ScramServer::new(creds.clone()))
        .start()
        .expect("a TestBroker")
}

/// A SCRAM client as the example makes one: client-first in CONNECT, client-final from `on_auth`,
/// server-final checked there.
fn scram_client(id: &str, password: &str) -> (Client, Arc<Mutex<ScramClient>>, Receiver<Seen>) {
    let client = v5_client(id);
    let (tx, rx) = record(&client);
    let scram = Arc::new(Mutex::new(ScramClient::new("alice", password)));
    let first = scram.lock().unwrap().client_first();
    client
        .auth_method_set(METHOD, Some(first.as_bytes()))
        .unwrap();
    let mechanism = Arc::clone(&scram);
    client.on_auth(move |_, _, reason, data, _| {
        let _ = tx.send(Seen::Auth(reason.value(), data.to_vec()));
        let text = String::from_utf8_lossy(data).into_owned();
        let mut scram = mechanism.lock().unwrap();
        let refuse = |_| ReasonCode::new(PacketTypes::DISCONNECT as u8, 0x87);
        if reason.value() == 0x18 {
            return scram
                .client_final(&text)
                .map(String::into_bytes)
                .map_err(refuse);
        }
        scram
            .verify_server_final(&text)
            .map(|()| Vec::new())
            .map_err(refuse)
    });
    (client, scram, rx)
}

/// The exchange's packets in the broker's log: (direction, AUTH reason or packet name).
fn exchange(broker: &TestBroker, id: &str) -> Vec<(Direction, String)> {
    broker
        .packets(id)
        .into_iter()
        .filter_map(|(dir, p)| match p {
            Packet::Auth(a) => {
                assert_eq!(a.properties.authentication_method(), Some(METHOD));
                Some((dir, format!("AUTH 0x{:02x}", a.reason)))
            }
            Packet::Connect(c) => {
                assert_eq!(c.properties.authentication_method(), Some(METHOD));
                Some((dir, "CONNECT".into()))
            }
            Packet::ConnAck(c) => Some((dir, format!("CONNACK 0x{:02x}", c.code))),
            Packet::Disconnect(d) => Some((dir, format!("DISCONNECT 0x{:02x}", d.reason))),
            _ => None,
        })
        .collect()
}

/// RFC 7677's test vector (section 3): the client-final and server-final of the mechanism the
/// example and these tests use are the RFC's, byte for byte.
#[test]
fn scram_sha_256_matches_rfc_7677() {
    let mut client = ScramClient::with_nonce("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    use base64::Engine as _;
    let salt = base64::engine::general_purpose::STANDARD
        .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
        .unwrap();
    let creds = StoredCredentials::with_salt("user", "pencil", salt, 4096);
    let mut server = ScramServer::with_nonce(creds, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    let server_first = server.server_first(&client.client_first()).unwrap();
    assert_eq!(
        server_first,
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let client_final = client.client_final(&server_first).unwrap();
    assert_eq!(
        client_final,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    let server_final = server.server_final(&client_final).unwrap();
    assert_eq!(
        server_final,
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    client.verify_server_final(&server_final).unwrap();
    assert!(client.verify_server_final("v=AAAA").is_err());
}

/// SCRAM end to end, as examples/scram runs it: CONNECT with client-first, the broker's AUTH 0x18
/// (server-first) answered by `on_auth` with AUTH 0x18 (client-final), the CONNACK with the method
/// and server-final, which `on_auth` verifies before `on_connect`; then a re-authentication: AUTH
/// 0x19, 0x18 both ways, AUTH 0x00 with the new server-final.
#[test]
fn scram_authenticates_and_reauthenticates() {
    let broker = scram_broker();
    let (client, scram, rx) = scram_client("scram-ok", PASSWORD);
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    let Seen::Auth(0x18, server_first) = next(&rx) else {
        panic!("no challenge")
    };
    assert!(server_first.starts_with(b"r="), "{server_first:?}");
    let Seen::Auth(0x00, server_final) = next(&rx) else {
        panic!("no success")
    };
    assert!(server_final.starts_with(b"v="), "{server_final:?}");
    assert_eq!(next(&rx), Seen::Connect(0));

    let first = scram.lock().unwrap().restart();
    client.reauthenticate(Some(first.as_bytes())).unwrap();
    assert!(matches!(next(&rx), Seen::Auth(0x18, _)));
    let Seen::Auth(0x00, again) = next(&rx) else {
        panic!("no success after re-authenticating")
    };
    assert!(again.starts_with(b"v=") && again != server_final);
    // The connection carries on.
    client.subscribe("after/reauth", 1).unwrap();
    assert_eq!(next(&rx), Seen::Subscribe(1));
    client.disconnect().unwrap();
    assert_eq!(next(&rx), Seen::Disconnect(false, 0));
    client.loop_stop().unwrap();
    assert!(broker.wait_disconnected("scram-ok", WAIT));

    use Direction::{Received, Sent};
    let want = [
        (Received, "CONNECT"),
        (Sent, "AUTH 0x18"),
        (Received, "AUTH 0x18"),
        (Sent, "CONNACK 0x00"),
        (Received, "AUTH 0x19"),
        (Sent, "AUTH 0x18"),
        (Received, "AUTH 0x18"),
        (Sent, "AUTH 0x00"),
        (Received, "DISCONNECT 0x00"),
    ];
    let want: Vec<_> = want.iter().map(|(d, s)| (*d, s.to_string())).collect();
    assert_eq!(exchange(&broker, "scram-ok"), want);
    let connack = broker
        .packets("scram-ok")
        .into_iter()
        .find_map(|(_, p)| match p {
            Packet::ConnAck(c) => Some(c),
            _ => None,
        });
    let props = connack.expect("a CONNACK").properties;
    assert_eq!(props.authentication_method(), Some(METHOD));
    assert_eq!(props.authentication_data(), Some(&server_final[..]));
}

/// A wrong password: the broker's proof check fails and it refuses with CONNACK 0x86 (Bad user name
/// or password); `on_connect` says so, `on_auth` saw only the challenge.
#[test]
fn scram_wrong_password_is_refused() {
    let broker = scram_broker();
    let (client, _scram, rx) = scram_client("scram-bad", "tr0ub4dor&3");
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert!(matches!(next(&rx), Seen::Auth(0x18, _)));
    assert_eq!(next(&rx), Seen::Connect(0x86));
    assert_eq!(next(&rx), Seen::Disconnect(false, 0x80));
    client.loop_stop().unwrap();
    let log = exchange(&broker, "scram-bad");
    assert_eq!(
        log.last(),
        Some(&(Direction::Sent, "CONNACK 0x86".to_string()))
    );
}

/// A re-authentication that fails (the password changed under the client) ends the connection with
/// the broker's DISCONNECT 0x87, Not authorized.
#[test]
fn scram_failed_reauthentication_is_disconnected() {
    let broker = scram_broker();
    let (client, scram, rx) = scram_client("scram-re", PASSWORD);
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert!(matches!(next(&rx), Seen::Auth(0x18, _)));
    assert!(matches!(next(&rx), Seen::Auth(0x00, _)));
    assert_eq!(next(&rx), Seen::Connect(0));
    let first = {
        let mut s = scram.lock().unwrap();
        *s = ScramClient::new("alice", "not it");
        s.client_first()
    };
    client.reauthenticate(Some(first.as_bytes())).unwrap();
    assert!(matches!(next(&rx), Seen::Auth(0x18, _)));
    assert_eq!(next(&rx), Seen::Disconnect(true, 0x87));
    client.loop_stop().unwrap();
}

/// Asks twice ("one?", "two?") and accepts the answers "1" and "2".
struct TwoRounds(u8);

impl Authenticator for TwoRounds {
    fn step(&mut self, _method: &str, data: &[u8]) -> AuthStep {
        self.0 += 1;
        match (self.0, data) {
            (1, b"hello") => AuthStep::Continue(b"one?".to_vec()),
            (2, b"1") => AuthStep::Continue(b"two?".to_vec()),
            (3, b"2") => AuthStep::Success(Vec::new()),
            _ => AuthStep::Fail(0x87),
        }
    }
}

/// [MQTT-3.1.2-30]: with a method set, nothing but AUTH goes out before the CONNACK. `on_auth`
/// subscribes and publishes at QoS 1 during the exchange; the broker (which refuses anything else
/// before its CONNACK with CONNACK 0x82) accepts, the SUBSCRIBE and PUBLISH follow the CONNACK, and the
/// message comes back.
#[test]
fn nothing_but_auth_before_connack() {
    let broker = TestBroker::builder()
        .authenticator(|| TwoRounds(0))
        .start()
        .unwrap();
    let client = v5_client("rounds");
    let (tx, rx) = record(&client);
    client.auth_method_set("ROUNDS", Some(b"hello")).unwrap();
    client.on_auth(move |c, _, reason, data, _| {
        let _ = tx.send(Seen::Auth(reason.value(), data.to_vec()));
        match data {
            b"one?" => {
                c.subscribe("rounds/t", 1).unwrap();
                c.publish("rounds/t", "early", 1, false).unwrap();
                Ok(b"1".to_vec())
            }
            b"two?" => Ok(b"2".to_vec()),
            _ => Ok(Vec::new()),
        }
    });
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert_eq!(next(&rx), Seen::Auth(0x18, b"one?".to_vec()));
    assert_eq!(next(&rx), Seen::Auth(0x18, b"two?".to_vec()));
    assert_eq!(next(&rx), Seen::Auth(0x00, vec![]));
    assert_eq!(next(&rx), Seen::Connect(0));
    assert_eq!(next(&rx), Seen::Subscribe(1));
    assert_eq!(next(&rx), Seen::Message("rounds/t".into()));
    client.disconnect().unwrap();
    assert_eq!(next(&rx), Seen::Disconnect(false, 0));
    client.loop_stop().unwrap();

    let log = broker.packets("rounds");
    let connack = log
        .iter()
        .position(|(_, p)| matches!(p, Packet::ConnAck(_)))
        .expect("a CONNACK");
    for (dir, p) in &log[..connack] {
        assert!(
            matches!(p, Packet::Connect(_) | Packet::Auth(_)),
            "{dir:?} {} before the CONNACK",
            p.name()
        );
    }
}

/// A packet for a connected client, from the broker's side.
fn auth_packet(reason: u8, method: Option<&str>) -> Packet {
    let mut properties = Properties::new(PacketTypes::AUTH);
    if let Some(m) = method {
        properties
            .set(Property::AuthenticationMethod(m.into()))
            .unwrap();
    }
    Packet::Auth(Auth { reason, properties })
}

/// Connects `client` to `broker` and waits for `on_connect` Success.
fn connect(client: &Client, broker: &TestBroker, rx: &Receiver<Seen>) {
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    loop {
        match next(rx) {
            Seen::Connect(0) => return,
            Seen::Auth(..) => continue,
            other => panic!("expected on_connect, got {other:?}"),
        }
    }
}

/// [MQTT-4.12.0-5]: an AUTH whose method is not the CONNECT's is a protocol error: DISCONNECT 0x82,
/// `on_disconnect` says Protocol error.
#[test]
fn server_auth_with_another_method_is_a_protocol_error() {
    let broker = scram_broker();
    let (client, _scram, rx) = scram_client("other-method", PASSWORD);
    connect(&client, &broker, &rx);
    assert!(broker.send_packet("other-method", auth_packet(0x18, Some("PLAIN"))));
    assert_eq!(next(&rx), Seen::Disconnect(false, 0x82));
    client.loop_stop().unwrap();
    let got = broker.wait_for_packet("other-method", WAIT, |dir, p| {
        dir == Direction::Received && matches!(p, Packet::Disconnect(_))
    });
    assert!(matches!(got, Some(Packet::Disconnect(d)) if d.reason == 0x82));
}

/// An AUTH Continue authentication with no re-authentication under way is a protocol error too, as
/// is any AUTH to a client whose CONNECT had no method ([MQTT-4.12.0-6]; as before this feature).
#[test]
fn unasked_server_auth_is_a_protocol_error() {
    let broker = scram_broker();
    let (client, _scram, rx) = scram_client("unasked", PASSWORD);
    connect(&client, &broker, &rx);
    assert!(broker.send_packet("unasked", auth_packet(0x18, Some(METHOD))));
    assert_eq!(next(&rx), Seen::Disconnect(false, 0x82));
    client.loop_stop().unwrap();

    let plain = v5_client("plain");
    let (_tx, rx) = record(&plain);
    connect(&plain, &broker, &rx);
    assert!(broker.send_packet("plain", auth_packet(0x18, None)));
    assert_eq!(next(&rx), Seen::Disconnect(false, 0x82));
    plain.loop_stop().unwrap();
}

/// A broker without an authenticator refuses a CONNECT with a method: CONNACK 0x8C, Bad
/// authentication method. `reauthenticate` needs a method: it fails on a plain connection.
#[test]
fn method_without_authenticator_and_reauth_without_method() {
    let broker = TestBroker::start().unwrap();
    let (client, _scram, rx) = scram_client("no-auth", PASSWORD);
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert_eq!(next(&rx), Seen::Connect(0x8c));
    client.loop_stop().unwrap();

    let plain = v5_client("plain");
    let (_tx, rx) = record(&plain);
    connect(&plain, &broker, &rx);
    let e = plain.reauthenticate(Some(b"x")).unwrap_err();
    assert!(e.to_string().contains("no authentication method"), "{e}");
    plain.disconnect().unwrap();
    plain.loop_stop().unwrap();
}

/// Accepts any CONNECT at once with the proof "good", and a re-authentication with the proof "bad".
struct Proofs;

impl Authenticator for Proofs {
    fn step(&mut self, _method: &str, data: &[u8]) -> AuthStep {
        match data {
            b"again" => AuthStep::Success(b"bad".to_vec()),
            _ => AuthStep::Success(b"good".to_vec()),
        }
    }
}

/// [MQTT-4.12.1-2]: a re-authentication the client finds failed (`on_auth` refuses the server's
/// AUTH Success) ends with the client's DISCONNECT carrying `on_auth`'s reason.
#[test]
fn client_refusing_reauthentication_disconnects() {
    let broker = TestBroker::builder()
        .authenticator(|| Proofs)
        .start()
        .unwrap();
    let client = v5_client("proofs");
    let (tx, rx) = record(&client);
    client.auth_method_set("PROOFS", None).unwrap();
    client.on_auth(move |_, _, reason, data, _| {
        let _ = tx.send(Seen::Auth(reason.value(), data.to_vec()));
        match data {
            b"good" => Ok(Vec::new()),
            _ => Err(ReasonCode::new(PacketTypes::DISCONNECT as u8, 0x87)),
        }
    });
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert_eq!(next(&rx), Seen::Auth(0x00, b"good".to_vec()));
    assert_eq!(next(&rx), Seen::Connect(0));
    client.reauthenticate(Some(b"again")).unwrap();
    assert_eq!(next(&rx), Seen::Auth(0x00, b"bad".to_vec()));
    assert_eq!(next(&rx), Seen::Disconnect(false, 0x87));
    client.loop_stop().unwrap();
    let got = broker.wait_for_packet("proofs", WAIT, |dir, p| {
        dir == Direction::Received && matches!(p, Packet::Disconnect(_))
    });
    assert!(matches!(got, Some(Packet::Disconnect(d)) if d.reason == 0x87));
}
