//! Bit-level writer and reader used by the Gorilla chunk encoding.

/// Appends bits most-significant first to a byte vector.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    /// Encoded bytes; the last byte may be partially filled.
    pub bytes: Vec<u8>,
    /// Number of bits still free in the last byte (0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    /// Resumes writing after `bytes` where the last byte has `free` unused low bits.
    pub fn from_parts(bytes: Vec<u8>, free: u8) -> Self {
        BitWriter { bytes, free }
    }

    /// Unused low bits in the last byte.
    pub fn free_bits(&self) -> u8 {
        self.free
    }

    /// Writes one bit.
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << (self.free - 1);
            }
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `v` (n <= 64), most significant first.
    pub fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (self.free - take);
            }
            self.free -= take;
            n -= take;
        }
    }
}

/// Reads bits most-significant first; running past the end is an error, not a panic.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    bit_pos: usize,
}

/// The bit stream ended before the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfBits;

impl<'a> BitReader<'a> {
    /// Starts at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, bit_pos: 0 }
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Result<bool, EndOfBits> {
        let byte = *self.data.get(self.bit_pos / 8).ok_or(EndOfBits)?;
        let bit = (byte >> (7 - (self.bit_pos % 8))) & 1 == 1;
        self.bit_pos += 1;
        Ok(bit)
    }

    /// Reads `n` bits (n <= 64) as an unsigned integer.
    pub fn read_bits(&mut self, n: u8) -> Result<u64, EndOfBits> {
        if n == 0 {
            return Ok(0);
        }
        let n = n.min(64);
        if self.bit_pos + usize::from(n) > self.data.len() * 8 {
            return Err(EndOfBits);
        }
        // One 16-byte window always covers the at most 64 + 7 bits needed; bytes past the end
        // read as zero and are never part of the result (checked above).
        let byte = self.bit_pos / 8;
        let mut window = [0u8; 16];
        let avail = self.data.get(byte..).unwrap_or(&[]);
        let take = avail.len().min(16);
        window[..take].copy_from_slice(&avail[..take]);
        let w = u128::from_be_bytes(window);
        let shift = (self.bit_pos % 8) as u32;
        let v = ((w << shift) >> (128 - u32::from(n))) as u64;
        self.bit_pos += usize::from(n);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mixed_widths() {
        let mut w = BitWriter::default();
        w.write_bit(true);
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_bits(0x1234, 14);
        w.write_bit(false);
        let mut r = BitReader::new(&w.bytes);
        assert!(r.read_bit().unwrap());
        assert_eq!(r.read_bits(3).unwrap(), 0b101);
        assert_eq!(r.read_bits(64).unwrap(), u64::MAX);
        assert_eq!(r.read_bits(14).unwrap(), 0x1234);
        assert!(!r.read_bit().unwrap());
        assert!(r.read_bits(64).is_err());
    }
}
