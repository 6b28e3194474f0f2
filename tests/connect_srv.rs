//! `connect_srv` against a name server of the test's own on loopback (no real DNS is asked): the
//! query names `_mqtt._tcp.<domain>` (`_secure-mqtt._tcp` with TLS), the records are tried in RFC
//! 2782's order, a truncated UDP answer is asked again over TCP, a dead server is passed over and the
//! reconnect fails over to the next record, and NXDOMAIN is an error that says so.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use common::{free_port, recv, watchdog, TEST_LIMIT};
use pahoish::testing::TestBroker;
use pahoish::Client;

/// One SRV record: priority, weight, port, target.
type Record = (u16, u16, u16, &'static str);

/// A name server answering every query with `records` (or with response code `rcode`), over UDP, with
/// the truncation bit set there when `truncate` (the records then come over TCP). The names asked come
/// out of the receiver.
fn name_server(records: Vec<Record>, rcode: u8, truncate: bool) -> (SocketAddr, Receiver<String>) {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).unwrap();
    let (tx, names) = mpsc::channel();
    let (udp_records, udp_tx) = (records.clone(), tx.clone());
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let (name, answer) = answer(&buf[..n], &udp_records, rcode, truncate);
            let _ = udp_tx.send(name);
            let _ = udp.send_to(&answer, from);
        }
    });
    thread::spawn(move || {
        for mut stream in tcp.incoming().map_while(Result::ok) {
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_err() {
                continue;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            let (name, answer) = answer(&query, &records, rcode, false);
            let _ = tx.send(format!("tcp:{name}"));
            let _ = stream.write_all(&(answer.len() as u16).to_be_bytes());
            let _ = stream.write_all(&answer);
        }
    });
    (addr, names)
}

/// The name asked in `query`, and the answer: the question echoed, then the records (none when
/// truncated or refused).
fn answer(query: &[u8], records: &[Record], rcode: u8, truncate: bool) -> (String, Vec<u8>) {
    let mut pos = 12;
    let mut labels = Vec::new();
    while query[pos] != 0 {
        let len = usize::from(query[pos]);
        labels.push(String::from_utf8_lossy(&query[pos + 1..pos + 1 + len]).into_owned());
        pos += 1 + len;
    }
    let question = &query[12..pos + 5];
    let records = if truncate || rcode != 0 {
        &[][..]
    } else {
        records
    };
    let mut a = vec![query[0], query[1], 0x81, 0x80 | rcode];
    if truncate {
        a[2] |= 0x02;
    }
    a.extend_from_slice(&[0, 1, 0, records.len() as u8, 0, 0, 0, 0]);
    a.extend_from_slice(question);
    for (priority, weight, port, target) in records {
        a.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
        let mut rdata = Vec::new();
        for v in [priority, weight, port] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        for label in target.split('.') {
            rdata.push(label.len() as u8);
            rdata.extend_from_slice(label.as_bytes());
        }
        rdata.push(0);
        a.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        a.extend_from_slice(&rdata);
    }
    (labels.join("."), a)
}

/// A client whose `on_connect` sends the server it connected to.
fn client_reporting_servers() -> (Client, Receiver<String>) {
    let client = Client::new("");
    client.reconnect_delay_set(1, 1).unwrap();
    let (tx, servers) = mpsc::channel();
    client.on_connect(move |c, _, _, _, _| {
        let _ = tx.send(c.server_url().unwrap_or_default());
    });
    (client, servers)
}

#[test]
fn records_in_priority_order_and_failover_to_the_next() {
    let _dog = watchdog(TEST_LIMIT);
    let first = TestBroker::start().unwrap();
    let second = TestBroker::start().unwrap();
    let dead = free_port();
    let (dns, names) = name_server(
        vec![
            (20, 0, second.port(), "127.0.0.1"),
            (5, 0, dead, "127.0.0.1"),
            (10, 0, first.port(), "127.0.0.1"),
        ],
        0,
        false,
    );
    let (client, servers) = client_reporting_servers();
    client.srv_resolver_set(dns);
    client.connect_srv(Some("example.test"), 60).unwrap();
    assert_eq!(recv(&names, "the query"), "_mqtt._tcp.example.test");
    client.loop_start().unwrap();
    // Priority 5 is dead: passed over for priority 10.
    assert_eq!(
        recv(&servers, "the first CONNACK"),
        format!("mqtt://127.0.0.1:{}", first.port())
    );
    // That node goes away: the reconnect goes on to the next record, without asking DNS again.
    drop(first);
    assert_eq!(
        recv(&servers, "the CONNACK after the failover"),
        format!("mqtt://127.0.0.1:{}", second.port())
    );
    assert!(names.try_recv().is_err(), "DNS was asked again");
    client.disconnect().unwrap();
    client.loop_stop().unwrap();
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let _dog = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().unwrap();
    let (dns, names) = name_server(vec![(0, 0, broker.port(), "127.0.0.1")], 0, true);
    let (client, servers) = client_reporting_servers();
    client.srv_resolver_set(dns);
    client.connect_srv(Some("example.test"), 60).unwrap();
    assert_eq!(recv(&names, "the UDP query"), "_mqtt._tcp.example.test");
    assert_eq!(recv(&names, "the TCP query"), "tcp:_mqtt._tcp.example.test");
    client.loop_start().unwrap();
    recv(&servers, "the CONNACK");
    client.disconnect().unwrap();
    client.loop_stop().unwrap();
}

#[test]
fn nxdomain_is_an_error_and_tls_asks_for_secure_mqtt() {
    let _dog = watchdog(TEST_LIMIT);
    let (dns, names) = name_server(Vec::new(), 3, false);
    let client = Client::new("");
    client.srv_resolver_set(dns);
    let e = client.connect_srv(Some("example.test"), 60).unwrap_err();
    assert!(e.to_string().contains("NXDOMAIN"), "{e}");
    assert_eq!(recv(&names, "the query"), "_mqtt._tcp.example.test");

    #[cfg(feature = "tls")]
    {
        client.tls_set(None, None, None).unwrap();
        assert!(client.connect_srv(Some("example.test."), 60).is_err());
        assert_eq!(recv(&names, "the query"), "_secure-mqtt._tcp.example.test");
    }
}

#[test]
fn an_unanswered_query_times_out() {
    let _dog = watchdog(TEST_LIMIT);
    // A UDP socket that never answers.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = Client::new("");
    client.connect_timeout_set(0.3).unwrap();
    client.srv_resolver_set(silent.local_addr().unwrap());
    let e = client.connect_srv(Some("example.test"), 60).unwrap_err();
    assert!(e.to_string().contains("no answer"), "{e}");
}
