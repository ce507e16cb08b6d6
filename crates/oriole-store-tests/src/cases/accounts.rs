//! Users, devices and sessions.

use oriole_core::domain::{DeviceId, DeviceLabel, Email, Phone, UserId};
use oriole_core::store::{NewUser, SessionRecord, Store, StoreError, UserRecord};
use oriole_crypto::TokenHash;

use crate::fixtures::{at, new_device, new_user, user, username};

fn assert_user(found: &UserRecord, expected: &NewUser) {
    assert_eq!(found.id, expected.id);
    assert_eq!(found.username, expected.username);
    assert_eq!(found.password_hash, expected.password_hash);
    assert_eq!(found.phone, expected.phone, "phone");
    assert_eq!(found.email, expected.email, "email");
    assert_eq!(found.created_at, expected.created_at);
}

/// A user reads back by name and by id with every field, contact fields
/// included; unknown names and ids find nothing.
pub async fn users_round_trip<S: Store>(store: S) {
    let alice = NewUser {
        phone: Some(Phone::parse("+14155550100").expect("phone")),
        email: Some(Email::parse("alice@example.org").expect("email")),
        created_at: at(7),
        ..new_user("alice")
    };
    store.create_user(alice.clone()).await.expect("create");
    let bob = new_user("bob");
    store.create_user(bob.clone()).await.expect("create");

    let by_name = store
        .user_by_name(&username("alice"))
        .await
        .expect("lookup");
    assert_user(&by_name.expect("alice by name"), &alice);
    let by_id = store.user_by_id(alice.id).await.expect("lookup");
    assert_user(&by_id.expect("alice by id"), &alice);
    let bob_found = store.user_by_id(bob.id).await.expect("lookup");
    assert_user(&bob_found.expect("bob by id"), &bob);

    let nobody = store
        .user_by_name(&username("nobody"))
        .await
        .expect("lookup");
    assert!(nobody.is_none());
    let nobody = store.user_by_id(UserId::generate()).await.expect("lookup");
    assert!(nobody.is_none());
}

/// A taken username is a `Conflict`, and the first account is untouched.
pub async fn users_duplicate_username_conflicts<S: Store>(store: S) {
    let first = user(&store, "alice").await;
    let again = store.create_user(new_user("alice")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let found = store
        .user_by_name(&username("alice"))
        .await
        .expect("lookup");
    assert_eq!(found.map(|u| u.id), Some(first));
}

/// Users are found by phone and by email (in any letter case); unknown
/// values and users without them find nothing.
pub async fn users_find_by_phone_and_email<S: Store>(store: S) {
    let alice = NewUser {
        phone: Some(Phone::parse("+14155550100").expect("phone")),
        email: Some(Email::parse("Alice.Smith@example.org").expect("email")),
        ..new_user("alice")
    };
    store.create_user(alice.clone()).await.expect("create");
    let bob = NewUser {
        phone: Some(Phone::parse("+14155550101").expect("phone")),
        ..new_user("bob")
    };
    store.create_user(bob.clone()).await.expect("create");
    user(&store, "carol").await;

    let by_phone = store
        .user_by_phone(&Phone::parse("+1 415 555 0100").expect("phone"))
        .await
        .expect("lookup");
    assert_user(&by_phone.expect("alice by phone"), &alice);
    let by_phone = store
        .user_by_phone(&Phone::parse("+14155550101").expect("phone"))
        .await
        .expect("lookup");
    assert_user(&by_phone.expect("bob by phone"), &bob);
    for email in ["Alice.Smith@example.org", "alice.smith@EXAMPLE.org"] {
        let by_email = store
            .user_by_email(&Email::parse(email).expect("email"))
            .await
            .expect("lookup");
        assert_user(&by_email.expect("alice by email"), &alice);
    }

    let nobody = store
        .user_by_phone(&Phone::parse("+14155550199").expect("phone"))
        .await
        .expect("lookup");
    assert!(nobody.is_none());
    let nobody = store
        .user_by_email(&Email::parse("bob@example.org").expect("email"))
        .await
        .expect("lookup");
    assert!(nobody.is_none());
}

/// A phone or email already in use is a `Conflict` naming the field (and
/// never its value); the first account keeps it. Any number of accounts
/// may have none.
pub async fn users_duplicate_phone_or_email_conflicts<S: Store>(store: S) {
    let alice = NewUser {
        phone: Some(Phone::parse("+14155550100").expect("phone")),
        email: Some(Email::parse("alice@example.org").expect("email")),
        ..new_user("alice")
    };
    store.create_user(alice.clone()).await.expect("create");
    user(&store, "carol").await;
    user(&store, "dave").await;

    let same_phone = NewUser {
        phone: alice.phone.clone(),
        ..new_user("bob")
    };
    match store.create_user(same_phone).await {
        Err(StoreError::Conflict(m)) => assert_eq!(m, "phone already in use"),
        other => panic!("expected a phone conflict, got {other:?}"),
    }
    let same_email = NewUser {
        email: Some(Email::parse("ALICE@example.org").expect("email")),
        ..new_user("bob")
    };
    match store.create_user(same_email).await {
        Err(StoreError::Conflict(m)) => assert_eq!(m, "email already in use"),
        other => panic!("expected an email conflict, got {other:?}"),
    }
    assert!(store
        .user_by_name(&username("bob"))
        .await
        .expect("lookup")
        .is_none());
    let owner = store
        .user_by_phone(alice.phone.as_ref().expect("phone"))
        .await
        .expect("lookup");
    assert_eq!(owner.map(|u| u.id), Some(alice.id));
}

/// A device's token resolves to its session; devices list oldest first
/// with the reported labels and IP.
pub async fn devices_resolve_sessions<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let phone = {
        let mut d = new_device(alice, "token-phone", at(10));
        d.device_model = Some(DeviceLabel::parse("Pixel 8", "device_model").expect("label"));
        d.os_version = Some(DeviceLabel::parse("Android 15", "os_version").expect("label"));
        d.ip = Some("203.0.113.7".to_owned());
        d
    };
    let laptop = new_device(alice, "token-laptop", at(20));
    // Created out of order: the list is by first use, not by insertion.
    store.create_device(laptop.clone()).await.expect("device");
    store.create_device(phone.clone()).await.expect("device");

    let session = store
        .session_by_token(&TokenHash::of("token-phone"))
        .await
        .expect("session");
    assert_eq!(
        session,
        Some(SessionRecord {
            device_id: phone.id,
            user_id: alice,
            username: username("alice"),
            last_seen: at(10),
        })
    );
    let unknown = store
        .session_by_token(&TokenHash::of("token-unknown"))
        .await
        .expect("session");
    assert_eq!(unknown, None);

    let devices = store.devices(alice).await.expect("devices");
    let ids: Vec<DeviceId> = devices.iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![phone.id, laptop.id], "oldest first");
    let first = &devices[0];
    assert_eq!(first.user_id, alice);
    assert_eq!(first.device_model, phone.device_model);
    assert_eq!(first.os_version, phone.os_version);
    assert_eq!(first.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!((first.first_seen, first.last_seen), (at(10), at(10)));
    let second = &devices[1];
    assert_eq!(
        (&second.device_model, &second.os_version, &second.ip),
        (&None, &None, &None)
    );
    assert!(store.devices(bob).await.expect("devices").is_empty());
}

