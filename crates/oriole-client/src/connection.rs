//! [`Connection`]: a WebSocket session on `/v1/ws` that survives dropped
//! connections. A background task owns the socket; the handle talks to it
//! through channels.
//!
//! Why it never loses or repeats an event: the task keeps the seq of the last
//! event it handed over (its cursor), subscribes from that cursor on every
//! (re)connection, and forwards only events above it. Why a send is
//! exactly-once: every send carries an idempotency key, and an unanswered
//! send is written again, with the same key, on the next connection.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use oriole_proto::{
    close_code, ApiError, ClientFrame, ErrorCode, InboxEvent, PolicyNotice, ReceiptKind, SendAck,
    SendMessage, ServerFrame, UserNotice, PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, RETRY_AFTER};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{new_idempotency_key, Client};
use crate::error::{api_error_from_response, describe, transport_error, ClientError};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upgrade plus the server's `hello`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a send, receipt or recall waits for its answer, reconnections
/// included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Silence after which the task pings the server...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(20);
/// ...and after which it gives the connection up for dead.
const DEAD_AFTER: Duration = Duration::from_secs(45);
const KEEPALIVE_CHECK: Duration = Duration::from_secs(5);
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// How long `close` waits for the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// A live WebSocket session, subscribed to the caller's inbox.
///
/// Events arrive in seq order, each exactly once, across reconnections: when
/// the connection drops (anything but close code 4001) the session reconnects
/// with exponential backoff and jitter and resumes after the last event it
/// delivered. Sends made meanwhile wait for the reconnection (up to 30 s)
/// and are retried with the same idempotency key.
///
/// Events are buffered without bound until read with
/// [`next_event`](Connection::next_event), so that waiting for an `ack`
/// never depends on the caller reading events.
pub struct Connection {
    events: mpsc::UnboundedReceiver<Result<InboxEvent, ClientError>>,
    /// `None` once taken with [`Connection::take_notices`].
    notices: Option<mpsc::UnboundedReceiver<PolicyNotice>>,
    /// `None` once taken with [`Connection::take_user_notices`].
    user_notices: Option<mpsc::UnboundedReceiver<UserNotice>>,
    requests: mpsc::UnboundedSender<Request>,
    ended: Arc<OnceLock<ClientError>>,
    last_seq: u64,
    username: String,
    device_id: String,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("username", &self.username)
            .field("device_id", &self.device_id)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connect (surfacing a bad token or an unreachable server at once), then
    /// hand the socket to the background task, which subscribes from `after`.
    pub(crate) async fn open(client: Client, after: u64) -> Result<Connection, ClientError> {
        let (ws, hello) = handshake(&client).await?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let (notices_tx, notices) = mpsc::unbounded_channel();
        let (user_notices_tx, user_notices) = mpsc::unbounded_channel();
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let ended = Arc::new(OnceLock::new());
        let session = Session {
            client,
            cursor: after,
            events: events_tx,
            notices: notices_tx,
            user_notices: user_notices_tx,
            requests: requests_rx,
            pending: BTreeMap::new(),
            next_ref: 0,
            ended: Arc::clone(&ended),
        };
        let task = tokio::spawn(session.run(ws));
        Ok(Connection {
            events,
            notices: Some(notices),
            user_notices: Some(user_notices),
            requests,
            ended,
            last_seq: after,
            username: hello.username,
            device_id: hello.device_id,
            task,
        })
    }

