//! The `on_log` lines for packets sent and received, worded and punctuated as Paho 2.2 writes them, so
//! that a ported script that prints its log lines prints what the Python one printed.
//!
//! Paho formats with Python's `%s`, which shows a topic or client id held as `bytes` as `b'...'`
//! (including, for an outgoing PUBLISH, inside the quotes Paho puts around it: `'b'a/b''`), a
//! `bool` as `False`/`True`, an absent MQTT 5 property set as `None` and a decoded one as `[...]`
//! (`[]` when empty). Outgoing packets here print `None` when they carry no property.
//!
//! Only formatting lives here: the session calls these when a log line is wanted at all.

use crate::packet::{Connect, QoS};
use crate::properties::{bytes_repr, PacketTypes, Properties};
use crate::reason::ReasonCode;
use crate::types::SubscribeOptions;

/// Python's `%s` of a property set the client sends: `None` when there is none.
fn sent_props(props: Option<&Properties>) -> String {
    match props {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => "None".to_string(),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// `Sending CONNECT (u1, p1, wr0, wq0, wf0, c1, k60) client_id=b'id'`, and ` properties=...` on 5.0.
pub(crate) fn connect(c: &Connect, v5: bool) -> String {
    let mut line = format!(
        "Sending CONNECT (u{}, p{}, wr{}, wq{}, wf{}, c{}, k{}) client_id={}",
        u8::from(c.username.is_some()),
        u8::from(c.password.is_some()),
        u8::from(c.will.as_ref().is_some_and(|w| w.retain)),
        c.will.as_ref().map_or(0, |w| w.qos as u8),
        u8::from(c.will.is_some()),
        u8::from(c.clean_session),
        c.keepalive,
        bytes_repr(c.client_id.as_bytes())
    );
    if v5 {
        line.push_str(" properties=");
        if c.properties.authentication_data().is_some() {
            // Enhanced authentication's data may be a credential (a token, a proof): left out, as the
            // password is.
            let mut shown = c.properties.clone();
            shown.remove(0x16);
            line.push_str(&sent_props(Some(&shown)));
            line.push_str(" (authentication data not shown)");
        } else {
            line.push_str(&sent_props(Some(&c.properties)));
        }
    }
    line
}

/// `Received CONNACK (0, 0)`; on 5.0 the reason code's name and the properties:
/// `Received CONNACK (0, Success) properties=[ReceiveMaximum : 20]`.
pub(crate) fn connack(session_present: bool, code: u8, props: &Properties, v5: bool) -> String {
    let flags = u8::from(session_present);
    if v5 {
        format!(
            "Received CONNACK ({flags}, {}) properties={props}",
            ReasonCode::new(PacketTypes::CONNACK as u8, code)
        )
    } else {
        format!("Received CONNACK ({flags}, {code})")
    }
}

/// `Sending PUBLISH (d0, q1, r0, m3), 'b'a/b'', ... (2 bytes)`: Paho's quotes around the `bytes`
/// topic's own. On 5.0 `, properties=...` follows the topic; an empty payload reads `(NULL payload)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn publish_sent(
    dup: bool,
    qos: QoS,
    retain: bool,
    mid: u16,
    topic: &str,
    props: Option<&Properties>,
    len: usize,
    v5: bool,
) -> String {
    let mut line = format!(
        "Sending PUBLISH (d{}, q{}, r{}, m{mid}), '{}'",
        u8::from(dup),
        qos as u8,
        u8::from(retain),
        bytes_repr(topic.as_bytes())
    );
    if v5 {
        line.push_str(", properties=");
        line.push_str(&sent_props(props));
    }
    if len == 0 {
        line.push_str(" (NULL payload)");
    } else {
        line.push_str(&format!(", ... ({len} bytes)"));
    }
    line
}

/// `Received PUBLISH (d0, q1, r0, m1), 'a/b', ...  (2 bytes)` (two spaces, as Paho has them); on 5.0
/// with `properties=[...]` after the topic.
#[allow(clippy::too_many_arguments)]
pub(crate) fn publish_received(
    dup: bool,
    qos: QoS,
    retain: bool,
    mid: u16,
    topic: &str,
    props: &Properties,
    len: usize,
    v5: bool,
) -> String {
    let head = format!(
        "Received PUBLISH (d{}, q{}, r{}, m{mid}), '{topic}'",
        u8::from(dup),
        qos as u8,
        u8::from(retain),
    );
    if v5 {
        format!("{head}, properties={props}, ...  ({len} bytes)")
    } else {
        format!("{head}, ...  ({len} bytes)")
    }
}

/// `Sending SUBSCRIBE (d0, m1) [(b'a/b', 1), (b'c/#', 2)]`; on 5.0 each filter's options as Paho's
/// `SubscribeOptions` prints them: `{QoS=1, noLocal=False, retainAsPublished=False, retainHandling=0}`.
pub(crate) fn subscribe(mid: u16, filters: &[(String, SubscribeOptions)], v5: bool) -> String {
    let items: Vec<String> = filters
        .iter()
        .map(|(f, o)| {
            let topic = bytes_repr(f.as_bytes());
            if v5 {
                format!(
                    "({topic}, {{QoS={}, noLocal={}, retainAsPublished={}, retainHandling={}}})",
                    o.qos as u8,
                    py_bool(o.no_local),
                    py_bool(o.retain_as_published),
                    o.retain_handling
                )
            } else {
                format!("({topic}, {})", o.qos as u8)
            }
        })
        .collect();
    format!("Sending SUBSCRIBE (d0, m{mid}) [{}]", items.join(", "))
}

/// `Sending UNSUBSCRIBE (d0, m5) [b'a/b']`; on 5.0 the properties come first:
/// `Sending UNSUBSCRIBE (d0, m5) None [b'a/b']`.
pub(crate) fn unsubscribe(mid: u16, filters: &[String], props: &Properties, v5: bool) -> String {
    let topics: Vec<String> = filters.iter().map(|f| bytes_repr(f.as_bytes())).collect();
    let topics = topics.join(", ");
    if v5 {
        format!(
            "Sending UNSUBSCRIBE (d0, m{mid}) {} [{topics}]",
            sent_props(Some(props))
        )
    } else {
        format!("Sending UNSUBSCRIBE (d0, m{mid}) [{topics}]")
    }
}

/// `Sending DISCONNECT`; on 5.0 `Sending DISCONNECT reasonCode=None properties=None`, or with the
/// reason's name when one was given (Paho prints `None` for a `disconnect()` without one).
pub(crate) fn disconnect_sent(
    reason: Option<ReasonCode>,
    props: Option<&Properties>,
    v5: bool,
) -> String {
    if v5 {
        let reason = reason.map_or_else(|| "None".to_string(), |r| r.to_string());
        format!(
            "Sending DISCONNECT reasonCode={reason} properties={}",
            sent_props(props)
        )
    } else {
        "Sending DISCONNECT".to_string()
    }
}

/// `Received DISCONNECT Server shutting down [ReasonString : bye]` (MQTT 5 only).
pub(crate) fn disconnect_received(reason: u8, props: &Properties) -> String {
    format!(
        "Received DISCONNECT {} {props}",
        ReasonCode::disconnect(reason)
    )
}

#[cfg(test)]
mod tests {
    //! The expected lines are what paho-mqtt 2.2.0 wrote to `on_log` for the same packets (captured
    //! against mosquitto 2.0.11 with a script that connects with a will and credentials, subscribes to
    //! two filters, publishes at QoS 0, 1 and 2, unsubscribes and disconnects, on 3.1.1 and on 5.0).
    use super::*;
    use crate::packet::LastWill;
    use crate::properties::Property;

    fn connect_packet() -> Connect {
        Connect {
            protocol: crate::types::Protocol::V311,
            client_id: "cid1".into(),
            clean_session: true,
            keepalive: 60,
            username: Some("user".into()),
            password: Some(b"pw".to_vec()),
            will: Some(LastWill {
                topic: "w/t".into(),
                payload: b"bye".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties::default(),
            }),
            ..Connect::default()
        }
    }

    #[test]
    fn connect_lines() {
        let c = connect_packet();
        assert_eq!(
            connect(&c, false),
            "Sending CONNECT (u1, p1, wr1, wq1, wf1, c1, k60) client_id=b'cid1'"
        );
        assert_eq!(
            connect(&c, true),
            "Sending CONNECT (u1, p1, wr1, wq1, wf1, c1, k60) client_id=b'cid1' properties=None"
        );
        let anonymous = Connect {
            client_id: String::new(),
            username: None,
            password: None,
            will: None,
            ..c
        };
        assert_eq!(
            connect(&anonymous, false),
            "Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60) client_id=b''"
        );
    }

    #[test]
    fn connack_lines() {
        let props = Properties::new(PacketTypes::CONNACK)
            .with(Property::ReceiveMaximum(20))
            .and_then(|p| p.with(Property::TopicAliasMaximum(10)))
            .unwrap();
        assert_eq!(
            connack(false, 0, &Properties::default(), false),
            "Received CONNACK (0, 0)"
        );
        assert_eq!(
            connack(false, 0, &props, true),
            "Received CONNACK (0, Success) properties=[ReceiveMaximum : 20, TopicAliasMaximum : 10]"
        );
        assert_eq!(
            connack(true, 0x87, &Properties::default(), true),
            "Received CONNACK (1, Not authorized) properties=[]"
        );
    }

    #[test]
    fn publish_lines() {
        let none = Properties::default();
        assert_eq!(
            publish_sent(false, QoS::AtMostOnce, false, 2, "a/b", None, 5, false),
            "Sending PUBLISH (d0, q0, r0, m2), 'b'a/b'', ... (5 bytes)"
        );
        assert_eq!(
            publish_sent(
                false,
                QoS::ExactlyOnce,
                false,
                4,
                "c/d",
                Some(&none),
                3,
                true
            ),
            "Sending PUBLISH (d0, q2, r0, m4), 'b'c/d'', properties=None, ... (3 bytes)"
        );
        assert_eq!(
            publish_sent(true, QoS::AtLeastOnce, true, 7, "t", None, 0, false),
            "Sending PUBLISH (d1, q1, r1, m7), 'b't'' (NULL payload)"
        );
        assert_eq!(
            publish_received(false, QoS::AtLeastOnce, false, 1, "a/b", &none, 2, false),
            "Received PUBLISH (d0, q1, r0, m1), 'a/b', ...  (2 bytes)"
        );
        assert_eq!(
            publish_received(false, QoS::AtMostOnce, false, 0, "a/b", &none, 5, true),
            "Received PUBLISH (d0, q0, r0, m0), 'a/b', properties=[], ...  (5 bytes)"
        );
    }

    #[test]
    fn subscribe_and_unsubscribe_lines() {
        let filters = vec![
            ("a/b".to_string(), SubscribeOptions::new(1).unwrap()),
            ("c/#".to_string(), SubscribeOptions::new(2).unwrap()),
        ];
        assert_eq!(
            subscribe(1, &filters, false),
            "Sending SUBSCRIBE (d0, m1) [(b'a/b', 1), (b'c/#', 2)]"
        );
        assert_eq!(
            subscribe(1, &filters, true),
            "Sending SUBSCRIBE (d0, m1) [(b'a/b', {QoS=1, noLocal=False, retainAsPublished=False, \
             retainHandling=0}), (b'c/#', {QoS=2, noLocal=False, retainAsPublished=False, \
             retainHandling=0})]"
        );
        let none = Properties::default();
        assert_eq!(
            unsubscribe(5, &["a/b".to_string()], &none, false),
            "Sending UNSUBSCRIBE (d0, m5) [b'a/b']"
        );
        assert_eq!(
            unsubscribe(5, &["a/b".to_string()], &none, true),
            "Sending UNSUBSCRIBE (d0, m5) None [b'a/b']"
        );
    }

    #[test]
    fn disconnect_lines() {
        assert_eq!(disconnect_sent(None, None, false), "Sending DISCONNECT");
        assert_eq!(
            disconnect_sent(None, None, true),
            "Sending DISCONNECT reasonCode=None properties=None"
        );
        assert_eq!(
            disconnect_sent(Some(ReasonCode::disconnect(0x82)), None, true),
            "Sending DISCONNECT reasonCode=Protocol error properties=None"
        );
        let props = Properties::new(PacketTypes::DISCONNECT)
            .with(Property::ReasonString("bye".into()))
            .unwrap();
        assert_eq!(
            disconnect_received(0x8b, &props),
            "Received DISCONNECT Server shutting down [ReasonString : bye]"
        );
    }
}
