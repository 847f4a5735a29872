//! The wire under random and mutated input, on the stable toolchain (the coverage-guided fuzz
//! targets are in `fuzz/`, for nightly).
//!
//! A seeded generator makes inbound connections: random bytes, truncated and oversized frames,
//! valid MessagePack of the wrong shape (wrong types, missing, repeated and extra fields, extra
//! nesting, the array form, integer keys), envelopes whose body no algorithm decodes, envelopes
//! from impostors, for other instances or with impossible clocks, hellos with the wrong cluster,
//! node or version, a message before the hello, and streams that end inside a frame.
//!
//! - `a_million_frames_through_the_decoder`: [`wire::decode_stream`] (the codec and the node's
//!   own [`wire::Inbound`]) judges every frame: no panic, each bad frame classified as what it
//!   was made to be, the fast decoder agreeing with the derived one on every payload.
//! - `random_frames_through_a_running_node`: the same kind of connections, as many as fit in
//!   the time budget, sent over TCP to a real (debug-built) node: it does not crash and keeps
//!   answering `status`, its counters are exactly what `decode_stream` predicts, its trace has
//!   one `malformed` record per bad frame, and afterwards a real peer still gets through.
//!
//! `WIRE_FUZZ_SEED` (default 1), `WIRE_FUZZ_FRAMES` (default 1,000,000) and
//! `WIRE_FUZZ_SECONDS` (default 20) replay or resize a run; each test prints its figures (run
//! with `-- --nocapture` to see them): frames tried, seconds, and steps by kind of frame.

mod common;

use common::{framed, Cluster};
use node::control::Counters;
use node::wire::{self, Envelope, Frame, Gate, Malformed, Rejection, Step, MAX_CLOCK, MAX_DEPTH, MAX_FRAME};
use node::wire::{encode, WIRE_VERSION};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const ME: u32 = 1;
const PEER: u32 = 2;
const CLUSTER: &str = "test";
const INSTANCE: &str = "bully";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn seed() -> u64 {
    env_number("WIRE_FUZZ_SEED", 1)
}

/// What the node under test is: node 1 of cluster "test", peer 2, one `bully` instance.
fn gate() -> Gate {
    Gate { me: ME, cluster: CLUSTER.into(), peers: [PEER].into(), instances: [INSTANCE.to_string()].into() }
}

/// What each generated frame was made to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    // The first frame of a connection.
    Hello,
    OpenSilent,
    OpenUnframed,
    OpenOversized,
    OpenCutShort,
    OpenJunk,
    OpenTruncatedHello,
    OpenHelloWrongShape,
    OpenWrongCluster,
    OpenUnknownNode,
    OpenWrongVersion,
    OpenMsgFirst,
    // Frames after a good hello.
    Junk,
    Empty,
    Big,
    Mutated,
    Truncated,
    WrongType,
    MissingField,
    Repeated,
    Nested,
    TooDeep,
    ArrayForm,
    FastPathTrap,
    RandomValue,
    BadBody,
    SecondHello,
    Impostor,
    Unroutable,
    BadClock,
    // The end of a connection.
    Oversized,
    CutShort,
}

/// Whether `step` is what a frame of `kind` must come out as.
fn fits(kind: Kind, step: &Step) -> bool {
    use Kind::*;
    let undecodable = |s: &Step| matches!(s, Step::Malformed(Malformed::Undecodable(_)));
    match kind {
        Hello => *step == Step::Hello(PEER),
        OpenSilent => *step == Step::Rejected(Rejection::Silent),
        OpenUnframed => matches!(step, Step::Rejected(_)),
        OpenOversized | OpenCutShort => matches!(step, Step::Rejected(Rejection::Unframeable(_))),
        OpenJunk | OpenTruncatedHello | OpenHelloWrongShape => {
            matches!(step, Step::Rejected(Rejection::Undecodable(_)))
        }
        OpenWrongCluster | OpenUnknownNode | OpenWrongVersion => matches!(step, Step::Rejected(Rejection::Stranger(_))),
        OpenMsgFirst => *step == Step::Rejected(Rejection::NotHello),
        Empty | Truncated | WrongType | MissingField | Repeated | TooDeep | FastPathTrap => undecodable(step),
        // Random bytes or values could in theory spell a hello (an array [0, node, cluster,
        // version] is one): still malformed after the first hello.
        Junk | Big | RandomValue => matches!(step, Step::Malformed(_)),
        Mutated | ArrayForm => matches!(step, Step::Malformed(_) | Step::Deliver(_) | Step::Unroutable(_)),
        Nested | BadBody => matches!(step, Step::Deliver(_)),
        SecondHello => *step == Step::Malformed(Malformed::SecondHello),
        Impostor => matches!(step, Step::Malformed(Malformed::Impostor { .. })),
        Unroutable => matches!(step, Step::Unroutable(_)),
        BadClock => matches!(step, Step::Malformed(Malformed::BadClock(_))),
        Oversized | CutShort => matches!(step, Step::Malformed(Malformed::Unframeable(_))),
    }
}