    /// The next inbox event. `Some(Err(_))` reports why the session ended
    /// for good (e.g. [`ClientError::Closed`] with code 4001 when this device
    /// was revoked); `None` follows it.
    pub async fn next_event(&mut self) -> Option<Result<InboxEvent, ClientError>> {
        loop {
            match self.events.recv().await? {
                // The task already drops repeats; this keeps `last_seq` honest
                // whatever happens upstream.
                Ok(event) if event.seq <= self.last_seq => continue,
                Ok(event) => {
                    self.last_seq = event.seq;
                    return Some(Ok(event));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// A privacy policy notice the server pushed, if one is waiting
    /// (see [`PolicyNotice`]); never blocks.
    pub fn try_notice(&mut self) -> Option<PolicyNotice> {
        self.notices.as_mut()?.try_recv().ok()
    }

    /// The next privacy policy notice the server pushes; `None` once the
    /// session has ended (or the notices were taken).
    pub async fn next_notice(&mut self) -> Option<PolicyNotice> {
        self.notices.as_mut()?.recv().await
    }

    /// The stream of policy notices, to read beside [`Connection::next_event`]
    /// (e.g. in one `select!`); later calls get `None`.
    pub fn take_notices(&mut self) -> Option<mpsc::UnboundedReceiver<PolicyNotice>> {
        self.notices.take()
    }

    /// The next notice to the user the server pushes (see [`UserNotice`],
    /// e.g. a legal disclosure); `None` once the session has ended (or the
    /// notices were taken).
    pub async fn next_user_notice(&mut self) -> Option<UserNotice> {
        self.user_notices.as_mut()?.recv().await
    }

    /// The stream of notices to the user, to read beside
    /// [`Connection::next_event`]; later calls get `None`.
    pub fn take_user_notices(&mut self) -> Option<mpsc::UnboundedReceiver<UserNotice>> {
        self.user_notices.take()
    }

    /// Send a message over the socket and wait for its durable `ack`. Sets
    /// an idempotency key when `msg` has none; a retry after a lost
    /// connection reuses it, so the message is stored once.
    pub async fn send(&self, mut msg: SendMessage) -> Result<SendAck, ClientError> {
        if msg.idempotency_key.is_none() {
            msg.idempotency_key = Some(new_idempotency_key());
        }
        match self.request(Op::Send(msg)).await? {
            Reply::Ack(ack) => Ok(ack),
            Reply::Ok => Err(ClientError::Protocol(
                "the server answered a send with `ok` instead of `ack`".into(),
            )),
        }
    }

    /// A `delivered` or `read` receipt for a message in my inbox.
    pub async fn receipt(&self, message_id: &str, kind: ReceiptKind) -> Result<(), ClientError> {
        self.request(Op::Receipt {
            message_id: message_id.to_owned(),
            kind,
        })
        .await
        .map(drop)
    }

    /// Recall a message I sent, within the recall window.
    pub async fn recall(&self, message_id: &str) -> Result<(), ClientError> {
        self.request(Op::Recall {
            message_id: message_id.to_owned(),
        })
        .await
        .map(drop)
    }

    /// The seq of the last event returned by
    /// [`next_event`](Connection::next_event) (or `after` before the first):
    /// the cursor to store and resume from.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The username this session is logged in as.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// This device's id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Close the socket cleanly (code 1000) and stop the background task.
    /// Unanswered requests fail with [`ClientError::Closed`].
    pub async fn close(self) {
        let Connection {
            requests, mut task, ..
        } = self;
        // The task takes a closed request channel as the signal to leave.
        drop(requests);
        if timeout(CLOSE_TIMEOUT * 2, &mut task).await.is_err() {
            task.abort();
        }
    }

    async fn request(&self, op: Op) -> Result<Reply, ClientError> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send(Request { op, reply }).is_err() {
            return Err(self.ended_error());
        }
        match timeout(REQUEST_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.ended_error()),
            Err(_) => Err(ClientError::Timeout(format!(
                "no answer from the server within {} s",
                REQUEST_TIMEOUT.as_secs()
            ))),
        }
    }

    fn ended_error(&self) -> ClientError {
        self.ended
            .get()
            .cloned()
            .unwrap_or_else(|| ClientError::Closed {
                code: 1000,
                reason: "the connection is closed".into(),
            })
    }
}

// ---------- the background task ----------

/// What the handle asks the task to do.
enum Op {
    Send(SendMessage),
    Receipt {
        message_id: String,
        kind: ReceiptKind,
    },
    Recall {
        message_id: String,
    },
}

enum Reply {
    Ack(SendAck),
    Ok,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply, ClientError>>,
}

/// A request written (or waiting to be written) and not yet answered.
struct Pending {
    op: Op,
    reply: oneshot::Sender<Result<Reply, ClientError>>,
    /// Written on the current connection.
    in_flight: bool,
}

/// Why a connection ended.
enum End {
    /// Dropped; reconnect.
    Lost(String),
    /// Ended for good; tell the user.
    Fatal(ClientError),
    /// The handle closed or was dropped.
    Closed,
}

struct Session {
    client: Client,
    /// The seq of the last event forwarded to the handle.
    cursor: u64,
    events: mpsc::UnboundedSender<Result<InboxEvent, ClientError>>,
    /// Policy notices; nobody reading them is fine.
    notices: mpsc::UnboundedSender<PolicyNotice>,
    /// Notices to the user; nobody reading them is fine.
    user_notices: mpsc::UnboundedSender<UserNotice>,
    requests: mpsc::UnboundedReceiver<Request>,
    /// By `ref` number, so retries go out in the order they were made.
    pending: BTreeMap<u64, Pending>,
    next_ref: u64,
    ended: Arc<OnceLock<ClientError>>,
}

impl Session {
    async fn run(mut self, first: Ws) {
        let mut socket = Some(first);
        let mut attempt = 0u32;
        let end = loop {
            let ws = match socket.take() {
                Some(ws) => ws,
                None => match self.reconnect(&mut attempt).await {
                    Ok(ws) => ws,
                    Err(end) => break end,
                },
            };
            match self.drive(ws, &mut attempt).await {
                End::Lost(reason) => {
                    tracing::info!(%reason, cursor = self.cursor, "connection lost; reconnecting");
                    for pending in self.pending.values_mut() {
                        pending.in_flight = false;
                    }
                }
                end => break end,
            }
        };
        self.finish(end);
    }

    /// Wait out the backoff (still taking requests), then connect again.
    async fn reconnect(&mut self, attempt: &mut u32) -> Result<Ws, End> {
        loop {
            let sleep = tokio::time::sleep(backoff(*attempt));
            tokio::pin!(sleep);
            *attempt = attempt.saturating_add(1);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    request = self.requests.recv() => match request {
                        Some(request) => {
                            self.enqueue(request);
                        }
                        None => return Err(End::Closed),
                    },
                }
            }
            match handshake(&self.client).await {
                Ok((ws, _hello)) => return Ok(ws),
                Err(ClientError::Api(e)) if e.code == ErrorCode::Unauthorized => {
                    // The token died while we were away: the same news as a
                    // 4001 close that never reached us.
                    return Err(End::Fatal(ClientError::Closed {
                        code: close_code::REVOKED,
                        reason: format!("unauthorized: {}", e.message),
                    }));
                }
                Err(e @ ClientError::Closed { code, .. }) if code == close_code::REVOKED => {
                    return Err(End::Fatal(e));
                }
                Err(e @ ClientError::Protocol(_)) => return Err(End::Fatal(e)),
                Err(ClientError::Api(e)) if e.code == ErrorCode::UnsupportedProtocol => {
                    return Err(End::Fatal(ClientError::Api(e)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, attempt = *attempt, "reconnect failed");
                }
            }
        }
    }

    /// Run one connection: subscribe, re-send what is unanswered, then pump
    /// frames both ways until it ends.
    async fn drive(&mut self, mut ws: Ws, attempt: &mut u32) -> End {
        let subscribe_ref = self.take_ref();
        let subscribe = ClientFrame::Subscribe {
            reference: Some(ref_text(subscribe_ref)),
            after: self.cursor,
        };
        if let Err(reason) = write(&mut ws, &subscribe).await {
            return End::Lost(reason);
        }
        // Callers that gave up (timed out) no longer want theirs sent.
        self.pending.retain(|_, p| !p.reply.is_closed());
        for (reference, pending) in self.pending.iter_mut() {
            if let Err(reason) = write(&mut ws, &pending.op.frame(*reference)).await {
                return End::Lost(reason);
            }
            pending.in_flight = true;
        }

        let mut subscribed = false;
        let mut last_heard = Instant::now();
        let mut keepalive = tokio::time::interval(KEEPALIVE_CHECK);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = ws.next() => {
                    let message = match message {
                        None => return End::Lost("the server closed the connection".into()),
                        Some(Err(e)) => return End::Lost(describe(&e)),
                        Some(Ok(message)) => message,
                    };
                    last_heard = Instant::now();
                    match message {
                        Message::Text(text) => match serde_json::from_str::<ServerFrame>(text.as_str()) {
                            Ok(frame) => {
                                if let Some(end) =
                                    self.on_frame(frame, subscribe_ref, &mut subscribed, attempt)
                                {
                                    return end;
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "ignoring a server frame this SDK does not know"),
                        },
                        Message::Close(frame) => return self.on_close(frame),
                        // Pings are answered by tungstenite itself.
                        _ => {}
                    }
                }
                request = self.requests.recv() => match request {
                    Some(request) => {
                        let reference = self.enqueue(request);
                        if let Some(pending) = self.pending.get_mut(&reference) {
                            if let Err(reason) = write(&mut ws, &pending.op.frame(reference)).await {
                                return End::Lost(reason);
                            }
                            pending.in_flight = true;
                        }
                    }
                    None => {
                        close_politely(&mut ws).await;
                        return End::Closed;
                    }
                },
                _ = keepalive.tick() => {
                    let idle = last_heard.elapsed();
                    if idle >= DEAD_AFTER {
                        return End::Lost(format!("no frames from the server for {} s", idle.as_secs()));
                    }
                    if idle >= KEEPALIVE_IDLE {
                        if let Err(reason) = write(&mut ws, &ClientFrame::Ping { reference: None }).await {
                            return End::Lost(reason);
                        }
                    }
                }
            }
        }
    }

