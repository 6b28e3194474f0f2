//! UNSUBACK, MQTT 3.1.1 section 3.11: a fixed header and a packet identifier.

super::ack::ack_packet! {
    /// UNSUBACK: the broker's acknowledgement of an UNSUBSCRIBE, carrying its packet identifier (MQTT 3.1.1
    /// section 3.11).
    UnsubAck, 11, 0b0000, "UNSUBACK"
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
