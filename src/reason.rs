//! `ReasonCode` and `Properties`: the MQTT 5 vocabulary that Paho's VERSION2 callbacks use for every
//! protocol version. On MQTT 3.1/3.1.1 the 3.x return codes are mapped to reason codes (as Paho does) and
//! `Properties` is always empty.

use std::fmt;

/// A reason code, as passed to `on_connect`, `on_disconnect`, `on_publish`, `on_subscribe`.
///
/// Its [`Display`](fmt::Display) is Paho's name for the code (`"Success"`, `"Not authorized"`, ...), so
/// `println!("Connected with result code {rc}")` prints what the Python script prints. It compares equal to
/// its numeric value.
///
/// ```
/// use pahoish::ReasonCode;
/// let rc = ReasonCode::connack(0);
/// assert_eq!(rc.to_string(), "Success");
/// assert!(rc == 0 && !rc.is_failure());
/// // MQTT 3.1.1 CONNACK code 5 is mapped to reason code 135, as in Paho.
/// let refused = ReasonCode::connack(5);
/// assert_eq!((refused.value(), refused.to_string().as_str()), (135, "Not authorized"));
/// assert!(refused.is_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode {
    value: u8,
    packet_type: u8,
}

// Packet type numbers, for the names that differ by packet (0x00 means three different things).
const CONNACK: u8 = 2;
const PUBACK: u8 = 4;
const SUBACK: u8 = 9;
const UNSUBACK: u8 = 11;
const DISCONNECT: u8 = 14;

impl ReasonCode {
    /// A reason code of `value` in a packet of type `packet_type` (2 = CONNACK, 4 = PUBACK, 9 = SUBACK,
    /// 11 = UNSUBACK, 14 = DISCONNECT, ...), which decides the name of the codes below 0x80.
    pub fn new(packet_type: u8, value: u8) -> ReasonCode {
        ReasonCode { value, packet_type }
    }

    /// The reason code for an MQTT 3.1/3.1.1 CONNACK return code: 0 is Success, 1..=5 become 132..=135
    /// (Unsupported protocol version, Client identifier not valid, Server unavailable, Bad user name or
    /// password, Not authorized), anything else Unspecified error.
    pub fn connack(code: u8) -> ReasonCode {
        let value = match code {
            0 => 0x00,
            1 => 0x84,
            2 => 0x85,
            3 => 0x88,
            4 => 0x86,
            5 => 0x87,
            _ => 0x80,
        };
        ReasonCode::new(CONNACK, value)
    }

    /// The MQTT 3.1/3.1.1 CONNACK return code this reason code stands for: the inverse of
    /// [`connack`](ReasonCode::connack), for code that prints or exits with the 3.x code (as
    /// `mosquitto_pub` exits with it). A code with no 3.x counterpart comes back as its own value
    /// (Unspecified error, 0x80, which [`connack_string`](crate::connack_string) calls an unknown reason).
    ///
    /// ```
    /// use pahoish::{connack_string, ReasonCode};
    /// for code in 0..=5 {
    ///     assert_eq!(ReasonCode::connack(code).connack_code(), code);
    /// }
    /// let refused = ReasonCode::connack(5);
    /// assert_eq!(connack_string(refused.connack_code()), "Connection Refused: not authorised.");
    /// ```
    pub fn connack_code(&self) -> u8 {
        match self.value {
            0x84 => 1,
            0x85 => 2,
            0x88 => 3,
            0x86 => 4,
            0x87 => 5,
            other => other,
        }
    }

    /// Success, as reported by `on_publish` for an acknowledged (or, at QoS 0, written) message.
    pub fn puback_success() -> ReasonCode {
        ReasonCode::new(PUBACK, 0)
    }

    /// The reason code for an MQTT 3.1.1 SUBACK return code: 0, 1, 2 are Granted QoS 0/1/2, 0x80 is
    /// Unspecified error.
    pub fn suback(code: u8) -> ReasonCode {
        ReasonCode::new(SUBACK, code)
    }

    /// Success in an UNSUBACK.
    pub fn unsuback_success() -> ReasonCode {
        ReasonCode::new(UNSUBACK, 0)
    }

    /// A DISCONNECT reason code: 0 Normal disconnection, 0x80 Unspecified error, 0x82 Protocol error,
    /// 0x8D Keep alive timeout, ...
    pub fn disconnect(value: u8) -> ReasonCode {
        ReasonCode::new(DISCONNECT, value)
    }

