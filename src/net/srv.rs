//! DNS SRV lookup for `connect_srv`: one query for `_mqtt._tcp.<domain>` (or `_secure-mqtt._tcp.` with
//! TLS) to the system's name server, over UDP and again over TCP when the answer was truncated, and the
//! records put in the order RFC 2782 asks for: by priority, lowest first, and within one priority by a
//! random draw weighted by weight (Paho's `connect_srv` ignores the weights).
//!
//! No DNS library: a SRV query is a fixed header, one question and a parse of the answer records with
//! name compression, about what a library would cost in code to call, without its dependencies.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use rand::Rng;

use crate::error::{Error, Result};

/// One SRV record: where a server is, and how it ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
/// The DNS port, where `resolv.conf` gives none.
const DNS_PORT: u16 = 53;

/// The first `nameserver` of `/etc/resolv.conf`, else 127.0.0.1 as the resolver library assumes.
pub(crate) fn system_name_server() -> SocketAddr {
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .next()
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT))
}

/// The SRV records of `name`, from `server`, in the order to try them. Fails when the server cannot be
/// reached, answers with an error (NXDOMAIN included) or with no SRV record.
pub(crate) fn lookup(name: &str, server: SocketAddr, timeout: Duration) -> Result<Vec<SrvRecord>> {
    let id: u16 = rand::thread_rng().gen();
    let query = encode_query(id, name)?;
    let udp = UdpSocket::bind(match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
    })?;
    udp.set_read_timeout(Some(timeout))?;
    udp.connect(server)?;
    udp.send(&query)?;
    let mut buf = vec![0u8; 4096];
    let answer = loop {
        let n = udp.recv(&mut buf).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("no answer from the name server {server} for {name}: {e}"),
            ))
        })?;
        // A datagram with another id is a stray answer: keep waiting for ours.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            break &buf[..n];
        }
    };
    let truncated = answer.len() > 2 && answer[2] & 0x02 != 0;
    let records = if truncated {
        lookup_tcp(&query, id, server, timeout)?
    } else {
        parse_answer(answer, id)?
    };
    if records.is_empty() {
        return Err(Error::invalid(
            "domain",
            format!("no SRV record for {name}"),
        ));
    }
    Ok(order(records, &mut rand::thread_rng()))
}

/// The same query over TCP (RFC 1035 section 4.2.2: each message preceded by its length).
fn lookup_tcp(
    query: &[u8],
    id: u16,
    server: SocketAddr,
    timeout: Duration,
) -> Result<Vec<SrvRecord>> {
    let mut tcp = TcpStream::connect_timeout(&server, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let len = u16::try_from(query.len()).expect("a query is short");
    tcp.write_all(&len.to_be_bytes())?;
    tcp.write_all(query)?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut answer)?;
    parse_answer(&answer, id)
}

