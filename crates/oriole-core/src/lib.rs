//! Oriole's domain: typed values, the ports (Store, Fanout, Clock,
//! FieldVault, KeyStore) and the services that implement accounts, messaging and
//! groups on top of them. Transport-agnostic: the server's handlers only
//! extract, call a service, and map the result.

pub mod audit;
pub mod consent;
pub mod domain;
pub mod error;
pub mod inventory;
pub mod keys;
pub mod ports;
pub mod privacy_store;
pub mod retention;
pub mod rights;
pub mod service;
pub mod sharing;
pub mod signing;
pub mod staff;
pub mod store;
pub mod throttle;

pub use error::{ServiceError, ServiceResult};
pub use keys::{
    KekId, KeyStore, KeyStoreError, KeyVault, KeyVaultConfig, RewrappedDek, WrappedDek,
};
pub use ports::{ClearVault, Clock, Fanout, FieldBinding, FieldVault, SystemClock, VaultError};
pub use service::{Caller, CoreConfig, Oriole, QueuedSend};
pub use signing::{KeyPurpose, PublicKey, SigningKey};
pub use store::{Store, StoreError};
