//! Sends in flight on one connection. A session does not wait for one
//! `send` to commit before reading the next frame: up to [`MAX_IN_FLIGHT`]
//! wait for their commits at once (so they can share a group commit), and
//! their answers go out in the order the frames came in. Each send starts
//! only once the one before has its place in the store's write queue, so a
//! connection's messages also commit, and reach their recipients, in frame
//! order. When the window is full the session stops reading, and TCP pushes
//! back on the client.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use oriole_core::send_order::signal_when_queued;
use oriole_proto::ServerFrame;
use tokio::sync::oneshot;

/// Sends one connection may have in flight.
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// An answer in the making, with the number of the frame it answers.
type Pending = Pin<Box<dyn Future<Output = (u64, ServerFrame)> + Send>>;

#[derive(Default)]
pub(super) struct Pipeline {
    /// Made at the first send and dropped when the pipeline drains: a
    /// `FuturesUnordered` allocates as it is made, and most connections are
    /// idle.
    running: Option<FuturesUnordered<Pending>>,
    /// Answers finished before an earlier one, by frame number.
    finished: BTreeMap<u64, ServerFrame>,
    /// The number the next pipelined frame gets.
    next_frame: u64,
    /// The number of the next answer to send.
    next_answer: u64,
    /// Fires when the last send pushed has its place in the write queue.
    last_queued: Option<oneshot::Receiver<()>>,
}

impl Pipeline {
    /// Run `answer` as the answer to the next frame.
    pub(super) fn push<F>(&mut self, answer: F)
    where
        F: Future<Output = ServerFrame> + Send + 'static,
    {
        let n = self.next_frame;
        self.next_frame += 1;
        self.running
            .get_or_insert_with(FuturesUnordered::new)
            .push(Box::pin(async move { (n, answer.await) }));
    }

    /// Run the `send` answered by `answer` after the sends pushed before it
    /// are queued in the store, as the answer to the next frame.
    pub(super) fn push_send<F>(&mut self, answer: F)
    where
        F: Future<Output = ServerFrame> + Send + 'static,
    {
        // Boxed on its own: a send's future is large, and each wrapper
        // around it below would otherwise copy it whole as it is built.
        let answer = Box::pin(answer);
        let (queued, turn) = oneshot::channel();
        let previous = self.last_queued.replace(turn);
        self.push(async move {
            if let Some(previous) = previous {
                // An error means the previous send ended without queuing.
                let _ = previous.await;
            }
            signal_when_queued(queued, answer).await
        });
    }

    /// Whether every answer has been handed out.
    pub(super) fn is_idle(&self) -> bool {
        self.running_len() == 0 && self.finished.is_empty()
    }

    fn running_len(&self) -> usize {
        self.running.as_ref().map_or(0, FuturesUnordered::len)
    }

    /// Whether the session should stop reading frames for now.
    pub(super) fn is_full(&self) -> bool {
        self.running_len() + self.finished.len() >= MAX_IN_FLIGHT
    }

