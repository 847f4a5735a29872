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
    // Sized for a typical envelope up front: growing from empty reallocates several times.
    let size = match frame {
        Frame::Msg(envelope) => 96 + envelope.body.len() + 12 * envelope.vc.len(),
        Frame::Hello { cluster, .. } => 48 + cluster.len(),
    };
    let mut bytes = Vec::with_capacity(size);
    rmp_serde::encode::write_named(&mut bytes, frame).expect("frames always encode");
    bytes
}

/// Encodes `Frame::Msg` from borrowed parts: the same bytes as [`encode`], without first copying
/// the instance name, kind and clocks into an owned [`Envelope`] (the hot path of every send).
pub fn encode_msg(
    from: NodeId,
    to: NodeId,
    instance: &str,
    lc: u64,
    vc: &VectorClock,
    kind: &str,
    body: &[u8],
) -> Vec<u8> {
    /// Mirrors `Frame::Msg(Envelope)`: an internally tagged struct writes `"type": "msg"` first.
    #[derive(Serialize)]
    #[serde(tag = "type", rename = "msg")]
    struct MsgRef<'a> {
        from: NodeId,
        to: NodeId,
        instance: &'a str,
        lc: u64,
        vc: &'a VectorClock,
        kind: &'a str,
        #[serde(with = "serde_bytes")]
        body: &'a [u8],
    }
    let mut bytes = Vec::with_capacity(96 + instance.len() + kind.len() + body.len() + 12 * vc.len());
    let frame = MsgRef { from, to, instance, lc, vc, kind, body };
    rmp_serde::encode::write_named(&mut bytes, &frame).expect("frames always encode");
    bytes
}

/// Decodes one frame, accepting exactly what the derived `Deserialize` of [`Frame`] accepts.
///
/// The common case, a map as [`encode`] writes it, is read straight into a flat struct: serde's
/// internally tagged enums first buffer every field into an intermediate tree, which cost more
/// than the rest of a node's receive path put together. Anything else (the array form, a bad
/// frame) goes to the derived decoder, so results and error messages are the derived ones.
pub fn decode(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    decode_map(bytes).or_else(|_| rmp_serde::from_slice(bytes))
}

fn decode_map(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    use serde::de::Error as _;
    let flat: FlatFrame = rmp_serde::from_slice(bytes)?;
    let missing = |field: &'static str| rmp_serde::decode::Error::missing_field(field);
    match flat.tag.as_str() {
        "hello" => Ok(Frame::Hello {
            node: flat.node.ok_or_else(|| missing("node"))?,
            cluster: flat.cluster.ok_or_else(|| missing("cluster"))?,
            version: flat.version.ok_or_else(|| missing("version"))?,
        }),
        "msg" => Ok(Frame::Msg(Envelope {
            from: flat.from.ok_or_else(|| missing("from"))?,
            to: flat.to.ok_or_else(|| missing("to"))?,
            instance: flat.instance.ok_or_else(|| missing("instance"))?,
            lc: flat.lc.ok_or_else(|| missing("lc"))?,
            vc: flat.vc.ok_or_else(|| missing("vc"))?,
            kind: flat.kind.ok_or_else(|| missing("kind"))?,
            body: flat.body.ok_or_else(|| missing("body"))?,
        })),
        other => Err(rmp_serde::decode::Error::unknown_variant(other, &["hello", "msg"])),
    }
}

/// Every field of every [`Frame`] variant, for [`decode`].
#[derive(Deserialize)]
struct FlatFrame {
    #[serde(rename = "type")]
    tag: String,
    node: Option<NodeId>,
    cluster: Option<String>,
    version: Option<u32>,
    from: Option<NodeId>,
    to: Option<NodeId>,
    instance: Option<String>,
    lc: Option<u64>,
    vc: Option<VectorClock>,
    kind: Option<String>,
    #[serde(default, with = "serde_bytes")]
    body: Option<Vec<u8>>,
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

    #[test]
    fn encode_msg_writes_the_bytes_of_encode() {
        let envelope = Envelope {
            from: 4,
            to: 9,
            instance: "lock".into(),
            lc: 123_456,
            vc: VectorClock::from([(4, 123_456), (9, 77), (1, 1)]),
            kind: "request".into(),
            body: vec![0x92, 0x01, 0xa1, 0x78],
        };
        let borrowed = encode_msg(4, 9, "lock", 123_456, &envelope.vc, "request", &envelope.body);
        assert_eq!(borrowed, encode(&Frame::Msg(envelope)));
    }

    /// `decode` must agree with the derived `Deserialize` on every input, good or bad.
    #[test]
    fn decode_agrees_with_the_derived_deserializer() {
        use serde_json::json;
        let hello = Frame::Hello { node: 3, cluster: "c".into(), version: WIRE_VERSION };
        let cases = [
            encode(&hello),
            rmp_serde::to_vec_named(
                &json!({"version": 1, "extra": [1, 2], "cluster": "c", "node": 3, "type": "hello"}),
            )
            .unwrap(),
            rmp_serde::to_vec_named(&json!({"type": "hello", "node": 3, "cluster": "c"})).unwrap(),
            rmp_serde::to_vec_named(&json!({"type": "bye", "node": 3})).unwrap(),
            rmp_serde::to_vec_named(&json!({"type": "msg", "from": 1, "to": 2, "instance": "i", "lc": 1,
                "vc": {"1": 1}, "kind": "k", "body": "not bytes"}))
            .unwrap(),
            rmp_serde::to_vec_named(&json!({"node": 3})).unwrap(),
            rmp_serde::to_vec_named(&json!([1, 2, 3])).unwrap(),
            rmp_serde::to_vec(&hello).unwrap(),
            vec![],
        ];
        for bytes in cases {
            let derived: Result<Frame, _> = rmp_serde::from_slice(&bytes);
            let fast = decode(&bytes);
            assert_eq!(format!("{fast:?}"), format!("{derived:?}"), "{bytes:?}");
            if let Ok(map) = decode_map(&bytes) {
                assert_eq!(Some(&map), derived.as_ref().ok(), "{bytes:?}: the fast path agrees where it succeeds");
            }
        }
    }
}
