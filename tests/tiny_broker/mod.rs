//! A broker of a few lines for test binaries that must stay small and quiet (no TestBroker threads,
//! nothing else linked): it accepts one client, reads CONNECT, answers CONNACK, echoes the client's
//! first `echo` packets back (a QoS 0 PUBLISH comes back as a message), then reads until the client
//! closes. Panics in its thread (seen at `join`) if the client sends something else first.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};

/// Starts it on a port of its own; returns the port and the thread to join after the client is done.
pub fn start(echo: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let thread = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let connect = read_packet(&mut s).expect("read CONNECT");
        assert_eq!(connect[0], 0x10, "expected CONNECT, got {connect:?}");
        s.write_all(&[0x20, 2, 0, 0]).expect("write CONNACK");
        for _ in 0..echo {
            let packet = read_packet(&mut s).expect("read a packet to echo");
            s.write_all(&packet).expect("echo it");
        }
        let mut rest = [0u8; 1024];
        while matches!(s.read(&mut rest), Ok(n) if n > 0) {}
    });
    (port, thread)
}

/// One whole packet, read by its length: a client may send CONNECT and the packets after it before
/// this thread reads at all, and they must not be taken for one.
fn read_packet(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut packet = vec![0u8; 1];
    s.read_exact(&mut packet)?;
    let mut remaining = 0usize;
    for shift in [0, 7, 14, 21] {
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte)?;
        packet.push(byte[0]);
        remaining |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + remaining, 0);
    s.read_exact(&mut packet[start..])?;
    Ok(packet)
}