/// One generated inbound connection.
struct Conn {
    bytes: Vec<u8>,
    /// One per frame (or per bad opening or ending), in order.
    kinds: Vec<Kind>,
    /// Beside each kind, the payload of a complete frame, for the decoder cross-check.
    payloads: Vec<Option<Vec<u8>>>,
}

impl Conn {
    fn push(&mut self, kind: Kind, payload: Vec<u8>) {
        self.bytes.extend(framed(&payload));
        self.kinds.push(kind);
        self.payloads.push(Some(payload));
    }

    fn push_raw(&mut self, kind: Kind, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.kinds.push(kind);
        self.payloads.push(None);
    }
}

/// SplitMix64: seeded and replayable like ChaCha, and cheap in a debug build, where ChaCha's
/// SIMD rounds (not inlined there) took a fifth of the decoder test's time.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The field types of a frame, for values of the wrong type.
#[derive(Clone, Copy)]
enum Ty {
    Tag,
    Uint,
    Str,
    Clock,
    Body,
}

struct Gen {
    rng: SplitMix,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen { rng: SplitMix(seed) }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    /// Up to `max - 1` random bytes.
    fn junk(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max) as usize;
        self.bytes(len)
    }

    fn word(&mut self) -> String {
        let len = self.range(1, 12) as usize;
        (0..len).map(|_| (b'a' + self.below(26) as u8) as char).collect()
    }

    /// A valid envelope from the peer to this node, whose body no algorithm can decode (0xc1 is
    /// MessagePack's never-used marker), so the node's counts stay predictable.
    fn envelope(&mut self) -> Envelope {
        let mut vc = algorithms::trace::VectorClock::new();
        for node in [ME, PEER] {
            if self.percent(70) {
                vc.insert(node, self.below(1 << 40));
            }
        }
        let mut body = vec![0xc1];
        let tail = self.below(40) as usize;
        body.extend(self.bytes(tail));
        Envelope { from: PEER, to: ME, instance: INSTANCE.into(), lc: self.below(1 << 40), vc, kind: self.word(), body }
    }

    fn hello(&self, node: u32, cluster: &str, version: u32) -> Vec<u8> {
        encode(&Frame::Hello { node, cluster: cluster.into(), version })
    }

    /// A random MessagePack value of every type, nested at most `depth` deep.
    fn value(&mut self, depth: u32, out: &mut Vec<u8>) {
        let pick = self.below(if depth == 0 { 10 } else { 13 });
        match pick {
            0 => out.push(0xc0),
            1 => out.push(0xc2 + self.below(2) as u8),
            2 => out.push(self.below(128) as u8),
            3 => out.push(0xe0 | self.below(32) as u8),
            4 => {
                out.push(0xcf);
                out.extend(self.rng.next_u64().to_be_bytes());
            }
            5 => {
                out.push(0xd3);
                out.extend(self.rng.next_u64().to_be_bytes());
            }
            6 => {
                out.push(0xcb);
                out.extend(self.rng.next_u64().to_be_bytes());
            }
            7 => {
                let len = self.below(32) as usize;
                out.push(0xa0 | len as u8);
                if self.percent(80) {
                    out.extend((0..len).map(|_| b' ' + self.below(95) as u8));
                } else {
                    let junk = self.bytes(len); // maybe not UTF-8
                    out.extend(junk);
                }
            }
            8 => {
                let len = self.below(64) as usize;
                out.extend([0xc4, len as u8]);
                let junk = self.bytes(len);
                out.extend(junk);
            }
            9 => {
                out.extend([0xd4, self.below(256) as u8, self.below(256) as u8]);
            }
            10 | 11 => {
                let len = self.below(5);
                out.push(0x90 | len as u8);
                for _ in 0..len {
                    self.value(depth - 1, out);
                }
            }
            _ => {
                let len = self.below(5);
                out.push(0x80 | len as u8);
                for _ in 0..len {
                    if self.percent(70) {
                        out.extend(rmp_serde::to_vec(&self.word()).unwrap());
                    } else {
                        self.value(depth - 1, out);
                    }
                    self.value(depth - 1, out);
                }
            }
        }
    }

    /// A value that no field of type `ty` accepts.
    fn wrong(&mut self, ty: Ty) -> Vec<u8> {
        let float = [&[0xcb][..], &1.5f64.to_be_bytes()].concat();
        let options: Vec<Vec<u8>> = match ty {
            // Not 0 or 1, which serde takes as variant indices, nor a binary "msg".
            Ty::Tag => vec![vec![0xc0], vec![0xc3], vec![0x07], float, vec![0x91, 0x01], vec![0x80]],
            Ty::Uint => vec![
                vec![0xc0],
                vec![0xc2],
                vec![0xa1, b'5'],
                vec![0xff],
                float,
                vec![0x91, 0x01],
                vec![0x80],
                vec![0xc4, 0x01, 0x00],
            ],
            // Not binary, which a String takes when it is UTF-8.
            Ty::Str => vec![vec![0xc0], vec![0xc3], vec![0x05], float, vec![0x91, 0xa1, b'x'], vec![0x80]],
            Ty::Clock => vec![
                vec![0xc0],
                vec![0xc2],
                vec![0x05],
                vec![0xa1, b'x'],
                float,
                vec![0x91, 0x01],
                vec![0x81, 0xa1, b'a', 0x01],
                vec![0x81, 0x02, 0xff],
            ],
            // Not a string or an array of small integers, which serde_bytes takes.
            Ty::Body => vec![vec![0xc0], vec![0xc2], vec![0x05], vec![0xff], float, vec![0x81, 0x01, 0x02]],
        };
        options[self.below(options.len() as u64) as usize].clone()
    }

    fn envelope_fields(&mut self, envelope: &Envelope) -> Vec<(Vec<u8>, Vec<u8>, Ty)> {
        let key = |name: &str| rmp_serde::to_vec(name).unwrap();
        vec![
            (key("type"), rmp_serde::to_vec("msg").unwrap(), Ty::Tag),
            (key("from"), rmp_serde::to_vec(&envelope.from).unwrap(), Ty::Uint),
            (key("to"), rmp_serde::to_vec(&envelope.to).unwrap(), Ty::Uint),
            (key("instance"), rmp_serde::to_vec(&envelope.instance).unwrap(), Ty::Str),
            (key("lc"), rmp_serde::to_vec(&envelope.lc).unwrap(), Ty::Uint),
            (key("vc"), rmp_serde::to_vec(&envelope.vc).unwrap(), Ty::Clock),
            (key("kind"), rmp_serde::to_vec(&envelope.kind).unwrap(), Ty::Str),
            (key("body"), rmp_serde::to_vec(serde_bytes::Bytes::new(&envelope.body)).unwrap(), Ty::Body),
        ]
    }

    fn hello_fields(&mut self) -> Vec<(Vec<u8>, Vec<u8>, Ty)> {
        let key = |name: &str| rmp_serde::to_vec(name).unwrap();
        vec![
            (key("type"), rmp_serde::to_vec("hello").unwrap(), Ty::Tag),
            (key("node"), rmp_serde::to_vec(&PEER).unwrap(), Ty::Uint),
            (key("cluster"), rmp_serde::to_vec(CLUSTER).unwrap(), Ty::Str),
            (key("version"), rmp_serde::to_vec(&WIRE_VERSION).unwrap(), Ty::Uint),
        ]
    }

    /// The fields as a map, in a random order.
    fn map(&mut self, mut fields: Vec<(Vec<u8>, Vec<u8>, Ty)>) -> Vec<u8> {
        for i in (1..fields.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            fields.swap(i, j);
        }
        let mut out =
            if fields.len() < 16 { vec![0x80 | fields.len() as u8] } else { vec![0xde, 0, fields.len() as u8] };
        for (key, value, _) in fields {
            out.extend(key);
            out.extend(value);
        }
        out
    }

    /// Valid fields, one of them replaced by a value of the wrong type.
    fn wrong_type(&mut self, mut fields: Vec<(Vec<u8>, Vec<u8>, Ty)>) -> Vec<u8> {
        let i = self.below(fields.len() as u64) as usize;
        fields[i].1 = self.wrong(fields[i].2);
        self.map(fields)
    }

    /// Valid fields less at least one.
    fn missing_field(&mut self, mut fields: Vec<(Vec<u8>, Vec<u8>, Ty)>) -> Vec<u8> {
        let drop = self.range(1, fields.len() as u64 - 1);
        for _ in 0..drop {
            let i = self.below(fields.len() as u64) as usize;
            fields.remove(i);
        }
        self.map(fields)
    }

    /// `depth` nested arrays and maps around a scalar, under a key no frame has.
    fn nested_field(&mut self, depth: u64) -> (Vec<u8>, Vec<u8>, Ty) {
        let mut value = Vec::new();
        for _ in 0..depth {
            if self.percent(70) {
                value.push(0x91);
            } else {
                value.extend([0x81, 0xa1, b'k']);
            }
        }
        self.value(0, &mut value);
        (rmp_serde::to_vec(&format!("extra_{}", self.word())).unwrap(), value, Ty::Str)
    }

    /// Bit flips, overwrites, insertions, deletions and cuts of a valid envelope's bytes,
    /// redrawn while the result is an envelope whose body some algorithm might decode.
    fn mutated(&mut self) -> Vec<u8> {
        loop {
            let mut bytes = encode(&Frame::Msg(self.envelope()));
            for _ in 0..self.range(1, 4) {
                let at = self.below(bytes.len() as u64) as usize;
                match self.below(5) {
                    0 => bytes[at] ^= 1 << self.below(8),
                    1 => bytes[at] = self.below(256) as u8,
                    2 => bytes.insert(at, self.below(256) as u8),
                    3 if bytes.len() > 1 => {
                        bytes.remove(at);
                    }
                    _ => {
                        let len = self.range(1, 8).min((bytes.len() - at) as u64) as usize;
                        let chunk = bytes[at..at + len].to_vec();
                        bytes.splice(at..at, chunk);
                    }
                }
            }
            match wire::decode(&bytes) {
                Ok(Frame::Msg(e)) if !e.body.is_empty() && e.body[0] != 0xc1 => continue,
                _ => return bytes,
            }
        }
    }

    /// The shapes the old fast path took and the derived decoder refuses.
    fn fast_path_trap(&mut self) -> Vec<u8> {
        let e = self.envelope();
        let body = serde_bytes::ByteBuf::from(e.body.clone());
        match self.below(3) {
            // 11 elements, as many as the flat struct has fields.
            0 => rmp_serde::to_vec(&("hello", PEER, CLUSTER, WIRE_VERSION, (), (), (), (), (), (), ())).unwrap(),
            1 => {
                rmp_serde::to_vec(&("msg", (), (), (), e.from, e.to, &e.instance, e.lc, &e.vc, &e.kind, body)).unwrap()
            }
            _ => {
                let fields = self.envelope_fields(&e);
                let mut out = vec![0x80 | fields.len() as u8];
                for (index, (_, value, _)) in [0u8, 4, 5, 6, 7, 8, 9, 10].into_iter().zip(fields) {
                    out.push(index);
                    out.extend(value);
                }
                out
            }
        }
    }

    fn opening(&mut self, conn: &mut Conn) -> bool {
        use Kind::*;
        let hello = self.hello(PEER, CLUSTER, WIRE_VERSION);
        match self.below(100) {
            0..=87 => {
                conn.push(Hello, hello);
                return true;
            }
            88 => conn.push_raw(OpenSilent, &[]),
            89 => {
                let len = self.range(1, 200) as usize;
                let junk = self.bytes(len);
                conn.push_raw(OpenUnframed, &junk);
            }
            90 => {
                let prefix = self.range(MAX_FRAME as u64 + 1, u32::MAX as u64) as u32;
                let tail = self.junk(64);
                conn.push_raw(OpenOversized, &[&prefix.to_be_bytes()[..], &tail].concat());
            }
            91 => {
                let whole = framed(&hello);
                let cut = self.range(1, whole.len() as u64 - 1) as usize;
                conn.push_raw(OpenCutShort, &whole[..cut]);
            }
            92 => {
                let mut junk = vec![0xc1];
                junk.extend(self.junk(100));
                conn.push(OpenJunk, junk);
            }
            93 => {
                let cut = self.below(hello.len() as u64) as usize;
                conn.push(OpenTruncatedHello, hello[..cut].to_vec());
            }
            94 => {
                let fields = self.hello_fields();
                let shape = if self.percent(50) { self.wrong_type(fields) } else { self.missing_field(fields) };
                conn.push(OpenHelloWrongShape, shape);
            }
            95 | 96 => {
                let cluster = if self.percent(50) { self.word() } else { format!("{CLUSTER} ") };
                conn.push(OpenWrongCluster, self.hello(PEER, &cluster, WIRE_VERSION));
            }
            97 => {
                let node = [ME, 3, 0, u32::MAX][self.below(4) as usize];
                conn.push(OpenUnknownNode, self.hello(node, CLUSTER, WIRE_VERSION));
            }
            98 => {
                let version = WIRE_VERSION + 1 + self.below(5) as u32;
                conn.push(OpenWrongVersion, self.hello(PEER, CLUSTER, version));
            }
            _ => conn.push(OpenMsgFirst, encode(&Frame::Msg(self.envelope()))),
        }
        false
    }

    /// One frame after a good hello.
    fn frame(&mut self, conn: &mut Conn) {
        use Kind::*;
        let roll = self.below(10_000);
        if roll == 0 {
            let len = self.range(64 << 10, MAX_FRAME as u64) as usize;
            let big = self.bytes(len);
            return conn.push(Big, big);
        }
        let (kind, payload) = match roll % 100 {
            0..=6 => {
                let len = self.below(64) as usize;
                (Junk, self.bytes(len))
            }
            7 => (Empty, Vec::new()),
            8..=21 => (Mutated, self.mutated()),
            22..=27 => {
                let whole = encode(&Frame::Msg(self.envelope()));
                let cut = self.below(whole.len() as u64) as usize;
                (Truncated, whole[..cut].to_vec())
            }
            28..=36 => {
                let e = self.envelope();
                let fields = self.envelope_fields(&e);
                (WrongType, self.wrong_type(fields))
            }
            37..=42 => {
                let e = self.envelope();
                let fields = self.envelope_fields(&e);
                (MissingField, self.missing_field(fields))
            }
            43..=45 => {
                let e = self.envelope();
                let mut fields = self.envelope_fields(&e);
                let again = fields[self.below(fields.len() as u64) as usize].clone();
                fields.push(again);
                (Repeated, self.map(fields))
            }
            46..=49 => {
                let e = self.envelope();
                let mut fields = self.envelope_fields(&e);
                let depth = self.range(1, MAX_DEPTH as u64 - 3); // the scalar may be an ext: one more
                fields.push(self.nested_field(depth));
                (Nested, self.map(fields))
            }
            50..=52 => {
                let e = self.envelope();
                let mut fields = self.envelope_fields(&e);
                let depth =
                    if self.percent(80) { self.range(MAX_DEPTH as u64 - 1, 100) } else { self.range(100, 5000) };
                fields.push(self.nested_field(depth));
                (TooDeep, self.map(fields))
            }
            53..=55 => (ArrayForm, rmp_serde::to_vec(&Frame::Msg(self.envelope())).unwrap()),
            56..=57 => (FastPathTrap, self.fast_path_trap()),
            58..=63 => {
                let mut value = Vec::new();
                self.value(4, &mut value);
                (RandomValue, value)
            }
            64..=75 => (BadBody, encode(&Frame::Msg(self.envelope()))),
            76..=78 => {
                let cluster = if self.percent(50) { CLUSTER.to_string() } else { self.word() };
                (SecondHello, self.hello(PEER, &cluster, WIRE_VERSION))
            }
            79..=82 => {
                let mut e = self.envelope();
                e.from = [ME, 3, 0, u32::MAX][self.below(4) as usize];
                (Impostor, encode(&Frame::Msg(e)))
            }
            83..=88 => {
                let mut e = self.envelope();
                if self.percent(50) {
                    e.instance = format!("{INSTANCE}{}", self.word());
                } else {
                    e.to = [PEER, 3, 0, u32::MAX][self.below(4) as usize];
                }
                (Unroutable, encode(&Frame::Msg(e)))
            }
            _ => {
                let mut e = self.envelope();
                match self.below(3) {
                    0 => e.lc = self.range(MAX_CLOCK + 1, u64::MAX),
                    1 => {
                        e.vc.insert([ME, PEER][self.below(2) as usize], self.range(MAX_CLOCK + 1, u64::MAX));
                    }
                    _ => {
                        e.vc.insert([0, 3, 77, u32::MAX][self.below(4) as usize], 1);
                    }
                }
                (BadClock, encode(&Frame::Msg(e)))
            }
        };
        conn.push(kind, payload);
    }

    fn connection(&mut self) -> Conn {
        let mut conn = Conn { bytes: Vec::new(), kinds: Vec::new(), payloads: Vec::new() };
        if !self.opening(&mut conn) {
            return conn;
        }
        let frames = if self.percent(10) { self.below(5) } else { self.range(20, 400) };
        for _ in 0..frames {
            self.frame(&mut conn);
        }
        match self.below(100) {
            0..=11 => {
                let prefix = self.range(MAX_FRAME as u64 + 1, u32::MAX as u64) as u32;
                conn.push_raw(Kind::Oversized, &prefix.to_be_bytes());
            }
            12..=23 => {
                let whole = framed(&encode(&Frame::Msg(self.envelope())));
                let cut = self.range(1, whole.len() as u64 - 1) as usize;
                conn.push_raw(Kind::CutShort, &whole[..cut]);
            }
            _ => {}
        }
        conn
    }
}

