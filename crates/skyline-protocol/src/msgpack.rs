//! The MessagePack codec of PROTOCOL.md section 2.
//!
//! Decoding is bounded: nesting depth is capped, every declared length is
//! checked against the bytes actually present before anything is allocated,
//! strings must be UTF-8, and trailing bytes after the one top-level value are
//! refused. Values are [`rmpv::Value`]; encoding uses the most compact form of
//! every integer, string and byte string, which is what the test vectors pin.

use rmp::Marker;
use rmpv::Value;

/// Deepest nesting of arrays and maps accepted in one message.
pub const MAX_DEPTH: usize = 32;

/// Why a byte string is not one well-formed MessagePack value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended inside a value.
    #[error("truncated MessagePack")]
    Truncated,
    /// Bytes follow the single top-level value.
    #[error("trailing bytes after the MessagePack value")]
    TrailingBytes,
    /// The reserved marker 0xc1.
    #[error("reserved MessagePack marker")]
    ReservedMarker,
    /// Arrays or maps nest deeper than [`MAX_DEPTH`].
    #[error("MessagePack nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A string is not valid UTF-8.
    #[error("MessagePack string is not UTF-8")]
    InvalidUtf8,
}

/// Decodes exactly one MessagePack value from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let mut rest = bytes;
    let value = read_value(&mut rest, 0)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes);
    }
    Ok(value)
}

/// Encodes `value` in its most compact MessagePack form.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(value, &mut out);
    out
}

