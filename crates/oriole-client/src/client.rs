//! [`Client`]: the REST half of the SDK, holding the server address and the
//! session token.

use std::time::Duration;

use oriole_proto::{
    AddMember, CreateGroup, DeviceInfo, DeviceList, GroupHistory, GroupInfo, GroupList, GroupRole,
    Health, InboxEvent, LoginRequest, MemberInfo, MemberList, Profile, ReceiptKind, ReceiptRequest,
    RegisterRequest, SendAck, SendMessage, SessionResponse, SyncPage, UpdateGroup,
};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use url::Url;

use crate::connection::Connection;
use crate::error::{api_error_from_response, describe, ClientError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Pauses before the retries of a REST send that failed in transit. The
/// idempotency key makes the retry exactly-once.
const SEND_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// A fresh idempotency key for one logical send (128 random bits, hex).
pub fn new_idempotency_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A handle on one Oriole server, optionally logged in. Cheap to clone;
/// clones share the HTTP connection pool but each holds its own token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    server: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the server at `server`, e.g. `http://127.0.0.1:7070`.
    pub fn new(server: &str) -> Result<Client, ClientError> {
        let base = Url::parse(server.trim())
            .map_err(|e| ClientError::InvalidUrl(format!("{server}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl(format!(
                "{server}: the scheme must be http or https"
            )));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(ClientError::InvalidUrl(format!("{server}: no host")));
        }
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            return Err(ClientError::InvalidUrl(format!(
                "{server}: expected a base URL such as http://127.0.0.1:7070"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("oriole-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        let server = base.as_str().trim_end_matches('/').to_owned();
        Ok(Client {
            http,
            base,
            server,
            token: None,
        })
    }

    /// The same client, authenticated with `token` (from an earlier
    /// [`register`](Client::register) or [`login`](Client::login)).
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// The session token, when logged in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server's base URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(self.request(Method::GET, &["health"])?).await
    }

    // ---------- accounts and sessions ----------

    /// `POST /v1/accounts`: create an account and log in; the client keeps
    /// the new token.
    pub async fn register(&mut self, req: RegisterRequest) -> Result<SessionResponse, ClientError> {
        let session: SessionResponse = self
            .call(self.request(Method::POST, &["accounts"])?.json(&req))
            .await?;
        self.token = Some(session.token.clone());
        Ok(session)
    }

    /// `POST /v1/sessions`: log in as a new device; the client keeps the token.
    pub async fn login(&mut self, req: LoginRequest) -> Result<SessionResponse, ClientError> {
        let session: SessionResponse = self
            .call(self.request(Method::POST, &["sessions"])?.json(&req))
            .await?;
        self.token = Some(session.token.clone());
        Ok(session)
    }

    /// `DELETE /v1/sessions/current`: end this device's session. The client
    /// forgets its token once the server has accepted.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, &["sessions", "current"])?)
            .await?;
        self.token = None;
        Ok(())
    }

    /// `GET /v1/me`.
    pub async fn me(&self) -> Result<Profile, ClientError> {
        self.call(self.request(Method::GET, &["me"])?).await
    }

    /// `GET /v1/devices`: every logged-in device of this account.
    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, ClientError> {
        let list: DeviceList = self.call(self.request(Method::GET, &["devices"])?).await?;
        Ok(list.devices)
    }

    /// `DELETE /v1/devices/{device_id}`: log that device out; its live
    /// connections are closed with code 4001.
    pub async fn revoke_device(&self, device_id: &str) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, &["devices", device_id])?)
            .await
    }

    // ---------- messages ----------

    /// `POST /v1/messages`. Sets an idempotency key when `msg` has none, and
    /// retries a send that failed in transit with that same key, so the
    /// message is stored exactly once.
    pub async fn send(&self, mut msg: SendMessage) -> Result<SendAck, ClientError> {
        if msg.idempotency_key.is_none() {
            msg.idempotency_key = Some(new_idempotency_key());
        }
        let mut delays = SEND_RETRY_DELAYS.iter();
        loop {
            let result = self
                .call(self.request(Method::POST, &["messages"])?.json(&msg))
                .await;
            match (result, delays.next()) {
                (Err(ClientError::Transport(reason)), Some(delay)) => {
                    tracing::debug!(%reason, "send failed in transit; retrying with the same key");
                    tokio::time::sleep(*delay).await;
                }
                (result, _) => return result,
            }
        }
    }

    /// Send `text` to the user `to`.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<SendAck, ClientError> {
        self.send(SendMessage {
            to: Some(to.to_owned()),
            text: Some(text.to_owned()),
            ..Default::default()
        })
        .await
    }

    /// Send `text` to the group `group_id`.
    pub async fn send_group_text(
        &self,
        group_id: &str,
        text: &str,
    ) -> Result<SendAck, ClientError> {
        self.send(SendMessage {
            group: Some(group_id.to_owned()),
            text: Some(text.to_owned()),
            ..Default::default()
        })
        .await
    }

    /// `GET /v1/sync`: one page of the inbox after `after` (exclusive).
    pub async fn sync(&self, after: u64, limit: Option<u32>) -> Result<SyncPage, ClientError> {
        let mut req = self
            .request(Method::GET, &["sync"])?
            .query(&[("after", after)]);
        if let Some(limit) = limit {
            req = req.query(&[("limit", limit)]);
        }
        self.call(req).await
    }

    /// Every inbox event after `after`, following pages until none are left.
    pub async fn sync_all(&self, after: u64) -> Result<Vec<InboxEvent>, ClientError> {
        let mut events = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.sync(cursor, None).await?;
            events.extend(page.events);
            if !page.more {
                return Ok(events);
            }
            if page.next <= cursor {
                return Err(ClientError::Protocol(format!(
                    "sync page after {cursor} says more but does not advance (next {})",
                    page.next
                )));
            }
            cursor = page.next;
        }
    }

    /// `POST /v1/messages/{id}/receipts`.
    pub async fn receipt(&self, message_id: &str, kind: ReceiptKind) -> Result<(), ClientError> {
        self.call_empty(
            self.request(Method::POST, &["messages", message_id, "receipts"])?
                .json(&ReceiptRequest { kind }),
        )
        .await
    }

    /// `POST /v1/messages/{id}/recall`: hide a message I sent, within the
    /// recall window.
    pub async fn recall(&self, message_id: &str) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::POST, &["messages", message_id, "recall"])?)
            .await
    }

    // ---------- groups ----------

    /// `POST /v1/groups`: create a group owned by the caller.
    pub async fn create_group(&self, req: CreateGroup) -> Result<GroupInfo, ClientError> {
        self.call(self.request(Method::POST, &["groups"])?.json(&req))
            .await
    }

    /// `GET /v1/groups`: the groups the caller belongs to.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        let list: GroupList = self.call(self.request(Method::GET, &["groups"])?).await?;
        Ok(list.groups)
    }

    /// `GET /v1/groups/{id}`.
    pub async fn group(&self, group_id: &str) -> Result<GroupInfo, ClientError> {
        self.call(self.request(Method::GET, &["groups", group_id])?)
            .await
    }

    /// `PATCH /v1/groups/{id}` (owner or admin).
    pub async fn update_group(
        &self,
        group_id: &str,
        req: UpdateGroup,
    ) -> Result<GroupInfo, ClientError> {
        self.call(
            self.request(Method::PATCH, &["groups", group_id])?
                .json(&req),
        )
        .await
    }

    /// `POST /v1/groups/{id}/members` (owner or admin).
    pub async fn add_member(
        &self,
        group_id: &str,
        username: &str,
        role: Option<GroupRole>,
    ) -> Result<MemberInfo, ClientError> {
        let body = AddMember {
            username: username.to_owned(),
            role,
        };
        self.call(
            self.request(Method::POST, &["groups", group_id, "members"])?
                .json(&body),
        )
        .await
    }

    /// `DELETE /v1/groups/{id}/members/{username}`.
    pub async fn remove_member(&self, group_id: &str, username: &str) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, &["groups", group_id, "members", username])?)
            .await
    }

    /// `POST /v1/groups/{id}/leave`.
    pub async fn leave_group(&self, group_id: &str) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::POST, &["groups", group_id, "leave"])?)
            .await
    }

    /// `GET /v1/groups/{id}/members`.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<MemberInfo>, ClientError> {
        let list: MemberList = self
            .call(self.request(Method::GET, &["groups", group_id, "members"])?)
            .await?;
        Ok(list.members)
    }

    /// `GET /v1/groups/{id}/messages`: history visible to the caller, newest
    /// first, sent before `before` (Unix ms) when given.
    pub async fn group_history(
        &self,
        group_id: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<InboxEvent>, ClientError> {
        let mut req = self.request(Method::GET, &["groups", group_id, "messages"])?;
        if let Some(before) = before {
            req = req.query(&[("before", before)]);
        }
        if let Some(limit) = limit {
            req = req.query(&[("limit", limit)]);
        }
        let history: GroupHistory = self.call(req).await?;
        Ok(history.messages)
    }

    // ---------- WebSocket ----------

    /// Open a WebSocket session that streams the inbox from `after`
    /// (exclusive) and reconnects by itself; see [`Connection`].
    pub async fn connect(&self, after: u64) -> Result<Connection, ClientError> {
        Connection::open(self.clone(), after).await
    }

    /// `ws(s)://HOST/…/v1/ws`.
    pub(crate) fn ws_url(&self) -> Result<Url, ClientError> {
        let mut url = self.url(&["ws"])?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| {
            ClientError::InvalidUrl(format!("{}: cannot use as ws URL", self.server))
        })?;
        Ok(url)
    }

    // ---------- plumbing ----------

    /// `BASE/v1/<segments...>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                ClientError::InvalidUrl(format!("{}: not a base URL", self.server))
            })?;
            path.pop_if_empty().push("v1").extend(segments);
        }
        Ok(url)
    }

    fn request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder, ClientError> {
        let req = self.http.request(method, self.url(segments)?);
        Ok(match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        })
    }

    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let resp = checked(req.send().await).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("unexpected response body: {e}")))
    }

    async fn call_empty(&self, req: RequestBuilder) -> Result<(), ClientError> {
        checked(req.send().await).await.map(drop)
    }
}

