//! Groups, memberships and group history.

use oriole_core::domain::{GroupId, GroupName, UserId};
use oriole_core::store::{Conversation, MemberRecord, Store, StoreError};
use oriole_proto::{EventKind, GroupRole};

use crate::fixtures::{at, group, group_record, inbox, send_direct, send_group, user, username};

fn member(user: UserId, name: &str, role: GroupRole, joined_ms: i64) -> MemberRecord {
    MemberRecord {
        user_id: user,
        username: username(name),
        role,
        joined_at: at(joined_ms),
    }
}

/// A group reads back as created; its initial members are listed in the
/// order given (owner first), and each member sees it with their role.
pub async fn groups_create_and_read<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let record = {
        let mut g = group_record("book club", at(3));
        g.history_visible = true;
        g
    };
    let g = record.id;
    store
        .create_group(
            record.clone(),
            &[
                (alice, GroupRole::Owner),
                (carol, GroupRole::Member),
                (bob, GroupRole::Admin),
            ],
        )
        .await
        .expect("create group");

    assert_eq!(store.group(g).await.expect("group"), Some(record.clone()));
    assert_eq!(
        store.members(g).await.expect("members"),
        vec![
            member(alice, "alice", GroupRole::Owner, 3),
            member(carol, "carol", GroupRole::Member, 3),
            member(bob, "bob", GroupRole::Admin, 3),
        ]
    );
    assert_eq!(
        store.membership(g, bob).await.expect("membership"),
        Some(member(bob, "bob", GroupRole::Admin, 3))
    );
    assert_eq!(store.membership(g, dave).await.expect("membership"), None);
    assert_eq!(
        store.groups_of(bob).await.expect("groups of"),
        vec![(record.clone(), GroupRole::Admin)]
    );
    assert_eq!(store.groups_of(dave).await.expect("groups of"), vec![]);

    let unknown = GroupId::generate();
    assert_eq!(store.group(unknown).await.expect("group"), None);
    assert!(store.members(unknown).await.expect("members").is_empty());
    let again = store
        .create_group(record, &[(dave, GroupRole::Owner)])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

/// Adding (once), re-roling and removing members; members are listed by
/// when they joined.
pub async fn groups_membership_changes<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let g = group(&store, alice, &[]).await;

    store
        .add_member(g, bob, GroupRole::Member, at(20))
        .await
        .expect("add");
    store
        .add_member(g, carol, GroupRole::Admin, at(10))
        .await
        .expect("add");
    let again = store.add_member(g, bob, GroupRole::Admin, at(30)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store.members(g).await.expect("members"),
        vec![
            member(alice, "alice", GroupRole::Owner, 0),
            member(carol, "carol", GroupRole::Admin, 10),
            member(bob, "bob", GroupRole::Member, 20),
        ],
        "oldest first; the failed add changed nothing"
    );

    store
        .set_member_role(g, bob, GroupRole::Admin)
        .await
        .expect("set role");
    let bob_now = store.membership(g, bob).await.expect("membership");
    assert_eq!(bob_now.map(|m| m.role), Some(GroupRole::Admin));
    let outsider = UserId::generate();
    let not_member = store.set_member_role(g, outsider, GroupRole::Admin).await;
    assert!(
        matches!(not_member, Err(StoreError::NotFound(_))),
        "{not_member:?}"
    );

    assert!(store.remove_member(g, bob).await.expect("remove"));
    assert!(
        !store.remove_member(g, bob).await.expect("remove"),
        "no longer a member"
    );
    assert_eq!(store.membership(g, bob).await.expect("membership"), None);
    assert!(store.groups_of(bob).await.expect("groups of").is_empty());
    assert_eq!(store.members(g).await.expect("members").len(), 2);

    let no_group = store
        .add_member(GroupId::generate(), bob, GroupRole::Member, at(40))
        .await;
    assert!(no_group.is_err(), "{no_group:?}");
}

