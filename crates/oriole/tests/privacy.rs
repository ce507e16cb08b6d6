//! `oriole privacy inventory` against the real server: the personal-data
//! inventory is public, one JSON object per line with `--json`, and a table
//! for people.

mod common;

use common::{Cli, TestServer};
use serde_json::Value;

#[tokio::test]
async fn privacy_inventory_lists_every_item_without_a_session() {
    let server = TestServer::start().await;
    let home = tempfile::TempDir::new().expect("dir");
    // Never registered or logged in: the inventory needs no session.
    let cli = Cli::new(home.path(), "visitor", &server.url);

    let out = cli.ok(&["privacy", "inventory", "--json"]).await;
    let items: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(items.len(), oriole_core::inventory::INVENTORY.len());
    let find = |id: &str| {
        items
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {out}"))
    };
    let text = find("message.text");
    assert_eq!(text["protection"], "encrypted_at_rest");
    assert_eq!(text["category"], "content");
    assert_eq!(text["fields"], serde_json::json!(["messages.text"]));
    assert!(!text["visible_to"]
        .as_array()
        .expect("roles")
        .contains(&Value::from("support")));
    let username = find("account.username");
    assert_eq!(username["protection"], "clear");
    assert!(username["justification"]
        .as_str()
        .is_some_and(|j| !j.is_empty()));

    let table = cli.ok(&["privacy", "inventory"]).await;
    let mut lines = table.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("ITEM")),
        "{table}"
    );
    let text_row = table
        .lines()
        .find(|l| l.starts_with("message.text "))
        .unwrap_or_else(|| panic!("no message.text row in {table}"));
    assert!(text_row.contains("encrypted"), "{text_row}");
    assert!(text_row.contains("content"), "{text_row}");
}
