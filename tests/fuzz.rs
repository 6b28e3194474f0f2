//! Fuzzing kept in CI at a bounded size: the decoder, a real `Client` against a hostile broker (over TCP
//! and over websockets), and `TestBroker` against hostile clients while it serves a healthy one.
//!
//! Each test draws its cases from a seeded generator and prints the seed; `PAHOISH_FUZZ_SEED` replays
//! it. The case counts are environment variables, with defaults that keep each test to a few seconds:
//! `PAHOISH_FUZZ_DECODER_CASES` (default 300,000), `PAHOISH_FUZZ_CLIENT_CASES` (per transport and
//! protocol, default 500) and `PAHOISH_FUZZ_BROKER_CASES` (default 3,000). docs/reliability.md has a
//! longer run.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use pahoish::packet::{
    self, Auth, ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel, Publish,
    QoS, SubAck, UnsubAck, MAX_REMAINING_LENGTH,
};
use pahoish::testing::TestBroker;
use pahoish::{Client, PacketTypes, Properties, Property, Protocol, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The generator of one test, seeded from `PAHOISH_FUZZ_SEED` or at random (and the seed printed).
fn rng(test: &str) -> StdRng {
    let seed = env_or("PAHOISH_FUZZ_SEED", rand::random::<u64>() >> 16);
    eprintln!("{test}: PAHOISH_FUZZ_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

fn props(t: PacketTypes, items: Vec<Property>) -> Properties {
    let mut p = Properties::new(t);
    for item in items {
        p.set(item).expect("a property the packet type allows");
    }
    p
}

/// Valid packets a broker sends, in both versions' forms: what the mutations start from.
fn server_packets(rng: &mut StdRng) -> Vec<Packet> {
    let pkid = rng.gen_range(1..=u16::MAX);
    let payload: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
    vec![
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            properties: props(
                PacketTypes::CONNACK,
                vec![
                    Property::TopicAliasMaximum(5),
                    Property::ReceiveMaximum(3),
                    Property::MaximumPacketSize(1000),
                    Property::AssignedClientIdentifier("x".into()),
                ],
            ),
        }),
        Packet::Publish(Publish {
            qos: [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][rng.gen_range(0..3)],
            topic: "fuzz/t".into(),
            pkid,
            payload,
            properties: props(
                PacketTypes::PUBLISH,
                vec![
                    Property::TopicAlias(1),
                    Property::SubscriptionIdentifier(300),
                    Property::CorrelationData(vec![9, 9]),
                    Property::UserProperty("k".into(), "v".into()),
                    Property::MessageExpiryInterval(10),
                ],
            ),
            ..Publish::default()
        }),
        Packet::PubAck(PubAck::new(pkid)),
        Packet::PubRec(PubRec::new(pkid)),
        Packet::PubRel(PubRel {
            properties: props(
                PacketTypes::PUBREL,
                vec![Property::ReasonString("r".into())],
            ),
            ..PubRel::new(pkid)
        }),
        Packet::PubComp(PubComp::new(pkid)),
        Packet::SubAck(SubAck {
            pkid,
            return_codes: vec![0, 1, 2, 0x80],
            properties: props(
                PacketTypes::SUBACK,
                vec![Property::ReasonString("r".into())],
            ),
        }),
        Packet::UnsubAck(UnsubAck {
            pkid,
            codes: vec![0, 0x11],
            properties: Properties::new(PacketTypes::UNSUBACK),
        }),
        Packet::PingResp,
        Packet::Disconnect(Disconnect {
            reason: 0x8b,
            properties: props(
                PacketTypes::DISCONNECT,
                vec![Property::ServerReference("b".into())],
            ),
        }),
        Packet::Auth(Auth {
            reason: 0x18,
            properties: props(
                PacketTypes::AUTH,
                vec![Property::AuthenticationMethod("m".into())],
            ),
        }),
    ]
}

fn encode(p: &Packet, v5: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if v5 {
        p.encode_v5(&mut out);
    } else {
        p.encode(&mut out);
    }
    out
}

/// One to four mutations of `bytes`: a byte replaced, inserted or removed, a run duplicated, the tail
/// cut, or a remaining length made huge.
fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..=4) {
        if bytes.is_empty() {
            bytes.push(rng.gen());
            continue;
        }
        let i = rng.gen_range(0..bytes.len());
        match rng.gen_range(0..6) {
            0 => bytes[i] = rng.gen(),
            1 => bytes.insert(i, rng.gen()),
            2 => {
                bytes.remove(i);
            }
            3 => {
                let end = (i + rng.gen_range(1..16)).min(bytes.len());
                let run = bytes[i..end].to_vec();
                bytes.splice(i..i, run);
            }
            4 => bytes.truncate(i),
            _ => {
                // A remaining length of 2^28 - 1 or 2^21 (declared, never sent).
                let huge: &[u8] = if rng.gen() {
                    &[0xff, 0xff, 0xff, 0x7f]
                } else {
                    &[0x80, 0x80, 0x80, 0x01]
                };
                if bytes.len() > 1 {
                    bytes.splice(1..2, huge.iter().copied());
                }
            }
        }
    }
}

