//! Write batching, counted rather than timed: what the loop has pending goes out in a handful of
//! `write(2)` calls, however many messages that is. The client talks through [`CountingStream`], a real
//! non-blocking TCP socket that counts the writes made on it, to a broker played by the test on a
//! listener of its own (so the broker's side is exact and nothing depends on the machine's speed).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use crate::net::NetStream;
use crate::packet::{self, ConnAck, Packet, PubAck, MAX_REMAINING_LENGTH};
use crate::Client;

/// Every blocking wait in these tests gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP stream that counts the `write` calls made on it and the bytes they took.
struct CountingStream {
    inner: TcpStream,
    counts: Arc<WriteCounts>,
}

#[derive(Default)]
struct WriteCounts {
    writes: AtomicUsize,
    bytes: AtomicUsize,
}

impl WriteCounts {
    fn snapshot(&self) -> (usize, usize) {
        (
            self.writes.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

impl Read for CountingStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for CountingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts.bytes.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// Only `raw_fd`: the other hooks keep their defaults, a plain TCP socket's (the TCP_QUICKACK hint among
// them, which writes nothing).
impl NetStream for CountingStream {
    fn raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// The broker's end of the connection: reads whole packets.
struct BrokerSide {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl BrokerSide {
    fn next_packet(&mut self) -> io::Result<Option<Packet>> {
        loop {
            if let Some((p, used)) = packet::decode(&self.buf, MAX_REMAINING_LENGTH)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            {
                self.buf.drain(..used);
                return Ok(Some(p));
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.sock.read(&mut chunk)? {
                0 => return Ok(None),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// A client connected through a `CountingStream` to a listener the test accepts on; the broker's side
/// has read CONNECT and answered CONNACK (accepted) when this returns. The loop is not started.
fn connected_client() -> (Client, BrokerSide, Arc<WriteCounts>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let tcp = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.set_nonblocking(true).expect("nonblocking");
    let (sock, _) = listener.accept().expect("accept");
    sock.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let counts = Arc::new(WriteCounts::default());
    let client = Client::new("batching");
    client.engine().adopt_stream(
        &client,
        Box::new(CountingStream {
            inner: tcp,
            counts: Arc::clone(&counts),
        }),
    );
    let broker = BrokerSide {
        sock,
        buf: Vec::new(),
    };
    (client, broker, counts)
}

/// Runs the broker's side on a thread: CONNECT in, CONNACK out, then `serve` until the client closes.
/// The thread's result comes back on the returned channel.
fn serve<T: Send + 'static>(
    mut broker: BrokerSide,
    serve: impl FnOnce(&mut BrokerSide) -> io::Result<T> + Send + 'static,
) -> mpsc::Receiver<io::Result<T>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = (|| {
            match broker.next_packet()? {
                Some(Packet::Connect(_)) => {}
                other => return Err(io::Error::other(format!("expected CONNECT, got {other:?}"))),
            }
            let connack = Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                ..ConnAck::default()
            });
            broker.sock.write_all(&connack.to_bytes())?;
            serve(&mut broker)
        })();
        let _ = tx.send(r);
    });
    rx
}

/// The broker's side for a client that only publishes QoS 0: counts the PUBLISH packets until
/// DISCONNECT.
fn serve_counting_publishes(broker: BrokerSide) -> mpsc::Receiver<io::Result<usize>> {
    serve(broker, |b| {
        let mut publishes = 0;
        while let Some(p) = b.next_packet()? {
            match p {
                Packet::Publish(_) => publishes += 1,
                Packet::Disconnect(_) => break,
                other => return Err(io::Error::other(format!("unexpected {other:?}"))),
            }
        }
        Ok(publishes)
    })
}

/// Disconnects, stops the loop and returns what the broker's side made of the connection.
fn disconnect_and_join<T>(client: &Client, received: mpsc::Receiver<io::Result<T>>) -> T {
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
    received
        .recv_timeout(TIMEOUT)
        .expect("the broker's side never finished")
        .expect("the broker's side failed")
}

/// With no loop running: lets `client` write its CONNECT (one `loop()` call, which the broker does not
/// answer), then has the broker answer with CONNACK and `n` QoS 0 messages (payloads "000", "001", ...)
/// in one write, and waits until all of it is in the client's receive queue, so that the next read
/// takes it whole (on a loaded machine the kernel may deliver it after `write` returns).
fn connack_and_burst(client: &Client, broker: &mut BrokerSide, n: usize) {
    client.r#loop(0.05).expect("loop");
    match broker.next_packet().expect("read CONNECT") {
        Some(Packet::Connect(_)) => {}
        other => panic!("expected CONNECT, got {other:?}"),
    }
    let mut burst = Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        ..ConnAck::default()
    })
    .to_bytes();
    for i in 0..n {
        let payload = format!("{i:03}");
        packet::Publish::encode_parts(
            &mut burst,
            false,
            crate::QoS::AtMostOnce,
            false,
            "burst",
            0,
            payload.as_bytes(),
        );
    }
    broker.sock.write_all(&burst).expect("write the burst");
    let fd = client
        .engine()
        .io()
        .stream
        .as_ref()
        .expect("stream")
        .raw_fd();
    wait_until_queued(fd, burst.len());
}

/// Waits (up to `TIMEOUT`, else panics) until socket `fd` has at least `bytes` to read: poll(2) with
/// the socket's low-water mark raised to that many, which is put back to 1 before returning.
fn wait_until_queued(fd: RawFd, bytes: usize) {
    let set_lowat = |n: libc::c_int| {
        crate::net::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, n).expect("SO_RCVLOWAT")
    };
    set_lowat(bytes as libc::c_int);
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd that outlives the call.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, TIMEOUT.as_millis() as libc::c_int) };
    set_lowat(1);
    assert_eq!(n, 1, "the {bytes} bytes never all arrived");
}

