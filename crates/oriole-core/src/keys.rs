//! Encryption at rest: the [`KeyStore`] port, where data keys are kept
//! wrapped by the key-encryption key (KEK), and [`KeyVault`], the
//! [`FieldVault`] that seals every personal field under its owner's data key
//! (DEK). Destroying a DEK ([`FieldVault::shred`]) erases everything sealed
//! under it, backups of the database included, since keys live only in the
//! key store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use oriole_crypto::keys::{DataKey, Kek};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::UserId;
use crate::ports::{FieldBinding, FieldVault, VaultError};
use crate::signing::{is_reserved_owner, KeyPurpose, SigningKey};

/// The key-store entry of the blind-index root key. No user can have this
/// id (user ids are random UUIDv7), and the vault refuses to shred it.
///
/// The root is kept like a DEK, wrapped by the KEK, rather than derived from
/// the KEK: a KEK rotation re-wraps it with every DEK and the indexes in the
/// database stay valid.
pub const BLIND_INDEX_ROOT_OWNER: UserId = UserId(Uuid::nil());

/// Identifies a KEK without revealing it: the first 16 hex digits of the
/// SHA-256 of its bytes. Stored beside each wrapped DEK, so a wrong KEK or an
/// unfinished rotation is reported as such rather than as corrupt data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KekId(String);

impl KekId {
    pub fn of(kek: &Kek) -> KekId {
        let digest = Sha256::digest(kek.expose_bytes());
        let mut id = hex::encode(digest);
        id.truncate(16);
        KekId(id)
    }
    pub fn from_stored(raw: String) -> KekId {
        KekId(raw)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DEK as stored: sealed by the KEK (bound to its owner) and the id of
/// that KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDek {
    pub bytes: Vec<u8>,
    pub kek_id: KekId,
}

impl fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDek")
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .field("kek_id", &self.kek_id)
            .finish()
    }
}

/// One DEK re-wrapped by a KEK rotation.
#[derive(Debug, Clone)]
pub struct RewrappedDek {
    pub owner: UserId,
    /// The KEK the stored entry must still be wrapped by for the
    /// replacement to apply (compare-and-swap).
    pub old_kek_id: KekId,
    pub dek: WrappedDek,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key store: {0}")]
pub struct KeyStoreError(pub String);

/// Where wrapped DEKs are kept, one per owner. Only wrapped keys cross this
/// port; the KEK never does.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn wrapped_dek(&self, owner: UserId) -> Result<Option<WrappedDek>, KeyStoreError>;
    /// Store `dek` unless the owner has one already; returns the one that is
    /// stored (the winner when two writers race).
    async fn insert_dek_if_absent(
        &self,
        owner: UserId,
        dek: WrappedDek,
    ) -> Result<WrappedDek, KeyStoreError>;
    /// Destroy the owner's DEK, leaving no copy in the store's files;
    /// `false` when there was none.
    async fn delete_dek(&self, owner: UserId) -> Result<bool, KeyStoreError>;
    /// Up to `limit` entries wrapped by any KEK other than `kek_id`, for
    /// rotation to re-wrap.
    async fn deks_not_wrapped_by(
        &self,
        kek_id: &KekId,
        limit: u32,
    ) -> Result<Vec<(UserId, WrappedDek)>, KeyStoreError>;
    /// Replace a batch of entries atomically, each only if it is still
    /// wrapped by its `old_kek_id` (a DEK deleted meanwhile stays deleted).
    /// Returns how many were replaced.
    async fn replace_deks(&self, batch: &[RewrappedDek]) -> Result<u64, KeyStoreError>;
}

/// Tunables of [`KeyVault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyVaultConfig {
    /// Unwrapped DEKs kept in memory (least recently used go first); 0
    /// disables the cache.
    pub cache_capacity: usize,
}

impl Default for KeyVaultConfig {
    fn default() -> Self {
        KeyVaultConfig {
            cache_capacity: 10_000,
        }
    }
}

/// Seals personal fields with XChaCha20-Poly1305 under the owner's DEK,
/// creating it on the owner's first seal. The associated data names owner,
/// table, column and row, so a ciphertext moved anywhere else fails to open.
pub struct KeyVault<K: KeyStore> {
    kek: Kek,
    kek_id: KekId,
    keys: K,
    index_root: DataKey,
    cache: Mutex<DekCache>,
}

