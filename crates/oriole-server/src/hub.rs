//! The in-process live-delivery hub: which devices of which user have a
//! WebSocket open, and a bounded queue to each. Implements the core's
//! [`Fanout`] port for a single node.
//!
//! Delivery never blocks a sender: when a connection's queue is full the
//! event is dropped and the connection is marked as lagging, and it then
//! re-reads what it missed from the store (the inbox is the truth).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use oriole_core::domain::{DeviceId, InboxSeq, UserId};
use oriole_core::Fanout;
use oriole_proto::{InboxEvent, PolicyNotice, UserNotice};
use tokio::sync::futures::Notified;
use tokio::sync::{broadcast, Notify};

type ConnId = u64;

/// An inbox event as queued to one connection: its seq in that user's
/// inbox, and the event every inbox it went to shares.
#[derive(Debug)]
pub struct Live {
    pub seq: u64,
    pub event: Arc<SharedEvent>,
}

/// One event fanned out to many inboxes: copied and encoded once, however
/// many members get it.
#[derive(Debug)]
pub struct SharedEvent {
    /// With seq 0: each connection's [`Live::seq`] is its own.
    event: InboxEvent,
    /// The event as JSON with seq 0, encoded at first use: each `event`
    /// frame is its tail after the seq, spliced after the frame's head.
    encoded: OnceLock<Result<String, String>>,
}

/// The start of every `event` frame, up to its seq. `ServerFrame::Event`
/// flattens the event after the tag, and `seq` is the event's first field
/// (a test checks the splice against serde's own encoding).
const EVENT_FRAME_HEAD: &str = r#"{"type":"event","seq":"#;
/// The start of an event encoded on its own, with seq 0: what follows is
/// the frame's tail.
const EVENT_HEAD: &str = r#"{"seq":0"#;
/// Bytes of an encoded event besides its text, with room to spare: ids,
/// names, times and field names.
const EVENT_ENCODED: usize = 384;

impl SharedEvent {
    pub fn new(mut event: InboxEvent) -> Arc<SharedEvent> {
        event.seq = 0;
        Arc::new(SharedEvent {
            event,
            encoded: OnceLock::new(),
        })
    }

    /// The event as it stands at `seq`.
    pub fn at(&self, seq: u64) -> InboxEvent {
        InboxEvent {
            seq,
            ..self.event.clone()
        }
    }

    /// The whole `event` frame at `seq`, as JSON text.
    pub fn frame(&self, seq: u64) -> Result<String, String> {
        let encoded = self
            .encoded
            .get_or_init(|| {
                // The event on its own, not wrapped in a frame: the frame
                // would own a copy (every string cloned), and its encoding
                // differs only by the tag before `seq`. Sized for the
                // fields around the text, so the buffer does not grow.
                let text = self.event.text.as_ref().map_or(0, String::len);
                let mut full = Vec::with_capacity(EVENT_ENCODED + text + text / 8);
                serde_json::to_writer(&mut full, &self.event).map_err(|e| e.to_string())?;
                let full = String::from_utf8(full).map_err(|e| e.to_string())?;
                if !full.starts_with(EVENT_HEAD) {
                    return Err(format!("unexpected event layout: {full}"));
                }
                Ok(full)
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let tail = &encoded[EVENT_HEAD.len()..];
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(seq);
        let mut frame = String::with_capacity(EVENT_FRAME_HEAD.len() + digits.len() + tail.len());
        frame.push_str(EVENT_FRAME_HEAD);
        frame.push_str(digits);
        frame.push_str(tail);
        Ok(frame)
    }
}

/// The hub's side of one connection.
struct Outlet {
    device: DeviceId,
    events: Arc<Queue>,
}

/// One connection's live events, pushed by the hub and taken by its
/// session, and its two signals (revoked, policy accepted): one
/// allocation per connection, where a cancellation token and a shared
/// `Notify` were one more each (about 0.2 KiB together). Most connections
/// are idle: the queue allocates nothing until its first event and gives
/// its room back when drained (a channel kept a block of 32 slots, about
/// 0.3 KiB, for every connection).
#[derive(Default)]
struct Queue {
    events: Mutex<VecDeque<Box<Live>>>,
    /// Rung after every push; a ring with nobody waiting is kept.
    ready: Notify,
    /// Events were dropped because the queue was full.
    lagging: AtomicBool,
    /// The connection's device was revoked; set once, never cleared.
    revoked: AtomicBool,
    /// Rung for everyone waiting when `revoked` is set.
    revocation: Notify,
    /// The user accepted the policy in force; a ring with nobody waiting
    /// is kept.
    accepted: Notify,
}

/// Room a drained queue keeps: a few events, as one 1:1 chat brings.
const DRAINED_ROOM: usize = 4;

impl Queue {
    fn events(&self) -> MutexGuard<'_, VecDeque<Box<Live>>> {
        // Every mutation is a single push or pop: poisoning is ignored.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The session's end of its connection's [`Queue`].
pub struct LiveEvents(Arc<Queue>);

/// The session's view of its connection's revocation: set once by
/// [`Fanout::disconnect_device`], never cleared.
pub struct Revoked(Arc<Queue>);

impl Revoked {
    pub fn is_cancelled(&self) -> bool {
        self.0.revoked.load(Ordering::SeqCst)
    }

    /// Completes once the device is revoked (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            // Made before looking: `notify_waiters` wakes every `Notified`
            // made before it, polled or not.
            let ringing = self.0.revocation.notified();
            if self.is_cancelled() {
                return;
            }
            ringing.await;
        }
    }
}

/// The session's end of the policy-accepted signal (see
/// [`Fanout::policy_accepted`]).
pub struct Accepted(Arc<Queue>);

impl Accepted {
    /// Completes at the next acceptance, or at once for one made while
    /// nobody was waiting.
    pub fn notified(&self) -> Notified<'_> {
        self.0.accepted.notified()
    }
}

