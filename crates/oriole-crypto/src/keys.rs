//! The key hierarchy for encryption at rest: a key-encryption key (KEK)
//! wraps one data key (DEK) per user; DEKs seal personal fields with
//! XChaCha20-Poly1305; blind indexes (HMAC-SHA256 under a key derived from
//! the KEK) allow equality lookups without storing plaintext.

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// First byte of every sealed blob, so the format can evolve.
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Wrong key, wrong binding, or tampered ciphertext.
    #[error("decryption failed (wrong key, wrong binding or tampered data)")]
    Decrypt,
    #[error("sealed data is malformed")]
    Malformed,
    #[error("key material must be 32 bytes")]
    BadKeyLength,
}

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            pub fn generate() -> Self {
                let mut k = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                $name(k)
            }
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadKeyLength)?;
                Ok($name(arr))
            }
            /// The raw key, for writing it to the key store only.
            pub fn expose_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

secret_key!(
    /// The key-encryption key: never leaves the key store or the KMS hook.
    Kek
);
secret_key!(
    /// One user's data key. Destroying it crypto-shreds the user's data.
    DataKey
);

/// Encrypts into the one buffer it returns: version, nonce, ciphertext, tag.
fn seal(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    // A random 192-bit nonce per seal cannot repeat in practice. It comes
    // from the thread's CSPRNG (ChaCha, seeded and reseeded from the OS)
    // rather than a getrandom syscall per message; the server never forks.
    let mut nonce = XNonce::default();
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
    out.push(SEALED_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    // Encryption with a valid key and nonce cannot fail for in-memory
    // buffers; the error exists for size limits we never hit, and then the
    // blob is left without ciphertext, so it never opens.
    match cipher.encrypt_in_place_detached(&nonce, aad, &mut out[1 + NONCE_LEN..]) {
        Ok(tag) => out.extend_from_slice(&tag),
        Err(_) => out.truncate(1 + NONCE_LEN),
    }
    out
}

fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEALED_V1 {
        return Err(KeyError::Malformed);
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| KeyError::Decrypt)
}

/// [`open`] without a second buffer: decrypts `sealed` where it lies and
/// returns it cut down to the plaintext. Same format, same checks.
fn open_in_place(key: &[u8; 32], mut sealed: Vec<u8>, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEALED_V1 {
        return Err(KeyError::Malformed);
    }
    let mut nonce = XNonce::default();
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    sealed.drain(..1 + NONCE_LEN);
    // The tag is checked before anything is decrypted: on failure the
    // buffer still holds ciphertext only.
    XChaCha20Poly1305::new(key.into())
        .decrypt_in_place(&nonce, aad, &mut sealed)
        .map_err(|_| KeyError::Decrypt)?;
    Ok(sealed)
}

impl DataKey {
    /// Encrypt a personal field. `binding` names table, column and row so a
    /// blob moved elsewhere fails to open.
    pub fn seal(&self, plain: &[u8], binding: &[u8]) -> Vec<u8> {
        seal(&self.0, plain, binding)
    }
    pub fn open(&self, sealed: &[u8], binding: &[u8]) -> Result<Vec<u8>, KeyError> {
        open(&self.0, sealed, binding)
    }
    /// [`DataKey::open`] reusing the sealed buffer for the plaintext: one
    /// allocation and copy less per field on the read path.
    pub fn open_owned(&self, sealed: Vec<u8>, binding: &[u8]) -> Result<Vec<u8>, KeyError> {
        open_in_place(&self.0, sealed, binding)
    }
}

impl Kek {
    /// Wrap a DEK for storage, bound to its owner's id.
    pub fn wrap(&self, dek: &DataKey, owner: &str) -> Vec<u8> {
        seal(&self.0, &dek.0, &wrap_binding(owner))
    }
    pub fn unwrap(&self, wrapped: &[u8], owner: &str) -> Result<DataKey, KeyError> {
        let mut raw = open(&self.0, wrapped, &wrap_binding(owner))?;
        let key = DataKey::from_bytes(&raw);
        raw.zeroize();
        key
    }

    /// A key for blind indexes of one field, derived from the KEK so it
    /// lives nowhere else.
    pub fn blind_index_key(&self, field: &str) -> BlindIndexKey {
        derive_blind_index_key(&self.0, field)
    }
}

impl DataKey {
    /// A key for blind indexes of one field, derived from this key. For a
    /// root kept wrapped beside the DEKs: unlike [`Kek::blind_index_key`],
    /// the indexes then survive a KEK rotation (which only re-wraps keys).
    pub fn blind_index_key(&self, field: &str) -> BlindIndexKey {
        derive_blind_index_key(&self.0, field)
    }
}

