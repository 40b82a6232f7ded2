//! Hash maps keyed by series refs with a cheap multiplicative hash.
//!
//! Refs are small dense integers chosen by the head, not attacker-controlled strings, so the
//! DoS resistance of SipHash buys nothing here while costing a large share of the append path.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of one integer key.
#[derive(Clone, Copy, Debug, Default)]
pub struct RefHasher(u64);

impl Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-integer keys; fold the bytes so the hasher stays correct.
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

/// A map from series refs.
pub type RefMap<V> = HashMap<u64, V, BuildHasherDefault<RefHasher>>;

/// A set of series refs.
pub type RefSet = HashSet<u64, BuildHasherDefault<RefHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map() {
        let mut m: RefMap<u32> = RefMap::default();
        for i in 0..10_000u64 {
            m.insert(i * 3, i as u32);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&2997), Some(&999));
        assert_eq!(m.get(&2998), None);
    }
}