    /// The numeric value.
    pub fn value(&self) -> u8 {
        self.value
    }

    /// The type of packet the code belongs to.
    pub fn packet_type(&self) -> u8 {
        self.packet_type
    }

    /// Whether the code reports a failure (0x80 and above).
    pub fn is_failure(&self) -> bool {
        self.value >= 0x80
    }

    /// Paho's name for the code.
    pub fn name(&self) -> &'static str {
        match (self.value, self.packet_type) {
            (0x00, DISCONNECT) => "Normal disconnection",
            (0x00, SUBACK) => "Granted QoS 0",
            (0x00, _) => "Success",
            (0x01, _) => "Granted QoS 1",
            (0x02, _) => "Granted QoS 2",
            (0x04, _) => "Disconnect with will message",
            (0x10, _) => "No matching subscribers",
            (0x11, _) => "No subscription found",
            (0x18, _) => "Continue authentication",
            (0x19, _) => "Re-authenticate",
            (0x80, _) => "Unspecified error",
            (0x81, _) => "Malformed packet",
            (0x82, _) => "Protocol error",
            (0x83, _) => "Implementation specific error",
            (0x84, _) => "Unsupported protocol version",
            (0x85, _) => "Client identifier not valid",
            (0x86, _) => "Bad user name or password",
            (0x87, _) => "Not authorized",
            (0x88, _) => "Server unavailable",
            (0x89, _) => "Server busy",
            (0x8a, _) => "Banned",
            (0x8b, _) => "Server shutting down",
            (0x8c, _) => "Bad authentication method",
            (0x8d, _) => "Keep alive timeout",
            (0x8e, _) => "Session taken over",
            (0x8f, _) => "Topic filter invalid",
            (0x90, _) => "Topic name invalid",
            (0x91, _) => "Packet identifier in use",
            (0x92, _) => "Packet identifier not found",
            (0x93, _) => "Receive maximum exceeded",
            (0x94, _) => "Topic alias invalid",
            (0x95, _) => "Packet too large",
            (0x96, _) => "Message rate too high",
            (0x97, _) => "Quota exceeded",
            (0x98, _) => "Administrative action",
            (0x99, _) => "Payload format invalid",
            (0x9a, _) => "Retain not supported",
            (0x9b, _) => "QoS not supported",
            (0x9c, _) => "Use another server",
            (0x9d, _) => "Server moved",
            (0x9e, _) => "Shared subscription not supported",
            (0x9f, _) => "Connection rate exceeded",
            (0xa0, _) => "Maximum connect time",
            (0xa1, _) => "Subscription identifiers not supported",
            (0xa2, _) => "Wildcard subscription not supported",
            _ => "Unknown reason code",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<u8> for ReasonCode {
    fn eq(&self, other: &u8) -> bool {
        self.value == *other
    }
}

impl PartialEq<i32> for ReasonCode {
    fn eq(&self, other: &i32) -> bool {
        i32::from(self.value) == *other
    }
}

impl From<ReasonCode> for i32 {
    fn from(rc: ReasonCode) -> i32 {
        i32::from(rc.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_codes_map_as_in_paho() {
        let names: Vec<String> = (0..=6)
            .map(|c| ReasonCode::connack(c).to_string())
            .collect();
        assert_eq!(
            names,
            [
                "Success",
                "Unsupported protocol version",
                "Client identifier not valid",
                "Server unavailable",
                "Bad user name or password",
                "Not authorized",
                "Unspecified error"
            ]
        );
    }

    #[test]
    fn connack_codes_round_trip() {
        for code in 0..=5 {
            assert_eq!(ReasonCode::connack(code).connack_code(), code);
        }
        assert_eq!(ReasonCode::connack(9).connack_code(), 0x80);
    }

    #[test]
    fn suback_and_disconnect_names_depend_on_the_packet() {
        assert_eq!(ReasonCode::suback(0).to_string(), "Granted QoS 0");
        assert_eq!(ReasonCode::suback(2).to_string(), "Granted QoS 2");
        assert_eq!(ReasonCode::suback(0x80).to_string(), "Unspecified error");
        assert_eq!(
            ReasonCode::disconnect(0).to_string(),
            "Normal disconnection"
        );
        assert_eq!(
            ReasonCode::disconnect(0x8d).to_string(),
            "Keep alive timeout"
        );
        assert_eq!(ReasonCode::puback_success().to_string(), "Success");
    }
}
