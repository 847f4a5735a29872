//! The wire format between nodes.
//!
//! TCP carries length-delimited frames (a 4-byte big-endian length, then the payload; tokio-util's
//! `LengthDelimitedCodec`), at most [`MAX_FRAME`] bytes each. Each payload is one [`Frame`] in
//! MessagePack, written with `rmp_serde::to_vec_named`: structs as maps with field names, so a
//! node written in another language can read them and fields can be added without breaking old
//! readers, at the price of a few bytes per frame. The first frame on every connection is a
//! [`Frame::Hello`]; a receiver closes a connection whose hello names another cluster or an
//! unknown node.
//!
//! What a node does with the bytes of an inbound connection is decided here, without IO, by
//! [`Inbound`] (the transport only reads the socket, counts and traces what it is told), so the
//! same code is fuzzed by `fuzz/` and by `node/tests/wire_fuzz.rs` through [`decode_stream`].
//! Bad input is never fatal: every frame gets a [`Step`] that says how it is counted and traced.

use crate::control::Counters;
use algorithms::trace::VectorClock;
use algorithms::NodeId;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

/// Largest frame a node sends or accepts; a longer length prefix is a malformed frame.
pub const MAX_FRAME: usize = 1 << 20;

/// Bumped when a change would make old and new nodes misread each other.
pub const WIRE_VERSION: u32 = 1;

/// MessagePack nesting a frame may have (rmp-serde's depth counter: a frame of `MAX_DEPTH` or
/// more nested maps and arrays is malformed). A real frame nests two deep (the envelope, its
/// vector clock); rmp-serde's own limit of 1024 let a 1 MiB frame of nested arrays overflow a
/// 2 MiB thread stack in a debug build.
pub const MAX_DEPTH: usize = 32;

/// Largest Lamport or vector clock entry an envelope may carry: 2^53 − 1, so that a receive
/// (the maximum, then one tick) can never overflow a clock, and traces stay exact for
/// JavaScript readers (the report). Real clocks count events and never come near it; a peer
/// that sends clocks just under it can still push a node there, whose later messages its peers
/// then refuse (a peer that passed the hello can disrupt an algorithm in many ways: this only
/// keeps it from crashing the node or corrupting its trace).
pub const MAX_CLOCK: u64 = (1 << 53) - 1;

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

/// How long a new connection may stay silent before its hello: 2 s at first, doubled (up to
/// 32 s) each time a connection misses it. A deadline missed because the other end was starved
/// of CPU (a proxy relaying hundreds of nodes on two cores) would otherwise close the connection,
/// so the sender dials again and adds to the load that made it late: connections churn and a
/// large cluster never connects. A connection that never speaks still costs only a socket.
#[derive(Debug)]
pub struct HelloDeadline {
    ms: std::sync::atomic::AtomicU64,
}

impl HelloDeadline {
    pub const FIRST: std::time::Duration = std::time::Duration::from_secs(2);
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(32);