    fn on_frame(
        &mut self,
        frame: ServerFrame,
        subscribe_ref: u64,
        subscribed: &mut bool,
        attempt: &mut u32,
    ) -> Option<End> {
        match frame {
            ServerFrame::Event { event } => {
                // Before the subscription is confirmed, only the very next
                // event is safe to take: a live event from beyond the backlog
                // would otherwise make us skip the backlog.
                let wanted = if *subscribed {
                    event.seq > self.cursor
                } else {
                    event.seq == self.cursor + 1
                };
                if !wanted {
                    tracing::trace!(seq = event.seq, cursor = self.cursor, "skipping event");
                    return None;
                }
                if event.seq > self.cursor + 1 {
                    tracing::warn!(
                        seq = event.seq,
                        cursor = self.cursor,
                        "gap in the inbox stream"
                    );
                }
                self.cursor = event.seq;
                if self.events.send(Ok(event)).is_err() {
                    return Some(End::Closed);
                }
            }
            ServerFrame::Ok { reference } => match parse_ref(reference.as_deref()) {
                Some(r) if r == subscribe_ref => {
                    *subscribed = true;
                    *attempt = 0;
                }
                Some(r) => self.answer(r, |op| match op {
                    Op::Send(_) => Err(ClientError::Protocol(
                        "the server answered a send with `ok` instead of `ack`".into(),
                    )),
                    _ => Ok(Reply::Ok),
                }),
                None => {}
            },
            ServerFrame::Ack { reference, ack } => {
                if let Some(r) = parse_ref(reference.as_deref()) {
                    self.answer(r, |_| Ok(Reply::Ack(ack)));
                }
            }
            ServerFrame::Error {
                reference,
                code,
                message,
                retry_after,
            } => {
                let error = ApiError {
                    code,
                    message,
                    retry_after,
                };
                match parse_ref(reference.as_deref()) {
                    Some(r) if r == subscribe_ref => {
                        return Some(match code {
                            ErrorCode::Internal | ErrorCode::RateLimited => {
                                End::Lost(format!("subscribe failed: {error}"))
                            }
                            _ => End::Fatal(ClientError::Api(error)),
                        });
                    }
                    Some(r) if self.pending.contains_key(&r) => {
                        self.answer(r, |_| Err(ClientError::Api(error)));
                    }
                    _ => tracing::warn!(%error, "error frame from the server"),
                }
            }
            ServerFrame::PolicyNotice { notice } => {
                let _ = self.notices.send(notice);
            }
            ServerFrame::Notice { notice } => {
                let _ = self.user_notices.send(notice);
            }
            ServerFrame::Hello { .. } | ServerFrame::Pong { .. } | ServerFrame::Page { .. } => {}
        }
        None
    }