fn derive_blind_index_key(root: &[u8; 32], field: &str) -> BlindIndexKey {
    let hk = Hkdf::<Sha256>::new(Some(b"oriole blind index v1"), root);
    let mut k = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
    let _ = hk.expand(field.as_bytes(), &mut k);
    BlindIndexKey(k)
}

fn wrap_binding(owner: &str) -> Vec<u8> {
    format!("oriole dek v1|{owner}").into_bytes()
}

/// Keyed hash for equality lookups of one field (e.g. login by email).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BlindIndexKey([u8; 32]);

impl BlindIndexKey {
    /// HMAC-SHA256 of the normalised value, hex-encoded.
    pub fn index(&self, normalised: &str) -> String {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fields sealed by a build with Poly1305's AVX2 backend (before
    /// `.cargo/config.toml` chose the portable one), with fixed nonces
    /// and lengths around the 16-byte block and the AVX2 backend's
    /// 64-byte stride: they must open, byte for byte, in every build, or
    /// data directories written earlier would stop opening.
    #[test]
    fn fields_sealed_by_earlier_builds_still_open() {
        const SEALED: &[(usize, &str)] = &[
        (0, "01000102030405060708090a0b0c0d0e0f1011121314151617744dc76947592264536e687379df069a"),
        (15, "010f0e0d0c0b0a090807060504030201001f1e1d1c1b1a1918521c51da8f8a95d757489bb5dfcced8af82058398791ee3e1482eabe958753"),
        (16, "01101112131415161718191a1b1c1d1e1f0001020304050607d331c2e04fff14ec03a3b3af768c1950cb52fcf8a4ce814c0ce8bacdc5aa9b26"),
        (17, "01111013121514171619181b1a1d1c1f1e0100030205040706821dec066bfd3e39850cf31f53a50263f2f3762c46a8a24ff1c7b83c1f59e010a6"),
        (64, "01404142434445464748494a4b4c4d4e4f50515253545556571c4604639e38e8ba3a9c5b4b6db2bd49b8b96a8f644ec4e2b23a545ffbc5631dcb3bc10e8d4f36963d364c524f044db2c7149b407dcb0c1e2c6601acc7d66ed8e09c8f22ede8bd7a88925f3b2d4a604e"),
        (100, "0164656667606162636c6d6e6f68696a6b74757677707172730ebbe1122ca85f202c3e81f06a502c5e65632f58de583554b0bf8af89fa8836111ff2dedff8adbf46e67d480ec1649a10a918474899c703c26fed52bdc42b9b755049dbacbd604c60cc249fa888f800997c6176bdf1c0715ccce604e2dbcd424ece212bd707a2581018f4df0b957941d91050bb8"),
        (300, "012c2d2e2f28292a2b24252627202122233c3d3e3f38393a3b9439468df7f4926a14b24a07b29993a3a20ef58c319c65aab1f900221ba328be1068793b242ca7d3ff5fe8a501c1123317686b71e2f8668f167d3515ed1303893561eafb44c60f44e8f733dc768c00bd89213fdddc7b0f0b90be20c9cbd9e33d21a27167ff32495e690965bd3b56b52add8c6f02ee0c3b290796050abb1b9e8b5a54c3ecc8446c9f43c5ff9f3c8cd10a8966ef63e0a0b92a94cdd687314615c9e6b9d1c57590eed063d4e8f4e9f75a09e8d8b733a9b6dc76ecfcc0991bd1e10927d461983cdd3656e16604475b00002cedf1b8bb565c1515ef7dddc2ae1ce1594fa9d0d0f3464bf5c2e7417d2c75d4b94cd3b778dfe47a5e70355087e898c0bdcb2048ae5aead61af49125eccf59d0281d02f77b520c5cc69c6153d9923dc3fbc73c954406f4ef52261bb0593b4e40ba6e6abc0ac755b2986859bf9b"),
        ];
        let key = DataKey::from_bytes(&[0x42; 32]).expect("32 bytes");
        let binding = b"oriole field v1|owner|messages|text|row";
        for (len, hex_blob) in SEALED {
            let sealed = hex::decode(hex_blob).expect("hex");
            let plain: Vec<u8> = (0..*len).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(key.open(&sealed, binding).ok(), Some(plain), "{len} bytes");
            let mut tampered = sealed.clone();
            *tampered.last_mut().expect("a tag") ^= 1;
            assert!(
                key.open(&tampered, binding).is_err(),
                "{len} bytes, bad tag"
            );
        }
    }

    #[test]
    fn field_round_trip_and_binding() {
        let dek = DataKey::generate();
        let sealed = dek.seal(b"+8613800138000", b"users|phone|u1");
        assert_ne!(&sealed[1 + NONCE_LEN..], b"+8613800138000");
        assert_eq!(
            dek.open(&sealed, b"users|phone|u1").as_deref(),
            Ok(&b"+8613800138000"[..])
        );
        assert_eq!(dek.open(&sealed, b"users|email|u1"), Err(KeyError::Decrypt));
        assert_eq!(
            DataKey::generate().open(&sealed, b"users|phone|u1"),
            Err(KeyError::Decrypt)
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            dek.open(&tampered, b"users|phone|u1"),
            Err(KeyError::Decrypt)
        );
        assert_eq!(dek.open(b"short", b""), Err(KeyError::Malformed));
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let dek = DataKey::generate();
        let first = dek.seal(b"hello", b"messages|text|m1");
        let second = dek.seal(b"hello", b"messages|text|m1");
        assert_ne!(first[1..1 + NONCE_LEN], second[1..1 + NONCE_LEN]);
        assert_ne!(first, second);
        for sealed in [first, second] {
            assert_eq!(sealed.len(), 1 + NONCE_LEN + 5 + TAG_LEN);
            assert_eq!(
                dek.open(&sealed, b"messages|text|m1").as_deref(),
                Ok(&b"hello"[..])
            );
        }
    }

    #[test]
    fn dek_wrapping_is_bound_to_owner() {
        let kek = Kek::generate();
        let dek = DataKey::generate();
        let wrapped = kek.wrap(&dek, "user-1");
        let back = kek.unwrap(&wrapped, "user-1").expect("unwraps");
        assert_eq!(back.expose_bytes(), dek.expose_bytes());
        assert!(kek.unwrap(&wrapped, "user-2").is_err());
        assert!(Kek::generate().unwrap(&wrapped, "user-1").is_err());
        assert!(!format!("{dek:?}").contains(&hex::encode(dek.expose_bytes())));
    }

    #[test]
    fn blind_indexes_are_keyed_and_per_field() {
        let kek = Kek::generate();
        let email = kek.blind_index_key("email");
        assert_eq!(email.index("a@b.org"), email.index("a@b.org"));
        assert_ne!(
            email.index("a@b.org"),
            kek.blind_index_key("phone").index("a@b.org")
        );
        assert_ne!(
            email.index("a@b.org"),
            Kek::generate().blind_index_key("email").index("a@b.org")
        );
    }

    #[test]
    fn data_key_blind_indexes_are_stable_across_rewrapping() {
        let root = DataKey::generate();
        let before = root.blind_index_key("phone").index("+14155550100");
        let (old, new) = (Kek::generate(), Kek::generate());
        let rewrapped = new.wrap(
            &old.unwrap(&old.wrap(&root, "system"), "system")
                .expect("unwraps"),
            "system",
        );
        let again = new.unwrap(&rewrapped, "system").expect("unwraps");
        assert_eq!(again.blind_index_key("phone").index("+14155550100"), before);
        assert_ne!(root.blind_index_key("email").index("+14155550100"), before);
    }

    #[test]
    fn open_owned_checks_like_open() {
        let dek = DataKey::generate();
        let sealed = dek.seal(b"hello", b"messages|text|m1");
        assert_eq!(
            dek.open_owned(sealed.clone(), b"messages|text|m1")
                .as_deref(),
            Ok(&b"hello"[..])
        );
        assert_eq!(
            dek.open_owned(sealed.clone(), b"messages|text|m2"),
            Err(KeyError::Decrypt)
        );
        let mut tampered = sealed.clone();
        tampered[1] ^= 1;
        assert_eq!(
            dek.open_owned(tampered, b"messages|text|m1"),
            Err(KeyError::Decrypt)
        );
        assert_eq!(
            dek.open_owned(b"short".to_vec(), b""),
            Err(KeyError::Malformed)
        );
        let mut version = sealed;
        version[0] = 2;
        assert_eq!(
            dek.open_owned(version, b"messages|text|m1"),
            Err(KeyError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..512), aad in ".{0,40}") {
            let dek = DataKey::generate();
            let sealed = dek.seal(&plain, aad.as_bytes());
            prop_assert_eq!(dek.open_owned(sealed.clone(), aad.as_bytes()), Ok(plain.clone()));
            prop_assert_eq!(dek.open(&sealed, aad.as_bytes()), Ok(plain));
        }
    }
}
