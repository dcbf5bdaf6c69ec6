//! A fast hasher for the spelling table: the multiply-rotate hash of rustc's `FxHasher`, a few
//! instructions per eight bytes where the standard library's SipHash takes dozens. SipHash's
//! resistance to chosen collisions is not needed here: the table's keys are the clinicians'
//! spellings, fixed at load, so a message can only make a lookup probe among them.

use std::hash::{BuildHasherDefault, Hasher};

/// The multiplier of rustc's `FxHasher` (`rustc-hash` 1.x).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// rustc's `FxHasher`: each word is mixed in by a rotate, an xor and a multiply.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

/// A `HashMap` builder with [`FxHasher`].
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("eight bytes")));
        }
        let mut rest = chunks.remainder();
        if rest.len() >= 4 {
            self.add(u64::from(u32::from_le_bytes(
                rest[..4].try_into().expect("four bytes"),
            )));
            rest = &rest[4..];
        }
        if rest.len() >= 2 {
            self.add(u64::from(u16::from_le_bytes(
                rest[..2].try_into().expect("two bytes"),
            )));
            rest = &rest[2..];
        }
        if let Some(&b) = rest.first() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::hash::BuildHasher;

    use super::*;

    fn hash(s: &str) -> u64 {
        FxBuildHasher::default().hash_one(s)
    }

    #[test]
    fn equal_strings_hash_equal_and_prefixes_differ() {
        assert_eq!(hash("cabesa"), hash(&String::from("cabesa")));
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefgh",
            "abcdefghi",
            "vc",
            "voce",
        ];
        let distinct: HashSet<u64> = words.iter().map(|w| hash(w)).collect();
        assert_eq!(distinct.len(), words.len());
    }

    #[test]
    fn a_map_with_it_finds_what_a_standard_map_finds() {
        let mut fx: HashMap<Box<str>, usize, FxBuildHasher> = HashMap::default();
        let mut std_map: HashMap<Box<str>, usize> = HashMap::new();
        for i in 0..2000usize {
            let key = format!("w{}x{}", i * 7919 % 1000, i % 13);
            fx.insert(key.clone().into(), i);
            std_map.insert(key.into(), i);
        }
        assert_eq!(fx.len(), std_map.len());
        for i in 0..3000usize {
            let key = format!("w{}x{}", i * 7919 % 1000, i % 13);
            assert_eq!(fx.get(key.as_str()), std_map.get(key.as_str()), "{key}");
        }
    }
}
