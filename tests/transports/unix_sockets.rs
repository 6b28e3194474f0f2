//! Unix sockets: `Transport::Unix` to mosquitto's socket listener, and a socket that does not exist.

use mqtt::Transport;
use pahoish as mqtt;

use crate::common::{watchdog, TEST_LIMIT};
use crate::support::{client_with, connected, path_str, round_trips};
use crate::transport_support::broker::Broker;

/// `Transport::Unix`: the host is the socket's path and the port is ignored (1883, as a ported Paho
/// script passes, and 0); a QoS 1 round trip through mosquitto's Unix socket listener.
#[test]
fn unix_socket_round_trip() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    for port in [1883, 0] {
        let peer = connected(client_with("unix", Transport::Unix), |c| {
            c.connect(broker.unix_path(), port, 60)
        });
        round_trips(&peer, &peer, "transports/unix", &[1]);
        peer.stop();
    }
}

/// A Unix socket path where nothing listens fails `connect` with an error that names the path.
#[test]
fn unix_socket_that_does_not_exist_is_an_error_naming_it() {
    let _wd = watchdog(TEST_LIMIT);
    let dir = std::env::temp_dir().join(format!("pahoish-no-sock-{}", std::process::id()));
    let path = dir.join("missing.sock");
    let client = client_with("unix-missing", Transport::Unix);
    let e = client
        .connect(path_str(&path), 1883, 60)
        .expect_err("connecting to a missing socket");
    println!("{e} ({e:?})");
    assert!(
        e.to_string().contains(path_str(&path)),
        "{e} does not name the path"
    );
}