impl<K: KeyStore> fmt::Debug for KeyVault<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVault")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

impl<K: KeyStore> KeyVault<K> {
    /// A vault over `keys` with `kek`. Loads (or, on a new key store,
    /// creates) the blind-index root, and so fails at once, with both ids,
    /// when the key store was written under another KEK.
    pub async fn open(kek: Kek, keys: K, config: KeyVaultConfig) -> Result<Self, VaultError> {
        let kek_id = KekId::of(&kek);
        let root = match keys.wrapped_dek(BLIND_INDEX_ROOT_OWNER).await? {
            Some(stored) => stored,
            None => {
                let fresh = wrap(&kek, &kek_id, BLIND_INDEX_ROOT_OWNER, &DataKey::generate());
                keys.insert_dek_if_absent(BLIND_INDEX_ROOT_OWNER, fresh)
                    .await?
            }
        };
        let index_root = unwrap(&kek, &kek_id, BLIND_INDEX_ROOT_OWNER, &root)?;
        Ok(KeyVault {
            kek,
            kek_id,
            keys,
            index_root,
            cache: Mutex::new(DekCache::new(config.cache_capacity)),
        })
    }

    pub fn kek_id(&self) -> &KekId {
        &self.kek_id
    }

    pub fn key_store(&self) -> &K {
        &self.keys
    }

    /// The owner's DEK, from the cache or the key store; with `create`, a
    /// new one when the owner has none.
    async fn dek(&self, owner: UserId, create: bool) -> Result<Arc<DataKey>, VaultError> {
        let generation = {
            let mut cache = self.lock_cache();
            if let Some(key) = cache.get(owner) {
                return Ok(key);
            }
            cache.generation
        };
        let wrapped = match self.keys.wrapped_dek(owner).await? {
            Some(stored) => stored,
            None if create => {
                let fresh = wrap(&self.kek, &self.kek_id, owner, &DataKey::generate());
                self.keys.insert_dek_if_absent(owner, fresh).await?
            }
            None => return Err(VaultError::Shredded),
        };
        let key = Arc::new(unwrap(&self.kek, &self.kek_id, owner, &wrapped)?);
        self.lock_cache()
            .insert(owner, Arc::clone(&key), generation);
        Ok(key)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, DekCache> {
        // The cache holds no invariant a panicking holder could break.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.lock_cache().keys.len()
    }
}

fn wrap(kek: &Kek, kek_id: &KekId, owner: UserId, dek: &DataKey) -> WrappedDek {
    WrappedDek {
        bytes: kek.wrap(dek, &owner.to_string()),
        kek_id: kek_id.clone(),
    }
}

fn unwrap(
    kek: &Kek,
    kek_id: &KekId,
    owner: UserId,
    wrapped: &WrappedDek,
) -> Result<DataKey, VaultError> {
    if &wrapped.kek_id != kek_id {
        return Err(VaultError::Backend(format!(
            "the data keys are wrapped by KEK {}, but the configured KEK is {kek_id}: \
             configure the KEK they were made with, or finish an interrupted KEK rotation",
            wrapped.kek_id
        )));
    }
    kek.unwrap(&wrapped.bytes, &owner.to_string()).map_err(|_| {
        VaultError::Backend(
            "a wrapped data key failed its integrity check: the key store was altered".into(),
        )
    })
}

/// The associated data binding a sealed field to its place:
/// `oriole field v1|{owner}|{table}|{column}|{row}`, the owner as a
/// hyphenated lower-case UUID. Built without the formatting machinery: it
/// runs for every field read.
fn associated_data(field: &FieldBinding<'_>) -> Vec<u8> {
    const PREFIX: &[u8] = b"oriole field v1|";
    let mut owner_buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let owner = field.owner.0.hyphenated().encode_lower(&mut owner_buf);
    let parts: [&[u8]; 7] = [
        owner.as_bytes(),
        b"|",
        field.table.as_bytes(),
        b"|",
        field.column.as_bytes(),
        b"|",
        field.row.as_bytes(),
    ];
    let mut ad = Vec::with_capacity(PREFIX.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    ad.extend_from_slice(PREFIX);
    for part in parts {
        ad.extend_from_slice(part);
    }
    ad
}

#[async_trait]
impl<K: KeyStore> FieldVault for KeyVault<K> {
    async fn seal(&self, field: FieldBinding<'_>, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        if is_reserved_owner(field.owner) {
            return Err(VaultError::Backend(
                "a reserved owner id owns no data".into(),
            ));
        }
        let dek = self.dek(field.owner, true).await?;
        Ok(dek.seal(plain, &associated_data(&field)))
    }

    async fn open(&self, field: FieldBinding<'_>, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if is_reserved_owner(field.owner) {
            return Err(VaultError::Backend(
                "a reserved owner id owns no data".into(),
            ));
        }
        let dek = self.dek(field.owner, false).await?;
        dek.open(sealed, &associated_data(&field))
            .map_err(|_| VaultError::Integrity)
    }

