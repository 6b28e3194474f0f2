//! PUBCOMP, MQTT 3.1.1 and 5.0 section 3.7: a fixed header and a packet identifier (and in MQTT 5 a reason code
//! and properties).

super::ack::ack_packet! {
    /// PUBCOMP: the last packet of a QoS 2 exchange ("publish complete"), answering PUBREL (MQTT 3.1.1
    /// section 3.7).
    PubComp, PUBCOMP, 0b0000, "PUBCOMP"
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 4] = [
        0x70, 0x02, // PUBCOMP (type 7, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    /// MQTT 5 with a reason code and no properties.
    const V5_REASON: [u8; 5] = [
        0x70, 0x03, // PUBCOMP (type 7, flags 0), remaining length 3
        0x12, 0x34, // packet identifier 0x1234
        0x92, // reason code: Packet Identifier not found
    ];

    /// MQTT 5 with a reason code and properties.
    const V5_PROPERTIES: [u8; 13] = [
        0x70, 0x0b, // PUBCOMP (type 7, flags 0), remaining length 11
        0x12, 0x34, // packet identifier 0x1234
        0x92, // reason code: Packet Identifier not found
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'b', b'u', b's', b'y', // ReasonString "busy"
    ];

    crate::packet::ack::ack_packet_tests!(PubComp, 7, 0b0000, BYTES);
    crate::packet::ack::ack_packet_v5_tests!(PubComp, 7, 0b0000, BYTES, V5_REASON, V5_PROPERTIES);
}
