//! The wire format between nodes.
//!
//! TCP carries length-delimited frames (a 4-byte big-endian length, then the payload; tokio-util's
//! `LengthDelimitedCodec`), at most [`MAX_FRAME`] bytes each. Each payload is one [`Frame`] in
//! MessagePack, written with `rmp_serde::to_vec_named`: structs as maps with field names, so a
//! node written in another language can read them and fields can be added without breaking old
//! readers, at the price of a few bytes per frame. The first frame on every connection is a
//! [`Frame::Hello`]; a receiver closes a connection whose hello names another cluster or an
//! unknown node.

use algorithms::trace::VectorClock;
use algorithms::NodeId;
use serde::{Deserialize, Serialize};
use tokio_util::codec::LengthDelimitedCodec;

/// Largest frame a node sends or accepts; a longer length prefix is a malformed frame.
pub const MAX_FRAME: usize = 1 << 20;

/// Bumped when a change would make old and new nodes misread each other.
pub const WIRE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// First frame of a connection: who is calling, from which cluster.
    Hello { node: NodeId, cluster: String, version: u32 },
    /// One algorithm message.
    Msg(Envelope),
}

/// One algorithm message and the clocks of its send event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    /// The algorithm instance on both ends, e.g. `"bully"`.
    pub instance: String,
    /// The sender's Lamport clock at the send; with `from`, the message's id.
    pub lc: u64,
    /// The sender's vector clock at the send.
    pub vc: VectorClock,
    /// The message type, as counted in traces (`"election"`).
    pub kind: String,
    /// The algorithm's message, itself MessagePack.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// The codec for node-to-node connections, with the frame limit enforced both ways.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

pub fn encode(frame: &Frame) -> Vec<u8> {
    rmp_serde::to_vec_named(frame).expect("frames always encode")
}

pub fn decode(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let frame = Frame::Msg(Envelope {
            from: 1,
            to: 2,
            instance: "bully".into(),
            lc: 7,
            vc: VectorClock::from([(1, 7), (2, 3)]),
            kind: "election".into(),
            body: vec![0x81, 0xa1, 0x61, 0x01],
        });
        assert_eq!(decode(&encode(&frame)).unwrap(), frame);
        assert!(decode(b"\xc1garbage").is_err());
    }
}
