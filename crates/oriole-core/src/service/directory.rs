//! The addressee of a 1:1 send, by username, kept in memory: a send is
//! the hottest path there is, and a username's account changes only when
//! the account is deleted (usernames are never renamed) or when a
//! third-party recipient starts answering as it (it becomes a bot).
//!
//! Both of those changes go through this process's services, which call
//! [`Directory::invalidate`] after the store has committed (or failed). A
//! lookup that raced with such a change cannot put its stale answer back:
//! every insert carries the generation read before the store was asked,
//! and one that changed meanwhile drops the insert. Unknown names are not
//! cached, so a new account is found at once.
//!
//! The cache is per process, as the policy gate's is: a scale-out
//! deployment needs these invalidations broadcast to every node.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::domain::Username;
use crate::store::DirectTarget;

/// Names held at most; the map is emptied when it fills.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub(crate) struct Directory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<Username, DirectTarget>,
}

impl Directory {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation leaves the map consistent: a poisoned lock is too.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached addressee, or the generation to pass to
    /// [`insert`](Self::insert) after asking the store.
    pub(crate) fn get(&self, name: &Username) -> Result<DirectTarget, u64> {
        let inner = self.lock();
        inner.entries.get(name).copied().ok_or(inner.generation)
    }

    /// Remember what the store answered, unless an invalidation happened
    /// since `generation` was read.
    pub(crate) fn insert(&self, generation: u64, name: &Username, target: DirectTarget) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(name.clone(), target);
    }

    /// Forget everything: an account was deleted or became a bot.
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
