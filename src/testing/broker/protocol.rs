//! What a [`TestBroker`](super::TestBroker) does with each packet of a client connection: CONNECT
//! accepted or refused, then PUBLISH and its acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and
//! DISCONNECT.
//!
//! A connection's reader thread calls [`BrokerState::handle`] with each whole packet, under the broker's
//! lock; the answer is queued for the writer at once, and the returned [`Flow`] says whether the
//! connection goes on.

use super::state::{BrokerState, ClientSession, End, Msg};
use super::Direction;
use crate::packet::{
    packet_name, ConnAck, Connect, Packet, Protocol, PubAck, PubComp, PubRec, PubRel, QoS, SubAck,
    UnsubAck,
};
use crate::topic::{topic_matches_sub, validate_filter};

/// What the reader does after a packet.
pub(super) enum Flow {
    Continue,
    End(End, String),
}

/// What a connection's reader thread knows about its connection, and only that thread: the
/// [`Conn`](super::state::Conn) entry is what the rest of the broker sees of the connection, under the lock.
pub(super) struct ReaderState {
    pub(super) id: u64,
    /// Set when CONNECT is accepted.
    pub(super) client_id: Option<String>,
    /// The keepalive from CONNECT, once accepted.
    pub(super) keepalive: Option<u16>,
}