/// Steps per kind: the table each test prints.
#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<Kind, BTreeMap<&'static str, u64>>,
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Hello(_) => "hello",
        Step::Deliver(_) => "deliver",
        Step::Unroutable(_) => "unroutable",
        Step::Rejected(Rejection::Silent) => "rejected:silent",
        Step::Rejected(Rejection::Timeout { .. }) => "rejected:timeout",
        Step::Rejected(Rejection::Unframeable(_)) => "rejected:unframeable",
        Step::Rejected(Rejection::Undecodable(_)) => "rejected:undecodable",
        Step::Rejected(Rejection::NotHello) => "rejected:not-hello",
        Step::Rejected(Rejection::Stranger(_)) => "rejected:stranger",
        Step::Malformed(Malformed::Unframeable(_)) => "malformed:unframeable",
        Step::Malformed(Malformed::Undecodable(_)) => "malformed:undecodable",
        Step::Malformed(Malformed::SecondHello) => "malformed:second-hello",
        Step::Malformed(Malformed::Impostor { .. }) => "malformed:impostor",
        Step::Malformed(Malformed::BadClock(_)) => "malformed:bad-clock",
    }
}

impl Tally {
    fn add(&mut self, kind: Kind, step: &Step) {
        *self.by_kind.entry(kind).or_default().entry(step_name(step)).or_default() += 1;
    }

