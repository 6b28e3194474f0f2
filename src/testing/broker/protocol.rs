//! What a [`TestBroker`](super::TestBroker) does with each packet of a client connection: CONNECT
//! accepted or refused, then PUBLISH and its acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and
//! DISCONNECT.
//!
//! A connection's reader thread calls [`BrokerState::handle`] with each whole packet, under the broker's
//! lock; the answer is queued for the writer at once, and the returned [`Flow`] says whether the
//! connection goes on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::auth::{Exchange, Next};
use super::state::{split_shared, BrokerState, ClientSession, End, Msg, Sub};
use super::Direction;
use crate::packet::{
    packet_name, ConnAck, Connect, Disconnect, Packet, Protocol, PubAck, PubComp, PubRec, PubRel,
    QoS, SubAck, UnsubAck,
};
use crate::properties::{PacketTypes, Properties, Property};
use crate::topic::{matches_literally, validate_filter};
use crate::types::RETAIN_DO_NOT_SEND;

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
    /// The keepalive from CONNECT (or the Server Keep Alive), once accepted.
    pub(super) keepalive: Option<u16>,
    /// The protocol of the accepted CONNECT; 3.1.1 before.
    pub(super) protocol: Protocol,
    /// MQTT 5: the topic aliases the client set, by alias.
    pub(super) aliases: HashMap<u16, String>,
    /// MQTT 5: the enhanced authentication under way (before the CONNACK, or a re-authentication).
    pub(super) exchange: Option<Exchange>,
    /// MQTT 5: the Authentication Method the connection was accepted with.
    pub(super) auth_method: Option<String>,
}

impl ReaderState {
    pub(super) fn new(id: u64) -> ReaderState {
        ReaderState {
            id,
            client_id: None,
            keepalive: None,
            protocol: Protocol::V311,
            aliases: HashMap::new(),
            exchange: None,
            auth_method: None,
        }
    }

    fn v5(&self) -> bool {
        self.protocol == Protocol::V5
    }
}

