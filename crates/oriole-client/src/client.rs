//! [`Client`]: the REST half of the SDK, holding the server address, the
//! session token and the TLS trust settings; [`ClientBuilder`] for a server
//! whose certificate comes from a private CA.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oriole_proto::{
    AddMember, CreateGroup, DeviceInfo, DeviceList, GroupHistory, GroupInfo, GroupList, GroupRole,
    Health, InboxEvent, InventoryItem, LoginRequest, MemberInfo, MemberList, PrivacyInventory,
    Profile, ReceiptKind, ReceiptRequest, RegisterRequest, SendAck, SendMessage, SessionResponse,
    SyncPage, UpdateGroup,
};
use reqwest::{Method, RequestBuilder, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use serde::de::DeserializeOwned;
use url::Url;

use crate::connection::Connection;
use crate::error::{api_error_from_response, describe, transport_error, ClientError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Pauses before the retries of a REST send that failed in transit. The
/// idempotency key makes the retry exactly-once.
const SEND_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// A fresh idempotency key for one logical send: 32 hex digits, the time
/// it was made (Unix milliseconds, 12 digits) and then 80 random bits.
/// Keys made later sort later, so new keys land together at the end of the
/// server's key index instead of each in a page of its own.
pub fn new_idempotency_key() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let millis = (millis & 0xffff_ffff_ffff) as u64;
    let random = rand::random::<u128>() & ((1 << 80) - 1);
    format!("{millis:012x}{random:020x}")
}

/// A handle on one Oriole server, optionally logged in. Cheap to clone;
/// clones share the HTTP connection pool but each holds its own token.
///
/// `https://` servers are always verified, host name included: against the
/// built-in Mozilla roots, or against the CA given to
/// [`ClientBuilder::ca_file`]. The WebSocket session uses the same trust.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    tls: Arc<ClientConfig>,
    base: Url,
    server: String,
    pub(crate) token: Option<String>,
}

/// A [`Client`] with more than the server address: for now, which
/// certificate authorities to trust.
///
/// ```no_run
/// # fn demo() -> Result<(), oriole_client::ClientError> {
/// // A server started with `oriole serve --self-signed --data DATA`.
/// let client = oriole_client::Client::builder("https://127.0.0.1:7070")
///     .ca_file("DATA/tls-cert.pem")?
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    server: String,
    roots: Option<RootCertStore>,
}

impl ClientBuilder {
    /// Trust the certificates in `pem` (one or more PEM `CERTIFICATE`
    /// blocks: a private CA, or a server's self-signed certificate)
    /// *instead of* the built-in roots, as `curl --cacert` does. Calls add
    /// up. Certificates are still verified in full; there is no switch to
    /// accept any certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<ClientBuilder, ClientError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError::InvalidCa(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::InvalidCa(
                "no certificate (expected a PEM \"CERTIFICATE\" block)".to_owned(),
            ));
        }
        let roots = self.roots.get_or_insert_with(RootCertStore::empty);
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientError::InvalidCa(format!("unusable certificate: {e}")))?;
        }
        Ok(self)
    }

    /// [`ca_pem`](ClientBuilder::ca_pem) with the contents of `path`.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<ClientBuilder, ClientError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| ClientError::InvalidCa(format!("cannot read {}: {e}", path.display())))?;
        self.ca_pem(&pem).map_err(|e| match e {
            ClientError::InvalidCa(reason) => {
                ClientError::InvalidCa(format!("{}: {reason}", path.display()))
            }
            other => other,
        })
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let server = self.server.as_str();
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
        let roots = self.roots.unwrap_or_else(|| RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
        let tls = tls_config(roots)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(ClientConfig::clone(&tls))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("oriole-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        let server = base.as_str().trim_end_matches('/').to_owned();
        Ok(Client {
            http,
            tls,
            base,
            server,
            token: None,
        })
    }
}

/// The one TLS configuration of a client, for REST and WebSocket alike:
/// rustls on aws-lc-rs (the provider the whole workspace uses), TLS 1.2 and
/// 1.3, HTTP/1.1 (WebSocket upgrades need it).
fn tls_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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
    /// A client for the server at `server`, e.g. `http://127.0.0.1:7070`
    /// or `https://chat.example.org` (verified against the built-in roots).
    pub fn new(server: &str) -> Result<Client, ClientError> {
        Client::builder(server).build()
    }

    /// A [`ClientBuilder`], e.g. to trust a private CA.
    pub fn builder(server: &str) -> ClientBuilder {
        ClientBuilder {
            server: server.to_owned(),
            roots: None,
        }
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

    /// `GET /v1/privacy/inventory`: every personal-data item the server
    /// stores, why, for how long and how it is protected. Needs no session.
    pub async fn privacy_inventory(&self) -> Result<Vec<InventoryItem>, ClientError> {
        let inventory: PrivacyInventory = self
            .call(self.request(Method::GET, &["privacy", "inventory"])?)
            .await?;
        Ok(inventory.items)
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
    /// The TLS configuration, shared with the WebSocket connection.
    pub(crate) fn tls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.tls)
    }

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

    pub(crate) fn request(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<RequestBuilder, ClientError> {
        let req = self.http.request(method, self.url(segments)?);
        Ok(match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        })
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = checked(req.send().await).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(describe(&e)))?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("unexpected response body: {e}")))
    }

    pub(crate) async fn call_empty(&self, req: RequestBuilder) -> Result<(), ClientError> {
        checked(req.send().await).await.map(drop)
    }
}

/// The response when its status is a success, else its [`ClientError`].
pub(crate) async fn checked(
    sent: Result<Response, reqwest::Error>,
) -> Result<Response, ClientError> {
    let resp = sent.map_err(|e| transport_error(&e))?;
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

    #[test]
    fn idempotency_keys_begin_with_their_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        let keys: Vec<String> = (0..50).map(|_| new_idempotency_key()).collect();
        for key in &keys {
            let millis = u128::from_str_radix(&key[..12], 16).expect("hex time");
            assert!(millis >= before && millis < before + 60_000, "{key}");
        }
        std::thread::sleep(Duration::from_millis(2));
        let later = new_idempotency_key();
        assert!(keys.iter().all(|k| *k < later), "made later, sorts later");
    }
}
