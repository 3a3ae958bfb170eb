//! A lean JSON serializer for flow records: the bytes serde_json writes, for less work.
//!
//! serde_json escapes every string it writes byte by byte, keys included, and appends
//! each record in many small writes through its formatter; on the flows-only path that was
//! most of the writer thread. Flow records are almost all constant keys, numbers and
//! strings that cannot need escaping (addresses, hex ids, timestamps, names from tables),
//! so this serializer checks a string eight bytes at a time and copies it in one go when
//! it is clean, formats integers from a two-digit table, and falls back to the escaping
//! loop only for a string that needs it. Output is byte for byte serde_json's compact
//! form (`to_writer`), which the tests check on the schema's sample records and on every
//! fixture's flow records; being a `serde::Serializer`, it follows the schema's types as
//! they change.

use std::fmt::Display;

use serde::ser::{self, Error as _, Serialize};

/// JSON errors are serde_json's, so callers see one error type whichever writer ran.
type Error = serde_json::Error;

/// Appends `value` as compact JSON to `out` (what `serde_json::to_writer` appends).
pub fn to_vec<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    // A flow record is 1-2 kB: one reservation up front instead of growth on the way.
    out.reserve(RECORD_BYTES);
    value.serialize(&mut Writer { out })
}

/// Room reserved before each value.
const RECORD_BYTES: usize = 4096;

/// The serializer: appends to a byte vector.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

/// True when a word of eight bytes holds a `"`, a `\` or a control character (< 0x20):
/// the classic "has a zero byte" test on the word and its XORs, and "has a byte below n".
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGHS;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (below(word, 0x20) | below(quote, 1) | below(backslash, 1)) != 0
}

/// Bytes JSON strings must escape: `"`, `\\` and the control characters.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        if word_needs_escape(u64::from_le_bytes(*word)) {
            return true;
        }
        rest = tail;
    }
    rest.iter().any(|&b| ESCAPED[usize::from(b)])
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it.
#[inline]
fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if needs_escape(bytes) {
        write_escaped(out, bytes);
        return;
    }
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
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
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Pairs of decimal digits, "00" to "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes `n` in decimal.
#[inline]
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[at..]);
}

#[inline]
fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Floats are rare in flow records (geo coordinates): serde_json writes them, so its
/// shortest round-trip form and its `null` for NaN and infinities hold here too.
fn write_float<F: Serialize>(out: &mut Vec<u8>, value: F) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, &value)
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_i64(self.out, i64::from(v));
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_i64(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_u64(self.out, u64::from(v));
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_u64(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.out.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        write_float(self.out, v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        write_float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]",
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]}",
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}",
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}}",
        })
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        write_str(self.out, &value.to_string());
        Ok(())
    }
}

/// An array or object under way.
struct Compound<'a, 'b> {
    ser: &'b mut Writer<'a>,
    first: bool,
    /// What ends it: `]`, `}`, or those plus the `}` of an enum variant's wrapper.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    #[inline]
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.ser.out.push(b',');
        }
    }

    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.ser)
    }

    /// A struct field: the key is a Rust identifier or a `rename`, written in one piece
    /// when it needs no escaping (always, in the schema).
    #[inline]
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.comma();
        write_str(self.ser.out, key);
        self.ser.out.push(b':');
        value.serialize(&mut *self.ser)
    }

    #[inline]
    fn close(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(MapKey {
            out: &mut *self.ser.out,
        })
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.ser.out.push(b':');
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// Map keys, as serde_json takes them: strings, and numbers and booleans quoted.
struct MapKey<'a> {
    out: &'a mut Vec<u8>,
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

impl MapKey<'_> {
    fn quoted(self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.out.push(b'"');
        write(self.out);
        self.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|out| out.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(|out| write_i64(out, i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(|out| write_i64(out, i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(|out| write_i64(out, i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(|out| write_i64(out, v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(|out| out.extend_from_slice(v.to_string().as_bytes()))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(|out| write_u64(out, u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(|out| write_u64(out, u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(|out| write_u64(out, u64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(|out| write_u64(out, v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(|out| out.extend_from_slice(v.to_string().as_bytes()))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.out.push(b'"');
        write_float(self.out, v)?;
        self.out.push(b'"');
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.out.push(b'"');
        write_float(self.out, v)?;
        self.out.push(b'"');
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        write_str(self.out, &value.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) {
        let mut ours = b"x".to_vec();
        to_vec(value, &mut ours).unwrap();
        let theirs = serde_json::to_vec(value).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours[1..]),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn strings_escape_exactly_as_serde_json() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é ü 日本 \u{7f} \u{2028}");
        same_as_serde_json(&all);
        for s in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\there",
            "eight!!!",
            "sixteen bytes ok",
            "x\u{1}",
        ] {
            same_as_serde_json(s);
            // Each position of a character that needs escaping, around the word edges.
            for at in 0..=s.len().min(17) {
                if s.is_char_boundary(at) {
                    let mut t = s.to_owned();
                    t.insert(at, '"');
                    same_as_serde_json(&t);
                    t.insert(at, '\u{1f}');
                    same_as_serde_json(&t);
                }
            }
        }
    }

    #[test]
    fn numbers_and_shapes_match_serde_json() {
        for n in [
            0u64,
            9,
            10,
            99,
            100,
            101,
            12_345,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            same_as_serde_json(&n);
        }
        for n in [0i64, -1, -10, -99, -100, i64::MIN, i64::MAX] {
            same_as_serde_json(&n);
        }
        same_as_serde_json(&(1u128 << 100));
        same_as_serde_json(&-(1i128 << 100));
        for f in [
            0.0f64,
            -0.0,
            1.5,
            52.52,
            13.405,
            1e300,
            f64::NAN,
            f64::INFINITY,
        ] {
            same_as_serde_json(&f);
        }
        same_as_serde_json(&1.1f32);
        same_as_serde_json(&(
            Some(1u8),
            None::<u8>,
            (),
            'c',
            true,
            [1u8, 2],
            Vec::<u8>::new(),
        ));
        let mut map = BTreeMap::new();
        map.insert("k\"ey", vec![Some(1), None]);
        map.insert("b", vec![]);
        same_as_serde_json(&map);
        let numbered: BTreeMap<i32, bool> = [(-3, true), (7, false)].into_iter().collect();
        same_as_serde_json(&numbered);
        let flags: BTreeMap<bool, u8> = [(true, 1)].into_iter().collect();
        same_as_serde_json(&flags);
        same_as_serde_json(&std::net::IpAddr::from([192, 0, 2, 1]));
        same_as_serde_json(&std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
        same_as_serde_json(&Bytes(&[0, 255]));
    }

    /// Bytes serialized through `serialize_bytes` (serde_json: an array of numbers).
    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        New(u8),
        Tuple(u8, u8),
        Struct { a: u8, b: &'static str },
    }

    #[test]
    fn enums_match_serde_json() {
        same_as_serde_json(&[
            Shape::Unit,
            Shape::New(1),
            Shape::Tuple(1, 2),
            Shape::Struct { a: 1, b: "x" },
        ]);
        let keyed: BTreeMap<&str, Shape> = [("u", Shape::Unit)].into_iter().collect();
        same_as_serde_json(&keyed);
    }

    #[test]
    fn unsupported_map_keys_are_errors_like_serde_json() {
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(serde_json::to_vec(&map).is_err());
        assert!(to_vec(&map, &mut Vec::new()).is_err());
    }
}
