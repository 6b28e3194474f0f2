//! PUBREL, MQTT 3.1.1 and 5.0 section 3.6: a fixed header and a packet identifier (and in MQTT 5 a reason code
//! and properties).

super::ack::ack_packet! {
    /// PUBREL: the answer to PUBREC in a QoS 2 exchange ("publish release"), answered with PUBCOMP. Its
    /// fixed-header flags are `0b0010` (MQTT 3.1.1 section 3.6).
    PubRel, PUBREL, 0b0010, "PUBREL"
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 4] = [
        0x62, 0x02, // PUBREL (type 6, flags 0b0010), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    /// MQTT 5 with a reason code and no properties.
    const V5_REASON: [u8; 5] = [
        0x62, 0x03, // PUBREL (type 6, flags 0b0010), remaining length 3
        0x12, 0x34, // packet identifier 0x1234
        0x92, // reason code: Packet Identifier not found
    ];

    /// MQTT 5 with a reason code and properties.
    const V5_PROPERTIES: [u8; 13] = [
        0x62, 0x0b, // PUBREL (type 6, flags 0b0010), remaining length 11
        0x12, 0x34, // packet identifier 0x1234
        0x92, // reason code: Packet Identifier not found
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'b', b'u', b's', b'y', // ReasonString "busy"
    ];

    crate::packet::ack::ack_packet_tests!(PubRel, 6, 0b0010, BYTES);
    crate::packet::ack::ack_packet_v5_tests!(PubRel, 6, 0b0010, BYTES, V5_REASON, V5_PROPERTIES);
}
