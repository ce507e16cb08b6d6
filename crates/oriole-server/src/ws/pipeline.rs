//! Sends in flight on one connection. A session queues each `send` in the
//! store's write queue as it reads its frame, so a connection's messages
//! commit, and reach their recipients, in frame order. It does not wait
//! for one to commit before reading the next frame the socket already
//! holds: up to [`MAX_IN_FLIGHT`] wait for their commits at once (so they
//! share a group commit), and their answers go out in frame order. Then
//! the session reads nothing more until they are answered: what arrived
//! meanwhile is read in one go and joins the next commit. While it does
//! not read, TCP pushes back on the client.
//!
//! Sends commit in the order they were queued, so the oldest one waiting
//! is always the next to finish: only it is polled, and the answers behind
//! it that finished in the same commit are taken with it.

use std::collections::VecDeque;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::future::Either;
use futures_util::FutureExt;

/// Sends one connection may have in flight.
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// Answers in the making, oldest first, each with the `reference` of the
/// frame it answers. `F` is a queued send (`QueuedSend`); a send refused
/// before it was queued is answered at once, but still in its turn.
pub(super) struct Pipeline<F: Future> {
    waiting: VecDeque<(Option<String>, Answer<F>)>,
}

/// A queued send, or the answer to one refused before it was queued.
type Answer<F> = Either<F, Ready<<F as Future>::Output>>;

impl<F: Future> Default for Pipeline<F> {
    fn default() -> Self {
        Pipeline {
            // Empty, it does not allocate: most connections are idle.
            waiting: VecDeque::new(),
        }
    }
}

impl<F: Future + Unpin> Pipeline<F> {
    /// Answer the next frame with what `queued` resolves to.
    pub(super) fn push(&mut self, reference: Option<String>, queued: F) {
        self.waiting.push_back((reference, Either::Left(queued)));
    }

    /// Answer the next frame with `answer`, once the frames before it are.
    pub(super) fn push_ready(&mut self, reference: Option<String>, answer: F::Output) {
        self.waiting
            .push_back((reference, Either::Right(std::future::ready(answer))));
    }

    /// Whether every answer has been handed out.
    pub(super) fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether the session should stop reading frames for now.
    pub(super) fn is_full(&self) -> bool {
        self.waiting.len() >= MAX_IN_FLIGHT
    }

    /// The next answer in frame order, once it is ready; pending while
    /// none waits (the session's next push wakes it instead). A `poll_fn`
    /// rather than an `async fn`: every idle session waits on it, and an
    /// `async fn` would keep room for the answer it returns.
    pub(super) fn finished(
        &mut self,
    ) -> impl Future<Output = (Option<String>, F::Output)> + Send + '_
    where
        F: Send,
        F::Output: Send,
    {
        std::future::poll_fn(|cx| self.poll_next(cx))
    }

    /// The next answer in frame order if it is ready now, without waiting.
    pub(super) fn finished_now(&mut self) -> Option<(Option<String>, F::Output)>
    where
        F: Send,
        F::Output: Send,
    {
        self.finished().now_or_never()
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(Option<String>, F::Output)> {
        let Some((reference, answer)) = self.waiting.front_mut() else {
            return Poll::Pending;
        };
        let output = ready!(Pin::new(answer).poll(cx));
        let reference = reference.take();
        self.waiting.pop_front();
        if self.waiting.is_empty() {
            // Give the buffer back: an idle connection holds none.
            self.waiting = VecDeque::new();
        }
        Poll::Ready((reference, output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    type Queued = oneshot::Receiver<u32>;

    fn reference(n: u32) -> Option<String> {
        Some(n.to_string())
    }

    #[tokio::test]
    async fn answers_leave_in_frame_order_whatever_order_they_finish_in() {
        let mut pipeline = Pipeline::<Queued>::default();
        let (first_tx, first_rx) = oneshot::channel();
        let (second_tx, second_rx) = oneshot::channel();
        pipeline.push(reference(0), first_rx);
        pipeline.push(reference(1), second_rx);
        pipeline.push_ready(reference(2), Ok(2));
        assert!(!pipeline.is_idle());

        second_tx.send(1).expect("second waits");
        assert!(pipeline.finished_now().is_none(), "held for the first");

        first_tx.send(0).expect("first waits");
        let mut due = vec![pipeline.finished().await];
        while let Some(answer) = pipeline.finished_now() {
            due.push(answer);
        }
        assert_eq!(
            due,
            [
                (reference(0), Ok(0)),
                (reference(1), Ok(1)),
                (reference(2), Ok(2))
            ]
        );
        assert!(pipeline.is_idle());
        assert!(pipeline.finished_now().is_none(), "idle again");
    }

    #[tokio::test]
    async fn a_refused_send_is_answered_in_its_turn() {
        let mut pipeline = Pipeline::<Queued>::default();
        let (tx, rx) = oneshot::channel();
        pipeline.push(reference(0), rx);
        pipeline.push_ready(reference(1), Ok(7));
        assert!(
            pipeline.finished_now().is_none(),
            "the refusal waits for the send before it"
        );
        drop(tx);
        let (first, outcome) = pipeline.finished().await;
        assert_eq!(first, reference(0));
        assert!(outcome.is_err(), "the send's writer went away");
        assert_eq!(pipeline.finished_now(), Some((reference(1), Ok(7))));
    }

    #[tokio::test]
    async fn the_oldest_wakes_the_session_when_it_finishes() {
        let mut pipeline = Pipeline::<Queued>::default();
        let (tx, rx) = oneshot::channel();
        pipeline.push(reference(0), rx);
        let finishing = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(5).expect("waits");
        });
        assert_eq!(pipeline.finished().await, (reference(0), Ok(5)));
        finishing.await.expect("sent");
    }

    #[tokio::test]
    async fn the_window_fills_at_the_limit() {
        let mut pipeline = Pipeline::<Queued>::default();
        let mut gates = Vec::new();
        for n in 0..MAX_IN_FLIGHT {
            assert!(!pipeline.is_full(), "room for frame {n}");
            let (tx, rx) = oneshot::channel();
            gates.push(tx);
            pipeline.push(None, rx);
        }
        assert!(pipeline.is_full());
        for (n, gate) in gates.into_iter().enumerate() {
            gate.send(u32::try_from(n).expect("small")).expect("waits");
        }
        let mut n = 0;
        while !pipeline.is_idle() {
            let (_, outcome) = pipeline.finished().await;
            assert_eq!(outcome, Ok(n));
            n += 1;
        }
        assert!(!pipeline.is_full());
    }
}
