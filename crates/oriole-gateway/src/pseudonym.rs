//! Per-recipient pseudonyms: a keyed HMAC of the user id under a key each
//! recipient has of its own, so two recipients cannot join their data on a
//! common identifier and no recipient can recompute one from a user id.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A recipient's pseudonym key (32 random bytes, kept sealed).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    pub fn generate() -> PseudonymKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        PseudonymKey(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<PseudonymKey> {
        <[u8; 32]>::try_from(bytes).ok().map(PseudonymKey)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The pseudonym of `user` (its 16-byte id) for this recipient.
    pub fn pseudonym(&self, user: &[u8; 16]) -> RecipientPseudonym {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"oriole recipient pseudonym v1|");
        mac.update(user);
        let digest = mac.finalize().into_bytes();
        RecipientPseudonym(format!("p_{}", hex::encode(&digest[..16])))
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// What a recipient knows a user as: `p_` and 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientPseudonym(String);

impl RecipientPseudonym {
    pub fn parse(s: &str) -> Option<RecipientPseudonym> {
        let hex_part = s.strip_prefix("p_")?;
        (hex_part.len() == 32
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| RecipientPseudonym(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecipientPseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_recipient_and_unlinkable_across() {
        let (a, b) = (PseudonymKey::generate(), PseudonymKey::generate());
        let user = [7u8; 16];
        assert_eq!(a.pseudonym(&user), a.pseudonym(&user));
        assert_ne!(a.pseudonym(&user), b.pseudonym(&user));
        assert_ne!(a.pseudonym(&user), a.pseudonym(&[8u8; 16]));
        let p = a.pseudonym(&user);
        assert_eq!(RecipientPseudonym::parse(p.as_str()), Some(p));
        assert_eq!(RecipientPseudonym::parse("p_xyz"), None);
    }
}
