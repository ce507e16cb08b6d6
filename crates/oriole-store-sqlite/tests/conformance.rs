//! The Store conformance suite on SqliteStore, once with the clear vault
//! and once encrypting with the key vault (per-user keys on `DATA/keys`).

mod common;

mod clear {
    oriole_store_tests::store_conformance!(crate::common::fresh);
}

mod keyed {
    oriole_store_tests::store_conformance!(crate::common::fresh_keyed);
}