/// A standard query, recursion desired, for the SRV records of `name`.
pub(crate) fn encode_query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::invalid(
                "domain",
                format!("{name:?} is not a domain name (empty label, or one over 63 bytes)"),
            ));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - 12 > 255 {
        return Err(Error::invalid(
            "domain",
            format!("{name:?} is over 255 bytes"),
        ));
    }
    q.extend_from_slice(&TYPE_SRV.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

fn malformed(what: &str) -> Error {
    Error::invalid("domain", format!("malformed DNS answer: {what}"))
}

/// The SRV records of an answer to query `id`. Fails for another id, a response code other than 0
/// (NXDOMAIN, SERVFAIL, ...) and malformed bytes; other record types are skipped.
pub(crate) fn parse_answer(msg: &[u8], id: u16) -> Result<Vec<SrvRecord>> {
    if msg.len() < 12 {
        return Err(malformed("shorter than its header"));
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return Err(malformed("not the answer to this query"));
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        let what = match rcode {
            2 => "the name server failed (SERVFAIL)",
            3 => "no such domain (NXDOMAIN)",
            5 => "the name server refused the query",
            _ => "the name server answered with an error",
        };
        return Err(Error::invalid("domain", format!("{what}, code {rcode}")));
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    let (questions, answers) = (count(4), count(6));
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos)?;
        let fixed = msg
            .get(pos..pos + 10)
            .ok_or_else(|| malformed("record cut short"))?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata_at = pos + 10;
        if msg.len() < rdata_at + rdlen {
            return Err(malformed("record data cut short"));
        }
        if rtype == TYPE_SRV {
            if rdlen < 7 {
                return Err(malformed("SRV record too short"));
            }
            let r = &msg[rdata_at..];
            let (target, _) = read_name(msg, rdata_at + 6)?;
            records.push(SrvRecord {
                priority: u16::from_be_bytes([r[0], r[1]]),
                weight: u16::from_be_bytes([r[2], r[3]]),
                port: u16::from_be_bytes([r[4], r[5]]),
                target,
            });
        }
        pos = rdata_at + rdlen;
    }
    // RFC 2782: a single record with target "." means the service is not available here.
    if let [only] = records.as_slice() {
        if only.target.is_empty() {
            return Err(Error::invalid(
                "domain",
                "the domain says the service is not available (SRV target \".\")",
            ));
        }
    }
    records.retain(|r| !r.target.is_empty());
    Ok(records)
}

/// The position after the name at `pos` (a pointer ends it).
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize> {
    loop {
        let len = *msg.get(pos).ok_or_else(|| malformed("name cut short"))?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => return Ok(pos + 2),
            l if l & 0xc0 == 0 => pos += 1 + usize::from(l),
            _ => return Err(malformed("unknown label type")),
        }
    }
}

/// The name at `pos`, following compression pointers (each must point backwards, so a loop cannot
/// happen), and the position after it.
fn read_name(msg: &[u8], start: usize) -> Result<(String, usize)> {
    let mut name = String::new();
    let mut pos = start;
    let mut end = None;
    loop {
        let len = *msg.get(pos).ok_or_else(|| malformed("name cut short"))?;
        if len == 0 {
            return Ok((name, end.unwrap_or(pos + 1)));
        }
        if len & 0xc0 == 0xc0 {
            let low = *msg
                .get(pos + 1)
                .ok_or_else(|| malformed("pointer cut short"))?;
            let to = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            if to >= pos {
                return Err(malformed("name pointer does not point backwards"));
            }
            end.get_or_insert(pos + 2);
            pos = to;
            continue;
        }
        if len & 0xc0 != 0 {
            return Err(malformed("unknown label type"));
        }
        let label = msg
            .get(pos + 1..pos + 1 + usize::from(len))
            .ok_or_else(|| malformed("label cut short"))?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(
            std::str::from_utf8(label).map_err(|_| malformed("a host name that is not text"))?,
        );
        if name.len() > 255 {
            return Err(malformed("name over 255 bytes"));
        }
        pos += 1 + usize::from(len);
    }
}

