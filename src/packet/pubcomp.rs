//! PUBCOMP, MQTT 3.1.1 section 3.7: a fixed header and a packet identifier.

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

    crate::packet::ack::ack_packet_tests!(PubComp, 7, 0b0000, BYTES);
}