/// Name and visibility change independently; unknown groups are `NotFound`.
pub async fn groups_update<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let g = group(&store, alice, &[]).await;
    let name = |s: &str| GroupName::parse(s).expect("group name");

    store
        .update_group(g, Some(name("renamed")), None)
        .await
        .expect("update");
    let now = store.group(g).await.expect("group").expect("found");
    assert_eq!((now.name.as_str(), now.history_visible), ("renamed", false));

    store
        .update_group(g, None, Some(true))
        .await
        .expect("update");
    let now = store.group(g).await.expect("group").expect("found");
    assert_eq!((now.name.as_str(), now.history_visible), ("renamed", true));

    store
        .update_group(g, Some(name("both")), Some(false))
        .await
        .expect("update");
    let now = store.group(g).await.expect("group").expect("found");
    assert_eq!((now.name.as_str(), now.history_visible), ("both", false));
    assert_eq!(now.created_at, at(0));

    let unknown = store
        .update_group(GroupId::generate(), Some(name("x")), None)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// Deleting a group drops it and its memberships; its messages stay in
/// the inboxes that hold them.
pub async fn groups_delete_keeps_messages<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let g = group(&store, alice, &[bob]).await;
    let m = send_group(&store, alice, g, &[alice, bob], "bye", at(5)).await;

    store.delete_group(g).await.expect("delete");
    assert_eq!(store.group(g).await.expect("group"), None);
    assert!(store.members(g).await.expect("members").is_empty());
    assert!(store.groups_of(alice).await.expect("groups of").is_empty());
    assert_eq!(store.membership(g, bob).await.expect("membership"), None);

    let kept = inbox(&store, bob).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, m.to_string());
    assert_eq!(kept[0].group, Some(g.to_string()));
    assert_eq!(kept[0].text.as_deref(), Some("bye"));
    let record = store.message(m).await.expect("message").expect("kept");
    assert_eq!(record.conversation, Conversation::Group(g));

    let unknown = store.delete_group(GroupId::generate()).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// History holds only the group's messages, newest first, within
/// `[since, before)`, at most `limit`, as `message` events with seq 0.
pub async fn group_history_filters_and_orders<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let g = group(&store, alice, &[bob]).await;
    let other = group(&store, alice, &[bob]).await;
    let mut ids = Vec::new();
    for (i, ms) in [100, 200, 300, 400, 500].into_iter().enumerate() {
        let from = if i % 2 == 0 { alice } else { bob };
        let body = format!("g{ms}");
        ids.push(send_group(&store, from, g, &[alice, bob], &body, at(ms)).await);
    }
    send_group(&store, alice, other, &[alice, bob], "other group", at(250)).await;
    send_direct(&store, alice, bob, "direct", at(350)).await;

    let texts = |since: Option<i64>, before: Option<i64>, limit: u32| {
        let store = &store;
        async move {
            store
                .group_history(g, since.map(at), before.map(at), limit)
                .await
                .expect("history")
                .into_iter()
                .map(|e| e.text.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        texts(None, None, 100).await,
        vec!["g500", "g400", "g300", "g200", "g100"]
    );
    assert_eq!(
        texts(Some(200), None, 100).await,
        vec!["g500", "g400", "g300", "g200"],
        "since is inclusive"
    );
    assert_eq!(
        texts(None, Some(400), 100).await,
        vec!["g300", "g200", "g100"],
        "before is exclusive"
    );
    assert_eq!(texts(Some(200), Some(400), 100).await, vec!["g300", "g200"]);
    assert_eq!(texts(None, None, 2).await, vec!["g500", "g400"]);
    assert_eq!(texts(None, Some(500), 2).await, vec!["g400", "g300"]);
    assert!(texts(Some(600), None, 10).await.is_empty());

    let newest = store
        .group_history(g, None, None, 1)
        .await
        .expect("history");
    let e = &newest[0];
    assert_eq!(e.seq, 0);
    assert_eq!(e.kind, EventKind::Message);
    assert_eq!(e.id, ids[4].to_string());
    assert_eq!(e.from.as_deref(), Some("alice"));
    assert_eq!(
        (e.to.as_deref(), e.group.clone()),
        (None, Some(g.to_string()))
    );
    assert_eq!((e.sent_at, e.at), (at(500).0, at(500).0));
    assert!(!e.recalled);

    let unknown = store
        .group_history(GroupId::generate(), None, None, 10)
        .await
        .expect("history");
    assert!(unknown.is_empty());
}
