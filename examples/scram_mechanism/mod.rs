//! SCRAM-SHA-256 (RFC 5802, RFC 7677) for MQTT 5 enhanced authentication, both sides: [`ScramClient`]
//! for a pahoish `Client` (its messages go in `auth_method_set`, `on_auth` and `reauthenticate`), and
//! [`ScramServer`], a `TestBroker` [`Authenticator`]. Shared by `examples/scram.rs` and
//! `tests/enhanced_auth.rs`.
//!
//! The exchange, with the MQTT packets that carry it:
//!
//! 1. client-first `n,,n=<user>,r=<client nonce>`: CONNECT (or AUTH Re-authenticate) Authentication Data;
//! 2. server-first `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`: AUTH Continue authentication;
//! 3. client-final `c=biws,r=<nonce>,p=<proof>`: AUTH Continue authentication;
//! 4. server-final `v=<server signature>`: CONNACK (or AUTH Success), checked by the client.
//!
//! Only what a test and an example need: no channel binding, user names and passwords in ASCII (no
//! SASLprep), one user on the server side.

#![allow(dead_code)] // each user of this module uses part of it

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use pahoish::testing::{AuthStep, Authenticator};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The Authentication Method's name for this mechanism (the SASL name).
pub const METHOD: &str = "SCRAM-SHA-256";

/// The channel-binding part of the messages: none ("n,,", which is "biws" in base64).
const GS2_HEADER: &str = "n,,";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// A fresh nonce: 18 random bytes in base64 (printable, no comma).
pub fn nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}

/// A user name as SCRAM writes it: `=` and `,` escaped.
fn saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// The value of attribute `key` (`r`, `s`, ...) in a SCRAM message.
fn attribute(message: &str, key: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// The client's side of one exchange.
#[derive(Debug)]
pub struct ScramClient {
    user: String,
    password: String,
    nonce: String,
    /// The server signature the server-final must carry, known once client-final is made.
    expected_server_signature: Option<[u8; 32]>,
}

impl ScramClient {
    /// For `user` with `password`, and a fresh nonce.
    pub fn new(user: &str, password: &str) -> ScramClient {
        ScramClient::with_nonce(user, password, &nonce())
    }

    /// With a given client nonce (for the RFC's test vector).
    pub fn with_nonce(user: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            user: user.to_owned(),
            password: password.to_owned(),
            nonce: nonce.to_owned(),
            expected_server_signature: None,
        }
    }

    /// Starts over with a fresh nonce (a re-authentication); returns the new client-first message.
    pub fn restart(&mut self) -> String {
        self.nonce = nonce();
        self.expected_server_signature = None;
        self.client_first()
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", saslname(&self.user), self.nonce)
    }

    /// client-first: the data of CONNECT (or AUTH Re-authenticate).
    pub fn client_first(&self) -> String {
        format!("{GS2_HEADER}{}", self.client_first_bare())
    }

    /// client-final, with the proof, for the server-first message of a challenge.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let nonce = attribute(server_first, 'r').ok_or("server-first without a nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's nonce does not extend ours".into());
        }
        let salt = attribute(server_first, 's').ok_or("server-first without a salt")?;
        let salt = BASE64.decode(salt).map_err(|e| format!("bad salt: {e}"))?;
        let iterations: u32 = attribute(server_first, 'i')
            .and_then(|i| i.parse().ok())
            .filter(|i| *i > 0)
            .ok_or("server-first without an iteration count")?;
        let without_proof = format!("c={},r={nonce}", BASE64.encode(GS2_HEADER));
        let auth_message = format!(
            "{},{server_first},{without_proof}",
            self.client_first_bare()
        );
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_key = hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Checks server-final: the server proves it knows the password too.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = attribute(server_final, 'e') {
            return Err(format!("the server refused: {e}"));
        }
        let expected = self
            .expected_server_signature
            .ok_or("server-final before client-final")?;
        let given = attribute(server_final, 'v').ok_or("server-final without a verifier")?;
        match BASE64.decode(given) {
            Ok(v) if v == expected => Ok(()),
            _ => Err("the server's signature does not verify".into()),
        }
    }
}