    pub fn get(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A connection missed the deadline: later ones get twice as long.
    pub fn missed(&self) {
        let longer = (self.get() * 2).min(Self::MAX);
        self.ms.store(longer.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for HelloDeadline {
    fn default() -> Self {
        HelloDeadline { ms: std::sync::atomic::AtomicU64::new(Self::FIRST.as_millis() as u64) }
    }
}

/// The codec for node-to-node connections, with the frame limit enforced both ways.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

/// [`codec`] for reading inbound connections, where a stream that ends inside a frame is an
/// error even when nothing but the frame's length prefix came: `LengthDelimitedCodec` takes the
/// prefix out of the buffer first, so its own end-of-stream check saw an empty buffer and took
/// the cut for a clean close (a lost frame nobody counted).
pub struct FrameReader {
    inner: LengthDelimitedCodec,
    /// A length prefix was taken and its payload has not come yet.
    inside: bool,
}

impl FrameReader {
    pub fn new() -> Self {
        FrameReader { inner: codec(), inside: false }
    }
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for FrameReader {
    type Item = bytes::BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut bytes::BytesMut) -> std::io::Result<Option<bytes::BytesMut>> {
        let before = buf.len();
        let frame = self.inner.decode(buf)?;
        if frame.is_some() {
            self.inside = false;
        } else if buf.len() < before {
            self.inside = true;
        }
        Ok(frame)
    }

    fn decode_eof(&mut self, buf: &mut bytes::BytesMut) -> std::io::Result<Option<bytes::BytesMut>> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() && !self.inside => Ok(None),
            None => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the stream ended inside a frame")),
        }
    }
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

/// What a multiplexing proxy needs of a frame: `Some((from, to))` for an envelope, `None` for a
/// hello or anything that does not decode. An envelope as [`encode`] writes it (a map whose
/// first entries are `type`, `from` and `to`) is read from its first bytes alone, without
/// decoding the rest; any other form goes through [`decode`].
pub fn addressed(bytes: &[u8]) -> Option<(NodeId, NodeId)> {
    fn head(bytes: &[u8]) -> Option<(NodeId, NodeId)> {
        let mut r = bytes.get(1..)?;
        if !(0x83..=0x8f).contains(bytes.first()?) {
            return None;
        }
        fn str_<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
            let (&tag, rest) = r.split_first()?;
            let (len, rest) = match tag {
                0xa0..=0xbf => ((tag & 0x1f) as usize, rest),
                0xd9 => (*rest.first()? as usize, rest.get(1..)?),
                _ => return None,
            };
            let text = rest.get(..len)?;
            *r = &rest[len..];
            Some(text)
        }
        let key_type = str_(&mut r)?;
        let kind = str_(&mut r)?;
        if key_type != b"type" || kind != b"msg" {
            return None;
        }
        let mut ids = [0 as NodeId; 2];
        for (id, name) in ids.iter_mut().zip([&b"from"[..], &b"to"[..]]) {
            if str_(&mut r)? != name {
                return None;
            }
            let (&tag, rest) = r.split_first()?;
            let (value, used) = match tag {
                0x00..=0x7f => (tag as u64, 0usize),
                0xcc => (*rest.first()? as u64, 1),
                0xcd => (u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as u64, 2),
                0xce => (u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as u64, 4),
                _ => return None,
            };
            *id = NodeId::try_from(value).ok()?;
            r = rest.get(used..)?;
        }
        Some((ids[0], ids[1]))
    }
    head(bytes).or_else(|| match decode(bytes) {
        Ok(Frame::Msg(envelope)) => Some((envelope.from, envelope.to)),
        _ => None,
    })
}

/// Decodes one frame, accepting exactly what the derived `Deserialize` of [`Frame`] accepts
/// (nested at most [`MAX_DEPTH`] deep): see [`decode_derived`], which fuzzing holds it to.
///
/// The common case, a map as [`encode`] writes it, is read straight into a flat struct: serde's
/// internally tagged enums first buffer every field into an intermediate tree, which cost more
/// than the rest of a node's receive path put together. Anything else (the array form, integer
/// keys, a bad frame) goes to the derived decoder, so results and error messages are the derived
/// ones.
pub fn decode(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    decode_map(bytes).or_else(|_| decode_derived(bytes))
}

/// The reference decoder: the derived `Deserialize` of [`Frame`], nested at most [`MAX_DEPTH`].
pub fn decode_derived(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    de.set_max_depth(MAX_DEPTH);
    Frame::deserialize(&mut de)
}

fn decode_map(bytes: &[u8]) -> Result<Frame, rmp_serde::decode::Error> {
    use serde::de::Error as _;
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    de.set_max_depth(MAX_DEPTH);
    let flat = FlatFrame::deserialize(&mut de)?;
    let missing = |field: &'static str| rmp_serde::decode::Error::missing_field(field);
    match flat.tag.as_ref() {
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
///
/// Read by hand rather than derived: a derived struct also accepts a sequence (fields in order)
/// and integer keys (field indices), which the derived [`Frame`] rejects, so the fast path
/// would take frames the reference decoder refuses. This reads only a map with string (or
/// binary) keys, and refuses a repeated known key, as the derived decoder does.
struct FlatFrame<'a> {
    /// Borrowed from the frame: no allocation per frame for a word that is read once.
    tag: Cow<'a, str>,
    node: Option<NodeId>,
    cluster: Option<String>,
    version: Option<u32>,
    from: Option<NodeId>,
    to: Option<NodeId>,
    instance: Option<String>,
    lc: Option<u64>,
    vc: Option<VectorClock>,
    kind: Option<String>,
    body: Option<Vec<u8>>,
}

const FLAT_FIELDS: [&str; 11] =
    ["type", "node", "cluster", "version", "from", "to", "instance", "lc", "vc", "kind", "body"];

/// A key of a frame's map: the index of a known field in [`FLAT_FIELDS`], or `None`.
struct FlatKey(Option<usize>);

impl<'de> Deserialize<'de> for FlatKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = FlatKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<FlatKey, E> {
                Ok(FlatKey(FLAT_FIELDS.iter().position(|name| name.as_bytes() == key)))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<FlatKey, E> {
                self.visit_bytes(key.as_bytes())
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A string borrowed from the input where the decoder can lend it, copied where it cannot.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(s.to_string())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

impl<'de> Deserialize<'de> for FlatFrame<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlatVisitor;
        impl<'de> Visitor<'de> for FlatVisitor {
            type Value = FlatFrame<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a frame as a map with named fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FlatFrame<'de>, A::Error> {
                let mut tag = None;
                let mut flat = FlatFrame {
                    tag: Cow::Borrowed(""),
                    node: None,
                    cluster: None,
                    version: None,
                    from: None,
                    to: None,
                    instance: None,
                    lc: None,
                    vc: None,
                    kind: None,
                    body: None,
                };
                let mut seen = [false; FLAT_FIELDS.len()];
                while let Some(FlatKey(key)) = map.next_key()? {
                    let Some(index) = key else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(de::Error::duplicate_field(FLAT_FIELDS[index]));
                    }
                    match index {
                        0 => tag = Some(map.next_value::<BorrowedStr<'de>>()?.0),
                        1 => flat.node = map.next_value()?,
                        2 => flat.cluster = map.next_value()?,
                        3 => flat.version = map.next_value()?,
                        4 => flat.from = map.next_value()?,
                        5 => flat.to = map.next_value()?,
                        6 => flat.instance = map.next_value()?,
                        7 => flat.lc = map.next_value()?,
                        8 => flat.vc = map.next_value()?,
                        9 => flat.kind = map.next_value()?,
                        _ => flat.body = map.next_value::<Option<serde_bytes::ByteBuf>>()?.map(|b| b.into_vec()),
                    }
                }
                flat.tag = tag.ok_or_else(|| de::Error::missing_field("type"))?;
                Ok(flat)
            }
        }
        deserializer.deserialize_map(FlatVisitor)
    }
}

/// Who may talk to a node: the rules its inbound connections are held to.
#[derive(Clone, Debug)]
pub struct Gate {
    pub me: NodeId,
    pub cluster: String,
    pub peers: BTreeSet<NodeId>,
    /// The instances the node hosts; an envelope for another is unroutable.
    pub instances: BTreeSet<String>,
}

/// One inbound connection, without the IO: feed it each frame the codec cuts, in order, and do
/// what the [`Step`] says. The first frame must be a hello from a peer of the same cluster;
/// after it, frames are envelopes from that peer.
pub struct Inbound<'g> {
    gate: &'g Gate,
    peer: Option<NodeId>,
}

/// What a node does with one frame (or with the end, or a read error, of a connection).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The hello was accepted: every later frame is from this peer.
    Hello(NodeId),
    /// An envelope for one of the node's instances (which may still find its body bad).
    Deliver(Envelope),
    /// A well-formed envelope for an instance the node does not host, or for another node:
    /// counted in `unroutable_frames`, logged, not traced.
    Unroutable(Envelope),
    /// Before a hello was accepted: the connection is closed and counted in
    /// `rejected_connections` (and in `malformed_frames` when the frame itself was bad).
    Rejected(Rejection),
    /// After the hello: a bad frame, counted in `malformed_frames` and traced. It is skipped,
    /// unless the stream itself cannot be cut into frames any more ([`Malformed::Unframeable`]).
    Malformed(Malformed),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// The connection closed before sending anything (a port probe): counted, not traced.
    Silent,
    /// No hello within the transport's time limit.
    Timeout { secs: u64 },
    /// The first bytes are not a frame: a length prefix over [`MAX_FRAME`], a stream that ends
    /// inside a frame, or a failed read.
    Unframeable(String),
    /// The first frame is not a [`Frame`] in MessagePack.
    Undecodable(String),
    /// The first frame is an envelope.
    NotHello,
    /// A hello from another cluster, another wire version or a node that is not a peer.
    Stranger(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Malformed {
    /// The stream cannot be cut into frames any more (see [`Rejection::Unframeable`]): the
    /// connection is closed.
    Unframeable(String),
    /// Not a [`Frame`] in MessagePack.
    Undecodable(String),
    SecondHello,
    /// An envelope whose `from` is not the node that said hello on this connection.
    Impostor {
        claimed: NodeId,
    },
    /// A clock entry over [`MAX_CLOCK`], or one for a node outside the cluster: merged into the
    /// receiver's clocks, it would overflow them or grow every later trace record.
    BadClock(String),
}

impl Step {
    /// Whether the connection is closed after this step.
    pub fn closes(&self) -> bool {
        matches!(self, Step::Rejected(_) | Step::Malformed(Malformed::Unframeable(_)))
    }

    /// What this step adds to a node's counters (`status` → `counters`), but for
    /// `frames_received`, which counts every frame the codec cut, whatever its step.
    pub fn count(&self, counters: &mut Counters) {
        match self {
            Step::Hello(_) | Step::Deliver(_) => {}
            Step::Unroutable(_) => counters.unroutable_frames += 1,
            Step::Rejected(rejection) => {
                counters.rejected_connections += 1;
                if matches!(rejection, Rejection::Unframeable(_) | Rejection::Undecodable(_)) {
                    counters.malformed_frames += 1;
                }
            }
            Step::Malformed(_) => counters.malformed_frames += 1,
        }
    }

    /// Whether the transport writes a `malformed` trace record for this step.
    pub fn traced(&self) -> bool {
        !matches!(self, Step::Hello(_) | Step::Deliver(_) | Step::Unroutable(_) | Step::Rejected(Rejection::Silent))
    }

    /// The `malformed` trace record's reason, for the steps that are traced. A rejection's
    /// reason starts with "rejected:"; the transport puts the remote address in front.
    pub fn reason(&self, peer: Option<NodeId>) -> Option<String> {
        let from = match peer {
            Some(peer) => format!("node {peer}"),
            None => "an unknown node".to_string(),
        };
        if !self.traced() {
            return None;
        }
        let reason = match self {
            Step::Hello(_) | Step::Deliver(_) | Step::Unroutable(_) | Step::Rejected(Rejection::Silent) => return None,
            Step::Rejected(Rejection::Timeout { secs }) => format!("rejected: no hello within {secs} s"),
            Step::Rejected(Rejection::Unframeable(e)) => format!("rejected: bad first frame: {e}"),
            Step::Rejected(Rejection::Undecodable(e)) => format!("rejected: undecodable hello: {e}"),
            Step::Rejected(Rejection::NotHello) => "rejected: first frame is not a hello".to_string(),
            Step::Rejected(Rejection::Stranger(why)) => format!("rejected: {why}"),
            Step::Malformed(Malformed::Unframeable(e)) => {
                format!("unreadable frame from {from}, connection closed: {e}")
            }
            Step::Malformed(Malformed::Undecodable(e)) => format!("undecodable frame from {from}: {e}"),
            Step::Malformed(Malformed::SecondHello) => format!("second hello from {from}"),
            Step::Malformed(Malformed::Impostor { claimed }) => {
                format!("envelope claims to be from node {claimed} on the connection of {from}")
            }
            Step::Malformed(Malformed::BadClock(why)) => {
                format!("envelope from {from} with an impossible clock: {why}")
            }
        };
        Some(bounded(reason))
    }
}

/// Longest reason traced: error messages quote the peer's strings, which may be 1 MiB long.
const MAX_REASON: usize = 400;

fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

impl<'g> Inbound<'g> {
    pub fn new(gate: &'g Gate) -> Self {
        Inbound { gate, peer: None }
    }

    /// The peer whose hello was accepted, if any.
    pub fn peer(&self) -> Option<NodeId> {
        self.peer
    }

    /// Judges the next frame the codec cut.
    pub fn frame(&mut self, bytes: &[u8]) -> Step {
        let Some(peer) = self.peer else {
            return match decode(bytes) {
                Err(e) => Step::Rejected(Rejection::Undecodable(e.to_string())),
                Ok(Frame::Msg(_)) => Step::Rejected(Rejection::NotHello),
                Ok(Frame::Hello { node, cluster, version }) => match self.gate.check_hello(node, &cluster, version) {
                    Err(why) => Step::Rejected(Rejection::Stranger(why)),
                    Ok(()) => {
                        self.peer = Some(node);
                        Step::Hello(node)
                    }
                },
            };
        };
        match decode(bytes) {
            Err(e) => Step::Malformed(Malformed::Undecodable(e.to_string())),
            Ok(Frame::Hello { .. }) => Step::Malformed(Malformed::SecondHello),
            Ok(Frame::Msg(envelope)) if envelope.from != peer => {
                Step::Malformed(Malformed::Impostor { claimed: envelope.from })
            }
            Ok(Frame::Msg(envelope)) => self.gate.judge(envelope),
        }
    }

    /// The codec failed (a bad length prefix, a stream that ends inside a frame, a read error).
    pub fn unreadable(&self, error: &dyn fmt::Display) -> Step {
        match self.peer {
            None => Step::Rejected(Rejection::Unframeable(error.to_string())),
            Some(_) => Step::Malformed(Malformed::Unframeable(error.to_string())),
        }
    }

    /// The peer closed the connection cleanly (at a frame boundary); a step only when it never
    /// said hello.
    pub fn ended(&self) -> Option<Step> {
        self.peer.is_none().then_some(Step::Rejected(Rejection::Silent))
    }
}

impl Gate {
    /// An envelope from a greeted peer: delivered, or unroutable, or refused for its clocks.
    fn judge(&self, envelope: Envelope) -> Step {
        if let Err(why) = self.check_clock(&envelope) {
            Step::Malformed(Malformed::BadClock(why))
        } else if envelope.to == self.me && self.instances.contains(&envelope.instance) {
            Step::Deliver(envelope)
        } else {
            Step::Unroutable(envelope)
        }
    }

    fn check_hello(&self, node: NodeId, cluster: &str, version: u32) -> Result<(), String> {
        if cluster != self.cluster {
            return Err(format!("hello from cluster {}, this node is in {:?}", shown(cluster), self.cluster));
        }
        if version != WIRE_VERSION {
            return Err(format!("hello with wire version {version}, this node speaks {WIRE_VERSION}"));
        }
        if !self.peers.contains(&node) {
            return Err(format!("hello from node {node}, which is not a peer of node {}", self.me));
        }
        Ok(())
    }

    fn check_clock(&self, envelope: &Envelope) -> Result<(), String> {
        if envelope.lc > MAX_CLOCK {
            return Err(format!("Lamport clock {} is over {MAX_CLOCK}", envelope.lc));
        }
        for (node, count) in envelope.vc.iter() {
            if node != self.me && !self.peers.contains(&node) {
                return Err(format!("the vector clock names node {node}, which is not in the cluster"));
            }
            if count > MAX_CLOCK {
                return Err(format!("vector clock entry {count} of node {node} is over {MAX_CLOCK}"));
            }
        }
        Ok(())
    }
}

/// The node's one connection to a multiplexing proxy (`mux` in the node's config), without the
/// IO. The proxy greets the node on behalf of each peer by passing on that peer's own hello
/// (again after the peer reconnects), then relays envelopes from any peer it greeted, each
/// naming its sender. A hello is checked as on a connection of its own; a refused one is
/// counted and traced but does not close the connection (the other peers' traffic shares it),
/// and envelopes from a peer not greeted are impostors.
pub struct Muxed<'g> {
    gate: &'g Gate,
    greeted: BTreeSet<NodeId>,
}

impl<'g> Muxed<'g> {
    pub fn new(gate: &'g Gate) -> Self {
        Muxed { gate, greeted: BTreeSet::new() }
    }