/// The response when its status is a success, else its [`ClientError`].
async fn checked(sent: Result<Response, reqwest::Error>) -> Result<Response, ClientError> {
    let resp = sent.map_err(|e| ClientError::Transport(describe(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = resp.bytes().await.unwrap_or_default();
    Err(api_error_from_response(status.as_u16(), retry_after, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_base() {
        let c = Client::new("http://127.0.0.1:7070/").expect("client");
        assert_eq!(c.server(), "http://127.0.0.1:7070");
        assert_eq!(
            c.url(&["groups", "a/b c", "members"])
                .expect("url")
                .as_str(),
            "http://127.0.0.1:7070/v1/groups/a%2Fb%20c/members"
        );
        assert_eq!(
            c.ws_url().expect("ws").as_str(),
            "ws://127.0.0.1:7070/v1/ws"
        );
        let c = Client::new("https://chat.example.org/oriole").expect("client");
        assert_eq!(
            c.ws_url().expect("ws").as_str(),
            "wss://chat.example.org/oriole/v1/ws"
        );
    }

    #[test]
    fn bad_servers_are_refused() {
        for bad in ["", "127.0.0.1:7070", "ftp://x", "http://", "http://h/?q=1"] {
            let err = Client::new(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_input", "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new("http://localhost:1")
            .expect("client")
            .with_token("ori_secret");
        assert!(!format!("{c:?}").contains("ori_secret"));
        assert_eq!(c.token(), Some("ori_secret"));
    }

    #[test]
    fn idempotency_keys_are_distinct() {
        let a = new_idempotency_key();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_idempotency_key());
    }
}
