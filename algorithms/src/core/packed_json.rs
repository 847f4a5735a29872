//! A MessagePack value written as JSON, read straight off its bytes: what a traced message costs
//! the node on every send (see [`super::trace::ShownMsg`]).
//!
//! It writes what serde_json writes for the value MessagePack holds, byte for byte: integers in
//! decimal, floats through serde_json's own formatter (non-finite ones as `null`), strings escaped
//! as serde_json escapes them, binary as an array of numbers, maps with string or integer keys (integers quoted). Anything else (extension types, keys of other kinds, strings that are not
//! UTF-8, nesting past [`MAX_DEPTH`], a truncated value) is refused with `Err`, and the caller
//! falls back on the general transcoder, which decides those cases as serde does.

use serde_json::ser::{CompactFormatter, Formatter};
use std::fmt;

/// Deeper values are left to the general transcoder.
const MAX_DEPTH: usize = 64;

/// What this writer does not take on; nothing is promised about what it left in the output.
#[derive(Debug, PartialEq, Eq)]
pub struct NotHandled;

impl fmt::Display for NotHandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MessagePack value this writer leaves to the general transcoder")
    }
}

/// Appends the JSON of the first MessagePack value in `input` to `out` (bytes after it are
/// ignored, as a deserializer reading one value ignores them).
pub fn write(input: &[u8], out: &mut Vec<u8>) -> Result<(), NotHandled> {
    Reader { input, at: 0 }.value(out, 0)
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NotHandled> {
        let end = self.at.checked_add(n).ok_or(NotHandled)?;
        let bytes = self.input.get(self.at..end).ok_or(NotHandled)?;
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, NotHandled> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], NotHandled> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    /// A length of `n` bytes, big-endian.
    fn len(&mut self, n: usize) -> Result<usize, NotHandled> {
        Ok(match n {
            1 => self.byte()? as usize,
            2 => u16::from_be_bytes(self.be()?) as usize,
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), NotHandled> {
        if depth > MAX_DEPTH {
            return Err(NotHandled);
        }
        let marker = self.byte()?;
        if self.integer(marker, out)? {
            return Ok(());
        }
        match marker {
            0x80..=0x8f => return self.map(out, (marker & 0x0f) as usize, depth),
            0x90..=0x9f => return self.array(out, (marker & 0x0f) as usize, depth),
            0xa0..=0xbf => return self.string(out, (marker & 0x1f) as usize),
            0xc0 => out.extend_from_slice(b"null"),
            0xc2 => out.extend_from_slice(b"false"),
            0xc3 => out.extend_from_slice(b"true"),
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                let bytes = self.take(n)?;
                out.push(b'[');
                for (i, &b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_int(out, b as u64);
                }
                out.push(b']');
            }
            0xca => write_f32(out, f32::from_be_bytes(self.be()?)),
            0xcb => write_f64(out, f64::from_be_bytes(self.be()?)),
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                return self.string(out, n);
            }
            0xdc | 0xdd => {
                let n = self.len(if marker == 0xdc { 2 } else { 4 })?;
                return self.array(out, n, depth);
            }
            0xde | 0xdf => {
                let n = self.len(if marker == 0xde { 2 } else { 4 })?;
                return self.map(out, n, depth);
            }
            // Extension types and the one unused marker.
            _ => return Err(NotHandled),
        }
        Ok(())
    }

    fn string(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), NotHandled> {
        let bytes = self.take(n)?;
        // Field names and message types are short printable ASCII: valid UTF-8 with nothing to
        // escape, told apart in one pass and copied as they are.
        if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
            return Ok(());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| NotHandled)?;
        write_escaped(out, text);
        Ok(())
    }

    fn array(&mut self, out: &mut Vec<u8>, n: usize, depth: usize) -> Result<(), NotHandled> {
        out.push(b'[');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            self.value(out, depth + 1)?;
        }
        out.push(b']');
        Ok(())
    }

    fn map(&mut self, out: &mut Vec<u8>, n: usize, depth: usize) -> Result<(), NotHandled> {
        out.push(b'{');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            self.key(out)?;
            out.push(b':');
            self.value(out, depth + 1)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// A map key: a string as it is, an integer quoted (as serde_json writes map keys).
    fn key(&mut self, out: &mut Vec<u8>) -> Result<(), NotHandled> {
        let marker = self.byte()?;
        match marker {
            0xa0..=0xbf => self.string(out, (marker & 0x1f) as usize),
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                self.string(out, n)
            }
            _ => {
                out.push(b'"');
                if !self.integer(marker, out)? {
                    return Err(NotHandled);
                }
                out.push(b'"');
                Ok(())
            }
        }
    }

    /// Writes the integer that `marker` starts, if it starts one; `false` for any other marker.
    fn integer(&mut self, marker: u8, out: &mut Vec<u8>) -> Result<bool, NotHandled> {
        match marker {
            0x00..=0x7f => write_int(out, marker as u64),
            0xe0..=0xff => write_int(out, marker as i8 as i64),
            0xcc => write_int(out, self.byte()? as u64),
            0xcd => write_int(out, u16::from_be_bytes(self.be()?) as u64),
            0xce => write_int(out, u32::from_be_bytes(self.be()?) as u64),
            0xcf => write_int(out, u64::from_be_bytes(self.be()?)),
            0xd0 => write_int(out, self.byte()? as i8 as i64),
            0xd1 => write_int(out, i16::from_be_bytes(self.be()?) as i64),
            0xd2 => write_int(out, i32::from_be_bytes(self.be()?) as i64),
            0xd3 => write_int(out, i64::from_be_bytes(self.be()?)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

// Floats are written by serde_json's own formatter, so they stay what serde_json writes whatever
// it changes (it has changed its float formatting before).

fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        CompactFormatter.write_f64(out, value).expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_f32(out: &mut Vec<u8>, value: f32) {
    if value.is_finite() {
        CompactFormatter.write_f32(out, value).expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A JSON string as serde_json escapes it (its escaping function is private; the tests compare
/// the two): `"` and `\`, the short escapes for backspace, form feed, newline, carriage return and
/// tab, `\u00XX` (lowercase hex) for the other control characters; everything else as it is.
fn write_escaped(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde::Serialize;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    fn written<T: Serialize>(value: &T) -> Result<String, NotHandled> {
        let packed = rmp_serde::to_vec_named(value).unwrap();
        let mut out = Vec::new();
        write(&packed, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// A random JSON value of every kind, strings with escapes and multi-byte characters.
    fn random_value(rng: &mut ChaCha8Rng, depth: usize) -> Value {
        let pieces = ["a", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é", "名", "/", " ", "\t", "\u{8}", "\u{c}"];
        let text = |rng: &mut ChaCha8Rng| -> String {
            (0..rng.random_range(0..6)).map(|_| pieces[rng.random_range(0..pieces.len())]).collect()
        };
        match rng.random_range(0..if depth > 3 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => json!(rng.random::<u64>() >> rng.random_range(0..64)),
            3 => json!(-((rng.random::<u64>() >> rng.random_range(1..64)) as i64)),
            4 => json!(f64::from_bits(rng.random::<u64>()) % 1e6),
            5 => Value::String(text(rng)),
            6 => Value::Array((0..rng.random_range(0..20)).map(|_| random_value(rng, depth + 1)).collect()),
            _ => {
                Value::Object((0..rng.random_range(0..20)).map(|_| (text(rng), random_value(rng, depth + 1))).collect())
            }
        }
    }

    #[test]
    fn random_values_are_written_as_serde_json_writes_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for _ in 0..3000 {
            let value = random_value(&mut rng, 0);
            assert_eq!(written(&value).unwrap(), serde_json::to_string(&value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn typed_shapes_are_written_as_serde_json_writes_them() {
        #[derive(Serialize)]
        enum Msg {
            Unit,
            Newtype(i8),
            Tuple(u16, f32),
            Struct { by_node: BTreeMap<u32, i64>, negative: BTreeMap<i32, bool> },
        }
        let msgs = [
            Msg::Unit,
            Msg::Newtype(-100),
            Msg::Tuple(65535, 0.1),
            Msg::Tuple(0, f32::NAN),
            Msg::Struct {
                by_node: BTreeMap::from([(0, i64::MIN), (300, 1), (70_000, -1), (u32::MAX, i64::MAX)]),
                negative: BTreeMap::from([(-1, true), (-200, false), (-40_000, true), (i32::MIN, false)]),
            },
        ];
        for msg in &msgs {
            assert_eq!(written(msg).unwrap(), serde_json::to_string(msg).unwrap());
        }
        let floats = [0.0, -0.0, 1.0, 1e300, 5e-324, f64::MAX, f64::INFINITY, f64::NAN, 0.30000000000000004];
        assert_eq!(written(&floats).unwrap(), serde_json::to_string(&floats).unwrap());
        let long = "x".repeat(70_000);
        assert_eq!(written(&long).unwrap(), serde_json::to_string(&long).unwrap(), "str16/str32 lengths");
        let mut out = Vec::new();
        write(&[0xc4, 3, 0, 1, 255], &mut out).unwrap();
        assert_eq!(out, b"[0,1,255]", "binary as serde_json writes bytes");
        let many: Vec<u8> = (0..=255).collect();
        assert_eq!(written(&many).unwrap(), serde_json::to_string(&many).unwrap(), "array16");
    }

    #[test]
    fn what_it_does_not_take_on_is_refused_not_guessed() {
        let mut out = Vec::new();
        let non_scalar_keys = rmp_serde::to_vec_named(&BTreeMap::from([((1u8, 2u8), 3u8)])).unwrap();
        assert_eq!(write(&non_scalar_keys, &mut out), Err(NotHandled));
        assert_eq!(write(&[0xa3, b'a', 0xff, b'b'], &mut out), Err(NotHandled), "not UTF-8");
        assert_eq!(write(&[0xd4, 1, 2], &mut out), Err(NotHandled), "an extension type");
        assert_eq!(write(&[0x92, 0x01], &mut out), Err(NotHandled), "truncated");
        assert_eq!(write(&[], &mut out), Err(NotHandled), "empty");
        assert_eq!(write(&[0xc1], &mut out), Err(NotHandled), "the unused marker");
        let deep = [vec![0x91; MAX_DEPTH + 2], vec![0xc0]].concat();
        assert_eq!(write(&deep, &mut out), Err(NotHandled), "deeper than MAX_DEPTH");
    }
}