/// Token hashes are unique.
pub async fn devices_duplicate_token_conflicts<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .create_device(new_device(alice, "same-token", at(1)))
        .await
        .expect("device");
    let again = store
        .create_device(new_device(bob, "same-token", at(2)))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

/// Only the owner revokes a device, once; a revoked token no longer
/// resolves and the device leaves the list.
pub async fn devices_revoke_only_own_live_devices<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let phone = new_device(alice, "token-phone", at(1));
    let laptop = new_device(alice, "token-laptop", at(2));
    store.create_device(phone.clone()).await.expect("device");
    store.create_device(laptop.clone()).await.expect("device");
    let token = TokenHash::of("token-phone");

    let by_bob = store.revoke_device(bob, phone.id, at(5)).await;
    assert!(!by_bob.expect("revoke"), "bob cannot revoke alice's device");
    let still = store.session_by_token(&token).await.expect("session");
    assert!(still.is_some());

    assert!(store
        .revoke_device(alice, phone.id, at(6))
        .await
        .expect("revoke"));
    assert_eq!(store.session_by_token(&token).await.expect("session"), None);
    let live: Vec<DeviceId> = store
        .devices(alice)
        .await
        .expect("devices")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(live, vec![laptop.id]);

    let twice = store.revoke_device(alice, phone.id, at(7)).await;
    assert!(!twice.expect("revoke"), "already revoked");
    let unknown = store
        .revoke_device(alice, DeviceId::generate(), at(8))
        .await;
    assert!(!unknown.expect("revoke"));
    let other = store
        .session_by_token(&TokenHash::of("token-laptop"))
        .await
        .expect("session");
    assert!(other.is_some(), "the other device stays logged in");
}

/// Touching moves `last_seen`, not `first_seen`.
pub async fn devices_touch_updates_last_seen<S: Store>(store: S) {
    let alice = user(&store, "alice").await;
    let phone = new_device(alice, "token-phone", at(10));
    store.create_device(phone.clone()).await.expect("device");
    store.touch_device(phone.id, at(50)).await.expect("touch");

    let session = store
        .session_by_token(&TokenHash::of("token-phone"))
        .await
        .expect("session")
        .expect("live");
    assert_eq!(session.last_seen, at(50));
    let devices = store.devices(alice).await.expect("devices");
    assert_eq!(
        devices
            .iter()
            .map(|d| (d.first_seen, d.last_seen))
            .collect::<Vec<_>>(),
        vec![(at(10), at(50))]
    );
}
