//! What bounds a [`TestBroker`] against hostile or broken clients: keepalive counted per packet, the
//! maximum packet size checked from the fixed header, the per-client queue bound, the packet log's
//! limit. Raw clients on real sockets.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::TestBroker;
use crate::packet::{
    self, Connect, Disconnect, Packet, Protocol, Publish, QoS, Subscribe, MAX_REMAINING_LENGTH,
};

const WAIT: Duration = Duration::from_secs(5);

fn connect_packet(id: &str, protocol: Protocol, keepalive: u16) -> Connect {
    Connect {
        protocol,
        client_id: id.into(),
        clean_session: true,
        keepalive,
        ..Connect::default()
    }
}

/// A raw connection that has sent CONNECT and read an accepting CONNACK.
fn login(broker: &TestBroker, id: &str, protocol: Protocol, keepalive: u16) -> TcpStream {
    let mut s = TcpStream::connect(broker.addr()).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut bytes = Vec::new();
    Packet::Connect(connect_packet(id, protocol, keepalive)).encode_as(&mut bytes, protocol);
    s.write_all(&bytes).expect("CONNECT");
    match read_packet(&mut s, protocol, WAIT) {
        Some(Packet::ConnAck(c)) => assert_eq!(c.code, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    s
}

/// The next packet the broker sends, `None` when the connection closes or nothing comes in `within`.
fn read_packet(s: &mut TcpStream, protocol: Protocol, within: Duration) -> Option<Packet> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + within;
    let mut byte = [0u8; 1];
    loop {
        let decoded = if protocol == Protocol::V5 {
            packet::decode_v5(&buf, MAX_REMAINING_LENGTH)
        } else {
            packet::decode(&buf, MAX_REMAINING_LENGTH)
        };
        if let Some((p, _)) = decoded.expect("a valid packet from the broker") {
            return Some(p);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => buf.push(byte[0]),
        }
    }
}

/// How long until the broker closes `s` (reading and discarding what it sends), at most `limit`;
/// `None` if it stays open.
fn time_to_close(s: &mut TcpStream, start: Instant, limit: Duration) -> Option<Duration> {
    let mut sink = [0u8; 1024];
    loop {
        let left = (start + limit).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut sink) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[test]
fn a_client_trickling_bytes_is_closed_when_no_whole_packet_came_within_its_keepalive() {
    let broker = TestBroker::start().expect("broker");
    let mut s = login(&broker, "trickle", Protocol::V311, 1);
    let start = Instant::now();
    // A 34-byte PUBLISH, a byte every 100 ms: 3.4 s for a packet, where 1.5 s is allowed.
    let publish = Packet::Publish(Publish {
        topic: "t".into(),
        payload: vec![b'x'; 29],
        ..Publish::default()
    })
    .to_bytes();
    let mut w = s.try_clone().expect("clone");
    let trickler = thread::spawn(move || {
        for b in publish {
            if w.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let closed = time_to_close(&mut s, start, Duration::from_secs(8));
    let _ = trickler.join();
    let closed = closed.expect("the broker kept a trickling connection open for 8 s");
    assert!(
        closed < Duration::from_millis(2900),
        "closed after {closed:?}: the trickle kept it open"
    );
}

#[test]
fn a_connect_trickled_a_byte_at_a_time_is_closed_at_the_connect_timeout() {
    let broker = TestBroker::builder()
        .connect_timeout(Duration::from_secs(1))
        .start()
        .expect("broker");
    let mut s = TcpStream::connect(broker.addr()).expect("connect");
    let connect = Packet::Connect(connect_packet("slow", Protocol::V311, 60)).to_bytes();
    // 18 bytes, one every 150 ms: 2.7 s for a CONNECT, where 1 s is allowed.
    let mut w = s.try_clone().expect("clone");
    let start = Instant::now();
    let trickler = thread::spawn(move || {
        for b in connect {
            if w.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(150));
        }
    });
    let closed = time_to_close(&mut s, start, Duration::from_secs(5));
    let _ = trickler.join();
    let closed = closed.expect("the broker kept a trickling CONNECT open for 5 s");
    assert!(
        closed < Duration::from_millis(2200),
        "closed after {closed:?}: the trickle kept it open"
    );
}

#[test]
fn a_connect_claiming_200_mib_is_refused_from_its_header() {
    let broker = TestBroker::start().expect("broker");
    let mut s = TcpStream::connect(broker.addr()).expect("connect");
    // CONNECT, remaining length 200 MiB (a variable byte integer), then a few bytes of its body.
    s.write_all(&[0x10, 0x80, 0x80, 0x80, 0x64, 0, 4, b'M', b'Q', b'T', b'T'])
        .expect("write");
    let start = Instant::now();
    let closed = time_to_close(&mut s, start, Duration::from_secs(3));
    assert!(closed.is_some(), "the broker waited for 200 MiB of CONNECT");
}

#[test]
fn a_packet_over_the_maximum_size_closes_the_connection_before_its_body_arrives() {
    let broker = TestBroker::builder()
        .maximum_packet_size(1024)
        .start()
        .expect("broker");
    // MQTT 3.1.1: closed.
    let mut s = login(&broker, "big311", Protocol::V311, 60);
    // PUBLISH QoS 0, remaining length 1,000,000; only its first bytes follow.
    s.write_all(&[0x30, 0xc0, 0x84, 0x3d, 0, 1, b't'])
        .expect("write");
    let start = Instant::now();
    assert!(
        time_to_close(&mut s, start, Duration::from_secs(3)).is_some(),
        "the broker waited for the body of a packet over its maximum"
    );
    // MQTT 5: DISCONNECT 0x95 (Packet too large), then closed.
    let mut s = login(&broker, "big5", Protocol::V5, 60);
    s.write_all(&[0x30, 0xc0, 0x84, 0x3d, 0, 1, b't'])
        .expect("write");
    match read_packet(&mut s, Protocol::V5, Duration::from_secs(3)) {
        Some(Packet::Disconnect(Disconnect { reason, .. })) => assert_eq!(reason, 0x95),
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
    // A packet within the limit is still taken.
    let mut s = login(&broker, "small", Protocol::V311, 60);
    s.write_all(&Packet::PingReq.to_bytes()).expect("write");
    assert_eq!(
        read_packet(&mut s, Protocol::V311, WAIT),
        Some(Packet::PingResp)
    );
}

fn small_receive_buffer(s: &TcpStream) {
    small_buffer(s, libc::SO_RCVBUF);
}

fn small_send_buffer(s: &TcpStream) {
    small_buffer(s, libc::SO_SNDBUF);
}

fn small_buffer(s: &TcpStream, which: libc::c_int) {
    let size: libc::c_int = 4096;
    // SAFETY: a valid socket fd and a c_int option value that outlives the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            which,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt");
}

/// The bytes the broker holds for `client_id`: waiting for its writer, and in its session's queue.
fn held_for(broker: &TestBroker, client_id: &str) -> (usize, usize) {
    let st = broker.shared.lock();
    let backlog = st
        .wire
        .conns
        .values()
        .filter(|c| c.client_id.as_deref() == Some(client_id))
        .map(|c| c.backlog.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    let queued = st.sessions.get(client_id).map_or(0, |s| s.queued_bytes);
    (backlog, queued)
}

#[test]
fn a_subscriber_that_never_reads_costs_the_broker_a_bounded_queue() {
    const BOUND: usize = 64 * 1024;
    let broker = TestBroker::builder()
        .max_queued_bytes(BOUND)
        .start()
        .expect("broker");
    let mut sub = login(&broker, "deaf", Protocol::V311, 0);
    small_receive_buffer(&sub);
    sub.write_all(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![
                ("q0".into(), QoS::AtMostOnce.into()),
                ("q1".into(), QoS::AtLeastOnce.into()),
            ],
            ..Subscribe::default()
        })
        .to_bytes(),
    )
    .expect("SUBSCRIBE");
    assert!(matches!(
        read_packet(&mut sub, Protocol::V311, WAIT),
        Some(Packet::SubAck(_))
    ));
    // The subscriber reads nothing more. 4,000 QoS 0 messages of 1 KiB, then 400 at QoS 1.
    let mut publ = login(&broker, "pub", Protocol::V311, 0);
    let mut batch = Vec::new();
    for i in 0..4400u32 {
        let qos = if i < 4000 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        Packet::Publish(Publish {
            qos,
            topic: if i < 4000 { "q0" } else { "q1" }.into(),
            pkid: if i < 4000 { 0 } else { (i - 3999) as u16 },
            payload: vec![7; 1024],
            ..Publish::default()
        })
        .encode(&mut batch);
    }
    let mut w = publ.try_clone().expect("clone");
    let writer = thread::spawn(move || w.write_all(&batch));
    // Everything published is routed once the PINGREQ after it is answered (packets are handled in
    // order); the publisher's PUBACKs come first, so read until the PINGRESP.
    writer.join().expect("writer").expect("publish");
    publ.write_all(&Packet::PingReq.to_bytes())
        .expect("PINGREQ");
    loop {
        match read_packet(&mut publ, Protocol::V311, WAIT) {
            Some(Packet::PingResp) => break,
            Some(_) => {}
            None => panic!("no PINGRESP"),
        }
    }
    let (backlog, queued) = held_for(&broker, "deaf");
    // The backlog passes the bound by at most one message's PUBLISH; the queue stays within it.
    assert!(
        backlog <= BOUND + 1100,
        "{backlog} bytes wait for a subscriber that does not read"
    );
    assert!(queued <= BOUND, "{queued} bytes in its queue");
    assert!(
        broker.dropped_messages() > 0,
        "nothing dropped: {backlog} + {queued} bytes held"
    );
    assert!(broker.wait_connected("deaf", WAIT));
}

#[test]
fn the_packet_log_keeps_the_last_packets_up_to_its_limit() {
    let broker = TestBroker::builder()
        .packet_log_limit(10)
        .start()
        .expect("broker");
    let mut s = login(&broker, "chatty", Protocol::V311, 0);
    for _ in 0..20 {
        s.write_all(&Packet::PingReq.to_bytes()).expect("PINGREQ");
        assert_eq!(
            read_packet(&mut s, Protocol::V311, WAIT),
            Some(Packet::PingResp)
        );
    }
    let log = broker.packets("chatty");
    assert_eq!(log.len(), 10, "{log:?}");
    assert!(log
        .iter()
        .all(|(_, p)| matches!(p, Packet::PingReq | Packet::PingResp)));
    assert_eq!(log.last().map(|(_, p)| p), Some(&Packet::PingResp));
    broker.clear_packets();
    assert!(broker.packets("chatty").is_empty());
    s.write_all(&Packet::PingReq.to_bytes()).expect("PINGREQ");
    assert_eq!(
        read_packet(&mut s, Protocol::V311, WAIT),
        Some(Packet::PingResp)
    );
    assert!(broker.wait_for_packets("chatty", WAIT, |log| log.len() == 2));
}

#[test]
fn the_packet_log_is_bounded_by_default() {
    use super::state::PacketLog;
    let mut log = PacketLog::default();
    log.limit = super::PACKET_LOG_LIMIT;
    for i in 0..super::PACKET_LOG_LIMIT + 5000 {
        let id = if i % 2 == 0 { "a" } else { "b" };
        log.push(id, super::Direction::Received, Packet::PingReq);
    }
    assert_eq!(
        log.get("a").len() + log.get("b").len(),
        super::PACKET_LOG_LIMIT
    );
}

#[test]
fn a_client_that_sends_and_never_reads_cannot_make_the_broker_queue_its_answers_without_end() {
    const BOUND: usize = 16 * 1024;
    let broker = TestBroker::builder()
        .max_queued_bytes(BOUND)
        .start()
        .expect("broker");
    let s = login(&broker, "deaf-pinger", Protocol::V311, 0);
    // The answers' way gets small socket buffers (the client's receive buffer, the broker's send
    // buffer), so that the kernel does not absorb megabytes of them first.
    small_receive_buffer(&s);
    {
        let st = broker.shared.lock();
        let conn = st
            .wire
            .conns
            .values()
            .find(|c| c.client_id.as_deref() == Some("deaf-pinger"))
            .expect("the connection");
        small_send_buffer(&conn.stream);
    }
    // 2,000,000 PINGREQs (4 MB of PINGRESPs to answer), never reading.
    let pings = Packet::PingReq.to_bytes().repeat(2_000_000);
    let mut w = s.try_clone().expect("clone");
    w.set_write_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let writer = thread::spawn(move || {
        let mut at = 0;
        while at < pings.len() && !stopped.load(Ordering::SeqCst) {
            match w.write(&pings[at..]) {
                Ok(n) => at += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    });
    // Watched for two seconds: what waits for the client's writer stays within the bound and one
    // read's answers (16 KiB of PINGREQs, as many bytes of PINGRESPs).
    let start = Instant::now();
    let mut most = 0;
    while start.elapsed() < Duration::from_secs(2) {
        most = most.max(held_for(&broker, "deaf-pinger").0);
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    assert!(
        most <= BOUND + 16 * 1024,
        "{most} bytes of answers queued for a client that does not read"
    );
    drop(s);
}
