//! PUBREC, MQTT 3.1.1 and 5.0 section 3.5: a fixed header and a packet identifier (and in MQTT 5 a reason code
//! and properties).

super::ack::ack_packet! {
    /// PUBREC: the first acknowledgement of a QoS 2 PUBLISH ("publish received"), answered with PUBREL
    /// (MQTT 3.1.1 section 3.5).
    PubRec, PUBREC, 0b0000, "PUBREC"
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 4] = [
        0x50, 0x02, // PUBREC (type 5, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    /// MQTT 5 with a reason code and no properties.
    const V5_REASON: [u8; 5] = [
        0x50, 0x03, // PUBREC (type 5, flags 0), remaining length 3
        0x12, 0x34, // packet identifier 0x1234
        0x10, // reason code: No matching subscribers
    ];

    /// MQTT 5 with a reason code and properties.
    const V5_PROPERTIES: [u8; 13] = [
        0x50, 0x0b, // PUBREC (type 5, flags 0), remaining length 11
        0x12, 0x34, // packet identifier 0x1234
        0x10, // reason code: No matching subscribers
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'b', b'u', b's', b'y', // ReasonString "busy"
    ];

    crate::packet::ack::ack_packet_tests!(PubRec, 5, 0b0000, BYTES);
    crate::packet::ack::ack_packet_v5_tests!(PubRec, 5, 0b0000, BYTES, V5_REASON, V5_PROPERTIES);
}
