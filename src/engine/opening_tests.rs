//! One connection however `connect()` and the `loop_start` thread interleave. Each test plays one
//! interleaving step by step on the calling thread (the loop's steps are the engine calls its loop
//! makes), against a listener that counts the TCP connections made to it.

use std::io::ErrorKind;
use std::net::TcpListener;

use crate::Client;

/// A listener on a free loopback port, non-blocking so that its backlog can be counted.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    l.set_nonblocking(true).expect("non-blocking");
    let port = l.local_addr().expect("address").port();
    (l, port)
}

/// The connections waiting in the listener's backlog (each `open` returns once its TCP handshake is
/// done, so every connection made is there).
fn accepted(l: &TcpListener) -> usize {
    let mut n = 0;
    loop {
        match l.accept() {
            Ok(_) => n += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The loop found no socket (and a host), then `connect()` on the user's thread opened and installed
/// its connection before the loop got to open one: the loop uses that connection.
#[test]
fn the_loop_uses_a_connection_installed_after_it_looked() {
    let (l, port) = listener();
    let client = Client::new("opening-1");
    let engine = client.engine();
    let loop_seen = engine.opened_count();
    client.connect("127.0.0.1", port, 60).expect("connect");
    engine
        .open_connection_since(&client, loop_seen)
        .expect("the loop's opening");
    assert_eq!(engine.opened_count(), loop_seen + 1);
    assert_eq!(accepted(&l), 1);
}

/// `connect()` recorded its host, the loop saw it and opened and installed a connection before
/// `connect()` got to open one: `connect()` uses that connection.
#[test]
fn connect_uses_the_connection_the_loop_installed_for_its_host() {
    let (l, port) = listener();
    let client = Client::new("opening-2");
    let engine = client.engine();
    let connect_seen = engine.opened_count();
    client
        .connect_async("127.0.0.1", port, 60)
        .expect("the host recorded");
    engine
        .open_connection_since(&client, engine.opened_count())
        .expect("the loop's opening");
    engine
        .open_connection(&client, Some(connect_seen))
        .expect("connect()'s opening");
    assert_eq!(engine.opened_count(), connect_seen + 1);
    assert_eq!(accepted(&l), 1);
}

/// `reconnect()` always opens anew, closing the connection it replaces.
#[test]
fn reconnect_opens_a_second_connection() {
    let (l, port) = listener();
    let client = Client::new("opening-3");
    client.connect("127.0.0.1", port, 60).expect("connect");
    client.reconnect().expect("reconnect");
    assert_eq!(client.engine().opened_count(), 2);
    assert_eq!(accepted(&l), 2);
}