    /// The next answer to finish (in any order); pending while none runs.
    /// A `poll_fn` rather than an `async fn`: every idle session waits on
    /// it, and an `async fn` would keep room for the answer it returns.
    pub(super) fn finished(&mut self) -> impl Future<Output = (u64, ServerFrame)> + Send + '_ {
        std::future::poll_fn(
            |cx| match self.running.as_mut().map(|r| r.poll_next_unpin(cx)) {
                Some(Poll::Ready(Some(done))) => Poll::Ready(done),
                // None: nothing runs; woken by the session's next push instead.
                Some(Poll::Ready(None) | Poll::Pending) | None => Poll::Pending,
            },
        )
    }

    /// An answer that has finished by now, without waiting for one.
    pub(super) fn finished_now(&mut self) -> Option<(u64, ServerFrame)> {
        self.finished().now_or_never()
    }

    /// File a finished answer; the answers now due, in frame order.
    pub(super) fn file(&mut self, n: u64, answer: ServerFrame) -> Vec<ServerFrame> {
        let mut due = Vec::new();
        if n == self.next_answer {
            // The usual case, answers finishing in order: the map is
            // passed by, since its first insert allocates a node with room
            // for eleven frames (over a KiB) that its last remove frees.
            due.push(answer);
            self.next_answer += 1;
        } else {
            self.finished.insert(n, answer);
        }
        while let Some(answer) = self.finished.remove(&self.next_answer) {
            due.push(answer);
            self.next_answer += 1;
        }
        if self.is_idle() {
            self.running = None;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn pong(n: u32) -> ServerFrame {
        ServerFrame::Pong {
            reference: Some(n.to_string()),
        }
    }

    fn reference(frame: &ServerFrame) -> Option<&str> {
        match frame {
            ServerFrame::Pong { reference } => reference.as_deref(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn answers_leave_in_frame_order_whatever_order_they_finish_in() {
        let mut pipeline = Pipeline::default();
        let (first_tx, first_rx) = oneshot::channel::<()>();
        pipeline.push(async move {
            let _ = first_rx.await;
            pong(0)
        });
        pipeline.push(async { pong(1) });
        assert!(!pipeline.is_idle());

        let (n, answer) = pipeline.finished().await;
        assert_eq!(n, 1, "the second finishes first");
        assert!(pipeline.file(n, answer).is_empty(), "held for the first");

        first_tx.send(()).expect("first waits");
        let (n, answer) = pipeline.finished().await;
        let due = pipeline.file(n, answer);
        let due: Vec<_> = due.iter().map(reference).collect();
        assert_eq!(due, [Some("0"), Some("1")]);
        assert!(pipeline.is_idle());
    }

    #[tokio::test]
    async fn a_send_starts_only_once_the_one_before_is_queued() {
        let mut pipeline = Pipeline::default();
        let started = Arc::new(Mutex::new(Vec::new()));
        let (let_first_queue, first_may_queue) = oneshot::channel::<()>();
        let log = started.clone();
        pipeline.push_send(async move {
            log.lock().expect("log").push(0);
            let _ = first_may_queue.await;
            oriole_core::send_order::mark_queued();
            // Its commit never comes.
            std::future::pending::<()>().await;
            pong(0)
        });
        let log = started.clone();
        pipeline.push_send(async move {
            log.lock().expect("log").push(1);
            pong(1)
        });
        tokio::select! {
            biased;
            _ = pipeline.finished() => panic!("nothing can finish yet"),
            () = tokio::task::yield_now() => {}
        }
        assert_eq!(*started.lock().expect("log"), [0], "the second waits");
        let_first_queue.send(()).expect("first waits");
        let (n, _) = pipeline.finished().await;
        assert_eq!(n, 1, "the second ran while the first waits for its commit");
        assert_eq!(*started.lock().expect("log"), [0, 1]);
    }

    #[tokio::test]
    async fn answers_finished_together_are_taken_together() {
        let mut pipeline = Pipeline::default();
        assert!(pipeline.finished_now().is_none(), "nothing runs");
        let (tx, rx) = oneshot::channel::<()>();
        let rx = rx.shared();
        for n in 0..3 {
            let rx = rx.clone();
            pipeline.push(async move {
                let _ = rx.await;
                pong(n)
            });
        }
        assert!(pipeline.finished_now().is_none(), "none has finished");
        tx.send(()).expect("all wait");
        let (n, answer) = pipeline.finished().await;
        let mut due = pipeline.file(n, answer);
        while let Some((n, answer)) = pipeline.finished_now() {
            due.extend(pipeline.file(n, answer));
        }
        let due: Vec<_> = due.iter().map(reference).collect();
        assert_eq!(due, [Some("0"), Some("1"), Some("2")]);
        assert!(pipeline.is_idle());
        assert!(pipeline.finished_now().is_none(), "idle again");
    }

    #[tokio::test]
    async fn the_window_fills_at_the_limit() {
        let mut pipeline = Pipeline::default();
        let mut gates = Vec::new();
        for n in 0..MAX_IN_FLIGHT {
            assert!(!pipeline.is_full(), "room for frame {n}");
            let (tx, rx) = oneshot::channel::<()>();
            gates.push(tx);
            pipeline.push(async move {
                let _ = rx.await;
                pong(0)
            });
        }
        assert!(pipeline.is_full());
        drop(gates);
        while !pipeline.is_idle() {
            let (n, answer) = pipeline.finished().await;
            pipeline.file(n, answer);
        }
        assert!(!pipeline.is_full());
    }
}
