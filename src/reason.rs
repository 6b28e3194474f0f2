//! `ReasonCode`: the MQTT 5 vocabulary that Paho's VERSION2 callbacks use for every protocol version. On
//! MQTT 3.1/3.1.1 the 3.x return codes are mapped to reason codes, as Paho does.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::error::{ConnackResult, Error, Result};
use crate::properties::PacketTypes;

/// A reason code, as passed to `on_connect`, `on_disconnect`, `on_publish`, `on_subscribe`.
///
/// Its [`Display`](fmt::Display) is Paho's name for the code (`"Success"`, `"Not authorized"`, ...), so
/// `println!("Connected with result code {rc}")` prints what the Python script prints. As in Paho, it
/// compares equal to its numeric value, to its name, and to another reason code of the same value, and
/// orders by value; its [`Debug`](fmt::Debug) is Paho's `repr()`.
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
/// assert!(refused == "Not authorized" && refused > 0x80);
/// assert_eq!(format!("{refused:?}"), "ReasonCode(Connack, 'Not authorized')");
/// ```
#[derive(Clone, Copy)]
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

    /// The reason code called `name` in a packet of `packet_type` (Paho's `ReasonCode(packetType,
    /// aName)`); fails for a name the packet type does not have. `"Success"` in a DISCONNECT is
    /// `"Normal disconnection"`, as in Paho.
    ///
    /// ```
    /// use pahoish::{PacketTypes, ReasonCode};
    /// let rc = ReasonCode::from_name(PacketTypes::DISCONNECT, "Disconnect with will message")?;
    /// assert_eq!(rc.value(), 4);
    /// assert!(ReasonCode::from_name(PacketTypes::PUBACK, "Banned").is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn from_name(packet_type: PacketTypes, name: &str) -> Result<ReasonCode> {
        let name = if packet_type == PacketTypes::DISCONNECT && name == "Success" {
            "Normal disconnection"
        } else {
            name
        };
        (0..=u8::MAX)
            .map(|v| ReasonCode::new(packet_type as u8, v))
            .find(|rc| rc.is_valid() && rc.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "reasoncode",
                    format!("{name:?} is not a reason code of {}", packet_type.name()),
                )
            })
    }

    /// The reason code `value` in a packet of `packet_type`, checked as Paho checks it: fails for a
    /// value the packet type does not have.
    ///
    /// ```
    /// use pahoish::{PacketTypes, ReasonCode};
    /// assert!(ReasonCode::checked(PacketTypes::DISCONNECT, 0x04).is_ok());
    /// assert!(ReasonCode::checked(PacketTypes::PUBACK, 0x04).is_err());
    /// ```
    pub fn checked(packet_type: PacketTypes, value: u8) -> Result<ReasonCode> {
        let rc = ReasonCode::new(packet_type as u8, value);
        if rc.is_valid() {
            Ok(rc)
        } else {
            Err(Error::invalid(
                "reasoncode",
                format!(
                    "{value:#04x} is not a reason code of {}",
                    packet_type.name()
                ),
            ))
        }
    }

    /// Whether MQTT 5 defines this value for this packet type.
    pub fn is_valid(&self) -> bool {
        valid_in(self.value).contains(&self.packet_type)
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

/// Which packet types (by number) a reason code value exists in, as MQTT 5 (and Paho's table) define.
fn valid_in(value: u8) -> &'static [u8] {
    const CONNACK_DISCONNECT: &[u8] = &[2, 14];
    match value {
        0x00 => &[2, 4, 5, 6, 7, 9, 11, 14, 15],
        0x01 | 0x02 => &[9],
        0x04 => &[14],
        0x10 => &[4, 5],
        0x11 => &[11],
        0x18 | 0x19 => &[15],
        0x80 | 0x83 | 0x87 => &[2, 4, 5, 9, 11, 14],
        0x81 | 0x82 | 0x89 | 0x8c | 0x95 | 0x9a | 0x9b | 0x9c | 0x9d | 0x9f => CONNACK_DISCONNECT,
        0x84..=0x86 | 0x88 | 0x8a => &[2],
        0x8b | 0x8d | 0x8e | 0x93 | 0x94 | 0x96 | 0x98 | 0xa0 => &[14],
        0x8f => &[9, 11, 14],
        0x90 => &[2, 4, 5, 14],
        0x91 => &[4, 5, 9, 11],
        0x92 => &[6, 7],
        0x97 => &[2, 4, 5, 9, 14],
        0x99 => &[4, 5, 14],
        0x9e | 0xa1 | 0xa2 => &[9, 14],
        _ => &[],
    }
}

/// Paho's `repr()`: `ReasonCode(Puback, 'Success')`.
impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let packet = PacketTypes::from_u8(self.packet_type).map_or("Unknown", PacketTypes::name);
        write!(f, "ReasonCode({packet}, '{}')", self.name())
    }
}

/// Equal when the values are, whatever the packet types, as in Paho.
impl PartialEq for ReasonCode {
    fn eq(&self, other: &ReasonCode) -> bool {
        self.value == other.value
    }
}

impl Eq for ReasonCode {}

