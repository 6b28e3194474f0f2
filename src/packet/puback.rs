//! PUBACK, MQTT 3.1.1 section 3.4: a fixed header and a packet identifier.

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

    crate::packet::ack::ack_packet_tests!(PubAck, 4, 0b0000, BYTES);
}