    fn on_close(&mut self, frame: Option<CloseFrame>) -> End {
        let (code, reason) = match frame {
            Some(f) => (u16::from(f.code), f.reason.as_str().to_owned()),
            None => (1005, String::new()),
        };
        match code {
            close_code::REVOKED => End::Fatal(ClientError::Closed { code, reason }),
            close_code::PROTOCOL_VIOLATION | close_code::TOO_BIG => {
                // One of the frames in flight offended the server; sending it
                // again would only close the next connection too.
                let error = ClientError::Closed {
                    code,
                    reason: reason.clone(),
                };
                let offenders: Vec<u64> = self
                    .pending
                    .iter()
                    .filter(|(_, p)| p.in_flight)
                    .map(|(r, _)| *r)
                    .collect();
                for r in offenders {
                    self.answer(r, |_| Err(error.clone()));
                }
                End::Lost(format!("closed by the server ({code}): {reason}"))
            }
            _ => End::Lost(format!("closed by the server ({code}): {reason}")),
        }
    }

    fn take_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    fn enqueue(&mut self, request: Request) -> u64 {
        let reference = self.take_ref();
        self.pending.insert(
            reference,
            Pending {
                op: request.op,
                reply: request.reply,
                in_flight: false,
            },
        );
        reference
    }

