//! PUBREL, MQTT 3.1.1 section 3.6: a fixed header and a packet identifier.

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

    crate::packet::ack::ack_packet_tests!(PubRel, 6, 0b0010, BYTES);
}
