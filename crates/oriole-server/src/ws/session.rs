//! One WebSocket session: a task that owns the socket, answers client
//! frames, and streams the user's inbox in seq order without gaps or
//! duplicates.
//!
//! The stream keeps a cursor, `delivered` (the last seq sent). A live event
//! from the hub with seq `delivered + 1` is sent at once; one at or below
//! the cursor was already sent and is dropped; one further ahead means
//! events are missing (not yet pushed, or dropped while the queue was
//! full), so the session reads the store after its cursor, page by page,
//! before taking live events again.
//!
//! Until the client subscribes, the connection is a live feed from the
//! head at `hello`, and the sender's own copy of a message sent on this
//! connection is not echoed: its `ack` already stands for it. After
//! `subscribe` the stream is the exact inbox, own copies included.
//!
//! After a material policy change the user must accept the new version
//! (PRIVACY.md P15): until then the session is `gated`. It pushes no inbox
//! events (live ones are dropped, the store keeps them) but still sends
//! policy notices and answers frames, which the core gates or lets through
//! (rights are never blocked). When the user accepts, on any device, the
//! session resumes by reading the store after its cursor, so nothing is
//! lost.
//!
//! `send` frames are pipelined (see `pipeline.rs`): every frame the socket
//! holds is read and queued before the first of them commits, and answers
//! leave in frame order. Frames that arrive while they wait are read once
//! they are answered, all together. Any other frame first waits for the
//! sends before it.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{FutureExt, SinkExt};
use oriole_core::{Caller, QueuedSend, ServiceError, ServiceResult, Store};
use oriole_proto::close_code::{GOING_AWAY, PROTOCOL_VIOLATION, REVOKED, TOO_BIG};
use oriole_proto::{
    ClientFrame, ErrorCode, InboxEvent, PolicyNotice, SendAck, SendMessage, ServerFrame, SyncPage,
    PROTOCOL_VERSION,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout, Instant, MissedTickBehavior};
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::frames;
use super::pipeline::Pipeline;
use crate::hub::{Live, Subscription};
use crate::state::SharedState;

/// Events read from the store per page while catching up.
const CATCH_UP_PAGE: u32 = 256;
/// Live events written before one flush, at most: the queue's backlog goes
/// out in few writes, and other steps are not kept waiting long.
const LIVE_BATCH: usize = 64;
/// How long closing may wait for the peer's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// After refusing an oversized frame the rest of it is not read; the socket
/// is kept this long so the client can read the close frame before the
/// connection is reset.
const TOO_BIG_LINGER: Duration = Duration::from_millis(500);
/// WebSocket close code for a server fault.
const INTERNAL_ERROR: u16 = 1011;

