//! Keyed pseudonyms: HMAC-SHA-256 of an identifier under a secret key, first 128 bits in hex.
//! One helper for every place that must link records of one person without holding who she is
//! (the rate limiter's end users, ingestion's patients): keyed, so a pseudonym cannot be checked
//! against guessed names, CPFs or phone numbers without the key.

use hmac::{Hmac, Mac};

use super::Secret;

/// `hex(HMAC-SHA-256(key, part₀ ‖ 0x00 ‖ part₁ ‖ 0x00 ‖ …))[..32]`: the parts are joined with a
/// zero byte so that `("ab", "c")` and `("a", "bc")` differ.
pub fn keyed_pseudonym(key: &Secret, parts: &[&str]) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key.expose().as_bytes()) else {
        unreachable!("HMAC takes a key of any length")
    };
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part.as_bytes());
    }
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// A short public fingerprint of a key (`hex(HMAC(key, "powerbirth-key-id"))[..8]`), written
/// beside pseudonyms so that data made under different keys is never mixed unknowingly; it
/// reveals nothing usable about the key.
pub fn key_fingerprint(key: &Secret) -> String {
    keyed_pseudonym(key, &["powerbirth-key-id"])[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_stable_keyed_and_separates_its_parts() {
        let k1 = Secret::new("k1".into());
        let k2 = Secret::new("k2".into());
        let p = keyed_pseudonym(&k1, &["patient", "123"]);
        assert_eq!(p.len(), 32);
        assert_eq!(p, keyed_pseudonym(&k1, &["patient", "123"]));
        assert_ne!(p, keyed_pseudonym(&k2, &["patient", "123"]));
        assert_ne!(
            keyed_pseudonym(&k1, &["ab", "c"]),
            keyed_pseudonym(&k1, &["a", "bc"])
        );
        assert_eq!(key_fingerprint(&k1).len(), 8);
        assert_ne!(key_fingerprint(&k1), key_fingerprint(&k2));
    }

    #[test]
    fn the_pseudonym_is_hmac_sha256_as_published() {
        // RFC 4231 test case 2: HMAC-SHA-256(key "Jefe", "what do ya want for nothing?").
        let key = Secret::new("Jefe".into());
        assert_eq!(
            keyed_pseudonym(&key, &["what do ya want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c7"
        );
    }
}