/// What the server keeps of a user's password (RFC 5802 section 3): never the password itself.
#[derive(Debug, Clone)]
pub struct StoredCredentials {
    pub user: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl StoredCredentials {
    /// Derives them from a password (a random salt, 4096 iterations: RFC 7677's minimum).
    pub fn new(user: &str, password: &str) -> StoredCredentials {
        let mut salt = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        StoredCredentials::with_salt(user, password, salt, 4096)
    }

    /// With a given salt and iteration count (for the RFC's test vector).
    pub fn with_salt(user: &str, password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        StoredCredentials {
            user: user.to_owned(),
            salt,
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

/// The server's side of one exchange, as a `TestBroker` authenticator: a new one per exchange
/// (`TestBroker::builder().authenticator(move || ScramServer::new(creds.clone()))`).
#[derive(Debug)]
pub struct ScramServer {
    creds: StoredCredentials,
    /// Set after server-first: what client-final must match.
    state: Option<(String, String)>, // (nonce, client-first-bare + "," + server-first)
    nonce: String,
}

impl ScramServer {
    pub fn new(creds: StoredCredentials) -> ScramServer {
        ScramServer::with_nonce(creds, &nonce())
    }

    /// With a given server nonce (for the RFC's test vector).
    pub fn with_nonce(creds: StoredCredentials, nonce: &str) -> ScramServer {
        ScramServer {
            creds,
            state: None,
            nonce: nonce.to_owned(),
        }
    }

    /// client-first → server-first, or why not.
    pub fn server_first(&mut self, client_first: &str) -> Result<String, String> {
        let bare = client_first
            .strip_prefix(GS2_HEADER)
            .ok_or("only \"n,,\" (no channel binding) is supported")?;
        let user = attribute(bare, 'n').ok_or("client-first without a user name")?;
        let client_nonce = attribute(bare, 'r').ok_or("client-first without a nonce")?;
        if user != saslname(&self.creds.user) {
            return Err(format!("unknown user {user:?}"));
        }
        let nonce = format!("{client_nonce}{}", self.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&self.creds.salt),
            self.creds.iterations
        );
        self.state = Some((nonce, format!("{bare},{server_first}")));
        Ok(server_first)
    }

    /// client-final → server-final when the proof verifies, or why not.
    pub fn server_final(&mut self, client_final: &str) -> Result<String, String> {
        let (nonce, first_part) = self.state.take().ok_or("client-final out of turn")?;
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or("client-final without a proof")?;
        if attribute(without_proof, 'r') != Some(nonce.as_str()) {
            return Err("client-final with another nonce".into());
        }
        if attribute(without_proof, 'c') != Some(BASE64.encode(GS2_HEADER).as_str()) {
            return Err("client-final with other channel binding".into());
        }
        let proof: [u8; 32] = BASE64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or("a proof that is not 32 bytes of base64")?;
        let auth_message = format!("{first_part},{without_proof}");
        let client_signature = hmac(&self.creds.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &client_signature);
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        if stored_key != self.creds.stored_key {
            return Err("invalid proof".into());
        }
        let server_signature = hmac(&self.creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

impl Authenticator for ScramServer {
    fn step(&mut self, method: &str, data: &[u8]) -> AuthStep {
        if method != METHOD {
            return AuthStep::Fail(0x8C); // Bad authentication method
        }
        let Ok(message) = std::str::from_utf8(data) else {
            return AuthStep::Fail(0x87);
        };
        if self.state.is_none() {
            match self.server_first(message) {
                Ok(first) => AuthStep::Continue(first.into_bytes()),
                // An unknown user is refused as a wrong password is.
                Err(_) => AuthStep::Fail(0x86),
            }
        } else {
            match self.server_final(message) {
                Ok(last) => AuthStep::Success(last.into_bytes()),
                Err(_) => AuthStep::Fail(0x86), // Bad user name or password
            }
        }
    }
}
