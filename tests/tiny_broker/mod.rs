//! A broker of a few lines for test binaries that must stay small and quiet (no TestBroker threads,
//! nothing else linked): it accepts one client, reads CONNECT, answers CONNACK, echoes the client's
//! first `echo` packets back (a QoS 0 PUBLISH comes back as a message), then reads until the client
//! closes. Panics in its thread (seen at `join`) if the client sends something else first.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};

/// Starts it on a port of its own; returns the port and the thread to join after the client is done.
pub fn start(echo: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let thread = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).expect("read CONNECT");
        assert!(
            n > 0 && buf[0] == 0x10,
            "expected CONNECT, got {:?}",
            &buf[..n]
        );
        s.write_all(&[0x20, 2, 0, 0]).expect("write CONNACK");
        for _ in 0..echo {
            let n = s.read(&mut buf).expect("read a packet to echo");
            s.write_all(&buf[..n]).expect("echo it");
        }
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    (port, thread)
}
