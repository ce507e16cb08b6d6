//! Builders for the records the cases store, and short ways to read back.

use oriole_core::domain::{
    DeviceId, GroupId, GroupName, IdempotencyKey, InboxSeq, MessageBody, MessageId, Timestamp,
    UserId, Username,
};
use oriole_core::store::{
    Appended, Conversation, GroupRecord, NewDevice, NewMessage, NewUser, Store,
};
use oriole_crypto::{PasswordHashString, TokenHash};
use oriole_proto::{GroupRole, InboxEvent};

/// A fixed origin, so expected times are plain numbers.
pub const T0: i64 = 1_700_000_000_000;

/// `ms` milliseconds after [`T0`].
pub fn at(ms: i64) -> Timestamp {
    Timestamp(T0 + ms)
}

pub fn username(name: &str) -> Username {
    Username::parse(name).expect("a valid username")
}

/// A user without phone or email.
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        username: username(name),
        password_hash: PasswordHashString::from_stored(format!("$argon2id$hash-of-{name}")),
        phone: None,
        email: None,
        created_at: at(0),
    }
}

/// Create a user named `name` and return its id.
pub async fn user<S: Store>(store: &S, name: &str) -> UserId {
    let user = new_user(name);
    let id = user.id;
    store.create_user(user).await.expect("create user");
    id
}

/// A device of `user` whose token is `token`.
pub fn new_device(user: UserId, token: &str, at: Timestamp) -> NewDevice {
    NewDevice {
        id: DeviceId::generate(),
        user_id: user,
        token_hash: TokenHash::of(token),
        device_model: None,
        os_version: None,
        ip: None,
        at,
    }
}

pub fn text(text: &str) -> MessageBody {
    MessageBody {
        text: Some(text.to_owned()),
        payload_json: None,
    }
}

pub fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw).expect("a valid idempotency key")
}

pub fn message(
    from: UserId,
    to: Conversation,
    body: MessageBody,
    sent_at: Timestamp,
) -> NewMessage {
    NewMessage {
        id: MessageId::generate(),
        sender: from,
        conversation: to,
        body,
        sent_at,
        idempotency_key: None,
    }
}

/// Append a message that must be new; returns its id and inbox entries.
pub async fn append<S: Store>(
    store: &S,
    msg: NewMessage,
    recipients: &[UserId],
) -> (MessageId, Vec<(UserId, InboxSeq)>) {
    match store.append_message(msg, recipients).await.expect("append") {
        Appended::New {
            message_id, seqs, ..
        } => (message_id, seqs),
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// Send a direct text message (`from` and `to` both get an entry).
pub async fn send_direct<S: Store>(
    store: &S,
    from: UserId,
    to: UserId,
    body: &str,
    sent_at: Timestamp,
) -> MessageId {
    let msg = message(from, Conversation::Direct(to), text(body), sent_at);
    append(store, msg, &[from, to]).await.0
}

/// Send a group text message to `members` (the sender among them).
pub async fn send_group<S: Store>(
    store: &S,
    from: UserId,
    group: GroupId,
    members: &[UserId],
    body: &str,
    sent_at: Timestamp,
) -> MessageId {
    let msg = message(from, Conversation::Group(group), text(body), sent_at);
    append(store, msg, members).await.0
}

pub fn group_record(name: &str, created_at: Timestamp) -> GroupRecord {
    GroupRecord {
        id: GroupId::generate(),
        name: GroupName::parse(name).expect("a valid group name"),
        history_visible: false,
        created_at,
    }
}

/// Create a group owned by `owner` with `members` as plain members.
pub async fn group<S: Store>(store: &S, owner: UserId, members: &[UserId]) -> GroupId {
    let record = group_record("friends", at(0));
    let id = record.id;
    let mut all = vec![(owner, GroupRole::Owner)];
    all.extend(members.iter().map(|m| (*m, GroupRole::Member)));
    store
        .create_group(record, &all)
        .await
        .expect("create group");
    id
}

/// The whole inbox of `user`.
pub async fn inbox<S: Store>(store: &S, user: UserId) -> Vec<InboxEvent> {
    store
        .inbox_after(user, InboxSeq(0), u32::MAX)
        .await
        .expect("inbox")
}

/// The seqs in the whole inbox of `user`, in the order returned.
pub async fn seqs<S: Store>(store: &S, user: UserId) -> Vec<u64> {
    inbox(store, user).await.iter().map(|e| e.seq).collect()
}

pub async fn head<S: Store>(store: &S, user: UserId) -> u64 {
    store.inbox_head(user).await.expect("inbox head").0
}

/// The event with `seq` in `user`'s inbox.
pub async fn event<S: Store>(store: &S, user: UserId, seq: u64) -> InboxEvent {
    store
        .inbox_after(user, InboxSeq(seq - 1), 1)
        .await
        .expect("inbox")
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap_or_else(|| panic!("no event {seq} in the inbox"))
}
