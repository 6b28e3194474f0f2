//! What a program that never configures TLS pays for the `tls` feature: nothing. The client keeps its
//! TLS settings behind a trait object made only by `tls_set` and its siblings, so the plain connection
//! path names no TLS code, the linker leaves it out, and libssl/libcrypto are not among the executable's
//! libraries (loading them costs about 1.5 MB of resident memory at start). This binary connects,
//! publishes and disconnects over plain TCP, then looks at its own memory map.
//!
//! It fails if someone makes the plain path reach the TLS code (a `TlsConnector` stored by value in the
//! client's state, a TLS call in `open`), because the executable then needs libssl to start.

mod tiny_broker;

use pahoish::Client;

#[test]
fn a_client_without_tls_set_does_not_load_openssl() {
    let (port, broker) = tiny_broker::start(0);

    let client = Client::new("footprint");
    client.connect("127.0.0.1", port, 60).expect("connect");
    client.r#loop(1.0).expect("loop");
    let info = client
        .publish("footprint/test", "x", 0, false)
        .expect("publish");
    assert_eq!(info.rc, pahoish::ErrorCode::Success);
    client.disconnect().expect("disconnect");
    broker.join().expect("broker thread");

    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let openssl: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("libssl") || l.contains("libcrypto"))
        .collect();
    assert!(
        openssl.is_empty(),
        "a client that never called tls_set has OpenSSL mapped:\n{}",
        openssl.join("\n")
    );
}