/// A hostile server byte stream: mutated valid packets, random bytes, or both, usually after a valid
/// CONNACK so that the client is connected when the rest arrives.
fn hostile_stream(rng: &mut StdRng, v5: bool) -> Vec<u8> {
    let packets = server_packets(rng);
    let mut out = Vec::new();
    if rng.gen_range(0..8) != 0 {
        out.extend(encode(
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
                properties: Properties::new(PacketTypes::CONNACK),
            }),
            v5,
        ));
    }
    let mut body = Vec::new();
    for _ in 0..rng.gen_range(1..6) {
        body.extend(encode(&packets[rng.gen_range(0..packets.len())], v5));
    }
    match rng.gen_range(0..4) {
        0 => body = (0..rng.gen_range(1..200)).map(|_| rng.gen()).collect(),
        1 => {}
        _ => mutate(rng, &mut body),
    }
    out.extend(body);
    out
}

#[test]
fn the_decoder_survives_mutated_packets_of_both_versions() {
    let cases = env_or("PAHOISH_FUZZ_DECODER_CASES", 300_000);
    let mut rng = rng("decoder");
    let start = Instant::now();
    let mut decoded = 0u64;
    for _ in 0..cases {
        let v5 = rng.gen();
        let packets = server_packets(&mut rng);
        let mut bytes = encode(&packets[rng.gen_range(0..packets.len())], v5);
        if rng.gen_range(0..4) == 0 {
            // A client's packets too: the broker side decodes those.
            let connect = Packet::Connect(Connect {
                protocol: if v5 { Protocol::V5 } else { Protocol::V311 },
                client_id: "c".into(),
                keepalive: 60,
                ..Connect::default()
            });
            bytes = encode(&connect, v5);
        }
        mutate(&mut rng, &mut bytes);
        let max = [MAX_REMAINING_LENGTH, 64, 0][rng.gen_range(0..3)];
        for as_v5 in [false, true] {
            let r = if as_v5 {
                packet::decode_v5(&bytes, max)
            } else {
                packet::decode(&bytes, max)
            };
            if let Ok(Some((p, used))) = r {
                decoded += 1;
                assert!(used <= bytes.len());
                // What decodes encodes again without panicking.
                let _ = encode(&p, as_v5);
            }
        }
    }
    eprintln!(
        "decoder: {cases} cases, {decoded} decoded, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// What the hostile broker saw of one case.
enum CaseEnd {
    /// The client closed the connection this long after the broker stopped writing.
    Closed,
    /// The client kept the connection open past the limit.
    Hung,
}

/// Accepts the next connection, at most `within`.
fn accept_within(listener: &TcpListener, within: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// After the hostile bytes: the broker's side is shut for writing, and the client must close its
/// own (it has either failed already or sees the end of stream).
fn wait_client_close(s: &mut dyn Read, within: Duration) -> CaseEnd {
    let deadline = Instant::now() + within;
    let mut sink = [0u8; 4096];
    loop {
        if Instant::now() >= deadline {
            return CaseEnd::Hung;
        }
        match s.read(&mut sink) {
            Ok(0) => return CaseEnd::Closed,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return CaseEnd::Closed,
        }
    }
}

/// How long the client may take to close a connection after the broker's end of stream.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Serves `cases` connections with hostile streams, one after the other; returns how many the
/// client closed, or fails naming the case that hung or the connection that never came.
fn hostile_broker(
    listener: TcpListener,
    cases: u64,
    mut rng: StdRng,
    v5: bool,
    websocket: bool,
) -> Result<u64, String> {
    for case in 0..cases {
        let Some(stream) = accept_within(&listener, Duration::from_secs(10)) else {
            return Err(format!(
                "case {case}: the client did not connect again within 10 s"
            ));
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let bytes = hostile_stream(&mut rng, v5);
        let end = if websocket {
            serve_websocket(stream, &bytes, &mut rng)
        } else {
            serve_tcp(stream, &bytes)
        };
        if let CaseEnd::Hung = end {
            return Err(format!(
                "case {case}: the client kept the connection {CLOSE_WITHIN:?} after the stream ended \
                 ({} bytes: {:02x?})",
                bytes.len(),
                &bytes[..bytes.len().min(64)]
            ));
        }
    }
    Ok(cases)
}

fn serve_tcp(mut stream: TcpStream, bytes: &[u8]) -> CaseEnd {
    // CONNECT first (whatever it is), then the hostile bytes.
    let mut connect = [0u8; 256];
    let _ = stream.read(&mut connect);
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    wait_client_close(&mut stream, CLOSE_WITHIN)
}

fn serve_websocket(stream: TcpStream, bytes: &[u8], rng: &mut StdRng) -> CaseEnd {
    use tungstenite::handshake::server::{Request, Response};
    use tungstenite::http::HeaderValue;
    use tungstenite::Message;
    let raw = stream.try_clone().expect("clone");
    // tungstenite's callback type returns its large error response by value.
    #[allow(clippy::result_large_err)]
    let answer = |_: &Request, mut response: Response| {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, answer) else {
        let mut raw = raw;
        return wait_client_close(&mut raw, CLOSE_WITHIN);
    };
    let _ = ws.read(); // CONNECT
    if rng.gen() {
        // The hostile MQTT bytes in binary messages of random sizes.
        let mut at = 0;
        while at < bytes.len() {
            let n = rng.gen_range(1..=bytes.len() - at);
            if ws
                .send(Message::binary(bytes[at..at + n].to_vec()))
                .is_err()
            {
                break;
            }
            at += n;
        }
    } else {
        // Hostile websocket frames: a valid binary frame header with a mutated frame (huge lengths,
        // reserved bits, control opcodes, masks, fragments).
        let mut frame = vec![0x82u8];
        match bytes.len() {
            n @ 0..=125 => frame.push(n as u8),
            n => {
                frame.push(126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(bytes);
        match rng.gen_range(0..4) {
            // A length of 2^63 - 1.
            0 => {
                frame.splice(1..2, [127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
            }
            // Of 2^40.
            1 => {
                frame.splice(1..2, [127, 0, 0, 1, 0, 0, 0, 0, 0]);
            }
            // An unfinished fragment.
            2 => frame[0] = 0x02,
            _ => {}
        }
        mutate(rng, &mut frame);
        let mut raw = raw.try_clone().expect("clone");
        let _ = raw.write_all(&frame);
    }
    let _ = raw.shutdown(Shutdown::Write);
    let mut raw = raw;
    wait_client_close(&mut raw, CLOSE_WITHIN)
}

/// A real client against the hostile broker: `cases` connections, reconnecting after each; no panic
/// (the loop thread would end, and the next connection never come), no hang (each connection closed
/// by the client), and every accepted connection reported closed by `on_disconnect`.
fn fuzz_client(protocol: Protocol, transport: Transport) {
    let cases = env_or("PAHOISH_FUZZ_CLIENT_CASES", 500);
    let v5 = protocol == Protocol::V5;
    let websocket = transport == Transport::Websockets;
    let name = format!("client {protocol:?} {transport:?}");
    let rng = rng(&name);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(hostile_broker(listener, cases, rng, v5, websocket));
    });
    let client = Client::builder()
        .client_id("fuzzed")
        .protocol(protocol)
        .transport(transport)
        .build()
        .expect("build");
    client
        .reconnect_delay_set(Duration::from_millis(1), Duration::from_millis(5))
        .expect("delay");
    client.max_packet_size_set(64 * 1024).expect("max packet");
    let connects = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&connects);
    client.on_connect(move |_, _, _, rc, _| {
        if !rc.is_failure() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    let d = Arc::clone(&disconnects);
    client.on_disconnect(move |_, _, _, _, _| {
        d.fetch_add(1, Ordering::SeqCst);
    });
    client.on_message(|_, _, _| {});
    let start = Instant::now();
    client
        .connect_async("127.0.0.1", port, 60)
        .expect("connect");
    client.loop_start().expect("loop_start");
    let outcome = done
        .recv_timeout(Duration::from_secs(10 + cases * 6))
        .expect("the hostile broker's thread");
    let _ = client.disconnect();
    let stopped = client.loop_stop();
    let served = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    stopped.unwrap_or_else(|e| panic!("{name}: the loop thread ended badly: {e}"));
    let (connected, reported) = (
        connects.load(Ordering::SeqCst),
        disconnects.load(Ordering::SeqCst),
    );
    eprintln!(
        "{name}: {served} hostile connections ({connected} accepted by the client, {reported} \
         disconnects reported) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        reported >= connected,
        "{name}: {connected} connections accepted, {reported} reported closed"
    );
}

#[test]
fn a_client_survives_hostile_broker_streams_over_tcp() {
    fuzz_client(Protocol::V311, Transport::Tcp);
    fuzz_client(Protocol::V5, Transport::Tcp);
}

#[test]
fn a_client_survives_hostile_broker_streams_over_websockets() {
    fuzz_client(Protocol::V311, Transport::Websockets);
    fuzz_client(Protocol::V5, Transport::Websockets);
}

/// A hostile client's bytes: a valid CONNECT (usually) then mutated client packets or random bytes.
fn hostile_client_stream(rng: &mut StdRng) -> Vec<u8> {
    let v5 = rng.gen();
    let protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
    let mut out = Vec::new();
    let connect = Packet::Connect(Connect {
        protocol,
        client_id: format!("hostile-{}", rng.gen_range(0..50)),
        keepalive: rng.gen_range(0..5),
        clean_session: rng.gen(),
        ..Connect::default()
    });
    let mut connect = encode(&connect, v5);
    if rng.gen_range(0..4) == 0 {
        mutate(rng, &mut connect);
    }
    out.extend(connect);
    let publish = Packet::Publish(Publish {
        qos: [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][rng.gen_range(0..3)],
        topic: if rng.gen() { "healthy/t" } else { "h/#" }.into(),
        pkid: rng.gen_range(1..10),
        payload: vec![1; rng.gen_range(0..100)],
        ..Publish::default()
    });
    let subscribe = Packet::Subscribe(pahoish::packet::Subscribe {
        pkid: 3,
        filters: vec![("#".into(), QoS::ExactlyOnce.into())],
        ..Default::default()
    });
    let mut body = Vec::new();
    for _ in 0..rng.gen_range(1..6) {
        let p = match rng.gen_range(0..5) {
            0 => &subscribe,
            1 => &Packet::PingReq,
            2 => &Packet::PubRel(PubRel::new(2)),
            _ => &publish,
        };
        body.extend(encode(p, v5));
    }
    match rng.gen_range(0..3) {
        0 => body = (0..rng.gen_range(1..300)).map(|_| rng.gen()).collect(),
        _ => mutate(rng, &mut body),
    }
    out.extend(body);
    out
}

#[test]
fn test_broker_serves_a_healthy_client_while_hostile_clients_attack() {
    let cases = env_or("PAHOISH_FUZZ_BROKER_CASES", 3_000);
    let mut rng = rng("broker");
    let broker = TestBroker::builder()
        .maximum_packet_size(1 << 20)
        .start()
        .expect("broker");
    let port = broker.port();
    // The healthy client: a QoS 1 round trip to itself, again and again, each within 5 s.
    let healthy = Client::new("healthy");
    let (tx, got) = mpsc::channel();
    healthy.on_message(move |_, _, m| {
        let _ = tx.send(m.payload.clone());
    });
    healthy.connect("127.0.0.1", port, 60).expect("connect");
    healthy.loop_start().expect("loop_start");
    healthy.subscribe("healthy/t", 1).expect("subscribe");
    assert!(broker
        .wait_for_packet("healthy", Duration::from_secs(5), |_, p| matches!(
            p,
            Packet::SubAck(_)
        ))
        .is_some());
    let attackers: Vec<Vec<u8>> = (0..cases)
        .map(|_| hostile_client_stream(&mut rng))
        .collect();
    let start = Instant::now();
    let attack = thread::spawn(move || {
        for bytes in attackers {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return Err("the broker stopped accepting".to_string());
            };
            let _ = s.write_all(&bytes);
            // Half leave at once, half stay a moment reading.
            if bytes.len() % 2 == 0 {
                let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
                let mut sink = [0u8; 1024];
                let _ = s.read(&mut sink);
            }
        }
        Ok(())
    });
    let mut rounds = 0u64;
    while !attack.is_finished() {
        rounds += 1;
        let payload = rounds.to_string().into_bytes();
        healthy
            .publish("healthy/t", payload.clone(), 1, false)
            .expect("publish");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match got.recv_timeout(left) {
                Ok(p) if p == payload => break,
                Ok(_) => {}
                Err(_) => panic!("round {rounds}: the healthy client's message did not come back"),
            }
        }
    }
    attack
        .join()
        .expect("attack thread")
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "broker: {cases} hostile connections, {rounds} healthy round trips, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(healthy.is_connected());
    let _ = healthy.disconnect();
    let _ = healthy.loop_stop();
}