    fn print(&self, title: &str) {
        eprintln!("{title}");
        for (kind, steps) in &self.by_kind {
            let steps: Vec<String> = steps.iter().map(|(name, n)| format!("{name} {n}")).collect();
            eprintln!("  {:<20} {}", format!("{kind:?}"), steps.join(", "));
        }
    }
}

/// What the node must do with one connection, checked against what each frame was made to be.
struct Judged {
    /// What the node's counters must add, its instance's bad bodies included.
    counters: Counters,
    /// `malformed` records the node must write.
    traced: u64,
    frames: u64,
}

/// The node's fast decoder (whose verdict is in `step`) took `payload` exactly as the derived
/// decoder does: the same frame, or the same error.
fn agrees_with_derived(step: &Step, payload: &[u8], seed: u64) {
    let derived = wire::decode_derived(payload);
    let agrees = match (step, &derived) {
        (Step::Malformed(Malformed::Undecodable(fast)) | Step::Rejected(Rejection::Undecodable(fast)), Err(e)) => {
            *fast == e.to_string()
        }
        (Step::Deliver(fast) | Step::Unroutable(fast), Ok(Frame::Msg(e))) => fast == e,
        (Step::Malformed(Malformed::Impostor { claimed }), Ok(Frame::Msg(e))) => *claimed == e.from,
        (Step::Malformed(Malformed::BadClock(_)) | Step::Rejected(Rejection::NotHello), Ok(Frame::Msg(_))) => true,
        (Step::Hello(node), Ok(Frame::Hello { node: n, .. })) => node == n,
        (Step::Malformed(Malformed::SecondHello) | Step::Rejected(Rejection::Stranger(_)), Ok(Frame::Hello { .. })) => {
            true
        }
        _ => false,
    };
    assert!(agrees, "seed {seed}: the node's decoder gave {step:?}, the derived one {derived:?}, for {payload:?}");
}