/// The length of one encoded QoS 0 PUBLISH of `payload` bytes on `topic`.
fn publish_len(topic: &str, qos: crate::QoS, payload: usize) -> usize {
    let mut out = Vec::new();
    packet::Publish::encode_parts(&mut out, false, qos, false, topic, 1, &vec![0; payload]);
    out.len()
}

/// The scenario of issue #6: 1,000 QoS 0 messages published from another thread while the loop is busy
/// (here: inside `on_connect`, held there by the test) go out in a handful of writes once the loop is
/// free, not one write per message, and every byte of them arrives.
#[test]
fn qos0_messages_queued_while_the_loop_is_busy_go_out_in_a_handful_of_writes() {
    const N: usize = 1000;
    let (client, broker, counts) = connected_client();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = entered_tx.send(());
        let _ = release_rx.recv_timeout(TIMEOUT);
    });
    let (published_tx, published_rx) = mpsc::channel();
    let mut published = 0;
    client.on_publish(move |_c, _u, _mid, _rc, _p| {
        published += 1;
        if published == N {
            let _ = published_tx.send(());
        }
    });
    let received = serve_counting_publishes(broker);
    client.loop_start().expect("loop_start");
    entered_rx
        .recv_timeout(TIMEOUT)
        .expect("on_connect never ran");

    // The loop is inside on_connect: everything published now waits in the session's buffer.
    let before = counts.snapshot();
    for i in 0..N {
        let info = client
            .publish("batch/qos0", format!("{i:04}"), 0, false)
            .expect("publish");
        assert_eq!(info.rc, crate::ErrorCode::Success);
    }
    assert_eq!(
        counts.snapshot(),
        before,
        "nothing is written while the loop is busy"
    );
    release_tx.send(()).expect("release on_connect");
    published_rx
        .recv_timeout(TIMEOUT)
        .expect("not every message was published");
    let after = counts.snapshot();

    let writes = after.0 - before.0;
    let bytes = after.1 - before.1;
    assert_eq!(
        bytes,
        N * publish_len("batch/qos0", crate::QoS::AtMostOnce, 4)
    );
    // One write takes the whole buffer; a few more are allowed for a socket that takes it in parts.
    assert!(
        writes <= 4,
        "{N} queued messages took {writes} writes; expected at most 4"
    );

    let got = disconnect_and_join(&client, received);
    assert_eq!(got, N);
}

