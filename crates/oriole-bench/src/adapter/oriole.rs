//! Oriole's own protocol: accounts and groups over REST (the SDK), the load
//! over raw WebSockets with the JSON frames of `oriole-proto`, so the
//! harness writes every frame itself and reads replies without the SDK's
//! buffering.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use oriole_client::Client;
use oriole_proto::{ClientFrame, CreateGroup, LoginRequest, RegisterRequest, SendMessage};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::{Account, ConnectMode, GroupRef, Inbox, Protocol, Target, Ws};

/// How long a login, a hello or a barrier may take before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Oriole {
    client: Client,
    ws_url: String,
}

impl Oriole {
    /// `base` is the server's HTTP base URL, e.g. `http://127.0.0.1:7070`.
    pub fn new(base: &str) -> anyhow::Result<Oriole> {
        let base = base.trim_end_matches('/');
        let ws_base = base
            .strip_prefix("http://")
            .map(|rest| format!("ws://{rest}"))
            .ok_or_else(|| anyhow!("the benchmark speaks plain http on loopback, not {base}"))?;
        Ok(Oriole {
            client: Client::new(base)?,
            ws_url: format!("{ws_base}/v1/ws"),
        })
    }

    async fn token_for(&self, account: &Account, fresh_login: bool) -> anyhow::Result<String> {
        if let (Some(token), false) = (&account.token, fresh_login) {
            return Ok(token.clone());
        }
        let mut client = self.client.clone();
        let session = client
            .login(LoginRequest {
                username: account.name.clone(),
                password: account.password.clone(),
                device_model: Some("oriole-bench".into()),
                os_version: None,
            })
            .await
            .with_context(|| format!("logging in as {}", account.name))?;
        Ok(session.token)
    }
}

impl Protocol for Oriole {
    type Session = OrioleSession;

    fn name(&self) -> String {
        "oriole".into()
    }

    async fn register(&self, name: &str, password: &str) -> anyhow::Result<Account> {
        let mut client = self.client.clone();
        let session = client
            .register(RegisterRequest {
                username: name.to_owned(),
                password: password.to_owned(),
                device_model: Some("oriole-bench".into()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("registering {name}"))?;
        Ok(Account {
            name: name.to_owned(),
            password: password.to_owned(),
            token: Some(session.token),
        })
    }

    async fn connect(
        &self,
        account: &Account,
        mode: ConnectMode,
        inbox: Inbox,
    ) -> anyhow::Result<OrioleSession> {
        let token = self.token_for(account, mode.fresh_login).await?;
        let mut request = self.ws_url.as_str().into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let mut ws = tokio::time::timeout(PATIENCE, super::connect_ws(request))
            .await
            .context("WebSocket upgrade timed out")?
            .with_context(|| format!("WebSocket upgrade as {}", account.name))?;
        wait_for_hello(&mut ws).await?;
        if mode.backlog {
            let subscribe = ClientFrame::Subscribe {
                reference: None,
                after: 0,
            };
            ws.send(Message::text(serde_json::to_string(&subscribe)?))
                .await?;
        }
        let (sink, stream) = ws.split();
        let answers = Arc::new(Answers::default());
        let reader = tokio::spawn(read_frames(
            stream,
            account.name.clone(),
            inbox,
            Arc::clone(&answers),
        ));
        Ok(OrioleSession {
            sink,
            reader,
            answers,
            sent: 0,
        })
    }

    fn supports_groups(&self) -> bool {
        true
    }

    async fn create_group(
        &self,
        owner: &Account,
        _owner_session: &mut OrioleSession,
        members: &[Account],
        name: &str,
    ) -> anyhow::Result<GroupRef> {
        let token = owner
            .token
            .clone()
            .ok_or_else(|| anyhow!("{} has no session token", owner.name))?;
        let group = self
            .client
            .clone()
            .with_token(token)
            .create_group(CreateGroup {
                name: name.to_owned(),
                members: members.iter().map(|m| m.name.clone()).collect(),
                history_visible: false,
            })
            .await
            .context("creating a group")?;
        Ok(GroupRef { id: group.group_id })
    }
}

async fn wait_for_hello(ws: &mut Ws) -> anyhow::Result<()> {
    let first = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .context("no hello from the server")?
        .ok_or_else(|| anyhow!("connection closed before hello"))??;
    let text = first.to_text().unwrap_or_default();
    let frame: Incoming = serde_json::from_str(text).context("reading hello")?;
    if frame.kind != "hello" {
        bail!("expected hello, got {text}");
    }
    Ok(())
}

/// The server's answers to this session's sends.
#[derive(Default)]
struct Answers {
    acks: AtomicU64,
    errors: AtomicU64,
    changed: Notify,
}

/// Only the fields the harness reads; serde skips the rest.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

async fn read_frames(mut stream: SplitStream<Ws>, me: String, inbox: Inbox, answers: Arc<Answers>) {
    let mut reported = 0;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Incoming>(text.as_str()) else {
            continue;
        };
        match frame.kind.as_str() {
            // With a backlog subscription the sender's own copies arrive too.
            "event" if frame.from.as_deref() != Some(me.as_str()) => {
                if let Some(body) = frame.text.as_deref() {
                    inbox.deliver(body);
                }
            }
            "ack" => {
                answers.acks.fetch_add(1, Ordering::SeqCst);
                answers.changed.notify_waiters();
            }
            "error" => {
                if reported < 3 {
                    reported += 1;
                    eprintln!(
                        "oriole-bench: {me}: server error {}: {}",
                        frame.code.as_deref().unwrap_or("?"),
                        frame.message.as_deref().unwrap_or("")
                    );
                }
                inbox.send_error();
                answers.errors.fetch_add(1, Ordering::SeqCst);
                answers.changed.notify_waiters();
            }
            _ => {}
        }
    }
}

pub struct OrioleSession {
    sink: SplitSink<Ws, Message>,
    reader: JoinHandle<()>,
    answers: Arc<Answers>,
    sent: u64,
}

impl super::Session for OrioleSession {
    async fn send(&mut self, to: &Target, text: String) -> anyhow::Result<()> {
        let (to, group) = match to {
            Target::Direct(user) => (Some(user.clone()), None),
            Target::Group(g) => (None, Some(g.id.clone())),
        };
        self.sent += 1;
        let frame = ClientFrame::Send {
            reference: None,
            message: SendMessage {
                to,
                group,
                text: Some(text),
                payload: None,
                // As the SDK does on every send.
                idempotency_key: Some(oriole_client::new_idempotency_key()),
            },
        };
        self.sink
            .send(Message::text(serde_json::to_string(&frame)?))
            .await?;
        Ok(())
    }

    async fn join(&mut self, _group: &GroupRef) -> anyhow::Result<()> {
        Ok(())
    }

    async fn barrier(&mut self) -> anyhow::Result<()> {
        let answered = || {
            self.answers.acks.load(Ordering::SeqCst) + self.answers.errors.load(Ordering::SeqCst)
        };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while answered() < self.sent {
            let changed = self.answers.changed.notified();
            if answered() >= self.sent {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!(
                    "{} of {} sends unanswered after {PATIENCE:?}",
                    self.sent - answered(),
                    self.sent
                );
            }
        }
        Ok(())
    }

    async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await;
        self.reader.abort();
    }
}