    /// Decrypts in place: the read path's one copy of the value.
    async fn open_owned(
        &self,
        field: FieldBinding<'_>,
        sealed: Vec<u8>,
    ) -> Result<Vec<u8>, VaultError> {
        if is_reserved_owner(field.owner) {
            return Err(VaultError::Backend(
                "a reserved owner id owns no data".into(),
            ));
        }
        let dek = self.dek(field.owner, false).await?;
        dek.open_owned(sealed, &associated_data(&field))
            .map_err(|_| VaultError::Integrity)
    }

    fn blind_index(&self, column: &'static str, normalised: &str) -> String {
        self.index_root.blind_index_key(column).index(normalised)
    }

    async fn shred(&self, owner: UserId) -> Result<(), VaultError> {
        if is_reserved_owner(owner) {
            return Err(VaultError::Backend(
                "the blind-index root and signing keys are not a user's key and cannot be \
                 shredded"
                    .into(),
            ));
        }
        self.keys.delete_dek(owner).await?;
        // After the delete: a lookup that read the key before it may finish
        // later, and the generation bump keeps it from caching the key.
        self.lock_cache().evict(owner);
        Ok(())
    }

    /// Kept like a DEK under the purpose's reserved owner id: wrapped by the
    /// KEK, re-wrapped by KEK rotation, cached once unwrapped.
    async fn signing_key(&self, purpose: KeyPurpose) -> Result<SigningKey, VaultError> {
        let seed = self.dek(purpose.key_owner(), true).await?;
        SigningKey::from_bytes(seed.expose_bytes()).map_err(|e| VaultError::Backend(e.to_string()))
    }
}

impl From<KeyStoreError> for VaultError {
    fn from(e: KeyStoreError) -> Self {
        VaultError::Backend(e.to_string())
    }
}

/// Unwrapped DEKs, bounded; the least recently used eighth goes when full.
struct DekCache {
    capacity: usize,
    /// Bumped by every eviction for a shred: a key fetched before it is not
    /// cached after it.
    generation: u64,
    clock: u64,
    keys: HashMap<UserId, CachedDek>,
}

struct CachedDek {
    key: Arc<DataKey>,
    last_used: u64,
}