/// QoS 1 with a window of 100: the broker acknowledges each window in one write, and the client sends
/// the next window's 100 messages in a handful of writes (the acks are decoded together, the window
/// refilled, then written once), so 1,000 messages take a few writes per window, not one per message.
#[test]
fn qos1_window_refills_go_out_in_a_handful_of_writes_per_batch_of_acks() {
    const N: usize = 1000;
    const WINDOW: usize = 100;
    let (client, broker, counts) = connected_client();
    client.max_inflight_messages_set(WINDOW);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = entered_tx.send(());
        let _ = release_rx.recv_timeout(TIMEOUT);
    });
    let (done_tx, done_rx) = mpsc::channel();
    let mut acked = 0;
    client.on_publish(move |_c, _u, _mid, _rc, _p| {
        acked += 1;
        if acked == N {
            let _ = done_tx.send(());
        }
    });
    // The broker acks only whole windows, each in one write, so every refill is one batch.
    let received = serve(broker, |b| {
        let (mut unacked, mut total) = (Vec::new(), 0);
        while let Some(p) = b.next_packet()? {
            match p {
                Packet::Publish(p) => {
                    unacked.push(p.pkid);
                    total += 1;
                    if unacked.len() == WINDOW {
                        let mut acks = Vec::new();
                        for pkid in unacked.drain(..) {
                            PubAck::new(pkid).encode(&mut acks);
                        }
                        b.sock.write_all(&acks)?;
                    }
                }
                Packet::Disconnect(_) => break,
                other => return Err(io::Error::other(format!("unexpected {other:?}"))),
            }
        }
        Ok(total)
    });
    client.loop_start().expect("loop_start");
    entered_rx
        .recv_timeout(TIMEOUT)
        .expect("on_connect never ran");
    let before = counts.snapshot();
    for i in 0..N {
        client
            .publish("batch/qos1", format!("{i:04}"), 1, false)
            .expect("publish");
    }
    release_tx.send(()).expect("release on_connect");
    done_rx
        .recv_timeout(TIMEOUT)
        .expect("not every message was acknowledged");
    let after = counts.snapshot();

    let writes = after.0 - before.0;
    let bytes = after.1 - before.1;
    assert_eq!(
        bytes,
        N * publish_len("batch/qos1", crate::QoS::AtLeastOnce, 4)
    );
    let batches = N / WINDOW;
    // Per batch: one write normally; up to three when the acks arrive split over reads or the socket
    // takes the window in parts. One write per message would be 1,000.
    assert!(
        writes <= 3 * batches,
        "{N} messages in {batches} windows took {writes} writes; expected at most {}",
        3 * batches
    );

    let got = disconnect_and_join(&client, received);
    assert_eq!(got, N);
}

/// A burst the client reads in one `read(2)` (CONNACK and 200 QoS 0 messages, written by the broker in
/// one piece) is decoded `TURN_PACKETS` at a time: each `loop()` call (one turn) runs at most that many
/// packets' callbacks, so what waits for the callbacks stays bounded, and the next call takes the rest
/// at once from the buffer, without waiting for the socket (which has nothing more to say: a call that
/// waited would sit out its whole timeout and deliver nothing). Every message arrives, in order.
#[test]
fn a_burst_is_decoded_a_turn_at_a_time_and_the_next_turn_takes_the_rest_without_waiting() {
    use crate::engine::io::TURN_PACKETS;
    use std::sync::Mutex;
    const N: usize = 200;
    let (client, mut broker, _counts) = connected_client();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    client.on_message(move |_c, _u, msg| {
        sink.lock().unwrap().push(msg.payload.clone());
    });
    connack_and_burst(&client, &mut broker, N);

    let mut per_turn = Vec::new();
    while got.lock().unwrap().len() < N && per_turn.len() < 2 * N / TURN_PACKETS {
        let before = got.lock().unwrap().len();
        client.r#loop(TIMEOUT.as_secs_f64()).expect("loop");
        per_turn.push(got.lock().unwrap().len() - before);
    }
    // The first turn's share includes the CONNACK.
    let mut expected = vec![TURN_PACKETS - 1];
    let mut left = N - (TURN_PACKETS - 1);
    while left > 0 {
        expected.push(left.min(TURN_PACKETS));
        left -= left.min(TURN_PACKETS);
    }
    assert_eq!(per_turn, expected, "messages delivered per loop() call");
    let want: Vec<Vec<u8>> = (0..N).map(|i| format!("{i:03}").into_bytes()).collect();
    assert_eq!(*got.lock().unwrap(), want);
}