/// [`LiveEvents::try_recv`] found the queue empty.
#[derive(Debug, PartialEq, Eq)]
pub struct Empty;

impl LiveEvents {
    /// The next event, once there is one. Never `None`: the hub keeps the
    /// queue for as long as the subscription lives.
    pub async fn recv(&self) -> Option<Box<Live>> {
        loop {
            // Made before looking, so a push after the look still wakes it.
            let ready = self.0.ready.notified();
            if let Ok(live) = self.try_recv() {
                return Some(live);
            }
            ready.await;
        }
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Result<Box<Live>, Empty> {
        let mut events = self.0.events();
        let live = events.pop_front().ok_or(Empty)?;
        if events.is_empty() && events.capacity() > DRAINED_ROOM {
            *events = VecDeque::new();
        }
        Ok(live)
    }
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
        let queue = Arc::new(Queue::default());
        let mut registry = self.registry();
        // Room for one at first: most users and devices have one
        // connection (a first push would make room for four).
        registry
            .by_user
            .entry(user)
            .or_insert_with(|| Vec::with_capacity(1))
            .push((
                id,
                Outlet {
                    device,
                    events: queue.clone(),
                },
            ));
        registry
            .by_device
            .entry(device)
            .or_insert_with(|| Vec::with_capacity(1))
            .push((user, id));
        Subscription {
            notices: self.notices.subscribe(),
            user_notices: self.user_notices.subscribe(),
            hub: self.clone(),
            id,
            user,
            device,
            events: LiveEvents(queue.clone()),
            revoked: Revoked(queue.clone()),
            accepted: Accepted(queue),
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

    /// Queue `event` at `seq` to every connection of `user`.
    fn push(&self, registry: &Registry, user: UserId, seq: u64, event: &Arc<SharedEvent>) {
        let Some(conns) = registry.by_user.get(&user) else {
            return;
        };
        for (_, outlet) in conns {
            let live = Box::new(Live {
                seq,
                event: event.clone(),
            });
            let queue = &outlet.events;
            let mut events = queue.events();
            if events.len() >= self.queue_len {
                drop(events);
                queue.lagging.store(true, Ordering::Release);
            } else {
                events.push_back(live);
                drop(events);
                queue.ready.notify_one();
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
        let seq = event.seq;
        self.push(&self.registry(), user, seq, &SharedEvent::new(event));
    }

    fn deliver_each(&self, seqs: &[(UserId, InboxSeq)], event: InboxEvent) {
        let shared = SharedEvent::new(event);
        let registry = self.registry();
        for (user, seq) in seqs {
            self.push(&registry, *user, seq.0, &shared);
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
                outlet.events.accepted.notify_one();
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
                outlet.events.revoked.store(true, Ordering::SeqCst);
                outlet.events.revocation.notify_waiters();
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
    /// Boxed, so that a queue's room is a pointer per event.
    pub events: LiveEvents,
    /// Privacy policy notices for every connection.
    pub notices: broadcast::Receiver<PolicyNotice>,
    /// Notices to one user, as `(user, notice)`: keep this user's only.
    pub user_notices: broadcast::Receiver<(UserId, Arc<UserNotice>)>,
    /// The connection's device was revoked.
    pub revoked: Revoked,
    /// The user accepted the policy in force (see
    /// [`Fanout::policy_accepted`]).
    pub accepted: Accepted,
}

impl Subscription {
    /// Whether events were dropped since the last call (the queue was full).
    pub fn take_lagging(&self) -> bool {
        self.events.0.lagging.swap(false, Ordering::AcqRel)
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
    use oriole_proto::{EventKind, ServerFrame};

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
        let a1 = hub.register(alice, DeviceId::generate());
        let a2 = hub.register(alice, DeviceId::generate());
        let b = hub.register(bob, DeviceId::generate());
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

    #[test]
    fn a_shared_frame_is_what_serde_encodes_at_each_seq() {
        let mut events = vec![event(0)];
        let mut group = event(0);
        group.to = None;
        group.group = Some("0192f0c4-0000-7000-8000-000000000001".into());
        group.from = None;
        group.text = Some("quote \" and \\ and \u{1F426} and \n".into());
        group.payload = Some(serde_json::json!({"k": [1, "two", null], "seq": 3}));
        events.push(group);
        let mut receipt = event(0);
        receipt.kind = EventKind::Receipt;
        receipt.text = None;
        receipt.receipt = Some(oriole_proto::ReceiptKind::Read);
        receipt.recalled = true;
        events.push(receipt);
        for event in events {
            let shared = SharedEvent::new(event.clone());
            for seq in [0, 1, 9, 10, 12345, u64::MAX] {
                let expected = serde_json::to_string(&ServerFrame::Event {
                    event: InboxEvent {
                        seq,
                        ..event.clone()
                    },
                })
                .expect("serde encodes the frame");
                assert_eq!(shared.frame(seq).expect("the shared frame"), expected);
                assert_eq!(
                    shared.at(seq),
                    InboxEvent {
                        seq,
                        ..event.clone()
                    }
                );
            }
        }
    }

    #[tokio::test]
    async fn deliver_each_queues_one_shared_event_at_each_users_seq() {
        let hub = Hub::new(8);
        let (alice, bob, carol) = (UserId::generate(), UserId::generate(), UserId::generate());
        let a = hub.register(alice, DeviceId::generate());
        let b1 = hub.register(bob, DeviceId::generate());
        let b2 = hub.register(bob, DeviceId::generate());
        hub.deliver_each(
            &[
                (alice, InboxSeq(7)),
                (bob, InboxSeq(3)),
                (carol, InboxSeq(1)),
            ],
            event(99),
        );
        let la = a.events.recv().await.expect("queued");
        let lb1 = b1.events.recv().await.expect("queued");
        let lb2 = b2.events.recv().await.expect("queued");
        assert_eq!((la.seq, lb1.seq, lb2.seq), (7, 3, 3));
        assert!(Arc::ptr_eq(&la.event, &lb1.event) && Arc::ptr_eq(&lb1.event, &lb2.event));
        assert_eq!(la.event.at(la.seq).id, "m99");
        assert!(a.events.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_idle_queue_holds_no_room_and_a_drained_one_little() {
        let hub = Hub::new(64);
        let user = UserId::generate();
        let sub = hub.register(user, DeviceId::generate());
        assert_eq!(
            sub.events.0.events().capacity(),
            0,
            "nothing before the first event"
        );
        for seq in 1..=40 {
            hub.deliver(user, event(seq));
        }
        assert!(sub.events.0.events().capacity() >= 40);
        for seq in 1..=40 {
            assert_eq!(sub.events.try_recv().map(|e| e.seq), Ok(seq));
        }
        assert_eq!(sub.events.try_recv().map(|e| e.seq), Err(Empty));
        assert!(sub.events.0.events().capacity() <= DRAINED_ROOM);
        assert!(!sub.take_lagging());
    }

    #[tokio::test]
    async fn a_waiting_connection_wakes_for_an_event_pushed_later() {
        let hub = Hub::new(8);
        let user = UserId::generate();
        let sub = hub.register(user, DeviceId::generate());
        let waiting = tokio::spawn(async move { sub.events.recv().await.map(|e| e.seq) });
        // Let the receiver find the queue empty and wait.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        hub.deliver(user, event(7));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("the receiver task");
        assert_eq!(got, Some(7));
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_connection_lagging() {
        let hub = Hub::new(2);
        let user = UserId::generate();
        let sub = hub.register(user, DeviceId::generate());
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

    #[tokio::test]
    async fn revocation_wakes_a_waiting_session_and_stays_set() {
        let hub = Hub::new(2);
        let device = DeviceId::generate();
        let sub = Arc::new(hub.register(UserId::generate(), device));
        let waiting = tokio::spawn({
            let sub = sub.clone();
            async move { sub.revoked.cancelled().await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        hub.disconnect_device(device);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("the waiting task");
        // Already revoked: completes at once, every time.
        sub.revoked.cancelled().await;
        sub.revoked.cancelled().await;
        assert!(sub.revoked.is_cancelled());
    }

    #[tokio::test]
    async fn an_acceptance_before_the_session_waits_is_kept() {
        let hub = Hub::new(2);
        let user = UserId::generate();
        let sub = hub.register(user, DeviceId::generate());
        hub.policy_accepted(user);
        tokio::time::timeout(std::time::Duration::from_secs(5), sub.accepted.notified())
            .await
            .expect("the acceptance was kept");
        hub.policy_accepted(UserId::generate());
        let again = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            sub.accepted.notified(),
        );
        assert!(
            again.await.is_err(),
            "another user's acceptance is not this one's"
        );
    }
}