/// Appends the MessagePack form of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    rmpv::encode::write_value(out, value).expect("writing to a Vec cannot fail");
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], CodecError> {
    if buf.len() < n {
        return Err(CodecError::Truncated);
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn be_uint(buf: &mut &[u8], n: usize) -> Result<u64, CodecError> {
    Ok(take(buf, n)?
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn be_int(buf: &mut &[u8], n: usize) -> Result<i64, CodecError> {
    let raw = be_uint(buf, n)?;
    let shift = 64 - 8 * n as u32;
    Ok(((raw << shift) as i64) >> shift)
}

/// A declared element count, refused when the input could not hold that many
/// elements (each takes at least `min_bytes_each` bytes), so a forged length
/// never causes a large allocation.
fn count(buf: &[u8], declared: u64, min_bytes_each: usize) -> Result<usize, CodecError> {
    let declared = usize::try_from(declared).map_err(|_| CodecError::Truncated)?;
    if declared.saturating_mul(min_bytes_each) > buf.len() {
        return Err(CodecError::Truncated);
    }
    Ok(declared)
}

fn read_value(buf: &mut &[u8], depth: usize) -> Result<Value, CodecError> {
    let marker = Marker::from_u8(take(buf, 1)?[0]);
    Ok(match marker {
        Marker::FixPos(n) => Value::from(n),
        Marker::FixNeg(n) => Value::from(n),
        Marker::Null => Value::Nil,
        Marker::True => Value::Boolean(true),
        Marker::False => Value::Boolean(false),
        Marker::U8 => Value::from(be_uint(buf, 1)?),
        Marker::U16 => Value::from(be_uint(buf, 2)?),
        Marker::U32 => Value::from(be_uint(buf, 4)?),
        Marker::U64 => Value::from(be_uint(buf, 8)?),
        Marker::I8 => Value::from(be_int(buf, 1)?),
        Marker::I16 => Value::from(be_int(buf, 2)?),
        Marker::I32 => Value::from(be_int(buf, 4)?),
        Marker::I64 => Value::from(be_int(buf, 8)?),
        Marker::F32 => Value::F32(f32::from_bits(be_uint(buf, 4)? as u32)),
        Marker::F64 => Value::F64(f64::from_bits(be_uint(buf, 8)?)),
        Marker::FixStr(n) => read_str(buf, u64::from(n))?,
        Marker::Str8 => read_len_then(buf, 1, read_str)?,
        Marker::Str16 => read_len_then(buf, 2, read_str)?,
        Marker::Str32 => read_len_then(buf, 4, read_str)?,
        Marker::Bin8 => read_len_then(buf, 1, read_bin)?,
        Marker::Bin16 => read_len_then(buf, 2, read_bin)?,
        Marker::Bin32 => read_len_then(buf, 4, read_bin)?,
        Marker::FixArray(n) => read_array(buf, u64::from(n), depth)?,
        Marker::Array16 => {
            let n = be_uint(buf, 2)?;
            read_array(buf, n, depth)?
        }
        Marker::Array32 => {
            let n = be_uint(buf, 4)?;
            read_array(buf, n, depth)?
        }
        Marker::FixMap(n) => read_map(buf, u64::from(n), depth)?,
        Marker::Map16 => {
            let n = be_uint(buf, 2)?;
            read_map(buf, n, depth)?
        }
        Marker::Map32 => {
            let n = be_uint(buf, 4)?;
            read_map(buf, n, depth)?
        }
        Marker::FixExt1 => read_ext(buf, 1)?,
        Marker::FixExt2 => read_ext(buf, 2)?,
        Marker::FixExt4 => read_ext(buf, 4)?,
        Marker::FixExt8 => read_ext(buf, 8)?,
        Marker::FixExt16 => read_ext(buf, 16)?,
        Marker::Ext8 => {
            let n = be_uint(buf, 1)?;
            read_ext(buf, n)?
        }
        Marker::Ext16 => {
            let n = be_uint(buf, 2)?;
            read_ext(buf, n)?
        }
        Marker::Ext32 => {
            let n = be_uint(buf, 4)?;
            read_ext(buf, n)?
        }
        Marker::Reserved => return Err(CodecError::ReservedMarker),
    })
}

fn read_len_then(
    buf: &mut &[u8],
    len_bytes: usize,
    then: fn(&mut &[u8], u64) -> Result<Value, CodecError>,
) -> Result<Value, CodecError> {
    let len = be_uint(buf, len_bytes)?;
    then(buf, len)
}

fn read_str(buf: &mut &[u8], len: u64) -> Result<Value, CodecError> {
    let len = count(buf, len, 1)?;
    let bytes = take(buf, len)?;
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::InvalidUtf8)?;
    Ok(Value::from(text))
}

fn read_bin(buf: &mut &[u8], len: u64) -> Result<Value, CodecError> {
    let len = count(buf, len, 1)?;
    Ok(Value::Binary(take(buf, len)?.to_vec()))
}

fn read_ext(buf: &mut &[u8], len: u64) -> Result<Value, CodecError> {
    let kind = be_int(buf, 1)? as i8;
    let len = count(buf, len, 1)?;
    Ok(Value::Ext(kind, take(buf, len)?.to_vec()))
}

fn read_array(buf: &mut &[u8], declared: u64, depth: usize) -> Result<Value, CodecError> {
    if depth >= MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    let n = count(buf, declared, 1)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(read_value(buf, depth + 1)?);
    }
    Ok(Value::Array(items))
}

fn read_map(buf: &mut &[u8], declared: u64, depth: usize) -> Result<Value, CodecError> {
    if depth >= MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    let n = count(buf, declared, 2)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let key = read_value(buf, depth + 1)?;
        let value = read_value(buf, depth + 1)?;
        entries.push((key, value));
    }
    Ok(Value::Map(entries))
}

/// A read-only view of a MessagePack map with string keys, with typed getters
/// that say which field is missing or mistyped.
#[derive(Debug, Clone, Copy)]
pub struct MapView<'a>(&'a [(Value, Value)]);

/// What is wrong with one field of a map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct FieldError {
    /// The field's key, as on the wire.
    pub field: String,
    /// What is wrong with it.
    pub problem: FieldProblem,
}

/// The ways a field can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// A required field is absent or nil.
    #[error("missing")]
    Missing,
    /// The field has another MessagePack type than the protocol says.
    #[error("expected {0}")]
    WrongType(&'static str),
    /// The type is right but the value is not allowed.
    #[error("{0}")]
    Invalid(String),
}

impl FieldError {
    /// A field error for `field` with `problem`.
    pub fn new(field: &str, problem: FieldProblem) -> Self {
        FieldError {
            field: field.to_owned(),
            problem,
        }
    }
}