impl BrokerState {
    /// Handles one packet (its first byte and its body) from connection `conn`.
    pub(super) fn handle(&mut self, conn: &mut ReaderState, header: u8, body: &[u8]) -> Flow {
        if self
            .wire
            .conns
            .get(&conn.id)
            .is_none_or(|c| c.out.is_none())
        {
            return Flow::End(End::Unclean, "the connection was cut".into());
        }
        let Some(client_id) = conn.client_id.clone() else {
            return self.handle_connect(conn, header, body);
        };
        let packet = match Packet::decode_frame(header, body) {
            Ok(p) => p,
            Err(e) => {
                return Flow::End(
                    End::Unclean,
                    format!("invalid {}: {e}", packet_name(header >> 4)),
                )
            }
        };
        self.wire
            .record(&client_id, Direction::Received, packet.clone());
        let BrokerState {
            wire,
            sessions,
            retained,
            ..
        } = self;
        let Some(session) = sessions.get_mut(&client_id) else {
            return Flow::End(End::Unclean, "the session is gone".into());
        };
        match packet {
            Packet::Publish(p) => {
                let pkid = p.pkid;
                let drop_it = p.topic.starts_with("$SYS/");
                if drop_it {
                    log::debug!(
                        "TestBroker: {client_id:?} published to {:?}: dropped ($SYS is the broker's)",
                        p.topic
                    );
                }
                match p.qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => {
                        wire.send(conn.id, &client_id, Packet::PubAck(PubAck::new(pkid)))
                    }
                    QoS::ExactlyOnce => {
                        // Kept until PUBREL, then delivered once, however often it is sent again.
                        if !drop_it && !session.incoming.iter().any(|(id, _)| *id == pkid) {
                            session.incoming.push((pkid, p.clone().into()));
                        }
                        wire.send(conn.id, &client_id, Packet::PubRec(PubRec::new(pkid)));
                        return Flow::Continue;
                    }
                }
                if !drop_it {
                    self.route(p.into());
                }
            }
            Packet::PubRel(PubRel { pkid, .. }) => {
                let msg = session
                    .incoming
                    .iter()
                    .position(|(id, _)| *id == pkid)
                    .map(|i| session.incoming.remove(i).1);
                wire.send(conn.id, &client_id, Packet::PubComp(PubComp::new(pkid)));
                if let Some(msg) = msg {
                    self.route(msg);
                }
            }
            Packet::PubAck(PubAck { pkid, .. }) => session.acked(wire, &client_id, 4, pkid),
            Packet::PubRec(PubRec { pkid, .. }) => session.acked(wire, &client_id, 5, pkid),
            Packet::PubComp(PubComp { pkid, .. }) => session.acked(wire, &client_id, 7, pkid),
            Packet::Subscribe(s) => {
                let mut codes = Vec::with_capacity(s.filters.len());
                let mut granted = Vec::new();
                for (filter, options) in s.filters {
                    let qos = options.qos;
                    if validate_filter(&filter).is_err() {
                        codes.push(0x80);
                        continue;
                    }
                    codes.push(qos as u8);
                    match session.subs.iter_mut().find(|(f, _)| *f == filter) {
                        Some(existing) => existing.1 = qos,
                        None => session.subs.push((filter.clone(), qos)),
                    }
                    granted.push((filter, qos));
                }
                let suback = SubAck {
                    pkid: s.pkid,
                    return_codes: codes,
                    ..SubAck::default()
                };
                wire.send(conn.id, &client_id, Packet::SubAck(suback));
                for (filter, qos) in granted {
                    for (topic, r) in retained.iter() {
                        if topic_matches_sub(&filter, topic) {
                            let msg = Msg {
                                topic: topic.clone(),
                                payload: r.payload.clone(),
                                qos: r.qos.min(qos),
                                retain: true,
                            };
                            session.deliver(wire, &client_id, msg);
                        }
                    }
                }
            }
            Packet::Unsubscribe(u) => {
                session.subs.retain(|(f, _)| !u.filters.contains(f));
                wire.send(conn.id, &client_id, Packet::UnsubAck(UnsubAck::new(u.pkid)));
            }
            Packet::PingReq => wire.send(conn.id, &client_id, Packet::PingResp),
            Packet::Disconnect(_) => return Flow::End(End::Clean, "DISCONNECT".into()),
            other => {
                return Flow::End(
                    End::Unclean,
                    format!("protocol error: a client sent {}", other.name()),
                )
            }
        }
        Flow::Continue
    }

    /// Handles the first packet of a connection, which must be an acceptable CONNECT.
    fn handle_connect(&mut self, conn: &mut ReaderState, header: u8, body: &[u8]) -> Flow {
        if header >> 4 != 1 {
            return Flow::End(
                End::Unclean,
                format!(
                    "protocol error: the first packet was {}, not CONNECT",
                    packet_name(header >> 4)
                ),
            );
        }
        // MQTT-3.1.2-2: a level this broker does not speak is answered with CONNACK 1 before the rest is
        // parsed (an MQTT 5 CONNECT, for one, has fields 3.1.1 does not know).
        match peek_protocol(body) {
            Some((b"MQTT", 4) | (b"MQIsdp", 3)) => {}
            Some((b"MQTT" | b"MQIsdp", level)) => {
                return self.refuse(conn, "", 1, format!("unsupported protocol level {level}"))
            }
            _ => {
                return Flow::End(
                    End::Unclean,
                    "protocol error: not an MQTT 3.1 or 3.1.1 CONNECT".into(),
                )
            }
        }
        let connect = match Connect::decode(header & 0x0f, body) {
            Ok(c) => c,
            Err(e) => return Flow::End(End::Unclean, format!("invalid CONNECT: {e}")),
        };
        let mut client_id = connect.client_id.clone();
        if client_id.is_empty() {
            if !connect.clean_session || connect.protocol == Protocol::V31 {
                self.wire
                    .record("", Direction::Received, Packet::Connect(connect));
                return self.refuse(conn, "", 2, "empty client id".into());
            }
            client_id = self.assign_id();
        }
        self.wire.record(
            &client_id,
            Direction::Received,
            Packet::Connect(connect.clone()),
        );
        if let Some((user, password)) = &self.auth {
            let code = match (&connect.username, &connect.password) {
                (None, _) => Some(5),
                (Some(u), Some(p)) if u == user && p == password => None,
                _ => Some(4),
            };
            if let Some(code) = code {
                return self.refuse(conn, &client_id, code, "not authorised".into());
            }
        }

        if let Some(old) = self.sessions.get(&client_id).and_then(|s| s.conn) {
            self.cut(
                old,
                "taken over by a new connection with the same client id",
            );
        }
        let present = if connect.clean_session {
            self.sessions
                .insert(client_id.clone(), ClientSession::new(true));
            false
        } else {
            let present = self.sessions.contains_key(&client_id);
            self.sessions
                .entry(client_id.clone())
                .or_insert_with(|| ClientSession::new(false));
            present
        };
        if let Some(c) = self.wire.conns.get_mut(&conn.id) {
            c.client_id = Some(client_id.clone());
            c.will = connect.will.clone();
        }
        conn.client_id = Some(client_id.clone());
        conn.keepalive = Some(connect.keepalive);
        let BrokerState { wire, sessions, .. } = self;
        if let Some(session) = sessions.get_mut(&client_id) {
            session.conn = Some(conn.id);
            let connack = ConnAck {
                // MQTT 3.1 has no session-present flag: that byte is reserved there.
                session_present: present && connect.protocol == Protocol::V311,
                code: 0,
                ..ConnAck::default()
            };
            wire.send(conn.id, &client_id, Packet::ConnAck(connack));
            session.resume(wire, &client_id);
        }
        log::debug!("TestBroker: {client_id:?} connected (session present: {present})");
        Flow::Continue
    }

    /// Answers CONNECT with a refusing CONNACK and ends the connection.
    fn refuse(&mut self, conn: &ReaderState, log_as: &str, code: u8, why: String) -> Flow {
        let connack = ConnAck {
            session_present: false,
            code,
            ..ConnAck::default()
        };
        self.wire.send(conn.id, log_as, Packet::ConnAck(connack));
        Flow::End(End::Unclean, format!("CONNACK {code}: {why}"))
    }

    /// A client id of the form `auto-N` that no session uses.
    fn assign_id(&mut self) -> String {
        loop {
            self.next_auto_id += 1;
            let id = format!("auto-{}", self.next_auto_id);
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The protocol name and level at the start of a CONNECT body, if the body is long enough to hold them.
fn peek_protocol(body: &[u8]) -> Option<(&[u8], u8)> {
    let len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let name = body.get(2..2 + len)?;
    Some((name, *body.get(2 + len)?))
}