/// A stream of large messages keeps its write buffers: each batch past `BUFFER_KEEP` (here one 5 MiB
/// message) leaves a buffer that holds the next one, instead of being shrunk and faulted in from the
/// kernel again for every message; batches under `BUFFER_KEEP` that still need most of it (3 MiB
/// each, as at QoS 2 with 1 MiB messages) keep what they need. Once `SHRINK_AFTER` small batches in a
/// row have gone out, the buffers are back under `BUFFER_KEEP`.
#[test]
fn large_batches_keep_their_write_buffer_and_small_ones_give_it_back() {
    use crate::engine::io::{BUFFER_KEEP, SHRINK_AFTER};
    let big = vec![7u8; BUFFER_KEEP + BUFFER_KEEP / 4];
    let (client, broker, _counts) = connected_client();
    let (published_tx, published_rx) = mpsc::channel();
    client.on_publish(move |_c, _u, _mid, _rc, _p| {
        let _ = published_tx.send(());
    });
    let (connected_tx, connected_rx) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = connected_tx.send(());
    });
    let received = serve_counting_publishes(broker);
    client.loop_start().expect("loop_start");
    connected_rx.recv_timeout(TIMEOUT).expect("no CONNACK");
    // The capacity of the two buffers that take turns: the loop's and the session's.
    let capacity = |c: &Client| {
        let io = c.engine().io();
        io.wbuf
            .capacity()
            .max(c.engine().state().session.out_capacity())
    };
    let publish_one = |payload: &[u8]| {
        client.publish("big", payload, 0, false).expect("publish");
        published_rx
            .recv_timeout(TIMEOUT)
            .expect("the message was never written");
    };
    for i in 0..3 {
        publish_one(&big);
        assert!(
            capacity(&client) >= big.len(),
            "after large batch {i} the write buffers were shrunk to {}",
            capacity(&client)
        );
    }
    // Batches under BUFFER_KEEP that still need most of it (as at QoS 2 with 1 MiB messages, 1-5 MiB
    // each) keep what they need: the buffers never go back to the start between them.
    let medium = vec![7u8; BUFFER_KEEP * 3 / 4];
    for i in 0..2 * SHRINK_AFTER {
        publish_one(&medium);
        assert!(
            capacity(&client) >= medium.len(),
            "after batch {i} of {} bytes the write buffers were shrunk to {}",
            medium.len(),
            capacity(&client)
        );
    }
    for _ in 0..SHRINK_AFTER + 2 {
        publish_one(b"small");
    }
    assert!(
        capacity(&client) <= BUFFER_KEEP,
        "after small batches the write buffers still hold {}",
        capacity(&client)
    );
    let got = disconnect_and_join(&client, received);
    assert_eq!(got, 3 + 2 * SHRINK_AFTER + SHRINK_AFTER + 2);
}

/// The two output buffers (the session's and the loop's, which trade places at each write) have
/// `OUT_RESERVE` from the start, so a publishing burst that fits fills them without growing them: no
/// copy, and no outgrown block left on the heap (P16 in docs/performance.md). Three bursts of 1,000
/// QoS 0 messages, written while the test publishes, however the loop happens to batch them: even all
/// 3,000 in one batch would fit.
#[test]
fn output_buffers_are_reserved_up_front_and_bursts_that_fit_never_grow_them() {
    use crate::session::OUT_RESERVE;
    const N: usize = 1000;
    const BURSTS: usize = 3;
    let payload = [b'x'; 64];
    assert!(BURSTS * N * publish_len("reserve", crate::QoS::AtMostOnce, 64) < OUT_RESERVE);
    let (client, broker, _counts) = connected_client();
    let capacities = |c: &Client| {
        let io = c.engine().io();
        (
            c.engine().state().session.out_capacity(),
            io.wbuf.capacity(),
        )
    };
    assert_eq!(capacities(&client), (OUT_RESERVE, OUT_RESERVE));
    let (published_tx, published_rx) = mpsc::channel();
    let mut published = 0;
    client.on_publish(move |_c, _u, _mid, _rc, _p| {
        published += 1;
        if published % N == 0 {
            let _ = published_tx.send(());
        }
    });
    let (connected_tx, connected_rx) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = connected_tx.send(());
    });
    let received = serve_counting_publishes(broker);
    client.loop_start().expect("loop_start");
    // Publishing only after the CONNACK: otherwise, on a loaded machine, every burst and the
    // DISCONNECT could be out (QoS 0 needs no CONNACK) and the socket closed before the broker's side
    // even answered, and its CONNACK into a closed socket then reset the connection under the
    // broker's reads.
    connected_rx.recv_timeout(TIMEOUT).expect("no CONNACK");
    for burst in 0..BURSTS {
        for _ in 0..N {
            client
                .publish("reserve", payload.as_slice(), 0, false)
                .expect("publish");
        }
        published_rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("burst {burst} was never written"));
    }
    assert_eq!(
        capacities(&client),
        (OUT_RESERVE, OUT_RESERVE),
        "(session's, loop's) capacity after {BURSTS} bursts"
    );
    let got = disconnect_and_join(&client, received);
    assert_eq!(got, BURSTS * N);
}