    fn answer(&mut self, reference: u64, result: impl FnOnce(&Op) -> Result<Reply, ClientError>) {
        if let Some(pending) = self.pending.remove(&reference) {
            // The caller may have timed out and gone; nothing to do then.
            let _ = pending.reply.send(result(&pending.op));
        }
    }

    /// The session is over: record why, tell the reader, fail what waits.
    fn finish(mut self, end: End) {
        let error = match end {
            End::Fatal(error) => error,
            End::Closed => ClientError::Closed {
                code: 1000,
                reason: "closed by the client".into(),
            },
            End::Lost(reason) => ClientError::Transport(reason),
        };
        let _ = self.ended.set(error.clone());
        if matches!(error, ClientError::Closed { code: 1000, .. }) {
            tracing::debug!("session closed");
        } else {
            tracing::info!(%error, "session ended");
            let _ = self.events.send(Err(error.clone()));
        }
        for (_, pending) in std::mem::take(&mut self.pending) {
            let _ = pending.reply.send(Err(error.clone()));
        }
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            let _ = request.reply.send(Err(error.clone()));
        }
        // Dropping `self.events` here ends the reader's stream with `None`.
    }
}

impl Op {
    fn frame(&self, reference: u64) -> ClientFrame {
        let reference = Some(ref_text(reference));
        match self {
            Op::Send(message) => ClientFrame::Send {
                reference,
                message: message.clone(),
            },
            Op::Receipt { message_id, kind } => ClientFrame::Receipt {
                reference,
                message_id: message_id.clone(),
                kind: *kind,
            },
            Op::Recall { message_id } => ClientFrame::Recall {
                reference,
                message_id: message_id.clone(),
            },
        }
    }
}