    /// Judges the next frame the codec cut. A `Step::Rejected` here refuses only that hello.
    pub fn frame(&mut self, bytes: &[u8]) -> Step {
        match decode(bytes) {
            Err(e) => Step::Malformed(Malformed::Undecodable(e.to_string())),
            Ok(Frame::Hello { node, cluster, version }) => match self.gate.check_hello(node, &cluster, version) {
                Err(why) => Step::Rejected(Rejection::Stranger(why)),
                Ok(()) => {
                    self.greeted.insert(node);
                    Step::Hello(node)
                }
            },
            Ok(Frame::Msg(envelope)) if !self.greeted.contains(&envelope.from) => {
                Step::Malformed(Malformed::Impostor { claimed: envelope.from })
            }
            Ok(Frame::Msg(envelope)) => self.gate.judge(envelope),
        }
    }
}

/// A peer's string in a message, cut short: a hello's cluster name may be 1 MiB long.
fn shown(text: &str) -> String {
    let mut cut = text.len().min(64);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut < text.len() {
        format!("{:?}… ({} bytes)", &text[..cut], text.len())
    } else {
        format!("{text:?}")
    }
}

/// What a node does with the bytes of one inbound connection that closes after them.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    /// One step per frame cut (and one for a stream that ends badly or silently), up to and
    /// including the step that closes the connection.
    pub steps: Vec<Step>,
    /// What the steps add to the node's counters, `frames_received` included.
    pub counters: Counters,
    /// `malformed` trace records the transport writes for them.
    pub traced: u64,
}