fn judge(gate: &Gate, conn: &Conn, tally: &mut Tally, seed: u64, check_decoders: bool) -> Judged {
    let out = wire::decode_stream(gate, &conn.bytes);
    assert_eq!(
        out.steps.len(),
        conn.kinds.len(),
        "seed {seed}: every frame is judged, and nothing after the one that closes: {:?} {:?}",
        conn.kinds,
        out.steps.iter().map(step_name).collect::<Vec<_>>()
    );
    let mut counters = out.counters;
    let mut traced = out.traced;
    for ((kind, step), payload) in conn.kinds.iter().zip(&out.steps).zip(&conn.payloads) {
        assert!(fits(*kind, step), "seed {seed}: a {kind:?} frame came out as {step:?}");
        tally.add(*kind, step);
        if let Step::Deliver(envelope) = step {
            // Its body decodes for no algorithm: the instance counts and traces it.
            assert!(envelope.body.is_empty() || envelope.body[0] == 0xc1, "seed {seed}: {envelope:?}");
            counters.malformed_frames += 1;
            traced += 1;
            assert_eq!(wire::decode(&encode(&Frame::Msg(envelope.clone()))).ok(), Some(Frame::Msg(envelope.clone())));
        }
        if check_decoders {
            if let Some(payload) = payload {
                agrees_with_derived(step, payload, seed);
            }
        }
    }
    Judged { counters, traced, frames: conn.kinds.len() as u64 }
}

