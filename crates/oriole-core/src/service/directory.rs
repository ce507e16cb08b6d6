//! What the hottest path, a send, needs to know about its addressee, kept
//! in memory:
//!
//! - [`Directory`]: the account a 1:1 send goes to, by username. A
//!   username's account changes only when the account is deleted
//!   (usernames are never renamed) or when a third-party recipient starts
//!   answering as it (it becomes a bot).
//! - [`Rosters`]: the members of a group a group send goes to. Membership
//!   changes when a member is added, removed or leaves, when the group is
//!   deleted, and when a member's account is deleted.
//!
//! Every one of those changes goes through this process's services, which
//! call `invalidate` after the store has committed (or failed). A lookup
//! that raced with such a change cannot put its stale answer back: every
//! insert carries the generation read before the store was asked, and one
//! that changed meanwhile drops the insert. Unknown names and groups are
//! not cached, so a new account or group is found at once.
//!
//! The caches are per process, as the policy gate's is: a scale-out
//! deployment needs these invalidations broadcast to every node.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::{GroupId, UserId, Username};
use crate::store::DirectTarget;

/// The addressee of a 1:1 send, by username.
pub(crate) type Directory = Memo<Username, DirectTarget>;
/// The members of a group, in the store's order.
pub(crate) type Rosters = Memo<GroupId, Arc<[UserId]>>;

/// Entries held at most; the map is emptied when it fills.
const CAPACITY: usize = 100_000;

pub(crate) struct Memo<K, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    generation: u64,
    entries: HashMap<K, V>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // Every mutation leaves the map consistent: a poisoned lock is too.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer, or the generation to pass to
    /// [`insert`](Self::insert) after asking the store.
    pub(crate) fn get(&self, key: &K) -> Result<V, u64> {
        let inner = self.lock();
        inner.entries.get(key).cloned().ok_or(inner.generation)
    }

    /// Remember what the store answered, unless an invalidation happened
    /// since `generation` was read.
    pub(crate) fn insert(&self, generation: u64, key: &K, value: V) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(key.clone(), value);
    }

    /// Forget everything: what it answered may have changed.
    pub(crate) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn name(n: &str) -> Username {
        Username::parse(n).expect("name")
    }

    #[test]
    fn remembers_until_invalidated() {
        let dir = Directory::default();
        let target = DirectTarget {
            id: UserId::generate(),
            bot: false,
        };
        let generation = dir.get(&name("bob")).expect_err("empty");
        dir.insert(generation, &name("bob"), target);
        assert_eq!(dir.get(&name("bob")), Ok(target));
        dir.invalidate();
        assert!(dir.get(&name("bob")).is_err());
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_kept() {
        let dir = Directory::default();
        let stale = DirectTarget {
            id: UserId::generate(),
            bot: false,
        };
        // Read before the deletion committed, inserted after it.
        let generation = dir.get(&name("bob")).expect_err("empty");
        dir.invalidate();
        dir.insert(generation, &name("bob"), stale);
        assert!(dir.get(&name("bob")).is_err());
        // A lookup started after the invalidation is kept.
        let generation = dir.get(&name("bob")).expect_err("empty");
        dir.insert(generation, &name("bob"), stale);
        assert_eq!(dir.get(&name("bob")), Ok(stale));
    }
}