/// How a session ends.
#[derive(Debug)]
enum End {
    /// The socket failed or is gone: nothing more can be sent.
    Gone,
    /// The client sent a close frame; the reply goes out as the socket drains.
    PeerClosed,
    /// The server closes with this code.
    Close(u16, &'static str),
    /// A frame over the limit: close with 1009 without reading the rest.
    TooBig,
}

/// Start a session on an upgraded socket: registered with the hub at
/// once; the future runs it until it ends. A plain function rather than
/// an `async fn`: an `async fn`'s future keeps its arguments (the socket
/// among them) for as long as it runs, beside the session built from
/// them, and a session's task lives as long as its connection.
pub fn start<S: Store>(
    state: SharedState<S>,
    socket: WebSocket,
    caller: Caller,
    token: SecretString,
    permit: OwnedSemaphorePermit,
    tracked: TaskTrackerToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let subscription = state.hub.register(caller.user_id, caller.device_id);
    let session = Session {
        state,
        socket,
        caller,
        subscription,
        delivered: 0,
        catching_up: false,
        gated: false,
        subscribed: false,
        acked: BTreeSet::new(),
        pipeline: Pipeline::default(),
        last_heard: Instant::now(),
        awaiting_pong: false,
        _permit: permit,
        _tracked: tracked,
    };
    session.run(token)
}

struct Session<S: Store> {
    state: SharedState<S>,
    socket: WebSocket,
    caller: Caller,
    subscription: Subscription,
    /// The last inbox seq sent on this connection.
    delivered: u64,
    /// Events after `delivered` are waiting in the store.
    catching_up: bool,
    /// The user has a material policy change to accept: no events pushed.
    gated: bool,
    /// Whether the client asked for the exact inbox with `subscribe`.
    subscribed: bool,
    /// Before `subscribe`: seqs of own copies answered by an `ack` on this
    /// connection, passed over instead of sent.
    acked: BTreeSet<u64>,
    /// Sends whose answers are not out yet.
    pipeline: Pipeline<QueuedSend>,
    last_heard: Instant,
    awaiting_pong: bool,
    /// The session's place under the connection limit.
    _permit: OwnedSemaphorePermit,
    /// Shutdown waits for the session until it is dropped.
    _tracked: TaskTrackerToken,
}

impl<S: Store> Session<S> {
    /// The session's future. Not an `async fn`: one taking `self` by value
    /// keeps a second copy of the session in its future (704 bytes).
    #[allow(clippy::manual_async_fn)]
    fn run(
        mut self,
        token: SecretString,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        async move {
            // Boxed here and below: a session's task holds its future for as
            // long as the connection lives, and rare steps (hello, sync,
            // receipts, notices, catch-up) would otherwise size it for all
            // idle connections alike. Each box is made apart from its await,
            // so that no unboxed step is held across it.
            let opening = self.open_boxed(token);
            let end = match opening.await {
                Ok(()) => self.serve().await,
                Err(end) => end,
            };
            tracing::debug!(?end, "websocket session ends");
            let finishing = self.finish_boxed(end);
            finishing.await;
        }
    }

    fn open_boxed(&mut self, token: SecretString) -> Step<'_, Result<(), End>> {
        Box::pin(self.open(token))
    }