fn ref_text(reference: u64) -> String {
    format!("c{reference}")
}

fn parse_ref(reference: Option<&str>) -> Option<u64> {
    reference?.strip_prefix('c')?.parse().ok()
}

/// Exponential backoff with equal jitter: half of the step is fixed, half
/// random, so clients dropped by the same restart do not return in lockstep.
fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let half = u64::try_from(step.as_millis() / 2).unwrap_or(u64::MAX);
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=half))
}

async fn write(ws: &mut Ws, frame: &ClientFrame) -> Result<(), String> {
    let text = serde_json::to_string(frame).map_err(|e| format!("cannot encode frame: {e}"))?;
    ws.send(Message::text(text)).await.map_err(|e| describe(&e))
}

async fn close_politely(ws: &mut Ws) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_ok() {
            // Wait for the server's close reply so the TCP teardown is clean.
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The parts of `hello` the handle keeps.
struct Hello {
    username: String,
    device_id: String,
}

/// Upgrade to a WebSocket with the client's token and read `hello`.
async fn handshake(client: &Client) -> Result<(Ws, Hello), ClientError> {
    let url = client.ws_url()?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::InvalidUrl(describe(&e)))?;
    if let Some(token) = client.token() {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ClientError::Protocol("the token contains characters not allowed in a header".into())
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let upgrade = async {
        // Same trust as the REST calls (ignored for ws://).
        let tls = tokio_tungstenite::Connector::Rustls(client.tls_config());
        // `true`: Nagle off. Sends and receipts are small frames each
        // wanted on the wire at once, not held for the server's ACK.
        let (mut ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(tls))
                .await
                .map_err(upgrade_error)?;
        let hello = read_hello(&mut ws).await?;
        Ok((ws, hello))
    };
    timeout(HANDSHAKE_TIMEOUT, upgrade).await.map_err(|_| {
        ClientError::Timeout(format!(
            "no WebSocket session with {} within {} s",
            client.server(),
            HANDSHAKE_TIMEOUT.as_secs()
        ))
    })?
}

fn upgrade_error(error: tungstenite::Error) -> ClientError {
    match error {
        tungstenite::Error::Http(response) => {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = response.body().as_deref().unwrap_or_default();
            api_error_from_response(response.status().as_u16(), retry_after, body)
        }
        other => transport_error(&other),
    }
}

async fn read_hello(ws: &mut Ws) -> Result<Hello, ClientError> {
    loop {
        let message = match ws.next().await {
            None => {
                return Err(ClientError::Transport(
                    "the server closed the connection before hello".into(),
                ))
            }
            Some(Err(e)) => return Err(ClientError::Transport(describe(&e))),
            Some(Ok(message)) => message,
        };
        match message {
            Message::Text(text) => {
                return match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(ServerFrame::Hello {
                        protocol,
                        username,
                        device_id,
                        ..
                    }) if protocol == PROTOCOL_VERSION => Ok(Hello {
                        username,
                        device_id,
                    }),
                    Ok(ServerFrame::Hello { protocol, .. }) => Err(ClientError::Protocol(format!(
                        "the server speaks protocol {protocol}; this SDK speaks {PROTOCOL_VERSION}"
                    ))),
                    Ok(other) => Err(ClientError::Protocol(format!(
                        "expected hello as the first frame, got {other:?}"
                    ))),
                    Err(e) => Err(ClientError::Protocol(format!("bad hello frame: {e}"))),
                };
            }
            Message::Close(frame) => {
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.as_str().to_owned()),
                    None => (1005, String::new()),
                };
                return Err(ClientError::Closed { code, reason });
            }
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests;
