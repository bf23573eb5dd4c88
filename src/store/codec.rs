//! A small, explicit binary codec for journal payloads: little-endian integers, length-prefixed
//! byte strings. Decoding is total: any input gives a value or a `CodecError`, never a panic,
//! because journal tails can be torn or corrupt.

use std::fmt;

use bytes::Bytes;

#[derive(Debug, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt record: {}", self.0)
    }
}

/// Appends encoded values to a buffer.
pub(crate) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Encoder<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Encoder { out }
    }
    pub(crate) fn u8(&mut self, value: u8) {
        self.out.push(value);
    }
    pub(crate) fn u16(&mut self, value: u16) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, value: &[u8]) {
        // Every encoded string is bounded far below 4 GiB by the request limits.
        let length = u32::try_from(value.len()).expect("encoded field under 4 GiB");
        self.u32(length);
        self.out.extend_from_slice(value);
    }
    pub(crate) fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }
    pub(crate) fn option_str(&mut self, value: Option<&str>) {
        match value {
            None => self.u8(0),
            Some(text) => {
                self.u8(1);
                self.str(text);
            }
        }
    }
    pub(crate) fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u32(pairs.len() as u32);
        for (name, value) in pairs {
            self.str(name);
            self.str(value);
        }
    }
}

/// Reads values back from a payload.
pub(crate) struct Decoder<'a> {
    input: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Decoder { input }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
    /// Bytes not decoded yet.
    pub(crate) fn remaining_bytes(&self) -> usize {
        self.input.len()
    }
    fn take(&mut self, count: usize) -> Result<&'a [u8], CodecError> {
        if self.input.len() < count {
            return Err(CodecError("truncated field"));
        }
        let (head, tail) = self.input.split_at(count);
        self.input = tail;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| CodecError("u32"))?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| CodecError("u64"))?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let length = self.u32()? as usize;
        self.take(length)
    }
    /// An inline object body, charged to the inline memory budget.
    pub(crate) fn inline_body(&mut self) -> Result<Bytes, CodecError> {
        Ok(super::inline_budget::INLINE_BODIES.copy(self.bytes()?))
    }
    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError("string is not UTF-8"))
    }
    pub(crate) fn option_string(&mut self) -> Result<Option<String>, CodecError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            _ => Err(CodecError("bad option tag")),
        }
    }
    pub(crate) fn pairs(&mut self) -> Result<Vec<(String, String)>, CodecError> {
        let count = self.u32()? as usize;
        // Each pair takes at least 8 bytes: refuse counts the input cannot hold.
        if count > self.input.len() / 8 {
            return Err(CodecError("pair count exceeds record"));
        }
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out);
        encoder.u8(7);
        encoder.u64(u64::MAX);
        encoder.str("ключ");
        encoder.option_str(None);
        encoder.option_str(Some("x"));
        encoder.pairs(&[("a".into(), "b".into())]);
        let mut decoder = Decoder::new(&out);
        assert_eq!(decoder.u8().unwrap(), 7);
        assert_eq!(decoder.u64().unwrap(), u64::MAX);
        assert_eq!(decoder.string().unwrap(), "ключ");
        assert_eq!(decoder.option_string().unwrap(), None);
        assert_eq!(decoder.option_string().unwrap(), Some("x".to_string()));
        assert_eq!(decoder.pairs().unwrap(), vec![("a".to_string(), "b".to_string())]);
        assert!(decoder.is_empty());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        Encoder::new(&mut out).str("hello");
        for cut in 0..out.len() {
            assert!(Decoder::new(&out[..cut]).string().is_err());
        }
        assert!(Decoder::new(&[255, 255, 255, 255]).pairs().is_err());
    }
}
