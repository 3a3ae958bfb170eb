//! Linux AF_PACKET TPACKET_V3 capture with fanout (work in progress; see issue 10).