impl DekCache {
    fn new(capacity: usize) -> Self {
        DekCache {
            capacity,
            generation: 0,
            clock: 0,
            keys: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn get(&mut self, owner: UserId) -> Option<Arc<DataKey>> {
        let now = self.tick();
        let entry = self.keys.get_mut(&owner)?;
        entry.last_used = now;
        Some(Arc::clone(&entry.key))
    }

    fn insert(&mut self, owner: UserId, key: Arc<DataKey>, fetched_at_generation: u64) {
        if self.capacity == 0 || fetched_at_generation != self.generation {
            return;
        }
        if self.keys.len() >= self.capacity && !self.keys.contains_key(&owner) {
            self.evict_least_recently_used();
        }
        let last_used = self.tick();
        self.keys.insert(owner, CachedDek { key, last_used });
    }

    /// Drops the least recently used eighth (at least one): amortised, an
    /// insert into a full cache costs O(log n).
    fn evict_least_recently_used(&mut self) {
        let drop = (self.keys.len() / 8).max(1);
        let mut ages: Vec<u64> = self.keys.values().map(|c| c.last_used).collect();
        let (_, cutoff, _) = ages.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        self.keys.retain(|_, c| c.last_used > cutoff);
    }

    fn evict(&mut self, owner: UserId) {
        self.keys.remove(&owner);
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An in-memory key store, shareable between vaults.
    #[derive(Clone, Default)]
    struct MemoryKeys(Arc<Mutex<HashMap<UserId, WrappedDek>>>);

    impl MemoryKeys {
        fn map(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, WrappedDek>> {
            self.0.lock().expect("lock")
        }
    }

    #[async_trait]
    impl KeyStore for MemoryKeys {
        async fn wrapped_dek(&self, owner: UserId) -> Result<Option<WrappedDek>, KeyStoreError> {
            Ok(self.map().get(&owner).cloned())
        }
        async fn insert_dek_if_absent(
            &self,
            owner: UserId,
            dek: WrappedDek,
        ) -> Result<WrappedDek, KeyStoreError> {
            Ok(self.map().entry(owner).or_insert(dek).clone())
        }
        async fn delete_dek(&self, owner: UserId) -> Result<bool, KeyStoreError> {
            Ok(self.map().remove(&owner).is_some())
        }
        async fn deks_not_wrapped_by(
            &self,
            kek_id: &KekId,
            limit: u32,
        ) -> Result<Vec<(UserId, WrappedDek)>, KeyStoreError> {
            Ok(self
                .map()
                .iter()
                .filter(|(_, d)| &d.kek_id != kek_id)
                .take(limit as usize)
                .map(|(o, d)| (*o, d.clone()))
                .collect())
        }
        async fn replace_deks(&self, batch: &[RewrappedDek]) -> Result<u64, KeyStoreError> {
            let mut map = self.map();
            let mut n = 0;
            for r in batch {
                if let Some(d) = map.get_mut(&r.owner) {
                    if d.kek_id == r.old_kek_id {
                        *d = r.dek.clone();
                        n += 1;
                    }
                }
            }
            Ok(n)
        }
    }

    async fn vault(kek: &Kek, keys: &MemoryKeys, capacity: usize) -> KeyVault<MemoryKeys> {
        KeyVault::open(
            kek.clone(),
            keys.clone(),
            KeyVaultConfig {
                cache_capacity: capacity,
            },
        )
        .await
        .expect("open vault")
    }

    fn field<'a>(owner: UserId, column: &'static str, row: &'a str) -> FieldBinding<'a> {
        FieldBinding {
            owner,
            table: "users",
            column,
            row,
        }
    }

    #[test]
    fn associated_data_keeps_the_stored_format() {
        // Data sealed before this encoder existed used this `format!`.
        let owner = UserId::generate();
        let b = FieldBinding {
            owner,
            table: "messages",
            column: "text",
            row: "0190-\u{e9}|x",
        };
        let old = format!(
            "oriole field v1|{}|{}|{}|{}",
            b.owner, b.table, b.column, b.row
        );
        assert_eq!(associated_data(&b), old.into_bytes());
    }

    #[tokio::test]
    async fn open_owned_agrees_with_open() {
        let keys = MemoryKeys::default();
        let v = vault(&Kek::generate(), &keys, 16).await;
        let alice = UserId::generate();
        let row = alice.to_string();
        let sealed = v
            .seal(field(alice, "phone", &row), b"+14155550100")
            .await
            .expect("seal");
        let plain = v
            .open_owned(field(alice, "phone", &row), sealed.clone())
            .await;
        assert_eq!(plain.as_deref(), Ok(&b"+14155550100"[..]));
        let other_row = UserId::generate().to_string();
        assert_eq!(
            v.open_owned(field(alice, "phone", &other_row), sealed.clone())
                .await,
            Err(VaultError::Integrity)
        );
        let mut tampered = sealed.clone();
        tampered[30] ^= 0x01;
        assert_eq!(
            v.open_owned(field(alice, "phone", &row), tampered).await,
            Err(VaultError::Integrity)
        );
        v.shred(alice).await.expect("shred");
        assert_eq!(
            v.open_owned(field(alice, "phone", &row), sealed).await,
            Err(VaultError::Shredded)
        );
    }

    #[test]
    fn kek_ids_are_short_stable_and_distinct() {
        let kek = Kek::generate();
        assert_eq!(KekId::of(&kek), KekId::of(&kek.clone()));
        assert_eq!(KekId::of(&kek).as_str().len(), 16);
        assert_ne!(KekId::of(&kek), KekId::of(&Kek::generate()));
    }

    #[tokio::test]
    async fn fields_round_trip_and_are_bound_to_their_place() {
        let keys = MemoryKeys::default();
        let v = vault(&Kek::generate(), &keys, 16).await;
        let alice = UserId::generate();
        let row = alice.to_string();
        let sealed = v
            .seal(field(alice, "phone", &row), b"+14155550100")
            .await
            .expect("seal");
        assert!(!sealed.windows(12).any(|w| w == b"+14155550100"));
        let plain = v.open(field(alice, "phone", &row), &sealed).await;
        assert_eq!(plain.as_deref(), Ok(&b"+14155550100"[..]));

        // Another column, row or owner: integrity failure, not garbage.
        let other_row = UserId::generate().to_string();
        for wrong in [
            field(alice, "email", &row),
            field(alice, "phone", &other_row),
        ] {
            assert_eq!(v.open(wrong, &sealed).await, Err(VaultError::Integrity));
        }
        let bob = UserId::generate();
        v.seal(field(bob, "phone", &row), b"x").await.expect("seal");
        assert_eq!(
            v.open(field(bob, "phone", &row), &sealed).await,
            Err(VaultError::Integrity)
        );
        let mut tampered = sealed.clone();
        tampered[30] ^= 0x01;
        assert_eq!(
            v.open(field(alice, "phone", &row), &tampered).await,
            Err(VaultError::Integrity)
        );
        assert_eq!(
            v.open(field(alice, "phone", &row), b"short").await,
            Err(VaultError::Integrity)
        );
    }

    #[tokio::test]
    async fn one_wrapped_key_per_owner_and_never_in_the_clear() {
        let keys = MemoryKeys::default();
        let v = vault(&Kek::generate(), &keys, 16).await;
        let alice = UserId::generate();
        let row = alice.to_string();
        for _ in 0..3 {
            v.seal(field(alice, "phone", &row), b"p")
                .await
                .expect("seal");
        }
        let map = keys.map();
        assert_eq!(map.len(), 2, "alice's DEK and the blind-index root");
        let stored = map.get(&alice).expect("alice's DEK");
        assert_eq!(&stored.kek_id, v.kek_id());
        assert!(!format!("{stored:?}").contains(&hex::encode(&stored.bytes)));
    }

    #[tokio::test]
    async fn no_key_means_shredded_and_shred_beats_the_cache() {
        let keys = MemoryKeys::default();
        let v = vault(&Kek::generate(), &keys, 16).await;
        let alice = UserId::generate();
        let row = alice.to_string();
        let sealed = v.seal(field(alice, "email", &row), b"a@b.org").await;
        let sealed = sealed.expect("seal");
        // Cached now; the shred must still take effect at once.
        assert!(v.open(field(alice, "email", &row), &sealed).await.is_ok());
        v.shred(alice).await.expect("shred");
        assert_eq!(
            v.open(field(alice, "email", &row), &sealed).await,
            Err(VaultError::Shredded)
        );
        v.shred(alice).await.expect("idempotent");
        let never = UserId::generate();
        assert_eq!(
            v.open(field(never, "email", &row), &sealed).await,
            Err(VaultError::Shredded)
        );
        assert!(v.shred(BLIND_INDEX_ROOT_OWNER).await.is_err());
        assert!(keys.map().contains_key(&BLIND_INDEX_ROOT_OWNER));
    }

    #[tokio::test]
    async fn racing_vaults_agree_on_one_key() {
        let keys = MemoryKeys::default();
        let kek = Kek::generate();
        let a = vault(&kek, &keys, 16).await;
        let b = vault(&kek, &keys, 16).await;
        let alice = UserId::generate();
        let row = alice.to_string();
        let (sa, sb) = tokio::join!(
            a.seal(field(alice, "phone", &row), b"one"),
            b.seal(field(alice, "phone", &row), b"two"),
        );
        let (sa, sb) = (sa.expect("seal"), sb.expect("seal"));
        assert_eq!(
            b.open(field(alice, "phone", &row), &sa).await.as_deref(),
            Ok(&b"one"[..])
        );
        assert_eq!(
            a.open(field(alice, "phone", &row), &sb).await.as_deref(),
            Ok(&b"two"[..])
        );
        // Both vaults share the blind-index root too.
        assert_eq!(a.blind_index("email", "x"), b.blind_index("email", "x"));
    }

    #[tokio::test]
    async fn a_wrong_kek_is_named_not_mistaken_for_corruption() {
        let keys = MemoryKeys::default();
        let right = Kek::generate();
        let _ = vault(&right, &keys, 16).await;
        let wrong = Kek::generate();
        let err = KeyVault::open(wrong.clone(), keys.clone(), KeyVaultConfig::default())
            .await
            .expect_err("wrong KEK");
        let VaultError::Backend(msg) = err else {
            panic!("expected a backend error");
        };
        assert!(msg.contains(KekId::of(&right).as_str()), "{msg}");
        assert!(msg.contains(KekId::of(&wrong).as_str()), "{msg}");
    }

    #[tokio::test]
    async fn blind_indexes_are_keyed_per_column_and_per_key_store() {
        let keys = MemoryKeys::default();
        let kek = Kek::generate();
        let v = vault(&kek, &keys, 16).await;
        let again = vault(&kek, &keys, 16).await;
        assert_eq!(
            v.blind_index("phone", "+1"),
            again.blind_index("phone", "+1")
        );
        assert_ne!(v.blind_index("phone", "+1"), v.blind_index("email", "+1"));
        assert_ne!(v.blind_index("phone", "+1"), v.blind_index("phone", "+2"));
        let elsewhere = vault(&kek, &MemoryKeys::default(), 16).await;
        assert_ne!(
            v.blind_index("phone", "+1"),
            elsewhere.blind_index("phone", "+1")
        );
        assert_ne!(
            v.blind_index("phone", "+1"),
            crate::ports::ClearVault.blind_index("phone", "+1")
        );
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let keys = MemoryKeys::default();
        let v = vault(&Kek::generate(), &keys, 8).await;
        let mut sealed = Vec::new();
        for _ in 0..50 {
            let owner = UserId::generate();
            let row = owner.to_string();
            let s = v.seal(field(owner, "phone", &row), b"p").await;
            sealed.push((owner, row, s.expect("seal")));
            assert!(v.cached() <= 8);
        }
        for (owner, row, s) in &sealed {
            let plain = v.open(field(*owner, "phone", row), s).await;
            assert_eq!(plain.as_deref(), Ok(&b"p"[..]));
        }
        let uncached = vault(&Kek::generate(), &MemoryKeys::default(), 0).await;
        let owner = UserId::generate();
        let row = owner.to_string();
        let s = uncached.seal(field(owner, "phone", &row), b"p").await;
        assert!(uncached
            .open(field(owner, "phone", &row), &s.expect("seal"))
            .await
            .is_ok());
        assert_eq!(uncached.cached(), 0);
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(
            plain in proptest::collection::vec(any::<u8>(), 0..512),
            table in "[a-z]{1,3}",
            column in "[a-z_]{1,12}",
            row in "\\PC{0,40}",
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            // FieldBinding wants &'static names, as a store passes them.
            let table: &'static str = Box::leak(table.into_boxed_str());
            let column: &'static str = Box::leak(column.into_boxed_str());
            let owner = UserId::generate();
            let binding = FieldBinding { owner, table, column, row: &row };
            let opened = rt.block_on(async {
                let v = vault(&Kek::generate(), &MemoryKeys::default(), 4).await;
                let sealed = v.seal(binding, &plain).await.expect("seal");
                v.open(binding, &sealed).await
            });
            prop_assert_eq!(opened, Ok(plain));
        }
    }
}