fn add(total: &mut Counters, more: &Counters) {
    total.frames_received += more.frames_received;
    total.malformed_frames += more.malformed_frames;
    total.rejected_connections += more.rejected_connections;
    total.unroutable_frames += more.unroutable_frames;
}

#[test]
fn a_million_frames_through_the_decoder() {
    let seed = seed();
    let want = env_number("WIRE_FUZZ_FRAMES", 1_000_000);
    let gate = gate();
    let mut gen = Gen::new(seed);
    let mut tally = Tally::default();
    let (mut frames, mut connections, mut bytes, mut bad) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    while frames < want {
        let conn = gen.connection();
        let judged = judge(&gate, &conn, &mut tally, seed, true);
        frames += judged.frames;
        bad += judged.traced + judged.counters.unroutable_frames + u64::from(conn.kinds == [Kind::OpenSilent]);
        connections += 1;
        bytes += conn.bytes.len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    tally.print(&format!("decoder, seed {seed}: steps by what each frame was made to be"));
    eprintln!(
        "wire_fuzz decoder: {frames} frames ({bad} bad, {connections} connections, {:.1} MB) in {seconds:.1} s, \
         {:.0} frames/s: no panic, every frame classified as made, the fast decoder agreeing with the derived one",
        bytes as f64 / 1e6,
        frames as f64 / seconds
    );
    assert!(frames >= want);
}

/// Writes one connection's bytes, closes the writing half, and waits for the node to close.
fn send(addr: SocketAddr, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).expect("the node accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The node may close early (an oversized prefix, a rejected hello): then writes fail.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the node did not close a connection within 30 s: {e}"),
        }
    }
}

