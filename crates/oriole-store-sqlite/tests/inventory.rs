//! The personal-data inventory (`oriole_core::inventory`) against this
//! backend's real schema: every column is either declared in an inventory
//! item or listed as non-personal with a reason; every declared field
//! exists; and the columns declared encrypted at rest are exactly the ones
//! the store seals with the field vault.

use std::collections::BTreeSet;

use oriole_core::inventory::{
    declared_columns, encrypted_columns, split_field, NON_PERSONAL_COLUMNS,
};
use oriole_store_sqlite::{sealed_columns, SqliteOptions, SqliteStore};
use tempfile::TempDir;

async fn schema() -> BTreeSet<(String, String)> {
    let dir = TempDir::new().expect("dir");
    let store = SqliteStore::open(&dir.path().join("oriole.db"), SqliteOptions::default())
        .await
        .expect("open");
    let columns = store.schema_columns().await.expect("schema");
    store.close().await;
    assert!(!columns.is_empty(), "the schema has no columns");
    columns.into_iter().collect()
}

fn owned((table, column): (&str, &str)) -> (String, String) {
    (table.to_owned(), column.to_owned())
}

fn declared() -> BTreeSet<(String, String)> {
    declared_columns()
        .map(|(tc, _)| owned(tc))
        .chain(
            NON_PERSONAL_COLUMNS
                .iter()
                .map(|c| owned(split_field(c.field).expect("table.column"))),
        )
        .collect()
}

#[tokio::test]
async fn inventory_declares_every_column_of_the_schema() {
    let schema = schema().await;
    assert!(schema.contains(&owned(("users", "username"))));
    assert!(!schema.iter().any(|(t, _)| t == "_sqlx_migrations"));
    let declared = declared();
    let undeclared: Vec<String> = schema
        .difference(&declared)
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    assert!(
        undeclared.is_empty(),
        "columns neither declared in the personal-data inventory \
         (crates/oriole-core/src/inventory.rs) nor listed in NON_PERSONAL_COLUMNS \
         with a reason: {undeclared:?}"
    );
}

#[tokio::test]
async fn inventory_declares_no_column_the_schema_lacks() {
    let schema = schema().await;
    let missing: Vec<String> = declared()
        .difference(&schema)
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    assert!(
        missing.is_empty(),
        "the inventory declares fields the schema does not have: {missing:?}"
    );
}

#[test]
fn inventory_encrypted_columns_are_exactly_the_sealed_ones() {
    let encrypted: BTreeSet<(&str, &str)> = encrypted_columns().into_iter().collect();
    let sealed: BTreeSet<(&str, &str)> = sealed_columns().iter().copied().collect();
    let not_sealed: Vec<_> = encrypted.difference(&sealed).collect();
    assert!(
        not_sealed.is_empty(),
        "declared EncryptedAtRest but not sealed by personal.rs: {not_sealed:?}"
    );
    let not_declared: Vec<_> = sealed.difference(&encrypted).collect();
    assert!(
        not_declared.is_empty(),
        "sealed by personal.rs but not declared EncryptedAtRest: {not_declared:?}"
    );
}