impl<'a> MapView<'a> {
    /// Views `value` as a map, or `None` when it is not one.
    pub fn of(value: &'a Value) -> Option<Self> {
        match value {
            Value::Map(entries) => Some(MapView(entries)),
            _ => None,
        }
    }

    /// Views a list of map entries.
    pub fn of_entries(entries: &'a [(Value, Value)]) -> Self {
        MapView(entries)
    }

    /// The entries in wire order.
    pub fn entries(&self) -> &'a [(Value, Value)] {
        self.0
    }

    /// The value under the string key `key`; a nil value counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_nil())
    }

    /// An optional string field.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => s
                .as_str()
                .map(Some)
                .ok_or_else(|| FieldError::new(key, FieldProblem::WrongType("a string"))),
            Some(_) => Err(FieldError::new(key, FieldProblem::WrongType("a string"))),
        }
    }

    /// A required string field.
    pub fn str(&self, key: &str) -> Result<&'a str, FieldError> {
        self.opt_str(key)?
            .ok_or_else(|| FieldError::new(key, FieldProblem::Missing))
    }

    /// An optional signed integer field.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| FieldError::new(key, FieldProblem::WrongType("an int64"))),
        }
    }

    /// A required unsigned integer field.
    pub fn u64(&self, key: &str) -> Result<u64, FieldError> {
        match self.get(key) {
            None => Err(FieldError::new(key, FieldProblem::Missing)),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| FieldError::new(key, FieldProblem::WrongType("a uint64"))),
        }
    }

    /// A required boolean field.
    pub fn bool(&self, key: &str) -> Result<bool, FieldError> {
        match self.get(key) {
            None => Err(FieldError::new(key, FieldProblem::Missing)),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| FieldError::new(key, FieldProblem::WrongType("a boolean"))),
        }
    }

    /// A required byte string of exactly `N` bytes.
    pub fn bytes<const N: usize>(&self, key: &str) -> Result<[u8; N], FieldError> {
        match self.get(key) {
            None => Err(FieldError::new(key, FieldProblem::Missing)),
            Some(Value::Binary(b)) => <[u8; N]>::try_from(b.as_slice()).map_err(|_| {
                FieldError::new(
                    key,
                    FieldProblem::Invalid(format!("expected {N} bytes, got {}", b.len())),
                )
            }),
            Some(_) => Err(FieldError::new(key, FieldProblem::WrongType("bin"))),
        }
    }
}

/// Builds a map value with string keys, keeping the given order.
pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_trailing_bytes() {
        assert_eq!(decode(&[0x01, 0x02]), Err(CodecError::TrailingBytes));
    }

    #[test]
    fn refuses_forged_lengths_without_allocating() {
        // array32 claiming 4 billion elements, str32 claiming 4 GiB.
        assert_eq!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            decode(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            decode(&[0xdf, 0x00, 0x01, 0x00, 0x00, 0x01]),
            Err(CodecError::Truncated)
        );
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = vec![0x91u8; MAX_DEPTH + 1];
        let mut bytes = deep.clone();
        bytes.push(0xc0);
        assert_eq!(decode(&bytes), Err(CodecError::TooDeep));
        let mut ok = vec![0x91u8; MAX_DEPTH];
        ok.push(0xc0);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn refuses_reserved_marker_and_bad_utf8() {
        assert_eq!(decode(&[0xc1]), Err(CodecError::ReservedMarker));
        assert_eq!(decode(&[0xa1, 0xff]), Err(CodecError::InvalidUtf8));
        assert_eq!(decode(&[]), Err(CodecError::Truncated));
    }

    #[test]
    fn signed_integers_sign_extend() {
        assert_eq!(decode(&[0xd0, 0x80]).unwrap().as_i64(), Some(-128));
        assert_eq!(decode(&[0xd1, 0xff, 0xfe]).unwrap().as_i64(), Some(-2));
        assert_eq!(
            decode(&[0xd3, 0, 0, 0, 0, 0, 0, 0, 5]).unwrap().as_i64(),
            Some(5)
        );
        assert_eq!(decode(&[0xef]).unwrap().as_i64(), Some(-17));
    }
}
