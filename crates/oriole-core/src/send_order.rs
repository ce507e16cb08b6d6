//! One connection's sends stay in order while they wait for their commits
//! together. A pipelining caller runs each send inside
//! [`signal_when_queued`] and starts the next send only once the signal
//! fires; a store calls [`mark_queued`] as soon as an append has its place
//! in the write queue (appends queued later commit after it). A store that
//! never calls it makes the signal fire when the send ends: slower, still
//! in order.

use std::cell::RefCell;
use std::future::Future;

use tokio::sync::oneshot;

tokio::task_local! {
    static QUEUED: RefCell<Option<oneshot::Sender<()>>>;
}

/// Run `send`; `queued` fires once its append is queued, or when `send`
/// ends (dropped unsent) without one.
pub async fn signal_when_queued<F: Future>(queued: oneshot::Sender<()>, send: F) -> F::Output {
    QUEUED.scope(RefCell::new(Some(queued)), send).await
}

/// Called by a store once an append has its place in the write queue.
/// Outside [`signal_when_queued`] it does nothing.
pub fn mark_queued() {
    let _ = QUEUED.try_with(|queued| {
        if let Some(signal) = queued.borrow_mut().take() {
            let _ = signal.send(());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_signal_fires_when_marked_not_when_the_send_ends() {
        let (queued, mut turn) = oneshot::channel();
        let (finish, finished) = oneshot::channel::<()>();
        let send = tokio::spawn(signal_when_queued(queued, async move {
            mark_queued();
            let _ = finished.await;
        }));
        assert_eq!((&mut turn).await, Ok(()), "fired while the send still runs");
        assert!(!send.is_finished());
        finish.send(()).expect("send waits");
        send.await.expect("send ends");
    }

    #[tokio::test]
    async fn a_send_that_never_queues_releases_the_turn_when_it_ends() {
        let (queued, turn) = oneshot::channel();
        signal_when_queued(queued, async {}).await;
        assert!(turn.await.is_err(), "dropped unsent");
        mark_queued(); // outside a scope: nothing happens
    }
}