/// RFC 2782's order: priority ascending; within a priority, repeatedly pick a record with probability
/// proportional to its weight (weight 0 records are picked last within their priority, but can be).
pub(crate) fn order(mut records: Vec<SrvRecord>, rng: &mut impl Rng) -> Vec<SrvRecord> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, after) = rest.split_at(n);
        // Weight 0 first, as the RFC says to arrange them, then draw.
        let mut pool: Vec<&SrvRecord> = group.iter().filter(|r| r.weight == 0).collect();
        pool.extend(group.iter().filter(|r| r.weight > 0));
        while !pool.is_empty() {
            let total: u32 = pool.iter().map(|r| u32::from(r.weight)).sum();
            let draw = rng.gen_range(0..=total);
            let mut running = 0u32;
            let pick = pool
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= draw
                })
                .unwrap_or(pool.len() - 1);
            out.push(pool.remove(pick).clone());
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 1883,
            target: target.into(),
        }
    }

    /// An answer to `id` for `_mqtt._tcp.example` with these records, the target names compressed
    /// against the question where `compress` says.
    fn answer(id: u16, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
        let mut m = encode_query(id, "_mqtt._tcp.example").unwrap();
        m[2] = 0x81;
        m[3] = 0x80;
        m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (priority, weight, port, target) in records {
            m.extend_from_slice(&[0xc0, 12]); // the question's name
            m.extend_from_slice(&TYPE_SRV.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&[0, 0, 0, 60]);
            let mut rdata = Vec::new();
            rdata.extend_from_slice(&priority.to_be_bytes());
            rdata.extend_from_slice(&weight.to_be_bytes());
            rdata.extend_from_slice(&port.to_be_bytes());
            for label in target.split('.').filter(|l| !l.is_empty()) {
                rdata.push(label.len() as u8);
                rdata.extend_from_slice(label.as_bytes());
            }
            rdata.push(0);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
        }
        m
    }

    #[test]
    fn query_bytes() {
        let q = encode_query(0x1234, "_mqtt._tcp.example.com").unwrap();
        let mut expected = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x05_mqtt\x04_tcp\x07example\x03com\x00");
        expected.extend_from_slice(&[0, 33, 0, 1]);
        assert_eq!(q, expected);
        assert!(encode_query(1, "a..b").is_err());
        assert!(encode_query(1, &"a".repeat(64)).is_err());
    }

    #[test]
    fn parses_records_and_errors() {
        let msg = answer(7, &[(10, 5, 1884, "b.example"), (0, 0, 1883, "a.example")]);
        let records = parse_answer(&msg, 7).unwrap();
        assert_eq!(
            records,
            vec![
                SrvRecord {
                    priority: 10,
                    weight: 5,
                    port: 1884,
                    target: "b.example".into()
                },
                SrvRecord {
                    priority: 0,
                    weight: 0,
                    port: 1883,
                    target: "a.example".into()
                },
            ]
        );
        assert!(parse_answer(&msg, 8).is_err(), "another id");
        let mut nx = msg.clone();
        nx[3] = 0x83;
        let e = parse_answer(&nx, 7).unwrap_err().to_string();
        assert!(e.contains("NXDOMAIN"), "{e}");
        let dot = answer(7, &[(0, 0, 0, ".")]);
        assert!(parse_answer(&dot, 7)
            .unwrap_err()
            .to_string()
            .contains("not available"));
        // Every truncation of a valid answer is an error or a shorter list, never a panic.
        for n in 0..msg.len() {
            let _ = parse_answer(&msg[..n], 7);
        }
        // A pointer to itself is refused rather than followed for ever.
        let mut looped = answer(7, &[(0, 0, 1, "a")]);
        let at = looped.len() - 3; // the target's first label
        looped[at] = 0xc0;
        looped[at + 1] = at as u8;
        assert!(parse_answer(&looped, 7).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..80);
            let mut msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if msg.len() >= 4 {
                msg[0] = 0;
                msg[1] = 9;
                msg[2] |= 0x80;
                msg[3] &= 0xf0;
            }
            let _ = parse_answer(&msg, 9);
        }
    }

    #[test]
    fn priority_first_then_weighted_draw() {
        let records = vec![
            rec(20, 0, "backup"),
            rec(10, 90, "big"),
            rec(10, 10, "small"),
            rec(10, 0, "zero"),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        let mut big_first = 0;
        for _ in 0..2_000 {
            let o = order(records.clone(), &mut rng);
            assert_eq!(o.len(), 4);
            assert_eq!(o[3].target, "backup", "lower priority comes last: {o:?}");
            if o[0].target == "big" {
                big_first += 1;
            }
        }
        // Weight 90 of 100: first about 90% of the time (zero weight is first only on a draw of 0).
        assert!((1_650..=1_900).contains(&big_first), "{big_first}");
    }
}
