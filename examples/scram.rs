//! MQTT 5 enhanced authentication with SCRAM-SHA-256 (RFC 5802, RFC 7677), which no Paho client can do:
//! the client proves it knows the password without sending it, and the server proves it knows it too.
//!
//! Run: `cargo run --features testing --example scram`. It starts an embedded
//! [`TestBroker`](pahoish::testing::TestBroker) whose authenticator is the server side of SCRAM
//! (`examples/scram_mechanism/`), then:
//!
//! 1. connects as `alice` with the right password: CONNECT carries client-first, `on_auth` answers the
//!    server-first challenge with client-final, and checks the server-final that the CONNACK carries;
//! 2. re-authenticates on the live connection (`reauthenticate`, AUTH 0x19): the same exchange, ending
//!    with AUTH Success;
//! 3. connects with a wrong password: the broker refuses with CONNACK 0x86, Bad user name or password.
//!
//! It prints each step and exits with an error if any outcome is not the expected one (or takes more
//! than 10 seconds).

mod scram_mechanism;

use std::error::Error;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pahoish::testing::TestBroker;
use pahoish::{Client, MQTTv5, PacketTypes, ReasonCode};
use scram_mechanism::{ScramClient, ScramServer, StoredCredentials, METHOD};

const LIMIT: Duration = Duration::from_secs(10);

/// The client's side of SCRAM, shared by `on_auth` and the code that re-authenticates.
type Mechanism = Arc<Mutex<ScramClient>>;

/// A client set up for SCRAM as `user` with `password`; each outcome (on_connect's reason code, or
/// what on_auth saw at the end of an exchange) goes to the channel.
fn scram_client(
    user: &str,
    password: &str,
    events: mpsc::Sender<String>,
) -> Result<(Client, Mechanism), Box<dyn Error>> {
    let client = Client::builder()
        .client_id(user)
        .protocol(MQTTv5)
        .reconnect_on_failure(false)
        .build()?;
    let scram = Arc::new(Mutex::new(ScramClient::new(user, password)));
    let first = scram.lock().unwrap().client_first();
    println!("CONNECT  {METHOD} client-first: {first}");
    client.auth_method_set(METHOD, Some(first.as_bytes()))?;

    let mechanism = Arc::clone(&scram);
    let tx = events.clone();
    client.on_auth(move |_client, _userdata, reason, data, _props| {
        let text = String::from_utf8_lossy(data).into_owned();
        let mut scram = mechanism.lock().unwrap();
        let not_authorized = || ReasonCode::new(PacketTypes::DISCONNECT as u8, 0x87);
        if reason.value() == 0x18 {
            // server-first: answer with client-final and its proof.
            println!("AUTH  <- {reason}: {text}");
            let last = scram.client_final(&text).map_err(|e| {
                println!("cannot answer: {e}");
                not_authorized()
            })?;
            println!("AUTH  -> {last}");
            return Ok(last.into_bytes());
        }
        // Success: the server-final (in the CONNACK, or in AUTH after a re-authentication).
        match scram.verify_server_final(&text) {
            Ok(()) => {
                println!("{reason}: {text} (the server's signature verifies)");
                let _ = tx.send("server verified".to_owned());
                Ok(Vec::new())
            }
            Err(e) => {
                println!("{reason} refused: {e}");
                Err(not_authorized())
            }
        }
    });
    client.on_connect(move |_client, _userdata, _flags, rc, _props| {
        println!("Connected with result code {rc}");
        let _ = events.send(format!("connect: {rc}"));
    });
    Ok((client, scram))
}

fn expect(rx: &mpsc::Receiver<String>, want: &str) -> Result<(), Box<dyn Error>> {
    let got = rx.recv_timeout(LIMIT)?;
    if got != want {
        return Err(format!("expected {want:?}, got {got:?}").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    // The broker keeps alice's salted keys, never her password.
    let creds = StoredCredentials::new("alice", "correct horse battery staple");
    let broker = TestBroker::builder()
        .authenticator(move || ScramServer::new(creds.clone()))
        .start()?;

    println!("--- alice, right password");
    let (tx, rx) = mpsc::channel();
    let (client, scram) = scram_client("alice", "correct horse battery staple", tx)?;
    client.connect("127.0.0.1", broker.port(), 60)?;
    client.loop_start()?;
    expect(&rx, "server verified")?;
    expect(&rx, "connect: Success")?;

    println!("--- alice re-authenticates");
    let first = scram.lock().unwrap().restart();
    println!("AUTH  -> Re-authenticate: {first}");
    client.reauthenticate(Some(first.as_bytes()))?;
    expect(&rx, "server verified")?;
    client.disconnect()?;
    client.loop_stop()?;

    println!("--- alice, wrong password");
    let (tx, rx) = mpsc::channel();
    let (client, _) = scram_client("alice", "tr0ub4dor&3", tx)?;
    client.connect("127.0.0.1", broker.port(), 60)?;
    client.loop_start()?;
    expect(&rx, "connect: Bad user name or password")?;
    let _ = client.disconnect();
    client.loop_stop()?;
    println!("--- ok");
    Ok(())
}