#[test]
fn random_frames_through_a_running_node() {
    let seed = seed();
    let budget = Duration::from_secs(env_number("WIRE_FUZZ_SECONDS", 20));
    let mut cluster = Cluster::configure("wire-fuzz", 2, INSTANCE, serde_json::json!({}));
    cluster.spawn(1); // node 2 starts after the flood, as the good peer
    let addr = cluster.node(1).listen();
    let before = cluster.node(1).status().counters; // it listens before its control socket answers

    let start = Instant::now();
    let clients: Vec<_> = (0..2u64)
        .map(|client| {
            std::thread::spawn(move || {
                let gate = gate();
                let mut gen = Gen::new(seed.wrapping_mul(1000).wrapping_add(client + 1));
                let mut tally = Tally::default();
                let (mut want, mut traced, mut frames, mut connections, mut bytes) = (Counters::default(), 0, 0, 0, 0);
                while start.elapsed() < budget {
                    let conn = gen.connection();
                    let judged = judge(&gate, &conn, &mut tally, seed, false);
                    send(addr, &conn.bytes);
                    add(&mut want, &judged.counters);
                    traced += judged.traced;
                    frames += judged.frames;
                    connections += 1;
                    bytes += conn.bytes.len() as u64;
                }
                (want, traced, frames, connections, bytes, tally)
            })
        })
        .collect();
    // The node keeps answering `status` under the flood.
    let (mut polls, mut slowest) = (0u32, Duration::ZERO);
    while clients.iter().any(|c| !c.is_finished()) {
        let asked = Instant::now();
        cluster.nodes[0].status();
        slowest = slowest.max(asked.elapsed());
        polls += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut want = before.clone();
    let (mut traced, mut frames, mut connections, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut tally = Tally::default();
    for client in clients {
        let (w, t, f, c, b, part) = client.join().expect("a client thread panicked");
        add(&mut want, &w);
        traced += t;
        frames += f;
        connections += c;
        bytes += b;
        for (kind, steps) in part.by_kind {
            for (name, n) in steps {
                *tally.by_kind.entry(kind).or_default().entry(name).or_default() += n;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    let node = cluster.node(1);
    assert!(node.alive(), "the node survived: {}", node.stderr());
    // Bad bodies are counted by the instance actor, a moment after the transport hands them on.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = node.status().counters;
        let same = (got.frames_received, got.malformed_frames, got.rejected_connections, got.unroutable_frames)
            == (want.frames_received, want.malformed_frames, want.rejected_connections, want.unroutable_frames);
        if same || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    tally.print(&format!("node, seed {seed}: steps by what each frame was made to be"));
    eprintln!(
        "wire_fuzz node: {frames} frames ({connections} connections, {:.1} MB) through TCP in {seconds:.1} s, \
         {:.0} frames/s; status answered {polls} times meanwhile, slowest in {} ms; node counters {got:?}",
        bytes as f64 / 1e6,
        frames as f64 / seconds,
        slowest.as_millis()
    );
    assert_eq!(got.frames_received, want.frames_received, "frames received");
    assert_eq!(got.malformed_frames, want.malformed_frames, "malformed frames, bad bodies included");
    assert_eq!(got.rejected_connections, want.rejected_connections, "rejected connections");
    assert_eq!(got.unroutable_frames, want.unroutable_frames, "unroutable frames");
    assert!(frames >= 5_000, "too few frames went through the node to mean much: {frames}");

    // One `malformed` record per bad frame, each a well-formed trace line.
    let text = std::fs::read_to_string(&node.cfg.trace).unwrap();
    let malformed: Vec<&str> = text.lines().filter(|l| l.contains(r#""kind":"malformed""#)).collect();
    assert_eq!(malformed.len() as u64, traced, "malformed records in the trace");
    for line in &malformed {
        let record: algorithms::trace::TraceRecord = serde_json::from_str(line).unwrap();
        assert!(matches!(record.what, algorithms::trace::What::Malformed { .. }), "{line}");
    }

    // The node still serves: a real peer connects both ways and the two agree on a leader.
    cluster.spawn(2);
    let (one, two) = (&cluster.nodes[0], &cluster.nodes[1]);
    common::wait_for(Duration::from_secs(20), "node 1 and node 2 to agree that node 2 leads", || {
        let (a, b) = (one.status(), two.status());
        let leads = |s: &node::control::NodeStatus| s.instances.get(INSTANCE).and_then(|i| i.leader) == Some(PEER);
        (a.connected == [PEER] && b.connected == [ME] && leads(&a) && leads(&b)).then_some(())
    });
    assert!(cluster.node(1).alive() && cluster.node(2).alive());
}
