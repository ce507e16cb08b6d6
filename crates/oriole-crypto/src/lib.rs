//! Oriole's cryptographic primitives: password hashing (argon2id) and
//! session tokens (random, stored only as a SHA-256 hash), and the key
//! hierarchy for encryption at rest (`keys`). Pure, no I/O.

pub mod keys;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Cost parameters for argon2id. The default follows OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A PHC-format argon2id hash (`$argon2id$v=19$...`), safe to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHashString(String);

impl PasswordHashString {
    pub fn from_stored(s: String) -> Self {
        PasswordHashString(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn argon2(cost: PasswordCost) -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| CryptoError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hash a password with argon2id and a fresh random salt. CPU-heavy: call it
/// from a blocking thread in async code.
pub fn hash_password(
    password: &SecretString,
    cost: PasswordCost,
) -> Result<PasswordHashString, CryptoError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2(cost)?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| CryptoError::Hash(e.to_string()))?;
    Ok(PasswordHashString(hash.to_string()))
}

/// Check a password against a stored hash. The parameters are read from the
/// hash itself, so hashes made with an older cost still verify.
pub fn verify_password(password: &SecretString, stored: &PasswordHashString) -> bool {
    let Ok(parsed) = PasswordHash::new(stored.as_str()) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok()
}

/// A verifiable hash of a dummy password, so that logins for unknown users
/// spend the same time as logins with a wrong password.
pub fn dummy_password_hash(cost: PasswordCost) -> PasswordHashString {
    // Infallible in practice: the parameters are the validated defaults and
    // the salt is generated; fall back to an unparsable marker otherwise.
    hash_password(&SecretString::from("oriole-dummy-password"), cost)
        .unwrap_or_else(|_| PasswordHashString("invalid".into()))
}

const TOKEN_PREFIX: &str = "ori_";

/// A bearer token as handed to a client. Shown once; never stored.
pub struct SessionToken(SecretString);

impl SessionToken {
    /// 256 random bits, URL-safe base64, with a recognisable prefix so leaked
    /// tokens can be found by secret scanners.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        SessionToken(SecretString::from(format!("{TOKEN_PREFIX}{encoded}")))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// SHA-256 of a token, hex-encoded: what the store keeps and looks up by.
/// A fast hash is right here: tokens carry 256 bits of entropy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }
    pub fn from_stored(s: String) -> Self {
        TokenHash(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordCost {
        PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn password_round_trip() {
        let pw = SecretString::from("correct horse");
        let h = hash_password(&pw, cheap()).expect("hashes");
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(verify_password(&pw, &h));
        assert!(!verify_password(&SecretString::from("wrong"), &h));
        assert!(!verify_password(
            &pw,
            &PasswordHashString::from_stored("garbage".into())
        ));
    }

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("ori_"));
        assert_eq!(a.hash(), TokenHash::of(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    proptest::proptest! {
        #[test]
        fn token_hash_is_hex_sha256(s in ".{0,64}") {
            let h = TokenHash::of(&s);
            proptest::prop_assert_eq!(h.as_str().len(), 64);
            proptest::prop_assert!(h.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
