//! The protobuf wire format: varints, fixed-width numbers and length-delimited fields, for
//! reading from a borrowed buffer and appending to a `Vec<u8>`.

use crate::parse::ParseError;

/// Wire type of varint fields (`int64`, `uint64`, `sint32`, enums).
pub const VARINT: u8 = 0;
/// Wire type of 8-byte fields (`double`).
pub const FIXED64: u8 = 1;
/// Wire type of strings, messages and packed repeated scalars.
pub const LEN: u8 = 2;
/// Wire type of 4-byte fields (`float`, `fixed32`).
pub const FIXED32: u8 = 5;

/// A cursor over one message's bytes. Offsets in errors are absolute within the whole body.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts within the whole body, so that errors point into the body.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts at byte `base` of the body.
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::Protobuf {
            offset: self.offset(),
            message: message.into(),
        }
    }

    /// A base-128 varint of at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64, ParseError> {
        // Keys, lengths and small counts are almost always one byte.
        if let Some(&byte) = self.buf.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
        }
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                self.pos = start;
                return Err(self.error("truncated varint"));
            };
            self.pos += 1;
            // The tenth byte may only contribute the top bit of a 64-bit value.
            if shift == 63 && byte > 1 {
                self.pos = start;
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.pos = start;
        Err(self.error("varint longer than 10 bytes"))
    }

    /// A field key: (field number, wire type).
    pub fn key(&mut self) -> Result<(u32, u8), ParseError> {
        let start = self.offset();
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(ParseError::Protobuf {
                offset: start,
                message: format!("invalid field number {field}"),
            });
        }
        Ok((field as u32, (key & 7) as u8))
    }

    /// Eight little-endian bytes.
    pub fn fixed64(&mut self) -> Result<u64, ParseError> {
        let bytes: [u8; 8] = self
            .buf
            .get(self.pos..self.pos + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.error("truncated 8-byte field"))?;
        self.pos += 8;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Four little-endian bytes.
    pub fn fixed32(&mut self) -> Result<u32, ParseError> {
        let bytes: [u8; 4] = self
            .buf
            .get(self.pos..self.pos + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.error("truncated 4-byte field"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes(bytes))
    }

    /// A length-delimited field's bytes, as a reader positioned at their start.
    pub fn sub(&mut self) -> Result<Reader<'a>, ParseError> {
        let start = self.pos;
        let len = self.varint()?;
        let remaining = self.buf.len() - self.pos;
        if len > remaining as u64 {
            self.pos = start;
            return Err(self.error(format!("length {len} exceeds the {remaining} bytes left")));
        }
        let len = len as usize;
        let sub = Reader {
            buf: self.buf.get(self.pos..self.pos + len).unwrap_or_default(),
            pos: 0,
            base: self.offset(),
        };
        self.pos += len;
        Ok(sub)
    }

    /// A UTF-8 string field, borrowed.
    pub fn string(&mut self) -> Result<&'a str, ParseError> {
        let sub = self.sub()?;
        std::str::from_utf8(sub.buf).map_err(|e| ParseError::Protobuf {
            offset: sub.base + e.valid_up_to(),
            message: "string is not valid UTF-8".into(),
        })
    }

    /// A `double` field.
    pub fn double(&mut self, wire_type: u8, field: &str) -> Result<f64, ParseError> {
        self.expect(wire_type, FIXED64, field)?;
        Ok(f64::from_bits(self.fixed64()?))
    }

    /// Fails unless `wire_type` is the one the schema declares for `field`.
    pub fn expect(&self, wire_type: u8, want: u8, field: &str) -> Result<(), ParseError> {
        if wire_type == want {
            Ok(())
        } else {
            Err(self.error(format!(
                "field {field} has wire type {wire_type}, expected {want}"
            )))
        }
    }

    /// Skips a field this decoder does not know, as protobuf requires for forward compatibility.
    pub fn skip(&mut self, wire_type: u8) -> Result<(), ParseError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.sub().map(drop),
            FIXED32 => self.fixed32().map(drop),
            other => Err(self.error(format!("unsupported wire type {other}"))),
        }
    }

    /// Calls `each` for every element of a repeated scalar field, packed or not.
    pub fn repeated(
        &mut self,
        wire_type: u8,
        scalar_type: u8,
        field: &str,
        mut each: impl FnMut(&mut Reader<'a>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        if wire_type == LEN {
            let mut packed = self.sub()?;
            while !packed.is_empty() {
                each(&mut packed)?;
            }
            Ok(())
        } else {
            self.expect(wire_type, scalar_type, field)?;
            each(self)
        }
    }
}

/// Undoes zigzag encoding (`sint32`, `sint64`).
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Zigzag-encodes a signed value.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
pub fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Appends a varint field.
pub fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, VARINT);
    put_varint(out, v);
}

/// Appends a `double` field.
pub fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Appends a string or bytes field.
pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a nested message written by `body`, prefixed with its length.
///
/// The body is written in place after a one-byte length guess and moved only when the length
/// needs more bytes, which avoids a scratch buffer per message.
pub fn put_message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(out, field, LEN);
    put_length_prefixed(out, body);
}

/// Appends `body` prefixed with its varint length (the framing of the delimited format).
pub fn put_length_prefixed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let len_at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - len_at - 1;
    let mut prefix = Vec::with_capacity(10);
    put_varint(&mut prefix, len as u64);
    if prefix.len() == 1 {
        if let Some(slot) = out.get_mut(len_at) {
            *slot = prefix.first().copied().unwrap_or(0);
        }
    } else {
        out.splice(len_at..=len_at, prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut r = Reader::new(&buf, 0);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.is_empty());
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn bad_varints() {
        let mut r = Reader::new(&[0x80, 0x80], 3);
        assert_eq!(
            r.varint(),
            Err(ParseError::Protobuf {
                offset: 3,
                message: "truncated varint".into()
            })
        );
        let long = [0xff; 11];
        assert_eq!(
            Reader::new(&long, 0)
                .varint()
                .map_err(|e| e.message().to_string()),
            Err("varint overflows 64 bits".into())
        );
        let eleven = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00,
        ];
        assert!(Reader::new(&eleven, 0).varint().is_err());
    }

    #[test]
    fn length_beyond_buffer_is_an_error() {
        let mut r = Reader::new(&[0x05, 1, 2], 10);
        assert_eq!(
            r.sub().err(),
            Some(ParseError::Protobuf {
                offset: 10,
                message: "length 5 exceeds the 2 bytes left".into()
            })
        );
    }

    #[test]
    fn long_messages_get_multi_byte_prefixes() {
        let mut out = Vec::new();
        put_message(&mut out, 1, |o| o.extend(std::iter::repeat_n(7u8, 300)));
        let mut r = Reader::new(&out, 0);
        assert_eq!(r.key(), Ok((1, LEN)));
        let sub = r.sub().map(|s| s.buf.len());
        assert_eq!(sub, Ok(300));
    }
}
