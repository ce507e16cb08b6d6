//! One trait, one adapter per protocol: the workloads register accounts,
//! open live sessions, make groups and send through a [`Protocol`], and
//! each session hands every message it receives to an [`Inbox`].

pub mod oriole;
pub mod relay;
pub mod xmpp;

use std::future::Future;
use std::sync::Arc;

use crate::record::Recorder;

/// A WebSocket to the server under test.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open a WebSocket with Nagle's algorithm off, as every adapter does: a
/// load generator that holds a small frame back for the server's ACK adds
/// its own delay to whatever server it measures.
pub async fn connect_ws<R>(request: R) -> anyhow::Result<Ws>
where
    R: tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
{
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    Ok(ws)
}

/// A registered account, with whatever the protocol keeps to reconnect
/// cheaply (Oriole: the session token from registration).
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub password: String,
    pub token: Option<String>,
}

/// A group, by the protocol's own id (Oriole: the group id; XMPP: the
/// room's bare JID).
#[derive(Debug, Clone)]
pub struct GroupRef {
    pub id: String,
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    Direct(String),
    Group(GroupRef),
}

/// How a session starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectMode {
    /// Authenticate with the password (a full login), not a kept token.
    pub fresh_login: bool,
    /// Also receive what waited while the account was offline.
    pub backlog: bool,
}

/// Where a session's received messages go: the workload's recorder, as
/// receiver number `receiver`.
#[derive(Clone)]
pub struct Inbox {
    pub recorder: Arc<Recorder>,
    pub receiver: u32,
}

impl Inbox {
    pub fn deliver(&self, text: &str) {
        self.recorder.deliver(self.receiver, text);
    }

    pub fn send_error(&self) {
        self.recorder.count_send_error();
    }
}

pub trait Protocol: Clone + Send + Sync + 'static {
    type Session: Session;

    /// A short name for reports ("oriole", "ejabberd", ...).
    fn name(&self) -> String;

    fn register(
        &self,
        name: &str,
        password: &str,
    ) -> impl Future<Output = anyhow::Result<Account>> + Send;

    /// Log in and open a live session; it ends when it is closed or dropped.
    fn connect(
        &self,
        account: &Account,
        mode: ConnectMode,
        inbox: Inbox,
    ) -> impl Future<Output = anyhow::Result<Self::Session>> + Send;

    /// Whether [`Protocol::create_group`] works here.
    fn supports_groups(&self) -> bool;

    /// A group owned by `owner` (connected as `owner_session`) with
    /// `members` (the owner not among them). Members still [`Session::join`].
    fn create_group(
        &self,
        owner: &Account,
        owner_session: &mut Self::Session,
        members: &[Account],
        name: &str,
    ) -> impl Future<Output = anyhow::Result<GroupRef>> + Send;
}

pub trait Session: Send + 'static {
    /// Write one message; does not wait for the server's answer.
    fn send(
        &mut self,
        to: &Target,
        text: String,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Start receiving a group's messages (XMPP: join the room). A no-op
    /// where membership alone delivers.
    fn join(&mut self, group: &GroupRef) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Wait until the server has handled everything sent so far.
    fn barrier(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;

    fn close(self) -> impl Future<Output = ()> + Send;
}
