//! The in-process live-delivery hub: which devices of which user have a
//! WebSocket open, and a bounded queue to each. Implements the core's
//! [`Fanout`] port for a single node.
//!
//! Delivery never blocks a sender: when a connection's queue is full the
//! event is dropped and the connection is marked as lagging, and it then
//! re-reads what it missed from the store (the inbox is the truth).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use oriole_core::domain::{DeviceId, UserId};
use oriole_core::Fanout;
use oriole_proto::{InboxEvent, PolicyNotice, UserNotice};
use tokio::sync::{broadcast, mpsc, Notify};
use tokio_util::sync::CancellationToken;

type ConnId = u64;

/// The hub's side of one connection.
struct Outlet {
    device: DeviceId,
    events: mpsc::Sender<Box<InboxEvent>>,
    lagging: Arc<AtomicBool>,
    revoked: CancellationToken,
    accepted: Arc<Notify>,
}

/// Connections per user and per device. Most users and devices have one
/// or two connections, so each keeps a `Vec`: a map per user cost an idle
/// connection a few hundred bytes of empty buckets.
#[derive(Default)]
struct Registry {
    by_user: HashMap<UserId, Vec<(ConnId, Outlet)>>,
    by_device: HashMap<DeviceId, Vec<(UserId, ConnId)>>,
}