/// Cuts `bytes` into frames with [`FrameReader`], exactly as the transport's reader does, and judges
/// each with [`Inbound`] until a step closes the connection; then, as if the peer closed it,
/// the end of the stream. The fuzz targets and the randomized tests drive the node through it.
pub fn decode_stream(gate: &Gate, bytes: &[u8]) -> Stream {
    let mut conn = Inbound::new(gate);
    let mut codec = FrameReader::new();
    let mut buf = bytes::BytesMut::from(bytes);
    let mut out = Stream::default();
    loop {
        // What `FramedRead` does: `decode` while frames come, `decode_eof` once the data ends.
        let cut = match codec.decode(&mut buf) {
            Ok(None) => codec.decode_eof(&mut buf),
            other => other,
        };
        let step = match cut {
            Ok(Some(frame)) => {
                out.counters.frames_received += 1;
                conn.frame(&frame)
            }
            Ok(None) => match conn.ended() {
                Some(step) => step,
                None => break,
            },
            Err(e) => conn.unreadable(&e),
        };
        step.count(&mut out.counters);
        out.traced += u64::from(step.traced());
        let closes = step.closes();
        out.steps.push(step);
        if closes {
            break;
        }
    }
    out
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
    fn a_missed_hello_deadline_doubles_up_to_its_limit() {
        let deadline = HelloDeadline::default();
        assert_eq!(deadline.get(), HelloDeadline::FIRST);
        deadline.missed();
        assert_eq!(deadline.get(), 2 * HelloDeadline::FIRST);
        for _ in 0..10 {
            deadline.missed();
        }
        assert_eq!(deadline.get(), HelloDeadline::MAX);
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
            // A derived flat struct took both of these shapes, which the derived Frame rejects.
            rmp_serde::to_vec(&json!(["hello", 3, "c", 1, null, null, null, null, null, null, null])).unwrap(),
            int_keys(&[(0, json!("hello")), (1, json!(3)), (2, json!("c")), (3, json!(1))]),
            int_keys(&[(0, json!("msg")), (4, json!(1)), (5, json!(2)), (6, json!("i")), (7, json!(1))]),
            // Key names as binary, a repeated known key, a repeated unknown key.
            [&[0x83, 0xc4, 4][..], b"type", &[0xa5], b"hello", &[0xa4], b"node", &[3, 0xa4], b"node", &[4]].concat(),
            rmp_serde::to_vec_named(&json!({"type": "hello", "node": 3, "cluster": "c", "version": 1, "from": "x"}))
                .unwrap(),
            nested(MAX_DEPTH - 2),
            nested(MAX_DEPTH - 1),
            nested(1000),
        ];
        for bytes in cases {
            let derived = decode_derived(&bytes);
            let fast = decode(&bytes);
            assert_eq!(format!("{fast:?}"), format!("{derived:?}"), "{bytes:?}");
            if let Ok(map) = decode_map(&bytes) {
                assert_eq!(Some(&map), derived.as_ref().ok(), "{bytes:?}: the fast path agrees where it succeeds");
            }
        }
    }

    /// A map with integer keys, which MessagePack allows.
    fn int_keys(entries: &[(u8, serde_json::Value)]) -> Vec<u8> {
        let mut bytes = vec![0x80 | entries.len() as u8];
        for (key, value) in entries {
            bytes.push(*key);
            bytes.extend(rmp_serde::to_vec(value).unwrap());
        }
        bytes
    }

    /// A hello with an extra field of `depth` nested one-element arrays: `depth + 1` levels.
    fn nested(depth: usize) -> Vec<u8> {
        let hello = Frame::Hello { node: 3, cluster: "c".into(), version: WIRE_VERSION };
        let mut bytes = encode(&hello);
        bytes[0] += 1; // one more entry in the fixmap
        bytes.extend(rmp_serde::to_vec("x").unwrap());
        bytes.extend(std::iter::repeat_n(0x91, depth));
        bytes.push(0xc0);
        bytes
    }

    #[test]
    fn nesting_is_limited_so_decoding_fits_a_small_stack() {
        assert!(decode(&nested(MAX_DEPTH - 2)).is_ok(), "MAX_DEPTH - 1 levels decode");
        assert!(decode(&nested(MAX_DEPTH - 1)).is_err(), "MAX_DEPTH levels do not");
        // rmp-serde's own limit (1024) overflowed a 2 MiB stack in a debug build.
        let deep = nested(100_000);
        let run = std::thread::Builder::new().stack_size(256 << 10).spawn(move || decode(&deep).is_err());
        assert!(run.unwrap().join().unwrap(), "too deep is an error, on a 256 KiB stack");
    }

    fn gate() -> Gate {
        Gate { me: 1, cluster: "c".into(), peers: [2, 3].into(), instances: ["bully".to_string()].into() }
    }

    fn msg(from: NodeId, to: NodeId, instance: &str, lc: u64, vc: VectorClock) -> Vec<u8> {
        let envelope = Envelope { from, to, instance: instance.into(), lc, vc, kind: "k".into(), body: vec![0xc0] };
        encode(&Frame::Msg(envelope))
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
    }

    #[test]
    fn a_connection_is_judged_frame_by_frame() {
        let gate = gate();
        let hello = |node, cluster: &str| framed(&encode(&Frame::Hello { node, cluster: cluster.into(), version: 1 }));
        let good = framed(&msg(2, 1, "bully", 5, [(1, 2), (2, 5)].into()));

        let stream = [
            hello(2, "c"),
            good.clone(),
            framed(b"\xc1junk"),
            hello(2, "c"),
            framed(&msg(3, 1, "bully", 1, [(3, 1)].into())),
            framed(&msg(2, 1, "bully", MAX_CLOCK + 1, [(2, 1)].into())),
            framed(&msg(2, 1, "bully", 1, [(2, u64::MAX)].into())),
            framed(&msg(2, 1, "bully", 1, [(2, 1), (77, 1)].into())),
            framed(&msg(2, 1, "raft", 1, [(2, 1)].into())),
            framed(&msg(2, 3, "bully", 1, [(2, 1)].into())),
            good.clone(),
            vec![0, 0, 0, 9, 1, 2], // ends inside a frame
        ]
        .concat();
        let out = decode_stream(&gate, &stream);
        let kinds: Vec<String> = out.steps.iter().map(|s| format!("{s:?}").chars().take(24).collect()).collect();
        assert_eq!(out.steps.len(), 12, "{kinds:?}");
        assert_eq!(out.steps[0], Step::Hello(2));
        assert!(matches!(out.steps[1], Step::Deliver(_)));
        assert!(matches!(out.steps[2], Step::Malformed(Malformed::Undecodable(_))));
        assert_eq!(out.steps[3], Step::Malformed(Malformed::SecondHello));
        assert_eq!(out.steps[4], Step::Malformed(Malformed::Impostor { claimed: 3 }));
        for step in &out.steps[5..8] {
            assert!(matches!(step, Step::Malformed(Malformed::BadClock(_))), "{step:?}");
        }
        assert!(matches!(out.steps[8], Step::Unroutable(_)));
        assert!(matches!(out.steps[9], Step::Unroutable(_)));
        assert!(matches!(out.steps[10], Step::Deliver(_)));
        assert!(
            matches!(&out.steps[11], Step::Malformed(Malformed::Unframeable(e)) if e.contains("ended inside a frame"))
        );
        assert!(out.steps[11].closes());
        let c = out.counters;
        assert_eq!((c.frames_received, c.malformed_frames, c.unroutable_frames, c.rejected_connections), (11, 7, 2, 0));
        assert_eq!(out.traced, 7);

        // Before a hello: every bad opening closes the connection and is counted once.
        let opening = |bytes: &[u8]| decode_stream(&gate, bytes);
        let cases: [(&[u8], &str, u64); 10] = [
            (&[], "Silent", 0),
            (&[0, 0], "Unframeable", 1),
            (&[0, 0, 0, 9], "Unframeable", 1), // only a length prefix: tokio-util saw a clean end
            (&[0, 0, 0, 0], "Undecodable", 1), // an empty frame
            (&[0x7f, 0xff, 0xff, 0xff, 1], "Unframeable", 1),
            (&framed(b"\xc1"), "Undecodable", 1),
            (&good, "NotHello", 0),
            (&hello(2, "other"), "Stranger", 0),
            (&hello(9, "c"), "Stranger", 0),
            (&[hello(2, "c"), hello(9, "c")].concat(), "SecondHello", 1),
        ];
        for (bytes, kind, malformed) in cases {
            let out = opening(bytes);
            let last = out.steps.last().unwrap();
            assert!(format!("{last:?}").contains(kind), "{bytes:?}: {last:?}");
            assert_eq!(out.counters.malformed_frames, malformed, "{bytes:?}");
            if kind != "SecondHello" {
                assert_eq!((out.steps.len(), out.counters.rejected_connections), (1, 1), "{bytes:?}");
                assert_eq!(out.traced, u64::from(kind != "Silent"), "{bytes:?}");
            }
        }
        // After a hello too, a frame cut right after its length prefix is counted.
        let cut = opening(&[hello(2, "c"), vec![0, 0, 0, 5]].concat());
        assert!(matches!(cut.steps[..], [Step::Hello(2), Step::Malformed(Malformed::Unframeable(_))]), "{cut:?}");
        assert_eq!(cut.counters.malformed_frames, 1);
        // A peer's long strings are cut short in reasons.
        let long = opening(&hello(2, &"x".repeat(100_000)));
        let reason = long.steps[0].reason(None).unwrap();
        assert!(reason.len() < 500 && reason.contains("100000 bytes"), "{reason}");
    }

    /// The proxy reads an envelope's sender and destination from its first bytes, whatever its
    /// size, and falls back to decoding for any other form; a hello names no destination.
    #[test]
    fn addressed_reads_from_and_to_of_any_envelope() {
        for (from, to) in [(1, 2), (200, 7), (70_000, 300), (u32::MAX, 0)] {
            let bytes = encode_msg(from, to, "raft", 9, &[(1, 2)].into(), "vote", &[7; 300]);
            assert_eq!(addressed(&bytes), Some((from, to)));
        }
        let hello = encode(&Frame::Hello { node: 3, cluster: "c".into(), version: 1 });
        assert_eq!(addressed(&hello), None);
        assert_eq!(addressed(b"\xc1garbage"), None);
        assert_eq!(addressed(&[]), None);
        // The array form (another writer's choice) takes the decoder's path.
        let envelope = Envelope {
            from: 5,
            to: 6,
            instance: "x".into(),
            lc: 1,
            vc: VectorClock::default(),
            kind: "k".into(),
            body: vec![],
        };
        let array = rmp_serde::to_vec(&Frame::Msg(envelope.clone())).unwrap();
        assert_eq!(addressed(&array), decode(&array).ok().map(|_| (5, 6)));
        // A prefix names nobody until it holds `to` (the rest is the node's to judge), and
        // never panics.
        let bytes = encode_msg(5, 6, "x", 1, &VectorClock::default(), "k", &[]);
        for cut in 0..bytes.len() {
            let want = (cut >= 20).then_some((5, 6));
            assert_eq!(addressed(&bytes[..cut]), want, "cut at {cut}");
        }
    }

    /// On a muxed connection the proxy greets the node for each peer with the peer's own hello:
    /// a refused hello refuses only that peer, envelopes from a peer not greeted are impostors,
    /// and a peer greeted again (it reconnected) stays greeted.
    #[test]
    fn a_muxed_connection_is_judged_per_peer() {
        let gate = gate();
        let hello = |node, cluster: &str| encode(&Frame::Hello { node, cluster: cluster.into(), version: 1 });
        let mut conn = Muxed::new(&gate);
        assert_eq!(
            conn.frame(&msg(2, 1, "bully", 5, [(2, 5)].into())),
            Step::Malformed(Malformed::Impostor { claimed: 2 })
        );
        assert_eq!(conn.frame(&hello(2, "c")), Step::Hello(2));
        assert!(matches!(conn.frame(&msg(2, 1, "bully", 5, [(2, 5)].into())), Step::Deliver(e) if e.from == 2));
        assert!(matches!(conn.frame(&hello(3, "other")), Step::Rejected(Rejection::Stranger(_))));
        assert!(matches!(conn.frame(&hello(9, "c")), Step::Rejected(Rejection::Stranger(_))));
        assert_eq!(
            conn.frame(&msg(3, 1, "bully", 1, [(3, 1)].into())),
            Step::Malformed(Malformed::Impostor { claimed: 3 })
        );
        assert_eq!(conn.frame(&hello(2, "c")), Step::Hello(2), "greeted again after a reconnection");
        assert!(matches!(conn.frame(&msg(2, 1, "nope", 6, [(2, 6)].into())), Step::Unroutable(_)));
        assert!(matches!(
            conn.frame(&msg(2, 1, "bully", MAX_CLOCK + 1, [(2, 6)].into())),
            Step::Malformed(Malformed::BadClock(_))
        ));
        assert!(matches!(conn.frame(b"\xc1"), Step::Malformed(Malformed::Undecodable(_))));
    }
}
