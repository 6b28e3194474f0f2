//! PUBREC, MQTT 3.1.1 section 3.5: a fixed header and a packet identifier.

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

    crate::packet::ack::ack_packet_tests!(PubRec, 5, 0b0000, BYTES);
}