/// The external-loop API, as Paho's: `want_write` is true while bytes wait for `loop_write`. First
/// the CONNECT of a new connection, queued in the session; then the rest of a publish larger than the
/// socket takes (32 MiB, against the few MiB loopback buffers hold). `loop_write`, each time the socket
/// is writable while the broker reads, takes it out, and then nothing waits. With no connection
/// nothing does either.
#[test]
fn want_write_holds_while_bytes_wait_and_loop_write_takes_them_out() {
    assert!(!Client::new("unconnected").want_write());
    let (client, mut broker, _counts) = connected_client();
    assert!(client.want_write(), "CONNECT waits in the session's buffer");
    connack_and_burst(&client, &mut broker, 0);
    client.loop_read().expect("loop_read the CONNACK");
    assert!(!client.want_write(), "nothing to write after CONNECT");

    let big = vec![7u8; 32 * 1024 * 1024];
    client
        .publish("big", big.as_slice(), 0, false)
        .expect("publish");
    assert!(client.want_write(), "32 MiB went out in one go");
    let reader = thread::spawn(move || match broker.next_packet() {
        Ok(Some(Packet::Publish(p))) => p.payload.len(),
        other => panic!("expected the PUBLISH, got {other:?}"),
    });
    let fd = client.socket().expect("socket");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while client.want_write() {
        assert!(
            std::time::Instant::now() < deadline,
            "still bytes to write after {TIMEOUT:?}"
        );
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd that outlives the call.
        #[allow(unsafe_code)]
        unsafe {
            libc::poll(&mut pfd, 1, 100)
        };
        client.loop_write().expect("loop_write");
    }
    assert_eq!(reader.join().expect("the broker's side"), big.len());
}

/// `read_coalescing_set` reaches the loop: a turn that reads a stream (CONNACK and three messages,
/// the socket emptied, nothing to write) then waits that long before `loop()` returns. (ppoll never
/// returns before its timeout, so the lower bound cannot fail on a slow machine.) Turned off, the same
/// turn returns without it, which only a time bound could show, so that half is left to
/// `coalesce_wait`'s unit test.
#[test]
fn the_read_coalescing_setting_is_the_wait_after_a_turn_that_read_a_stream() {
    use std::time::Instant;
    let (client, mut broker, _counts) = connected_client();
    let wait = Duration::from_millis(10);
    client
        .read_coalescing_set(wait)
        .expect("read_coalescing_set");
    let (got_tx, got_rx) = mpsc::channel();
    client.on_message(move |_c, _u, _msg| {
        let _ = got_tx.send(());
    });
    connack_and_burst(&client, &mut broker, 3);
    let start = Instant::now();
    client.r#loop(TIMEOUT.as_secs_f64()).expect("loop");
    let took = start.elapsed();
    assert_eq!(
        got_rx.try_iter().count(),
        3,
        "the turn did not read the burst"
    );
    assert!(
        took >= wait,
        "loop() returned after {took:?}, before the {wait:?} wait"
    );
    assert!(took < TIMEOUT, "loop() sat out its timeout: {took:?}");
}