/// The size of a whole packet whose body is `body_len` bytes long.
fn packet_size(body_len: usize) -> usize {
    let vbi = match body_len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + vbi + body_len
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
            if conn.exchange.is_some() {
                return match self.continue_connect_auth(conn, header, body) {
                    Next::Done(flow) => flow,
                    Next::Accept(a) => {
                        let (connect, client_id, assigned, props) = *a;
                        self.accept(conn, connect, client_id, assigned, props)
                    }
                };
            }
            return self.handle_connect(conn, header, body);
        };
        let v5 = conn.v5();
        if let Some(max) = self.limits.maximum_packet_size {
            if packet_size(body.len()) > max as usize {
                if v5 {
                    return self.server_disconnect(conn, &client_id, 0x95, "packet too large");
                }
                return Flow::End(End::Unclean, "packet too large".into());
            }
        }
        let packet = match Packet::decode_frame_as(header, body, conn.protocol) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("invalid {}: {e}", packet_name(header >> 4));
                if v5 {
                    return self.server_disconnect(conn, &client_id, 0x81, &why);
                }
                return Flow::End(End::Unclean, why);
            }
        };
        self.wire
            .record(&client_id, Direction::Received, packet.clone());
        let mut packet = packet;
        if let Packet::Auth(a) = packet {
            return self.handle_reauth(conn, &client_id, a);
        }
        if let Packet::Publish(p) = &mut packet {
            if v5 {
                if let Err((code, why)) = self.check_publish(conn, p) {
                    return self.server_disconnect(conn, &client_id, code, why);
                }
            }
        }
        let limits = self.limits.clone();
        let matched = match &packet {
            Packet::Publish(p) if v5 && p.qos != QoS::AtMostOnce => {
                p.topic.starts_with("$SYS/") || self.has_subscribers(&p.topic, &client_id)
            }
            _ => true,
        };
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
                // MQTT 5: 0x10, no matching subscribers.
                let reason = if matched { 0 } else { 0x10 };
                match p.qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => {
                        let mut puback = PubAck::new(pkid);
                        puback.reason = reason;
                        wire.send(conn.id, &client_id, Packet::PubAck(puback))
                    }
                    QoS::ExactlyOnce => {
                        // Kept until PUBREL, then delivered once, however often it is sent again.
                        let known = session.incoming.iter().any(|(id, _)| *id == pkid);
                        if v5
                            && !known
                            && session.incoming.len() >= usize::from(limits.receive_maximum)
                        {
                            return self.server_disconnect(
                                conn,
                                &client_id,
                                0x93,
                                "receive maximum exceeded",
                            );
                        }
                        if !drop_it && !known {
                            session.incoming.push((pkid, p.clone().into()));
                        }
                        let mut pubrec = PubRec::new(pkid);
                        pubrec.reason = reason;
                        wire.send(conn.id, &client_id, Packet::PubRec(pubrec));
                        return Flow::Continue;
                    }
                }
                if !drop_it {
                    self.route(p.into(), Some(&client_id));
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
                    self.route(msg, Some(&client_id));
                }
            }
            Packet::PubAck(PubAck { pkid, .. }) => session.acked(wire, &client_id, 4, pkid),
            Packet::PubRec(PubRec { pkid, .. }) => session.acked(wire, &client_id, 5, pkid),
            Packet::PubComp(PubComp { pkid, .. }) => session.acked(wire, &client_id, 7, pkid),
            Packet::Subscribe(s) => {
                let mut codes = Vec::with_capacity(s.filters.len());
                let mut granted = Vec::new();
                let sub_id = s.properties.subscription_identifiers().next();
                for (filter, mut options) in s.filters {
                    let code = if v5 {
                        subscribe_refusal(&filter, &options, sub_id.is_some(), &limits)
                            .or_else(|| limits.denies(&filter).then_some(0x87))
                    } else if validate_filter(&filter).is_err() || limits.denies(&filter) {
                        Some(0x80)
                    } else {
                        None
                    };
                    if let Some(code) = code {
                        codes.push(code);
                        continue;
                    }
                    if !v5 {
                        options = crate::types::SubscribeOptions {
                            qos: options.qos,
                            ..Default::default()
                        };
                    }
                    options.qos = options.qos.min(limits.maximum_qos);
                    codes.push(options.qos as u8);
                    let sub = Sub {
                        filter: filter.clone(),
                        options,
                        id: sub_id,
                        // MQTT 3.1.1 has no shared subscriptions: `$share/...` is a filter like another.
                        share: v5,
                    };
                    let existed = match session.subs.iter_mut().find(|s| s.filter == filter) {
                        Some(existing) => {
                            *existing = sub.clone();
                            true
                        }
                        None => {
                            session.subs.push(sub.clone());
                            false
                        }
                    };
                    granted.push((sub, existed));
                }
                let suback = SubAck {
                    pkid: s.pkid,
                    return_codes: codes,
                    ..SubAck::default()
                };
                wire.send(conn.id, &client_id, Packet::SubAck(suback));
                let now = Instant::now();
                for (sub, existed) in granted {
                    // Shared subscriptions get no retained messages (MQTT 5 section 4.8.2).
                    let send = match sub.options.retain_handling {
                        _ if sub.shared().is_some() => false,
                        0 => true,
                        1 => !existed,
                        _ => false,
                    };
                    if !send {
                        continue;
                    }
                    for (topic, r) in retained.iter() {
                        if matches_literally(&sub.filter, topic)
                            && r.expires_at.is_none_or(|at| at > now)
                        {
                            let msg = Msg {
                                topic: topic.clone(),
                                payload: r.payload.clone(),
                                qos: r.qos.min(sub.options.qos),
                                retain: true,
                                properties: r.properties.clone(),
                                expires_at: r.expires_at,
                                sub_ids: sub.id.into_iter().collect(),
                            };
                            session.deliver(wire, &client_id, msg);
                        }
                    }
                }
            }
            Packet::Unsubscribe(u) => {
                let mut unsuback = UnsubAck::new(u.pkid);
                for f in &u.filters {
                    let had = session.subs.iter().any(|s| s.filter == *f);
                    unsuback.codes.push(if had { 0 } else { 0x11 });
                }
                session.subs.retain(|s| !u.filters.contains(&s.filter));
                if !v5 {
                    unsuback.codes.clear();
                }
                wire.send(conn.id, &client_id, Packet::UnsubAck(unsuback));
            }
            Packet::PingReq => wire.send(conn.id, &client_id, Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(secs) = d.properties.session_expiry_interval() {
                    // MQTT-3.14.2-2: a session that expired with its connection cannot be kept now.
                    if session.clean && secs != 0 {
                        let disconnect = Disconnect {
                            reason: 0x82,
                            ..Disconnect::default()
                        };
                        wire.send(conn.id, &client_id, Packet::Disconnect(disconnect));
                        return Flow::End(
                            End::Unclean,
                            "protocol error: Session Expiry Interval set on DISCONNECT after 0"
                                .into(),
                        );
                    }
                    set_expiry(session, secs);
                }
                // MQTT 5: 0x04, disconnect with will message.
                if d.reason == 0x04 {
                    return Flow::End(End::Unclean, "DISCONNECT with will message".into());
                }
                return Flow::End(End::Clean, "DISCONNECT".into());
            }
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
        // parsed.
        match peek_protocol(body) {
            Some((b"MQTT", 4 | 5) | (b"MQIsdp", 3)) => {}
            Some((b"MQTT" | b"MQIsdp", level)) => {
                return self.refuse(conn, "", 1, format!("unsupported protocol level {level}"))
            }
            _ => {
                return Flow::End(
                    End::Unclean,
                    "protocol error: not an MQTT 3.1, 3.1.1 or 5 CONNECT".into(),
                )
            }
        }
        let connect = match Connect::decode(header & 0x0f, body) {
            Ok(c) => c,
            Err(e) => return Flow::End(End::Unclean, format!("invalid CONNECT: {e}")),
        };
        let v5 = connect.protocol == Protocol::V5;
        if v5 {
            conn.protocol = Protocol::V5;
            if let Some(c) = self.wire.conns.get_mut(&conn.id) {
                c.protocol = Protocol::V5;
            }
        }
        self.tick(Instant::now());
        let mut client_id = connect.client_id.clone();
        let mut assigned = false;
        if client_id.is_empty() {
            if !v5 && (!connect.clean_session || connect.protocol == Protocol::V31) {
                self.wire
                    .record("", Direction::Received, Packet::Connect(connect));
                return self.refuse(conn, "", 2, "empty client id".into());
            }
            client_id = self.assign_id();
            assigned = true;
        }
        self.wire.record(
            &client_id,
            Direction::Received,
            Packet::Connect(connect.clone()),
        );
        if let Some((user, password)) = &self.auth {
            let code = match (&connect.username, &connect.password) {
                (None, _) => Some(if v5 { 0x87 } else { 5 }),
                (Some(u), Some(p)) if u == user && p == password => None,
                _ => Some(if v5 { 0x86 } else { 4 }),
            };
            if let Some(code) = code {
                return self.refuse(conn, &client_id, code, "not authorised".into());
            }
        }
        if v5 && connect.properties.authentication_method().is_some() {
            match self.start_connect_auth(conn, connect, client_id, assigned) {
                Next::Done(flow) => return flow,
                Next::Accept(a) => {
                    let (connect, client_id, assigned, props) = *a;
                    return self.accept(conn, connect, client_id, assigned, props);
                }
            }
        }
        let properties = Properties::new(PacketTypes::CONNACK);
        self.accept(conn, connect, client_id, assigned, properties)
    }

    /// Accepts a CONNECT (its credentials and authentication checked): takes over an older
    /// connection, sets up the session and answers with CONNACK, carrying `properties` (those of
    /// an enhanced authentication) and the broker's own.
    fn accept(
        &mut self,
        conn: &mut ReaderState,
        connect: Connect,
        client_id: String,
        assigned: bool,
        mut properties: Properties,
    ) -> Flow {
        let v5 = connect.protocol == Protocol::V5;

        if let Some(old) = self.sessions.get(&client_id).and_then(|s| s.conn) {
            // MQTT 5: 0x8E, session taken over.
            self.disconnect(
                old,
                &client_id,
                0x8E,
                Properties::new(PacketTypes::DISCONNECT),
                "taken over by a new connection with the same client id",
            );
        }
        // A will waiting for its delay is not sent once the client is back (MQTT 5 section 3.1.3.2).
        self.delayed_wills.retain(|(id, _, _)| *id != client_id);
        let expiry = connect.properties.session_expiry_interval().unwrap_or(0);
        // MQTT 5: a session without a Session Expiry Interval ends with its connection, as a clean one.
        let persistent = if v5 {
            expiry > 0
        } else {
            !connect.clean_session
        };
        let present = if connect.clean_session {
            self.sessions
                .insert(client_id.clone(), ClientSession::new(!persistent));
            false
        } else {
            let present = self.sessions.contains_key(&client_id);
            let session = self
                .sessions
                .entry(client_id.clone())
                .or_insert_with(|| ClientSession::new(false));
            session.clean = !persistent;
            present
        };
        if let Some(session) = self.sessions.get_mut(&client_id) {
            session.expires_at = None;
            session.expiry = None;
            session.receive_max = u16::MAX;
            if v5 {
                set_expiry(session, expiry);
                session.receive_max = connect.properties.receive_maximum().unwrap_or(u16::MAX);
            }
        }
        if let Some(c) = self.wire.conns.get_mut(&conn.id) {
            c.client_id = Some(client_id.clone());
            c.will = connect.will.clone();
            c.max_packet = connect.properties.maximum_packet_size().filter(|_| v5);
            let alias_max = connect.properties.topic_alias_maximum().unwrap_or(0);
            if v5 && self.limits.send_topic_aliases && alias_max > 0 {
                c.aliases_out = Some((alias_max, HashMap::new()));
            }
        }
        conn.client_id = Some(client_id.clone());
        conn.keepalive = Some(connect.keepalive);
        if v5 {
            let limits = &self.limits;
            if assigned {
                properties.insert(Property::AssignedClientIdentifier(client_id.clone()));
            }
            // MQTT 5 section 4.10: a basis for response topics, when asked for.
            if connect.properties.request_response_information() == Some(1) {
                properties.insert(Property::ResponseInformation(format!(
                    "response/{client_id}"
                )));
            }
            if let Some(k) = limits.server_keep_alive {
                conn.keepalive = Some(k);
                properties.insert(Property::ServerKeepAlive(k));
            }
            if limits.receive_maximum != u16::MAX {
                properties.insert(Property::ReceiveMaximum(limits.receive_maximum));
            }
            if let Some(max) = limits.maximum_packet_size {
                properties.insert(Property::MaximumPacketSize(max));
            }
            if limits.topic_alias_maximum > 0 {
                properties.insert(Property::TopicAliasMaximum(limits.topic_alias_maximum));
            }
            if limits.maximum_qos != QoS::ExactlyOnce {
                properties.insert(Property::MaximumQoS(limits.maximum_qos as u8));
            }
            for (available, property) in [
                (limits.retain_available, Property::RetainAvailable(0)),
                (
                    limits.wildcard_subscription_available,
                    Property::WildcardSubscriptionAvailable(0),
                ),
                (
                    limits.subscription_identifier_available,
                    Property::SubscriptionIdentifierAvailable(0),
                ),
                (
                    limits.shared_subscription_available,
                    Property::SharedSubscriptionAvailable(0),
                ),
            ] {
                if !available {
                    properties.insert(property);
                }
            }
        }
        let BrokerState { wire, sessions, .. } = self;
        if let Some(session) = sessions.get_mut(&client_id) {
            session.conn = Some(conn.id);
            let connack = ConnAck {
                // MQTT 3.1 has no session-present flag: that byte is reserved there.
                session_present: present && connect.protocol != Protocol::V31,
                code: 0,
                properties,
            };
            wire.send(conn.id, &client_id, Packet::ConnAck(connack));
            session.resume(wire, &client_id);
        }
        log::debug!("TestBroker: {client_id:?} connected (session present: {present})");
        Flow::Continue
    }

    /// Answers CONNECT with a refusing CONNACK and ends the connection.
    pub(super) fn refuse(
        &mut self,
        conn: &ReaderState,
        log_as: &str,
        code: u8,
        why: String,
    ) -> Flow {
        let connack = ConnAck {
            session_present: false,
            code,
            ..ConnAck::default()
        };
        self.wire.send(conn.id, log_as, Packet::ConnAck(connack));
        Flow::End(End::Unclean, format!("CONNACK {code}: {why}"))
    }

    /// MQTT 5: sends DISCONNECT with `reason` and ends the connection (the will is published).
    pub(super) fn server_disconnect(
        &mut self,
        conn: &ReaderState,
        client_id: &str,
        reason: u8,
        why: &str,
    ) -> Flow {
        let disconnect = Disconnect {
            reason,
            ..Disconnect::default()
        };
        self.wire
            .send(conn.id, client_id, Packet::Disconnect(disconnect));
        Flow::End(End::Unclean, format!("DISCONNECT 0x{reason:02x}: {why}"))
    }

    /// MQTT 5 checks of an incoming PUBLISH against the broker's limits, and its topic alias resolved
    /// (the alias property removed); the reason code of the DISCONNECT when it fails.
    fn check_publish(
        &self,
        conn: &mut ReaderState,
        p: &mut crate::packet::Publish,
    ) -> Result<(), (u8, &'static str)> {
        if p.qos > self.limits.maximum_qos {
            return Err((0x9B, "QoS not supported"));
        }
        if p.retain && !self.limits.retain_available {
            return Err((0x9A, "retain not supported"));
        }
        match p.properties.topic_alias() {
            Some(alias) => {
                if alias == 0 || alias > self.limits.topic_alias_maximum {
                    return Err((0x94, "topic alias invalid"));
                }
                if p.topic.is_empty() {
                    match conn.aliases.get(&alias) {
                        Some(topic) => p.topic = topic.clone(),
                        None => return Err((0x82, "unknown topic alias")),
                    }
                } else {
                    conn.aliases.insert(alias, p.topic.clone());
                }
                p.properties.remove(0x23);
            }
            None if p.topic.is_empty() => return Err((0x82, "empty topic without an alias")),
            None => {}
        }
        Ok(())
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

/// MQTT 5: why a filter of a SUBSCRIBE is refused, as a SUBACK reason code; `None` when it is granted.
fn subscribe_refusal(
    filter: &str,
    options: &crate::types::SubscribeOptions,
    has_id: bool,
    limits: &super::Limits,
) -> Option<u8> {
    let inner = match split_shared(filter) {
        Some((group, inner)) => {
            if !limits.shared_subscription_available {
                return Some(0x9E);
            }
            if group.is_empty() || group.contains(['+', '#']) || options.no_local {
                return Some(0x8F);
            }
            inner
        }
        None if filter.starts_with("$share/") => return Some(0x8F),
        None => filter,
    };
    if validate_filter(inner).is_err() {
        return Some(0x8F);
    }
    if !limits.wildcard_subscription_available && inner.contains(['+', '#']) {
        return Some(0xA2);
    }
    if has_id && !limits.subscription_identifier_available {
        return Some(0xA1);
    }
    if options.retain_handling > RETAIN_DO_NOT_SEND {
        return Some(0x8F);
    }
    None
}

/// MQTT 5: sets how long the session outlives its connection (0: it ends with it; `u32::MAX`: never
/// expires).
fn set_expiry(session: &mut ClientSession, secs: u32) {
    session.clean = secs == 0;
    session.expiry = (secs != u32::MAX).then(|| Duration::from_secs(u64::from(secs)));
}
