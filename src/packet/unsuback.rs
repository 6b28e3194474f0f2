//! UNSUBACK, MQTT 3.1.1 section 3.11: a fixed header and a packet identifier.

use super::ack::{read_pkid_only, write_pkid_only};
use super::{check_flags, debug_v5_when_set, DecodeError};
use crate::properties::{PacketTypes, Properties};

/// UNSUBACK: the broker's acknowledgement of an UNSUBSCRIBE, carrying its packet identifier (MQTT 3.1.1
/// section 3.11) and, in MQTT 5, a reason code per topic filter.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The packet identifier of the UNSUBSCRIBE being answered (never 0).
    pub pkid: u16,
    /// MQTT 5: one reason code per topic filter, in the UNSUBSCRIBE's order (0 success, 0x11 no subscription
    /// existed, 0x80 and up failures). Not sent in MQTT 3.1.1, and empty when decoded there.
    pub codes: Vec<u8>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(UnsubAck { pkid } { codes, properties });

impl Default for UnsubAck {
    /// Packet identifier 0 (to be set), no codes, no properties.
    fn default() -> Self {
        Self::new(0)
    }
}

impl UnsubAck {
    const PACKET_TYPE: u8 = PacketTypes::UNSUBACK as u8;

    /// An UNSUBACK for packet identifier `pkid` with no reason codes and no properties: the MQTT 3.1.1 kind.
    pub fn new(pkid: u16) -> Self {
        UnsubAck {
            pkid,
            codes: Vec::new(),
            properties: Properties::new(PacketTypes::UNSUBACK),
        }
    }

    /// Appends the whole MQTT 3.1.1 packet (fixed header, remaining length 2, packet identifier) to `out`; the
    /// codes and properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_pkid_only(out, Self::PACKET_TYPE << 4, self.pkid);
    }

    /// Decodes the body of an MQTT 3.1.1 UNSUBACK (`flags` must be 0): exactly a non-zero two-byte packet
    /// identifier.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        read_pkid_only(Self::PACKET_TYPE, body).map(UnsubAck::new)
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: always 2.
    pub fn remaining_length(&self) -> usize {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 4] = [
        0xb0, 0x02, // UNSUBACK (type 11, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    crate::packet::ack::ack_packet_tests!(UnsubAck, 11, 0b0000, BYTES);
}
