//! PUBACK, MQTT 3.1.1 and 5.0 section 3.4: a fixed header and a packet identifier (and in MQTT 5 a reason code
//! and properties).

super::ack::ack_packet! {
    /// PUBACK: the acknowledgement of a QoS 1 PUBLISH, carrying its packet identifier (MQTT 3.1.1 section 3.4).
    PubAck, PUBACK, 0b0000, "PUBACK"
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 4] = [
        0x40, 0x02, // PUBACK (type 4, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    /// MQTT 5 with a reason code and no properties.
    const V5_REASON: [u8; 5] = [
        0x40, 0x03, // PUBACK (type 4, flags 0), remaining length 3
        0x12, 0x34, // packet identifier 0x1234
        0x10, // reason code: No matching subscribers
    ];

    /// MQTT 5 with a reason code and properties.
    const V5_PROPERTIES: [u8; 13] = [
        0x40, 0x0b, // PUBACK (type 4, flags 0), remaining length 11
        0x12, 0x34, // packet identifier 0x1234
        0x10, // reason code: No matching subscribers
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'b', b'u', b's', b'y', // ReasonString "busy"
    ];

    crate::packet::ack::ack_packet_tests!(PubAck, 4, 0b0000, BYTES);
    crate::packet::ack::ack_packet_v5_tests!(PubAck, 4, 0b0000, BYTES, V5_REASON, V5_PROPERTIES);
}