    fn finish_boxed(self, end: End) -> Step<'static, ()> {
        Box::pin(self.finish(end))
    }

    /// Check the token again now that revocations reach this connection (a
    /// revocation between the upgrade and the registration would otherwise
    /// be missed), then say hello.
    async fn open(&mut self, token: SecretString) -> Result<(), End> {
        match self.state.oriole.authenticate(token.expose_secret()).await {
            Ok(_) => {}
            Err(e) if e.code == oriole_proto::ErrorCode::Unauthorized => {
                return Err(End::Close(REVOKED, "device revoked"))
            }
            Err(_) => return Err(End::Close(INTERNAL_ERROR, "internal error")),
        }
        drop(token);
        let head = self
            .state
            .oriole
            .inbox_head(self.caller.user_id)
            .await
            .map_err(|_| End::Close(INTERNAL_ERROR, "internal error"))?;
        // Without `subscribe`, live events after the head at hello.
        self.delivered = head;
        self.send(&ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: self.caller.user_id.to_string(),
            username: self.caller.username.to_string(),
            device_id: self.caller.device_id.to_string(),
            head,
        })
        .await?;
        self.check_gate().await;
        // A policy published while this user was away.
        match self
            .state
            .oriole
            .take_policy_notice(self.caller.user_id)
            .await
        {
            Ok(Some(notice)) => self.send(&ServerFrame::PolicyNotice { notice }).await?,
            Ok(None) => {}
            Err(_) => return Err(End::Close(INTERNAL_ERROR, "internal error")),
        }
        // Notices that fell due while this user was away (a legal
        // disclosure whose deferral ended).
        let notices = self
            .state
            .oriole
            .take_notices(self.caller.user_id)
            .await
            .map_err(|_| End::Close(INTERNAL_ERROR, "internal error"))?;
        for notice in notices {
            self.send(&ServerFrame::Notice { notice }).await?;
        }
        Ok(())
    }

    async fn serve(&mut self) -> End {
        let shutdown = self.state.sessions.shutdown.clone();
        let ping_every = self.state.settings.ws_ping_interval();
        let mut ticker = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                biased;
                () = shutdown.cancelled() => Err(End::Close(GOING_AWAY, "server shutting down")),
                () = self.subscription.revoked.cancelled() => Err(End::Close(REVOKED, "device revoked")),
                page = self.state.oriole.events_after(self.caller.user_id, self.delivered, CATCH_UP_PAGE),
                    if self.catching_up && !self.gated => {
                        let step = Box::pin(self.on_page(page));
                        step.await
                    }
                // Before live events: an answer's own copy is noted as acked
                // in the same poll that queued it.
                (reference, outcome) = self.pipeline.finished(), if !self.pipeline.is_idle() => self.on_answer(reference, outcome).await,
                // Not while sends wait for their commit: what arrives
                // meanwhile is read in one go once they are answered.
                incoming = self.socket.recv(), if self.pipeline.is_idle() => self.on_burst(incoming).await,
                // While catching up the queue waits: the store has its events.
                Some(live) = self.subscription.events.recv(), if !self.catching_up => self.on_live(*live).await,
                Ok(notice) = self.subscription.notices.recv() => {
                    let step = Box::pin(self.on_notice(notice));
                    step.await
                }
                () = self.subscription.accepted.notified(), if self.gated => {
                    let step = Box::pin(self.check_gate());
                    step.await;
                    Ok(())
                }
                Ok((user, notice)) = self.subscription.user_notices.recv() => {
                    let step = Box::pin(self.on_user_notice(user, &notice));
                    step.await
                }
                _ = ticker.tick() => {
                    let step = Box::pin(self.on_tick(ping_every));
                    step.await
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// A frame read, then every frame the socket already holds, up to the
    /// pipeline's window: they join the same group commit. Then reading
    /// waits until their answers are out (see `serve`), so a fast sender's
    /// frames are read a commit's worth at a time, in few reads and
    /// wake-ups, instead of one wake-up, read and queueing each.
    async fn on_burst(&mut self, first: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        let mut incoming = first;
        loop {
            self.on_incoming(incoming).await?;
            if self.pipeline.is_full() {
                return Ok(());
            }
            match self.socket.recv().now_or_never() {
                Some(next) => incoming = next,
                None => return Ok(()),
            }
        }
    }

    async fn on_incoming(
        &mut self,
        incoming: Option<Result<Message, axum::Error>>,
    ) -> Result<(), End> {
        let message = match incoming {
            None => return Err(End::Gone),
            Some(Err(e)) => return Err(classify(e)),
            Some(Ok(message)) => message,
        };
        self.last_heard = Instant::now();
        self.awaiting_pong = false;
        match message {
            Message::Text(text) => match frames::parse(text.as_str()) {
                Ok(ClientFrame::Send { reference, message }) => {
                    // Queued before the next frame is read, so that a
                    // connection's sends commit in frame order. Boxed: a
                    // send's future is large, and would otherwise size
                    // every session's.
                    let queueing = Box::pin(self.state.oriole.queue_send(&self.caller, message));
                    match queueing.await {
                        Ok(queued) => self.pipeline.push(reference, queued),
                        Err(e) => self.pipeline.push_ready(reference, Err(e)),
                    }
                    Ok(())
                }
                parsed => {
                    let step = Box::pin(self.on_frame(parsed));
                    step.await
                }
            },
            Message::Binary(_) => Err(End::Close(
                PROTOCOL_VIOLATION,
                "binary frames are not part of the protocol",
            )),
            // Pings are answered by the socket itself.
            Message::Ping(_) | Message::Pong(_) => Ok(()),
            Message::Close(_) => Err(End::PeerClosed),
        }
    }

    /// A frame other than `send`: answered after the sends before it.
    async fn on_frame(
        &mut self,
        parsed: Result<ClientFrame, frames::FrameError>,
    ) -> Result<(), End> {
        self.settle().await?;
        let answer = match parsed {
            Ok(frame) => self.apply(frame).await,
            Err(error) => error.into_frame(),
        };
        self.send(&answer).await
    }

    /// Carry out one client frame; the result is its answer.
    async fn apply(&mut self, frame: ClientFrame) -> ServerFrame {
        let oriole = &self.state.oriole;
        let caller = &self.caller;
        match frame {
            ClientFrame::Send { reference, message } => {
                let answer = answer_send(&self.state, caller, reference, message).await;
                self.note_own_copy(&answer);
                answer
            }
            ClientFrame::Subscribe { reference, after } => {
                if let Err(e) = oriole.policy_gate(caller.user_id).await {
                    return error_frame(reference, e);
                }
                self.subscribed = true;
                self.acked.clear();
                self.delivered = after;
                self.catching_up = true;
                ServerFrame::Ok { reference }
            }
            ClientFrame::Sync {
                reference,
                after,
                limit,
            } => match oriole.sync(caller, after, limit).await {
                Ok(SyncPage {
                    events,
                    next,
                    more,
                    notices,
                    ..
                }) => ServerFrame::Page {
                    reference,
                    events,
                    next,
                    more,
                    notices,
                },
                Err(e) => error_frame(reference, e),
            },
            ClientFrame::Receipt {
                reference,
                message_id,
                kind,
            } => match oriole.receipt(caller, &message_id, kind).await {
                Ok(()) => ServerFrame::Ok { reference },
                Err(e) => error_frame(reference, e),
            },
            ClientFrame::Recall {
                reference,
                message_id,
            } => match oriole.recall(caller, &message_id).await {
                Ok(()) => ServerFrame::Ok { reference },
                Err(e) => error_frame(reference, e),
            },
            ClientFrame::Ping { reference } => ServerFrame::Pong { reference },
        }
    }

    /// A pipelined answer finished: note its own copy, send what is due,
    /// with the answers that finished alongside it (one commit acks a
    /// connection's sends together) in the same flush: one write to the
    /// socket, not one each. Not an `async fn`, so that the answer is not
    /// kept in the future while the frames due are written: it is on every
    /// connection's hot path and sizes the session's future.
    fn on_answer(
        &mut self,
        reference: Option<String>,
        outcome: ServiceResult<SendAck>,
    ) -> impl std::future::Future<Output = Result<(), End>> + Send + '_ {
        let mut due = vec![self.answer_frame(reference, outcome)];
        while let Some((reference, outcome)) = self.pipeline.finished_now() {
            due.push(self.answer_frame(reference, outcome));
        }
        self.send_all(due)
    }

    /// The answer to a pipelined `send`, its own copy noted.
    fn answer_frame(
        &mut self,
        reference: Option<String>,
        outcome: ServiceResult<SendAck>,
    ) -> ServerFrame {
        let answer = send_answer(&self.state, reference, outcome);
        self.note_own_copy(&answer);
        answer
    }

    /// Write frames, each encoded just before it is written, then flush.
    async fn send_all(&mut self, frames: Vec<ServerFrame>) -> Result<(), End> {
        for message in frames.into_iter().map(|frame| encode(&frame)) {
            self.feed_message(message?).await?;
        }
        self.flush().await
    }

    /// Send every pipelined answer, waiting for the sends still running.
    async fn settle(&mut self) -> Result<(), End> {
        while !self.pipeline.is_idle() {
            let (reference, outcome) = self.pipeline.finished().await;
            self.on_answer(reference, outcome).await?;
        }
        Ok(())
    }

    /// Before `subscribe`, the stream skips the own copy an ack stands for.
    fn note_own_copy(&mut self, answer: &ServerFrame) {
        if let ServerFrame::Ack { ack, .. } = answer {
            if !self.subscribed && ack.seq > self.delivered {
                self.acked.insert(ack.seq);
            }
        }
    }

    /// Send a policy notice; a material one may gate the session.
    async fn on_notice(&mut self, notice: PolicyNotice) -> Result<(), End> {
        let material = notice.material;
        self.send(&ServerFrame::PolicyNotice { notice }).await?;
        if material {
            self.check_gate().await;
        }
        Ok(())
    }

    /// Whether the re-consent gate holds this user back. Leaving the gate
    /// reads what was held back from the store.
    async fn check_gate(&mut self) {
        let gated = match self.state.oriole.policy_gate(self.caller.user_id).await {
            Ok(()) => false,
            Err(e) => e.code == ErrorCode::ConsentRequired,
        };
        if self.gated && !gated {
            self.catching_up = true;
        }
        self.gated = gated;
    }

    /// A notice the hub pushed: this user's only.
    async fn on_user_notice(
        &mut self,
        user: oriole_core::domain::UserId,
        notice: &oriole_proto::UserNotice,
    ) -> Result<(), End> {
        if user != self.caller.user_id {
            return Ok(());
        }
        self.send(&ServerFrame::Notice {
            notice: notice.clone(),
        })
        .await
    }

    /// A live event from the hub, and those queued behind it: written
    /// together, then flushed once.
    async fn on_live(&mut self, first: Live) -> Result<(), End> {
        let mut next = Some(first);
        let mut budget = LIVE_BATCH;
        while let Some(live) = next.take() {
            self.take_live(live).await?;
            budget -= 1;
            if budget == 0 || self.catching_up {
                break;
            }
            next = self.subscription.events.try_recv().ok().map(|live| *live);
        }
        self.flush().await
    }

    /// One live event: written (not flushed) when it is the next in seq.
    async fn take_live(&mut self, live: Live) -> Result<(), End> {
        if self.subscription.take_lagging() {
            self.catching_up = true;
        }
        if self.gated {
            // Held back: read from the store once the gate lifts.
            return Ok(());
        }
        if live.seq <= self.delivered {
            return Ok(());
        }
        if live.seq != self.delivered + 1 {
            self.catching_up = true;
            return Ok(());
        }
        if self.pass_own_copy(live.seq) {
            return Ok(());
        }
        let frame = live.event.frame(live.seq).map_err(|e| {
            tracing::error!(error = %e, "could not encode a server frame");
            End::Close(INTERNAL_ERROR, "internal error")
        })?;
        self.feed_message(Message::Text(frame.into())).await?;
        self.delivered = live.seq;
        Ok(())
    }

    /// One page read from the store after the cursor.
    async fn on_page(&mut self, page: Result<Vec<InboxEvent>, ServiceError>) -> Result<(), End> {
        let events = page.map_err(|_| End::Close(INTERNAL_ERROR, "internal error"))?;
        let full = events.len() >= CATCH_UP_PAGE as usize;
        // Written together and flushed once, as live events are: a flush
        // per event made one socket write each, and a session catching up
        // at a high rate fell further behind than it caught up.
        for event in events {
            if event.seq > self.delivered {
                self.feed_event(event).await?;
            }
        }
        self.flush().await?;
        if !full {
            // Caught up, unless events were dropped meanwhile.
            self.catching_up = self.subscription.take_lagging();
        }
        Ok(())
    }

    /// Write (not flush) one event read from the store.
    async fn feed_event(&mut self, event: InboxEvent) -> Result<(), End> {
        let seq = event.seq;
        if self.pass_own_copy(seq) {
            return Ok(());
        }
        self.feed(&ServerFrame::Event { event }).await?;
        self.delivered = seq;
        Ok(())
    }

    /// Before `subscribe`: whether the event at `seq` is an own copy an
    /// `ack` already stood for, in which case the cursor passes it.
    fn pass_own_copy(&mut self, seq: u64) -> bool {
        if self.acked.is_empty() {
            return false;
        }
        // Forget what the stream has passed. Popped in place: `split_off`
        // built a new tree, an allocation for every message sent.
        while self.acked.first().is_some_and(|&first| first < seq) {
            self.acked.pop_first();
        }
        if self.acked.remove(&seq) {
            self.delivered = seq;
            return true;
        }
        false
    }

    /// Ping a connection that has been quiet for a whole interval; drop it
    /// when it stays quiet for another.
    async fn on_tick(&mut self, interval: Duration) -> Result<(), End> {
        // While sends wait for their commit the socket is not read (see
        // `serve`): silence then says nothing about the peer, whose answer
        // may be waiting unread behind a slow commit.
        if self.last_heard.elapsed() < interval || !self.pipeline.is_idle() {
            return Ok(());
        }
        if self.awaiting_pong {
            tracing::debug!("websocket peer stopped answering pings");
            return Err(End::Gone);
        }
        self.awaiting_pong = true;
        self.feed_message(Message::Ping(Bytes::from_static(b"oriole")))
            .await?;
        self.flush().await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), End> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// Write a frame without flushing it: the next flush sends it with
    /// whatever else was written meanwhile, in one write to the socket.
    async fn feed(&mut self, frame: &ServerFrame) -> Result<(), End> {
        let message = encode(frame)?;
        self.feed_message(message).await
    }

    /// Both with a deadline, so a peer that stopped reading cannot hold
    /// the session (and its shutdown) forever.
    async fn feed_message(&mut self, message: Message) -> Result<(), End> {
        let deadline = self.state.settings.ws_ping_interval();
        match timeout(deadline, self.socket.feed(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        let deadline = self.state.settings.ws_ping_interval();
        match timeout(deadline, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Gone),
        }
    }

    async fn finish(mut self, end: End) {
        match end {
            End::Gone => {}
            End::PeerClosed => self.drain().await,
            End::Close(code, reason) => {
                // Sends already committed get their acks before the close.
                let _ = timeout(CLOSE_WAIT, self.settle()).await;
                if self.close(code, reason).await {
                    self.drain().await;
                }
            }
            End::TooBig => {
                if self.close(TOO_BIG, "frame too large").await {
                    let shutdown = self.state.sessions.shutdown.clone();
                    tokio::select! {
                        () = tokio::time::sleep(TOO_BIG_LINGER) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    /// Send a close frame; `false` when the socket is already unusable.
    async fn close(&mut self, code: u16, reason: &'static str) -> bool {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        matches!(
            timeout(CLOSE_WAIT, self.socket.send(Message::Close(Some(frame)))).await,
            Ok(Ok(()))
        )
    }

    /// Read until the peer's close reply (or the end), so the socket closes
    /// cleanly; bounded in time.
    async fn drain(&mut self) {
        let _ = timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }
}

/// The answer to a `send`: its ack once the message is durably committed.
async fn answer_send<S: Store>(
    state: &SharedState<S>,
    caller: &Caller,
    reference: Option<String>,
    message: SendMessage,
) -> ServerFrame {
    let outcome = state.oriole.send(caller, message).await;
    send_answer(state, reference, outcome)
}

/// A send's outcome as its answer.
fn send_answer<S: Store>(
    state: &SharedState<S>,
    reference: Option<String>,
    outcome: ServiceResult<SendAck>,
) -> ServerFrame {
    match outcome {
        Ok(ack) => {
            if !ack.duplicate {
                state.metrics.message_accepted();
            }
            ServerFrame::Ack { reference, ack }
        }
        Err(e) => error_frame(reference, e),
    }
}

fn error_frame(reference: Option<String>, e: ServiceError) -> ServerFrame {
    ServerFrame::Error {
        reference,
        code: e.code,
        message: e.message,
        retry_after: e.retry_after,
    }
}

/// A rare step of a session, on the heap: see [`Session::run`].
type Step<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Room for the usual frame, an `ack` (about 120 bytes), so that its
/// buffer is allocated once rather than grown four times from empty.
const FRAME_ENCODED: usize = 192;

/// A server frame as a text message.
fn encode(frame: &ServerFrame) -> Result<Message, End> {
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "could not encode a server frame");
        End::Close(INTERNAL_ERROR, "internal error")
    };
    let mut text = Vec::with_capacity(FRAME_ENCODED);
    serde_json::to_writer(&mut text, frame).map_err(|e| failed(&e))?;
    let text = String::from_utf8(text).map_err(|e| failed(&e))?;
    Ok(Message::Text(text.into()))
}

/// What a read error means for the session.
fn classify(error: axum::Error) -> End {
    use tungstenite::error::ProtocolError;
    use tungstenite::Error as WsError;

    let inner = error.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => End::TooBig,
        Some(
            WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Io(_)
            | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
        ) => End::Gone,
        Some(WsError::Utf8(_)) => End::Close(PROTOCOL_VIOLATION, "text frame is not valid UTF-8"),
        Some(_) => End::Close(PROTOCOL_VIOLATION, "protocol violation"),
        None => {
            tracing::debug!(error = %inner, "unexpected websocket error");
            End::Close(PROTOCOL_VIOLATION, "protocol violation")
        }
    }
}
