//! A broker that sends and never reads: the acknowledgements the client owes it stay within the
//! output bound (the loop stops reading), and `disconnect()` and `loop_stop()` still return promptly.
//! The broker is played by the test over loopback TCP with small socket buffers, so that its side
//! fills after a few kilobytes rather than megabytes.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::packet::{ConnAck, Packet, Publish, QoS};
use crate::Client;

/// Every wait in these tests gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The bound the tests set: small, so that a few thousand acknowledgements pass it.
const BOUND: usize = 16 * 1024;
/// QoS 1 messages the broker sends at most: their PUBACKs (4 bytes each) are 25 times `BOUND`.
const MESSAGES: usize = 100_000;

fn small_buffers(fd: i32) {
    let size: libc::c_int = 4096;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket fd and a c_int option value that outlives the call.
        #[allow(unsafe_code)]
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "setsockopt");
    }
}

/// How far the broker's thread got: bytes written, and whether it is done (wrote everything, or its
/// socket failed).
#[derive(Default)]
struct BrokerProgress {
    written: AtomicUsize,
    finished: AtomicBool,
    stop: AtomicBool,
}

/// A client connected to a broker that reads CONNECT, answers CONNACK, then writes `MESSAGES` QoS 1
/// PUBLISHes without ever reading again (retrying while its socket is full, until told to stop). The
/// client's loop runs on its own thread (`loop_start`).
fn client_and_deaf_broker() -> (Client, Arc<BrokerProgress>, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    small_buffers(listener.as_raw_fd());
    let tcp = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    small_buffers(tcp.as_raw_fd());
    tcp.set_nonblocking(true).expect("nonblocking");
    let (mut sock, _) = listener.accept().expect("accept");
    sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    sock.set_write_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let client = Client::new("deaf");
    client.engine().set_output_bound(BOUND);
    client.engine().adopt_stream(&client, Box::new(tcp));
    client.loop_start().expect("loop_start");
    let one = Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        topic: "t".into(),
        pkid: 1,
        payload: b"0123456789".to_vec(),
        ..Publish::default()
    })
    .to_bytes();
    let all: Vec<u8> = one.repeat(MESSAGES);
    let total = all.len();
    let progress = Arc::new(BrokerProgress::default());
    let p = Arc::clone(&progress);
    thread::spawn(move || {
        let mut connect = [0u8; 64];
        let _ = sock.read(&mut connect);
        let connack = Packet::ConnAck(ConnAck::default()).to_bytes();
        sock.write_all(&connack).expect("CONNACK");
        let mut at = 0;
        while at < all.len() && !p.stop.load(Ordering::SeqCst) {
            match sock.write(&all[at..]) {
                Ok(n) => {
                    at += n;
                    p.written.store(at, Ordering::SeqCst);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        p.finished.store(true, Ordering::SeqCst);
        // Keep the socket open, unread, until the test is done with it.
        while !p.stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
    });
    (client, progress, total)
}

/// Waits until the broker's writes have made no progress for a second (the client stopped reading),
/// checking all along that the client's unsent bytes stay within the bound. Fails if the broker wrote
/// everything (the client read it all) or the bound is passed.
fn wait_for_backpressure(client: &Client, progress: &BrokerProgress, total: usize) {
    let start = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let held = client.engine().unsent_bytes();
        let written = progress.written.load(Ordering::SeqCst);
        // Over the bound by at most one turn's acknowledgements (64 packets of 4 bytes).
        assert!(
            held <= BOUND + 64 * 4,
            "{held} bytes wait to be written after the broker wrote {written} of {total}"
        );
        assert!(
            !progress.finished.load(Ordering::SeqCst),
            "the broker wrote {written} of {total} bytes and stopped: the client read everything \
             ({held} bytes of acknowledgements waiting) or closed"
        );
        if written != last.0 {
            last = (written, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return;
        }
        assert!(start.elapsed() < TIMEOUT, "no backpressure in {TIMEOUT:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn acknowledgements_owed_to_a_broker_that_never_reads_stay_within_the_output_bound() {
    // Without the bound the client reads all 100,000 messages and owes 400,000 bytes of PUBACKs.
    let (client, progress, total) = client_and_deaf_broker();
    wait_for_backpressure(&client, &progress, total);
    progress.stop.store(true, Ordering::SeqCst);
    assert!(client.is_connected());
}

#[test]
fn disconnect_and_loop_stop_return_promptly_when_the_broker_never_reads() {
    let (client, progress, total) = client_and_deaf_broker();
    wait_for_backpressure(&client, &progress, total);
    let (tx, stopped) = mpsc::channel();
    let start = Instant::now();
    let c = client.clone();
    thread::spawn(move || {
        let d = c.disconnect();
        let s = c.loop_stop();
        let _ = tx.send((d, s));
    });
    let result = stopped.recv_timeout(Duration::from_secs(10));
    progress.stop.store(true, Ordering::SeqCst);
    let (d, s) = result.expect("disconnect() and loop_stop() hung (keepalive is 60 s)");
    d.expect("disconnect");
    s.expect("loop_stop");
    assert!(!client.is_connected());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// The grace is for output that cannot be written, not for acknowledgements: with everything written
/// and a QoS 1 message awaiting its PUBACK from a broker that is slow (paused), `loop_stop()` waits for
/// it past the grace, as Paho's does.
#[cfg(feature = "testing")]
#[test]
fn loop_stop_still_waits_past_the_grace_for_an_acknowledgement_when_nothing_is_left_to_write() {
    use crate::testing::TestBroker;
    let broker = TestBroker::start().expect("broker");
    let client = Client::new("patient");
    client
        .connect("127.0.0.1", broker.port(), 60)
        .expect("connect");
    client.loop_start().expect("loop_start");
    assert!(broker.wait_connected("patient", TIMEOUT));
    broker.pause();
    let info = client.publish("t", "x", 1, false).expect("publish");
    let (tx, stopped) = mpsc::channel();
    let c = client.clone();
    thread::spawn(move || {
        let _ = tx.send(c.loop_stop());
    });
    let early = stopped.recv_timeout(super::CLOSE_GRACE + Duration::from_secs(1));
    broker.resume();
    assert!(
        early.is_err(),
        "loop_stop returned before the PUBACK: {early:?}"
    );
    stopped
        .recv_timeout(TIMEOUT)
        .expect("loop_stop after the PUBACK")
        .expect("loop_stop");
    assert!(info.is_published());
    let _ = client.disconnect();
}

/// A broker that does not read a large message and then closes its side (an end of stream, its socket
/// kept open and unread): the client, which reads nothing while its output is over the bound, still
/// notices at once (poll reports the peer's close) rather than at keepalive's end.
#[test]
fn a_client_that_stopped_reading_still_notices_the_broker_closing() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    small_buffers(listener.as_raw_fd());
    let tcp = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    small_buffers(tcp.as_raw_fd());
    tcp.set_nonblocking(true).expect("nonblocking");
    let (mut sock, _) = listener.accept().expect("accept");
    sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let client = Client::new("closed-on");
    client.engine().set_output_bound(BOUND);
    let (tx, closed) = mpsc::channel();
    client.on_disconnect(move |_, _, _, _, _| {
        let _ = tx.send(());
    });
    client.engine().adopt_stream(&client, Box::new(tcp));
    client.loop_start().expect("loop_start");
    let mut connect = [0u8; 64];
    let _ = sock.read(&mut connect);
    sock.write_all(&Packet::ConnAck(ConnAck::default()).to_bytes())
        .expect("CONNACK");
    // A message far larger than the bound and the socket buffers: it cannot leave, and the loop stops
    // reading.
    client
        .publish("big", vec![7u8; 1 << 20], 0, false)
        .expect("publish");
    let start = Instant::now();
    while client.engine().unsent_bytes() <= BOUND {
        assert!(start.elapsed() < TIMEOUT, "the message never backed up");
        thread::sleep(Duration::from_millis(5));
    }
    sock.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let noticed = closed.recv_timeout(Duration::from_secs(10));
    drop(sock);
    noticed.expect("the client did not notice the broker's end of stream (keepalive is 60 s)");
    let _ = client.disconnect();
    let _ = client.loop_stop();
}