impl Hash for ReasonCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl PartialOrd for ReasonCode {
    fn partial_cmp(&self, other: &ReasonCode) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By value, as in Paho.
impl Ord for ReasonCode {
    fn cmp(&self, other: &ReasonCode) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl PartialEq<str> for ReasonCode {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl PartialEq<&str> for ReasonCode {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl PartialOrd<u8> for ReasonCode {
    fn partial_cmp(&self, other: &u8) -> Option<Ordering> {
        Some(self.value.cmp(other))
    }
}

impl PartialOrd<i32> for ReasonCode {
    fn partial_cmp(&self, other: &i32) -> Option<Ordering> {
        Some(i32::from(self.value).cmp(other))
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

/// `connack_string(rc)` of a reason code is its name, as in Paho 2.2 (`str(rc)`).
impl ConnackResult for ReasonCode {
    fn connack_str(&self) -> &'static str {
        self.name()
    }
}

impl PartialEq<String> for ReasonCode {
    fn eq(&self, other: &String) -> bool {
        self.name() == other
    }
}

/// Comparisons with integers and names both ways round, as Python's reflected operators make them
/// (`0 == rc`, `0x80 <= rc`, `"Success" == rc`), for the integer types a script's constants take.
macro_rules! int_comparisons {
    ($($int:ty),*) => {$(
        impl PartialEq<ReasonCode> for $int {
            fn eq(&self, rc: &ReasonCode) -> bool {
                rc == self
            }
        }
        impl PartialOrd<ReasonCode> for $int {
            fn partial_cmp(&self, rc: &ReasonCode) -> Option<Ordering> {
                rc.partial_cmp(self).map(Ordering::reverse)
            }
        }
    )*};
}

int_comparisons!(u8, i32);

/// `u16`, `u32`, `i64` and `usize` too (a `rc == 0x80u16`), by value.
macro_rules! wide_comparisons {
    ($($int:ty),*) => {$(
        impl PartialEq<$int> for ReasonCode {
            fn eq(&self, other: &$int) -> bool {
                <$int>::from(self.value) == *other
            }
        }
        impl PartialOrd<$int> for ReasonCode {
            fn partial_cmp(&self, other: &$int) -> Option<Ordering> {
                Some(<$int>::from(self.value).cmp(other))
            }
        }
    )*};
}

wide_comparisons!(u16, u32, i64, usize);
int_comparisons!(u16, u32, i64, usize);

impl PartialEq<ReasonCode> for str {
    fn eq(&self, rc: &ReasonCode) -> bool {
        rc == self
    }
}

impl PartialEq<ReasonCode> for &str {
    fn eq(&self, rc: &ReasonCode) -> bool {
        rc == self
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
    fn compares_with_integers_and_names_both_ways_round() {
        // Not authorized, 0x87. One comparison per assert: each is a different impl (clippy would
        // merge them).
        let rc = ReasonCode::connack(5);
        assert!(rc == 0x87);
        assert!(0x87 == rc);
        assert!(rc == 0x87u8);
        assert!(0x87u16 == rc);
        assert!(rc >= 0x80);
        assert!(0x80 <= rc);
        assert!(0x80u16 < rc);
        assert!(rc > 0usize);
        assert!(0i64 < rc);
        assert!(0 != rc);
        assert!(rc == "Not authorized");
        assert!("Not authorized" == rc);
        let name = String::from("Not authorized");
        assert!(rc == name);
        let ok = ReasonCode::connack(0);
        assert!(ok < rc);
        assert!(0u32 == ok);
        assert!(ok < 1u32);
        let mut codes = [rc, ok];
        codes.sort();
        assert_eq!(codes, [ok, rc]);
    }

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

    /// The reason code `on_connect` gets for a refused login gives its name, as Paho 2.2's
    /// `connack_string(reason_code)`, not the 3.x text of its number (0x87 is no 3.x code).
    #[test]
    fn connack_string_of_a_reason_code_is_its_name() {
        use crate::error::connack_string;
        let refused = ReasonCode::connack(5);
        assert_eq!(connack_string(refused), "Not authorized");
        let by_ref: &ReasonCode = &refused;
        assert_eq!(connack_string(by_ref), "Not authorized");
        assert_eq!(connack_string(ReasonCode::connack(0)), "Success");
        assert_eq!(
            connack_string(ReasonCode::connack(4)),
            "Bad user name or password"
        );
        assert_eq!(
            connack_string(refused.connack_code()),
            "Connection Refused: not authorised."
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

    #[test]
    fn every_name_round_trips_through_its_packet_types_as_in_pahos_table() {
        let mut pairs = 0;
        for value in 0..=u8::MAX {
            for &t in valid_in(value) {
                let packet = PacketTypes::from_u8(t).unwrap();
                let rc = ReasonCode::checked(packet, value).unwrap();
                assert_ne!(rc.name(), "Unknown reason code", "{value:#x}");
                assert_eq!(
                    ReasonCode::from_name(packet, rc.name()).unwrap().value(),
                    value
                );
                pairs += 1;
            }
        }
        // Paho 2.2's table: 43 values, 95 (value, packet type) pairs.
        assert_eq!(
            (0..=u8::MAX).filter(|v| !valid_in(*v).is_empty()).count(),
            43
        );
        assert_eq!(pairs, 95);
        assert!(ReasonCode::checked(PacketTypes::CONNACK, 0x8b).is_err());
        assert_eq!(
            ReasonCode::from_name(PacketTypes::DISCONNECT, "Success").unwrap(),
            ReasonCode::disconnect(0)
        );
    }

    #[test]
    fn compares_and_prints_as_paho() {
        let rc = ReasonCode::new(4, 0x10);
        assert_eq!(
            format!("{rc:?}"),
            "ReasonCode(Puback, 'No matching subscribers')"
        );
        assert!(rc == 16 && rc == 16u8 && rc == "No matching subscribers");
        assert!(rc < 0x80 && rc > 0 && ReasonCode::new(9, 0x80) > rc);
        assert_eq!(ReasonCode::new(4, 0), ReasonCode::new(14, 0));
    }
}
