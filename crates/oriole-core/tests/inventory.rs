//! `docs/privacy-inventory.md` is generated from the inventory declared in
//! `src/inventory.rs`; this test fails when the committed copy is stale.
//!
//! Regenerate with:
//!     ORIOLE_UPDATE_INVENTORY=1 cargo test -p oriole-core inventory

use std::path::PathBuf;

#[test]
fn inventory_markdown_is_committed_and_current() {
    let generated = oriole_core::inventory::inventory_markdown();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/privacy-inventory.md");
    if std::env::var_os("ORIOLE_UPDATE_INVENTORY").is_some() {
        std::fs::write(&path, &generated).expect("write docs/privacy-inventory.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/privacy-inventory.md is missing or out of date with the inventory in \
         crates/oriole-core/src/inventory.rs.\n\
         Regenerate it with:\n    \
         ORIOLE_UPDATE_INVENTORY=1 cargo test -p oriole-core inventory\n\
         and commit the result."
    );
}
