//! The Store conformance suite on SqliteStore, once with the clear vault
//! (today's default) and once with a vault that scrambles and binds every
//! personal field.

mod common;

mod clear {
    oriole_store_tests::store_conformance!(crate::common::fresh);
}

mod sealed {
    oriole_store_tests::store_conformance!(crate::common::fresh_scrambled);
}