pub struct Hub {
    registry: Mutex<Registry>,
    /// Privacy policy notices, to every connection.
    notices: broadcast::Sender<PolicyNotice>,
    /// Notices to one user (a legal disclosure), to every connection; each
    /// keeps its own user's.
    user_notices: broadcast::Sender<(UserId, Arc<UserNotice>)>,
    queue_len: usize,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl Hub {
    /// A hub that queues at most `queue_len` events per connection.
    pub fn new(queue_len: usize) -> Arc<Hub> {
        Arc::new(Hub {
            registry: Mutex::new(Registry::default()),
            // Notices are rare; a connection that misses some still gets
            // the current one at its next connection or sync.
            notices: broadcast::channel(4).0,
            // Rare too; one missed is delivered at the next connection.
            user_notices: broadcast::channel(64).0,
            queue_len: queue_len.max(1),
            next_id: AtomicU64::new(1),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the maps consistent (every
        // mutation is a single insert or remove), so poisoning is ignored.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start receiving `user`'s inbox events on a connection of `device`.
    /// Dropping the returned [`Subscription`] unregisters it.
    pub fn register(self: &Arc<Self>, user: UserId, device: DeviceId) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue_len);
        let lagging = Arc::new(AtomicBool::new(false));
        let revoked = CancellationToken::new();
        let accepted = Arc::new(Notify::new());
        let mut registry = self.registry();
        registry.by_user.entry(user).or_default().push((
            id,
            Outlet {
                device,
                events: tx,
                lagging: lagging.clone(),
                revoked: revoked.clone(),
                accepted: accepted.clone(),
            },
        ));
        registry
            .by_device
            .entry(device)
            .or_default()
            .push((user, id));
        Subscription {
            notices: self.notices.subscribe(),
            user_notices: self.user_notices.subscribe(),
            hub: self.clone(),
            id,
            user,
            device,
            events: rx,
            lagging,
            revoked,
            accepted,
        }
    }

    fn unregister(&self, user: UserId, device: DeviceId, id: ConnId) {
        let mut registry = self.registry();
        if let Some(conns) = registry.by_user.get_mut(&user) {
            conns.retain(|(conn, _)| *conn != id);
            if conns.is_empty() {
                registry.by_user.remove(&user);
            }
        }
        if let Some(conns) = registry.by_device.get_mut(&device) {
            conns.retain(|entry| *entry != (user, id));
            if conns.is_empty() {
                registry.by_device.remove(&device);
            }
        }
    }

    /// Open connections, all users together.
    pub fn connection_count(&self) -> usize {
        self.registry().by_user.values().map(Vec::len).sum()
    }
}

impl Fanout for Hub {
    fn deliver(&self, user: UserId, event: InboxEvent) {
        let registry = self.registry();
        let Some(conns) = registry.by_user.get(&user) else {
            return;
        };
        // Copied for every connection but the last, which takes the event.
        let last = conns.len().saturating_sub(1);
        let mut event = Some(event);
        for (i, (_, outlet)) in conns.iter().enumerate() {
            let copy = if i == last {
                event.take()
            } else {
                event.clone()
            };
            let Some(copy) = copy else { break };
            match outlet.events.try_send(Box::new(copy)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    outlet.lagging.store(true, Ordering::Release);
                }
                // The connection is ending; it unregisters itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    fn announce_policy(&self, notice: PolicyNotice) -> Vec<UserId> {
        let users: Vec<UserId> = self.registry().by_user.keys().copied().collect();
        // No receiver: no connection is open.
        let _ = self.notices.send(notice);
        users
    }

    fn policy_accepted(&self, user: UserId) {
        if let Some(conns) = self.registry().by_user.get(&user) {
            for (_, outlet) in conns {
                // Kept as a permit when the session is not waiting yet.
                outlet.accepted.notify_one();
            }
        }
    }

    fn notify(&self, user: UserId, notice: UserNotice) -> bool {
        if !self.registry().by_user.contains_key(&user) {
            return false;
        }
        self.user_notices.send((user, Arc::new(notice))).is_ok()
    }

    fn disconnect_device(&self, device: DeviceId) {
        let registry = self.registry();
        let Some(conns) = registry.by_device.get(&device) else {
            return;
        };
        for (user, id) in conns {
            let outlet = registry
                .by_user
                .get(user)
                .and_then(|c| c.iter().find(|(conn, _)| conn == id));
            if let Some((_, outlet)) = outlet {
                debug_assert_eq!(outlet.device, device);
                outlet.revoked.cancel();
            }
        }
    }
}

/// A connection's side: its queue of live events, its lagging mark and its
/// revocation signal.
pub struct Subscription {
    hub: Arc<Hub>,
    id: ConnId,
    user: UserId,
    device: DeviceId,
    /// Boxed: a channel allocates its slots in blocks of 32, and a slot of
    /// a whole `InboxEvent` made that block most of an idle connection's
    /// memory.
    pub events: mpsc::Receiver<Box<InboxEvent>>,
    /// Privacy policy notices for every connection.
    pub notices: broadcast::Receiver<PolicyNotice>,
    /// Notices to one user, as `(user, notice)`: keep this user's only.
    pub user_notices: broadcast::Receiver<(UserId, Arc<UserNotice>)>,
    lagging: Arc<AtomicBool>,
    pub revoked: CancellationToken,
    /// The user accepted the policy in force (see
    /// [`Fanout::policy_accepted`]).
    pub accepted: Arc<Notify>,
}

impl Subscription {
    /// Whether events were dropped since the last call (the queue was full).
    pub fn take_lagging(&self) -> bool {
        self.lagging.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.user, self.device, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oriole_proto::EventKind;

    fn event(seq: u64) -> InboxEvent {
        InboxEvent {
            seq,
            kind: EventKind::Message,
            id: format!("m{seq}"),
            from: Some("alice".into()),
            to: Some("bob".into()),
            group: None,
            text: Some("hi".into()),
            payload: None,
            sent_at: 1,
            at: 1,
            receipt: None,
            recalled: false,
        }
    }

    #[tokio::test]
    async fn delivers_to_every_connection_of_the_user_only() {
        let hub = Hub::new(8);
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut a1 = hub.register(alice, DeviceId::generate());
        let mut a2 = hub.register(alice, DeviceId::generate());
        let mut b = hub.register(bob, DeviceId::generate());
        hub.deliver(alice, event(1));
        assert_eq!(a1.events.recv().await.map(|e| e.seq), Some(1));
        assert_eq!(a2.events.recv().await.map(|e| e.seq), Some(1));
        assert!(b.events.try_recv().is_err());
        assert_eq!(hub.connection_count(), 3);
        drop(a1);
        drop(a2);
        drop(b);
        assert_eq!(hub.connection_count(), 0);
        hub.deliver(alice, event(2));
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_connection_lagging() {
        let hub = Hub::new(2);
        let user = UserId::generate();
        let mut sub = hub.register(user, DeviceId::generate());
        for seq in 1..=5 {
            hub.deliver(user, event(seq));
        }
        assert!(sub.take_lagging());
        assert!(!sub.take_lagging(), "the mark is taken once");
        assert_eq!(sub.events.recv().await.map(|e| e.seq), Some(1));
        assert_eq!(sub.events.recv().await.map(|e| e.seq), Some(2));
        assert!(sub.events.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_policy_notice_reaches_every_connection_and_names_their_users() {
        let hub = Hub::new(2);
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut a1 = hub.register(alice, DeviceId::generate());
        let mut a2 = hub.register(alice, DeviceId::generate());
        let mut b = hub.register(bob, DeviceId::generate());
        let notice = oriole_proto::PolicyNotice {
            version: 2,
            material: true,
            published_at: 1,
            message: "v2".into(),
        };
        let mut reached = hub.announce_policy(notice.clone());
        reached.sort();
        let mut expected = vec![alice, bob];
        expected.sort();
        assert_eq!(reached, expected);
        for sub in [&mut a1, &mut a2, &mut b] {
            assert_eq!(sub.notices.recv().await.ok(), Some(notice.clone()));
        }
        drop((a1, a2, b));
        assert!(hub.announce_policy(notice).is_empty(), "nobody connected");
    }

    #[tokio::test]
    async fn disconnect_device_signals_only_that_device() {
        let hub = Hub::new(2);
        let user = UserId::generate();
        let (phone, laptop) = (DeviceId::generate(), DeviceId::generate());
        let p1 = hub.register(user, phone);
        let p2 = hub.register(user, phone);
        let l = hub.register(user, laptop);
        hub.disconnect_device(phone);
        assert!(p1.revoked.is_cancelled());
        assert!(p2.revoked.is_cancelled());
        assert!(!l.revoked.is_cancelled());
        hub.disconnect_device(DeviceId::generate());
    }
}
